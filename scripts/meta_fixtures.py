#!/usr/bin/env python3
"""Fixtures for Edgewise's random-effects meta-analysis (shared/src/learn/meta.rs).

Writes shared/tests/vectors/meta/pools.json: seeded pools of (lift, se) pairs of 2 to 40
tests, with statsmodels' combine_effects results for DerSimonian-Laird ("dl") and
Paule-Mandel ("pm"): mean effect, its standard error, tau2, Q and I2 (a negative moment
estimate of tau2 truncated at 0, as the estimators define it).

    python3 -m venv ~/.cache/edgewise/meta-venv
    ~/.cache/edgewise/meta-venv/bin/pip install statsmodels==0.14.4
    ~/.cache/edgewise/meta-venv/bin/python scripts/meta_fixtures.py
"""

import json
import pathlib

import numpy as np
import statsmodels
from statsmodels.stats.meta_analysis import combine_effects

OUT = pathlib.Path(__file__).resolve().parent.parent / "shared/tests/vectors/meta/pools.json"


def pool(rng, k, tau):
    se = rng.uniform(0.005, 0.05, size=k)
    true = rng.normal(0.02, tau, size=k)
    lift = rng.normal(true, se)
    return lift, se


def main():
    rng = np.random.default_rng(20261207)
    cases = []
    for i, (k, tau) in enumerate(
        [(2, 0.0), (3, 0.02), (5, 0.0), (5, 0.05), (8, 0.01), (10, 0.03), (15, 0.0),
         (20, 0.02), (30, 0.05), (40, 0.01), (4, 0.1), (12, 0.005)]
    ):
        lift, se = pool(rng, k, tau)
        case = {"name": f"pool{i}_k{k}", "tests": [{"lift": float(y), "se": float(s)} for y, s in zip(lift, se)]}
        for method in ["dl", "pm"]:
            r = combine_effects(lift, se**2, method_re=method)
            # statsmodels leaves the moment estimate of tau2 (and I2) negative when Q < k - 1;
            # the estimators truncate at 0, where the random-effects mean is the fixed-effect one.
            truncated = r.tau2 < 0
            case[method] = {
                "mu": float(r.mean_effect_fe if truncated else r.mean_effect_re),
                "se": float(r.sd_eff_w_fe if truncated else r.sd_eff_w_re),
                "tau2": max(0.0, float(r.tau2)),
                "q": float(r.q),
                "i2": max(0.0, float(r.i2)),
            }
        cases.append(case)
    doc = {"generator": f"statsmodels {statsmodels.__version__} combine_effects", "cases": cases}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(cases)} pools to {OUT}")


if __name__ == "__main__":
    main()
