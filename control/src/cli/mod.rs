//! The `edgewise` subcommands. Each module parses its own arguments and prints JSON to stdout.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod assign;
mod stats;

/// Edgewise: edge-native A/B testing.
#[derive(Debug, Parser)]
#[command(name = "edgewise", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decide a visitor's variants from a snapshot file and print them as JSON.
    Assign(Box<assign::AssignArgs>),
    /// Check a snapshot file; prints errors and warnings, exits 1 on errors.
    Validate(assign::ValidateArgs),
    /// Analyse one metric's per-arm aggregates (frequentist, sequential, Bayesian, SRM) as JSON.
    Stats(stats::StatsArgs),
    /// Units per arm (and days) needed to detect a relative effect.
    Power(stats::PowerArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Assign(args) => assign::assign(*args),
        Command::Validate(args) => assign::validate(args),
        Command::Stats(args) => stats::stats(args),
        Command::Power(args) => stats::power(args),
    }
}
