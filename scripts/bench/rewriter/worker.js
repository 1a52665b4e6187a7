// The rewriter measurement worker (scripts/measure-rewriter): the same page and the same six
// element changes through workerd's HTMLRewriter (/hr) and through lol_html compiled to wasm
// (/lol); /plain serves the page as is.
import { initSync, rewrite } from "./lolmeasure.js";
import wasm from "./lolmeasure_bg.wasm";
import page from "./page.html";

initSync({ module: wasm });
const bytes = new TextEncoder().encode(page);
const HTML = { "content-type": "text/html; charset=utf-8" };

function rewriter() {
  return new HTMLRewriter()
    .on("head", { element(e) { e.prepend("<script>window.x=1</script>", { html: true }); } })
    .on("[data-ew=hero] h1", { element(e) { e.setInnerContent("Ship faster"); } })
    .on("#cta", { element(e) { e.setAttribute("href", "/signup?b"); e.setAttribute("class", "btn big"); } })
    .on(".promo", { element(e) { e.remove(); } })
    .on("nav > ul", { element(e) { e.before("<p>new</p>", { html: true }); e.after("<hr>", { html: true }); } })
    .on("footer p", { element(e) { e.setAttribute("style", "color:red"); } });
}

function chunked() {
  // The origin's body as a stream of 4 KB chunks, as it would arrive from fetch().
  return new ReadableStream({
    start(c) { for (let i = 0; i < bytes.length; i += 4096) c.enqueue(bytes.slice(i, i + 4096)); c.close(); },
  });
}

export default {
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/hr") return rewriter().transform(new Response(chunked(), { headers: HTML }));
    if (path === "/lol") return new Response(rewrite(bytes), { headers: HTML });
    return new Response(chunked(), { headers: HTML });
  },
};
