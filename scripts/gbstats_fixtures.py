#!/usr/bin/env python3
"""Golden fixtures for Edgewise's statistics engine, computed by GrowthBook's gbstats 0.8.0.

Writes shared/tests/vectors/gbstats/*.json: each case holds the exact `edgewise stats` input and
the output gbstats gives for it (frequentist, sequential, Bayesian; relative and absolute; SRM),
plus reference values for the distribution functions (scipy and 50-digit mpmath), the power
formula (scipy) and multiple-comparison corrections (statsmodels).

Usage: python3 scripts/gbstats_fixtures.py
If gbstats==0.8.0, mpmath and statsmodels are not importable, it creates a venv in
~/.cache/edgewise/gbstats-venv, installs them from PyPI and re-runs itself there.
"""
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "shared", "tests", "vectors", "gbstats")
VENV = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "edgewise", "gbstats-venv")
# Pinned to the versions the committed fixtures were generated with.
REQUIREMENTS = ["gbstats==0.8.0", "scipy==1.17.1", "numpy==1.26.4", "mpmath==1.4.1", "statsmodels==0.15.0"]


def ensure_dependencies():
    try:
        import importlib.metadata as md

        import mpmath  # noqa: F401
        import statsmodels  # noqa: F401

        if md.version("gbstats") == "0.8.0":
            return
    except Exception:
        pass
    if os.environ.get("EDGEWISE_FIXTURES_VENV"):
        sys.exit("dependencies still missing inside the venv")
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([py, "-m", "pip", "install", "-q", *REQUIREMENTS])
    env = dict(os.environ, EDGEWISE_FIXTURES_VENV="1")
    # Re-run whichever script imported us (the fixtures or the benchmark), with its arguments.
    os.execve(py, [py, os.path.abspath(sys.argv[0]), *sys.argv[1:]], env)


ensure_dependencies()

import mpmath  # noqa: E402
import numpy as np  # noqa: E402
from gbstats.bayesian.tests import (  # noqa: E402
    EffectBayesianABTest,
    EffectBayesianConfig,
    GaussianPrior,
)
from gbstats.frequentist.tests import (  # noqa: E402
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (  # noqa: E402
    ProportionStatistic,
    QuantileClusteredStatistic,
    QuantileStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm  # noqa: E402
from scipy import stats as sps  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402

REASONS = {
    "ZERO_NEGATIVE_BASELINE_VARIATION": "zero_control_mean",
    "ZERO_NEGATIVE_VARIANCE": "zero_variance",
    "NO_UNITS_IN_VARIATION": "no_units",
}


def statistic(metric_type, v):
    if metric_type == "quantile":
        q = dict(n=v["n"], n_star=v["n_star"], nu=v["nu"], quantile_hat=v["quantile_hat"],
                 quantile_lower=v["quantile_lower"], quantile_upper=v["quantile_upper"])
        if "n_clusters" not in v:
            return QuantileStatistic(**q)
        return QuantileClusteredStatistic(
            **q, n_clusters=v["n_clusters"], main_sum=v["main_sum"], main_sum_squares=v["main_sum_squares"],
            denominator_sum=v["denominator_sum"], denominator_sum_squares=v["denominator_sum_squares"],
            main_denominator_sum_product=v["main_denominator_sum_product"],
        )
    if metric_type == "ratio":
        return RatioStatistic(
            n=v["n"],
            m_statistic=SampleMeanStatistic(n=v["n"], sum=float(v["numerator_sum"]), sum_squares=float(v["numerator_sum_squares"])),
            d_statistic=SampleMeanStatistic(n=v["n"], sum=float(v["denominator_sum"]), sum_squares=float(v["denominator_sum_squares"])),
            m_d_sum_of_products=float(v["numerator_denominator_sum_product"]),
        )
    if metric_type == "binomial":
        post = ProportionStatistic(n=v["n"], sum=float(v["conversions"]))
    else:
        post = SampleMeanStatistic(n=v["n"], sum=float(v["sum"]), sum_squares=float(v["sum_squares"]))
    if "covariate_sum" not in v:
        return post
    pre = SampleMeanStatistic(
        n=v["n"], sum=float(v["covariate_sum"]), sum_squares=float(v["covariate_sum_squares"])
    )
    return RegressionAdjustedStatistic(
        n=v["n"],
        post_statistic=post,
        pre_statistic=pre,
        post_pre_sum_of_products=float(v["sum_product_metric_covariate"]),
        theta=0,
    )


def frequentist_json(res):
    if res.error_message:
        return {"error": REASONS[res.error_message]}
    return {
        "estimate": res.expected,
        "ci": [float(res.ci[0]), float(res.ci[1])],
        "p_value": float(res.p_value),
        "std_error": float(res.uplift.stddev),
    }


def bayesian_json(res):
    if res.error_message:
        return {"error": REASONS[res.error_message]}
    return {
        "chance_to_win": float(res.chance_to_win),
        "ci": [float(res.ci[0]), float(res.ci[1])],
        "risk": [float(res.risk[0]), float(res.risk[1])],
        "estimate": float(res.expected),
        "std_error": float(res.uplift.stddev),
    }


def analyze(case):
    mt = case["metric_type"]
    alpha = case.get("alpha", 0.05)
    tuning = case.get("sequential_tuning_parameter", 5000)
    ci = case.get("control_index", 0)
    variants = case["variants"]
    weights = case.get("expected_weights", [1.0] * len(variants))
    prior = case.get("prior")
    comparisons = []
    for i, v in enumerate(variants):
        if i == ci:
            continue
        out = {"variant": v["name"]}
        for method in ["frequentist", "sequential", "bayesian"]:
            out[method] = {}
            for diff in ["relative", "absolute"]:
                # Fresh statistics per test: gbstats stores CUPED's theta on them.
                a, b = statistic(mt, variants[ci]), statistic(mt, v)
                if method == "frequentist":
                    cfg = FrequentistConfig(alpha=alpha, difference_type=diff)
                    out[method][diff] = frequentist_json(TwoSidedTTest(a, b, cfg).compute_result())
                elif method == "sequential":
                    cfg = SequentialConfig(
                        alpha=alpha, difference_type=diff, sequential_tuning_parameter=tuning
                    )
                    res = SequentialTwoSidedTTest(a, b, cfg).compute_result()
                    out[method][diff] = frequentist_json(res)
                else:
                    gp = (
                        GaussianPrior(mean=prior["mean"], variance=prior["stddev"] ** 2, proper=True)
                        if prior
                        else GaussianPrior()
                    )
                    cfg = EffectBayesianConfig(
                        alpha=alpha, difference_type=diff, prior_effect=gp, prior_type="relative"
                    )
                    try:
                        res = EffectBayesianABTest(a, b, cfg).compute_result()
                        out[method][diff] = bayesian_json(res)
                    except ZeroDivisionError as e:
                        # gbstats rescales its relative prior by the control mean and raises on 0.
                        out[method][diff] = {"error": "zero_control_mean", "gbstats_exception": str(e)}
        comparisons.append(out)
    # An event-level quantile's n counts events; its split is over its units (clusters).
    srm = float(check_srm([v.get("n_clusters", v["n"]) for v in variants], weights))
    return {"srm_p_value": srm, "comparisons": comparisons}


def binomial(names_n_conv):
    return [{"name": nm, "n": n, "conversions": c} for nm, n, c in names_n_conv]


def mean_from_values(name, values, covariate=None):
    v = {
        "name": name,
        "n": int(len(values)),
        "sum": float(np.sum(values)),
        "sum_squares": float(np.sum(values * values)),
    }
    if covariate is not None:
        v["covariate_sum"] = float(np.sum(covariate))
        v["covariate_sum_squares"] = float(np.sum(covariate * covariate))
        v["sum_product_metric_covariate"] = float(np.sum(values * covariate))
    return v


def mean_from_moments(name, n, mean, sd):
    # Sums consistent with a given mean and sample standard deviation.
    s = mean * n
    return {"name": name, "n": n, "sum": s, "sum_squares": sd * sd * (n - 1) + s * s / n}


def cases():
    rng = np.random.default_rng(20261127)
    out = {}
    out["binomial_small"] = {"metric_type": "binomial", "variants": binomial([("control", 100, 10), ("treatment", 110, 17)])}
    out["binomial_typical"] = {"metric_type": "binomial", "variants": binomial([("control", 10000, 1000), ("treatment", 10100, 1080)])}
    out["binomial_10m_units"] = {
        "metric_type": "binomial",
        "variants": binomial([("control", 10_000_000, 312_000), ("treatment", 10_003_000, 315_500)]),
    }
    out["binomial_10m_units_null"] = {
        "metric_type": "binomial",
        "variants": binomial([("control", 10_000_000, 50_000), ("treatment", 10_000_000, 50_010)]),
    }
    out["binomial_zero_conversions_control"] = {"metric_type": "binomial", "variants": binomial([("control", 500, 0), ("treatment", 500, 3)])}
    out["binomial_zero_conversions_variant"] = {"metric_type": "binomial", "variants": binomial([("control", 500, 4), ("treatment", 500, 0)])}
    out["binomial_all_converted"] = {"metric_type": "binomial", "variants": binomial([("control", 300, 290), ("treatment", 300, 300)])}
    out["binomial_empty_variant"] = {"metric_type": "binomial", "variants": binomial([("control", 300, 30), ("treatment", 0, 0)])}
    out["binomial_3_arms"] = {"metric_type": "binomial", "variants": binomial([("a", 5000, 400), ("b", 5050, 430), ("c", 4980, 371)])}
    arms = [(f"arm{i}", int(rng.integers(20_000, 21_000)), 0) for i in range(10)]
    arms = [(nm, n, int(rng.binomial(n, 0.05 + 0.001 * i))) for i, (nm, n, _) in enumerate(arms)]
    out["binomial_10_arms"] = {"metric_type": "binomial", "variants": binomial(arms)}
    arms5 = [(f"arm{i}", 8000, int(rng.binomial(8000, 0.1 + 0.004 * i))) for i in range(5)]
    out["binomial_5_arms_holm"] = {"metric_type": "binomial", "correction": "holm-bonferroni", "variants": binomial(arms5)}
    out["binomial_5_arms_bh"] = {"metric_type": "binomial", "correction": "benjamini-hochberg", "variants": binomial(arms5)}
    out["srm_broken_even_split"] = {"metric_type": "binomial", "variants": binomial([("control", 5000, 500), ("treatment", 5400, 560)])}
    out["srm_uneven_weights"] = {
        "metric_type": "binomial",
        "expected_weights": [0.2, 0.8],
        "variants": binomial([("control", 2100, 200), ("treatment", 7900, 820)]),
    }
    out["srm_three_arms_zero_weight"] = {
        "metric_type": "binomial",
        "expected_weights": [0.5, 0.5, 0.0],
        "variants": binomial([("control", 1000, 100), ("treatment", 1040, 120), ("paused", 12, 1)]),
    }
    out["options_alpha_control_index_tuning"] = {
        "metric_type": "binomial",
        "alpha": 0.1,
        "control_index": 1,
        "sequential_tuning_parameter": 20_000,
        "variants": binomial([("new", 3000, 330), ("control", 3100, 300), ("newer", 2900, 290)]),
    }
    out["bayesian_proper_prior"] = {
        "metric_type": "binomial",
        "prior": {"mean": 0.0, "stddev": 0.1},
        "variants": binomial([("control", 2000, 200), ("treatment", 2000, 260)]),
    }
    # Mean metrics.
    rev_a = np.where(rng.random(4000) < 0.08, rng.lognormal(3.0, 1.2, 4000), 0.0)
    rev_b = np.where(rng.random(4100) < 0.085, rng.lognormal(3.0, 1.25, 4100), 0.0)
    out["mean_skewed_revenue"] = {"metric_type": "mean", "variants": [mean_from_values("control", rev_a), mean_from_values("treatment", rev_b)]}
    out["mean_typical"] = {
        "metric_type": "mean",
        "variants": [mean_from_values("control", rng.normal(10, 3, 2500)), mean_from_values("treatment", rng.normal(10.2, 3.1, 2450))],
    }
    out["mean_tiny_n"] = {
        "metric_type": "mean",
        "variants": [mean_from_values("control", np.array([1.0, 3.0])), mean_from_values("treatment", np.array([2.0, 7.0, 4.0]))],
    }
    out["mean_10m_units"] = {
        "metric_type": "mean",
        "variants": [mean_from_moments("control", 10_000_000, 3.2, 20.0), mean_from_moments("treatment", 10_001_000, 3.23, 20.5)],
    }
    out["mean_proper_prior"] = {
        "metric_type": "mean",
        "prior": {"mean": 0.02, "stddev": 0.05},
        "variants": [mean_from_values("control", rng.normal(5, 2, 800)), mean_from_values("treatment", rng.normal(5.3, 2, 820))],
    }
    out["mean_zero_control_mean"] = {
        "metric_type": "mean",
        "variants": [
            {"name": "control", "n": 100, "sum": 0.0, "sum_squares": 50.0},
            {"name": "treatment", "n": 100, "sum": 10.0, "sum_squares": 60.0},
        ],
    }
    out["mean_zero_variance"] = {
        "metric_type": "mean",
        "variants": [
            {"name": "control", "n": 100, "sum": 500.0, "sum_squares": 2500.0},
            {"name": "treatment", "n": 100, "sum": 520.0, "sum_squares": 2800.0},
        ],
    }
    # CUPED: a post metric correlated with its pre-exposure value.
    def cuped_arm(name, n, lift):
        pre = rng.gamma(2.0, 5.0, n)
        post = 0.8 * pre + rng.normal(2.0 + lift, 4.0, n)
        return mean_from_values(name, post, pre)

    out["cuped_mean"] = {"metric_type": "mean", "variants": [cuped_arm("control", 3000, 0.0), cuped_arm("treatment", 3050, 0.4)]}
    out["cuped_mean_3_arms"] = {
        "metric_type": "mean",
        "variants": [cuped_arm("control", 2000, 0.0), cuped_arm("b", 2000, 0.2), cuped_arm("c", 1990, -0.3)],
    }
    pre_a, pre_b = rng.poisson(2.0, 5000).astype(float), rng.poisson(2.0, 5000).astype(float)
    conv_a = (rng.random(5000) < 0.05 + 0.02 * np.minimum(pre_a, 4)).astype(float)
    conv_b = (rng.random(5000) < 0.055 + 0.02 * np.minimum(pre_b, 4)).astype(float)
    cb = []
    for name, conv, pre in [("control", conv_a, pre_a), ("treatment", conv_b, pre_b)]:
        cb.append({
            "name": name,
            "n": 5000,
            "conversions": int(conv.sum()),
            "covariate_sum": float(pre.sum()),
            "covariate_sum_squares": float((pre * pre).sum()),
            "sum_product_metric_covariate": float((conv * pre).sum()),
        })
    out["cuped_binomial"] = {"metric_type": "binomial", "variants": cb}
    # A covariate with no variance: gbstats falls back to the unadjusted test (theta = 0).
    flat = mean_from_values("control", rng.normal(4, 1, 500), np.ones(500))
    flat_b = mean_from_values("treatment", rng.normal(4.1, 1, 500), np.ones(500))
    out["cuped_constant_covariate"] = {"metric_type": "mean", "variants": [flat, flat_b]}
    out.update(ratio_cases())
    out.update(quantile_cases())
    return out


def ratio_from_units(name, numerators, denominators):
    m, d = np.asarray(numerators, float), np.asarray(denominators, float)
    return {
        "name": name,
        "n": int(len(m)),
        "numerator_sum": float(m.sum()),
        "numerator_sum_squares": float((m * m).sum()),
        "denominator_sum": float(d.sum()),
        "denominator_sum_squares": float((d * d).sum()),
        "numerator_denominator_sum_product": float((m * d).sum()),
    }


def ratio_arm(rng, name, n, pageviews, ctr):
    # Clicks per pageview: pageviews per unit ~ 1 + Poisson, clicks ~ Binomial(pageviews, ctr).
    views = 1 + rng.poisson(pageviews - 1, n)
    clicks = rng.binomial(views, ctr)
    return ratio_from_units(name, clicks, views)


def ratio_cases():
    # Their own seed: the cases above keep their numbers.
    rng = np.random.default_rng(20261207)
    out = {}
    out["ratio_small"] = {"metric_type": "ratio", "variants": [ratio_arm(rng, "control", 40, 3.0, 0.2), ratio_arm(rng, "treatment", 45, 3.0, 0.25)]}
    out["ratio_typical"] = {"metric_type": "ratio", "variants": [ratio_arm(rng, "control", 8000, 4.0, 0.10), ratio_arm(rng, "treatment", 8100, 4.0, 0.105)]}
    out["ratio_3_arms"] = {
        "metric_type": "ratio",
        "variants": [ratio_arm(rng, "control", 3000, 2.5, 0.3), ratio_arm(rng, "b", 3050, 2.5, 0.31), ratio_arm(rng, "c", 2980, 2.5, 0.28)],
    }
    # Revenue per order, from moments of a large test (sums consistent with per-unit totals).
    out["ratio_10m_units"] = {
        "metric_type": "ratio",
        "variants": [
            {"name": "control", "n": 10_000_000, "numerator_sum": 1.52e8, "numerator_sum_squares": 2.9e10,
             "denominator_sum": 2.1e6, "denominator_sum_squares": 2.6e6, "numerator_denominator_sum_product": 1.9e8},
            {"name": "treatment", "n": 10_002_000, "numerator_sum": 1.55e8, "numerator_sum_squares": 3.0e10,
             "denominator_sum": 2.11e6, "denominator_sum_squares": 2.62e6, "numerator_denominator_sum_product": 1.94e8},
        ],
    }
    out["ratio_srm"] = {
        "metric_type": "ratio",
        "variants": [ratio_arm(rng, "control", 5000, 3.0, 0.1), ratio_arm(rng, "treatment", 5400, 3.0, 0.1)],
    }
    # No unit of the control had a denominator: its ratio is 0 and has no variance.
    out["ratio_zero_denominator"] = {
        "metric_type": "ratio",
        "variants": [ratio_from_units("control", [0, 0, 0, 0], [0, 0, 0, 0]), ratio_arm(rng, "treatment", 4, 3.0, 0.5)],
    }
    return out


def quantile_from_values(name, values, nu):
    # The estimate and its interval's order statistics as a warehouse query computes them:
    # ranks n*nu -/+ 1.96*sqrt(n*nu*(1-nu)) of the sorted values (GrowthBook's quantile SQL).
    x = np.sort(np.asarray(values, float))
    n = len(x)
    half = float(sps.norm.isf(0.025)) * math.sqrt(n * nu * (1 - nu))
    lo = min(max(int(math.floor(n * nu - half)), 1), n)
    hi = min(max(int(math.ceil(n * nu + half)), 1), n)
    return {
        "name": name,
        "n": n,
        "n_star": n,
        "nu": nu,
        "quantile_hat": float(np.quantile(x, nu, method="inverted_cdf")),
        "quantile_lower": float(x[lo - 1]),
        "quantile_upper": float(x[hi - 1]),
    }


def quantile_from_events(name, per_unit_values, nu):
    # Event-level: every event's value counts; units cluster the events for the variance.
    events = np.concatenate(per_unit_values)
    v = quantile_from_values(name, events, nu)
    main = np.array([float((u <= v["quantile_hat"]).sum()) for u in per_unit_values])
    den = np.array([float(len(u)) for u in per_unit_values])
    v.update({
        "n_clusters": len(per_unit_values),
        "main_sum": float(main.sum()),
        "main_sum_squares": float((main * main).sum()),
        "denominator_sum": float(den.sum()),
        "denominator_sum_squares": float((den * den).sum()),
        "main_denominator_sum_product": float((main * den).sum()),
    })
    return v


def quantile_cases():
    # Their own seed: the cases above keep their numbers.
    rng = np.random.default_rng(20261208)
    out = {}
    # Page load time per unit (ms), lognormal; the treatment is 4% faster.
    load_a, load_b = rng.lognormal(6.9, 0.5, 6000), 0.96 * rng.lognormal(6.9, 0.5, 6100)
    for nu, tag in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")]:
        out[f"quantile_unit_{tag}"] = {
            "metric_type": "quantile",
            "variants": [quantile_from_values("control", load_a, nu), quantile_from_values("treatment", load_b, nu)],
        }
    out["quantile_unit_3_arms"] = {
        "metric_type": "quantile",
        "variants": [
            quantile_from_values("control", rng.exponential(30.0, 3000), 0.75),
            quantile_from_values("b", rng.exponential(31.0, 3050), 0.75),
            quantile_from_values("c", rng.exponential(29.0, 2950), 0.75),
        ],
    }

    # Event-level: each unit loads 1 + Poisson(3) pages, its pages share a unit effect.
    def event_arm(name, units, scale):
        per_unit = []
        for _ in range(units):
            k = 1 + rng.poisson(3)
            per_unit.append(scale * rng.lognormal(6.9 + rng.normal(0, 0.3), 0.4, k))
        return per_unit

    out["quantile_event_p90"] = {
        "metric_type": "quantile",
        "variants": [quantile_from_events("control", event_arm("control", 2000, 1.0), 0.9),
                     quantile_from_events("treatment", event_arm("treatment", 2100, 0.97), 0.9)],
    }
    # Too few values for p99: the interval would leave [0, 1], gbstats refuses.
    out["quantile_unit_too_few"] = {
        "metric_type": "quantile",
        "variants": [quantile_from_values("control", rng.exponential(1.0, 150), 0.99),
                     quantile_from_values("treatment", rng.exponential(1.0, 160), 0.99)],
    }
    return out


def with_corrections(case, expected):
    method = {"holm-bonferroni": "holm", "benjamini-hochberg": "fdr_bh"}.get(case.get("correction"))
    if not method:
        return
    for diff in ["relative", "absolute"]:
        ests = [c["frequentist"][diff] for c in expected["comparisons"] if "error" not in c["frequentist"][diff]]
        if ests:
            adjusted = multipletests([e["p_value"] for e in ests], method=method)[1]
            for e, p in zip(ests, adjusted):
                e["p_value_adjusted"] = float(p)


def distributions():
    mpmath.mp.dps = 50
    rows = []
    for df in [1.0, 1.7, 3.0, 12.5, 40.0, 250.0, 999.0, 1000.0, 4321.5, 1e5, 1.5e7, 2e7, 1e9]:
        for t in [0.0, 0.05, 1.0, 1.96, 3.3, 6.0, 12.0]:
            x = mpmath.mpf(df) / (df + mpmath.mpf(t) ** 2)
            ref = 0.5 * mpmath.betainc(mpmath.mpf(df) / 2, 0.5, 0, x, regularized=True)
            rows.append({"fn": "t_sf", "df": df, "x": t, "scipy": float(sps.t.sf(t, df)), "mpmath": float(ref)})
        for q in [0.25, 0.025, 0.005, 1e-6]:
            rows.append({"fn": "t_isf", "df": df, "x": q, "scipy": float(sps.t.isf(q, df))})
    for x in [-8.0, -3.0, -1.0, -0.3, 0.0, 0.5, 1.5, 2.0, 5.0, 10.0, 20.0, 37.0]:
        ref = mpmath.erfc(mpmath.mpf(x) / mpmath.sqrt(2)) / 2
        rows.append({"fn": "norm_sf", "x": x, "scipy": float(sps.norm.sf(x)), "mpmath": float(ref)})
    for q in [1e-300, 1e-12, 1e-4, 0.025, 0.3, 0.5, 0.9]:
        ref = -mpmath.sqrt(2) * mpmath.erfinv(2 * mpmath.mpf(q) - 1) if q > 1e-200 else None
        rows.append({"fn": "norm_isf", "x": q, "scipy": float(sps.norm.isf(q)), "mpmath": float(ref) if ref is not None else None})
    for df in [1, 2, 3, 4, 9, 15]:
        for x in [0.0, 0.5, 3.0, 10.0, 40.0, 200.0]:
            ref = mpmath.gammainc(mpmath.mpf(df) / 2, mpmath.mpf(x) / 2, mpmath.inf, regularized=True)
            rows.append({"fn": "chi2_sf", "df": df, "x": x, "scipy": float(sps.chi2.sf(x, df)), "mpmath": float(ref)})
    return rows


def power_cases():
    rows = []
    for baseline, mde, alpha, power in [(0.1, 0.05, 0.05, 0.8), (0.03, 0.1, 0.05, 0.9), (0.5, -0.02, 0.01, 0.8), (0.001, 0.5, 0.1, 0.95)]:
        p1, p2 = baseline, baseline * (1 + mde)
        pbar = (p1 + p2) / 2
        za, zb = sps.norm.isf(alpha / 2), sps.norm.ppf(power)
        n = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p2 - p1) ** 2
        rows.append({"baseline": baseline, "mde": mde, "alpha": alpha, "power": power, "stddev": None, "n_per_arm": n})
    for mean, sd, mde in [(10.0, 3.0, 0.02), (42.0, 120.0, 0.05)]:
        za, zb = sps.norm.isf(0.025), sps.norm.ppf(0.8)
        n = 2 * sd**2 * (za + zb) ** 2 / (mean * mde) ** 2
        rows.append({"baseline": mean, "mde": mde, "alpha": 0.05, "power": 0.8, "stddev": sd, "n_per_arm": n})
    return rows


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, case in cases().items():
        expected = analyze(case)
        with_corrections(case, expected)
        doc = {"name": name, "generator": "gbstats 0.8.0 via scripts/gbstats_fixtures.py", "input": case, "expected": expected}
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    refs = {"generator": "scipy %s, mpmath %s (50 digits)" % (sps.__name__ and __import__("scipy").__version__, mpmath.__version__),
            "distributions": distributions(), "power": power_cases()}
    with open(os.path.join(OUT, "_reference.json"), "w") as f:
        json.dump(refs, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases())} cases and _reference.json to {OUT}")


if __name__ == "__main__":
    main()
