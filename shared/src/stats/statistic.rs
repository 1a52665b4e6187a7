//! Per-arm sufficient statistics and their means and variances, exactly as gbstats 0.8.0 forms
//! them (`gbstats/models/statistics.py`), operation for operation, so the float results agree.
//!
//! A binomial arm is `ProportionStatistic` (variance p(1−p), no n−1 correction); a mean arm is
//! `SampleMeanStatistic` (sample variance with n−1); a ratio arm is `RatioStatistic` (per-unit
//! numerator and denominator totals, the delta method's variance); a quantile arm is
//! `QuantileStatistic` (the estimate and the order statistics of its interval), clustered by
//! unit for event-level quantiles (`QuantileClusteredStatistic`). CUPED wraps a proportion or a
//! mean (never a ratio or a quantile: gbstats 0.8.0 cannot) with a pre-exposure
//! covariate (`RegressionAdjustedStatistic`): the adjusted mean is ȳ − θ·x̄, with one θ pooled
//! over the two arms being compared, and the relative lift keeps the unadjusted control mean in
//! its denominator.

use super::special::norm_isf;

/// An event-level quantile's clustering by unit: per unit, the events at or below the estimate
/// (main) and all its events (denominator), summed, squared and multiplied over the units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clusters {
    pub n_clusters: f64,
    pub main_sum: f64,
    pub main_sum_squares: f64,
    pub denominator_sum: f64,
    pub denominator_sum_squares: f64,
    pub main_denominator_sum_product: f64,
}

/// The post-exposure (metric) part of an arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Moments {
    /// Conversions out of `n`.
    Proportion { n: f64, sum: f64 },
    /// Sum and sum of squares of per-unit values.
    Sample { n: f64, sum: f64, sum_squares: f64 },
    /// Per-unit numerator (m) and denominator (d) totals: their sums, sums of squares and the
    /// sum of their products.
    Ratio {
        n: f64,
        m_sum: f64,
        m_sum_squares: f64,
        d_sum: f64,
        d_sum_squares: f64,
        md_sum_product: f64,
    },
    /// Quantile `nu` of `n` values (units, or events for an event-level quantile): the
    /// estimate, and the lower and upper order statistics of its 95% interval computed from
    /// `n_star` values.
    Quantile {
        n: f64,
        n_star: f64,
        nu: f64,
        hat: f64,
        lower: f64,
        upper: f64,
        clusters: Option<Clusters>,
    },
}

impl Moments {
    pub fn n(&self) -> f64 {
        match *self {
            Moments::Proportion { n, .. }
            | Moments::Sample { n, .. }
            | Moments::Ratio { n, .. }
            | Moments::Quantile { n, .. } => n,
        }
    }

    /// The sum of the per-unit values (for a ratio, of the numerators).
    pub fn sum(&self) -> f64 {
        match *self {
            Moments::Proportion { sum, .. } | Moments::Sample { sum, .. } => sum,
            Moments::Ratio { m_sum, .. } => m_sum,
            Moments::Quantile { n, hat, .. } => n * hat,
        }
    }

    pub fn mean(&self) -> f64 {
        match *self {
            Moments::Ratio { m_sum, d_sum, .. } => {
                return if d_sum == 0.0 { 0.0 } else { m_sum / d_sum };
            }
            Moments::Quantile { hat, .. } => return hat,
            _ => {}
        }
        let n = self.n();
        if n == 0.0 {
            return 0.0;
        }
        self.sum() / n
    }

    pub fn variance(&self) -> f64 {
        match *self {
            Moments::Proportion { .. } => {
                let m = self.mean();
                m * (1.0 - m)
            }
            Moments::Sample {
                n,
                sum,
                sum_squares,
            } => {
                if n <= 1.0 {
                    return 0.0;
                }
                (sum_squares - sum.powi(2) / n) / (n - 1.0)
            }
            Moments::Ratio {
                n,
                m_sum,
                m_sum_squares,
                d_sum,
                d_sum_squares,
                md_sum_product,
            } => {
                let m = Moments::Sample {
                    n,
                    sum: m_sum,
                    sum_squares: m_sum_squares,
                };
                let d = Moments::Sample {
                    n,
                    sum: d_sum,
                    sum_squares: d_sum_squares,
                };
                if d.mean() == 0.0 || n <= 1.0 {
                    return 0.0;
                }
                let cov = covariance(n, m_sum, d_sum, md_sum_product);
                m.variance() / d.mean().powi(2) - 2.0 * cov * m.mean() / d.mean().powi(3)
                    + m.mean().powi(2) * d.variance() / d.mean().powi(4)
            }
            Moments::Quantile { n, .. } => {
                let v = self.quantile_variance_init();
                if n < 100.0 {
                    v
                } else {
                    v.max(1e-5)
                }
            }
        }
    }

    /// gbstats' `variance_init` of a quantile: the interval's width turned into a standard
    /// error, scaled to a per-value variance; for an event-level quantile, inflated by the
    /// clustering (the variance of a ratio of per-unit sums against the iid one).
    fn quantile_variance_init(&self) -> f64 {
        let Moments::Quantile {
            n,
            n_star,
            nu,
            lower,
            upper,
            clusters,
            ..
        } = *self
        else {
            return 0.0;
        };
        if n <= 1.0 {
            return 0.0;
        }
        let den = 2.0 * norm_isf(0.5 * 0.05);
        let iid = (n_star / n) * (n - 1.0) * ((upper - lower) / den).powi(2);
        let Some(c) = clusters else {
            return iid;
        };
        if nu == 0.0 || c.n_clusters <= 1.0 || c.denominator_sum <= 0.0 {
            return 0.0;
        }
        let k = c.n_clusters;
        let mu_s = c.main_sum / k;
        let mu_n = c.denominator_sum / k;
        let sigma_2_s = (c.main_sum_squares / k - mu_s * mu_s) * k / (k - 1.0);
        let sigma_2_n = (c.denominator_sum_squares / k - mu_n * mu_n) * k / (k - 1.0);
        let sigma_s_n = (c.main_denominator_sum_product / k - mu_s * mu_n) * k / (k - 1.0);
        let num =
            sigma_2_s - 2.0 * mu_s * sigma_s_n / mu_n + mu_s.powi(2) * sigma_2_n / mu_n.powi(2);
        let cluster = num / (k * mu_n.powi(2));
        let nu_iid = nu * (1.0 - nu) / n;
        iid * cluster / nu_iid
    }

    /// Whether gbstats refuses the arm for its variance. For a quantile: too few values for
    /// the level (its interval would leave [0, 1]), or no spread in fewer than 1,000 values.
    pub fn has_zero_variance(&self) -> bool {
        if let Moments::Quantile { n, nu, .. } = *self {
            let m2 = norm_isf(0.5 * 0.05).powi(2);
            if n <= m2 * nu / (1.0 - nu) || n <= m2 * (1.0 - nu) / nu {
                return true;
            }
            return self.quantile_variance_init() <= 0.0 && n < 1000.0;
        }
        // Written so that a NaN from absurd inputs also counts as "no variance".
        let v = self.variance();
        v.is_nan() || v <= 0.0
    }

    /// The two arms pooled, as gbstats' `create_joint_statistic` does for θ.
    fn joint(a: &Moments, b: &Moments, n: f64) -> Moments {
        match (a, b) {
            (Moments::Proportion { sum: sa, .. }, Moments::Proportion { sum: sb, .. }) => {
                Moments::Proportion { n, sum: sa + sb }
            }
            _ => {
                let (qa, qb) = (a.sum_squares(), b.sum_squares());
                Moments::Sample {
                    n,
                    sum: a.sum() + b.sum(),
                    sum_squares: qa + qb,
                }
            }
        }
    }

    /// A proportion's sum of squares is its sum (values are 0 or 1).
    fn sum_squares(&self) -> f64 {
        match *self {
            Moments::Proportion { sum, .. } => sum,
            Moments::Sample { sum_squares, .. } => sum_squares,
            Moments::Ratio { m_sum_squares, .. } => m_sum_squares,
            Moments::Quantile { .. } => 0.0,
        }
    }
}

/// A pre-exposure covariate for CUPED: its sums and the cross product with the metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Covariate {
    pub sum: f64,
    pub sum_squares: f64,
    pub sum_product: f64,
}

/// One arm as the tests see it: plain, or regression-adjusted with a θ already chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmStatistic {
    pub post: Moments,
    /// The covariate's moments (always sample moments), the cross product and θ.
    pub adjustment: Option<(Moments, f64, f64)>,
}

impl ArmStatistic {
    pub fn plain(post: Moments) -> Self {
        ArmStatistic {
            post,
            adjustment: None,
        }
    }

    pub fn n(&self) -> f64 {
        self.post.n()
    }

    pub fn mean(&self) -> f64 {
        match self.adjustment {
            None => self.post.mean(),
            Some((pre, _, theta)) => self.post.mean() - theta * pre.mean(),
        }
    }

    pub fn unadjusted_mean(&self) -> f64 {
        self.post.mean()
    }

    pub fn variance(&self) -> f64 {
        match self.adjustment {
            None => self.post.variance(),
            Some((pre, product, theta)) => {
                let n = self.n();
                if n <= 1.0 {
                    return 0.0;
                }
                self.post.variance() + theta.powi(2) * pre.variance()
                    - 2.0 * theta * covariance(n, self.post.sum(), pre.sum(), product)
            }
        }
    }

    /// gbstats refuses when either arm's variance is zero or negative (for a quantile, by
    /// its own rule: [`Moments::has_zero_variance`]).
    pub fn has_zero_variance(&self) -> bool {
        if self.adjustment.is_none() {
            return self.post.has_zero_variance();
        }
        // Written so that a NaN from absurd inputs also counts as "no variance".
        let v = self.variance();
        v.is_nan() || v <= 0.0
    }
}

fn covariance(n: f64, sum_x: f64, sum_y: f64, sum_product: f64) -> f64 {
    if n <= 1.0 {
        return 0.0;
    }
    (sum_product - sum_x * sum_y / n) / (n - 1.0)
}

/// Builds the pair of arm statistics a comparison uses. With covariates on both arms, θ is the
/// pooled regression slope cov(y, x)/var(x) over both arms; when the pooled metric or covariate
/// has no variance θ would be 0/0, and gbstats falls back to the unadjusted statistics.
pub fn pair(
    control: (Moments, Option<Covariate>),
    variant: (Moments, Option<Covariate>),
) -> (ArmStatistic, ArmStatistic) {
    let (Some(ca), Some(cb)) = (control.1, variant.1) else {
        return (
            ArmStatistic::plain(control.0),
            ArmStatistic::plain(variant.0),
        );
    };
    let pre = |post: &Moments, c: &Covariate| Moments::Sample {
        n: post.n(),
        sum: c.sum,
        sum_squares: c.sum_squares,
    };
    let (pre_a, pre_b) = (pre(&control.0, &ca), pre(&variant.0, &cb));
    let n = control.0.n() + variant.0.n();
    let joint_post = Moments::joint(&control.0, &variant.0, n);
    let joint_pre = Moments::joint(&pre_a, &pre_b, n);
    if joint_pre.variance() == 0.0 || joint_post.variance() == 0.0 {
        return (
            ArmStatistic::plain(control.0),
            ArmStatistic::plain(variant.0),
        );
    }
    let joint_cov = covariance(
        n,
        joint_post.sum(),
        joint_pre.sum(),
        ca.sum_product + cb.sum_product,
    );
    let theta = joint_cov / joint_pre.variance();
    if theta == 0.0 {
        return (
            ArmStatistic::plain(control.0),
            ArmStatistic::plain(variant.0),
        );
    }
    (
        ArmStatistic {
            post: control.0,
            adjustment: Some((pre_a, ca.sum_product, theta)),
        },
        ArmStatistic {
            post: variant.0,
            adjustment: Some((pre_b, cb.sum_product, theta)),
        },
    )
}
