//! The mio event loop: the client machine, its sockets and its timer, run one turn at a time by whichever
//! thread holds it (see `sched`).
//!
//! Sockets are registered edge-triggered for both directions; the loop remembers readiness and only reads
//! while the core grants `Read`, so backpressure costs no syscalls. Commands from client handles arrive on a
//! channel with a [`Waker`]. Nothing here is epoll-specific (kqueue works the same way through mio).

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use plue_http_core::client::{ClientMachine, ConnId, Input, Output};
use plue_http_core::time::Instant;
use plue_http_core::{Bytes, NetError};
use plue_http_driver::{net_error, resolve_blocking, Applied, IdBuildHasher, Router, Turns};
use plue_http_os::sleep::{ClockPair, SleepDetector};
use plue_http_os::OsWatcher;
use std::os::fd::AsRawFd;

pub(crate) const WAKER: Token = Token(0);
/// The OS watchers' descriptor (connection tokens are `id + 1` and never get here).
const OS: Token = Token(usize::MAX);

/// A resolver thread's answer.
type Resolved = (String, u16, Result<Vec<SocketAddr>, NetError>);

struct Conn {
    stream: TcpStream,
    connected: bool,
    reading: bool,
    readable: bool,
    writable: bool,
    eof: bool,
    /// The peer shut its side (or the socket errored): the next reads drain to EOF without another edge.
    read_closed: bool,
    /// A read or write failed; the core was told and will close it.
    dead: bool,
    out: VecDeque<Bytes>,
}

pub(crate) struct Loop {
    poll: Poll,
    machine: ClientMachine,
    /// Commands from the client's handles; events go back through it.
    router: Router,
    resolved_tx: Sender<Resolved>,
    resolved: Receiver<Resolved>,
    waker: Arc<Waker>,
    epoch: StdInstant,
    deadline: Option<Instant>,
    conns: HashMap<ConnId, Conn, IdBuildHasher>,
    /// Connections with work to do after the last drain (writes queued, reads granted, connect failed).
    dirty: Vec<ConnId>,
    failed_connects: Vec<(ConnId, NetError)>,
    buf: Vec<u8>,
    events: Events,
    /// Network and memory-pressure watchers, registered as one readable source.
    os: Option<OsWatcher>,
    /// Suspend detection, checked whenever the loop turns (no timer of its own).
    sleep: SleepDetector,
}

impl Loop {
    pub(crate) fn new(
        poll: Poll,
        machine: ClientMachine,
        router: Router,
        waker: Arc<Waker>,
    ) -> Self {
        let (resolved_tx, resolved) = mpsc::channel();
        let os = OsWatcher::new().ok().filter(|w| {
            let fd = w.fd().as_raw_fd();
            let source = &mut mio::unix::SourceFd(&fd);
            poll.registry()
                .register(source, OS, Interest::READABLE)
                .is_ok()
        });
        let mut sleep = SleepDetector::default();
        sleep.observe(ClockPair::now());
        Loop {
            poll,
            machine,
            router,
            resolved_tx,
            resolved,
            waker,
            epoch: StdInstant::now(),
            deadline: None,
            conns: HashMap::default(),
            dirty: Vec::new(),
            failed_connects: Vec::new(),
            buf: vec![0; 16 * 1024],
            events: Events::with_capacity(256),
            os,
            sleep,
        }
    }

    fn now(&self) -> Instant {
        let since = self.epoch.elapsed();
        Instant::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl Turns for Loop {
    /// One turn: wait for readiness (not at all when work is already queued, at most until the core's
    /// deadline or `cap`), do the I/O it allows, expire timers, then apply queued commands.
    fn turn(&mut self, polling: &AtomicBool, cap: Option<Duration>) -> bool {
        let mut timeout = self
            .deadline
            .map(|d| d.saturating_duration_since(self.now()));
        if let Some(cap) = cap {
            timeout = Some(timeout.map_or(cap, |t| t.min(cap)));
        }
        polling.store(true, Ordering::SeqCst);
        // Pairs with the fence in `SharedLoop::command_sent`: either the sender sees `polling` and wakes this
        // poll, or this check sees its command.
        fence(Ordering::SeqCst);
        if self.router.has_commands() || !self.dirty.is_empty() || !self.failed_connects.is_empty()
        {
            timeout = Some(Duration::ZERO);
        }
        let polled = self.poll.poll(&mut self.events, timeout);
        polling.store(false, Ordering::SeqCst);
        if polled.is_err_and(|e| e.kind() != io::ErrorKind::Interrupted) {
            return self.shutdown();
        }
        if self.sleep.observe(ClockPair::now()).is_some() {
            self.machine.resumed_from_sleep(self.now());
            self.drain();
        }
        let mut os_ready = false;
        for ev in self.events.iter() {
            if ev.token() == WAKER {
                continue;
            }
            if ev.token() == OS {
                os_ready = true;
                continue;
            }
            let id = ConnId(ev.token().0 as u64 - 1);
            if let Some(c) = self.conns.get_mut(&id) {
                // Errors and hang-ups surface through the next read or write.
                c.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                c.read_closed |= ev.is_read_closed() || ev.is_error();
                c.writable |= ev.is_writable() || ev.is_write_closed() || ev.is_error();
                self.dirty.push(id);
            }
        }
        if os_ready {
            self.os_events();
        }
        self.pump_all();
        // Expiry is judged by the clock, not by why poll returned; before commands, so a connection that
        // expired while nobody ran the loop is evicted before a new request could pick it.
        if let Some(at) = self.deadline {
            let now = self.now();
            if now >= at {
                self.machine.handle_input(now, Input::Timeout);
                self.drain();
                self.pump_all();
            }
        }
        loop {
            let now = self.now();
            match self.router.poll_command(&mut self.machine, now) {
                Applied::Idle => break,
                Applied::Command => {}
                Applied::Shutdown => return self.shutdown(),
            }
            self.drain();
            self.pump_all();
        }
        while let Ok((host, port, result)) = self.resolved.try_recv() {
            self.input(Input::Resolved { host, port, result });
            self.pump_all();
        }
        false
    }

    fn is_idle(&self) -> bool {
        self.router.is_idle()
    }
}

impl Loop {
    /// Read what the OS watchers report and hand it to the machine.
    fn os_events(&mut self) {
        let events = self.os.as_mut().and_then(|w| w.poll().ok());
        for ev in events.unwrap_or_default() {
            let now = self.now();
            plue_http_driver::apply_os_event(&mut self.machine, now, ev);
            self.drain();
        }
    }

    fn shutdown(&mut self) -> bool {
        let now = self.now();
        self.machine.shutdown(now);
        self.drain();
        true
    }

    fn input(&mut self, input: Input<'_>) {
        let now = self.now();
        self.machine.handle_input(now, input);
        self.drain();
    }

    /// Drain outputs until `Wait`. Socket work is only queued here and done by `pump_all`, so a drain never
    /// recurses into another input.
    pub(crate) fn drain(&mut self) {
        let now = self.now();
        loop {
            match self.machine.poll_output(now) {
                Output::Wait(deadline) => {
                    self.router.wake_handles();
                    self.deadline = deadline;
                    return;
                }
                Output::Resolve { host, port } => {
                    let (tx, waker) = (self.resolved_tx.clone(), self.waker.clone());
                    std::thread::spawn(move || {
                        let result = resolve_blocking(&host, port);
                        let _ = tx.send((host, port, result));
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
                Output::Event(ev) => self.router.route(&mut self.machine, now, ev),
            }
        }
    }

    fn connect(&mut self, conn: ConnId, addr: SocketAddr) {
        // Connection tokens are `id + 1`: token 0 is the waker.
        let (token, interest) = (
            Token(conn.0 as usize + 1),
            Interest::READABLE | Interest::WRITABLE,
        );
        let opened = TcpStream::connect(addr).and_then(|mut stream| {
            self.poll
                .registry()
                .register(&mut stream, token, interest)?;
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
                    read_closed: false,
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
                        if let Ok(local) = c.stream.local_addr() {
                            self.machine.set_local_addr(id, local);
                        }
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
                    Ok(n) => {
                        // A short read emptied the socket's receive buffer (as tokio assumes too): more data
                        // brings a new edge, so skip the read that would only say `WouldBlock`. Not after the
                        // peer's FIN, whose edge may already be spent.
                        if n < buf.len() && !c.read_closed {
                            c.readable = false;
                        }
                        self.input(Input::Data(id, &buf[..n]))
                    }
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
}
