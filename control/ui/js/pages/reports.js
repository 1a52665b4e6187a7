// Saved reports: definitions kept on the server (GET/POST /api/v1/reports), each run on demand
// (GET /api/v1/reports/{id}/run) and shown here; editors create and delete them.

import { get, api, post, enc, ApiError } from "../api.js";
import { h, clear, note, errorNote, atLeast, section, tree, when } from "../dom.js";
import { showErrors } from "./form.js";

const EXAMPLE = { name: "Weekly running tests", definition: { status: "running" } };

export async function render(ctx) {
  const list = h("div", { id: "reports-list" }, note("Loading…"));
  const out = h("div", { id: "report-run", "aria-live": "polite" });
  const canEdit = atLeast(ctx.session.role, "editor");
  const general = h("div", { class: "note error", role: "alert" });
  const name = h("input", { id: "r-name", "data-field": "name", "aria-describedby": "r-name-err", required: true });
  const def = h("textarea", { id: "r-def", "data-field": "definition", "aria-describedby": "r-def-help r-def-err" },
    JSON.stringify(EXAMPLE.definition, null, 1));
  const form = h("form", { novalidate: true, id: "report-form" }, general,
    h("label", { for: "r-name" }, "Name"), name, h("p", { class: "field-error", id: "r-name-err", "data-error-for": "name" }),
    h("label", { for: "r-def" }, "Definition (JSON)"), def,
    h("p", { class: "help", id: "r-def-help" }, "What the report covers, as the reports API takes it (docs/dashboard.md)."),
    h("p", { class: "field-error", id: "r-def-err", "data-error-for": "definition" }),
    h("button", { type: "submit", class: "primary" }, "Save report"));
  clear(ctx.main, h("h1", {}, "Reports"), section("Saved reports", "saved", list),
    canEdit ? section("New report", "new-report", form) : null, section("Result", "result", out));

  async function load() {
    const r = await get("/api/v1/reports").catch((e) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    });
    if (!ctx.current()) return;
    if (r === null) {
      clear(list, note("This control plane does not keep saved reports (GET /api/v1/reports) yet."));
      return;
    }
    const items = Array.isArray(r) ? r : r.reports || [];
    clear(list, !items.length ? note("No saved reports.") : h("ul", { class: "reports" }, items.map((x) => h("li", {},
      h("strong", {}, x.name || String(x.id)), " ", h("span", { class: "muted" }, x.updated_at ? when(x.updated_at) : ""), " ",
      h("button", { type: "button", class: "small", onclick: () => run(x) }, "Run"),
      canEdit ? h("button", { type: "button", class: "small", onclick: () => remove(x) }, "Delete") : null))));
  }

  async function run(x) {
    clear(out, note("Running " + (x.name || x.id) + "…"));
    try {
      const res = await get(`/api/v1/reports/${enc(x.id)}/run`);
      clear(out, h("h3", {}, x.name || String(x.id)), tree(res));
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
    let definition;
    try {
      definition = JSON.parse(def.value || "{}");
    } catch (e) {
      showErrors(form, [{ field: "definition", message: "is not valid JSON: " + e.message }], general);
      return;
    }
    try {
      await post("/api/v1/reports", { name: name.value, definition });
      showErrors(form, [], general);
      name.value = "";
      await load();
    } catch (e) {
      showErrors(form, e instanceof ApiError ? e.errors : [{ field: "", message: e.message }], general);
    }
  });

  try {
    await load();
  } catch (e) {
    clear(list, errorNote(e));
  }
}
