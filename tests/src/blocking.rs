//! A tiny blocking HTTP/1.1 transport for real-server tests, until the runtime adapters land.
//!
//! TEST UTILITY ONLY: one request per connection (`Connection: close`), `Content-Length` or chunked bodies, and a
//! line-based reader for single-line `data:` SSE events (what OpenCode sends). It moves the core's
//! [`Request`] onto the wire and hands back a core [`Response`], so the typed calls under test are the real ones.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use plue_http_core::{Body, Request, Response, ResponseHead};

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn connect(req: &Request) -> io::Result<TcpStream> {
    let url = req.url();
    let s = TcpStream::connect((url.host(), url.port()))?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn write_request(s: &mut TcpStream, req: &Request) -> io::Result<()> {
    let url = req.url();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {}\r\nuser-agent: plue-tests\r\nconnection: close\r\n",
        req.method(),
        url.path_and_query(),
        url.authority()
    );
    for (k, v) in req.headers() {
        head.push_str(&format!(
            "{}: {}\r\n",
            k,
            v.to_str().map_err(|_| invalid("header"))?
        ));
    }
    let body = match req.body() {
        Body::Empty => &[][..],
        Body::Full(b) => &b[..],
    };
    if !body.is_empty() || !matches!(req.method().as_str(), "GET" | "HEAD" | "DELETE") {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)
}

fn read_head(r: &mut BufReader<TcpStream>) -> io::Result<(ResponseHead, Framing)> {
    let mut raw = Vec::new();
    loop {
        let n = r.read_until(b'\n', &mut raw)?;
        if n == 0 {
            return Err(invalid("connection closed inside the head"));
        }
        if raw.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    parsed.parse(&raw).map_err(|e| invalid(e.to_string()))?;
    let mut map = HeaderMap::new();
    let mut framing = Framing::Close;
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| invalid("name"))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| invalid("value"))?;
        if name == http::header::TRANSFER_ENCODING && h.value.eq_ignore_ascii_case(b"chunked") {
            framing = Framing::Chunked;
        } else if name == http::header::CONTENT_LENGTH && framing == Framing::Close {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| invalid("content-length"))?;
            framing = Framing::Length(n);
        }
        map.append(name, value);
    }
    let status = StatusCode::from_u16(parsed.code.unwrap_or(0)).map_err(|_| invalid("status"))?;
    Ok((
        ResponseHead {
            status,
            version: Version::HTTP_11,
            headers: map,
        },
        framing,
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

/// Read the next chunk of a chunked body; `None` at the last chunk.
fn read_chunk(r: &mut BufReader<TcpStream>) -> io::Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(invalid("connection closed inside a chunked body"));
    }
    let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
        .map_err(|_| invalid("chunk size"))?;
    if size == 0 {
        return Ok(None);
    }
    let mut data = vec![0; size + 2];
    r.read_exact(&mut data)?;
    data.truncate(size);
    Ok(Some(data))
}

/// Send `req` and collect the whole response. `timeout` bounds every read.
pub fn send(req: &Request, timeout: Option<Duration>) -> io::Result<Response> {
    let mut s = connect(req)?;
    s.set_read_timeout(timeout)?;
    write_request(&mut s, req)?;
    let mut r = BufReader::new(s);
    let (head, framing) = read_head(&mut r)?;
    let mut body = Vec::new();
    match framing {
        Framing::Length(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        }
        Framing::Chunked => {
            while let Some(c) = read_chunk(&mut r)? {
                body.extend_from_slice(&c);
            }
        }
        Framing::Close => {
            r.read_to_end(&mut body)?;
        }
    }
    Ok(Response::new(head, Bytes::from(body)))
}

/// An open event stream: yields each event's `data` (single-line `data:` events only).
pub struct EventReader {
    reader: BufReader<TcpStream>,
    framing: Framing,
    pending: Vec<u8>,
    data: Option<String>,
}

/// Subscribe: send `req` and return the response head and, for a 2xx, a reader of its events.
pub fn subscribe(req: &Request, timeout: Duration) -> io::Result<(ResponseHead, EventReader)> {
    let mut s = connect(req)?;
    s.set_read_timeout(Some(timeout))?;
    write_request(&mut s, req)?;
    let mut reader = BufReader::new(s);
    let (head, framing) = read_head(&mut reader)?;
    Ok((
        head,
        EventReader {
            reader,
            framing,
            pending: Vec::new(),
            data: None,
        },
    ))
}

impl EventReader {
    /// The next event's data; `Ok(None)` at the end of the stream; a timeout is an `Err`.
    pub fn next_data(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if let Some(d) = self.data.take() {
                        return Ok(Some(d));
                    }
                } else if let Some(d) = line.strip_prefix("data:") {
                    let d = d.strip_prefix(' ').unwrap_or(d);
                    match &mut self.data {
                        Some(acc) => {
                            acc.push('\n');
                            acc.push_str(d);
                        }
                        None => self.data = Some(d.to_string()),
                    }
                }
                continue;
            }
            let more = match self.framing {
                Framing::Chunked => read_chunk(&mut self.reader)?,
                _ => {
                    let mut buf = vec![0; 16 * 1024];
                    let n = self.reader.read(&mut buf)?;
                    buf.truncate(n);
                    (n > 0).then_some(buf)
                }
            };
            match more {
                Some(b) => self.pending.extend_from_slice(&b),
                None => return Ok(None),
            }
        }
    }
}
