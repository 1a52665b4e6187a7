// The tests list: one request (GET /api/v1/tests carries each test's summary: days running,
// units, primary lift, recommendation, open alerts, risk). Against a control plane without
// summaries, the monitor and the alerts fill in and each row's results and risk are fetched
// once the row scrolls into view (a few at a time).

import { get, enc, maybe } from "../api.js";
import { h, clear, badge, note, errorNote, signedPct, interval, num, atLeast, table } from "../dom.js";
import { primaryOf, daysRunning, REC_LABEL } from "./common.js";

const STATUSES = ["draft", "running", "paused", "stopped", "archived"];
const CONCURRENCY = 4;

export async function render(ctx) {
  const status = h("select", { id: "f-status" },
    h("option", { value: "" }, "All"), STATUSES.map((s) => h("option", { value: s }, s)));
  status.value = STATUSES.includes(ctx.query.get("status")) ? ctx.query.get("status") : "";
  const search = h("input", { id: "f-search", type: "search", value: ctx.query.get("q") || "", autocomplete: "off" });
  const count = h("p", { class: "help", role: "status", id: "list-count" });
  const body = h("div", { id: "tests-list" }, note("Loading…"));
  clear(ctx.main,
    h("div", { class: "titlebar" }, h("h1", {}, "Tests"),
      atLeast(ctx.session.role, "editor") ? h("a", { class: "button primary", href: "/tests/new" }, "New test") : null),
    h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
      h("div", {}, h("label", { for: "f-status" }, "Status"), status),
      h("div", {}, h("label", { for: "f-search" }, "Search by name or key"), search)),
    count, body);

  const rows = new Map(); // key -> {tr, test, cells, fetched}
  const queue = [];
  let active = 0;
  let observer = null;
  let data = null;

  async function fetchRow(row) {
    active += 1;
    try {
      const [results, approvals] = await Promise.all([
        row.test.status === "draft" ? null : maybe(`/api/v1/tests/${enc(row.test.key)}/results`).catch(() => null),
        maybe(`/api/v1/tests/${enc(row.test.key)}/approvals`).catch(() => null),
      ]);
      row.fetched = Date.now();
      if (!ctx.current()) return;
      fillRow(row, results, approvals);
    } finally {
      active -= 1;
      pump();
    }
  }

  function pump() {
    while (active < CONCURRENCY && queue.length) {
      const row = queue.shift();
      row.queued = false;
      fetchRow(row);
    }
  }

  function want(row) {
    if (row.queued) return;
    row.queued = true;
    queue.push(row);
    pump();
  }

  function fillRow(row, results, approvals) {
    const c = row.cells;
    if (results) {
      const units = (results.variants || []).reduce((s, v) => s + (v.units || 0), 0);
      c.units.textContent = num(units);
      const m = primaryOf(results);
      const cmp = m && m.overall && m.overall.comparisons ? m.overall.comparisons : [];
      if (cmp.length) {
        const best = cmp.reduce((a, b) => ((b.frequentist?.relative?.estimate ?? -Infinity) > (a.frequentist?.relative?.estimate ?? -Infinity) ? b : a));
        const rel = best.frequentist && best.frequentist.relative;
        clear(c.lift, cmp.length > 1 ? best.variant + ": " : "", rel ? signedPct(rel.estimate) : "–", " ",
          h("span", { class: "muted" }, rel ? interval(rel.ci) : ""));
      } else clear(c.lift, "–");
    } else if (row.test.status === "draft") {
      c.units.textContent = "0";
      c.lift.textContent = "–";
    }
    c.risk.textContent = approvals && approvals.risk ? String(approvals.risk.score) : "–";
  }

  function buildRow(t) {
    const cells = {
      days: h("td", { class: "num" }),
      units: h("td", { class: "num" }, "…"),
      lift: h("td", { class: "num" }, "…"),
      rec: h("td", {}),
      alerts: h("td", { class: "num" }),
      risk: h("td", { class: "num" }, "…"),
    };
    const tr = h("tr", { "data-key": t.key, "data-status": t.status },
      h("th", { scope: "row" }, h("a", { href: "/tests/" + enc(t.key) }, t.key),
        t.description ? h("span", { class: "desc" }, t.description) : null),
      h("td", {}, badge(t.status)),
      cells.days, cells.units, cells.lift, cells.rec, cells.alerts, cells.risk);
    return { tr, test: t, cells, fetched: 0, queued: false, visible: false };
  }

  // What the list requests themselves say: days running, recommendation, open alerts — and,
  // where the API gives each test's summary, everything (no per-row requests then).
  function fillMeta(row, mon, alerts) {
    const c = row.cells;
    const sm = row.test.summary;
    if (sm) {
      row.fetched = Infinity;
      c.days.textContent = sm.days_running === null ? "–" : num(sm.days_running, 1);
      c.units.textContent = num(sm.units);
      const p = sm.primary;
      clear(c.lift, p && p.lift !== null ? [(row.test.variants.length > 2 ? p.variant + ": " : "") + signedPct(p.lift), " ",
        h("span", { class: "muted" }, interval(p.ci))] : "–");
      clear(c.rec, sm.recommendation ? REC_LABEL[sm.recommendation] || sm.recommendation : "–",
        sm.recommendation === "ship" && p ? " (" + p.variant + ")" : "");
      clear(c.alerts, sm.open_alerts ? h("a", { href: "/alerts?test=" + enc(row.test.key) }, String(sm.open_alerts)) : "0");
      c.risk.textContent = String(sm.risk);
      return;
    }
    const days = mon ? mon.days_running : daysRunning(row.test);
    c.days.textContent = days === null ? "–" : num(days, 1);
    clear(c.rec, mon && mon.recommendation ? REC_LABEL[mon.recommendation] || mon.recommendation : "–",
      mon && mon.variant ? " (" + mon.variant + ")" : "");
    clear(c.alerts, alerts ? h("a", { href: "/alerts?test=" + enc(row.test.key) }, String(alerts)) : "0");
  }

  function applyFilter() {
    const s = status.value;
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    for (const row of rows.values()) {
      const t = row.test;
      const ok = (!s || t.status === s) && (!q || t.key.toLowerCase().includes(q) || (t.description || "").toLowerCase().includes(q));
      row.tr.hidden = !ok;
      if (ok) shown += 1;
    }
    count.textContent = shown + " of " + rows.size + " tests";
    const p = new URLSearchParams();
    if (s) p.set("status", s);
    if (q) p.set("q", search.value.trim());
    history.replaceState(null, "", "/" + (p.toString() ? "?" + p : ""));
  }

  async function load() {
    const tests = (await get("/api/v1/tests")).tests || [];
    if (tests.every((t) => t.summary)) return { tests, monitor: null, alerts: [] };
    // An older control plane without summaries: the monitor and the alerts fill in.
    const [monitor, alerts] = await Promise.all([
      maybe("/api/v1/monitor").catch(() => null),
      get("/api/v1/alerts?unacked=true&limit=1000").catch(() => ({ alerts: [] })),
    ]);
    return { tests, monitor, alerts: alerts.alerts || [] };
  }

  function draw() {
    const mon = new Map((data.monitor?.tests || []).map((m) => [m.test, m]));
    const open = new Map();
    for (const a of data.alerts) open.set(a.test, (open.get(a.test) || 0) + 1);
    const same = data.tests.length === rows.size &&
      data.tests.every((t) => rows.has(t.key) && rows.get(t.key).test.status === t.status);
    if (same) {
      // A live refresh of the same tests: update the cells in place (focus and scroll stay), and
      // refetch the visible rows' results.
      for (const t of data.tests) {
        const row = rows.get(t.key);
        row.test = t;
        fillMeta(row, mon.get(t.key), open.get(t.key));
        if (row.visible && Date.now() - row.fetched > 1500) want(row);
      }
      return;
    }
    if (observer) observer.disconnect();
    rows.clear();
    const trs = [];
    for (const t of data.tests) {
      const row = buildRow(t);
      fillMeta(row, mon.get(t.key), open.get(t.key));
      rows.set(t.key, row);
      trs.push(row.tr);
    }
    if (!trs.length) {
      clear(body, note("No tests yet."));
    } else {
      clear(body, table(["Test", "Status", "Days running", "Units", "Primary lift [interval]", "Recommendation", "Open alerts", "Risk score"], trs));
    }
    applyFilter();
    observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const row = rows.get(e.target.dataset.key);
        if (!row) continue;
        row.visible = e.isIntersecting;
        if (row.visible && !row.fetched) want(row);
      }
    }, { rootMargin: "200px" });
    for (const row of rows.values()) observer.observe(row.tr);
  }

  status.addEventListener("change", applyFilter);
  search.addEventListener("input", applyFilter);
  try {
    data = await load();
  } catch (e) {
    clear(body, errorNote(e));
    return;
  }
  if (!ctx.current()) return;
  draw();
  ctx.live(async () => {
    const d = await load();
    if (!ctx.current()) return;
    data = d;
    draw();
  });
  return () => observer && observer.disconnect();
}
