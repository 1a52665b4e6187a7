//! `edgewise plan`: a draft test from a built-in template, sized by the power analysis, with
//! its expected duration, the coverage/duration trade-off and its risk score (docs/automation.md).

use std::process::ExitCode;

use clap::Args;
use edgewise_shared::plan::{plan, templates, PlanInput};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The template: headline, call_to_action, pricing_display, hero_layout, checkout_step.
    #[arg(long)]
    template: String,
    /// The primary metric's baseline conversion rate (0..1).
    #[arg(long)]
    baseline: f64,
    /// Relative minimum detectable effect, e.g. 0.05 for +5%.
    #[arg(long, allow_negative_numbers = true)]
    mde: f64,
    /// Units per day reaching the test's pages.
    #[arg(long)]
    daily_units: f64,
    /// Arms, control included.
    #[arg(long, default_value_t = 2)]
    variants: u32,
    /// Share of that traffic the test includes (0..1].
    #[arg(long, default_value_t = 1.0)]
    coverage: f64,
    /// Significance level (two-sided).
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Power at the minimum detectable effect.
    #[arg(long, default_value_t = 0.8)]
    power: f64,
    /// The draft's key (default: the template's name with `-draft`).
    #[arg(long)]
    key: Option<String>,
}

pub fn plan_cmd(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let Some(template) = templates::named(&args.template) else {
        let names: Vec<String> = templates::builtin().into_iter().map(|t| t.name).collect();
        anyhow::bail!(
            "--template: no template `{}` (one of: {})",
            args.template,
            names.join(", ")
        );
    };
    if !(2..=10).contains(&args.variants) {
        anyhow::bail!("--variants: must be 2 to 10, control included");
    }
    if !(args.daily_units > 0.0 && args.daily_units.is_finite()) {
        anyhow::bail!("--daily-units: must be a number above 0");
    }
    let input = PlanInput {
        key: args
            .key
            .unwrap_or_else(|| format!("{}-draft", template.name)),
        baseline: args.baseline,
        mde: args.mde,
        daily_units: args.daily_units,
        variants: args.variants,
        coverage: args.coverage,
        alpha: args.alpha,
        power: args.power,
    };
    let out = plan(&template, &input)
        .map_err(|e| anyhow::anyhow!("--{}", e.to_string().replace('_', "-")))?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
