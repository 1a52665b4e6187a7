// The audit log (admins): the hash chain's verification, then the latest entries, newest first,
// with older pages on demand.

import { get } from "../api.js";
import { h, clear, note, errorNote, when } from "../dom.js";

const PAGE = 100;

export async function render(ctx) {
  const verdict = h("div", { id: "audit-verdict" }, note("Verifying…"));
  const body = h("div", { id: "audit-list" });
  const more = h("button", { type: "button", hidden: true }, "Older entries");
  clear(ctx.main, h("h1", {}, "Audit log"), h("section", { class: "card", "aria-labelledby": "chain-h" },
    h("h2", { id: "chain-h" }, "Hash chain"), verdict), body, more);
  let v;
  try {
    v = await get("/api/v1/audit/verify");
  } catch (e) {
    clear(verdict, errorNote(e));
    return;
  }
  clear(verdict, h("p", { class: v.ok ? "status ok" : "status bad", "data-ok": String(v.ok) },
    v.ok ? "Chain intact: " + v.entries + " entries verified." : "Chain broken at entry " + v.first_bad_seq + ": " + (v.problem || "")));
  const rows = [];
  let lowest = v.entries + 1;
  const tbody = h("tbody");
  clear(body, h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {},
    ["#", "When", "Who", "Action", "Target", "Change"].map((c) => h("th", { scope: "col" }, c)))), tbody)));

  async function older() {
    const after = Math.max(0, lowest - 1 - PAGE);
    const { entries } = await get(`/api/v1/audit?after=${after}&limit=${Math.min(PAGE, lowest - 1 - after) || 1}`);
    const mine = entries.filter((e) => e.seq < lowest).reverse();
    for (const e of mine) {
      const tr = h("tr", {}, h("td", { class: "num" }, String(e.seq)), h("td", {}, when(e.at)), h("td", {}, e.actor),
        h("td", {}, e.action), h("td", {}, e.target),
        h("td", {}, e.after || e.before ? h("details", {}, h("summary", {}, "details"),
          e.before ? h("pre", {}, "before: " + e.before) : null, e.after ? h("pre", {}, "after: " + e.after) : null) : "–"));
      rows.push(tr);
      tbody.appendChild(tr);
    }
    if (mine.length) lowest = mine[mine.length - 1].seq;
    more.hidden = lowest <= 1 || !mine.length;
  }
  more.addEventListener("click", () => older().catch((e) => body.appendChild(errorNote(e))));
  try {
    await older();
  } catch (e) {
    clear(body, errorNote(e));
  }
  if (!rows.length) clear(body, note("No entries."));
}
