// Applies a page plan with the runtime's HTMLRewriter (edge/src/proxy/glue.rs calls this).
// The Rust side decides (shared/src/rewrite); this only binds the decided changes to elements,
// as the origin's bytes stream through. Nothing here buffers the page.

function classes(el) {
  return (el.getAttribute("class") || "").split(/\s+/).filter(Boolean);
}

function setStyle(el, name, value) {
  const decls = (el.getAttribute("style") || "").split(";").map((d) => d.trim()).filter(Boolean);
  const lower = name.toLowerCase();
  const i = decls.findIndex((d) => d.split(":")[0].trim().toLowerCase() === lower);
  const decl = name + ": " + value;
  if (i >= 0) decls[i] = decl; else decls.push(decl);
  el.setAttribute("style", decls.join("; "));
}

function apply(el, c) {
  switch (c.action) {
    case "set_text": el.setInnerContent(c.value); break;
    case "set_html": el.setInnerContent(c.value, { html: true }); break;
    case "set_attr": el.setAttribute(c.name, c.value); break;
    case "remove_attr": el.removeAttribute(c.name); break;
    case "add_class": {
      const cl = classes(el);
      if (!cl.includes(c.value)) { cl.push(c.value); el.setAttribute("class", cl.join(" ")); }
      break;
    }
    case "remove_class": {
      const cl = classes(el);
      if (cl.includes(c.value)) el.setAttribute("class", cl.filter((x) => x !== c.value).join(" "));
      break;
    }
    case "insert_before": el.before(c.value, { html: true }); break;
    case "insert_after": el.after(c.value, { html: true }); break;
    case "remove": el.remove(); break;
    case "set_style": setStyle(el, c.name, c.value); break;
  }
}

// `changes`: JSON list of {selector, action, name?, value?}; `headHtml`: prepended to <head>;
// `headers`: [[name, value], ...] set on the answer (`set-cookie` and `vary` are appended).
// Returns null when the rewriter cannot be built or refuses the page before reading it (the
// caller then serves the origin's response as it came). What can still fail once bytes flow is
// in docs/proxy.md.
export function rewrite(response, changes, headHtml, headers) {
  let out;
  try {
    const rewriter = new HTMLRewriter();
    let injected = false;
    rewriter.on("head", {
      element(el) {
        if (injected) return;
        injected = true;
        try { el.prepend(headHtml, { html: true }); } catch (e) { console.warn("edgewise: head not injected", String(e)); }
      },
    });
    for (const c of JSON.parse(changes)) {
      rewriter.on(c.selector, {
        element(el) { try { apply(el, c); } catch (e) { console.warn("edgewise: change failed", c.selector, String(e)); } },
      });
    }
    // transform() throws on a charset it cannot decode (unknown, or not ASCII-compatible such
    // as UTF-16) before it takes the response, which then goes out as it came
    // (tests/tests/proxy_charset.rs, on plain workerd).
    out = rewriter.transform(response);
  } catch (e) {
    console.error("edgewise: cannot rewrite, serving the page unmodified:", String(e));
    return null;
  }
  const res = new Response(out.body, out);
  for (const h of ["content-length", "etag", "last-modified"]) res.headers.delete(h);
  for (const [name, value] of headers) {
    // A value the runtime refuses is dropped (as in entry.rs): never an error page.
    try {
      if (name === "set-cookie" || name === "vary") res.headers.append(name, value);
      else res.headers.set(name, value);
    } catch (e) {}
  }
  return res;
}

// Fetches `url` with the visitor's request (method, headers, body); the origin's redirects go
// back to the visitor. Rejects when the origin cannot be reached.
export function fetchOrigin(url, request) {
  return fetch(new Request(new Request(url, request), { redirect: "manual" }));
}
