// Headless Chromium for the browser tests: Debian's /usr/bin/chromium (or $CHROMIUM) via
// playwright-core, and a page that presents the User-Agent the same browser sends when a person
// runs it (the edge rightly treats "HeadlessChrome" as a bot: control, not counted).
import { chromium } from "playwright-core";

export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const ua = (await browser.newBrowserCDPSession().then((s) => s.send("Browser.getVersion"))).userAgent;
    const page = await browser.newPage({ userAgent: ua.replace("HeadlessChrome", "Chrome") });
    return { browser, page };
  } catch (e) {
    await browser.close();
    throw e;
  }
}
