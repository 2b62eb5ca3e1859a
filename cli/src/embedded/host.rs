//! Serves a sans-IO [`ScriptedServer`] over real TCP on 127.0.0.1: the embedded demo server's transport, and
//! the loopback host the tests crate (`plue_http_tests::loopback`) runs the tokio, smol and mio drivers against,
//! so they meet the same server as the simulation.
//!
//! One thread runs a small mio loop: it accepts, moves bytes between sockets and the server, and sleeps until
//! the server's next deadline. The server sits behind a mutex so a test can read what it received.
//! [`Loopback::restart`] models a server restart: every connection is reset and the port refuses connections
//! for a while, then the same port listens again. [`Loopback::start_tls`] serves the same server over TLS: a
//! sans-IO rustls `ServerConnection` per connection between the socket and the scripted server, which closes with
//! `close_notify` when the script closes.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use bytes::Bytes;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use plue_http_core::time::Instant;
use plue_http_sim::server::{ScriptedServer, SrvConn, SrvOutput};
use rustls::{ServerConfig, ServerConnection};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

enum Ctl {
    Restart(Duration, Sender<()>),
    Stop,
}

/// A scripted server listening on a loopback port. Stops when dropped.
pub struct Loopback {
    addr: SocketAddr,
    server: Arc<Mutex<ScriptedServer>>,
    ctl: Sender<Ctl>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    accepted: Arc<Mutex<Accepted>>,
    tls: bool,
}

/// Connection counts seen by the host (for pool-cap assertions).
#[derive(Debug, Default, Clone, Copy)]
pub struct Accepted {
    /// Connections accepted in total.
    pub total: usize,
    /// Connections open right now.
    pub open: usize,
    /// The most connections open at once.
    pub peak: usize,
}

impl Loopback {
    /// Serve `server` on a fresh loopback port.
    pub fn start(server: ScriptedServer) -> io::Result<Loopback> {
        Self::start_with(server, SocketAddr::from(([127, 0, 0, 1], 0)), None)
    }

    /// Serve `server` over TLS with `config` on a fresh loopback port.
    pub fn start_tls(server: ScriptedServer, config: Arc<ServerConfig>) -> io::Result<Loopback> {
        Self::start_with(server, SocketAddr::from(([127, 0, 0, 1], 0)), Some(config))
    }

    /// Serve `server` on `bind` (port 0: a fresh port), e.g. every address of a test's own network namespace.
    pub fn start_on(server: ScriptedServer, bind: SocketAddr) -> io::Result<Loopback> {
        Self::start_with(server, bind, None)
    }

    fn start_with(
        server: ScriptedServer,
        bind: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<Loopback> {
        let is_tls = tls.is_some();
        let mut listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let server = Arc::new(Mutex::new(server));
        let accepted = Arc::new(Mutex::new(Accepted::default()));
        let (ctl, rx) = mpsc::channel();
        let host = Host {
            poll,
            listener: Some(listener),
            addr,
            server: server.clone(),
            accepted: accepted.clone(),
            rx,
            epoch: StdInstant::now(),
            conns: HashMap::new(),
            by_srv: HashMap::new(),
            next_token: 2,
            relisten_at: None,
            tls,
        };
        let thread = std::thread::Builder::new()
            .name("loopback".into())
            .spawn(move || host.run())?;
        Ok(Loopback {
            addr,
            server,
            ctl,
            waker,
            thread: Some(thread),
            accepted,
            tls: is_tls,
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port` (`https://` when serving TLS).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The server (to read its request log).
    pub fn server(&self) -> MutexGuard<'_, ScriptedServer> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connection counts.
    pub fn accepted(&self) -> Accepted {
        *self.accepted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Restart the server: reset every connection, refuse connections for `down`, then listen again on the
    /// same port. Returns once the connections are reset and the port refuses.
    pub fn restart(&self, down: Duration) {
        let (done, wait) = mpsc::channel();
        let _ = self.ctl.send(Ctl::Restart(down, done));
        let _ = self.waker.wake();
        let _ = wait.recv();
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let _ = self.ctl.send(Ctl::Stop);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Conn {
    stream: TcpStream,
    srv: SrvConn,
    out: Vec<u8>,
    close_after_flush: bool,
    tls: Option<Box<ServerConnection>>,
}

struct Host {
    poll: Poll,
    listener: Option<TcpListener>,
    addr: SocketAddr,
    server: Arc<Mutex<ScriptedServer>>,
    accepted: Arc<Mutex<Accepted>>,
    rx: Receiver<Ctl>,
    epoch: StdInstant,
    conns: HashMap<Token, Conn>,
    by_srv: HashMap<SrvConn, Token>,
    next_token: usize,
    relisten_at: Option<StdInstant>,
    tls: Option<Arc<ServerConfig>>,
}

impl Host {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(128);
        let mut buf = vec![0u8; 64 * 1024];
        let mut deadline: Option<Instant> = None;
        loop {
            let now = self.now();
            let mut timeout = deadline.map(|d| d.saturating_duration_since(now));
            if let Some(at) = self.relisten_at {
                let left = at.saturating_duration_since(StdInstant::now());
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return;
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    t => self.service(t, &mut buf),
                }
            }
            while let Ok(ctl) = self.rx.try_recv() {
                match ctl {
                    Ctl::Stop => return,
                    Ctl::Restart(down, done) => {
                        self.restart(down);
                        let _ = done.send(());
                    }
                }
            }
            if self.relisten_at.is_some_and(|at| StdInstant::now() >= at) {
                self.relisten_at = None;
                if let Ok(mut l) = TcpListener::bind(self.addr) {
                    let reg = self.poll.registry();
                    if reg.register(&mut l, LISTENER, Interest::READABLE).is_ok() {
                        self.listener = Some(l);
                    }
                }
            }
            deadline = self.drain();
        }
    }

    fn lock(&self) -> MutexGuard<'_, ScriptedServer> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accept(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, token, interest)
                        .is_err()
                    {
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let tls = match &self.tls {
                        None => None,
                        Some(cfg) => match ServerConnection::new(cfg.clone()) {
                            Ok(mut c) => {
                                // The script's output is encrypted whole into `out`, as plain bytes are queued.
                                c.set_buffer_limit(None);
                                Some(Box::new(c))
                            }
                            Err(_) => continue,
                        },
                    };
                    let now = self.now();
                    let srv = self.lock().accept(now);
                    self.by_srv.insert(srv, token);
                    self.conns.insert(
                        token,
                        Conn {
                            stream,
                            srv,
                            out: Vec::new(),
                            close_after_flush: false,
                            tls,
                        },
                    );
                    let mut a = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
                    a.total += 1;
                    a.open += 1;
                    a.peak = a.peak.max(a.open);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return,
            }
        }
    }

    /// Read everything available, then flush.
    fn service(&mut self, token: Token, buf: &mut [u8]) {
        loop {
            let Some(c) = self.conns.get_mut(&token) else {
                return;
            };
            match c.stream.read(buf) {
                Ok(0) => {
                    let (srv, now) = (c.srv, self.now());
                    self.lock().handle_eof(now, srv);
                    break;
                }
                Ok(n) if c.tls.is_some() => {
                    let Some(plain) = decrypt(c, &buf[..n]) else {
                        // Not TLS, or an alert went out: the connection is over.
                        self.flush(token);
                        self.forget(token, true);
                        return;
                    };
                    if !plain.is_empty() {
                        let (srv, now) = (c.srv, self.now());
                        self.lock().handle_data(now, srv, &plain);
                    }
                }
                Ok(n) => {
                    let (srv, now) = (c.srv, self.now());
                    self.lock().handle_data(now, srv, &buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.forget(token, true);
                    return;
                }
            }
        }
        self.flush(token);
    }

    fn flush(&mut self, token: Token) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        while !c.out.is_empty() {
            match c.stream.write(&c.out) {
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.forget(token, true);
                    return;
                }
            }
        }
        if c.close_after_flush {
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            self.forget(token, false);
        }
    }

    /// Drop a connection; `tell` when the server did not ask for it (the transport broke).
    fn forget(&mut self, token: Token, tell: bool) {
        if let Some(mut c) = self.conns.remove(&token) {
            let _ = self.poll.registry().deregister(&mut c.stream);
            self.by_srv.remove(&c.srv);
            if tell {
                self.lock().disconnect(c.srv);
            }
            let mut a = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
            a.open -= 1;
        }
    }

    fn reset(&mut self, token: Token) {
        if let Some(c) = self.conns.get(&token) {
            // SO_LINGER 0: close sends RST instead of FIN.
            let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
        }
        self.forget(token, false);
    }

    fn restart(&mut self, down: Duration) {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for t in tokens {
            self.reset(t);
        }
        self.lock().restart();
        self.relisten_at = Some(StdInstant::now() + down);
    }

    /// Perform the server's outputs until it waits; returns its deadline.
    fn drain(&mut self) -> Option<Instant> {
        loop {
            let now = self.now();
            let out = self.lock().poll_output(now);
            match out {
                SrvOutput::Wait(d) => return d,
                SrvOutput::Transmit(srv, data) => {
                    if let Some(&t) = self.by_srv.get(&srv) {
                        if let Some(c) = self.conns.get_mut(&t) {
                            match &mut c.tls {
                                None => c.out.extend_from_slice(&Bytes::clone(&data)),
                                Some(tls) => {
                                    let _ = tls.writer().write_all(&data);
                                    encrypt(tls, &mut c.out);
                                }
                            }
                        }
                        self.flush(t);
                    }
                }
                SrvOutput::Close(srv) => {
                    if let Some(&t) = self.by_srv.get(&srv) {
                        if let Some(c) = self.conns.get_mut(&t) {
                            if let Some(tls) = &mut c.tls {
                                // A clean TLS end: a body delimited by the close is complete.
                                tls.send_close_notify();
                                encrypt(tls, &mut c.out);
                            }
                            c.close_after_flush = true;
                        }
                        self.flush(t);
                    }
                }
                SrvOutput::Reset(srv) => {
                    if let Some(&t) = self.by_srv.get(&srv) {
                        self.reset(t);
                    }
                }
            }
        }
    }
}

/// Feed ciphertext to the connection's TLS; returns the plaintext (empty during the handshake), with any TLS
/// output (handshake flights, an alert) appended to `c.out`. `None`: the connection failed.
fn decrypt(c: &mut Conn, mut data: &[u8]) -> Option<Vec<u8>> {
    let tls = c.tls.as_mut()?;
    let mut plain = Vec::new();
    while !data.is_empty() {
        if tls.read_tls(&mut data).is_err() {
            return None;
        }
        let failed = tls.process_new_packets().is_err();
        encrypt(tls, &mut c.out);
        if failed {
            return None;
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match tls.reader().read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => plain.extend_from_slice(&chunk[..n]),
                Err(_) => break,
            }
        }
    }
    Some(plain)
}

/// Move the TLS connection's pending output to `out`.
fn encrypt(tls: &mut ServerConnection, out: &mut Vec<u8>) {
    while tls.wants_write() {
        if tls.write_tls(out).is_err() {
            return;
        }
    }
}
