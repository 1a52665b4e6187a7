use wasm_bindgen::prelude::*;

#[cfg(feature = "lol")]
#[wasm_bindgen]
pub fn rewrite(html: &[u8]) -> Vec<u8> {
    use lol_html::html_content::ContentType;
    use lol_html::{element, HtmlRewriter, Settings};
    let mut out = Vec::with_capacity(html.len() + 256);
    let mut rw = HtmlRewriter::new(
        Settings {
            element_content_handlers: vec![
                element!("head", |el| { el.prepend("<script>window.x=1</script>", ContentType::Html); Ok(()) }),
                element!("[data-ew=hero] h1", |el| { el.set_inner_content("Ship faster", ContentType::Text); Ok(()) }),
                element!("#cta", |el| { el.set_attribute("href", "/signup?b")?; el.set_attribute("class", "btn big")?; Ok(()) }),
                element!(".promo", |el| { el.remove(); Ok(()) }),
                element!("nav > ul", |el| { el.before("<p>new</p>", ContentType::Html); el.after("<hr>", ContentType::Html); Ok(()) }),
                element!("footer p", |el| { el.set_attribute("style", "color:red")?; Ok(()) }),
            ],
            ..Settings::new()
        },
        |c: &[u8]| out.extend_from_slice(c),
    );
    // feed in 4 KB chunks as a stream would
    for chunk in html.chunks(4096) {
        if rw.write(chunk).is_err() { return html.to_vec(); }
    }
    if rw.end().is_err() { return html.to_vec(); }
    out
}

#[cfg(not(feature = "lol"))]
#[wasm_bindgen]
pub fn rewrite(html: &[u8]) -> Vec<u8> {
    let mut v = html.to_vec();
    v.extend_from_slice(b"<!-- x -->");
    v
}
