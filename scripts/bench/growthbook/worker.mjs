// The GrowthBook comparison worker for `scripts/bench-edge --growthbook`: the official
// @growthbook/growthbook SDK (pinned in package.json) deciding, per request, every feature of a
// payload that convert.mjs made from the same generated snapshot our worker serves, and
// answering JSON with every decision, like our GET /v1/assign. Bundled for workerd by esbuild;
// `payload.json` is a JSON module beside it.
//
// The visitor's attributes come from the request as ours do: the unit id from `?unit=`, else
// the `edgewise_uid` cookie, else a fresh `crypto.randomUUID()` set as that cookie; the device
// class from the User-Agent (our marker lists, ported); the page URL (`?url=`, else Referer) for
// `url`, `path`, the UTM parameters and `query.*`; `?ref=` for `referrer_host`; `?local_hour=`;
// `attr.NAME`; `request.cf.country`; the persona from `?persona=`, the X-Edgewise-Persona
// header or the edgewise_persona cookie, else the first persona rule that matches.
import { GrowthBookClient, evalCondition } from "@growthbook/growthbook";
import payload from "./payload.json";

const client = new GrowthBookClient().initSync({ payload: { features: payload.features } });
const keys = Object.keys(payload.features);

const BOT = ["crawl", "spider", "slurp", "+http", "headless", "lighthouse", "phantomjs",
  "googleother", "google-", "-google", "facebookexternalhit", "facebookcatalog",
  "meta-external", "chatgpt-user", "perplexity-user", "claude-", "preview", "embedly",
  "iframely", "pingdom", "monitor", "synthetics", "archive.org"];
const TABLET = ["ipad", "tablet", "kindle", "silk/"];
const MOBILE = ["mobi", "iphone", "ipod", "opera mini"];
const TV = ["crkey", "androidtv", "android tv", "googletv", "google tv", "smart-tv", "smarttv",
  "bravia", "hbbtv"];

function device(userAgent) {
  const ua = (userAgent || "").trim().toLowerCase();
  const has = (list) => list.some((m) => ua.includes(m));
  if (!(ua.startsWith("mozilla/") || ua.startsWith("opera")) || /(^|[^u]|[^c]u)bot/.test(ua) || has(BOT)) {
    return "bot";
  }
  if (has(TABLET)) return "tablet";
  if (has(MOBILE)) return "mobile";
  if (ua.includes("android")) return has(TV) ? "desktop" : "tablet";
  return "desktop";
}

function cookie(header, name) {
  for (const pair of (header || "").split(";")) {
    const i = pair.indexOf("=");
    if (i > 0 && pair.slice(0, i).trim() === name) return pair.slice(i + 1).trim();
  }
  return undefined;
}

function attributes(request, url) {
  const q = url.searchParams;
  const attrs = {};
  for (const [k, v] of q) if (k.startsWith("attr.")) attrs[k.slice(5)] = v;
  const page = q.get("url") || request.headers.get("referer");
  if (page) {
    try {
      const u = new URL(page);
      attrs.url = page;
      attrs.path = u.pathname;
      attrs.query = Object.fromEntries(u.searchParams);
      for (const k of ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"]) {
        if (u.searchParams.has(k)) attrs[k] = u.searchParams.get(k);
      }
    } catch {}
  }
  const ref = q.get("ref");
  if (ref) {
    attrs.referrer = ref;
    try { attrs.referrer_host = new URL(ref).hostname; } catch {}
  }
  const hour = Number.parseInt(q.get("local_hour"), 10);
  if (hour >= 0 && hour < 24) attrs.local_hour = hour;
  if (request.cf?.country) attrs.country = request.cf.country;
  attrs.device = device(request.headers.get("user-agent"));
  return attrs;
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const headers = { "content-type": "application/json", "cache-control": "private, no-store" };
    const cookies = request.headers.get("cookie");
    let id = url.searchParams.get("unit") || cookie(cookies, "edgewise_uid");
    if (!id) {
      id = crypto.randomUUID();
      headers["set-cookie"] = `edgewise_uid=${id}; Max-Age=31536000; Path=/; Secure; HttpOnly; SameSite=Lax`;
    }
    const attrs = attributes(request, url);
    attrs.id = id;
    attrs.persona = url.searchParams.get("persona") || request.headers.get("x-edgewise-persona")
      || cookie(cookies, "edgewise_persona")
      || payload.personas.find((p) => evalCondition(attrs, p.condition))?.key
      || null;
    const user = { attributes: attrs };
    const decisions = keys.map((key) => {
      const r = client.evalFeature(key, user);
      const e = r.experimentResult;
      return {
        test: key,
        variant: e && e.inExperiment ? e.key : null,
        bucket: e ? e.bucket : null,
        in_experiment: !!(e && e.inExperiment),
        source: r.source,
        content: r.value,
      };
    });
    const body = JSON.stringify({ unit_id: id, device: attrs.device, persona: attrs.persona, decisions });
    return new Response(body, { headers });
  },
};
