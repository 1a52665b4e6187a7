// Create a test from a template, or edit a draft. As the form changes, POST /api/v1/plans
// (debounced) sizes it and scores its risk; the server's 422 errors appear beside the field
// they name (`variants[1].content.headline` → that input).

import { get, post, api, enc, ApiError } from "../api.js";
import { h, clear, note, num, pct, debounce, table, atLeast } from "../dom.js";
import { variantEditor, readVariants } from "./form-variants.js";

const KEY_RE = /^[!-~]{1,100}$/;

// An input with its label, help and error line; `field` is the API's name for it.
function field(id, label, input, help, fieldName) {
  input.id = id;
  input.name = id;
  input.dataset.field = fieldName || id;
  const err = h("p", { class: "field-error", id: id + "-err", "data-error-for": fieldName || id });
  input.setAttribute("aria-describedby", (help ? id + "-help " : "") + id + "-err");
  return h("div", { class: "field" }, h("label", { for: id }, label), input, help ? h("p", { class: "help", id: id + "-help" }, help) : null, err);
}

export function showErrors(form, errors, general) {
  for (const el of form.querySelectorAll("[data-error-for]")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const left = [];
  for (const e of errors || []) {
    // The exact field, else the nearest enclosing one (`variants[1].content` for `variants[1].content.x.y`).
    let name = e.field || "";
    let slot = null;
    while (name && !(slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`))) {
      name = name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : name.includes("[") ? name.slice(0, name.lastIndexOf("[")) : "";
    }
    if (slot) {
      slot.textContent = (slot.textContent ? slot.textContent + " " : "") + (name !== e.field ? e.field + ": " : "") + e.message;
      form.querySelector(`[data-field="${CSS.escape(name)}"]`)?.setAttribute("aria-invalid", "true");
    } else left.push((e.field ? e.field + ": " : "") + e.message);
  }
  clear(general, left.length ? h("ul", {}, left.map((m) => h("li", {}, m))) : null);
  return left.length + (errors || []).length;
}

function planView(p) {
  if (!p) return note("Fill in the form to see the plan.");
  const plan = p.plan;
  return h("div", { class: "plan-out" },
    h("p", {}, "Risk score ", h("strong", { id: "risk-score" }, String(plan.risk.score)), " / 100 · approvals needed ", String(plan.approvals_needed)),
    h("p", {}, h("strong", { id: "expected-days" }, num(plan.expected_days)), " days expected · ", num(plan.n_per_arm), " units per arm"),
    h("p", { class: "help" }, "Baseline " + pct(p.baseline.value, 2) + " (" + p.baseline.source + "), " +
      num(p.daily_units.value) + " units a day (" + p.daily_units.source + ")"),
    p.prediction && p.prediction.p_positive !== null ? h("p", {}, "Chance the lift is positive: " + pct(p.prediction.p_positive, 0)) : null,
    table(["Coverage", "Days"], plan.tradeoffs.map((t) => h("tr", {}, h("td", {}, pct(t.coverage, 0)), h("td", { class: "num" }, num(t.expected_days))))),
    h("details", {}, h("summary", {}, "Risk factors"),
      table(["Factor", "Points"], plan.risk.factors.map((f) => h("tr", {}, h("td", {}, f.factor), h("td", { class: "num" }, num(f.points, 1) + " / " + num(f.max, 0)))))));
}

export async function render(ctx) {
  const editing = ctx.params.length ? ctx.params[0] : null;
  if (!atLeast(ctx.session.role, "editor")) {
    clear(ctx.main, h("h1", {}, editing ? "Edit test" : "New test"), note("Your role (" + ctx.session.role + ") cannot create or change tests."));
    return;
  }
  const [templates, existing] = await Promise.all([
    get("/api/v1/templates").then((t) => t.templates || []),
    editing ? get(`/api/v1/tests/${enc(editing)}`) : null,
  ]);
  if (!ctx.current()) return;
  const inputs = {
    template: h("select", {}, editing && !existing.template ? h("option", { value: "" }, "(none)") : null,
      templates.map((t) => h("option", { value: t.name }, t.name + (t.builtin ? "" : " (own)") + " — " + t.description))),
    key: h("input", { autocomplete: "off", spellcheck: "false", required: true }),
    description: h("input", {}),
    mde: h("input", { type: "number", step: "0.5", min: "0.1", value: "5", inputmode: "decimal" }),
    baseline: h("input", { type: "number", step: "0.1", min: "0", max: "100", inputmode: "decimal", placeholder: "observed" }),
    daily_units: h("input", { type: "number", step: "1", min: "1", inputmode: "numeric", placeholder: "observed" }),
    variants: h("input", { type: "number", min: "2", max: "10", value: "2", inputmode: "numeric" }),
    coverage: h("input", { type: "number", min: "1", max: "100", step: "1", value: "100", inputmode: "numeric" }),
    pages: h("input", { placeholder: "/pricing, #hero" }),
  };
  if (existing) {
    inputs.template.value = existing.template || "";
    inputs.key.value = existing.key;
    inputs.key.readOnly = true;
    inputs.description.value = existing.description || "";
    inputs.variants.value = String(existing.variants.length);
    inputs.coverage.value = String(Math.round(existing.coverage * 100));
    inputs.pages.value = (existing.pages || []).join(", ");
  } else if (ctx.query.get("template")) inputs.template.value = ctx.query.get("template");
  const general = h("div", { class: "note error", role: "alert", id: "form-errors" });
  const planBox = h("div", { id: "plan", "aria-live": "polite" }, note("Fill in the form to see the plan."));
  const variantsBox = h("div", { id: "variant-editor" });
  const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save" : "Create draft");
  const form = h("form", { novalidate: true, id: "test-form" },
    general,
    h("div", { class: "form-grid" },
      field("f-template", "Template", inputs.template, null, "template"),
      field("f-key", "Key", inputs.key, "Printable characters, no spaces; the snippet and API use it.", "key"),
      field("f-description", "Name / description", inputs.description, null, "description"),
      field("f-mde", "Smallest lift worth finding (%)", inputs.mde, "Relative minimum detectable effect", "mde"),
      field("f-baseline", "Baseline rate (%)", inputs.baseline, "Leave empty to use the rate observed in running tests", "baseline"),
      field("f-daily", "Units a day", inputs.daily_units, "Leave empty to use the busiest running test's", "daily_units"),
      field("f-variants", "Variants (incl. control)", inputs.variants, null, "variants"),
      field("f-coverage", "Coverage (%)", inputs.coverage, "Share of visitors in the test", "coverage"),
      field("f-pages", "Pages or elements it changes", inputs.pages, "Comma-separated", "pages")),
    h("h2", {}, "Variants"),
    variantsBox,
    h("div", { class: "actions" }, submit, h("a", { href: editing ? "/tests/" + enc(editing) : "/" }, "Cancel")));
  clear(ctx.main, h("h1", {}, editing ? "Edit " + editing : "New test from a template"),
    h("div", { class: "grid2" }, h("section", { class: "card", "aria-labelledby": "form-h" }, h("h2", { id: "form-h", class: "sr-only" }, "Definition"), form),
      h("section", { class: "card", "aria-labelledby": "plan-h" }, h("h2", { id: "plan-h" }, "Plan: risk, power and duration"), planBox)));

  let plan = null;
  let seq = 0;
  const variantList = () => existing && !plan ? existing.variants : plan ? plan.plan.draft.variants : [];
  function drawVariants() {
    const kept = readVariants(variantsBox);
    clear(variantsBox, variantEditor(variantList(), kept));
  }

  function planBody() {
    const b = { template: inputs.template.value, key: KEY_RE.test(inputs.key.value) ? inputs.key.value : "draft", mde: Number(inputs.mde.value) / 100 };
    if (inputs.baseline.value !== "") b.baseline = Number(inputs.baseline.value) / 100;
    if (inputs.daily_units.value !== "") b.daily_units = Number(inputs.daily_units.value);
    b.variants = Number(inputs.variants.value) || 2;
    b.coverage = Number(inputs.coverage.value) / 100;
    const pages = inputs.pages.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (pages.length) b.pages = pages;
    return b;
  }

  // Client-side checks the server would make anyway, shown as the visitor types.
  let touched = !!existing;
  inputs.key.addEventListener("input", () => { touched = true; });
  function localErrors(submitting) {
    const errs = [];
    if (!touched && !submitting) return errs;
    if (!inputs.key.value) errs.push({ field: "key", message: "A key is required." });
    else if (!KEY_RE.test(inputs.key.value)) errs.push({ field: "key", message: "Use 1 to 100 printable characters, no spaces." });
    return errs;
  }

  const replan = debounce(async () => {
    const mine = ++seq;
    if (!inputs.template.value) {
      showErrors(form, localErrors(), general);
      return;
    }
    try {
      const p = await post("/api/v1/plans", planBody());
      if (mine !== seq || !ctx.current()) return;
      const before = plan ? plan.plan.draft.variants.length : existing ? existing.variants.length : 0;
      plan = p;
      showErrors(form, localErrors(), general);
      clear(planBox, planView(p));
      if (!existing && p.plan.draft.variants.length !== before) drawVariants();
      if (!existing && !inputs.description.value) inputs.description.placeholder = p.plan.draft.description;
    } catch (e) {
      if (mine !== seq || !ctx.current()) return;
      showErrors(form, [...localErrors(), ...(e instanceof ApiError ? e.errors : [{ field: "", message: e.message }])], general);
    }
  }, 300);

  form.addEventListener("input", (ev) => { if (!variantsBox.contains(ev.target)) replan(); });
  form.addEventListener("change", (ev) => { if (ev.target === inputs.template) { plan = null; replan(); } });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const local = localErrors(true);
    if (local.length) {
      showErrors(form, local, general);
      inputs.key.focus();
      return;
    }
    let variants;
    try {
      variants = readVariants(variantsBox, true);
    } catch (e) {
      showErrors(form, e.errors || [{ field: "", message: e.message }], general);
      return;
    }
    const pages = inputs.pages.value.split(",").map((s) => s.trim()).filter(Boolean);
    let body;
    if (existing) {
      body = { ...existing };
      for (const k of ["status", "winner", "created_at", "updated_at", "started_at"]) delete body[k];
      body.variants = variants;
      body.description = inputs.description.value;
      if (existing.status === "draft") body.coverage = Number(inputs.coverage.value) / 100;
      if (pages.length) body.pages = pages; else delete body.pages;
    } else {
      if (!plan) { showErrors(form, [{ field: "", message: "Waiting for the plan; check the fields above." }], general); return; }
      body = { ...plan.plan.draft, key: inputs.key.value, variants, coverage: Number(inputs.coverage.value) / 100 };
      if (inputs.description.value) body.description = inputs.description.value;
      if (pages.length) body.pages = pages;
    }
    submit.disabled = true;
    try {
      const t = await api(existing ? "PUT" : "POST", existing ? `/api/v1/tests/${enc(existing.key)}` : "/api/v1/tests", body);
      ctx.navigate("/tests/" + enc(t.key));
    } catch (e) {
      submit.disabled = false;
      showErrors(form, e instanceof ApiError ? e.errors : [{ field: "", message: e.message }], general);
      const bad = form.querySelector("[aria-invalid]");
      if (bad) bad.focus();
    }
  });

  drawVariants();
  if (inputs.template.value) replan();
  else if (existing) clear(planBox, note("This test names no template: no plan to show."));
  inputs[existing ? "description" : "key"].focus();
}

