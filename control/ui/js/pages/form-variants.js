// The variants part of the test form: each variant's key, weight and content. Content that is
// a flat object (a template's content keys) gets one input per key; anything else is edited as
// JSON.

import { h } from "../dom.js";

function flat(content) {
  return content && typeof content === "object" && !Array.isArray(content) &&
    Object.values(content).every((v) => v === null || typeof v !== "object");
}

function err(name) {
  return h("p", { class: "field-error", "data-error-for": name, id: "err-" + name.replace(/[^a-z0-9]/gi, "_") });
}

// `list`: the variants to show (the plan's draft or the stored test); `kept`: what the visitor
// had typed, by variant position, so a new plan does not wipe it.
export function variantEditor(list, kept) {
  return list.map((v, i) => {
    const prior = kept[i] || null;
    const base = `variants[${i}]`;
    const id = (s) => `v${i}-${s}`;
    const keyIn = h("input", { id: id("key"), value: prior ? prior.key : v.key, "data-field": base + ".key", "data-role": "key",
      "aria-describedby": "err-" + (base + ".key").replace(/[^a-z0-9]/gi, "_"), spellcheck: "false" });
    const weightIn = h("input", { id: id("weight"), type: "number", min: "0", step: "any", value: String(prior ? prior.weight : v.weight),
      "data-field": base + ".weight", "data-role": "weight" });
    const content = prior ? prior.content : v.content;
    let contentPart;
    if (flat(content) && Object.keys(content || {}).length) {
      contentPart = Object.entries(content).map(([k, val]) => {
        const name = `${base}.content.${k}`;
        const inId = id("c-" + k.replace(/[^a-z0-9_-]/gi, "_"));
        return h("div", {},
          h("label", { for: inId }, k),
          h("input", { id: inId, value: val === null ? "" : String(val), "data-field": name, "data-content-key": k,
            "aria-describedby": "err-" + name.replace(/[^a-z0-9]/gi, "_") }),
          err(name));
      });
    } else {
      const name = `${base}.content`;
      contentPart = [h("label", { for: id("json") }, "Content (JSON)"),
        h("textarea", { id: id("json"), "data-field": name, "data-role": "json" }, JSON.stringify(content ?? null, null, 1)), err(name)];
    }
    return h("fieldset", { class: "variant-box", "data-index": String(i), "data-overrides": v.overrides ? JSON.stringify(v.overrides) : null },
      h("legend", {}, i === 0 ? "Control" : "Variant " + i),
      h("div", { class: "form-grid" },
        h("div", {}, h("label", { for: id("key") }, "Key"), keyIn, err(base + ".key")),
        h("div", {}, h("label", { for: id("weight") }, "Weight"), weightIn, err(base + ".weight"))),
      contentPart);
  });
}

// The variants as typed. With `strict`, a JSON box that does not parse is an error naming it.
export function readVariants(box, strict) {
  return [...box.querySelectorAll("fieldset.variant-box")].map((fs) => {
    const i = fs.dataset.index;
    const v = {
      key: fs.querySelector('[data-role="key"]').value,
      weight: Number(fs.querySelector('[data-role="weight"]').value),
    };
    const json = fs.querySelector('[data-role="json"]');
    if (json) {
      try {
        v.content = JSON.parse(json.value || "null");
      } catch (e) {
        if (strict) {
          const er = new Error("not JSON");
          er.errors = [{ field: `variants[${i}].content`, message: "is not valid JSON: " + e.message }];
          throw er;
        }
        v.content = json.value;
      }
    } else {
      v.content = {};
      for (const inp of fs.querySelectorAll("[data-content-key]")) v.content[inp.dataset.contentKey] = inp.value;
    }
    if (fs.dataset.overrides) v.overrides = JSON.parse(fs.dataset.overrides);
    return v;
  });
}
