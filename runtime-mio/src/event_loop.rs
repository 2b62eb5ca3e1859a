//! The mio event loop: one thread owning the client machine, its sockets and its timer.
//!
//! Sockets are registered edge-triggered for both directions; the loop remembers readiness and only reads
//! while the core grants `Read`, so backpressure costs no syscalls. Commands from client handles arrive on a
//! channel with a [`Waker`]. Nothing here is epoll-specific (kqueue works the same way through mio).

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant as StdInstant;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use plue_http_core::client::{
    ClientMachine, ConnId, Event, Input, Output, RequestId, StreamOptions,
};
use plue_http_core::time::Instant;
use plue_http_core::{Bytes, NetError, Request};

pub(crate) const WAKER: Token = Token(0);

/// Commands from client handles (and resolver threads) to the loop.
pub(crate) enum Cmd {
    Request(u64, Request, Sender<Event>),
    Batch(Vec<(u64, Request, Sender<Event>)>),
    Subscribe(u64, Request, StreamOptions, Sender<Event>),
    Abort(u64),
    Consumed(u64, usize),
    ReleaseIdle,
    Resolved(String, u16, Result<Vec<SocketAddr>, NetError>),
    Shutdown,
}

struct Conn {
    stream: TcpStream,
    connected: bool,
    reading: bool,
    readable: bool,
    writable: bool,
    eof: bool,
    /// A read or write failed; the core was told and will close it.
    dead: bool,
    out: VecDeque<Bytes>,
}

pub(crate) struct Loop {
    poll: Poll,
    machine: ClientMachine,
    rx: Receiver<Cmd>,
    tx: Sender<Cmd>,
    waker: Arc<Waker>,
    epoch: StdInstant,
    deadline: Option<Instant>,
    conns: HashMap<ConnId, Conn>,
    /// Connections with work to do after the last drain (writes queued, reads granted, connect failed).
    dirty: Vec<ConnId>,
    failed_connects: Vec<(ConnId, NetError)>,
    routes: HashMap<RequestId, (u64, Sender<Event>)>,
    tokens: HashMap<u64, RequestId>,
    buf: Vec<u8>,
}

/// Map an I/O error to the core's flat [`NetError`].
pub(crate) fn net_error(e: &io::Error) -> NetError {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => NetError::Refused,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => NetError::Reset,
        K::NotConnected | K::UnexpectedEof | K::WriteZero => NetError::Closed,
        K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable | K::NetworkDown => {
            NetError::Unreachable
        }
        _ => NetError::Other,
    }
}

fn token(id: ConnId) -> Token {
    Token(id.0 as usize + 1)
}

impl Loop {
    pub(crate) fn new(
        poll: Poll,
        machine: ClientMachine,
        rx: Receiver<Cmd>,
        tx: Sender<Cmd>,
        waker: Arc<Waker>,
    ) -> Self {
        Loop {
            poll,
            machine,
            rx,
            tx,
            waker,
            epoch: StdInstant::now(),
            deadline: None,
            conns: HashMap::new(),
            dirty: Vec::new(),
            failed_connects: Vec::new(),
            routes: HashMap::new(),
            tokens: HashMap::new(),
            buf: vec![0; 16 * 1024],
        }
    }

    fn now(&self) -> Instant {
        let since = self.epoch.elapsed();
        Instant::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        self.drain();
        loop {
            let timeout = self
                .deadline
                .map(|d| d.saturating_duration_since(self.now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    break;
                }
            }
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                let id = ConnId(ev.token().0 as u64 - 1);
                if let Some(c) = self.conns.get_mut(&id) {
                    // Errors and hang-ups surface through the next read or write.
                    c.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    c.writable |= ev.is_writable() || ev.is_write_closed() || ev.is_error();
                    self.dirty.push(id);
                }
            }
            self.pump_all();
            while let Ok(cmd) = self.rx.try_recv() {
                if matches!(cmd, Cmd::Shutdown) {
                    let now = self.now();
                    self.machine.shutdown(now);
                    self.drain();
                    return;
                }
                self.command(cmd);
                self.pump_all();
            }
            // Expiry is judged by the clock, not by why poll returned.
            if let Some(at) = self.deadline {
                let now = self.now();
                if now >= at {
                    self.machine.handle_input(now, Input::Timeout);
                    self.drain();
                    self.pump_all();
                }
            }
        }
    }

    fn command(&mut self, cmd: Cmd) {
        let now = self.now();
        let m = &mut self.machine;
        match cmd {
            Cmd::Request(token, req, events) => {
                let id = m.request(now, req);
                self.track(token, id, events);
            }
            Cmd::Batch(items) => {
                let (meta, reqs): (Vec<_>, Vec<_>) =
                    items.into_iter().map(|(t, r, e)| ((t, e), r)).unzip();
                let ids = m.batch(now, reqs);
                for ((token, events), id) in meta.into_iter().zip(ids) {
                    self.track(token, id, events);
                }
            }
            Cmd::Subscribe(token, req, opts, events) => {
                let id = m.subscribe(now, req, opts);
                self.track(token, id, events);
            }
            Cmd::Abort(token) => {
                if let Some(id) = self.tokens.get(&token) {
                    m.abort(now, *id);
                }
            }
            Cmd::Consumed(token, n) => {
                if let Some(id) = self.tokens.get(&token) {
                    m.consumed(now, *id, n);
                }
            }
            Cmd::ReleaseIdle => m.release_idle(),
            Cmd::Resolved(host, port, result) => {
                m.handle_input(now, Input::Resolved { host, port, result })
            }
            Cmd::Shutdown => {}
        }
        self.drain();
    }

    fn track(&mut self, token: u64, id: RequestId, events: Sender<Event>) {
        self.tokens.insert(token, id);
        self.routes.insert(id, (token, events));
    }

    fn input(&mut self, input: Input<'_>) {
        let now = self.now();
        self.machine.handle_input(now, input);
        self.drain();
    }

    /// Drain outputs until `Wait`. Socket work is only queued here and done by `pump_all`, so a drain never
    /// recurses into another input.
    fn drain(&mut self) {
        let now = self.now();
        loop {
            match self.machine.poll_output(now) {
                Output::Wait(deadline) => {
                    self.deadline = deadline;
                    return;
                }
                Output::Resolve { host, port } => {
                    let (tx, waker) = (self.tx.clone(), self.waker.clone());
                    std::thread::spawn(move || {
                        let result = match (host.as_str(), port).to_socket_addrs() {
                            Ok(addrs) => Ok(addrs.collect::<Vec<_>>()),
                            Err(_) => Err(NetError::Resolve),
                        };
                        let result = result.and_then(|a| {
                            if a.is_empty() {
                                Err(NetError::Resolve)
                            } else {
                                Ok(a)
                            }
                        });
                        let _ = tx.send(Cmd::Resolved(host, port, result));
                        let _ = waker.wake();
                    });
                }
                Output::Connect { conn, addr } => self.connect(conn, addr),
                Output::Transmit { conn, data } => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.out.push_back(data);
                        self.dirty.push(conn);
                    }
                }
                Output::Read(conn) => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.reading = true;
                        self.dirty.push(conn);
                    }
                }
                Output::PauseRead(conn) => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.reading = false;
                    }
                }
                Output::Close(conn) => {
                    if let Some(mut c) = self.conns.remove(&conn) {
                        let _ = self.poll.registry().deregister(&mut c.stream);
                    }
                }
                Output::Event(ev) => self.route(now, ev),
            }
        }
    }

    fn connect(&mut self, conn: ConnId, addr: SocketAddr) {
        let opened = TcpStream::connect(addr).and_then(|mut stream| {
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.poll
                .registry()
                .register(&mut stream, token(conn), interest)?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => {
                let c = Conn {
                    stream,
                    connected: false,
                    reading: false,
                    readable: false,
                    writable: false,
                    eof: false,
                    dead: false,
                    out: VecDeque::new(),
                };
                self.conns.insert(conn, c);
            }
            Err(e) => self.failed_connects.push((conn, net_error(&e))),
        }
    }

    fn pump_all(&mut self) {
        loop {
            if let Some((conn, e)) = self.failed_connects.pop() {
                self.input(Input::ConnectFailed(conn, e));
            } else if let Some(conn) = self.dirty.pop() {
                self.pump(conn);
            } else {
                return;
            }
        }
    }

    /// Do all the I/O one connection allows right now, feeding each result to the core.
    fn pump(&mut self, id: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            if c.dead {
                return;
            }
            if !c.connected {
                if !c.writable {
                    return;
                }
                // A non-blocking connect finished: it either failed or has a peer.
                let outcome = match c.stream.take_error() {
                    Ok(Some(e)) | Err(e) => Err(e),
                    Ok(None) => c.stream.peer_addr().map(|_| ()),
                };
                match outcome {
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        c.writable = false;
                        return;
                    }
                    Err(e) => {
                        c.dead = true;
                        return self.input(Input::ConnectFailed(id, net_error(&e)));
                    }
                    Ok(()) => {
                        c.connected = true;
                        let _ = c.stream.set_nodelay(true);
                        self.input(Input::Connected(id));
                        continue;
                    }
                }
            }
            if c.writable && !c.out.is_empty() {
                match c.stream.write(&c.out[0]) {
                    Ok(n) => {
                        let front = &mut c.out[0];
                        if n >= front.len() {
                            c.out.pop_front();
                        } else {
                            let _ = front.split_to(n);
                        }
                        self.input(Input::Written(id, n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        c.dead = true;
                        return self.input(Input::Failed(id, net_error(&e)));
                    }
                }
                continue;
            }
            if c.reading && c.readable && !c.eof {
                let mut buf = std::mem::take(&mut self.buf);
                let read = c.stream.read(&mut buf);
                match read {
                    Ok(0) => {
                        c.eof = true;
                        self.input(Input::Eof(id));
                    }
                    Ok(n) => self.input(Input::Data(id, &buf[..n])),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        c.dead = true;
                        self.input(Input::Failed(id, net_error(&e)));
                    }
                }
                self.buf = buf;
                continue;
            }
            return;
        }
    }

    fn route(&mut self, now: Instant, ev: Event) {
        let id = ev.id();
        let terminal = matches!(ev, Event::Done { .. } | Event::Failed { .. });
        let Some((_, events)) = self.routes.get(&id) else {
            return;
        };
        let delivered = events.send(ev).is_ok();
        if terminal || !delivered {
            if let Some((token, _)) = self.routes.remove(&id) {
                self.tokens.remove(&token);
            }
        }
        if !terminal && !delivered {
            // The owner dropped its handle before its abort arrived: stop the work now.
            self.machine.abort(now, id);
        }
    }
}
