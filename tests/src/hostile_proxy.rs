//! A TCP proxy on loopback that can drop live connections: the "dropped connections" fault of the soak test.
//!
//! Client connections are accepted on the proxy's port and relayed byte for byte to `upstream`. [`Proxy::drop_one`]
//! resets one live connection pair (both sockets shut down at once), as a broken network would.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The proxy. Stops accepting when dropped (live relays end with their sockets).
pub struct Proxy {
    addr: SocketAddr,
    live: Arc<Mutex<Vec<(TcpStream, TcpStream)>>>,
    stop: Arc<AtomicBool>,
    /// While set, new connections are closed at once (the network is down).
    down: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
}

fn relay(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Proxy {
    /// Relay a fresh loopback port to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let live: Arc<Mutex<Vec<(TcpStream, TcpStream)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (l, s, a, d) = (live.clone(), stop.clone(), accepted.clone(), down.clone());
        thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        a.fetch_add(1, Ordering::Relaxed);
                        if d.load(Ordering::SeqCst) {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        }
                        // Upstream down (server restarting): the client sees its connection closed at once.
                        let Ok(server) = TcpStream::connect(upstream) else {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        };
                        let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                        {
                            let mut v = l.lock().unwrap();
                            v.retain(|(c, _)| c.peer_addr().is_ok());
                            v.push((client.try_clone().unwrap(), server.try_clone().unwrap()));
                        }
                        thread::spawn(move || relay(client, s2));
                        thread::spawn(move || relay(server, c2));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Proxy {
            addr,
            live,
            stop,
            down,
            accepted,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Take the network down: break every live connection and close new ones at once, until [`Proxy::restore`].
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        while self.drop_one() {}
    }

    /// Bring the network back.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// Break the oldest live connection (both directions at once). `false` when none was live.
    pub fn drop_one(&self) -> bool {
        let mut v = self.live.lock().unwrap();
        while !v.is_empty() {
            let (c, s) = v.remove(0);
            let alive = c.peer_addr().is_ok();
            let _ = c.shutdown(Shutdown::Both);
            let _ = s.shutdown(Shutdown::Both);
            if alive {
                return true;
            }
        }
        false
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for (c, s) in self.live.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
