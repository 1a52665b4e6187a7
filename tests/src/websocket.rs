//! Just enough websocket (RFC 6455) for the proxy tests: the origin's echo ([`serve_echo`],
//! which [`crate::origin::Origin`] runs for a request with `Upgrade: websocket`) and a client
//! ([`Client`]) that shakes hands through the worker and sends and reads messages. Messages may
//! arrive in several frames (continuations are joined); pings are answered. No extensions
//! (no compression), so the bytes a peer sends are the bytes the other reads.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

pub const TEXT: u8 = 1;
pub const BINARY: u8 = 2;
const CLOSE: u8 = 8;
const PING: u8 = 9;
const PONG: u8 = 10;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(h.finalize())
}

/// One frame: fin, opcode, payload (unmasked).
fn read_frame(r: &mut impl Read) -> io::Result<(bool, u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head)?;
    let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask)?;
    }
    let len = usize::try_from(len).map_err(|_| io::Error::other("frame too long"))?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok((fin, opcode, payload))
}

/// Writes one final frame; a client masks (`mask`), a server does not.
fn write_frame(
    w: &mut impl Write,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> io::Result<()> {
    let mut out = vec![0x80 | opcode];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n <= 0xffff => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    w.write_all(&out)?;
    w.flush()
}

/// A data message (its opcode and bytes), or `None` once the peer closed. Pings are answered
/// with `mask` (the client's) on the way.
fn read_message<R: Read, W: Write>(
    r: &mut R,
    w: &mut W,
    mask: Option<[u8; 4]>,
) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut message: Option<(u8, Vec<u8>)> = None;
    loop {
        let (fin, opcode, payload) = read_frame(r)?;
        match opcode {
            CLOSE => return Ok(None),
            PING => write_frame(w, PONG, &payload, mask)?,
            PONG => {}
            0 => match &mut message {
                Some((_, bytes)) => bytes.extend_from_slice(&payload),
                None => return Err(io::Error::other("a continuation without a start")),
            },
            op => message = Some((op, payload)),
        }
        if fin && opcode < CLOSE && message.is_some() {
            return Ok(message);
        }
    }
}

/// The origin's side, once it read a handshake with these headers (names lower-case): answers
/// 101 and echoes every message, text as text and binary as binary, until the peer closes.
pub fn serve_echo<R: BufRead>(mut reader: R, mut out: TcpStream, headers: &[(String, String)]) {
    let key = headers
        .iter()
        .find(|(k, _)| k == "sec-websocket-key")
        .map(|(_, v)| v.as_str());
    let Some(key) = key else {
        let _ = out.write_all(b"HTTP/1.1 400 X\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {}\r\nx-origin: echo\r\n\r\n",
        accept_key(key)
    );
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    while let Ok(Some((opcode, bytes))) = read_message(&mut reader, &mut out, None) {
        if write_frame(&mut out, opcode, &bytes, None).is_err() {
            return;
        }
    }
    let _ = write_frame(&mut out, CLOSE, &1000u16.to_be_bytes(), None);
}

/// A websocket client connection.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    masks: u32,
}

/// The handshake's answer: status and headers (names lower-case).
pub type Handshake = (u16, Vec<(String, String)>);

impl Client {
    /// Shakes hands at `url` (`http://host:port/path`), sending `headers` too. `Err` holds the
    /// answer when it is not a 101 with the right `Sec-WebSocket-Accept`.
    pub fn connect(url: &str, headers: &[(&str, &str)]) -> Result<(Client, Handshake), String> {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let stream = TcpStream::connect(host).map_err(|e| format!("connect {host}: {e}"))?;
        // A functional deadline only: a broken proxy must fail the test, not hang it.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let key = STANDARD.encode(b"edgewise-ws-key!");
        let mut req = format!(
            "GET {path} HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n"
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
        writer
            .write_all(req.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("status line: {e}"))?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader
                .read_line(&mut h)
                .map_err(|e| format!("header: {e}"))?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let accept = headers
            .iter()
            .find(|(k, _)| k == "sec-websocket-accept")
            .map(|(_, v)| v.as_str());
        if status != 101 || accept != Some(accept_key(&key).as_str()) {
            let mut body = String::new();
            let _ = reader.read_to_string(&mut body);
            return Err(format!("{status} {headers:?}\n{body}"));
        }
        let client = Client {
            reader,
            writer,
            masks: 0x2545_F491,
        };
        Ok((client, (status, headers)))
    }

    fn mask(&mut self) -> [u8; 4] {
        // Varies per frame, as RFC 6455 asks; a fixed sequence keeps runs repeatable.
        self.masks = self
            .masks
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        self.masks.to_be_bytes()
    }

    /// Sends one message (`TEXT` or `BINARY`) as one frame.
    pub fn send(&mut self, opcode: u8, bytes: &[u8]) -> io::Result<()> {
        let mask = self.mask();
        write_frame(&mut self.writer, opcode, bytes, Some(mask))
    }

    /// The next data message: its opcode and bytes; `None` when the peer closed.
    pub fn recv(&mut self) -> io::Result<Option<(u8, Vec<u8>)>> {
        let mask = self.mask();
        read_message(&mut self.reader, &mut self.writer, Some(mask))
    }

    /// Sends a close and waits for the peer's.
    pub fn close(mut self) -> io::Result<()> {
        let mask = self.mask();
        write_frame(&mut self.writer, CLOSE, &1000u16.to_be_bytes(), Some(mask))?;
        while self.recv()?.is_some() {}
        Ok(())
    }
}
