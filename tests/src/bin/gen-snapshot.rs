//! Prints a generated snapshot: `gen-snapshot [TESTS] [VERSION] [SEED]` (defaults 100 1 42).

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap_or_else(|_| panic!("not a number: {a}")))
        .collect();
    let tests = args.first().copied().unwrap_or(100) as usize;
    let version = args.get(1).copied().unwrap_or(1);
    let seed = args.get(2).copied().unwrap_or(42);
    println!("{}", edgewise_tests::gen::snapshot(version, tests, seed));
}
