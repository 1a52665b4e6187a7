// Proxy mode in headless Chromium (Debian's /usr/bin/chromium, via playwright-core): a
// MutationObserver installed before the page is parsed records every change of the tested
// element; the page is opened through the worker, which rewrote it at the edge.
// Usage: node tests/browser/proxy.mjs PAGE_URL SELECTOR — prints one JSON line:
// {delivered, at_parse, at_load, final, changed_after_parse, exposure_beacons, beacons}.
import { launch } from "./chromium.mjs";

const [url, selector] = process.argv.slice(2);
const { browser, page } = await launch();
try {
  let beacons = 0, exposureBeacons = 0;
  page.on("request", (r) => {
    if (!r.url().includes("/v1/events")) return;
    beacons += 1;
    if ((r.postData() || "").includes("\"exposure\"")) exposureBeacons += 1;
  });
  // Runs when the document is created, before a byte of it is parsed.
  await page.addInitScript((sel) => {
    window.__watch = { at_parse: null, changed_after_parse: 0 };
    new MutationObserver((records) => {
      const el = document.querySelector(sel);
      if (!el) return;
      if (window.__watch.at_parse === null) {
        // The element as the parser built it; from the next element on, it is complete.
        if (el.nextElementSibling || document.readyState !== "loading") window.__watch.at_parse = el.textContent;
        return;
      }
      for (const r of records) {
        if (el === r.target || el.contains(r.target)) window.__watch.changed_after_parse += 1;
      }
    }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  }, selector);
  const response = await page.goto(url, { waitUntil: "load" });
  const delivered = await response.text();
  const at_load = await page.evaluate((sel) => document.querySelector(sel).textContent, selector);
  await page.waitForTimeout(1000);
  await page.evaluate(() => window.edgewise && window.edgewise.flush && window.edgewise.flush());
  await page.waitForTimeout(500);
  const state = await page.evaluate((sel) => ({
    final: document.querySelector(sel).textContent,
    at_parse: window.__watch.at_parse,
    changed_after_parse: window.__watch.changed_after_parse,
  }), selector);
  console.log(JSON.stringify({ delivered, at_load, ...state, exposure_beacons: exposureBeacons, beacons }));
} finally {
  await browser.close();
}
