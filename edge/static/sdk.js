/* Edgewise browser snippet: assignments, exposures and conversions. No dependencies.
 *   <script src="https://EDGE/v1/sdk.js" async></script>
 *   edgewise.ready.then(function (a) { var c = edgewise.content("hero-headline"); ... });
 *   edgewise.convert("signup");  edgewise.convert("revenue", 49.5);
 * Options on the script tag: data-consent="0" (no cookie, no stored id), data-expose="manual"
 * (call edgewise.expose(test) yourself instead of on load), data-persona="P", data-unit="ID".
 * Events are batched and sent with navigator.sendBeacon (fetch keepalive as fallback) when the
 * batch fills, after 2 s, and when the page is hidden; nothing here blocks the page. */
(function (w, d) {
  var s = d.currentScript || {}, ds = s.dataset || {};
  var edge = ds.edge || (s.src ? new URL(s.src).origin : "");
  var consent = ds.consent !== "0", KEY = "edgewise_uid";
  var queue = [], timer = 0, decisions = {}, unit = ds.unit || "";
  try { unit = unit || (consent && w.localStorage.getItem(KEY)) || ""; } catch (e) {}

  function id() {
    return (w.crypto && crypto.randomUUID) ? crypto.randomUUID() : Date.now() + "-" + Math.random().toString(36).slice(2);
  }
  function flush() {
    clearTimeout(timer); timer = 0;
    if (!queue.length) return;
    var body = JSON.stringify({ events: queue.splice(0, 100) }), url = edge + "/v1/events";
    var sent = false;
    try { sent = navigator.sendBeacon && navigator.sendBeacon(url, body); } catch (e) {}
    if (!sent) fetch(url, { method: "POST", body: body, keepalive: true, credentials: "include",
      headers: { "content-type": "text/plain" } }).catch(function () {});
    if (queue.length) flush();
  }
  function push(ev) {
    ev.event_id = id(); ev.unit_id = unit; ev.ts = Date.now();
    queue.push(ev);
    if (queue.length >= 20) flush(); else if (!timer) timer = setTimeout(flush, 2000);
  }
  function expose(test) {
    var dn = decisions[test];
    if (dn && dn.counted && !dn.exposed) {
      dn.exposed = 1;
      push({ type: "exposure", test: test, variant: dn.variant });
    }
  }

  var q = "url=" + encodeURIComponent(location.href) + "&ref=" + encodeURIComponent(d.referrer) +
    "&local_hour=" + new Date().getHours() + (consent ? "" : "&consent=0") +
    (unit ? "&unit=" + encodeURIComponent(unit) : "") +
    (ds.persona ? "&persona=" + encodeURIComponent(ds.persona) : "") +
    // iPadOS Safari claims to be a Mac; touch tells them apart.
    (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1 ? "&device=tablet" : "");

  var api = w.edgewise = {
    decisions: decisions,
    expose: expose,
    variant: function (t) { return decisions[t] ? decisions[t].variant : null; },
    content: function (t) { return decisions[t] ? decisions[t].content : null; },
    convert: function (metric, value) {
      for (var t in decisions) if (decisions[t].counted)
        push({ type: "conversion", test: t, variant: decisions[t].variant, metric: metric, value: value });
    },
    flush: flush
  };
  // Inlined by the worker's proxy mode: the assignments are in the page already, and when the
  // worker logged the exposures at render the snippet must not log them again.
  var boot = w.__edgewise;
  api.ready = (boot ? Promise.resolve(boot.assign) : fetch(edge + "/v1/assign?" + q, { credentials: "include" })
    .then(function (r) { return r.json(); }))
    .then(function (a) {
      unit = a.unit_id || unit;
      try { if (consent && unit) w.localStorage.setItem(KEY, unit); } catch (e) {}
      (a.decisions || []).forEach(function (dn) { decisions[dn.test] = dn; if (boot && boot.exposed) dn.exposed = 1; });
      if (ds.expose !== "manual") for (var t in decisions) expose(t);
      return a;
    })
    .catch(function () { return { decisions: [] }; });

  d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") flush(); });
  w.addEventListener("pagehide", flush);
})(window, document);
