//! `edgewise simulate`: drive synthetic visitors through a running edge and control plane and
//! print the control plane's results next to the simulated truth.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use edgewise_control::sim::bandit::BanditScenarioFile;
use edgewise_control::sim::{self, scenario::Scenario};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario JSON (see docs/simulator.md and docs/scenarios/).
    #[arg(long)]
    scenario: PathBuf,
    /// Base URL of the edge worker.
    #[arg(long, env = "EDGEWISE_EDGE", default_value = "http://localhost:8787")]
    edge: String,
    /// Base URL of the control plane.
    #[arg(
        long,
        env = "EDGEWISE_CONTROL",
        default_value = "http://127.0.0.1:3000"
    )]
    control: String,
    /// API token (viewer or above) to read results; not needed for a bandit scenario.
    #[arg(long, env = "EDGEWISE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Visits in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Shell command that restarts the control plane, for the scenario's `faults.restart_at`.
    #[arg(long)]
    restart_command: Option<String>,
    /// Seconds to wait for the control plane to count every beacon.
    #[arg(long, default_value_t = 120)]
    settle_seconds: u64,
    /// Print the full report as JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("cannot read scenario {}", args.scenario.display()))?;
    if serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v.get("bandit").is_some()) {
        return bandit(&args.scenario, &text);
    }
    let mut de = serde_json::Deserializer::from_str(&text);
    let scenario: Scenario = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        anyhow::anyhow!(
            "{}: at `{}`: {}",
            args.scenario.display(),
            e.path(),
            e.inner()
        )
    })?;
    let target = sim::Target {
        edge: args.edge.trim_end_matches('/').to_owned(),
        control: args.control.trim_end_matches('/').to_owned(),
        token: args.token.context(
            "--token (or EDGEWISE_TOKEN) is required to read the control plane's results",
        )?,
        concurrency: args.concurrency.max(1),
        restart_command: args.restart_command,
        settle_timeout: Duration::from_secs(args.settle_seconds),
        progress: !args.quiet,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(sim::run(&scenario, &target))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(ExitCode::SUCCESS)
}

/// A bandit scenario runs offline: no edge or control plane, many seeded runs, one JSON report.
fn bandit(path: &std::path::Path, text: &str) -> anyhow::Result<ExitCode> {
    let mut de = serde_json::Deserializer::from_str(text);
    let file: BanditScenarioFile = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| anyhow::anyhow!("{}: at `{}`: {}", path.display(), e.path(), e.inner()))?;
    file.bandit
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&sim::bandit::simulate(&file.bandit))?
    );
    Ok(ExitCode::SUCCESS)
}
