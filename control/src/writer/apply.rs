//! One group of batches applied on a SQLite file's writer connection: raw events, per-unit
//! state, and the aggregate deltas written once per group (see the module above).

use std::collections::BTreeMap;

use edgewise_shared::beacon::EventKind;
use edgewise_shared::metrics::sketch::Bucket;
use edgewise_shared::metrics::{CellChange, PerUnit, Totals};
use rusqlite::{params, Connection, OptionalExtension};

use crate::db::cells::{self, Cell, StratumCell, Units};
use crate::db::dims;
use crate::db::events::{Applied, NewEvent};

/// Test, variant, device, persona and metric of an `agg_metrics` row.
type MetricCell = (Cell, String);

pub(super) fn apply(conn: &Connection, batches: &[&[NewEvent]]) -> rusqlite::Result<Vec<Applied>> {
    let mut order: Vec<(usize, &NewEvent)> = batches
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.iter().map(move |e| (i, e)))
        .collect();
    // Stable: events of one kind and time keep their order, so of two copies of one event
    // the first sent is the one accepted.
    order.sort_by_key(|(_, e)| (e.kind == EventKind::Conversion, e.ts));

    let mut insert = conn.prepare_cached(
        "INSERT INTO events (event_id, kind, unit_id, test, variant, metric, value, device, \
         persona, ts, snapshot_version, site, received_at, logged_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT DO NOTHING",
    )?;
    let mut expose = conn.prepare_cached(
        "INSERT INTO exposures (test, unit_id, variant, device, persona, ts, stratum, \
         propensity, dims, covs, logged_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT DO NOTHING",
    )?;
    let mut cell_of = conn.prepare_cached(
        "SELECT variant, device, persona, ts, stratum, dims, covs FROM exposures \
         WHERE test = ?1 AND unit_id = ?2",
    )?;
    let mut dim_known = conn.prepare_cached(&dims::known_sql(""))?;
    let mut admission = dims::Admission::default();
    let mut agg_dims: BTreeMap<dims::DimKey, CellChange> = BTreeMap::new();
    let mut convert_once = conn.prepare_cached(
        "INSERT INTO unit_metrics (test, unit_id, metric, conversions, value) \
         VALUES (?1, ?2, ?3, 1, 0) ON CONFLICT DO NOTHING",
    )?;
    let mut add_value = conn.prepare_cached(
        "INSERT INTO unit_metrics (test, unit_id, metric, conversions, value) \
         VALUES (?1, ?2, ?3, 1, ?4) ON CONFLICT (test, unit_id, metric) DO UPDATE SET \
         conversions = conversions + 1, value = value + excluded.value \
         RETURNING conversions, value",
    )?;
    let mut totals_of = conn.prepare_cached(
        "SELECT conversions, value FROM unit_metrics \
         WHERE test = ?1 AND unit_id = ?2 AND metric = ?3",
    )?;

    let mut applied = vec![Applied::default(); batches.len()];
    let mut agg_exp: BTreeMap<Cell, Units> = BTreeMap::new();
    let mut agg_met: BTreeMap<MetricCell, CellChange> = BTreeMap::new();
    let mut agg_strata: BTreeMap<StratumCell, CellChange> = BTreeMap::new();
    let mut agg_sketch: BTreeMap<(MetricCell, i32), Bucket> = BTreeMap::new();
    for (batch, e) in order {
        let exposure = e.kind == EventKind::Exposure;
        let new = insert.execute(params![
            e.event_id,
            if exposure { "exposure" } else { "conversion" },
            e.unit_id,
            e.test,
            e.variant,
            e.metric,
            e.value,
            e.device,
            e.persona,
            e.ts,
            e.snapshot_version,
            e.site,
            e.received_at,
            e.logged_by.as_str(),
        ])? == 1;
        if !new {
            applied[batch].duplicates += 1;
            continue;
        }
        applied[batch].new_event(e);
        if exposure {
            // The unit's dimension values as they will be stored: kept, or `(other)`.
            let mut pairs = Vec::with_capacity(e.dims.len());
            for (dim, value) in &e.dims {
                let stored = match admission.decided(&e.test, dim, value) {
                    Some(v) => v.to_owned(),
                    None => {
                        let (known, kept) = dim_known
                            .query_row(params![e.test, dim, value], |r| {
                                Ok((r.get(0)?, r.get(1)?))
                            })?;
                        admission.decide(&e.test, dim, value, known, kept)
                    }
                };
                pairs.push((dim.clone(), stored));
            }
            // Counts if it is the unit's first.
            if expose.execute(params![
                e.test,
                e.unit_id,
                e.variant,
                e.device,
                e.persona,
                e.ts,
                e.stratum,
                e.propensity,
                dims::text(&pairs),
                cells::covs_text(&e.covs),
                e.logged_by.as_str()
            ])? == 1
            {
                for (metric, x) in &e.covs {
                    let cell = (
                        e.test.clone(),
                        e.variant.clone(),
                        e.device.clone(),
                        e.persona.clone(),
                    );
                    agg_met
                        .entry((cell, metric.clone()))
                        .or_default()
                        .add(CellChange::covariate(*x, 1.0));
                }
                let one = CellChange {
                    units: 1,
                    ..CellChange::default()
                };
                dims::record(&mut agg_dims, &e.test, &e.variant, &pairs, "", one);
                if let Some(stratum) = e.stratum {
                    agg_strata
                        .entry((e.test.clone(), stratum, e.variant.clone(), String::new()))
                        .or_default()
                        .units += 1;
                }
                let cell = (
                    e.test.clone(),
                    e.variant.clone(),
                    e.device.clone(),
                    e.persona.clone(),
                );
                agg_exp
                    .entry(cell)
                    .or_default()
                    .add(Units::one(1, e.logged_by));
            }
            continue;
        }
        // A conversion counts if the unit was exposed, for each metric reading it whose
        // window it falls in.
        if e.reads.is_empty() {
            continue;
        }
        let Some((variant, device, persona, exposed_at, stratum, unit_dims, unit_covs)) = cell_of
            .query_row(params![e.test, e.unit_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .optional()?
        else {
            continue;
        };
        let pairs = dims::parse(&unit_dims);
        let covs = cells::parse_covs(&unit_covs);
        let stratum_cell =
            |metric: &str| stratum.map(|s| (e.test.clone(), s, variant.clone(), metric.to_owned()));
        let cell: Cell = (e.test.clone(), variant.clone(), device, persona);
        let dv = e.value.unwrap_or(0.0);
        for r in e.reads.iter().filter(|r| r.rule.counts(exposed_at, e.ts)) {
            let (before, after) = if r.rule.per_unit == PerUnit::Converted {
                // Written once: nothing more about a converted unit counts.
                if convert_once.execute(params![e.test, e.unit_id, r.key])? == 0 {
                    continue;
                }
                (Totals::default(), Totals::default().plus(1, 0.0))
            } else {
                // The unit's totals for the metric, this conversion included.
                let after = add_value.query_row(params![e.test, e.unit_id, r.key, dv], |r| {
                    Ok(Totals {
                        conversions: r.get(0)?,
                        value: r.get(1)?,
                    })
                })?;
                (after.plus(-1, -dv), after)
            };
            for (b, change) in r.rule.sketch_moves(before, after) {
                agg_sketch
                    .entry(((cell.clone(), r.key.clone()), b))
                    .or_default()
                    .add(change);
            }
            if let Some(mut change) = CellChange::metric(&r.rule, before, after) {
                if let Some(x) = covs.get(&r.key) {
                    change = change.with_covariate(*x);
                }
                agg_met
                    .entry((cell.clone(), r.key.clone()))
                    .or_default()
                    .add(change);
                if let Some(c) = stratum_cell(&r.key) {
                    agg_strata.entry(c).or_default().add(change);
                }
                dims::record(&mut agg_dims, &e.test, &variant, &pairs, &r.key, change);
            }
            let x = (r.rule.value(before), r.rule.value(after));
            for link in &r.ratios {
                let other = totals_of
                    .query_row(params![e.test, e.unit_id, link.other], |r| {
                        Ok(Totals {
                            conversions: r.get(0)?,
                            value: r.get(1)?,
                        })
                    })
                    .optional()?
                    .unwrap_or_default();
                let y = link.other_rule.value(other);
                let change = if link.numerator {
                    CellChange::ratio(x, (y, y))
                } else {
                    CellChange::ratio((y, y), x)
                };
                if let Some(change) = change {
                    agg_met
                        .entry((cell.clone(), link.ratio.clone()))
                        .or_default()
                        .add(change);
                    dims::record(
                        &mut agg_dims,
                        &e.test,
                        &variant,
                        &pairs,
                        &link.ratio,
                        change,
                    );
                }
            }
        }
    }

    let mut add_exp = conn.prepare_cached(
        "INSERT INTO agg_exposures (test, variant, device, persona, units, edge_units) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (test, variant, device, persona) \
         DO UPDATE SET units = units + excluded.units, \
         edge_units = edge_units + excluded.edge_units",
    )?;
    for ((t, v, d, p), n) in &agg_exp {
        add_exp.execute(params![t, v, d, p, n.all, n.edge])?;
    }
    let mut add_met = conn.prepare_cached(
        "INSERT INTO agg_metrics (test, variant, device, persona, metric, units, sum, sum_sq, \
         den_sum, den_sum_sq, sum_product, cov_sum, cov_sum_sq, cov_product) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT (test, variant, device, persona, metric) DO UPDATE SET \
         units = units + excluded.units, sum = sum + excluded.sum, \
         sum_sq = sum_sq + excluded.sum_sq, den_sum = den_sum + excluded.den_sum, \
         den_sum_sq = den_sum_sq + excluded.den_sum_sq, \
         sum_product = sum_product + excluded.sum_product, \
         cov_sum = cov_sum + excluded.cov_sum, cov_sum_sq = cov_sum_sq + excluded.cov_sum_sq, \
         cov_product = cov_product + excluded.cov_product",
    )?;
    let mut add_stratum = conn.prepare_cached(
        "INSERT INTO agg_strata (test, stratum, variant, metric, units, sum, sum_sq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (test, stratum, variant, metric) \
         DO UPDATE SET units = units + excluded.units, sum = sum + excluded.sum, \
         sum_sq = sum_sq + excluded.sum_sq",
    )?;
    for ((t, stratum, v, m), c) in &agg_strata {
        add_stratum.execute(params![t, stratum, v, m, c.units, c.sum, c.sum_sq])?;
    }
    for (((t, v, d, p), m), c) in &agg_met {
        add_met.execute(params![
            t,
            v,
            d,
            p,
            m,
            c.units,
            c.sum,
            c.sum_sq,
            c.den_sum,
            c.den_sum_sq,
            c.sum_product,
            c.cov_sum,
            c.cov_sum_sq,
            c.cov_product
        ])?;
    }
    let mut add_sketch = conn.prepare_cached(
        "INSERT INTO agg_sketch (test, variant, device, persona, metric, bucket, units, sum, \
         sum_sq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (test, metric, variant, device, persona, bucket) DO UPDATE SET \
         units = units + excluded.units, sum = sum + excluded.sum, \
         sum_sq = sum_sq + excluded.sum_sq",
    )?;
    for ((((t, v, d, p), m), k), b) in agg_sketch.iter().filter(|(_, b)| b.units != 0) {
        add_sketch.execute(params![t, v, d, p, m, k, b.units, b.sum, b.sum_sq])?;
    }
    let mut add_dim = conn.prepare_cached(
        "INSERT INTO agg_dims (test, dimension, metric, value, variant, units, sum, sum_sq, \
         den_sum, den_sum_sq, sum_product) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (test, dimension, metric, value, variant) DO UPDATE SET \
         units = units + excluded.units, sum = sum + excluded.sum, \
         sum_sq = sum_sq + excluded.sum_sq, den_sum = den_sum + excluded.den_sum, \
         den_sum_sq = den_sum_sq + excluded.den_sum_sq, \
         sum_product = sum_product + excluded.sum_product",
    )?;
    for ((t, d, m, v, var), c) in &agg_dims {
        add_dim.execute(params![
            t,
            d,
            m,
            v,
            var,
            c.units,
            c.sum,
            c.sum_sq,
            c.den_sum,
            c.den_sum_sq,
            c.sum_product
        ])?;
    }
    Ok(applied)
}
