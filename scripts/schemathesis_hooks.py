"""Rules of the control plane's API that JSON Schema cannot state, for scripts/api-fuzz.

The OpenAPI document states every constraint JSON Schema can express, and the server enforces
each of them. A few rules relate two values (or need a regex engine) and cannot be written in
JSON Schema; the document names them in prose. So that schemathesis' "schema-valid request
rejected" check stays meaningful, this hook makes every generated body keep those rules:

- `PUT /api/v1/tests/{key}`: the body's `key` is the key in the URL;
- variant keys, and metric keys, are unique within a test; layer keys and persona keys are
  unique in their lists;
- a ratio metric's numerator and denominator name two different non-ratio metrics of the test
  (a ratio without two to name becomes a count) without a percentile cap, a percentile-capped
  metric names no CUPED covariate, and a retention's to_day is after from_day;
- `start_at` is earlier than `end_at`;
- a layer slot's range has start < end;
- a `regex` condition's value compiles (regex-lite: no look-around or back-references);
- a webhook's URL has a host the URL parser accepts (and a port below 65536);
- a test drafted from a template names one that exists and carries its content keys in every
  variant (the hook names a built-in template and gives each variant its keys);
- an org's own template is not named like a built-in one, and its metrics keep a test's rules
  (above);
- approval thresholds have `two` at least `one`;
- a scheduled test has a `start_at`;
- a plan gives its baseline and daily units (nothing runs to observe them) and an effect the
  power analysis can size;
- a ramp's steps have rising coverage (the hook sorts them, or drops a ramp with repeats);
- bandit settings come with `"allocation": "bandit"`, name (or default to a primary) metric
  of the test that is not a ratio, a quantile or percentile-capped, and floor × arms is at
  most 1.

It touches valid (positive) cases only: a negative one is refused for the violation it was
made with, whatever else it holds.
"""

from datetime import datetime
from urllib.parse import unquote

import schemathesis


def _unique_keys(items):
    if not isinstance(items, list):
        return
    seen = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            continue
        key = item["key"]
        while key in seen:
            key = (key[: 100 - len(str(i)) - 1] + "~" + str(i)) if key else str(i)
            i += 1
        item["key"] = key
        seen.add(key)


def _percentile(m):
    cap = m.get("cap")
    return isinstance(cap, dict) and cap.get("type") == "percentile"


def _metrics(metrics):
    if not isinstance(metrics, list):
        return
    parts = [m["key"] for m in metrics if isinstance(m, dict) and m.get("kind") != "ratio" and isinstance(m.get("key"), str)]
    for m in metrics:
        if not isinstance(m, dict):
            continue
        if m.get("kind") == "ratio":
            if len(parts) >= 2:
                m["numerator"], m["denominator"] = parts[0], parts[1]
                for part in metrics:
                    if isinstance(part, dict) and part.get("key") in parts[:2] and _percentile(part):
                        part.pop("cap")
            else:
                m["kind"] = "count"
                m.pop("numerator", None)
                m.pop("denominator", None)
        if _percentile(m):
            m.pop("covariate", None)
        if m.get("kind") == "retention":
            a, b = m.get("from_day"), m.get("to_day")
            days = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
            if days and b <= a:
                m["from_day"], m["to_day"] = int(min(a, b, 365)), int(min(a, b, 365)) + 1


def _when(cond):
    if isinstance(cond, dict):
        if cond.get("op") == "regex" and isinstance(cond.get("value"), str):
            cond["value"] = "^edgewise$"
        for group in ("all", "any"):
            if isinstance(cond.get(group), list):
                for c in cond[group]:
                    _when(c)
        _when(cond.get("not"))


def _time(v):
    if not isinstance(v, str):
        return None
    try:
        return datetime.fromisoformat(v)
    except ValueError:
        return None


def _bandit(body):
    bandit = body.get("bandit")
    if body.get("allocation") != "bandit":
        body.pop("bandit", None)
        return
    metrics = [m for m in body.get("metrics") or [] if isinstance(m, dict)]
    rates = [
        m for m in metrics
        if m.get("kind") not in ("ratio", "quantile") and not _percentile(m) and isinstance(m.get("key"), str)
    ]
    primary = [m for m in metrics if m.get("role") == "primary"]
    if not isinstance(bandit, dict):
        bandit = {}
    if not rates:
        body["allocation"] = "fixed"
        body.pop("bandit", None)
        return
    if bandit.get("metric") not in [m["key"] for m in rates]:
        if primary and primary[0] in rates:
            bandit.pop("metric", None)
        else:
            bandit["metric"] = rates[0]["key"]
    arms = len(body.get("variants") or []) or 1
    floor = bandit.get("floor")
    if isinstance(floor, (int, float)) and not isinstance(floor, bool) and floor * arms > 1:
        bandit["floor"] = 1 / arms / 2
    body["bandit"] = bandit


TEMPLATE_KEYS = {
    "headline": ["headline", "subheadline"],
    "call_to_action": ["cta_label", "cta_color"],
    "pricing_display": ["plan_order", "price_format", "highlight"],
    "hero_layout": ["layout", "image"],
    "checkout_step": ["step_title", "fields"],
}


def _template(body):
    if isinstance(body.get("template"), str) and body["template"] not in TEMPLATE_KEYS:
        body["template"] = "headline"
    keys = TEMPLATE_KEYS.get(body.get("template"))
    if keys is None or not isinstance(body.get("variants"), list):
        return
    for v in body["variants"]:
        if isinstance(v, dict):
            content = v.get("content") if isinstance(v.get("content"), dict) else {}
            for k in keys:
                content.setdefault(k, "")
            v["content"] = content


def _ramp(body):
    ramp = body.get("ramp")
    if not isinstance(ramp, dict) or not isinstance(ramp.get("steps"), list):
        return
    steps = [s for s in ramp["steps"] if isinstance(s, dict)]
    covs = sorted({s["coverage"] for s in steps if isinstance(s.get("coverage"), (int, float)) and not isinstance(s.get("coverage"), bool)})
    if len(covs) != len(steps) or not covs:
        body.pop("ramp")
        return
    for s, c in zip(steps, covs):
        s["coverage"] = c


def _spec(body, path_key=None):
    if not isinstance(body, dict):
        return
    _template(body)
    _ramp(body)
    if body.get("scheduled") is True and not isinstance(body.get("start_at"), str):
        body["scheduled"] = False
    if path_key is not None and "key" in body:
        body["key"] = path_key
    _unique_keys(body.get("variants"))
    _unique_keys(body.get("metrics"))
    _metrics(body.get("metrics"))
    _bandit(body)
    start, end = _time(body.get("start_at")), _time(body.get("end_at"))
    if start is not None and end is not None:
        try:
            if start >= end:
                body["end_at"] = None
        except TypeError:  # one naive, one aware: not RFC 3339 both
            pass
    layer = body.get("layer")
    if isinstance(layer, dict) and isinstance(layer.get("range"), list) and len(layer["range"]) == 2:
        a, b = layer["range"]
        whole = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and float(x).is_integer()
        if whole(a) and whole(b) and a >= b:
            a, b = int(a), int(b)
            layer["range"] = [min(a, b), max(a, b)] if a != b else ([a, a + 1] if a < 10000 else [a - 1, a])
    targeting = body.get("targeting")
    if isinstance(targeting, dict):
        _when(targeting.get("when"))


@schemathesis.hook
def map_case(context, case):
    # Only valid cases: a negative case is refused for its own violation anyway.
    meta = case.meta
    if meta is None or meta.generation.mode.value != "positive":
        return case
    if case.method == "POST" and case.path == "/api/v1/tests":
        _spec(case.body)
    elif case.method == "PUT" and case.path == "/api/v1/tests/{key}":
        # Path parameters may arrive here already percent-encoded.
        key = case.path_parameters.get("key")
        _spec(case.body, unquote(key) if isinstance(key, str) else key)
    elif case.method == "POST" and case.path == "/api/v1/webhooks" and isinstance(case.body, dict):
        if isinstance(case.body.get("url"), str):
            case.body["url"] = "http://127.0.0.1:9/edgewise-hook"
    elif case.method == "POST" and case.path == "/api/v1/plans" and isinstance(case.body, dict):
        # Nothing runs in the fuzzed server, so the numbers are given; and an effect the
        # power analysis can size (the varied path is the rest of the body).
        case.body["baseline"] = 0.1
        case.body["daily_units"] = 1000
        case.body["mde"] = 0.1
        if case.body.get("template") not in TEMPLATE_KEYS:
            case.body["template"] = "headline"
        targeting = case.body.get("targeting")
        if isinstance(targeting, dict):
            _when(targeting.get("when"))
    elif case.method in ("POST", "PUT") and case.path.startswith("/api/v1/templates") and isinstance(case.body, dict):
        if case.method == "POST" and isinstance(case.body.get("name"), str) and case.body["name"] in TEMPLATE_KEYS:
            case.body["name"] += "_own"
        _unique_keys(case.body.get("metrics"))
        _metrics(case.body.get("metrics"))
    elif case.method == "PUT" and case.path == "/api/v1/approval-thresholds" and isinstance(case.body, dict):
        one, two = case.body.get("one"), case.body.get("two")
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (one, two)) and two < one:
            case.body["one"], case.body["two"] = two, one
    elif case.method == "PUT" and case.path == "/api/v1/layers":
        _unique_keys(case.body)
    elif case.method == "PUT" and case.path == "/api/v1/personas" and isinstance(case.body, list):
        _unique_keys(case.body)
        for persona in case.body:
            if isinstance(persona, dict):
                _when(persona.get("when"))
    return case
