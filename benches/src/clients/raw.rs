//! The physical limit: a blocking socket, a pre-serialized request written, the reply read by its known
//! length. No parsing beyond checking the status line; the reply length is learnt once from a parsed answer.

use std::io::{Read, Write};
use std::net::TcpStream;

use plue_http_core::sse::{SseDecoder, SseItem};

use crate::docroot::{SMALL_PATH, SSE_PATH};
use crate::subject::{EventSum, Scenario, Subject, Target, Work};

/// The raw-socket baseline.
pub struct Raw {
    target: Target,
    conn: TcpStream,
    req: Vec<u8>,
    req16: Vec<u8>,
    close_req: Vec<u8>,
    reply_len: usize,
    buf: Vec<u8>,
}

fn connect(target: &Target) -> Result<TcpStream, String> {
    let s = TcpStream::connect(target.addr).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(s)
}

fn request(path: &str, target: &Target, close: bool) -> Vec<u8> {
    let conn = if close { "Connection: close\r\n" } else { "" };
    format!("GET {path} HTTP/1.1\r\nHost: {}\r\n{conn}\r\n", target.addr).into_bytes()
}

/// Read one whole response off `conn` by parsing it (head + Content-Length); returns its length.
fn read_parsed(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(usize, usize), String> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = conn.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("EOF before a whole response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = resp.parse(buf).map_err(|e| e.to_string())? {
            let len: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                .ok_or("no Content-Length")?;
            while buf.len() < head + len {
                let n = conn.read(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("EOF in the body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok((head, len));
        }
    }
}

impl Raw {
    /// Connect and learn the small reply's length.
    pub fn new(target: &Target) -> Result<Raw, String> {
        let mut conn = connect(target)?;
        let req = request(SMALL_PATH, target, false);
        conn.write_all(&req).map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let (head, len) = read_parsed(&mut conn, &mut buf)?;
        let req16 = req.repeat(16);
        Ok(Raw {
            target: target.clone(),
            conn,
            close_req: request(SMALL_PATH, target, true),
            req16,
            req,
            reply_len: head + len,
            buf: vec![0; (head + len) * 16],
        })
    }

    fn exchange(&mut self, pipelined: usize) -> Result<(), String> {
        let (req, len) = if pipelined == 16 {
            (&self.req16, self.reply_len * 16)
        } else {
            (&self.req, self.reply_len)
        };
        self.conn.write_all(req).map_err(|e| e.to_string())?;
        self.conn
            .read_exact(&mut self.buf[..len])
            .map_err(|e| e.to_string())?;
        if !self.buf.starts_with(b"HTTP/1.1 200") {
            return Err("raw: not a 200 reply".into());
        }
        Ok(())
    }
}

impl Subject for Raw {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn supports(&self, s: Scenario) -> bool {
        s != Scenario::Conc16
    }

    fn run(&mut self, scenario: Scenario, n: usize) -> Result<Work, String> {
        let small = self.target.small_len as u64;
        match scenario {
            Scenario::Seq => {
                for _ in 0..n {
                    self.exchange(1)?;
                }
                Ok(Work {
                    units: n as u64,
                    check: n as u64 * small,
                })
            }
            Scenario::Batch16 => {
                for _ in 0..n / 16 {
                    self.exchange(16)?;
                }
                Ok(Work {
                    units: (n / 16 * 16) as u64,
                    check: (n / 16 * 16) as u64 * small,
                })
            }
            Scenario::NewConn => {
                // Read by the parsed length and drop the socket, as the clients do (no wait for the FIN).
                let mut buf = Vec::new();
                for _ in 0..n {
                    let mut conn = connect(&self.target)?;
                    conn.write_all(&self.close_req).map_err(|e| e.to_string())?;
                    read_parsed(&mut conn, &mut buf)?;
                    if !buf.starts_with(b"HTTP/1.1 200") {
                        return Err("raw: not a 200 reply".into());
                    }
                }
                Ok(Work {
                    units: n as u64,
                    check: n as u64 * small,
                })
            }
            // Raw socket + the core's SSE decoder: the floor for turning the corpus into owned events.
            Scenario::Sse => {
                let mut sum = EventSum::default();
                for _ in 0..n {
                    read_sse(&self.target, &mut sum)?;
                }
                Ok(Work {
                    units: sum.count,
                    check: sum.sum,
                })
            }
            Scenario::Conc16 => Err("raw has no concurrent mode".into()),
        }
    }

    fn burst(&mut self, _tasks: usize) -> Result<(), String> {
        Err("raw keeps no pool".into())
    }
}

/// `GET /sse` on a fresh connection, the body fed to [`SseDecoder`] as it arrives.
fn read_sse(target: &Target, sum: &mut EventSum) -> Result<(), String> {
    let mut conn = connect(target)?;
    conn.write_all(&request(SSE_PATH, target, true))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut head_done = false;
    let mut pending = Vec::new();
    let mut dec = SseDecoder::new(32 << 20);
    loop {
        let n = conn.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        let mut data = &buf[..n];
        if !head_done {
            pending.extend_from_slice(data);
            let Some(end) = memchr::memmem::find(&pending, b"\r\n\r\n") else {
                continue;
            };
            head_done = true;
            dec.feed(&pending[end + 4..]);
            data = &[];
        }
        dec.feed(data);
        while let Some(item) = dec.poll() {
            if let SseItem::Event(e) = item {
                sum.add(&e.event, &e.data, &e.id);
            }
        }
    }
    dec.finish();
    while let Some(item) = dec.poll() {
        if let SseItem::Event(e) = item {
            sum.add(&e.event, &e.data, &e.id);
        }
    }
    Ok(())
}
