#!/usr/bin/env python3
"""Times gbstats 0.8.0 on the input of `cargo bench -p edgewise-shared --features stats --bench stats`.

The 1,600 analyses (100 tests x 16 segments x 10 variants) come from the same SplitMix64
sequence as shared/benches/stats.rs, bit for bit. Per analysis gbstats runs what
`edgewise_shared::stats::analyze` runs: for each of the 9 variants, TwoSidedTTest,
SequentialTwoSidedTTest and EffectBayesianABTest on the relative and the absolute effect,
plus check_srm. Prints the best of --repeat wall-clock passes.

Usage: python3 scripts/bench_gbstats.py [--repeat 3]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gbstats_fixtures as fx  # noqa: E402  (installs gbstats 0.8.0 if missing)

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def frac(self, m, d):
        return float(self.next() % m) / d


def inputs():
    rng = SplitMix64(2026)
    out = []
    for test in range(100):
        for _segment in range(16):
            variants = []
            for v in range(10):
                n = 1000 + rng.next() % 200000
                nf = float(n)
                if test % 3 == 0:
                    rate = 0.02 + rng.frac(1000, 10000.0)
                    variants.append({"name": f"v{v}", "n": n, "conversions": int(nf * rate // 1)})
                    continue
                mean = 5.0 + rng.frac(1000, 100.0)
                sd = 1.0 + rng.frac(1000, 100.0)
                s = mean * nf
                var = {"name": f"v{v}", "n": n, "sum": s, "sum_squares": sd * sd * (nf - 1.0) + s * s / nf}
                if test % 3 == 2:
                    cs = 0.9 * mean * nf
                    var["covariate_sum"] = cs
                    var["covariate_sum_squares"] = sd * sd * (nf - 1.0) + cs * cs / nf
                    var["sum_product_metric_covariate"] = 0.5 * sd * sd * (nf - 1.0) + s * cs / nf
                variants.append(var)
            out.append({"metric_type": "binomial" if test % 3 == 0 else "mean", "variants": variants})
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = inputs()
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        comparisons = 0
        for case in cases:
            comparisons += len(fx.analyze(case)["comparisons"])
        best = min(best, time.perf_counter() - start)
    assert comparisons == 14400, comparisons
    print(f"gbstats 0.8.0: {len(cases)} analyses, {comparisons} comparisons, best of {args.repeat}: {best * 1000:.0f} ms")


if __name__ == "__main__":
    main()
