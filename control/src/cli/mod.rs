//! The `edgewise` subcommands. Each module parses its own arguments and prints JSON to stdout.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod assign;
mod bandit;
mod learn;
mod plan;
mod recommend;
mod serve;
mod simulate;
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
    /// One bandit update on per-arm aggregates: each arm's probability of being best and the
    /// traffic weights with a floor per arm, as JSON.
    Bandit(bandit::BanditArgs),
    /// Learn from past tests' lifts: priors per metric and tag (random-effects
    /// meta-analysis), shrunken estimates, heterogeneity overall and per segment, as JSON.
    Learn(learn::LearnArgs),
    /// Predict a draft test's lift and its chance of significance from past tests, as JSON.
    Predict(learn::PredictArgs),
    /// Units per arm (and days) needed to detect a relative effect.
    Power(stats::PowerArgs),
    /// Draft a test from a template: variants, metrics, the sample size per arm, the expected
    /// days at the given traffic, the coverage/duration trade-off and the risk score, as JSON.
    Plan(plan::PlanArgs),
    /// What the monitor would recommend for a test: keep running, ship, stop without a winner,
    /// or stop on a guardrail, with its reasons.
    Recommend(recommend::RecommendArgs),
    /// Run the control plane (admin API, ingestion, snapshot publishing).
    Serve(Box<edgewise_control::config::ServeArgs>),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Manage per-site ingestion keys.
    #[command(subcommand)]
    IngestKey(serve::IngestKeyCommand),
    /// Drive synthetic visitors through a running edge and control plane; report results
    /// next to the simulated truth.
    Simulate(Box<simulate::SimulateArgs>),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(serve::AuditCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Assign(args) => assign::assign(*args),
        Command::Validate(args) => assign::validate(args),
        Command::Stats(args) => stats::stats(args),
        Command::Power(args) => stats::power(args),
        Command::Plan(args) => plan::plan_cmd(args),
        Command::Bandit(args) => bandit::bandit(args),
        Command::Learn(args) => learn::learn_cmd(args),
        Command::Predict(args) => learn::predict_cmd(args),
        Command::Recommend(args) => recommend::recommend(args),
        Command::Serve(args) => serve::serve(*args),
        Command::Token(cmd) => serve::token(cmd),
        Command::IngestKey(cmd) => serve::ingest_key(cmd),
        Command::Audit(cmd) => serve::audit(cmd),
        Command::Simulate(args) => simulate::simulate(*args),
    }
}
