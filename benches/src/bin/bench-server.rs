//! The bundled benchmark server: the fallback when nginx is not available, and always the server under
//! `cargo test --benches` (CI needs no apt). HTTP/1.1 on loopback, one thread per connection, keep-alive,
//! pipelining (every complete request in a read is answered in one write), the same routes as the nginx
//! config in `scripts/bench-server.sh`.
//!
//! ```text
//! bench-server --docroot DIR [--addr 127.0.0.1:0]   # serve DIR's files; prints `listening on ADDR`
//! bench-server --write-docroot DIR [--sse-events N] # write the files the servers serve, then exit
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use plue_http_benches::docroot;

/// A route's file and its `Content-Type`.
struct Route {
    body: Vec<u8>,
    content_type: &'static str,
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(dir) = arg("--write-docroot") {
        let events = arg("--sse-events")
            .and_then(|n| n.parse().ok())
            .unwrap_or(plue_http_benches::corpus::OPENCODE_EVENTS);
        return docroot::write(Path::new(&dir), events);
    }
    let dir = PathBuf::from(
        arg("--docroot").ok_or_else(|| io::Error::other("--docroot DIR is required"))?,
    );
    let addr = arg("--addr").unwrap_or_else(|| "127.0.0.1:0".into());
    let mut routes = HashMap::new();
    for (path, content_type) in [
        (docroot::SMALL_PATH, "application/json"),
        (docroot::LARGE_PATH, "application/octet-stream"),
        (docroot::SSE_PATH, "text/event-stream"),
    ] {
        let body = std::fs::read(dir.join(&path[1..]))?;
        routes.insert(path.as_bytes().to_vec(), Route { body, content_type });
    }
    let routes = Arc::new(routes);
    let listener = TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let routes = Arc::clone(&routes);
        std::thread::spawn(move || {
            // A client closing or resetting its connection is normal here.
            let _ = serve(stream, &routes);
        });
    }
    Ok(())
}

/// Answer requests on one connection until the client closes it or asks to.
fn serve(mut stream: TcpStream, routes: &HashMap<Vec<u8>, Route>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        if filled == buf.len() {
            return Ok(()); // a head larger than 64 KiB: not a bench client
        }
        let n = stream.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut start = 0;
        let mut close = false;
        while !close {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            let len = match req.parse(&buf[start..filled]) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => break,
                Err(_) => {
                    out.extend_from_slice(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    close = true;
                    break;
                }
            };
            close = req.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close")
            });
            let path = req.path.unwrap_or("/").as_bytes();
            let path = &path[..memchr::memchr(b'?', path).unwrap_or(path.len())];
            let head_only = req.method == Some("HEAD");
            respond(routes.get(path), close, head_only, &mut out);
            start += len;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        if close {
            return Ok(());
        }
    }
}

/// Append the response for `route` (404 when none) to `out`.
fn respond(route: Option<&Route>, close: bool, head_only: bool, out: &mut Vec<u8>) {
    let (status, content_type, body): (&str, &str, &[u8]) = match route {
        Some(r) => ("200 OK", r.content_type, &r.body),
        None => ("404 Not Found", "text/plain", b"not found\n"),
    };
    let connection = if close { "close" } else { "keep-alive" };
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nServer: bench-server\r\nDate: {}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: {connection}\r\n\r\n",
        http_date(SystemTime::now()),
        body.len()
    );
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// `Tue, 24 Nov 2026 22:59:00 GMT` (IMF-fixdate, always 29 bytes).
fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year:04} {h:02}:{m:02}:{s:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize]
    )
}
