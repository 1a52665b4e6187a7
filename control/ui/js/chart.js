// Two small SVG charts drawn by hand (docs/dashboard.md says why no library): the cumulative
// lift of each variant with its 95% interval as a band, over time; and a bandit's traffic
// allocation over time as stacked steps. Both scale with their container (viewBox) and carry a
// text summary for screen readers.

import { svg, h, PALETTE, signedPct, pct, when } from "./dom.js";

const W = 640;
const H = 240;
const M = { l: 56, r: 12, t: 12, b: 28 };

function ticks(lo, hi, n) {
  const span = hi - lo || 1;
  const step0 = span / n;
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= step0) || mag * 10;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function time(ms) {
  const d = new Date(ms);
  return String(d.getUTCHours()).padStart(2, "0") + ":" + String(d.getUTCMinutes()).padStart(2, "0");
}

function frame(label, summary) {
  const id = "c" + Math.random().toString(36).slice(2, 8);
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": id + "-t " + id + "-d" },
    svg("title", { id: id + "-t" }, label), svg("desc", { id: id + "-d" }, summary));
}

export function legend(names, offset = 0) {
  return h("ul", { class: "legend" }, names.map((n, i) => {
    const sw = h("span", { class: "swatch", "aria-hidden": "true" });
    sw.style.background = PALETTE[(i + offset) % PALETTE.length];
    return h("li", {}, sw, n);
  }));
}

// `history`: GET /api/v1/tests/{key}/history; `variants`: the test's variant keys (control first).
export function liftChart(history, variants) {
  const points = (history && history.points) || [];
  const series = variants.slice(1).map((v) => ({
    v,
    color: PALETTE[variants.indexOf(v) % PALETTE.length],
    pts: points.map((p) => {
      const c = (p.comparisons || []).find((x) => x.variant === v);
      return c && Number.isFinite(c.lift) ? { at: p.at, lift: c.lift, ci: Array.isArray(c.ci) ? c.ci : null } : null;
    }).filter(Boolean),
  }));
  const all = series.flatMap((s) => s.pts);
  const last = series.map((s) => s.pts.length ? s.v + " " + signedPct(s.pts[s.pts.length - 1].lift) + " [" +
    (s.pts[s.pts.length - 1].ci || []).map((x) => signedPct(x)).join(", ") + "]" : s.v + ": no data").join("; ");
  const el = frame("Cumulative lift over time, with 95% intervals", all.length ? "Latest: " + last : "No lift yet");
  el.setAttribute("data-points", String(all.length));
  el.setAttribute("data-latest", last);
  if (!all.length) {
    el.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "No data yet"));
    return el;
  }
  let x0 = Math.min(...all.map((p) => p.at));
  let x1 = Math.max(...all.map((p) => p.at));
  if (x1 - x0 < 60000) { x0 -= 60000; x1 += 60000; }
  let y0 = Math.min(0, ...all.map((p) => (p.ci ? p.ci[0] : p.lift)));
  let y1 = Math.max(0, ...all.map((p) => (p.ci ? p.ci[1] : p.lift)));
  if (y1 - y0 < 0.02) { y0 -= 0.01; y1 += 0.01; }
  const X = (t) => M.l + ((t - x0) / (x1 - x0)) * (W - M.l - M.r);
  const Y = (v) => M.t + (1 - (v - y0) / (y1 - y0)) * (H - M.t - M.b);
  for (const v of ticks(y0, y1, 4)) {
    el.appendChild(svg("line", { x1: M.l, x2: W - M.r, y1: Y(v), y2: Y(v), class: v === 0 ? "zero" : "grid" }));
    el.appendChild(svg("text", { x: M.l - 6, y: Y(v) + 4, "text-anchor": "end", class: "axis" }, signedPct(v, 0)));
  }
  for (const t of [x0, (x0 + x1) / 2, x1]) {
    el.appendChild(svg("text", { x: X(t), y: H - 8, "text-anchor": "middle", class: "axis" }, time(t)));
  }
  for (const s of series) {
    const banded = s.pts.filter((p) => p.ci);
    if (banded.length > 1) {
      const up = banded.map((p) => X(p.at) + "," + Y(p.ci[1]));
      const down = banded.slice().reverse().map((p) => X(p.at) + "," + Y(p.ci[0]));
      el.appendChild(svg("polygon", { points: up.concat(down).join(" "), fill: s.color, "fill-opacity": "0.18", class: "band" }));
    }
    for (const p of banded.length === 1 ? banded : []) {
      el.appendChild(svg("line", { x1: X(p.at), x2: X(p.at), y1: Y(p.ci[0]), y2: Y(p.ci[1]), stroke: s.color, "stroke-width": 3, "stroke-opacity": "0.4" }));
    }
    if (s.pts.length > 1) {
      el.appendChild(svg("polyline", { points: s.pts.map((p) => X(p.at) + "," + Y(p.lift)).join(" "), fill: "none", stroke: s.color, "stroke-width": 2, class: "line" }));
    }
    for (const p of s.pts) {
      el.appendChild(svg("circle", { cx: X(p.at), cy: Y(p.lift), r: 3, fill: s.color },
        svg("title", {}, s.v + " at " + when(p.at) + ": " + signedPct(p.lift) + (p.ci ? " [" + p.ci.map((x) => signedPct(x)).join(", ") + "]" : ""))));
    }
  }
  return el;
}

// `bandit`: GET /api/v1/tests/{key}/bandit (its periods: when each set of weights started).
export function allocationChart(bandit, variants, now = Date.now()) {
  const periods = (bandit && bandit.periods) || [];
  const latest = periods.length ? periods[periods.length - 1] : null;
  const summary = latest ? "Current weights: " + variants.map((v, i) => v + " " + pct(latest.weights[i])).join(", ") : "No allocation yet";
  const el = frame("Traffic allocation over time", summary);
  el.setAttribute("data-periods", String(periods.length));
  if (!periods.length) return el;
  const x0 = periods[0].started_at;
  const x1 = Math.max(now, latest.started_at + 60000);
  const X = (t) => M.l + ((t - x0) / (x1 - x0)) * (W - M.l - M.r);
  const Y = (v) => M.t + (1 - v) * (H - M.t - M.b);
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    el.appendChild(svg("line", { x1: M.l, x2: W - M.r, y1: Y(v), y2: Y(v), class: "grid" }));
    el.appendChild(svg("text", { x: M.l - 6, y: Y(v) + 4, "text-anchor": "end", class: "axis" }, pct(v, 0)));
  }
  for (const t of [x0, x1]) el.appendChild(svg("text", { x: X(t), y: H - 8, "text-anchor": t === x0 ? "start" : "end", class: "axis" }, time(t)));
  periods.forEach((p, i) => {
    const a = X(p.started_at);
    const b = X(i + 1 < periods.length ? periods[i + 1].started_at : x1);
    const total = p.weights.reduce((s, w) => s + w, 0) || 1;
    let acc = 0;
    p.weights.forEach((w, j) => {
      const top = acc + w / total;
      el.appendChild(svg("rect", { x: a, width: Math.max(0.5, b - a), y: Y(top), height: Math.max(0, Y(acc) - Y(top)), fill: PALETTE[j % PALETTE.length] },
        svg("title", {}, variants[j] + " from " + when(p.started_at) + ": " + pct(w / total))));
      acc = top;
    });
  });
  return el;
}
