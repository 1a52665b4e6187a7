//! `edgewise recommend`: the monitor's recommendation for one test, offline. It reads the
//! `edgewise stats` input of the primary metric plus `days_running`, `daily_units`, `decision`
//! and `guardrails`, and prints what the live monitor would recommend (the same function,
//! `edgewise_shared::decide::recommend`). A bad input is an error naming the file and field
//! (exit code 2).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use edgewise_shared::decide::{
    recommend as decide, DecisionSettings, GuardrailInput, RecommendInput,
};
use edgewise_shared::stats::AnalysisInput;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// Input JSON file (`-` for stdin): the `edgewise stats` input of the primary metric, plus
    /// `days_running`, `daily_units`, `decision` {min_runtime_days, min_units_per_arm, mde,
    /// alpha, power, …} and `guardrails` [{key, metric_type, max_regression, variants}].
    #[arg(long)]
    input: PathBuf,
}

/// `value` as `T`, an error naming the file and the field's path under `at`.
fn field<T: DeserializeOwned>(name: &str, at: &str, value: Value) -> anyhow::Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (at, inner.as_str()) {
            ("", p) => p.to_owned(),
            (a, ".") => a.to_owned(),
            (a, p) if p.starts_with('[') => format!("{a}{p}"),
            (a, p) => format!("{a}.{p}"),
        };
        anyhow::anyhow!("{name}: at `{path}`: {}", e.into_inner())
    })
}

pub fn recommend(args: RecommendArgs) -> anyhow::Result<ExitCode> {
    let name = args.input.display().to_string();
    let text = super::stats::read_text(&args.input)?;
    let mut doc: serde_json::Map<String, Value> =
        serde_json::from_str(&text).with_context(|| format!("{name}: not a JSON object"))?;
    let mut take = |key: &str| doc.remove(key);
    let days_running =
        take("days_running").context(format!("{name}: `days_running` is missing"))?;
    let daily_units = take("daily_units").context(format!("{name}: `daily_units` is missing"))?;
    let decision = take("decision").unwrap_or_else(|| Value::Object(Default::default()));
    let guardrails = take("guardrails").unwrap_or_else(|| Value::Array(Vec::new()));
    let input = RecommendInput {
        days_running: field(&name, "days_running", days_running)?,
        daily_units: field(&name, "daily_units", daily_units)?,
        decision: field::<DecisionSettings>(&name, "decision", decision)?,
        guardrails: field::<Vec<GuardrailInput>>(&name, "guardrails", guardrails)?,
        primary: field::<AnalysisInput>(&name, "", Value::Object(doc))?,
    };
    let out = decide(&input).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
