// What past tests teach: segments whose lifts differ beyond chance, heterogeneity per metric,
// and the learned priors.

import { get, maybe } from "../api.js";
import { h, clear, note, errorNote, num, pct, pval, signedPct, interval, table, section } from "../dom.js";

export async function render(ctx) {
  clear(ctx.main, h("h1", {}, "Insights"), note("Loading…"));
  let ins, priors;
  try {
    [ins, priors] = await Promise.all([get("/api/v1/insights"), maybe("/api/v1/priors").catch(() => null)]);
  } catch (e) {
    clear(ctx.main, h("h1", {}, "Insights"), errorNote(e));
    return;
  }
  if (!ctx.current()) return;
  const het = Object.entries(ins.heterogeneity || {});
  clear(ctx.main, h("h1", {}, "Insights"),
    h("p", { class: "help" }, "From " + ins.tests + " stopped tests (statements need at least " + ins.min_tests + ")."),
    section("Segments that differ", "statements", !ins.statements.length ? note("Nothing differs beyond chance yet.")
      : h("ul", {}, ins.statements.map((s) => h("li", {}, s.text, " ", h("span", { class: "muted" },
        "(" + s.metric + (s.tag ? ", tag " + s.tag : "") + ": " + signedPct(s.difference) + " " + interval(s.ci) + ", " + s.n_tests + " tests)"))))),
    section("Heterogeneity between tests", "heterogeneity", !het.length ? note("Not enough tests yet.")
      : table(["Metric", "Q", "df", "p", "I²"], het.map(([m, x]) => h("tr", {}, h("th", { scope: "row" }, m),
        h("td", { class: "num" }, num(x.overall.q, 2)), h("td", { class: "num" }, String(x.overall.df)),
        h("td", { class: "num" }, pval(x.overall.p_value)), h("td", { class: "num" }, pct(x.overall.i2, 0)))))),
    section("Learned priors", "priors", priors ? h("pre", {}, JSON.stringify(priors, null, 1).slice(0, 20000)) : note("No priors yet.")));
}
