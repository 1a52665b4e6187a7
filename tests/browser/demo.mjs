// Drives the demo page in headless Chromium (Debian's /usr/bin/chromium, via playwright-core):
// the page must show the assigned variant's content, and a click must send a conversion beacon.
// Usage: node tests/browser/demo.mjs DEMO_URL  — prints one JSON line {unit_id, variant, headline}.
import { launch } from "./chromium.mjs";

const url = process.argv[2];
const { browser, page } = await launch();
try {
  let beacons = 0;
  const seen = []; // requests and console lines, printed if the run fails
  page.on("request", (r) => { seen.push(r.method() + " " + r.url()); if (r.url().endsWith("/v1/events")) beacons += 1; });
  page.on("console", (m) => seen.push("console: " + m.text()));
  page.on("pageerror", (e) => seen.push("page error: " + e.message));
  await page.goto(url);
  await page.waitForSelector("body[data-variant]", { timeout: 15000 });
  const state = await page.evaluate(() => ({
    variant: document.body.dataset.variant,
    headline: document.getElementById("headline").textContent,
    cta: document.getElementById("cta").textContent,
    content: window.edgewise.content("hero-headline"),
    unit_id: JSON.parse(document.getElementById("assignment").textContent).unit_id,
  }));
  if (!state.content || state.headline !== state.content.headline || state.cta !== state.content.cta) {
    throw new Error("the page does not show the assigned content: " + JSON.stringify(state));
  }
  await page.click("#cta");
  await page.waitForFunction(() => document.getElementById("status").textContent.length > 0);
  // sendBeacon is fire-and-forget: wait until the browser has issued the request (the test then
  // checks that the conversion reached the control plane's results).
  for (let i = 0; i < 100 && beacons === 0; i++) await page.waitForTimeout(50);
  if (beacons === 0) throw new Error("no beacon was sent to /v1/events; saw:\n" + seen.join("\n"));
  console.log(JSON.stringify({ unit_id: state.unit_id, variant: state.variant, headline: state.headline }));
} finally {
  await browser.close();
}
