//! A real origin server for the proxy tests, and a raw HTTP client that sees bytes and time.
//!
//! [`Origin`] serves fixed [`Page`]s over HTTP/1.1 on a loopback port: each answer is a status,
//! headers and a body sent as chunks with optional pauses between them (to prove the worker
//! streams), and the origin notes when it finished each path and the headers it was sent.
//! [`fetch`] reads an answer as raw bytes (chunked or not), with the instant its first body
//! bytes arrived; `ureq`'s string bodies cannot hold images or compressed bytes. A request
//! with `Upgrade: websocket` on any path becomes a websocket echo ([`crate::websocket`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One answer of the origin.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Sent one after another, each after its pause.
    pub chunks: Vec<(Duration, Vec<u8>)>,
}

impl Page {
    pub fn new(content_type: &str, body: impl Into<Vec<u8>>) -> Page {
        Page {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            chunks: vec![(Duration::ZERO, body.into())],
        }
    }

    pub fn html(body: &str) -> Page {
        Page::new("text/html; charset=utf-8", body)
    }

    pub fn header(mut self, k: &str, v: &str) -> Page {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn status(mut self, s: u16) -> Page {
        self.status = s;
        self
    }

    /// The body, re-cut into these chunks with these pauses before each.
    pub fn chunked(mut self, parts: Vec<(Duration, Vec<u8>)>) -> Page {
        self.chunks = parts;
        self
    }

    pub fn body(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|(_, c)| c.clone()).collect()
    }
}

#[derive(Debug, Default)]
struct Seen {
    finished: HashMap<String, Instant>,
    requests: Vec<(String, Vec<(String, String)>)>,
}

#[derive(Debug, Clone)]
pub struct Origin {
    pub port: u16,
    pub base: String,
    seen: Arc<Mutex<Seen>>,
}

impl Origin {
    /// Serves `pages` by path (query ignored); other paths are 404. `/range.bin` style range
    /// requests are answered 206 for pages with `accept-ranges`.
    pub fn start(pages: HashMap<String, Page>) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let pages = Arc::new(pages);
        let s = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (pages, seen) = (pages.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &pages, &seen));
            }
        });
        Origin {
            port,
            base: format!("http://127.0.0.1:{port}"),
            seen,
        }
    }

    /// When the origin sent the last byte of `path`'s most recent answer.
    pub fn finished(&self, path: &str) -> Option<Instant> {
        self.seen.lock().ok()?.finished.get(path).copied()
    }

    /// The headers of the last request for `path` (names lower-case).
    pub fn request_headers(&self, path: &str) -> Option<Vec<(String, String)>> {
        let seen = self.seen.lock().ok()?;
        seen.requests
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
    }
}

fn serve(stream: TcpStream, pages: &HashMap<String, Page>, seen: &Mutex<Seen>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let path = target.split('?').next().unwrap_or("/").to_owned();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                if k == "content-length" {
                    length = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let websocket = headers
            .iter()
            .any(|(k, v)| k == "upgrade" && v.eq_ignore_ascii_case("websocket"));
        if websocket {
            if let Ok(mut s) = seen.lock() {
                s.requests.push((path.clone(), headers.clone()));
            }
            crate::websocket::serve_echo(reader, out, &headers);
            return;
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let range = headers
            .iter()
            .find(|(k, _)| k == "range")
            .map(|(_, v)| v.clone());
        if let Ok(mut s) = seen.lock() {
            s.requests.push((path.clone(), headers));
        }
        let page = pages
            .get(&path)
            .cloned()
            .unwrap_or_else(|| Page::new("text/plain", "not found").status(404));
        let page = match range.and_then(|r| parse_range(&r)) {
            Some((a, b)) if page.headers.iter().any(|(k, _)| k == "accept-ranges") => {
                let full = page.body();
                let b = b.min(full.len().saturating_sub(1));
                Page {
                    status: 206,
                    chunks: vec![(Duration::ZERO, full[a..=b].to_vec())],
                    ..page.clone()
                }
                .header("content-range", &format!("bytes {a}-{b}/{}", full.len()))
            }
            _ => page,
        };
        if write_page(&mut out, &page).is_err() {
            return;
        }
        if let Ok(mut s) = seen.lock() {
            s.finished.insert(path, Instant::now());
        }
    }
}

fn parse_range(r: &str) -> Option<(usize, usize)> {
    let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn write_page(out: &mut TcpStream, page: &Page) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} X\r\n", page.status);
    for (k, v) in &page.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("transfer-encoding: chunked\r\n\r\n");
    out.write_all(head.as_bytes())?;
    out.flush()?;
    for (pause, chunk) in &page.chunks {
        std::thread::sleep(*pause);
        if !chunk.is_empty() {
            out.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            out.write_all(chunk)?;
            out.write_all(b"\r\n")?;
            out.flush()?;
        }
    }
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}

/// An answer read as bytes.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: u16,
    /// Names lower-case, in order (repeated headers repeat).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the first body bytes arrived (the end of the headers if there are none).
    pub first_body_at: Instant,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap_or_else(|e| panic!("not UTF-8: {e}"))
    }
}

/// `GET` of `url` (`http://host:port/path`) with `headers`, read to the end.
pub fn fetch(url: &str, headers: &[(&str, &str)]) -> Raw {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut s = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| panic!("send: {e}"));
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)
        .unwrap_or_else(|e| panic!("status line: {e}"));
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)
            .unwrap_or_else(|e| panic!("header: {e}"));
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let mut body = Vec::new();
    let mut first_body_at = None;
    if chunked {
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or_else(|e| panic!("chunk size {size:?}: {e}"));
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)
                .unwrap_or_else(|e| panic!("chunk: {e}"));
            first_body_at.get_or_insert_with(Instant::now);
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        let mut buf = [0u8; 8192];
        loop {
            let n = r.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            first_body_at.get_or_insert_with(Instant::now);
            body.extend_from_slice(&buf[..n]);
        }
    }
    Raw {
        status,
        headers,
        body,
        first_body_at: first_body_at.unwrap_or_else(Instant::now),
    }
}
