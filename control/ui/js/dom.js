// Building the page: data only ever reaches the DOM as text nodes or as values of attributes we
// name here, never through innerHTML, so a test called "<script>…" shows as those characters.

export function h(tag, attrs, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else if (k === "class") el.setAttribute("class", v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

export const svg = (tag, attrs, ...children) => h("svg:" + tag, attrs, ...children);

// Okabe–Ito: distinguishable with every common colour-vision deficiency. The control first.
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#F0E442"];

export function pct(x, digits = 1) {
  return x === null || x === undefined || !Number.isFinite(x) ? "–" : (x * 100).toFixed(digits) + "%";
}

export function signedPct(x, digits = 1) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x * 100).toFixed(digits) + "%";
}

export function interval(ci, digits = 1) {
  return Array.isArray(ci) && ci.length === 2 ? "[" + signedPct(ci[0], digits) + ", " + signedPct(ci[1], digits) + "]" : "–";
}

export function num(x, digits = 0) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function pval(p) {
  if (p === null || p === undefined || !Number.isFinite(p)) return "–";
  return p < 0.0001 ? "<0.0001" : p.toFixed(4);
}

export function when(ms) {
  if (!ms) return "–";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function badge(text, kind) {
  return h("span", { class: "badge " + (kind || text) }, text);
}

// A message inside a page region: loading, empty, or what went wrong.
export function note(text, kind) {
  return h("p", { class: "note " + (kind || "") }, text);
}

export function errorNote(e) {
  return h("p", { class: "note error", role: "alert" }, e && e.message ? e.message : String(e));
}

export function table(headers, rows, caption) {
  return h("div", { class: "scroll" },
    h("table", {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)));
}

export function section(title, id, ...children) {
  return h("section", { class: "card", "aria-labelledby": id + "-h", id },
    h("h2", { id: id + "-h" }, title), ...children);
}

// Polite announcement for screen readers (changes made, live updates).
export function announce(text) {
  const el = document.getElementById("announce");
  if (el) el.textContent = text;
}

export const ROLES = ["viewer", "editor", "approver", "admin"];
export function atLeast(role, min) {
  return ROLES.indexOf(role) >= ROLES.indexOf(min);
}

export function debounce(fn, ms) {
  let t = 0;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// Any JSON as readable markup (for answers whose shape this page does not know in detail):
// objects as definition lists, arrays of objects as tables, the rest as text.
export function tree(value, depth = 0) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "–");
  if (Array.isArray(value)) {
    if (!value.length) return h("span", { class: "muted" }, "none");
    if (value.every((x) => x && typeof x === "object" && !Array.isArray(x)) && depth < 4) {
      const cols = [...new Set(value.flatMap((x) => Object.keys(x)))];
      return table(cols.map(label), value.map((x) => h("tr", {}, cols.map((c) => h("td", {}, tree(x[c], depth + 1))))));
    }
    return h("span", {}, value.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", "));
  }
  if (typeof value === "object") {
    if (depth > 4) return h("pre", {}, JSON.stringify(value));
    return h("dl", { class: "tree" }, Object.entries(value).map(([k, v]) => [h("dt", {}, label(k)), h("dd", {}, tree(v, depth + 1))]));
  }
  if (typeof value === "number") return h("span", { class: "num" }, Number.isInteger(value) ? num(value) : String(Math.round(value * 1e4) / 1e4));
  return h("span", {}, String(value));
}

export function label(key) {
  const s = String(key).replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}
