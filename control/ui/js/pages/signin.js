// Sign-in: an API token becomes a session cookie; then on to the page the visitor asked for.

import { api } from "../api.js";
import { h, clear } from "../dom.js";

// Only a path on this site: `next` comes from the URL, so it must not send anyone elsewhere.
function safeNext(next) {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

export async function render(ctx) {
  const next = safeNext(ctx.query.get("next"));
  const error = h("p", { id: "signin-error", class: "field-error", role: "alert" });
  const token = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "current-password", required: true,
    "aria-describedby": "token-help signin-error", spellcheck: "false",
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "card narrow", novalidate: true },
    h("label", { for: "token" }, "API token"),
    token,
    h("p", { id: "token-help", class: "help" }, "Create one with `edgewise token create --role viewer`."),
    error,
    submit);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    if (!token.value.trim()) {
      error.textContent = "Enter an API token.";
      token.setAttribute("aria-invalid", "true");
      token.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api("POST", "/api/v1/session", { token: token.value });
      // A full load: the page is served again with the new cookie and the app starts signed in.
      location.assign(next);
    } catch (e) {
      error.textContent = e.status === 401 ? "That token is not valid (or was revoked)." : e.message;
      token.setAttribute("aria-invalid", "true");
      token.focus();
      submit.disabled = false;
    }
  });
  clear(ctx.main,
    h("h1", {}, "Sign in to Edgewise"),
    ctx.session ? h("p", { class: "note" }, "You are signed in as " + ctx.session.role + ". ",
      h("a", { href: next }, "Continue")) : null,
    form);
  token.focus();
}
