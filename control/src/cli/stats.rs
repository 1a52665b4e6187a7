//! `edgewise stats` and `edgewise power`: the shared statistics engine on the command line, for
//! analysts who script against it. Both print JSON to stdout; a bad input is an error naming the
//! file and field (exit code 2), never a panic or a NaN.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use edgewise_shared::stats::power::{sample_size, PowerInput};
use edgewise_shared::stats::{analyze, AnalysisInput};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Analysis input JSON file (`-` for stdin): metric_type, variants with their aggregates,
    /// and optionally alpha, expected_weights, sequential_tuning_parameter, control_index,
    /// prior, correction.
    #[arg(long)]
    input: PathBuf,
}

#[derive(Debug, Args)]
pub struct PowerArgs {
    /// Baseline conversion rate (0..1), or the baseline mean with --stddev.
    #[arg(long, allow_negative_numbers = true)]
    baseline: f64,
    /// Relative minimum detectable effect, e.g. 0.05 for +5%.
    #[arg(long, allow_negative_numbers = true)]
    mde: f64,
    /// Significance level (two-sided).
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Power: probability of detecting the MDE when it is real.
    #[arg(long, default_value_t = 0.8)]
    power: f64,
    /// Per-unit standard deviation: sizes a mean metric instead of a conversion rate.
    #[arg(long)]
    stddev: Option<f64>,
    /// Units per day reaching the test's pages; adds the expected duration in days.
    #[arg(long)]
    daily_traffic: Option<f64>,
    /// Share of that traffic the test includes (0..1].
    #[arg(long, default_value_t = 1.0)]
    coverage: f64,
    /// Number of arms, control included.
    #[arg(long, default_value_t = 2)]
    arms: u32,
}

/// A file's text, or stdin's for `-`.
pub(super) fn read_text(path: &PathBuf) -> anyhow::Result<String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(text)
}

fn read_input(path: &PathBuf) -> anyhow::Result<AnalysisInput> {
    let name = path.display();
    let text = read_text(path)?;
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = e.path().to_string();
        anyhow::anyhow!("{name}: at `{at}`: {}", e.into_inner())
    })
}

pub fn stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let input = read_input(&args.input)?;
    let output = analyze(&input).map_err(|e| anyhow::anyhow!("{}: {e}", args.input.display()))?;
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(ExitCode::SUCCESS)
}

pub fn power(args: PowerArgs) -> anyhow::Result<ExitCode> {
    let input = PowerInput {
        baseline: args.baseline,
        mde: args.mde,
        alpha: args.alpha,
        power: args.power,
        stddev: args.stddev,
        daily_traffic: args.daily_traffic,
        coverage: args.coverage,
        arms: args.arms,
    };
    let out = sample_size(&input)
        .map_err(|e| anyhow::anyhow!("--{}", e.to_string().replace('_', "-")))?;
    let mut json = serde_json::to_value(out)?;
    if let Some(map) = json.as_object_mut() {
        map.insert(
            "metric".into(),
            if args.stddev.is_some() {
                "mean"
            } else {
                "binomial"
            }
            .into(),
        );
        map.insert("alpha".into(), args.alpha.into());
        map.insert("power".into(), args.power.into());
    }
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}
