//! Multiple-comparison corrections for a family of p-values (variants × metrics): Holm–
//! Bonferroni controls the family-wise error rate, Benjamini–Hochberg the false discovery rate.
//! Both return adjusted p-values in input order (compare them with α directly), the same
//! numbers as statsmodels' `multipletests(method="holm" | "fdr_bh")`.

/// Holm's step-down adjustment: sorted ascending, p₍ᵢ₎ · (m − i + 1), made monotone, capped at 1.
pub fn holm_bonferroni(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let order = ascending(p_values);
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        let factor = (m - rank) as f64;
        running = running.max((p_values[i] * factor).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Benjamini–Hochberg's step-up adjustment: p₍ᵢ₎ · m / i, made monotone from the top, capped at 1.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let order = ascending(p_values);
    let mut adjusted = vec![0.0; m];
    let mut running = 1.0_f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        let factor = m as f64 / (rank + 1) as f64;
        running = running.min((p_values[i] * factor).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Indices sorted by p-value; ties keep input order so results are deterministic.
fn ascending(p_values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjusted_p_values_are_never_below_raw_and_never_above_one() {
        let raw = [0.01, 0.04, 0.03, 0.005, 0.9];
        for adjusted in [holm_bonferroni(&raw), benjamini_hochberg(&raw)] {
            for (a, r) in adjusted.iter().zip(raw) {
                assert!(*a >= r && *a <= 1.0);
            }
        }
        // The smallest of five is multiplied by five under Holm.
        assert!((holm_bonferroni(&raw)[3] - 0.025).abs() < 1e-15);
    }
}
