//! What the simulation tests share: a seeded generator, so every simulated test is
//! reproducible.

/// SplitMix64: a tiny, well-known seeded generator; enough for the draws here.
pub struct Rng(pub u64);

#[allow(dead_code)] // each test file uses its own part
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Binomial(n, p) by its normal approximation (callers keep n·p in the tens or more).
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        let (m, s) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
        (m + s * self.normal()).round().clamp(0.0, n as f64) as u64
    }

    /// Binomial(n, p) exactly: the gaps between successes are geometric, so this draws about
    /// n·p numbers rather than n.
    pub fn binomial_exact(&mut self, n: u64, p: f64) -> u64 {
        let log_q = (-p).ln_1p();
        let (mut at, mut successes) = (0u64, 0u64);
        loop {
            // 1 − uniform is in (0, 1]: its log is finite.
            let gap = ((1.0 - self.uniform()).ln() / log_q).floor();
            if gap >= (n - at) as f64 {
                return successes;
            }
            at += gap as u64 + 1;
            successes += 1;
        }
    }
}
