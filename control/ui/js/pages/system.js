// System health: GET /api/v1/system (ingestion rate and lag, publish state and the edge's
// snapshot version, database size, the monitor's last tick, webhook failures), with the publish
// state and the monitor's own summary beside it. Refreshed live.

import { get, maybe } from "../api.js";
import { h, clear, note, errorNote, when, table, section, tree, num } from "../dom.js";

const mib = (b) => (b === null || b === undefined ? "–" : num(b / 1048576, 1) + " MiB");
const ago = (at, t) => (t ? num((at - t) / 1000, 0) + " s ago" : "never");

// The headline figures as tiles; the whole answer below them for anything else it holds.
function overview(s) {
  const i = s.ingestion || {};
  const p = s.publish || {};
  const d = s.database || {};
  const m = s.monitor || {};
  const w = s.webhooks || {};
  const lagging = (p.targets || []).some((t) => t.state !== "published" || t.version !== p.latest_version);
  const tile = (title, value, sub, bad) => h("div", { class: "tile" + (bad ? " bad" : "") }, h("h3", {}, title),
    h("p", { class: "big" }, value), sub ? h("p", { class: "help" }, sub) : null);
  return h("div", {},
    h("div", { class: "tiles" },
      tile("Ingestion", num(i.events_last_minute) + " events/min", num(i.events_last_hour) + " in the last hour · lag " +
        (i.lag_ms === null || i.lag_ms === undefined ? "–" : num(i.lag_ms / 1000, 1) + " s")),
      tile("Publishing", "version " + (p.latest_version ?? "none"), lagging ? "an edge is behind or retrying" : "every edge has it", lagging),
      tile("Database", mib(d.bytes), d.engine || ""),
      tile("Monitor", ago(s.at, m.last_tick), (m.leader ? "this replica leads" : "another replica leads") + " · every " + m.interval_secs + " s"),
      tile("Webhooks", num(w.failed_deliveries) + " failed deliveries", num(w.failed_attempts_last_day) + " failed attempts in 24 h", w.failed_deliveries > 0)),
    h("details", {}, h("summary", {}, "Everything reported"), tree(s)));
}

export async function render(ctx) {
  const sys = h("div", { id: "system-health" }, note("Loading…"));
  const pub = h("div", { id: "publish" });
  const mon = h("div", { id: "monitor" });
  clear(ctx.main, h("h1", {}, "System health"), section("Overview", "overview", sys),
    h("div", { class: "grid2" }, section("Publishing", "publishing", pub), section("Monitor", "monitor-h", mon)));

  async function load() {
    const [s, p, m] = await Promise.all([
      get("/api/v1/system").catch((e) => ({ __error: e })),
      maybe("/api/v1/publish").catch(() => null),
      maybe("/api/v1/monitor").catch(() => null),
    ]);
    if (!ctx.current()) return;
    clear(sys, s.__error ? errorNote(s.__error) : overview(s));
    sys.dataset.state = s.__error ? "error" : "ok";
    clear(pub, !p ? note("No publish state.") : h("div", {},
      h("p", {}, "Latest snapshot version: ", h("strong", {}, p.latest_version === null ? "none" : String(p.latest_version))),
      !(p.targets || []).length ? note("No edge targets.") : table(["Edge", "Version", "State", "Attempts", "Last error", "Updated"],
        p.targets.map((t) => h("tr", {}, h("td", {}, t.target), h("td", { class: "num" }, String(t.version)),
          h("td", {}, t.state), h("td", { class: "num" }, String(t.attempts)), h("td", {}, t.last_error || "–"), h("td", {}, when(t.updated_at)))))));
    clear(mon, !m ? note("No monitor state.") : h("dl", { class: "tree" },
      h("dt", {}, "This replica leads"), h("dd", {}, m.leader ? "yes" : "no"),
      h("dt", {}, "Last tick"), h("dd", {}, when(m.last_tick)),
      h("dt", {}, "Interval"), h("dd", {}, m.interval_secs + " s"),
      h("dt", {}, "Tests evaluated"), h("dd", {}, String((m.tests || []).length))));
  }
  try {
    await load();
  } catch (e) {
    clear(sys, errorNote(e));
  }
  // Counting the last hour's events reads that hour's index range: every 5 s is plenty.
  ctx.live(load, null, 5000);
}
