//! `edgewise assign` and `edgewise validate`: the shared assignment engine on a snapshot file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use edgewise_shared::timestamp::parse_rfc3339_ms;
use edgewise_shared::{CompiledSnapshot, DeviceClass, Snapshot, SnapshotError, Visitor, Warning};

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// Snapshot JSON file.
    #[arg(long)]
    snapshot: PathBuf,
    /// The visitor's bucketing id.
    #[arg(long)]
    unit: String,
    #[arg(long)]
    user_agent: Option<String>,
    /// Device class (mobile, tablet, desktop, bot); overrides the User-Agent.
    #[arg(long, value_parser = parse_device)]
    device: Option<DeviceClass>,
    /// Explicit persona; overrides the snapshot's persona rules.
    #[arg(long)]
    persona: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[arg(long)]
    country: Option<String>,
    /// Page URL.
    #[arg(long)]
    url: Option<String>,
    #[arg(long)]
    referrer: Option<String>,
    /// The visitor's local hour, 0-23.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..24))]
    local_hour: Option<u8>,
    /// Targeting attribute, KEY=VALUE (repeatable).
    #[arg(long = "attr", value_parser = parse_pair)]
    attrs: Vec<(String, String)>,
    /// QA preview: force TEST=VARIANT (repeatable); forced decisions are never counted.
    #[arg(long = "force", value_parser = parse_pair)]
    forced: Vec<(String, String)>,
    /// Evaluation time, RFC 3339 (default: now).
    #[arg(long, value_parser = parse_now)]
    now: Option<i64>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Snapshot JSON file.
    #[arg(long, required_unless_present = "test", conflicts_with = "test")]
    snapshot: Option<PathBuf>,
    /// A test definition (as `POST /api/v1/tests` takes it): the checks before a start that
    /// need no database (docs/automation.md).
    #[arg(long)]
    test: Option<PathBuf>,
    /// With --test: units a day, for the `underpowered` check.
    #[arg(long, requires = "baseline")]
    daily_units: Option<f64>,
    /// With --test: the primary metric's conversion rate, for the `underpowered` check.
    #[arg(long, requires = "daily_units")]
    baseline: Option<f64>,
    /// Treat skipped tests, layers, personas and origins (or, with --test, warnings) as
    /// errors too.
    #[arg(long)]
    deny_warnings: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

fn parse_device(s: &str) -> Result<DeviceClass, String> {
    DeviceClass::parse(s)
        .ok_or_else(|| format!("expected mobile, tablet, desktop or bot, got `{s}`"))
}

fn parse_now(s: &str) -> Result<i64, String> {
    parse_rfc3339_ms(s)
}

/// Reads and parses a snapshot file; errors name the file, the JSON path, line and column.
fn read_snapshot(path: &Path) -> anyhow::Result<Snapshot> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read snapshot {}", path.display()))?;
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = e.path().to_string();
        anyhow::anyhow!("{}: at `{at}`: {}", path.display(), e.into_inner())
    })
}

fn compile(path: &Path) -> anyhow::Result<(CompiledSnapshot, Vec<Warning>)> {
    let wire = read_snapshot(path)?;
    CompiledSnapshot::compile(&wire)
        .map_err(|e: SnapshotError| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn assign(args: AssignArgs) -> anyhow::Result<ExitCode> {
    if args.unit.is_empty() {
        bail!("--unit must not be empty");
    }
    let (snapshot, warnings) = compile(&args.snapshot)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let now = match args.now {
        Some(ms) => ms,
        None => now_ms(),
    };
    let visitor = Visitor {
        unit_id: &args.unit,
        user_agent: args.user_agent.as_deref(),
        device: args.device,
        persona: args.persona.as_deref(),
        country: args.country.as_deref(),
        url: args.url.as_deref(),
        referrer: args.referrer.as_deref(),
        local_hour: args.local_hour,
        attributes: &args.attrs,
        forced: &args.forced,
    };
    let assignment = snapshot.assign(&visitor, now);
    println!("{}", serde_json::to_string_pretty(&assignment)?);
    Ok(ExitCode::SUCCESS)
}

pub fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let Some(snapshot) = &args.snapshot else {
        return validate_test(&args);
    };
    let (errors, warnings, tests) = match compile(snapshot) {
        Ok((s, w)) => (Vec::new(), w, s.tests().count()),
        Err(e) => (vec![format!("{e:#}")], Vec::new(), 0),
    };
    let failed = !errors.is_empty() || (args.deny_warnings && !warnings.is_empty());
    let report = serde_json::json!({
        "valid": !failed,
        "tests": tests,
        "errors": errors,
        "warnings": warnings
            .iter()
            .map(|w| serde_json::json!({"message": w.to_string(), "detail": w}))
            .collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `edgewise validate --test FILE`: the checks of a test definition that need no database.
fn validate_test(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    use edgewise_shared::plan::checks::{self, Setup, Severity, Sizing, Traffic};
    let path = args.test.as_deref().unwrap_or(Path::new("-"));
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read test {}", path.display()))?;
    let mut de = serde_json::Deserializer::from_str(&text);
    let spec: edgewise_control::model::TestSpec = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| {
            let at = e.path().to_string();
            anyhow::anyhow!("{}: at `{at}`: {}", path.display(), e.into_inner())
        })?;
    let traffic = Traffic {
        daily_units: args.daily_units,
        baseline: args.baseline,
        ..Traffic::default()
    };
    let builtin = edgewise_shared::plan::templates::builtin();
    let findings = checks::check(
        &edgewise_control::model::candidate(&spec),
        &[],
        &traffic,
        &Setup {
            templates: &builtin,
            layers: &[],
            holdout_hash_id: None,
        },
        Sizing {
            mde: spec
                .decision
                .as_ref()
                .and_then(|d| d.mde)
                .unwrap_or(edgewise_shared::decide::DecisionSettings::default().mde),
            alpha: 0.05,
            power: 0.8,
            max_days: edgewise_control::checks::MAX_DAYS,
        },
    );
    let (errors, warnings): (Vec<_>, Vec<_>) = findings
        .into_iter()
        .partition(|f| f.severity == Severity::Error);
    let failed = !errors.is_empty() || (args.deny_warnings && !warnings.is_empty());
    let report = serde_json::json!({
        "valid": !failed, "test": spec.key, "errors": errors, "warnings": warnings,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
