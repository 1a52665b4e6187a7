// The dashboard's entry: reads the session, draws the page the path names, and moves between
// pages without reloading (real links stay real links: opening one in a new tab works too).

import { api, setCsrf, toSignin } from "./api.js";
import { h, clear, errorNote, atLeast } from "./dom.js";
import * as live from "./live.js";

const ROUTES = [
  [/^\/signin$/, "signin", "Sign in"],
  [/^\/$/, "list", "Tests"],
  [/^\/tests\/new$/, "form", "New test"],
  [/^\/tests\/([^/]+)\/edit$/, "form", "Edit test"],
  [/^\/tests\/([^/]+)$/, "test", "Test"],
  [/^\/insights$/, "insights", "Insights"],
  [/^\/alerts$/, "alerts", "Alerts"],
  [/^\/audit$/, "audit", "Audit"],
  [/^\/system$/, "system", "System health"],
  [/^\/reports$/, "reports", "Reports"],
];

const main = document.getElementById("main");
let session = null;
let cleanup = null;
let generation = 0;

async function loadSession() {
  try {
    session = await api("GET", "/api/v1/session");
    setCsrf(session.csrf);
  } catch {
    session = null;
  }
  return session;
}

function showChrome() {
  const top = document.getElementById("top");
  top.hidden = !session;
  if (!session) return;
  document.getElementById("role").textContent = session.role;
  document.getElementById("role").setAttribute("title", "Signed in as " + session.token_id);
  for (const a of document.querySelectorAll("#nav a[data-min-role]")) {
    a.parentElement.hidden = !atLeast(session.role, a.dataset.minRole);
  }
}

function markNav(path) {
  for (const a of document.querySelectorAll("#nav a")) {
    const here = a.getAttribute("href") === "/" ? path === "/" || path.startsWith("/tests") : path.startsWith(a.getAttribute("href"));
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function render(focus) {
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const route = ROUTES.find(([re]) => re.test(path));
  const gen = ++generation;
  live.stop();
  if (cleanup) {
    try { cleanup(); } catch { /* a page's cleanup failing must not block the next page */ }
    cleanup = null;
  }
  if (!route) {
    clear(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/" }, "Back to the tests")));
    return;
  }
  const [re, name, title] = route;
  if (name !== "signin" && !session) {
    toSignin();
    return;
  }
  document.title = title + " · Edgewise";
  markNav(path);
  const params = (path.match(re) || []).slice(1).map(decodeURIComponent);
  const ctx = {
    main,
    session,
    params,
    query: new URLSearchParams(location.search),
    // Whether this page is still the one shown (a slow fetch must not draw over the next page).
    current: () => gen === generation,
    live: (refresh, key, every) => { if (gen === generation) live.watch(refresh, key, every); },
    navigate,
    onSignedIn: async () => { await loadSession(); showChrome(); if (session) live.start(); },
  };
  try {
    const mod = await import("./pages/" + name + ".js");
    if (gen !== generation) return;
    cleanup = (await mod.render(ctx, title)) || null;
  } catch (e) {
    if (gen === generation) clear(main, h("h1", {}, title), errorNote(e));
  }
  if (focus && gen === generation) {
    const h1 = main.querySelector("h1");
    if (h1) { h1.setAttribute("tabindex", "-1"); h1.focus(); }
  }
}

export function navigate(url, replace) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render(true);
}

// Same-origin page links change the page in place; files, API links and modified clicks are
// left to the browser.
document.addEventListener("click", (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest && ev.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/") || url.pathname.startsWith("/ui/")) return;
  if (url.pathname === location.pathname && url.hash) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", () => render(true));

// The skip link moves focus itself (not only the scroll position), in every browser.
document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  main.focus();
});

document.getElementById("signout").addEventListener("click", async () => {
  try {
    await api("DELETE", "/api/v1/session");
  } finally {
    location.assign("/signin");
  }
});

(async () => {
  // Fetch the page's module while the session is read: the two do not depend on each other.
  const first = ROUTES.find(([re]) => re.test(location.pathname.replace(/\/+$/, "") || "/"));
  if (first) import("./pages/" + first[1] + ".js").catch(() => {});
  await loadSession();
  showChrome();
  if (session) live.start();
  await render(false);
})();
