// Alerts, newest first: the monitor's findings and publish failures; editors acknowledge them.

import { get, post, enc } from "../api.js";
import { h, clear, note, errorNote, badge, when, atLeast, table } from "../dom.js";

export async function render(ctx) {
  const test = ctx.query.get("test") || "";
  const unacked = h("input", { type: "checkbox", id: "unacked" });
  unacked.checked = ctx.query.get("unacked") === "true";
  const body = h("div", { id: "alerts-list" }, note("Loading…"));
  const msg = h("p", { role: "status", class: "note" });
  clear(ctx.main, h("h1", {}, "Alerts", test ? " for " + test : ""),
    h("p", { class: "inline" }, unacked, h("label", { for: "unacked" }, "Only unacknowledged")),
    test ? h("p", {}, h("a", { href: "/alerts" }, "All tests")) : null, msg, body);
  const canAck = atLeast(ctx.session.role, "editor");

  async function load() {
    const q = new URLSearchParams({ limit: "500" });
    if (test) q.set("test", test);
    if (unacked.checked) q.set("unacked", "true");
    const { alerts } = await get("/api/v1/alerts?" + q);
    if (!ctx.current()) return;
    clear(body, !alerts.length ? note("No alerts.") : table(["When", "Test", "Kind", "Message", "Action", "Acknowledged"],
      alerts.map((a) => h("tr", { "data-alert": String(a.id) },
        h("td", {}, when(a.at)),
        h("td", {}, a.test ? h("a", { href: "/tests/" + enc(a.test) }, a.test) : "–"),
        h("td", {}, badge(a.kind, a.acked_at ? "muted" : "warn")),
        h("td", {}, a.message),
        h("td", {}, a.action || "–"),
        h("td", {}, a.acked_at ? "by " + (a.acked_by || "?") + " " + when(a.acked_at)
          : canAck ? h("button", { type: "button", class: "small", onclick: () => ack(a.id) }, "Acknowledge") : "no")))));
  }

  async function ack(id) {
    try {
      await post(`/api/v1/alerts/${id}/ack`);
      msg.textContent = "Alert " + id + " acknowledged.";
      await load();
    } catch (e) {
      clear(msg, errorNote(e));
    }
  }

  unacked.addEventListener("change", load);
  try {
    await load();
  } catch (e) {
    clear(body, errorNote(e));
  }
  ctx.live(load);
}
