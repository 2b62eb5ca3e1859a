//! The simulated network: the client machine's outputs in, its inputs out, scripted servers behind it.
//!
//! It behaves like TCP as a driver sees it: connects take time and may be refused or never answered; writes are
//! acknowledged in pieces; bytes arrive in order per direction with latency, cut at random points down to one
//! byte; a FIN or RST arrives after the data sent before it; data sent to a closed server socket comes back as
//! a reset; reads are only delivered while the client has granted them (backpressure). Faults come from
//! [`Faults`]; reply-level faults are in the servers' scripts.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::clock::Agenda;
use super::faults::{cut_points, Faults};
use super::server::{ScriptedServer, SrvConn, SrvOutput, TAG_HEADER};
pub use plue_http_core::client::NetInput;
use plue_http_core::client::{ConnId, Output};
use plue_http_core::error::NetError;
use plue_http_core::rng::Rng;
use plue_http_core::time::{earliest, Instant};

/// A host on the simulated network.
#[derive(Debug)]
pub struct SimHost {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A DNS name that resolves to `addr` (requests by name need [`Output::Resolve`]).
    pub name: Option<String>,
    /// The server behind it.
    pub server: ScriptedServer,
    down_until: Option<Instant>,
    server_deadline: Option<Instant>,
}

impl SimHost {
    /// A host at `addr` served by `server`.
    pub fn new(addr: SocketAddr, name: Option<&str>, server: ScriptedServer) -> SimHost {
        SimHost {
            addr,
            name: name.map(str::to_string),
            server,
            down_until: None,
            server_deadline: None,
        }
    }
}

/// What the first request on a connection says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnKind {
    /// No complete request head written yet.
    Unknown,
    /// The first request's tag (see [`TAG_HEADER`]); `None` when it had none.
    Tagged(Option<String>),
}

/// The client side of one simulated connection.
#[derive(Debug)]
struct Link {
    host: usize,
    srv: Option<SrvConn>,
    connected: bool,
    /// The client may not use it any more: it closed it, or was told it failed.
    client_done: bool,
    /// The server side is gone (FIN or RST sent); more data from the client is answered with a reset.
    server_gone: bool,
    /// A reset is already on its way to the client.
    reset_sent: bool,
    reading: bool,
    held: VecDeque<Delivery>,
    to_client_at: Instant,
    to_server_at: Instant,
    head_buf: BytesMut,
    kind: ConnKind,
}

#[derive(Debug, Clone)]
enum Delivery {
    Data(Bytes),
    Eof,
    Reset,
}

#[derive(Debug)]
enum Ev {
    ConnectDone(ConnId, bool),
    ToServer(ConnId, Bytes),
    ClientFin(ConnId),
    ToClient(ConnId, Delivery),
    Written(ConnId, usize),
    Resolved(String, u16, Result<Vec<SocketAddr>, NetError>),
    Restart(usize, Duration),
}

/// A public view of a connection for invariant checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    /// The connection.
    pub conn: ConnId,
    /// Index of the host it goes to.
    pub host: usize,
    /// What its first request said.
    pub kind: ConnKind,
}

/// What the network did in a run: evidence that each fault kind was exercised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Connections opened.
    pub connected: u64,
    /// Connects refused (fault or host down).
    pub refused: u64,
    /// Connects never answered.
    pub blackholed: u64,
    /// Writes or server transmits cut into pieces.
    pub split: u64,
    /// Of those, cut into single bytes.
    pub split_bytes: u64,
    /// Resets delivered to the client.
    pub resets: u64,
    /// FINs delivered to the client.
    pub eofs: u64,
    /// Idle keep-alive connections closed by the server just as the client reused them.
    pub idle_races: u64,
    /// Server restarts.
    pub restarts: u64,
    /// Name lookups answered (failed ones included).
    pub resolves: u64,
    /// Requests the servers received on a reused connection.
    pub reused: u64,
}

impl core::ops::AddAssign for NetStats {
    fn add_assign(&mut self, o: NetStats) {
        self.connected += o.connected;
        self.refused += o.refused;
        self.blackholed += o.blackholed;
        self.split += o.split;
        self.split_bytes += o.split_bytes;
        self.resets += o.resets;
        self.eofs += o.eofs;
        self.idle_races += o.idle_races;
        self.restarts += o.restarts;
        self.resolves += o.resolves;
        self.reused += o.reused;
    }
}

/// The simulated network. See the module docs.
#[derive(Debug)]
pub struct SimNet {
    stats: NetStats,
    hosts: Vec<SimHost>,
    links: BTreeMap<ConnId, Link>,
    by_srv: BTreeMap<(usize, SrvConn), ConnId>,
    agenda: Agenda<Ev>,
    inbox: VecDeque<NetInput>,
    rng: Rng,
    faults: Faults,
}

impl SimNet {
    /// A network of `hosts` with `faults`, its randomness decided by `seed`.
    pub fn new(hosts: Vec<SimHost>, faults: Faults, seed: u64) -> SimNet {
        let mut agenda = Agenda::new();
        for (at, host, down) in &faults.restarts {
            agenda.push(*at, Ev::Restart(*host, *down));
        }
        SimNet {
            hosts,
            links: BTreeMap::new(),
            by_srv: BTreeMap::new(),
            agenda,
            inbox: VecDeque::new(),
            stats: NetStats::default(),
            rng: Rng::new(seed ^ 0x6e65_7477_6f72_6b21),
            faults,
        }
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetStats {
        let mut s = self.stats;
        s.reused = self
            .hosts
            .iter()
            .flat_map(|h| h.server.requests())
            .filter(|r| r.reused())
            .count() as u64;
        s
    }

    /// The hosts.
    pub fn hosts(&self) -> &[SimHost] {
        &self.hosts
    }

    /// One host, mutably (to inspect or reconfigure its server).
    pub fn host_mut(&mut self, i: usize) -> &mut SimHost {
        &mut self.hosts[i]
    }

    /// Restart host `host` at `at`: every connection to it dies and its port refuses connections for `down`.
    pub fn schedule_restart(&mut self, at: Instant, host: usize, down: Duration) {
        self.agenda.push(at, Ev::Restart(host, down));
    }

    /// Connections the client holds open (opened or connecting, not closed by it, not reported failed).
    pub fn open_connections(&self) -> usize {
        self.links.values().filter(|l| !l.client_done).count()
    }

    /// The connections the client holds open.
    pub fn open_links(&self) -> impl Iterator<Item = LinkView> + '_ {
        self.links
            .iter()
            .filter(|(_, l)| !l.client_done)
            .map(|(c, l)| LinkView {
                conn: *c,
                host: l.host,
                kind: l.kind.clone(),
            })
    }

    /// The earliest instant at which the network or a server has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.agenda.next_at();
        for h in &self.hosts {
            d = earliest(d, h.server_deadline);
        }
        d
    }

    fn cut(&mut self, len: usize) -> Vec<usize> {
        let pieces = cut_points(&mut self.rng, &self.faults, len);
        if pieces.len() > 1 {
            self.stats.split += 1;
            if pieces.len() == len {
                self.stats.split_bytes += 1;
            }
        }
        pieces
    }

    fn latency(&mut self) -> Duration {
        let max = self.faults.max_latency;
        self.rng.duration_between(Duration::from_micros(10), max)
    }

    /// Carry out one of the client's outputs. `Event` and `Wait` are not the network's business and are
    /// ignored. An output that breaks the driver contract (using a closed connection) is an `Err`.
    pub fn handle_output(&mut self, now: Instant, out: &Output) -> Result<(), String> {
        match out {
            Output::Resolve { host, port } => {
                let found = self
                    .hosts
                    .iter()
                    .find(|h| h.name.as_deref() == Some(host.as_str()))
                    .map(|h| SocketAddr::new(h.addr.ip(), *port));
                let fail = self.rng.chance(u64::from(self.faults.dns_fail), 1000);
                let result = match found {
                    Some(a) if !fail => Ok(vec![a]),
                    _ => Err(NetError::Resolve),
                };
                let at = now + self.latency();
                self.agenda
                    .push(at, Ev::Resolved(host.clone(), *port, result));
            }
            Output::Connect { conn, addr } => {
                if self.links.contains_key(conn) {
                    return Err(format!("Connect reused connection id {conn:?}"));
                }
                let host = self.hosts.iter().position(|h| h.addr == *addr);
                self.links.insert(
                    *conn,
                    Link {
                        host: host.unwrap_or(usize::MAX),
                        srv: None,
                        connected: false,
                        client_done: false,
                        server_gone: false,
                        reset_sent: false,
                        reading: false,
                        held: VecDeque::new(),
                        to_client_at: now,
                        to_server_at: now,
                        head_buf: BytesMut::new(),
                        kind: ConnKind::Unknown,
                    },
                );
                if host.is_none() {
                    let at = now + self.latency();
                    self.agenda.push(at, Ev::ConnectDone(*conn, false));
                    return Ok(());
                }
                if self.rng.chance(u64::from(self.faults.blackhole), 1000) {
                    self.stats.blackholed += 1;
                    return Ok(()); // Never answered: only the client's connect timeout ends this.
                }
                let refused = self.rng.chance(u64::from(self.faults.refuse), 1000);
                let at = now + self.latency() + self.latency();
                self.agenda.push(at, Ev::ConnectDone(*conn, !refused));
            }
            Output::Transmit { conn, data } => {
                let lat = self.latency();
                let pieces = self.cut(data.len());
                let link = self.live_link(*conn, "Transmit")?;
                if !link.connected {
                    return Err(format!("Transmit on {conn:?} before Connected"));
                }
                if link.kind == ConnKind::Unknown {
                    link.head_buf.extend_from_slice(data);
                    if let Some(kind) = first_tag(&link.head_buf) {
                        link.kind = kind;
                        link.head_buf = BytesMut::new();
                    }
                }
                let mut at = (now + lat).max(link.to_server_at);
                let mut off = 0;
                let mut events = Vec::with_capacity(pieces.len() * 2);
                for n in pieces {
                    events.push((now, Ev::Written(*conn, n)));
                    events.push((at, Ev::ToServer(*conn, data.slice(off..off + n))));
                    off += n;
                    at += Duration::from_micros(1);
                }
                link.to_server_at = at;
                for (t, e) in events {
                    self.agenda.push(t, e);
                }
            }
            Output::Read(conn) => {
                let Some(link) = self.links.get_mut(conn).filter(|l| !l.client_done) else {
                    return Ok(()); // Reading a connection already reported failed is harmless.
                };
                link.reading = true;
                while link.reading && !link.client_done {
                    let Some(d) = link.held.pop_front() else {
                        break;
                    };
                    if let Some(input) = Self::deliver(&mut self.stats, *conn, link, d) {
                        self.inbox.push_back(input);
                    }
                }
            }
            Output::PauseRead(conn) => {
                if let Some(link) = self.links.get_mut(conn) {
                    link.reading = false;
                }
            }
            Output::Close(conn) => {
                let lat = self.latency();
                let Some(link) = self.links.get_mut(conn) else {
                    return Err(format!("Close of unknown connection {conn:?}"));
                };
                if link.client_done && link.srv.is_none() && !link.connected {
                    // Closing a connect that failed: nothing left to do.
                    return Ok(());
                }
                link.client_done = true;
                link.held.clear();
                if link.srv.is_some() && !link.server_gone {
                    let at = (now + lat).max(link.to_server_at);
                    self.agenda.push(at, Ev::ClientFin(*conn));
                } else {
                    self.forget(*conn);
                }
            }
            Output::Event(_) | Output::Wait(_) => {}
        }
        Ok(())
    }

    fn live_link(&mut self, conn: ConnId, what: &str) -> Result<&mut Link, String> {
        match self.links.get_mut(&conn) {
            Some(l) if !l.client_done => Ok(l),
            Some(_) => Err(format!(
                "{what} on {conn:?} after it was closed or reported failed"
            )),
            None => Err(format!("{what} on unknown connection {conn:?}")),
        }
    }

    /// The next input for the client at `now`, running due network events and servers as needed.
    pub fn poll_input(&mut self, now: Instant) -> Option<NetInput> {
        loop {
            if let Some(i) = self.inbox.pop_front() {
                return Some(i);
            }
            let mut progressed = false;
            for h in 0..self.hosts.len() {
                if self.hosts[h].server_deadline.is_some_and(|d| d <= now) {
                    self.pump(h, now);
                    progressed = true;
                }
            }
            if let Some((_, ev)) = self.agenda.pop_due(now) {
                self.run(now, ev);
                progressed = true;
            }
            if !progressed && self.inbox.is_empty() {
                return None;
            }
        }
    }

    fn run(&mut self, now: Instant, ev: Ev) {
        match ev {
            Ev::Resolved(host, port, result) => {
                self.stats.resolves += 1;
                self.inbox
                    .push_back(NetInput::Resolved { host, port, result });
            }
            Ev::ConnectDone(conn, ok) => {
                let Some(link) = self.links.get_mut(&conn) else {
                    return;
                };
                if link.client_done {
                    self.forget(conn);
                    return;
                }
                let h = link.host;
                let up = h != usize::MAX && self.hosts[h].down_until.is_none_or(|t| t <= now);
                if ok && up {
                    self.stats.connected += 1;
                    let srv = self.hosts[h].server.accept(now);
                    link.srv = Some(srv);
                    link.connected = true;
                    self.by_srv.insert((h, srv), conn);
                    self.inbox.push_back(NetInput::Connected(conn));
                    self.pump(h, now);
                } else {
                    link.client_done = true;
                    self.stats.refused += 1;
                    let cause = if h == usize::MAX {
                        NetError::Unreachable
                    } else {
                        NetError::Refused
                    };
                    self.inbox.push_back(NetInput::ConnectFailed(conn, cause));
                }
            }
            Ev::Written(conn, n) => {
                if let Some(l) = self.links.get(&conn) {
                    if !l.client_done {
                        self.inbox.push_back(NetInput::Written(conn, n));
                    }
                }
            }
            Ev::ToServer(conn, data) => self.deliver_to_server(now, conn, data),
            Ev::ClientFin(conn) => {
                if let Some(link) = self.links.get(&conn) {
                    if let (Some(srv), false) = (link.srv, link.server_gone) {
                        let h = link.host;
                        self.hosts[h].server.handle_eof(now, srv);
                        self.pump(h, now);
                        return;
                    }
                }
                self.forget(conn);
            }
            Ev::ToClient(conn, d) => {
                let Some(link) = self.links.get_mut(&conn) else {
                    return;
                };
                if link.client_done {
                    return;
                }
                if !link.reading || !link.held.is_empty() {
                    link.held.push_back(d);
                    return;
                }
                if let Some(i) = Self::deliver(&mut self.stats, conn, link, d) {
                    self.inbox.push_back(i);
                }
            }
            Ev::Restart(h, down) => {
                self.stats.restarts += 1;
                self.hosts[h].server.restart();
                self.hosts[h].down_until = Some(now + down);
                self.hosts[h].server_deadline = None;
                let conns: Vec<ConnId> = self
                    .links
                    .iter()
                    .filter(|(_, l)| l.host == h && l.srv.is_some() && !l.server_gone)
                    .map(|(c, _)| *c)
                    .collect();
                for c in conns {
                    self.server_gone(now, c, Delivery::Reset);
                }
            }
        }
    }

    /// Turn a delivery into the client's input, updating the link.
    fn deliver(
        stats: &mut NetStats,
        conn: ConnId,
        link: &mut Link,
        d: Delivery,
    ) -> Option<NetInput> {
        match d {
            Delivery::Data(b) => Some(NetInput::Data(conn, b)),
            Delivery::Eof => {
                stats.eofs += 1;
                Some(NetInput::Eof(conn))
            }
            Delivery::Reset => {
                stats.resets += 1;
                link.client_done = true;
                link.held.clear();
                Some(NetInput::Failed(conn, NetError::Reset))
            }
        }
    }

    fn deliver_to_server(&mut self, now: Instant, conn: ConnId, data: Bytes) {
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        let (h, Some(srv)) = (link.host, link.srv) else {
            return;
        };
        if link.server_gone {
            // TCP answers data for a closed socket with a reset.
            if !link.reset_sent && !link.client_done {
                let at = (now + self.faults.max_latency).max(link.to_client_at);
                link.to_client_at = at;
                link.reset_sent = true;
                self.agenda.push(at, Ev::ToClient(conn, Delivery::Reset));
            }
            return;
        }
        let server = &mut self.hosts[h].server;
        if server.is_idle_keep_alive(srv)
            && self
                .rng
                .chance(u64::from(self.faults.idle_close_race), 1000)
        {
            // The server closed this idle connection just as the client reused it: the FIN crosses the request.
            self.stats.idle_races += 1;
            server.disconnect(srv);
            self.server_gone(now, conn, Delivery::Eof);
            self.deliver_to_server(now, conn, data);
            return;
        }
        server.handle_data(now, srv, &data);
        self.pump(h, now);
    }

    /// The server side of `conn` is gone; tell the client with `how` after the data already in flight.
    fn server_gone(&mut self, now: Instant, conn: ConnId, how: Delivery) {
        let lat = self.latency();
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        link.server_gone = true;
        if let Some(srv) = link.srv {
            self.by_srv.remove(&(link.host, srv));
        }
        if link.client_done {
            self.forget(conn);
            return;
        }
        let at = (now + lat).max(link.to_client_at);
        link.to_client_at = at;
        self.agenda.push(at, Ev::ToClient(conn, how));
    }

    fn forget(&mut self, conn: ConnId) {
        if let Some(link) = self.links.get(&conn) {
            if let Some(srv) = link.srv {
                if !link.server_gone {
                    self.hosts[link.host].server.disconnect(srv);
                }
                self.by_srv.remove(&(link.host, srv));
            }
        }
        // Keep a tombstone so a late Close is recognised, but drop the buffers.
        if let Some(link) = self.links.get_mut(&conn) {
            link.server_gone = true;
            link.client_done = true;
            link.held.clear();
        }
    }

    /// Drain host `h`'s server outputs into the network.
    fn pump(&mut self, h: usize, now: Instant) {
        loop {
            match self.hosts[h].server.poll_output(now) {
                SrvOutput::Wait(d) => {
                    self.hosts[h].server_deadline = d;
                    return;
                }
                SrvOutput::Transmit(srv, data) => {
                    let Some(&conn) = self.by_srv.get(&(h, srv)) else {
                        continue;
                    };
                    let lat = self.latency();
                    let pieces = self.cut(data.len());
                    let Some(link) = self.links.get_mut(&conn) else {
                        continue;
                    };
                    let mut at = (now + lat).max(link.to_client_at);
                    let mut off = 0;
                    for n in pieces {
                        self.agenda.push(
                            at,
                            Ev::ToClient(conn, Delivery::Data(data.slice(off..off + n))),
                        );
                        off += n;
                        at += Duration::from_micros(1);
                    }
                    link.to_client_at = at;
                }
                SrvOutput::Close(srv) => {
                    if let Some(&conn) = self.by_srv.get(&(h, srv)) {
                        self.server_gone(now, conn, Delivery::Eof);
                    }
                }
                SrvOutput::Reset(srv) => {
                    if let Some(&conn) = self.by_srv.get(&(h, srv)) {
                        self.server_gone(now, conn, Delivery::Reset);
                    }
                }
            }
        }
    }
}

/// The tag of the first request head in `buf`, once the head is complete.
fn first_tag(buf: &[u8]) -> Option<ConnKind> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {
            let tag = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(TAG_HEADER))
                .and_then(|h| core::str::from_utf8(h.value).ok())
                .map(str::to_string);
            Some(ConnKind::Tagged(tag))
        }
        Ok(httparse::Status::Partial) => None,
        Err(_) => Some(ConnKind::Tagged(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Reply, Route, Script};

    const A: &str = "10.0.0.1:80";

    fn net(faults: Faults) -> SimNet {
        let script = Script::new().route(Route::new("/x", vec![Reply::ok("hello")]));
        let host = SimHost::new(
            A.parse().unwrap(),
            Some("a.sim"),
            ScriptedServer::new(script),
        );
        SimNet::new(vec![host], faults, 7)
    }

    /// Every input up to `until`, stepping through the network's deadlines.
    /// Ask the network for connection `c` to the host at [`A`].
    fn connect(n: &mut SimNet, at: Instant, c: ConnId) {
        let connect = Output::Connect {
            conn: c,
            addr: A.parse().unwrap(),
        };
        n.handle_output(at, &connect).unwrap();
    }

    fn run(n: &mut SimNet, until: Instant) -> Vec<NetInput> {
        let mut got = Vec::new();
        let mut now = Instant::ZERO;
        loop {
            while let Some(i) = n.poll_input(now) {
                got.push(i);
            }
            match n.next_deadline() {
                Some(t) if t <= until => now = now.max(t),
                _ => return got,
            }
        }
    }

    fn data(inputs: &[NetInput]) -> String {
        inputs
            .iter()
            .filter_map(|i| match i {
                NetInput::Data(_, b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .collect()
    }

    const GET: &[u8] = b"GET /x HTTP/1.1\r\nhost: a\r\nx-sim-tag: r1\r\n\r\n";

    #[test]
    fn sim_net_carries_an_exchange_in_pieces_and_gates_reads() {
        let mut f = Faults::none();
        f.split = 1000;
        f.split_bytes = 1000;
        f.max_latency = Duration::from_millis(3);
        let mut n = net(f);
        let c = ConnId(1);
        let t0 = Instant::ZERO;
        connect(&mut n, t0, c);
        assert_eq!(
            run(&mut n, Instant::from_millis(100)),
            vec![NetInput::Connected(c)]
        );
        let send = Output::Transmit {
            conn: c,
            data: Bytes::from_static(GET),
        };
        n.handle_output(t0, &send).unwrap();
        // Not reading yet: the response is held back.
        let got = run(&mut n, Instant::from_millis(100));
        let written: usize = got
            .iter()
            .map(|i| match i {
                NetInput::Written(_, k) => *k,
                _ => 0,
            })
            .sum();
        assert_eq!(written, GET.len());
        assert_eq!(data(&got), "");
        assert_eq!(
            n.open_links().next().unwrap().kind,
            ConnKind::Tagged(Some("r1".into()))
        );
        n.handle_output(t0, &Output::Read(c)).unwrap();
        let got = run(&mut n, Instant::from_millis(200));
        let text = data(&got);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("hello"),
            "{text}"
        );
        assert!(
            got.iter()
                .filter(|i| matches!(i, NetInput::Data(..)))
                .count()
                > 10,
            "cut into bytes"
        );
        assert_eq!(n.hosts()[0].server.requests().len(), 1);
        n.handle_output(t0, &Output::Close(c)).unwrap();
        assert_eq!(n.open_connections(), 0);
        run(&mut n, Instant::from_millis(300));
        assert_eq!(
            n.hosts()[0].server.open_connections(),
            0,
            "the server saw the close"
        );
        assert!(
            n.handle_output(t0, &send).is_err(),
            "writing after close breaks the contract"
        );
    }

    #[test]
    fn sim_net_restart_resets_and_refuses_then_recovers() {
        let mut n = net(Faults::none());
        let c = ConnId(1);
        let t0 = Instant::ZERO;
        connect(&mut n, t0, c);
        n.handle_output(t0, &Output::Read(c)).unwrap();
        run(&mut n, Instant::from_millis(1));
        n.schedule_restart(Instant::from_millis(10), 0, Duration::from_millis(100));
        assert_eq!(
            run(&mut n, Instant::from_millis(20)),
            vec![NetInput::Failed(c, NetError::Reset)]
        );
        assert_eq!(n.open_connections(), 0);
        let t = Instant::from_millis(20);
        connect(&mut n, t, ConnId(2));
        let got = run(&mut n, Instant::from_millis(50));
        assert_eq!(
            got,
            vec![NetInput::ConnectFailed(ConnId(2), NetError::Refused)]
        );
        let mut now = Instant::from_millis(200);
        connect(&mut n, now, ConnId(3));
        now += Duration::from_millis(1);
        assert_eq!(n.poll_input(now), Some(NetInput::Connected(ConnId(3))));
        n.handle_output(
            now,
            &Output::Resolve {
                host: "a.sim".into(),
                port: 80,
            },
        )
        .unwrap();
        now += Duration::from_millis(1);
        assert_eq!(
            n.poll_input(now),
            Some(NetInput::Resolved {
                host: "a.sim".into(),
                port: 80,
                result: Ok(vec![A.parse().unwrap()])
            })
        );
    }

    #[test]
    fn sim_net_idle_close_race_and_reset_on_write_to_closed() {
        let mut f = Faults::none();
        f.idle_close_race = 1000;
        let mut n = net(f);
        let c = ConnId(1);
        let t0 = Instant::ZERO;
        connect(&mut n, t0, c);
        n.handle_output(t0, &Output::Read(c)).unwrap();
        run(&mut n, Instant::from_millis(1));
        let send = Output::Transmit {
            conn: c,
            data: Bytes::from_static(GET),
        };
        n.handle_output(t0, &send).unwrap();
        assert!(data(&run(&mut n, Instant::from_millis(5))).ends_with("hello"));
        // Reusing the idle connection: the server closes it as the request arrives, then resets the late bytes.
        n.handle_output(Instant::from_millis(5), &send).unwrap();
        let got = run(&mut n, Instant::from_millis(50));
        assert!(got.contains(&NetInput::Eof(c)), "{got:?}");
        assert!(
            got.contains(&NetInput::Failed(c, NetError::Reset)),
            "{got:?}"
        );
        assert_eq!(
            n.hosts()[0].server.requests().len(),
            1,
            "the reused request was never executed"
        );
    }
}
