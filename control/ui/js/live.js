// Live pages: one EventSource on /api/v1/stream for the whole visit. Every event (results,
// alert, status) is only a hint to refetch the current page's data, at most once per 500 ms.
// Where the stream is unavailable (not deployed, a proxy that buffers, a dropped connection)
// the page polls every 2 s instead, and the stream is tried again every 30 s.

const THROTTLE_MS = 500;
const POLL_MS = 2000;
const RETRY_MS = 30000;

let source = null;
let current = null; // {refresh, key}
let running = false;
let again = false;
let lastRun = 0;
let timer = 0;
let pollTimer = 0;
let retryTimer = 0;
let stats = { mode: "off", events: 0, refreshes: 0 };

function mark() {
  document.documentElement.dataset.live = stats.mode;
  window.__edgewiseLive = stats;
}

async function run() {
  timer = 0;
  if (!current) return;
  if (running) {
    again = true;
    return;
  }
  running = true;
  lastRun = Date.now();
  const page = current;
  try {
    await page.refresh();
    stats.refreshes += 1;
  } catch (e) {
    console.warn("refresh failed", e);
  } finally {
    running = false;
    if (again) {
      again = false;
      schedule();
    }
  }
}

// Throttled: the first hint runs at once (or when 500 ms have passed since the last run), later
// hints inside the window fold into one trailing run.
function schedule() {
  if (timer) return;
  const every = Math.max(THROTTLE_MS, (current && current.every) || 0);
  const wait = Math.max(0, lastRun + every - Date.now());
  timer = setTimeout(run, wait);
}

function onEvent(ev) {
  stats.events += 1;
  if (!current) return;
  let keys = null;
  try {
    const data = JSON.parse(ev.data || "null");
    const one = data && typeof data === "object" ? data.test || data.key || null : null;
    keys = one ? [one] : data && Array.isArray(data.tests) ? data.tests : null;
  } catch {
    keys = null;
  }
  // An event that names tests, none of them this page's: nothing here changed.
  if (keys && current.key && !keys.includes(current.key)) return;
  schedule();
}

function connect() {
  if (typeof EventSource === "undefined") return;
  retryTimer = 0;
  source = new EventSource("/api/v1/stream");
  for (const name of ["results", "alert", "status", "resync", "message"]) source.addEventListener(name, onEvent);
  source.onopen = () => {
    stats.mode = "stream";
    mark();
  };
  source.onerror = () => {
    stats.mode = "poll";
    mark();
    if (source.readyState === EventSource.CLOSED) {
      source = null;
      if (!retryTimer) retryTimer = setTimeout(connect, RETRY_MS);
    }
  };
}

// Starts the stream (once) and the polling fallback.
export function start() {
  if (pollTimer) return;
  stats.mode = "poll";
  mark();
  connect();
  pollTimer = setInterval(() => {
    if (!source || source.readyState !== EventSource.OPEN) schedule();
  }, POLL_MS);
}

// The page being shown: `refresh` refetches its data; `key` a test key, for events that name
// tests; `every` the least time between two refreshes when more than 500 ms (a page whose
// data costs the server more to read).
export function watch(refresh, key, every) {
  current = refresh ? { refresh, key: key || null, every: every || 0 } : null;
}

export function stop() {
  current = null;
}
