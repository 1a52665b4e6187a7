//! One metric's per-unit rule and the aggregate changes it implies.

use super::sketch::Bucket;

/// What a unit's counted events add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerUnit {
    /// 1 once the unit has a counted event, else 0 (binomial and retention metrics).
    Converted,
    /// The number of counted events.
    Count,
    /// The sum of the counted events' values.
    Sum,
}

/// Which events count, by their time after the unit's first exposure (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Events at least this long after exposure.
    pub from_ms: i64,
    /// Events before this long after exposure; open-ended when absent.
    pub to_ms: Option<i64>,
}

/// One (non-ratio) metric's rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub per_unit: PerUnit,
    pub window: Option<Window>,
    /// Per-unit values above this count as this.
    pub cap: Option<f64>,
    /// Whether each unit's (uncapped) value is kept in the metric's quantile sketch
    /// ([`super::sketch`]): unit-level quantiles and percentile caps.
    pub sketch: bool,
}

/// A unit's counted events of one metric: how many, and their values' sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub conversions: i64,
    pub value: f64,
}

impl Totals {
    /// These totals with `events` more events worth `value` together, or (negative) fewer.
    pub fn plus(self, events: i64, value: f64) -> Totals {
        Totals {
            conversions: self.conversions + events,
            value: self.value + value,
        }
    }
}

impl Rule {
    /// Whether an event at `at` counts for a unit first exposed at `exposed_at`. Without a
    /// window every event of an exposed unit counts, whatever its clock said.
    pub fn counts(&self, exposed_at: i64, at: i64) -> bool {
        let Some(w) = self.window else {
            return true;
        };
        let after = at.saturating_sub(exposed_at);
        after >= w.from_ms && w.to_ms.is_none_or(|to| after < to)
    }

    /// The unit's value for the analysis.
    pub fn value(&self, t: Totals) -> f64 {
        let v = match self.per_unit {
            PerUnit::Converted => return if t.conversions > 0 { 1.0 } else { 0.0 },
            PerUnit::Count => t.conversions as f64,
            PerUnit::Sum => t.value,
        };
        self.cap.map_or(v, |c| v.min(c))
    }

    /// A unit's moves in the metric's sketch as its totals go from `before` to `after`: out
    /// of its old value's bucket, into its new one. Empty for a metric without a sketch.
    pub fn sketch_moves(&self, before: Totals, after: Totals) -> Vec<(i32, Bucket)> {
        if !self.sketch {
            return Vec::new();
        }
        let raw = Rule { cap: None, ..*self };
        let (v0, v1) = (raw.value(before), raw.value(after));
        let (in0, in1) = (before.conversions > 0, after.conversions > 0);
        if in0 == in1 && v0 == v1 {
            return Vec::new();
        }
        let mut moves = Vec::with_capacity(2);
        if in0 {
            moves.push(Bucket::unit(v0, -1));
        }
        if in1 {
            moves.push(Bucket::unit(v1, 1));
        }
        moves
    }
}

/// The change to one aggregate row: `units` with a counted event (ratio rows: with a nonzero
/// denominator), the sum and sum of squares of the per-unit values (ratio rows: of the
/// numerator), and for ratio rows the denominator's sum and sum of squares and the sum of
/// numerator × denominator.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CellChange {
    pub units: i64,
    pub sum: f64,
    pub sum_sq: f64,
    pub den_sum: f64,
    pub den_sum_sq: f64,
    pub sum_product: f64,
    /// CUPED: the covariate's sum and sum of squares over the cell's exposed units, and the
    /// sum of per-unit value × covariate.
    pub cov_sum: f64,
    pub cov_sum_sq: f64,
    pub cov_product: f64,
}

impl CellChange {
    /// A unit's totals moved from `before` to `after`; `None` when its row does not change
    /// (a binomial unit that had converted already).
    pub fn metric(rule: &Rule, before: Totals, after: Totals) -> Option<CellChange> {
        let (v0, v1) = (rule.value(before), rule.value(after));
        let units = i64::from(after.conversions > 0) - i64::from(before.conversions > 0);
        if units == 0 && v0 == v1 {
            return None;
        }
        Some(CellChange {
            units,
            sum: v1 - v0,
            // v1² − v0², written so a small change to a large value keeps its precision.
            sum_sq: (v1 - v0) * (v1 + v0),
            ..CellChange::default()
        })
    }

    /// A unit's numerator value moved from `m.0` to `m.1` and its denominator's from `d.0` to
    /// `d.1`; `None` when neither moved.
    pub fn ratio(m: (f64, f64), d: (f64, f64)) -> Option<CellChange> {
        if m.0 == m.1 && d.0 == d.1 {
            return None;
        }
        Some(CellChange {
            units: i64::from(d.1 != 0.0) - i64::from(d.0 != 0.0),
            sum: m.1 - m.0,
            sum_sq: (m.1 - m.0) * (m.1 + m.0),
            den_sum: d.1 - d.0,
            den_sum_sq: (d.1 - d.0) * (d.1 + d.0),
            sum_product: m.1 * d.1 - m.0 * d.0,
            ..CellChange::default()
        })
    }

    /// A unit with covariate `x` joins (`sign` 1) or leaves (−1) the cell.
    pub fn covariate(x: f64, sign: f64) -> CellChange {
        CellChange {
            cov_sum: sign * x,
            cov_sum_sq: sign * x * x,
            ..CellChange::default()
        }
    }

    /// This change with its part of the covariate's cross-product, for a unit whose value
    /// moved by `sum` (this change's) and whose covariate is `x`.
    pub fn with_covariate(self, x: f64) -> CellChange {
        CellChange {
            cov_product: self.sum * x,
            ..self
        }
    }

    pub fn add(&mut self, c: CellChange) {
        self.units += c.units;
        self.cov_sum += c.cov_sum;
        self.cov_sum_sq += c.cov_sum_sq;
        self.cov_product += c.cov_product;
        self.sum += c.sum;
        self.sum_sq += c.sum_sq;
        self.den_sum += c.den_sum;
        self.den_sum_sq += c.den_sum_sq;
        self.sum_product += c.sum_product;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn t(conversions: i64, value: f64) -> Totals {
        Totals { conversions, value }
    }

    #[test]
    fn a_window_counts_from_its_delay_to_its_end() {
        let rule = Rule {
            per_unit: PerUnit::Converted,
            window: Some(Window {
                from_ms: 24 * HOUR,
                to_ms: Some(7 * 24 * HOUR),
            }),
            cap: None,
            sketch: false,
        };
        let exposed = 1_000 * HOUR;
        assert!(!rule.counts(exposed, exposed));
        assert!(!rule.counts(exposed, exposed + 24 * HOUR - 1));
        assert!(rule.counts(exposed, exposed + 24 * HOUR));
        assert!(rule.counts(exposed, exposed + 7 * 24 * HOUR - 1));
        assert!(!rule.counts(exposed, exposed + 7 * 24 * HOUR));
        // Before exposure (a skewed clock) counts only without a window.
        assert!(!rule.counts(exposed, exposed - HOUR));
        let open = Rule {
            window: None,
            ..rule
        };
        assert!(open.counts(exposed, exposed - HOUR));
    }

    #[test]
    fn a_capped_sum_changes_only_below_the_cap() {
        let rule = Rule {
            per_unit: PerUnit::Sum,
            window: None,
            cap: Some(100.0),
            sketch: false,
        };
        let c = CellChange::metric(&rule, t(0, 0.0), t(1, 60.0)).unwrap();
        assert_eq!((c.units, c.sum, c.sum_sq), (1, 60.0, 3600.0));
        let c = CellChange::metric(&rule, t(1, 60.0), t(2, 150.0)).unwrap();
        assert_eq!((c.units, c.sum, c.sum_sq), (0, 40.0, 10_000.0 - 3600.0));
        assert_eq!(CellChange::metric(&rule, t(2, 150.0), t(3, 170.0)), None);
    }

    #[test]
    fn binomial_counts_a_unit_once_and_a_zero_value_unit_still_counts() {
        let rule = Rule {
            per_unit: PerUnit::Converted,
            window: None,
            cap: None,
            sketch: false,
        };
        let c = CellChange::metric(&rule, t(0, 0.0), t(1, 0.0)).unwrap();
        assert_eq!((c.units, c.sum, c.sum_sq), (1, 1.0, 1.0));
        assert_eq!(CellChange::metric(&rule, t(1, 0.0), t(2, 0.0)), None);
        let sum = Rule {
            per_unit: PerUnit::Sum,
            ..rule
        };
        let c = CellChange::metric(&sum, t(0, 0.0), t(1, 0.0)).unwrap();
        assert_eq!((c.units, c.sum), (1, 0.0));
    }

    #[test]
    fn changes_add_up_to_the_final_state_and_erasure_undoes_them() {
        let rule = Rule {
            per_unit: PerUnit::Count,
            window: None,
            cap: Some(3.0),
            sketch: false,
        };
        let mut total = CellChange::default();
        let mut state = Totals::default();
        for _ in 0..5 {
            let next = state.plus(1, 0.0);
            if let Some(c) = CellChange::metric(&rule, state, next) {
                total.add(c);
            }
            state = next;
        }
        assert_eq!((total.units, total.sum, total.sum_sq), (1, 3.0, 9.0));
        total.add(CellChange::metric(&rule, state, Totals::default()).unwrap());
        assert_eq!(total, CellChange::default());
    }

    #[test]
    fn a_sketched_unit_moves_between_buckets_uncapped() {
        let rule = Rule {
            per_unit: PerUnit::Sum,
            window: None,
            cap: Some(10.0),
            sketch: true,
        };
        assert_eq!(
            rule.sketch_moves(t(0, 0.0), t(1, 40.0)),
            vec![Bucket::unit(40.0, 1)]
        );
        assert_eq!(
            rule.sketch_moves(t(1, 40.0), t(2, 45.0)),
            vec![Bucket::unit(40.0, -1), Bucket::unit(45.0, 1)]
        );
        // A unit whose first event is worth 0 is in the sketch, at 0; erasure takes it out.
        assert_eq!(
            rule.sketch_moves(t(0, 0.0), t(1, 0.0)),
            vec![(
                0,
                Bucket {
                    units: 1,
                    ..Bucket::default()
                }
            )]
        );
        assert_eq!(
            rule.sketch_moves(t(2, 45.0), t(0, 0.0)),
            vec![Bucket::unit(45.0, -1)]
        );
        assert!(rule.sketch_moves(t(2, 45.0), t(3, 45.0)).is_empty());
        let plain = Rule {
            sketch: false,
            ..rule
        };
        assert!(plain.sketch_moves(t(0, 0.0), t(1, 40.0)).is_empty());
    }

    #[test]
    fn ratio_changes_keep_the_cross_product() {
        // Unit: 2 clicks over 5 views, then 1 more click and 1 more view.
        let mut total = CellChange::ratio((0.0, 2.0), (0.0, 5.0)).unwrap();
        total.add(CellChange::ratio((2.0, 3.0), (5.0, 5.0)).unwrap());
        total.add(CellChange::ratio((3.0, 3.0), (5.0, 6.0)).unwrap());
        assert_eq!(
            total,
            CellChange {
                units: 1,
                sum: 3.0,
                sum_sq: 9.0,
                den_sum: 6.0,
                den_sum_sq: 36.0,
                sum_product: 18.0,
                ..CellChange::default()
            }
        );
        assert_eq!(CellChange::ratio((3.0, 3.0), (6.0, 6.0)), None);
    }
}
