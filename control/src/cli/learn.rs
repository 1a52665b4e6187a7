//! `edgewise learn` and `edgewise predict`: learning across past tests on the command line
//! (docs/learning.md). Both print JSON; a bad input exits with code 2 naming the field.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use edgewise_shared::learn::{check, learn, predict, Draft, History};
use serde::de::DeserializeOwned;

use super::stats::read_text;

#[derive(Debug, Args)]
pub struct LearnArgs {
    /// History JSON (`-` for stdin): {"tests": [{"key", "tags", "metric", "lift", "se",
    /// "segments": {"device:mobile": {"lift", "se"}, …}}]}.
    #[arg(long)]
    input: PathBuf,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// History JSON, as for `edgewise learn`.
    #[arg(long)]
    history: PathBuf,
    /// Draft JSON: {"metric", "tags", "baseline", "daily_units", "variants", "alpha", "days"}.
    #[arg(long)]
    draft: PathBuf,
}

fn read<T: DeserializeOwned>(path: &PathBuf) -> anyhow::Result<T> {
    let text = read_text(path)?;
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| anyhow::anyhow!("{}: at `{}`: {}", path.display(), e.path(), e.inner()))
}

fn history(path: &PathBuf) -> anyhow::Result<History> {
    let h: History = read(path)?;
    check(&h).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(h)
}

pub fn learn_cmd(args: LearnArgs) -> anyhow::Result<ExitCode> {
    let h = history(&args.input)?;
    println!("{}", serde_json::to_string_pretty(&learn(&h))?);
    Ok(ExitCode::SUCCESS)
}

pub fn predict_cmd(args: PredictArgs) -> anyhow::Result<ExitCode> {
    let h = history(&args.history)?;
    let draft: Draft = read(&args.draft)?;
    draft
        .check()
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.draft.display()))?;
    let p = predict(&draft, &h.tests, &learn(&h));
    println!("{}", serde_json::to_string_pretty(&p)?);
    Ok(ExitCode::SUCCESS)
}
