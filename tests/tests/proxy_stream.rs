//! Proxy mode's bytes on workerd (`wrangler dev`) before a real origin: the rewritten page
//! streams (its first bytes reach the client while the origin is still sending), everything
//! that is not a rewritten page passes through byte for byte (checksums), ranges, headers and
//! cookies too, gzip and brotli origins are decoded, rewritten and answered, and an origin
//! error is passed on as it is. A websocket to the origin works through the worker: text and
//! binary messages come back from the origin's echo byte for byte.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use edgewise_tests::gen::NOW_MS;
use edgewise_tests::origin::{fetch, Origin, Page, Raw};
use edgewise_tests::websocket::{self, Client};
use edgewise_tests::worker::Worker;
use serde_json::json;
use sha2::{Digest, Sha256};

const DESKTOP: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36";

fn snapshot() -> String {
    json!({
        "schema_version": 1, "snapshot_version": 1, "hash_version": 1,
        "tests": [{"key": "hero", "status": "running",
            "variants": [{"key": "a", "weight": 0}, {"key": "b", "weight": 1, "content": {
                "dom": [{"ew": "hero", "action": "set_text", "value": "Rewritten"}]}}]}]
    })
    .to_string()
}

/// Deterministic pseudo-random bytes (an "image").
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn brotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &b[..], &mut out, &Default::default()).unwrap();
    out
}

/// The body as the browser would read it, decoded by its `content-encoding`.
fn decoded(r: &Raw) -> Vec<u8> {
    let mut out = Vec::new();
    match r.header("content-encoding") {
        Some("gzip") => {
            flate2::read::GzDecoder::new(&r.body[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        Some("br") => {
            brotli::BrotliDecompress(&mut &r.body[..], &mut out).unwrap();
        }
        None | Some("identity") => out.clone_from(&r.body),
        Some(other) => panic!("unexpected encoding {other}"),
    }
    out
}

const HERO_PAGE: &str =
    "<html><head><title>t</title></head><body><h1 data-ew=\"hero\">Original</h1><p>Grüße</p></body></html>";

#[test]
fn pages_stream_and_everything_else_passes_byte_for_byte() {
    let image = noise(300_000);
    let js = "console.log('app');\n".repeat(2000);
    let big_tail = "<p>more</p>".repeat(5000);
    let mut pages = HashMap::new();
    pages.insert(
        "/slow".to_owned(),
        Page::html("").chunked(vec![
            (
                Duration::ZERO,
                b"<html><head><title>s</title></head><body><h1 data-ew=\"hero\">Original</h1>"
                    .to_vec(),
            ),
            (Duration::from_millis(2500), big_tail.clone().into_bytes()),
            (Duration::from_millis(500), b"</body></html>".to_vec()),
        ]),
    );
    pages.insert(
        "/img.png".to_owned(),
        Page::new("image/png", image.clone())
            .header("accept-ranges", "bytes")
            .header("cache-control", "public, max-age=86400")
            .header("etag", "\"img-1\""),
    );
    pages.insert(
        "/api/data.json".to_owned(),
        Page::new("application/json", r#"{"n":1,"s":"Grüße"}"#)
            .header("set-cookie", "a=1; Path=/")
            .header("set-cookie", "b=2; Path=/; HttpOnly")
            .header("x-origin", "yes"),
    );
    pages.insert(
        "/app.js.gz".to_owned(),
        Page::new("text/javascript", gzip(js.as_bytes())).header("content-encoding", "gzip"),
    );
    pages.insert(
        "/gz".to_owned(),
        Page::new("text/html; charset=utf-8", gzip(HERO_PAGE.as_bytes()))
            .header("content-encoding", "gzip"),
    );
    pages.insert(
        "/br".to_owned(),
        Page::new("text/html; charset=utf-8", brotli(HERO_PAGE.as_bytes()))
            .header("content-encoding", "br"),
    );
    pages.insert(
        "/error".to_owned(),
        Page::html("<html><head></head><body>origin broke</body></html>")
            .status(503)
            .header("retry-after", "5"),
    );
    let origin = Origin::start(pages);
    let worker = Worker::start(&[("PROXY_ORIGIN", origin.base.as_str())]);
    assert_eq!(worker.push_snapshot(&snapshot()).status, 200);
    let ua = [("user-agent", DESKTOP)];
    let q = format!("?now={NOW_MS}");

    // Streaming: the rewritten head and hero leave the worker while the origin still sends.
    let asked = Instant::now();
    let r = fetch(&worker.url(&format!("/slow{q}")), &ua);
    let done = origin.finished("/slow").expect("the origin served /slow");
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(
        text.contains("<h1 data-ew=\"hero\">Rewritten</h1>"),
        "{text:.300}"
    );
    assert!(text.ends_with(&format!("{big_tail}</body></html>")));
    assert!(
        r.first_body_at < done,
        "the first bytes arrived {:?} after the request, the origin finished at {:?}",
        r.first_body_at - asked,
        done - asked
    );
    eprintln!(
        "streaming: first body bytes after {:?}, origin finished after {:?}",
        r.first_body_at - asked,
        done - asked
    );

    // Not HTML: the origin's bytes, headers and cookies; ranges work.
    let r = fetch(&worker.url("/img.png"), &ua);
    assert_eq!(r.status, 200);
    assert_eq!(sha(&r.body), sha(&image));
    assert_eq!(r.header("cache-control"), Some("public, max-age=86400"));
    assert_eq!(r.header("etag"), Some("\"img-1\""));
    let r = fetch(
        &worker.url("/img.png"),
        &[("user-agent", DESKTOP), ("range", "bytes=1000-1999")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &image[1000..2000]);
    assert_eq!(r.header("content-range"), Some("bytes 1000-1999/300000"));
    let r = fetch(
        &worker.url("/api/data.json?x=1"),
        &[("user-agent", DESKTOP), ("cookie", "edgewise_uid=u")],
    );
    assert_eq!(r.text(), r#"{"n":1,"s":"Grüße"}"#);
    assert_eq!(
        r.all("set-cookie"),
        ["a=1; Path=/", "b=2; Path=/; HttpOnly"]
    );
    assert_eq!(r.header("x-origin"), Some("yes"));
    let sent = origin.request_headers("/api/data.json").unwrap();
    assert!(
        sent.iter()
            .any(|(k, v)| k == "cookie" && v == "edgewise_uid=u"),
        "{sent:?}"
    );

    // Compressed origins: a gzip'd script passes (decoded bytes identical), gzip and brotli
    // pages are rewritten.
    let r = fetch(
        &worker.url("/app.js.gz"),
        &[("user-agent", DESKTOP), ("accept-encoding", "gzip")],
    );
    assert_eq!(sha(&decoded(&r)), sha(js.as_bytes()), "{:?}", r.headers);
    for (path, enc) in [("/gz", "gzip"), ("/br", "br")] {
        let r = fetch(
            &worker.url(&format!("{path}{q}")),
            &[("user-agent", DESKTOP), ("accept-encoding", enc)],
        );
        assert_eq!(r.status, 200, "{path}");
        let page = String::from_utf8(decoded(&r)).unwrap();
        assert!(
            page.contains("<h1 data-ew=\"hero\">Rewritten</h1><p>Grüße</p>"),
            "{path}: {page:.300}"
        );
        eprintln!(
            "{path}: answered with content-encoding {:?}",
            r.header("content-encoding")
        );
    }

    // An origin error is the origin's answer, untouched.
    let r = fetch(&worker.url(&format!("/error{q}")), &ua);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(
        r.text(),
        "<html><head></head><body>origin broke</body></html>"
    );
}

#[test]
fn websockets_pass_through_message_for_message() {
    let origin = Origin::start(HashMap::new());
    let worker = Worker::start(&[("PROXY_ORIGIN", origin.base.as_str())]);
    // A running test on every page: the handshake, a GET under PROXY_REWRITE, must still
    // reach the origin as it is, not as a page.
    assert_eq!(worker.push_snapshot(&snapshot()).status, 200);
    let (mut ws, (status, _)) = Client::connect(
        &worker.url("/live/socket?room=1"),
        &[("user-agent", DESKTOP), ("cookie", "session=s1")],
    )
    .unwrap_or_else(|e| {
        panic!(
            "no websocket through the worker: {e}\n{}",
            worker.log_text()
        )
    });
    assert_eq!(status, 101);
    let sent = origin.request_headers("/live/socket").unwrap();
    for (k, v) in [("upgrade", "websocket"), ("cookie", "session=s1")] {
        assert!(
            sent.iter().any(|(hk, hv)| hk == k && hv == v),
            "{k}: {sent:?}"
        );
    }

    let every_byte: Vec<u8> = (0..=255u8).collect();
    let messages: Vec<(u8, Vec<u8>)> = vec![
        (websocket::TEXT, b"hello".to_vec()),
        (websocket::TEXT, "Grüße, 世界 🌍".as_bytes().to_vec()),
        (websocket::BINARY, every_byte),
        // Longer than 65,535 bytes: the 64-bit length form.
        (websocket::BINARY, noise(100_000)),
        (websocket::TEXT, "x".repeat(70_000).into_bytes()),
    ];
    for (opcode, bytes) in &messages {
        ws.send(*opcode, bytes).unwrap();
        let (got_op, got) = ws
            .recv()
            .unwrap_or_else(|e| panic!("reading the echo: {e}"))
            .unwrap_or_else(|| panic!("closed before the echo"));
        assert_eq!(got_op, *opcode, "{} bytes", bytes.len());
        assert_eq!(sha(&got), sha(bytes), "{} bytes", bytes.len());
    }
    // Several in flight come back in order.
    for (opcode, bytes) in &messages {
        ws.send(*opcode, bytes).unwrap();
    }
    for (opcode, bytes) in &messages {
        let (got_op, got) = ws.recv().unwrap().unwrap();
        assert_eq!((got_op, sha(&got)), (*opcode, sha(bytes)));
    }
    ws.close().unwrap();
}
