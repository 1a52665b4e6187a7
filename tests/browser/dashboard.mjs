// The dashboard in headless Chromium, driven by tests/tests/dashboard.rs. The Rust side starts
// the control plane and the worker, and answers this script's requests (one JSON line each on
// stdout, answered by one line on stdin): drive traffic, check what the edge serves. Every
// failed expectation throws; the last stdout line is {"done": {...}} with what Rust compares.
//
// Usage: node tests/browser/dashboard.mjs CONFIG_JSON
//   {base, admin, viewer, xss_key, shots}
import readline from "node:readline";
import fs from "node:fs";
import path from "node:path";
import { launch } from "./chromium.mjs";

const cfg = JSON.parse(process.argv[2]);
const base = cfg.base;
const KEY = "dash-headline";
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const done = {};
const log = (...a) => console.error("[dashboard]", ...a);

async function ask(need) {
  process.stdout.write(JSON.stringify(need) + "\n");
  const { value } = await lines.next();
  const answer = JSON.parse(value);
  if (answer.error) throw new Error(need.need + ": " + answer.error);
  return answer;
}

function expect(cond, what) {
  if (!cond) throw new Error("expected: " + what);
  log("ok:", what);
}

async function text(page, sel) {
  return (await page.locator(sel).first().textContent()) || "";
}

async function signIn(page, token, next) {
  await page.goto(base + "/signin" + (next ? "?next=" + encodeURIComponent(next) : ""));
  await page.fill("#token", token);
  await page.click("form button[type=submit]");
  await page.waitForURL(base + (next || "/"));
  await page.waitForSelector("#role:not(:empty)");
}

async function shot(page, name) {
  if (!cfg.shots) return;
  fs.mkdirSync(cfg.shots, { recursive: true });
  await page.screenshot({ path: path.join(cfg.shots, name + ".png") });
}

const { browser, page } = await launch();
const errors = [];
page.on("pageerror", (e) => errors.push(e.message));
page.on("dialog", (d) => { errors.push("dialog: " + d.message()); d.dismiss(); });
try {
  await page.setViewportSize({ width: 1280, height: 800 });

  // 1. Without a session: every page redirects to the sign-in page, the stream is refused.
  for (const p of ["/", "/tests/new", "/tests/" + KEY, "/tests/" + KEY + "/edit", "/insights", "/alerts", "/audit", "/system", "/reports"]) {
    await page.goto(base + p);
    const u = new URL(page.url());
    expect(u.pathname === "/signin" && u.searchParams.get("next") === p, `signed out, ${p} redirects to /signin?next=${p} (got ${page.url()})`);
  }
  const streamStatus = await page.evaluate(async () => (await fetch("/api/v1/stream")).status);
  done.stream_signed_out = streamStatus;
  expect(streamStatus === 401, "signed out, /api/v1/stream answers 401 (got " + streamStatus + ")");

  // 2. Sign-in: a wrong token is refused on the page; the right one goes on to `next`.
  await page.goto(base + "/signin?next=/tests/new");
  await page.fill("#token", "ew_not_a_token");
  await page.click("form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("signin-error").textContent.length > 0);
  expect((await text(page, "#signin-error")).includes("not valid"), "a wrong token shows an error next to the field");
  await page.fill("#token", cfg.admin);
  await page.click("form button[type=submit]");
  await page.waitForURL(base + "/tests/new");
  await page.waitForSelector("#role:not(:empty)");
  expect((await text(page, "#role")) === "admin", "signed in: the role is shown (admin)");

  // Keyboard: on a fresh page the first Tab lands on the skip link, and it is shown.
  await page.goto(base + "/");
  await page.waitForSelector("#tests-list table, #tests-list .note");
  await page.keyboard.press("Tab");
  expect(await page.evaluate(() => document.activeElement.classList.contains("skip") &&
    document.activeElement.getBoundingClientRect().left >= 0), "the first Tab focuses the visible skip link");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement.id === "main", null, { timeout: 5000 })
    .catch(() => null);
  expect(await page.evaluate(() => document.activeElement.id === "main"), "and Enter moves focus to the content");
  await page.goto(base + "/tests/new");

  // 3. Create from a template: risk and power appear and follow the form; errors sit by their fields.
  await page.waitForSelector("#f-template");
  await page.selectOption("#f-template", "headline");
  // Nothing runs yet, so there is no observed baseline: the plan's 422 shows by the field.
  await page.waitForFunction(() => (document.getElementById("f-baseline-err").textContent +
    document.getElementById("f-daily-err").textContent).length > 0);
  expect(true, "with no running test to observe, the plan's 422 shows next to the field: " +
    (await text(page, "#f-baseline-err")) + (await text(page, "#f-daily-err")));
  await page.fill("#f-baseline", "8");
  await page.fill("#f-daily", "5000");
  await page.waitForSelector("#risk-score");
  const risk100 = Number(await text(page, "#risk-score"));
  expect(risk100 > 0 && risk100 <= 100, "the risk score appears (" + risk100 + ")");
  const days100 = await text(page, "#expected-days");
  await page.fill("#f-coverage", "50");
  await page.waitForFunction((r) => document.getElementById("risk-score") && Number(document.getElementById("risk-score").textContent) !== r, risk100);
  const risk50 = Number(await text(page, "#risk-score"));
  expect(risk50 < risk100, `halving the coverage lowers the risk score (${risk100} -> ${risk50})`);
  expect((await text(page, "#expected-days")) !== days100, "and changes the expected duration");
  await page.fill("#f-key", "bad key");
  await page.waitForFunction(() => document.getElementById("f-key-err").textContent.length > 0);
  expect((await page.getAttribute("#f-key", "aria-invalid")) === "true", "a key with a space is marked invalid: " + await text(page, "#f-key-err"));
  await page.fill("#f-mde", "-100");
  await page.waitForFunction(() => document.getElementById("f-mde-err").textContent.length > 0);
  expect((await text(page, "#f-mde-err")).length > 0, "the server's 422 on mde shows next to the field: " + await text(page, "#f-mde-err"));
  await page.fill("#f-mde", "10");
  await page.fill("#f-key", KEY);
  await page.fill("#f-description", "Dashboard headline test");
  await page.waitForFunction(() => document.getElementById("f-mde-err").textContent === "" && document.getElementById("f-key-err").textContent === "");
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "create");
  await page.fill("#v0-c-headline", "Ship experiments at the edge");
  await page.fill("#v1-c-headline", "Know what works in a week");
  await page.fill("#v1-c-subheadline", "");
  await page.click("#test-form button[type=submit]");
  await page.waitForURL(base + "/tests/" + KEY);
  await page.waitForSelector("[data-action=start]");
  expect((await text(page, "h1")).includes("draft"), "created as a draft, shown on its page");

  // 4. Start it from the page; the edge serves it.
  const nav0 = await page.evaluate(() => { window.__noReload = "same page"; return performance.getEntriesByType("navigation").length; });
  await page.click("[data-action=start]");
  await page.waitForSelector("[data-action=pause]");
  expect((await text(page, "h1")).includes("running"), "started from the page");
  await ask({ need: "edge_serves", key: KEY });

  // 5. Traffic: the table and the chart change by themselves.
  await page.waitForSelector("#variant-table table");
  const before = {
    units: await page.locator("#variant-table tbody tr").evaluateAll((rs) => rs.map((r) => r.querySelector('[data-col="units"]').textContent)),
    chart: await page.getAttribute("#chart svg.chart", "data-latest"),
  };
  const sim = await ask({ need: "traffic", key: KEY });
  const settled = Date.now();
  // Within 2 s of the last aggregate (polling's period; the stream is faster), plus slack for a
  // busy machine: the table shows the API's final units and the chart has moved.
  await page.waitForFunction(([b, want]) => {
    const rows = [...document.querySelectorAll("#variant-table tbody tr")];
    const chart = document.querySelector("#chart svg.chart");
    return rows.length > 0 && rows.every((r) => r.querySelector("[data-col=units]").textContent.replace(/,/g, "") === String(want[r.dataset.variant])) &&
      chart && chart.getAttribute("data-latest") !== b.chart;
  }, [before, sim.units], { timeout: 4000 });
  done.update_ms = Date.now() - settled;
  done.live_mode = await page.evaluate(() => document.documentElement.dataset.live);
  const after = await page.evaluate(() => ({
    marker: window.__noReload,
    navigations: performance.getEntriesByType("navigation").length,
    nav_type: performance.getEntriesByType("navigation")[0].type,
    rows: [...document.querySelectorAll("#variant-table tbody tr")].map((r) => ({
      variant: r.dataset.variant,
      units: r.querySelector("[data-col=units]").textContent.replace(/,/g, ""),
      count: r.querySelector("[data-col=count]").textContent.replace(/,/g, ""),
    })),
    chart: document.querySelector("#chart svg.chart").getAttribute("data-latest"),
  }));
  expect(after.marker === "same page" && after.navigations === nav0 && after.nav_type === "navigate",
    `the table (${JSON.stringify(before.units)} -> ${JSON.stringify(after.rows.map((r) => r.units))}) and the chart changed without a reload, ${done.update_ms} ms after the simulator settled (${done.live_mode})`);
  // The device × persona cells add up to each variant's units.
  await page.waitForSelector("#breakdown tr[data-cell]");
  const crossed = await page.evaluate(() => {
    const table = document.querySelector("#breakdown tr[data-cell]").closest("table");
    const variants = [...table.querySelectorAll("thead th")].slice(2).map((th) => th.textContent.split(":")[0]);
    const sums = Object.fromEntries(variants.map((v) => [v, 0]));
    for (const tr of table.querySelectorAll("tr[data-cell]")) {
      [...tr.querySelectorAll("td.num")].forEach((td, i) => { sums[variants[i]] += Number(td.textContent.split(" ")[0].replace(/,/g, "")); });
    }
    return { cells: table.querySelectorAll("tr[data-cell]").length, sums };
  });
  expect(crossed.cells > 1 && after.rows.every((r) => String(crossed.sums[r.variant]) === r.units),
    `the device × persona table's ${crossed.cells} cells add up to each variant's units (${JSON.stringify(crossed.sums)})`);
  done.table = after.rows;
  done.sim_sent = sim.sent;
  await shot(page, "test");

  // 6. CSV export: downloaded from the page's link, compared with the API's numbers by Rust.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
  done.csv = fs.readFileSync(await download.path(), "utf8");
  expect(done.csv.length > 0, "the CSV export downloads (" + done.csv.length + " bytes)");

  // 7. Pause from the page: the edge stops assigning it; resume: it assigns it again.
  await page.click("[data-action=pause]");
  await page.waitForSelector("[data-action=resume]");
  expect((await text(page, "h1")).includes("paused"), "paused from the page");
  await ask({ need: "edge_stops", key: KEY });
  // Resumed from the page: the edge assigns it again.
  await page.click("[data-action=resume]");
  await page.waitForSelector("[data-action=pause]");
  expect((await text(page, "h1")).includes("running"), "resumed from the page");
  await ask({ need: "edge_serves", key: KEY });

  // 8. XSS: the hostile name and content show as text and run nothing.
  await page.goto(base + "/tests/" + cfg.xss_key);
  await page.waitForSelector("#test-name");
  const xss = await page.evaluate(() => ({
    flag: window.__xss,
    name: document.getElementById("test-name").textContent,
    content: document.getElementById("variants").textContent,
    imgs: document.querySelectorAll("main img").length,
    scripts: document.querySelectorAll("main script").length,
  }));
  expect(xss.flag === undefined && xss.imgs === 0 && xss.scripts === 0, "no injected script ran and no element was made from data");
  expect(xss.name === "<script>window.__xss=1</script>" && await page.isVisible("#test-name"), "the test's name shows as text: " + xss.name);
  expect(xss.content.includes('"><img src=x onerror=\\"window.__xss=1\\">'), "the variant content shows as text");
  await page.goto(base + "/?q=xss");
  await page.waitForSelector(`tr[data-key="${cfg.xss_key}"]`);
  expect(await page.evaluate(() => window.__xss === undefined && document.querySelectorAll("main img").length === 0) &&
    (await text(page, `tr[data-key="${cfg.xss_key}"] .desc`)) === "<script>window.__xss=1</script>", "and as text in the list");

  // 9. Screens: the list, system health; a phone width without sideways scrolling.
  await page.goto(base + "/");
  await page.waitForSelector(`tr[data-key="${KEY}"]`);
  await page.waitForFunction((k) => !document.querySelector(`tr[data-key="${k}"] td:nth-child(5)`).textContent.includes("…"), KEY);
  await shot(page, "tests");
  await page.goto(base + "/system");
  await page.waitForSelector("#system-health[data-state]");
  done.system = await page.getAttribute("#system-health", "data-state");
  expect(done.system === "ok", "system health shows /api/v1/system");
  await shot(page, "system");

  // The other pages, signed in as the admin: each draws its data without a page error.
  await page.goto(base + "/audit");
  await page.waitForSelector("#audit-verdict [data-ok]");
  expect((await page.getAttribute("#audit-verdict [data-ok]", "data-ok")) === "true" &&
    (await page.locator("#audit-list tbody tr").count()) > 0, "the audit page verifies the chain and lists entries: " + await text(page, "#audit-verdict"));
  await page.goto(base + "/alerts");
  await page.waitForSelector("main h1");
  await page.waitForFunction(() => !document.querySelector("main").textContent.includes("Loading"));
  expect(true, "the alerts page loads: " + (await text(page, "main")).slice(0, 80));
  await page.goto(base + "/insights");
  await page.waitForSelector("main h1");
  await page.waitForFunction(() => !document.querySelector("main").textContent.includes("Loading"));
  expect(true, "the insights page loads: " + (await text(page, "main")).slice(0, 80));
  await page.goto(base + "/tests/" + KEY + "/edit");
  await page.waitForSelector("#test-form");
  expect((await page.inputValue("#f-description")) === "Dashboard headline test", "the edit page shows the test as stored");
  await page.goto(base + "/reports");
  await page.waitForSelector("#report-form");
  await page.fill("#r-name", "Headline tests");
  await page.fill("#r-search", "dash");
  await page.check("#r-seg-device");
  await page.click("#report-form button[type=submit]");
  await page.waitForSelector("#reports-list li[data-report]");
  await page.click("#reports-list li[data-report] button:has-text('Run')");
  await page.waitForSelector("#report-run table");
  const reportRows = await page.locator("#report-run tbody tr").allTextContents();
  expect(reportRows.length > 0 && reportRows.every((r) => r.includes(KEY)), `a saved report made on the page runs: ${reportRows.length} rows, all of ${KEY}`);
  await page.setViewportSize({ width: 375, height: 800 });
  for (const p of ["/", "/tests/" + KEY, "/tests/new", "/system"]) {
    await page.goto(base + p);
    await page.waitForSelector("main h1");
    await page.waitForTimeout(300);
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(w <= 375, `${p} fits a 375 px screen (page width ${w}; wide tables scroll inside their box)`);
  }

  // 10. A viewer: no change buttons; the API refuses a change made with the viewer's session.
  const viewerCtx = await browser.newContext();
  const vpage = await viewerCtx.newPage();
  vpage.on("pageerror", (e) => errors.push(e.message));
  await signIn(vpage, cfg.viewer, "/tests/" + KEY);
  await vpage.waitForSelector("#actions");
  await vpage.waitForSelector("#variant-table table");
  expect((await text(vpage, "#role")) === "viewer", "the viewer's role is shown");
  expect(await vpage.locator("#actions button, #actions a, [data-action], button:has-text('Acknowledge')").count() === 0,
    "a viewer's test page offers no change buttons");
  expect(await vpage.locator("#nav a[href='/audit']").isHidden(), "nor the admin-only audit page");
  const refused = await vpage.evaluate(async (k) => {
    const s = await (await fetch("/api/v1/session")).json();
    const r = await fetch(`/api/v1/tests/${k}/resume`, { method: "POST", headers: { "X-CSRF-Token": s.csrf } });
    return r.status;
  }, KEY);
  expect(refused === 403, "the API refuses the viewer's change with 403 (got " + refused + ")");
  await viewerCtx.close();

  // 11. Sign out: back to the sign-in page, and pages redirect again.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(base + "/");
  await page.click("#signout");
  await page.waitForURL(/\/signin/);
  await page.goto(base + "/alerts");
  expect(new URL(page.url()).pathname === "/signin", "signed out: pages redirect to /signin again");

  expect(errors.length === 0, "no page errors or dialogs: " + errors.join("; "));
  process.stdout.write(JSON.stringify({ done }) + "\n");
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
  // stdin stays open (the Rust side may still hold it): leave without waiting for it.
  process.exit(process.exitCode ?? 0);
}
