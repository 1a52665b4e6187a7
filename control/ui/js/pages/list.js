// The tests list: one request (GET /api/v1/tests carries each test's summary: days running,
// units, primary lift, recommendation, open alerts, risk), again on every live change.

import { get, enc } from "../api.js";
import { h, clear, badge, note, errorNote, signedPct, interval, num, atLeast, table } from "../dom.js";
import { REC_LABEL } from "./common.js";

const STATUSES = ["draft", "running", "paused", "stopped", "archived"];

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

  const rows = new Map(); // key -> {tr, test, cells}
  let data = null;

  function buildRow(t) {
    const cells = {
      days: h("td", { class: "num" }),
      units: h("td", { class: "num" }),
      lift: h("td", { class: "num" }),
      rec: h("td", {}),
      alerts: h("td", { class: "num" }),
      risk: h("td", { class: "num" }),
    };
    const tr = h("tr", { "data-key": t.key, "data-status": t.status },
      h("th", { scope: "row" }, h("a", { href: "/tests/" + enc(t.key) }, t.key),
        t.description ? h("span", { class: "desc" }, t.description) : null),
      h("td", {}, badge(t.status)),
      cells.days, cells.units, cells.lift, cells.rec, cells.alerts, cells.risk);
    return { tr, test: t, cells };
  }

  // Everything a row shows is the test's summary in GET /api/v1/tests.
  function fill(row) {
    const c = row.cells;
    const sm = row.test.summary;
    c.days.textContent = sm.days_running === null ? "–" : num(sm.days_running, 1);
    c.units.textContent = num(sm.units);
    const p = sm.primary;
    clear(c.lift, p && p.lift !== null ? [(row.test.variants.length > 2 ? p.variant + ": " : "") + signedPct(p.lift), " ",
      h("span", { class: "muted" }, interval(p.ci))] : "–");
    clear(c.rec, sm.recommendation ? REC_LABEL[sm.recommendation] || sm.recommendation : "–",
      sm.recommendation === "ship" && p ? " (" + p.variant + ")" : "");
    clear(c.alerts, sm.open_alerts ? h("a", { href: "/alerts?test=" + enc(row.test.key) }, String(sm.open_alerts)) : "0");
    c.risk.textContent = String(sm.risk);
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
    return (await get("/api/v1/tests")).tests || [];
  }

  function draw() {
    const same = data.length === rows.size && data.every((t) => rows.has(t.key) && rows.get(t.key).test.status === t.status);
    if (same) {
      // A live refresh of the same tests: update the cells in place (focus and scroll stay).
      for (const t of data) {
        const row = rows.get(t.key);
        row.test = t;
        fill(row);
      }
      return;
    }
    rows.clear();
    for (const t of data) {
      const row = buildRow(t);
      fill(row);
      rows.set(t.key, row);
    }
    clear(body, rows.size
      ? table(["Test", "Status", "Days running", "Units", "Primary lift [interval]", "Recommendation", "Open alerts", "Risk score"],
        [...rows.values()].map((r) => r.tr))
      : note("No tests yet."));
    applyFilter();
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
}
