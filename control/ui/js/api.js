// Every call the dashboard makes goes through here: the session cookie travels by itself, every
// change repeats the session's CSRF value, and errors come back in the API's one shape
// ({errors: [{field, message}]}) so a page can show each beside its field.

let csrf = "";

export function setCsrf(value) {
  csrf = value || "";
}

export class ApiError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => (e.field ? e.field + ": " : "") + e.message).join("; ") || "HTTP " + status);
    this.status = status;
    this.errors = errors;
  }
}

// Where a signed-out browser goes: back to the sign-in page, remembering this page.
export function toSignin() {
  const next = location.pathname + location.search;
  location.assign("/signin?next=" + encodeURIComponent(next));
}

export async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (r.status === 401 && path !== "/api/v1/session") {
    toSignin();
  }
  if (!r.ok) {
    const errors = data && Array.isArray(data.errors) && data.errors.length
      ? data.errors
      : [{ field: "", message: text.slice(0, 200) || r.statusText || "HTTP " + r.status }];
    throw new ApiError(r.status, errors);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);

// A GET that answers null when the route is not there (yet): pages degrade instead of failing.
export async function maybe(path) {
  try {
    return await get(path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 403)) return null;
    throw e;
  }
}

export const enc = encodeURIComponent;
