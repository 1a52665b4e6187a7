//! Special functions the tests need, written for accuracy where `statrs` 0.19.1 falls short.
//!
//! Measured against mpmath: `statrs::function::erf::erfc` is off by up to ~1e-10 (relative, near
//! x = 0.5), which caps `Normal::cdf` near 1e-11; `StudentsT::cdf` loses ~3e-8 at large degrees
//! of freedom (its incomplete beta takes a difference of huge log-gammas and stops after 140
//! continued-fraction terms); `StudentsT::inverse_cdf` drifts at large df and does not return at
//! ~1.5e7. So this module has its own `erfc` (positive series below 1.5, Lentz continued fraction
//! above), Student's t tail by an incomplete beta continued fraction below 1,000 df and by Hill's
//! (1970) normalising expansion above it, and quantiles by safeguarded Newton on those tails.
//! Everything works on tails (survival functions), never `1 - cdf`, so small p-values keep their
//! digits. Only `statrs::function::gamma::ln_gamma` is borrowed: its relative error (~1e-15) is
//! harmless where it is used (df below 1,000, log-gammas below ~3,000).

use statrs::function::gamma::ln_gamma;

const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;
const SQRT_2: f64 = std::f64::consts::SQRT_2;
const LN_SQRT_PI: f64 = 0.572_364_942_924_700_1;

/// Below this many degrees of freedom the t tail comes from the incomplete beta function.
const T_BETA_MAX_DF: f64 = 1_000.0;

/// `exp(-x * x)` without the rounding error of forming `x * x` (which costs ~x² ulps at x = 26):
/// split x into a 21-bit head whose square is exact and a tail.
fn exp_minus_square(x: f64) -> f64 {
    let hi = f64::from_bits(x.to_bits() & 0xffff_ffff_0000_0000);
    let lo = x - hi;
    (-hi * hi).exp() * (-lo * (x + hi)).exp()
}

/// The complementary error function, relative error ~1e-15 over the whole line.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 1.5 {
        return 1.0 - erf_small(x);
    }
    if x > 27.3 {
        // erfc(27.3) < 1e-324: underflow.
        return 0.0;
    }
    // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), modified Lentz.
    const TINY: f64 = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..500 {
        let a = f64::from(k) * 0.5;
        d = x + a * d;
        if d == 0.0 {
            d = TINY;
        }
        c = x + a / c;
        if c == 0.0 {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    exp_minus_square(x) * FRAC_1_SQRT_PI / f
}

/// erf(x) for 0 <= x < 1.5 by the all-positive series 2/√π e^{-x²} Σ 2ⁿ x^{2n+1}/(2n+1)!!,
/// which has no cancellation (the Maclaurin series alternates).
fn erf_small(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        term *= 2.0 * x2 / f64::from(2 * n + 1);
        sum += term;
        if term <= 1e-17 * sum {
            break;
        }
    }
    2.0 * FRAC_1_SQRT_PI * exp_minus_square(x) * sum
}

/// Standard normal density.
pub fn norm_pdf(x: f64) -> f64 {
    const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Standard normal P(Z <= x).
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / SQRT_2)
}

/// Standard normal P(Z > x), accurate in relative terms far into the upper tail.
pub fn norm_sf(x: f64) -> f64 {
    0.5 * erfc(x / SQRT_2)
}

/// Standard normal quantile: `statrs`' `erfc_inv` as a start (good to ~1e-10), then two Halley
/// steps on our own `erfc`, which bring it to ~1e-15. `p` outside (0, 1) gives ±∞.
pub fn norm_ppf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        // Work in the tail that keeps p's digits.
        return -norm_isf(1.0 - p);
    }
    -norm_isf(p)
}

/// Standard normal upper quantile: the x with P(Z > x) = q. Exact in the tail for tiny q.
pub fn norm_isf(q: f64) -> f64 {
    if q <= 0.0 {
        return f64::INFINITY;
    }
    if q >= 1.0 {
        return f64::NEG_INFINITY;
    }
    let mut x = SQRT_2 * statrs::function::erf::erfc_inv(2.0 * q);
    for _ in 0..2 {
        let pdf = norm_pdf(x);
        if pdf <= 0.0 || !x.is_finite() {
            break;
        }
        // f(x) = sf(x) - q, f' = -pdf, f'' = x·pdf: Halley's step.
        let u = (norm_sf(x) - q) / pdf;
        x += u / (1.0 - 0.5 * x * u);
    }
    x
}

/// Student's t upper tail P(T > t) for `df` degrees of freedom (any df > 0, non-integer too).
pub fn t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t < 0.0 {
        return 1.0 - t_sf(-t, df);
    }
    if t == 0.0 {
        return 0.5;
    }
    if df >= T_BETA_MAX_DF {
        return norm_sf(hill_normal_deviate(t, df));
    }
    // P(T > t) = I_x(df/2, 1/2) / 2 with x = df/(df + t²); 1 - x is passed separately so that
    // neither side loses digits.
    let t2 = t * t;
    let x = df / (df + t2);
    let y = t2 / (df + t2);
    0.5 * beta_reg(df * 0.5, 0.5, x, y)
}

/// Hill (1970, CACM algorithm 395): the normal deviate z with P(Z > z) = P(T_df > t), by an
/// asymptotic expansion in 1/df. Against mpmath its tail is good to ~5e-17 absolute from 100 df
/// and ~2e-10 relative (at t = 20) from 1,000 df; it improves as df grows and never degrades.
fn hill_normal_deviate(t: f64, df: f64) -> f64 {
    let a = df - 0.5;
    let b = 48.0 * a * a;
    let y = a * (t * t / df).ln_1p();
    (((((-0.4 * y - 3.3) * y - 24.0) * y - 85.5) / (0.8 * y * y + 100.0 + b) + y + 3.0) / b + 1.0)
        * y.sqrt()
}

/// Student's t density (only steers Newton's method, so its last digits do not matter).
fn t_pdf(t: f64, df: f64) -> f64 {
    let ln_norm = ln_gamma(0.5 * (df + 1.0)) - ln_gamma(0.5 * df) - 0.5 * df.ln() - LN_SQRT_PI;
    (ln_norm - 0.5 * (df + 1.0) * (t * t / df).ln_1p()).exp()
}

/// Student's t upper quantile: the t with P(T > t) = q, for 0 < q < 1. Newton's method on the
/// accurate tail, kept inside a bracket (bisection when a step leaves it), so it always returns.
pub fn t_isf(q: f64, df: f64) -> f64 {
    t_isf_given_normal(q, norm_isf(q), df)
}

/// [`t_isf`] with the normal quantile `z = norm_isf(q)` already known (callers that ask for the
/// same level many times compute it once).
pub(crate) fn t_isf_given_normal(q: f64, z: f64, df: f64) -> f64 {
    if q.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if q <= 0.0 {
        return f64::INFINITY;
    }
    if q >= 1.0 {
        return f64::NEG_INFINITY;
    }
    if q > 0.5 {
        return -t_isf(1.0 - q, df);
    }
    if q == 0.5 {
        return 0.0;
    }
    // Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5) to 1/df⁴. Against mpmath it is
    // within 1e-16 relative from 10,000 df for q >= 1e-6, so there it is the answer; elsewhere
    // it starts Newton.
    let z2 = z * z;
    let g1 = (z2 + 1.0) * z / 4.0;
    let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
    let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
    let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92_160.0;
    let mut t = z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df;
    if df >= 1e4 && q >= 1e-6 {
        return t;
    }
    let mut lo = 0.0_f64;
    let mut hi = t.max(1.0);
    let mut grow = 0;
    while t_sf(hi, df) > q && grow < 2_000 {
        lo = hi;
        hi *= 2.0;
        grow += 1;
    }
    if !(t > lo && t < hi) {
        t = 0.5 * (lo + hi);
    }
    for _ in 0..200 {
        let f = t_sf(t, df) - q;
        if f > 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        let step = f / t_pdf(t, df);
        let mut next = t + step;
        if !(next > lo && next < hi && next.is_finite()) {
            next = 0.5 * (lo + hi);
        }
        if (next - t).abs() <= 4.0 * f64::EPSILON * next.abs() || hi - lo <= f64::EPSILON * hi {
            return next;
        }
        t = next;
    }
    t
}

/// Regularised incomplete beta I_x(a, b), given both x and y = 1 - x. Continued fraction
/// (modified Lentz) on whichever side converges; enough terms for a up to ~1e4.
fn beta_reg(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    let ln_front = a * x.ln() + b * y.ln() - ln_beta(a, b);
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, y) / b
    }
}

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// The continued fraction of I_x(a, b) · a / (x^a y^b / B(a, b)).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// χ² upper tail P(X > x) for an integer number of degrees of freedom, by the closed forms of
/// Q(k/2, x/2): a Poisson sum for even k, erfc plus a half-integer sum for odd k. All terms are
/// positive and formed in log space, so neither cancellation nor overflow occurs.
pub fn chi2_sf(x: f64, df: u32) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 || df == 0 {
        return 1.0;
    }
    let h = 0.5 * x;
    let ln_h = h.ln();
    let mut sum = 0.0;
    if df.is_multiple_of(2) {
        // e^{-h} Σ_{i < k/2} h^i / i!
        let mut ln_term = -h;
        for i in 0..df / 2 {
            if i > 0 {
                ln_term += ln_h - f64::from(i).ln();
            }
            sum += ln_term.exp();
        }
    } else {
        // erfc(√h) + e^{-h} Σ_{i=1}^{(k-1)/2} h^{i-1/2} / Γ(i + 1/2)
        sum = erfc(h.sqrt());
        let mut ln_term = -h + 0.5 * ln_h - (LN_SQRT_PI - std::f64::consts::LN_2);
        for i in 1..=(df - 1) / 2 {
            if i > 1 {
                ln_term += ln_h - (f64::from(i) - 0.5).ln();
            }
            sum += ln_term.exp();
        }
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_inverts_the_tail() {
        for &q in &[1e-300, 1e-20, 1e-9, 0.001, 0.025, 0.2, 0.5] {
            let x = norm_isf(q);
            assert!((norm_sf(x) / q - 1.0).abs() < 1e-13, "q={q} x={x}");
        }
    }

    #[test]
    fn t_quantile_inverts_the_tail_and_returns_at_huge_df() {
        for &df in &[1.0, 1.5, 3.0, 29.7, 999.9, 1000.0, 1e5, 1.5e7, 1e12] {
            for &q in &[1e-12, 0.0005, 0.025, 0.3] {
                let t = t_isf(q, df);
                assert!((t_sf(t, df) / q - 1.0).abs() < 1e-12, "df={df} q={q} t={t}");
            }
        }
    }

    #[test]
    fn t_tail_is_continuous_where_the_method_switches() {
        for &t in &[0.3, 1.96, 4.0, 9.0] {
            let below = t_sf(t, T_BETA_MAX_DF * (1.0 - 1e-12));
            let above = t_sf(t, T_BETA_MAX_DF);
            assert!((below / above - 1.0).abs() < 1e-9, "t={t} {below} {above}");
        }
    }

    #[test]
    fn chi2_with_two_df_is_an_exponential() {
        for &x in &[0.1, 1.0, 10.0, 100.0] {
            assert!((chi2_sf(x, 2) / (-0.5 * x).exp() - 1.0).abs() < 1e-14);
        }
    }
}
