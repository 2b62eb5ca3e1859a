//! Hostile and broken HTTP/1.1 servers on loopback, for the `hostile_…` tests.
//!
//! A [`Hostile`] server answers the **first** connection with a [`Script`] (malformed framing, a drip, an
//! endless body, garbage, …) and every later connection with a plain `200 ok`, so a test can check that the
//! client gives a typed error and then opens a **new** connection for its next request (the broken one is never
//! reused). It records, per connection, the request heads it read and the bytes it received.

use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One thing the server does on the hostile connection.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write these bytes.
    Write(Vec<u8>),
    /// Write these bytes one at a time, pausing between them.
    Drip(Vec<u8>, Duration),
    /// Write this pattern again and again until the client goes away (or `limit` bytes were written).
    Endless(Vec<u8>, u64),
    /// Pause.
    Sleep(Duration),
    /// Hold the connection open, reading and discarding, until the client closes it.
    Hold,
    /// Reset the connection (RST: close with a zero linger) and stop.
    Reset,
}

/// What the hostile connection does after reading the request head.
#[derive(Debug, Clone)]
pub struct Script {
    /// The steps, in order; the connection is closed after the last one (unless it is [`Step::Hold`]).
    pub steps: Vec<Step>,
}

impl Script {
    /// Write `bytes`, then close.
    pub fn write_close(bytes: &[u8]) -> Script {
        Script {
            steps: vec![Step::Write(bytes.to_vec())],
        }
    }

    /// Write `bytes`, then keep the connection open.
    pub fn write_hold(bytes: &[u8]) -> Script {
        Script {
            steps: vec![Step::Write(bytes.to_vec()), Step::Hold],
        }
    }
}

/// What the server saw on one connection.
#[derive(Debug, Clone, Default)]
pub struct ConnRecord {
    /// Request heads read (request line only).
    pub requests: Vec<String>,
    /// Bytes received in total.
    pub bytes_in: usize,
    /// Bytes written in total.
    pub bytes_out: u64,
}

/// A loopback server whose first connection misbehaves. Stops accepting when dropped.
pub struct Hostile {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<ConnRecord>>>,
    stop: Arc<AtomicBool>,
}

/// The plain answer served on every connection after the hostile one.
pub const GOOD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

impl Hostile {
    /// Start a server whose first connection runs `script`.
    pub fn start(script: Script) -> Hostile {
        Self::start_with(script, false)
    }

    /// Start a server that reads nothing at all: it only counts what arrives (for "refused before a byte is
    /// sent" checks, every connection is silent).
    pub fn silent() -> Hostile {
        Self::start_with(
            Script {
                steps: vec![Step::Hold],
            },
            true,
        )
    }

    fn start_with(script: Script, all_hostile: bool) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let conns: Arc<Mutex<Vec<ConnRecord>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (conns.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let index = {
                            let mut v = c.lock().unwrap();
                            v.push(ConnRecord::default());
                            v.len() - 1
                        };
                        let hostile = all_hostile || index == 0;
                        let script = script.clone();
                        let (c, s) = (c.clone(), s.clone());
                        thread::spawn(move || serve(stream, index, hostile, script, c, s));
                    }
                    Err(e) if e.kind() == IoErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2))
                    }
                    Err(_) => return,
                }
            }
        });
        Hostile { addr, conns, stop }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What every connection saw so far.
    pub fn conns(&self) -> Vec<ConnRecord> {
        self.conns.lock().unwrap().clone()
    }

    /// Wait until `n` connections were accepted (up to 5 s); the records then.
    pub fn wait_conns(&self, n: usize) -> Vec<ConnRecord> {
        for _ in 0..500 {
            let c = self.conns();
            if c.len() >= n {
                return c;
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.conns()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Read one request head (through the blank line) and its `Content-Length` body. `None` on EOF / error.
fn read_request(
    stream: &mut TcpStream,
    rec: &Mutex<Vec<ConnRecord>>,
    index: usize,
) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => {
                head.push(byte[0]);
                rec.lock().unwrap()[index].bytes_in += 1;
            }
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let len = text
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).ok()?;
    rec.lock().unwrap()[index].bytes_in += len;
    let line = text.lines().next().unwrap_or("").to_string();
    rec.lock().unwrap()[index].requests.push(line.clone());
    Some(line)
}

fn write(stream: &mut TcpStream, bytes: &[u8], rec: &Mutex<Vec<ConnRecord>>, index: usize) -> bool {
    let ok = stream.write_all(bytes).is_ok();
    if ok {
        rec.lock().unwrap()[index].bytes_out += bytes.len() as u64;
    }
    ok
}

fn serve(
    mut stream: TcpStream,
    index: usize,
    hostile: bool,
    script: Script,
    rec: Arc<Mutex<Vec<ConnRecord>>>,
    stop: Arc<AtomicBool>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    if !hostile {
        // Well-behaved keep-alive server.
        while read_request(&mut stream, &rec, index).is_some() {
            if !write(&mut stream, GOOD, &rec, index) {
                return;
            }
        }
        return;
    }
    let silent = matches!(script.steps.as_slice(), [Step::Hold]);
    if !silent && read_request(&mut stream, &rec, index).is_none() {
        return;
    }
    for step in script.steps {
        match step {
            Step::Write(b) => {
                if !write(&mut stream, &b, &rec, index) {
                    return;
                }
            }
            Step::Drip(b, pause) => {
                for byte in b {
                    if stop.load(Ordering::Relaxed) || !write(&mut stream, &[byte], &rec, index) {
                        return;
                    }
                    thread::sleep(pause);
                }
            }
            Step::Endless(pattern, limit) => {
                let mut sent = 0u64;
                while sent < limit && !stop.load(Ordering::Relaxed) {
                    if !write(&mut stream, &pattern, &rec, index) {
                        return;
                    }
                    sent += pattern.len() as u64;
                }
            }
            Step::Sleep(d) => thread::sleep(d),
            Step::Reset => {
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                return;
            }
            Step::Hold => {
                let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => rec.lock().unwrap()[index].bytes_in += n,
                        Err(e)
                            if matches!(
                                e.kind(),
                                IoErrorKind::WouldBlock | IoErrorKind::TimedOut
                            ) =>
                        {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
    // Drain what the client still sends so the close is a FIN, not a reset.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 1024];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}
