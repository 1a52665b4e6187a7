// One test: results per variant, the lift over time, allocation (bandits), SRM, segments,
// guardrails, the monitor's recommendation, alerts, approvals and ramp, checks, audit trail —
// and the actions the signed-in role may take. Live: refetched on every stream event (or every
// 2 s without a stream), sections swapped in place, no reload.

import { get, post, maybe, enc } from "../api.js";
import { h, clear, note, errorNote, badge, section, announce, atLeast, pct, when } from "../dom.js";
import { primaryOf } from "./common.js";
import * as part from "./test-parts.js";

export async function render(ctx) {
  const key = ctx.params[0];
  const k = enc(key);
  const role = ctx.session.role;
  let metricKey = ctx.query.get("metric") || "";
  let state = null;
  let auditOpen = false;

  const head = h("div", { class: "titlebar" });
  const meta = h("p", { class: "meta" });
  const actions = h("div", { class: "actions", id: "actions" });
  const msg = h("p", { id: "action-msg", role: "status", class: "note" });
  const metricSel = h("select", { id: "metric" });
  const slots = {
    srm: h("div", { id: "srm" }),
    table: h("div", { id: "variant-table" }, note("Loading…")),
    charts: h("div", { id: "chart" }),
    rec: h("div"),
    guard: h("div"),
    breakdown: h("div"),
    alerts: h("div"),
    approvals: h("div"),
    ramp: h("div"),
    checks: h("div"),
    variants: h("div"),
    audit: h("div"),
  };
  const auditBox = h("details", { id: "audit-trail" }, h("summary", {}, "Audit trail"), slots.audit);
  auditBox.addEventListener("toggle", () => { auditOpen = auditBox.open; if (auditOpen) loadAudit(); });

  clear(ctx.main, h("p", { class: "crumbs" }, h("a", { href: "/" }, "Tests"), " / ", key), head, meta, actions, msg,
    h("p", { class: "links" },
      h("a", { href: `/api/v1/tests/${k}/export?format=csv`, download: key + ".csv", id: "export-csv" }, "Export CSV"), " · ",
      h("a", { href: `/api/v1/tests/${k}/export?format=json`, download: key + ".json", id: "export-json" }, "Export JSON"), " · ",
      h("a", { href: `/api/v1/tests/${k}/report`, target: "_blank", rel: "noopener", id: "report" }, "Printable report")),
    section("Results", "results", h("div", { class: "inline" }, h("label", { for: "metric" }, "Metric"), metricSel), slots.srm, slots.table),
    section("Lift over time", "lift", slots.charts),
    h("div", { class: "grid2" },
      section("Recommendation", "recommendation", slots.rec),
      section("Alerts", "test-alerts", slots.alerts)),
    section("Guardrails", "guardrails", slots.guard),
    section("By device and persona", "breakdown", slots.breakdown),
    h("div", { class: "grid2" },
      section("Risk and approvals", "approvals", slots.approvals),
      section("Ramp", "ramp", slots.ramp)),
    section("Checks before start", "checks", slots.checks),
    section("Variants", "variants", slots.variants),
    atLeast(role, "admin") ? auditBox : null);

  metricSel.addEventListener("change", () => {
    metricKey = metricSel.value;
    history.replaceState(null, "", location.pathname + "?metric=" + enc(metricKey));
    refresh();
  });

  async function act(name, body) {
    msg.className = "note";
    msg.textContent = "Working…";
    try {
      await post(`/api/v1/tests/${k}/${name}`, body);
      msg.textContent = "Done: " + name + ".";
      announce("Test " + key + ": " + name + " done");
      await refresh();
    } catch (e) {
      msg.className = "note error";
      msg.textContent = e.message;
    }
  }

  async function ack(id) {
    try {
      await post(`/api/v1/alerts/${id}/ack`);
      await refresh();
    } catch (e) {
      msg.className = "note error";
      msg.textContent = e.message;
    }
  }

  function drawHead(test, evaluation) {
    clear(head, h("h1", {}, test.key, " ", badge(test.status)));
    clear(meta, test.description ? h("span", { class: "desc", id: "test-name" }, test.description) : null,
      h("span", {}, (test.allocation === "bandit" ? "Bandit" : "Fixed split") + " · coverage " + pct(test.coverage, 0) +
        (test.started_at ? " · started " + when(test.started_at) : "") + (test.winner ? " · winner " + test.winner : "")));
    const b = [];
    const can = (r) => atLeast(role, r);
    const st = test.status;
    if (st === "draft") {
      if (can("editor")) b.push(h("a", { class: "button", href: `/tests/${k}/edit` }, "Edit"));
      if (can("approver")) b.push(h("button", { type: "button", class: "primary", "data-action": "start", onclick: () => act("start") }, "Start"));
    }
    if (st === "running" && can("editor")) b.push(h("button", { type: "button", "data-action": "pause", onclick: () => act("pause") }, "Pause"));
    if (st === "paused" && can("approver")) b.push(h("button", { type: "button", "data-action": "resume", onclick: () => act("resume") }, "Resume"));
    if ((st === "running" || st === "paused") && can("approver")) {
      const rec = evaluation && evaluation.recommendation;
      if (rec && rec.recommendation === "ship" && rec.variant) {
        b.push(h("button", { type: "button", class: "primary", "data-action": "ship", onclick: () => act("stop", { winner: rec.variant }) }, "Ship " + rec.variant));
      }
      const winner = h("select", { id: "winner" }, test.variants.map((v) => h("option", { value: v.key }, v.key)));
      b.push(h("span", { class: "inline" }, h("label", { for: "winner" }, "Stop and serve"), winner,
        h("button", { type: "button", "data-action": "stop", onclick: () => act("stop", { winner: winner.value }) }, "Stop")));
    }
    if (st === "stopped" && can("approver")) b.push(h("button", { type: "button", "data-action": "archive", onclick: () => act("archive") }, "Archive"));
    if (!b.length) b.push(h("span", { class: "muted" }, can("editor") ? "" : "Read-only: your role (" + role + ") cannot change tests."));
    clear(actions, b);
  }

  // Everything at once (a draft's results and history are simply not shown); the bandit's
  // arms and the checks only where they apply.
  async function load() {
    const soft = (p) => p.catch(() => null);
    const histPath = `/api/v1/tests/${k}/history` + (metricKey ? `?metric=${enc(metricKey)}` : "");
    const [test, results, evaluation, alerts, approvals, hist] = await Promise.all([
      get(`/api/v1/tests/${k}`),
      soft(maybe(`/api/v1/tests/${k}/results`)),
      soft(maybe(`/api/v1/tests/${k}/monitor`)),
      get(`/api/v1/alerts?test=${k}&limit=50`).then((a) => a.alerts || []).catch(() => []),
      soft(maybe(`/api/v1/tests/${k}/approvals`)),
      soft(maybe(histPath)),
    ]);
    const started = test.status !== "draft";
    const [bandit, checks, aggs] = await Promise.all([
      test.allocation === "bandit" && started ? soft(maybe(`/api/v1/tests/${k}/bandit`)) : null,
      test.status === "draft" ? post(`/api/v1/tests/${k}/validate`).catch((e) => ({ failed: e.message })) : null,
      started ? soft(maybe(`/api/v1/tests/${k}/aggregates`)) : null,
    ]);
    const metric = metricKey && results ? (results.metrics || []).find((m) => m.key === metricKey) : primaryOf(results);
    return { test, results: started ? results : null, evaluation: started ? evaluation : null, alerts, approvals, bandit, checks, metric, aggs, hist: started ? hist : null };
  }

  function draw(s, first) {
    const { test } = s;
    if (first || !state || state.test.status !== test.status || state.test.updated_at !== test.updated_at ||
        JSON.stringify(state.evaluation?.recommendation) !== JSON.stringify(s.evaluation?.recommendation)) {
      const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.action : null;
      drawHead(test, s.evaluation);
      if (focused) actions.querySelector(`[data-action="${focused}"]`)?.focus();
    }
    state = s;
    const ms = (s.results && s.results.metrics) || [];
    if (metricSel.options.length !== ms.length) {
      clear(metricSel, ms.map((m) => h("option", { value: m.key }, m.key + (m.role === "primary" ? " (primary)" : ""))));
    }
    if (s.metric) metricSel.value = s.metric.key;
    metricSel.disabled = !ms.length;
    clear(slots.srm, s.results ? part.srmStatus(s.results, s.evaluation) : null);
    clear(slots.table, test.status === "draft" ? note("Not started: no results yet.") : part.variantTable(s.metric));
    clear(slots.charts, test.status === "draft" ? note("Not started.") : part.charts(s.hist, s.bandit, test));
    clear(slots.rec, test.status === "draft" ? note("Not started.") : part.recommendation(s.evaluation));
    clear(slots.guard, s.results ? part.guardrails(s.results, test) : note("No results yet."));
    clear(slots.breakdown, s.results ? [part.breakdown(s.metric, s.results), part.crossed(s.aggs, s.metric)] : note("No results yet."));
    clear(slots.alerts, part.alertsList(s.alerts, atLeast(role, "editor"), ack));
    clear(slots.approvals, part.approvalsPart(s.approvals, test, atLeast(role, "approver"), ctx.session.token_id, act));
    clear(slots.ramp, part.ramp(test));
    clear(slots.checks, !s.checks ? note("Checked at start; the test has started.") : s.checks.failed ? errorNote(s.checks.failed)
      : !s.checks.errors.length && !s.checks.warnings.length ? note("All checks pass.")
        : h("ul", {}, [...s.checks.errors, ...s.checks.warnings].map((f) => h("li", {}, badge(f.severity, f.severity === "error" ? "bad" : "warn"), " ",
          f.field ? f.field + ": " : "", f.message))));
    clear(slots.variants, part.variantsContent(test));
    ctx.main.dataset.loaded = String(Date.now());
  }

  async function loadAudit() {
    clear(slots.audit, note("Loading…"));
    try {
      const mine = [];
      let after = 0;
      for (let i = 0; i < 50; i++) {
        const page = await get(`/api/v1/audit?after=${after}&limit=1000`);
        const es = page.entries || [];
        mine.push(...es.filter((e) => e.target === key || (e.target || "").startsWith(key + ":")));
        if (es.length < 1000) break;
        after = es[es.length - 1].seq;
      }
      if (ctx.current()) clear(slots.audit, part.audit(mine.reverse()));
    } catch (e) {
      clear(slots.audit, errorNote(e));
    }
  }

  async function refresh() {
    const before = state && state.test.updated_at;
    const s = await load();
    if (!ctx.current()) return;
    draw(s, false);
    if (auditOpen && s.test.updated_at !== before) loadAudit();
  }

  try {
    const s = await load();
    if (!ctx.current()) return;
    draw(s, true);
  } catch (e) {
    clear(ctx.main, h("h1", {}, key), errorNote(e));
    return;
  }
  ctx.live(refresh, key);
}
