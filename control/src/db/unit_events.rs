//! The counted events of a test's event-level quantile metrics, read from the raw events for
//! its results. An event-level quantile clusters by unit around its own estimate (per unit,
//! its events at or below it), which no running sum can keep, so its results read every
//! event of the metric: the cost grows with the metric's events (BENCHMARKS.md, results).

use std::collections::BTreeMap;

use edgewise_shared::snapshot::{MetricDef, MetricKind, QuantileLevel};
use sqlx::AnyConnection;

use super::aggregates::UnitEvents;
use crate::error::AppResult;

/// unit, variant, device, persona, first exposure, event time, event value.
type Row = (String, String, String, String, i64, i64, Option<f64>);

/// Every exposed unit's counted events of each event-level quantile metric of `metrics`: the
/// events the metric reads, of units exposed to `test`, in the metric's window after the
/// unit's first exposure. `schemas` names SQLite's files (a unit's events and exposure are in
/// one file); empty on PostgreSQL.
pub async fn load(
    conn: &mut AnyConnection,
    schemas: &[String],
    test: &str,
    metrics: &[MetricDef],
) -> AppResult<Vec<UnitEvents>> {
    let mut out = Vec::new();
    for m in metrics.iter().filter(|m| {
        m.kind == MetricKind::Quantile
            && m.quantile.is_some_and(|q| q.level == QuantileLevel::Event)
    }) {
        let Some(rule) = m.rule() else {
            continue;
        };
        let parts: Vec<String> = super::in_each_file(schemas, "events")
            .iter()
            .zip(super::in_each_file(schemas, "exposures"))
            .map(|(events, exposures)| {
                format!(
                    "SELECT x.unit_id, x.variant, x.device, x.persona, x.ts AS exposed_at, \
                     e.ts, e.value FROM {events} e JOIN {exposures} x \
                     ON x.test = e.test AND x.unit_id = e.unit_id \
                     WHERE e.test = $1 AND e.kind = 'conversion' AND e.metric = $2"
                )
            })
            .collect();
        let rows: Vec<Row> = sqlx::query_as(&parts.join(" UNION ALL "))
            .bind(test)
            .bind(m.event_name())
            .fetch_all(&mut *conn)
            .await?;
        let mut units: BTreeMap<String, UnitEvents> = BTreeMap::new();
        for (unit, variant, device, persona, exposed_at, ts, value) in rows {
            if !rule.counts(exposed_at, ts) {
                continue;
            }
            units
                .entry(unit)
                .or_insert_with(|| UnitEvents {
                    metric: m.key.clone(),
                    variant,
                    device,
                    persona,
                    values: Vec::new(),
                })
                .values
                .push(value.unwrap_or(0.0));
        }
        out.extend(units.into_values());
    }
    Ok(out)
}
