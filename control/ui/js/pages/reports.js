// Saved reports (GET/POST /api/v1/reports): which tests (status, tags, search), which metrics,
// which segments; each run on demand (GET /api/v1/reports/{id}/run) into one table of
// per-variant rows. Editors create and delete them.

import { get, api, post, enc, ApiError } from "../api.js";
import { h, clear, note, errorNote, atLeast, section, when, table, num, pct, pval, signedPct, interval } from "../dom.js";
import { showErrors } from "./form.js";

const STATUSES = ["draft", "running", "paused", "stopped", "archived"];
const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);

function describe(r) {
  const t = r.tests || {};
  const parts = [];
  if ((t.status || []).length) parts.push("status " + t.status.join("/"));
  if ((t.tags || []).length) parts.push("tags " + t.tags.join(", "));
  if (t.search) parts.push("matching “" + t.search + "”");
  parts.push((r.metrics || []).length ? "metrics " + r.metrics.join(", ") : "every metric");
  if ((r.segments || []).length) parts.push("by " + r.segments.join(" and "));
  return parts.join(" · ");
}

function runTable(res) {
  if (!res.rows.length) return note("No rows: no test matches, or none has results yet.");
  return table(["Test", "Segment", "Metric", "Variant", "Units", "Conversions", "Value", "Lift", "95% interval", "p-value", "Chance to win"],
    res.rows.map((r) => h("tr", {},
      h("td", {}, h("a", { href: "/tests/" + enc(r.test) }, r.test)), h("td", {}, r.segment), h("td", {}, r.metric), h("td", {}, r.variant),
      h("td", { class: "num" }, num(r.units)), h("td", { class: "num" }, r.conversions === null || r.conversions === undefined ? "–" : num(r.conversions)),
      h("td", { class: "num" }, r.value === null || r.value === undefined ? "–" : r.kind === "binomial" || r.kind === "retention" ? pct(r.value, 2) : num(r.value, 3)),
      h("td", { class: "num" }, r.error ? r.error : signedPct(r.lift)),
      h("td", { class: "num" }, r.ci_low === null || r.ci_low === undefined ? "–" : interval([r.ci_low, r.ci_high])),
      h("td", { class: "num" }, pval(r.p_value)), h("td", { class: "num" }, r.chance_to_win === null || r.chance_to_win === undefined ? "–" : pct(r.chance_to_win)))));
}

function input(id, label, el, field, help) {
  el.id = id;
  el.dataset.field = field;
  el.setAttribute("aria-describedby", id + "-err" + (help ? " " + id + "-help" : ""));
  return h("div", { class: "field" }, h("label", { for: id }, label), el, help ? h("p", { class: "help", id: id + "-help" }, help) : null,
    h("p", { class: "field-error", id: id + "-err", "data-error-for": field }));
}

export async function render(ctx) {
  const saved = h("div", { id: "reports-list" }, note("Loading…"));
  const out = h("div", { id: "report-run", "aria-live": "polite" });
  const canEdit = atLeast(ctx.session.role, "editor");
  const general = h("div", { class: "note error", role: "alert" });
  const f = {
    name: h("input", { required: true }),
    tags: h("input", { placeholder: "headline, checkout" }),
    search: h("input", {}),
    metrics: h("input", { placeholder: "every metric" }),
  };
  const statusBoxes = STATUSES.map((s) => h("input", { type: "checkbox", id: "r-st-" + s, value: s }));
  const segBoxes = ["device", "persona"].map((s) => h("input", { type: "checkbox", id: "r-seg-" + s, value: s }));
  const form = h("form", { novalidate: true, id: "report-form" }, general,
    h("div", { class: "form-grid" },
      input("r-name", "Name", f.name, "name"),
      input("r-search", "Tests whose key or name contains", f.search, "tests.search"),
      input("r-tags", "Tests with one of the tags", f.tags, "tests.tags", "Comma-separated"),
      input("r-metrics", "Metrics", f.metrics, "metrics", "Comma-separated metric keys; empty for every metric")),
    h("fieldset", {}, h("legend", {}, "Statuses (none: any)"),
      statusBoxes.map((b) => h("span", { class: "inline" }, b, h("label", { for: b.id }, b.value), " "))),
    h("fieldset", {}, h("legend", {}, "Segments besides overall"),
      segBoxes.map((b) => h("span", { class: "inline" }, b, h("label", { for: b.id }, "by " + b.value), " "))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save report")));
  clear(ctx.main, h("h1", {}, "Reports"), section("Saved reports", "saved", saved),
    canEdit ? section("New report", "new-report", form) : null, section("Result", "result", out));

  async function load() {
    const r = await get("/api/v1/reports");
    if (!ctx.current()) return;
    const items = r.reports || [];
    clear(saved, !items.length ? note("No saved reports.") : h("ul", { class: "reports" }, items.map((x) => h("li", { "data-report": x.id },
      h("strong", {}, x.name), " ", h("span", { class: "muted" }, describe(x) + " · " + when(x.updated_at)), " ",
      h("button", { type: "button", class: "small", onclick: () => run(x) }, "Run"), " ",
      canEdit ? h("button", { type: "button", class: "small", onclick: () => remove(x) }, "Delete") : null))));
  }

  async function run(x) {
    clear(out, note("Running " + x.name + "…"));
    try {
      const res = await get(`/api/v1/reports/${enc(x.id)}/run`);
      clear(out, h("h3", {}, x.name), h("p", { class: "help" }, res.tests.length + " tests" + (res.truncated ? " (the first 100)" : "")), runTable(res));
    } catch (e) {
      clear(out, errorNote(e));
    }
  }

  async function remove(x) {
    try {
      await api("DELETE", `/api/v1/reports/${enc(x.id)}`);
      await load();
    } catch (e) {
      clear(out, errorNote(e));
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {
      name: f.name.value,
      tests: { status: statusBoxes.filter((b) => b.checked).map((b) => b.value), tags: list(f.tags.value), search: f.search.value },
      metrics: list(f.metrics.value),
      segments: segBoxes.filter((b) => b.checked).map((b) => b.value),
    };
    try {
      await post("/api/v1/reports", body);
      showErrors(form, [], general);
      f.name.value = "";
      await load();
    } catch (e) {
      showErrors(form, e instanceof ApiError ? e.errors : [{ field: "", message: e.message }], general);
    }
  });

  try {
    await load();
  } catch (e) {
    clear(saved, errorNote(e));
  }
}
