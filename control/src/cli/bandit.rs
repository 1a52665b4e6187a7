//! `edgewise bandit`: one bandit update on a file's aggregates, the function the control
//! plane's bandit job runs (docs/bandits.md). Prints `{"weights", "probability_best"}`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use edgewise_shared::bandit::{run, BanditInput};

use super::stats::read_text;

#[derive(Debug, Args)]
pub struct BanditArgs {
    /// Input JSON file (`-` for stdin): metric_type (binomial or mean), variants with their
    /// aggregates (as `edgewise stats` reads them), floor (default 0.01), seed.
    #[arg(long)]
    input: PathBuf,
}

pub fn bandit(args: BanditArgs) -> anyhow::Result<ExitCode> {
    let name = args.input.display();
    let text = read_text(&args.input)?;
    let mut de = serde_json::Deserializer::from_str(&text);
    let input: BanditInput = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| anyhow::anyhow!("{name}: at `{}`: {}", e.path(), e.inner()))?;
    let update = run(&input).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    println!("{}", serde_json::to_string_pretty(&update)?);
    Ok(ExitCode::SUCCESS)
}
