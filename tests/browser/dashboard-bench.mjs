// First loads of the dashboard, for BENCHMARKS.md (run by the ignored test in
// tests/tests/dashboard.rs). Each load is a fresh browser context (empty cache) with a session:
// bytes = the sum of every response's headers and body as transferred (playwright's sizes())
// until the network is idle; time = navigation start to the page's table being in the DOM.
// Usage: node tests/browser/dashboard-bench.mjs BASE TOKEN PATH SELECTOR [LOADS]
import { launch } from "./chromium.mjs";

const [base, token, path, selector, loadsArg] = process.argv.slice(2);
const loads = Number(loadsArg || 5);
const { browser } = await launch();
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const runs = [];
  for (let i = 0; i < loads; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const r = await ctx.request.post(base + "/api/v1/session", { data: { token } });
    if (!r.ok()) throw new Error("sign-in: " + r.status());
    await ctx.addInitScript((sel) => {
      new MutationObserver((_, o) => {
        if (document.querySelector(sel)) {
          window.__rendered = performance.now();
          o.disconnect();
        }
      }).observe(document, { childList: true, subtree: true });
    }, selector);
    const page = await ctx.newPage();
    const sizes = [];
    page.on("requestfinished", (req) => sizes.push(req.sizes().then((s) => s.responseHeadersSize + s.responseBodySize)));
    await page.goto(base + path);
    await page.waitForSelector(selector);
    await page.waitForLoadState("networkidle");
    const ms = await page.evaluate(() => window.__rendered);
    const bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
    runs.push({ ms: Math.round(ms), bytes, requests: sizes.length });
    await ctx.close();
  }
  console.log(JSON.stringify({ path, runs, median_ms: median(runs.map((r) => r.ms)), median_bytes: median(runs.map((r) => r.bytes)) }));
} finally {
  await browser.close();
}
