//! A recording peer for the worker's beacon forwarding, speaking the control plane's
//! ingestion contract (`POST /v1/events`).
//!
//! `tests/beacons.rs` uses it to see exactly what the worker sends (the fields it fills in, the
//! ingest key) and to play failures the real server does not produce on demand: 503s and
//! connections closed without an answer. The path through the real control plane, including a
//! `kill -9` of it mid-run, is covered by `tests/system.rs` and `tests/browser.rs`. It speaks the
//! contract: `Authorization: Bearer <INGEST_KEY>`, body `{"events": [...]}`, answer 200
//! `{"accepted": n, "duplicates": n, "rejected": []}`, counting each `event_id` once. It can be
//! switched [`Mode::Down`] (503) or [`Mode::Dropping`] (connection closed without an answer) to
//! play an outage.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up,
    /// Answers 503.
    Down,
    /// Closes the connection without answering.
    Dropping,
}

#[derive(Debug, Default)]
pub struct Received {
    /// Distinct events accepted, in arrival order.
    pub events: Vec<Value>,
    pub ids: HashSet<String>,
    pub duplicates: usize,
    /// POSTs answered 200.
    pub posts_ok: usize,
    /// POSTs refused because of the outage.
    pub posts_failed: usize,
    /// POSTs refused for a wrong key.
    pub posts_unauthorized: usize,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    key: String,
    received: Received,
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    /// Listens on a free loopback port, expecting `key` as the bearer token.
    pub fn start(key: &str) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"))
            .port();
        let state = Arc::new(Mutex::new(State {
            mode: Mode::Up,
            key: key.to_owned(),
            received: Received::default(),
        }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Receiver { port, state }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    /// Reads the counters under the lock.
    pub fn with<T>(&self, f: impl FnOnce(&Received) -> T) -> T {
        f(&self.lock().received)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    let mut auth = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = v.trim().parse().unwrap_or(0),
                "authorization" => auth = v.trim().to_owned(),
                _ => {}
            }
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let (status, reply) = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        handle(&mut st, request_line.trim(), &auth, &body)
    };
    let Some(reply) = reply else {
        return Ok(()); // Mode::Dropping: hang up.
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    stream.flush()
}

fn handle(
    st: &mut State,
    request_line: &str,
    auth: &str,
    body: &[u8],
) -> (&'static str, Option<String>) {
    if !request_line.starts_with("POST /v1/events ") {
        return ("404 Not Found", Some(r#"{"error":"not_found"}"#.into()));
    }
    match st.mode {
        Mode::Down => {
            st.received.posts_failed += 1;
            return (
                "503 Service Unavailable",
                Some(r#"{"error":"down"}"#.into()),
            );
        }
        Mode::Dropping => {
            st.received.posts_failed += 1;
            return ("", None);
        }
        Mode::Up => {}
    }
    if auth != format!("Bearer {}", st.key) {
        st.received.posts_unauthorized += 1;
        return (
            "401 Unauthorized",
            Some(r#"{"error":"unauthorized"}"#.into()),
        );
    }
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return ("400 Bad Request", Some(r#"{"error":"malformed"}"#.into()));
    };
    let events = parsed["events"].as_array().cloned().unwrap_or_default();
    let (mut accepted, mut duplicates) = (0, 0);
    for e in events {
        let id = e["event_id"].as_str().unwrap_or_default().to_owned();
        if st.received.ids.insert(id) {
            st.received.events.push(e);
            accepted += 1;
        } else {
            duplicates += 1;
        }
    }
    st.received.duplicates += duplicates;
    st.received.posts_ok += 1;
    let reply = json!({"accepted": accepted, "duplicates": duplicates, "rejected": []});
    ("200 OK", Some(reply.to_string()))
}
