// Four eyes, a bandit's allocation and a stop with a winner in the dashboard, in headless Chromium; driven by
// tests/tests/dashboard_review.rs, which sets everything up first. Every failed expectation
// throws; the last stdout line is what the page showed, for Rust to compare with the API.
//
// Usage: node tests/browser/dashboard-review.mjs '{"base": URL, "admin": TOKEN}'
import { launch } from "./chromium.mjs";

const { base, admin } = JSON.parse(process.argv[2]);
const log = (...a) => console.error("[review]", ...a);
const seen = {};

function expect(cond, what) {
  if (!cond) throw new Error("expected: " + what);
  log("ok:", what);
}

const { browser, page } = await launch();
const errors = [];
page.on("pageerror", (e) => errors.push(e.message));
page.on("dialog", (d) => { errors.push("dialog: " + d.message()); d.dismiss(); });
try {
  await page.goto(base + "/signin?next=" + encodeURIComponent("/tests/review-theirs"));
  await page.fill("#token", admin);
  await page.click("form button[type=submit]");
  await page.waitForURL(base + "/tests/review-theirs");

  // An editor's draft: the admin may approve it, and then start it.
  await page.waitForSelector("#approvals [data-action=approve]");
  expect((await page.locator("#approvals").textContent()).includes("not yet satisfied"), "the approval is not yet satisfied");
  await page.click("#approvals [data-action=approve]");
  await page.waitForFunction(() => document.getElementById("approvals").textContent.includes("Approved by"));
  expect((await page.locator("#approvals").textContent()).includes("· satisfied"), "after approving on the page, the approval is satisfied");
  await page.click("[data-action=start]");
  await page.waitForSelector("[data-action=pause]");
  expect(true, "started from the page once approved");

  // The admin's own draft: no approval offered, and the page says why.
  await page.goto(base + "/tests/review-mine");
  await page.waitForFunction(() => document.getElementById("approvals")?.textContent.includes("Risk score"));
  seen.mine_buttons = await page.locator("#approvals [data-action=approve], #approvals [data-action=reject]").count();
  expect(seen.mine_buttons === 0, "no approve or reject button on a test the admin wrote");
  expect((await page.locator("#approvals").textContent()).includes("another approver"), "the page says another approver decides");

  // The bandit: its allocation chart, one bar per arm and period, and the latest weights.
  await page.goto(base + "/tests/review-bandit");
  const chart = page.locator("#lift svg.chart[data-periods]");
  await chart.waitFor();
  seen.periods = Number(await chart.getAttribute("data-periods"));
  seen.bars = await chart.locator("rect").count();
  seen.summary = await chart.locator("desc").textContent();
  expect(seen.periods >= 2, `the chart shows the moves of the weights (${seen.periods} periods)`);

  // Stopped from the page, serving arm c to everyone.
  await page.selectOption("#winner", "c");
  await page.click("[data-action=stop]");
  await page.waitForSelector("[data-action=archive]");
  expect((await page.locator("main").textContent()).includes("winner c"), "the page shows the winner");
  expect(errors.length === 0, "no page errors or dialogs: " + errors.join("; "));
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
