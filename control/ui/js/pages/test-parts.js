// The test page's sections, each drawn from one API answer into a fresh element (the page
// swaps them in on every live refresh).

import { h, table, note, signedPct, interval, num, pct, pval, when, badge } from "../dom.js";
import { valueOf, readComparison, REC_LABEL } from "./common.js";
import { liftChart, allocationChart, legend } from "../chart.js";

function valueLabel(kind) {
  return kind === "binomial" || kind === "retention" ? ["Conversions", "Rate"] : kind === "ratio" ? ["Numerator", "Ratio"]
    : kind === "quantile" ? ["Quantile", "Quantile"] : ["Sum", "Mean"];
}

function fmtValue(kind, x) {
  return kind === "binomial" || kind === "retention" ? pct(x, 2) : num(x, 3);
}

// Per-variant table of one metric's overall segment.
export function variantTable(metric) {
  if (!metric) return note("No results yet.");
  const seg = metric.overall || {};
  if (seg.error) return note("Not analysable yet: " + seg.error);
  const [countLabel, valLabel] = valueLabel(metric.kind);
  const rows = (seg.variants || []).map((v, i) => {
    const cmp = (seg.comparisons || []).find((c) => c.variant === v.name);
    const { freq, seq, bayes } = readComparison(cmp);
    const count = metric.kind === "binomial" || metric.kind === "retention" ? v.conversions
      : metric.kind === "ratio" ? v.numerator_sum : metric.kind === "quantile" ? v.quantile_hat : v.sum;
    return h("tr", { "data-variant": v.name },
      h("th", { scope: "row" }, v.name, i === 0 ? h("span", { class: "muted" }, " (control)") : null),
      h("td", { class: "num", "data-col": "units" }, num(v.n)),
      h("td", { class: "num", "data-col": "count" }, num(count, metric.kind === "binomial" || metric.kind === "retention" ? 0 : 2)),
      h("td", { class: "num", "data-col": "value" }, fmtValue(metric.kind, valueOf(metric.kind, v))),
      h("td", { class: "num", "data-col": "lift" }, i === 0 ? "–" : freq ? signedPct(freq.estimate) : "–"),
      h("td", { class: "num" }, i === 0 ? "–" : freq ? interval(freq.ci) : "–"),
      h("td", { class: "num" }, i === 0 ? "–" : freq ? pval(freq.p_value) : "–"),
      h("td", { class: "num" }, i === 0 ? "–" : bayes ? pct(bayes.chance_to_win) : "–"),
      h("td", { class: "num" }, i === 0 ? "–" : seq ? interval(seq.ci) + " p " + pval(seq.p_value) : "–"));
  });
  return table(["Variant", "Units", countLabel, valLabel, "Lift", "95% interval", "p-value", "Chance to win", "Sequential (always valid)"],
    rows, metric.key + " (" + metric.kind + ", " + (metric.role || "secondary") + ")");
}

export function srmStatus(results, evaluation) {
  const srm = results && results.srm;
  const bad = (evaluation?.srm || []).filter((s) => s.anomaly);
  if (!srm) return note("No exposures yet.");
  return h("p", { class: srm.alert || bad.length ? "status bad" : "status ok", "data-srm": srm.alert ? "alert" : "ok" },
    srm.alert ? "Sample ratio mismatch" : "Traffic split as configured",
    " (p = " + pval(srm.p_value) + ")",
    bad.length ? " — mismatch in " + bad.map((s) => s.segment).join(", ") : "");
}

// Each device class and persona: units and the lift of every variant in it.
export function breakdown(metric, results) {
  if (!metric) return note("No results yet.");
  const segs = [
    ...Object.entries(metric.by_device || {}).map(([k, s]) => ["device", k, s]),
    ...Object.entries(metric.by_persona || {}).map(([k, s]) => ["persona", k, s]),
  ];
  if (!segs.length) return note("No segments yet.");
  const flagged = new Set((results.differential || []).filter((d) => d.flagged && d.metric === metric.key)
    .map((d) => d.dimension + ":" + d.segment + ":" + d.variant));
  const rows = segs.map(([dim, name, s]) => h("tr", {},
    h("th", { scope: "row" }, dim + ": " + name),
    h("td", { class: "num" }, s.error ? "–" : (s.variants || []).map((v) => num(v.n)).join(" / ")),
    h("td", {}, s.error ? s.error : (s.comparisons || []).map((c) => {
      const { freq } = readComparison(c);
      const f = flagged.has(dim + ":" + name + ":" + c.variant);
      return h("div", { class: f ? "flag" : "" }, c.variant + ": " + (freq ? signedPct(freq.estimate) + " " + interval(freq.ci) : "–"),
        f ? " ⚑ differs from the rest" : "");
    })),
    h("td", { class: "num" }, s.error ? "–" : pval(s.srm_p_value))));
  return table(["Segment", "Units per variant", "Lift [95% interval]", "SRM p"], rows);
}

// Device × persona crossed: each cell's exposed units per variant and the share of them with
// the chosen metric (GET /aggregates, the cells the results are computed from).
export function crossed(aggs, metric) {
  const a = aggs && aggs.aggregates;
  if (!a || !a.exposures.length || !metric) return null;
  const variants = [...new Set(a.exposures.map((e) => e.variant))];
  const cells = new Map();
  const cell = (e) => {
    const id = e.device + "\u0000" + e.persona;
    if (!cells.has(id)) cells.set(id, { device: e.device, persona: e.persona, units: {}, with: {} });
    return cells.get(id);
  };
  for (const e of a.exposures) {
    const c = cell(e);
    c.units[e.variant] = (c.units[e.variant] || 0) + e.units;
  }
  for (const m of a.metrics) {
    if (m.metric !== metric.key) continue;
    const c = cell(m);
    c.with[m.variant] = (c.with[m.variant] || 0) + m.units;
  }
  const rows = [...cells.values()]
    .sort((x, y) => x.device.localeCompare(y.device) || x.persona.localeCompare(y.persona))
    .map((c) => h("tr", { "data-cell": c.device + "/" + c.persona },
      h("th", { scope: "row" }, c.device), h("td", {}, c.persona || "–"),
      variants.map((v) => h("td", { class: "num" }, num(c.units[v] || 0) + " · " +
        (c.units[v] ? pct((c.with[v] || 0) / c.units[v]) : "–")))));
  return table(["Device", "Persona", ...variants.map((v) => v + ": units · with " + metric.key)], rows,
    "Device × persona: units, and the share of them with " + metric.key);
}

export function guardrails(results, test) {
  const gs = ((results && results.metrics) || []).filter((m) => m.role === "guardrail");
  if (!gs.length) return note("This test has no guardrail metrics.");
  const specs = new Map((test.metrics || []).map((m) => [m.key, m]));
  const rows = gs.flatMap((m) => (m.overall?.comparisons || []).map((c) => {
    const { freq } = readComparison(c);
    const higher = specs.get(m.key)?.higher_is_better !== false;
    const worse = freq && freq.ci && (higher ? freq.ci[1] < 0 : freq.ci[0] > 0);
    return h("tr", {},
      h("th", { scope: "row" }, m.key), h("td", {}, c.variant),
      h("td", { class: "num" }, freq ? signedPct(freq.estimate) : "–"),
      h("td", { class: "num" }, freq ? interval(freq.ci) : "–"),
      h("td", {}, higher ? "higher is better" : "lower is better"),
      h("td", {}, worse ? badge("regression", "bad") : badge("ok", "ok")));
  }));
  return table(["Guardrail", "Variant", "Lift", "95% interval", "Direction", "Status"], rows);
}

export function recommendation(evaluation) {
  if (!evaluation) return note("The monitor has not evaluated this test yet.");
  const r = evaluation.recommendation;
  return h("div", {},
    r ? h("p", { class: "rec", "data-rec": r.recommendation },
      h("strong", {}, REC_LABEL[r.recommendation] || r.recommendation), r.variant ? " " + r.variant : "",
      r.days_remaining !== null && r.days_remaining !== undefined ? " · about " + num(r.days_remaining, 1) + " days to go" : "")
      : note(evaluation.recommendation_error || "No recommendation."),
    r && r.reasons && r.reasons.length ? h("ul", {}, r.reasons.map((x) => h("li", {}, x))) : null,
    (evaluation.findings || []).length ? h("div", {}, h("h3", {}, "Findings"),
      h("ul", {}, evaluation.findings.map((f) => h("li", {}, badge(f.kind, "warn"), " ", f.message)))) : null,
    h("p", { class: "help" }, "Evaluated " + when(evaluation.at) + ", " + num(evaluation.days_running, 2) + " days running"));
}

export function approvalsPart(ap, test, canApprove, me, act) {
  if (!ap) return note("No risk score.");
  const st = ap.status || {};
  // The API refuses an author's approval (four eyes): an author is told so instead of offered it.
  const author = (ap.authors || []).includes(me);
  return h("div", {},
    h("p", {}, "Risk score ", h("strong", { "data-risk": ap.risk.score }, String(ap.risk.score)), " of 100 · approvals needed ",
      String(st.needed), st.satisfied ? " · satisfied" : " · not yet satisfied"),
    table(["Factor", "Value", "Points"], (ap.risk.factors || []).map((f) =>
      h("tr", {}, h("th", { scope: "row" }, f.factor), h("td", { class: "num" }, f.value === null ? "unknown" : num(f.value, 2)),
        h("td", { class: "num" }, num(f.points, 1) + " / " + num(f.max, 0))))),
    st.approved_by && st.approved_by.length ? h("p", {}, "Approved by " + st.approved_by.join(", ")) : null,
    (st.rejected_by || []).map((r) => h("p", { class: "status bad" }, "Rejected by " + r[0] + ": " + (r[1] || ""))),
    test.status === "draft" && canApprove && author
      ? note("You created or changed this test: another approver decides on it.") : null,
    test.status === "draft" && canApprove && !author ? h("div", { class: "actions" },
      h("button", { type: "button", "data-action": "approve", onclick: () => act("approve") }, "Approve"),
      h("label", { for: "reject-why", class: "sr-only" }, "Why reject"),
      h("input", { id: "reject-why", placeholder: "Why reject" }),
      h("button", { type: "button", "data-action": "reject", onclick: () => act("reject", { comment: document.getElementById("reject-why").value || "rejected" }) }, "Reject"))
      : null,
    (ap.history || []).length ? table(["When", "Who", "Decision", "Comment"], ap.history.map((e) =>
      h("tr", {}, h("td", {}, when(e.at)), h("td", {}, e.actor), h("td", {}, e.decision), h("td", {}, e.comment)))) : null);
}

export function ramp(test) {
  const steps = test.ramp?.steps;
  if (!steps || !steps.length) return note("No ramp: coverage " + pct(test.coverage, 0) + ".");
  const at = steps.findIndex((s) => Math.abs(s.coverage - test.coverage) < 1e-9);
  return h("ol", { class: "ramp" }, steps.map((s, i) => h("li", { class: i < at ? "done" : i === at ? "now" : "" },
    pct(s.coverage, 0) + " for " + num(s.hold_hours, 0) + " h", i === at ? " ← now" : "")));
}

export function alertsList(alerts, canAck, ack) {
  if (!alerts.length) return note("No alerts.");
  return h("ul", { class: "alerts" }, alerts.map((a) => h("li", {},
    badge(a.kind, a.acked_at ? "muted" : "warn"), " ", a.message, " ", h("span", { class: "muted" }, when(a.at)),
    a.action ? " · action: " + a.action : "",
    a.acked_at ? h("span", { class: "muted" }, " · acknowledged by " + (a.acked_by || "?"))
      : canAck ? h("button", { type: "button", class: "small", onclick: () => ack(a.id) }, "Acknowledge") : null)));
}

export function charts(history, bandit, test) {
  const variants = test.variants.map((v) => v.key);
  return h("div", { class: "charts" },
    h("figure", {}, liftChart(history, variants), h("figcaption", {}, "Cumulative lift of each variant over the control (",
      history?.metric || "primary metric", "), 95% interval shaded"), legend(variants.slice(1), 1)),
    test.allocation === "bandit" ? h("figure", {}, allocationChart(bandit, variants),
      h("figcaption", {}, "Share of new traffic per arm"), legend(variants)) : null);
}

export function variantsContent(test) {
  return h("div", { class: "scroll" }, h("dl", { class: "content" }, test.variants.map((v) => [
    h("dt", {}, v.key + " · weight " + num(v.weight, 2)),
    h("dd", {}, h("pre", {}, JSON.stringify(v.content ?? null, null, 1))),
  ])));
}

export function audit(entries) {
  if (!entries.length) return note("No audit entries for this test.");
  return table(["#", "When", "Who", "Action"], entries.map((e) => h("tr", {},
    h("td", { class: "num" }, String(e.seq)), h("td", {}, when(e.at)), h("td", {}, e.actor), h("td", {}, e.action))));
}
