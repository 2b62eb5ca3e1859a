//! Hostile proxies on loopback: each accepted connection gets one scripted misbehaviour at a handshake step.
//!
//! The proxy counts connections and keeps every byte each one sent, so a test can prove that nothing was
//! retried and that no request byte reached a proxy that never opened a tunnel.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the proxy does with each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Answer `CONNECT` with 200, then send bytes that are neither TLS nor HTTP.
    ConnectOkThenGarbage,
    /// Answer every request head with 407 (with `Proxy-Authenticate: Basic`), keeping the connection open: a
    /// client that retried authentication would loop.
    Always407,
    /// Send half a status line, then close.
    CloseMidHandshake,
    /// Answer the SOCKS5 greeting with version byte 4.
    WrongSocksVersion,
    /// Accept and read, never answer.
    Silent,
}

/// The garbage [`Misbehaviour::ConnectOkThenGarbage`] sends after its 200.
pub const GARBAGE: &[u8] = b"\x00\xff\x13garbage, not a response\r\n\r\n";

/// A running hostile proxy; stops accepting when dropped.
pub struct BadProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl BadProxy {
    /// Start one on a free loopback port.
    pub fn start(how: Misbehaviour) -> std::io::Result<BadProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (stop2, received2) = (stop.clone(), received.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        let idx = {
                            let mut r = received2.lock().expect("lock");
                            r.push(Vec::new());
                            r.len() - 1
                        };
                        let (stop3, received3) = (stop2.clone(), received2.clone());
                        thread::spawn(move || serve(sock, how, idx, &stop3, &received3));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(BadProxy {
            addr,
            stop,
            received,
        })
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `SCHEME://127.0.0.1:port`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.received.lock().expect("lock").len()
    }

    /// Everything each connection sent, in accept order.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for BadProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(
    mut sock: TcpStream,
    how: Misbehaviour,
    idx: usize,
    stop: &AtomicBool,
    received: &Mutex<Vec<Vec<u8>>>,
) {
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
    let mut answered_heads = 0;
    let mut buf = [0u8; 4096];
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let n = match sock.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        };
        let all = {
            let mut r = received.lock().expect("lock");
            r[idx].extend_from_slice(&buf[..n]);
            r[idx].clone()
        };
        match how {
            Misbehaviour::ConnectOkThenGarbage => {
                if answered_heads == 0 && contains(&all, b"\r\n\r\n") {
                    answered_heads = 1;
                    let _ = sock.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    let _ = sock.write_all(GARBAGE);
                }
            }
            Misbehaviour::Always407 => {
                let heads = count(&all, b"\r\n\r\n");
                while answered_heads < heads {
                    answered_heads += 1;
                    let _ = sock.write_all(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                          Proxy-Authenticate: Basic realm=\"plue\"\r\nContent-Length: 0\r\n\r\n",
                    );
                }
            }
            Misbehaviour::CloseMidHandshake => {
                let _ = sock.write_all(b"HTTP/1.1 20");
                let _ = sock.shutdown(Shutdown::Both);
                return;
            }
            Misbehaviour::WrongSocksVersion => {
                if answered_heads == 0 {
                    answered_heads = 1;
                    let _ = sock.write_all(&[4, 0]);
                }
            }
            Misbehaviour::Silent => {}
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}
