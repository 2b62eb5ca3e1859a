//! The network-change test, written once and run on every runtime: the test makes its own network namespace
//! with a veth pair (both ends inside it, so nothing outside notices), serves the scripted server on the
//! namespace's address, opens an event stream and a pooled connection, then removes and re-adds the address.
//! The client's OWN watcher (netlink) must see it: the test never calls the notification API.
//!
//! Checked: the stream reconnects within 1 s of the address coming back (its backoff by then is longer, and
//! its idle timeout far longer), and every request sent around the change reaches the server exactly once and
//! gets its answer (no request lost, none sent twice).
//!
//! Sockets and netlink belong to the namespace of the thread that creates them, and threads inherit their
//! creator's namespace: the scenario runs on a thread that entered the namespace, and builds its server and
//! runtime there. The namespace is deleted when the guard drops, also when the test fails.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use plue_http_sim::server::{Reply, Route, Script, ScriptedServer, SseEnd, SseItem, SseScript};

use crate::loopback::Loopback;

/// What the scenario needs from a client on one runtime. Each call starts work in the background and reports
/// on the channel; none blocks.
pub trait NetClient {
    /// Open the event stream at `url` and report each event (`Ok(true)` for a `Connected`, `Ok(false)` for
    /// anything else) until it ends (`Err`).
    fn events(&self, url: String, tx: Sender<Result<bool, String>>);
    /// POST to `url` and report its status (or error) tagged with `n`.
    fn post(&self, url: String, n: u32, tx: Sender<(u32, Result<u16, String>)>);
}

/// A network namespace holding a veth pair with an IPv4 address on one end. Deleted on drop.
pub struct NetNs {
    name: String,
    addr: Ipv4Addr,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2; scripts/test.sh installs it): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetNs {
    /// Create `plue-<tag>-<pid>` with a veth pair and `addr/24` on it.
    pub fn create(tag: &str, addr: Ipv4Addr) -> Result<NetNs, String> {
        let name = format!("plue-{tag}-{}", std::process::id());
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let ns = NetNs { name, addr };
        let n = ns.name.as_str();
        ip(&[
            "-n", n, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ])?;
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        ip(&["-n", n, "link", "set", "v1", "up"])?;
        ip(&["-n", n, "link", "set", "v0", "up"])?;
        ns.add_addr()?;
        Ok(ns)
    }

    /// The address on `v0`.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// Put the address back.
    pub fn add_addr(&self) -> Result<(), String> {
        ip(&[
            "-n",
            &self.name,
            "addr",
            "add",
            &format!("{}/24", self.addr),
            "dev",
            "v0",
        ])
    }

    /// Take the address away.
    pub fn del_addr(&self) -> Result<(), String> {
        ip(&[
            "-n",
            &self.name,
            "addr",
            "del",
            &format!("{}/24", self.addr),
            "dev",
            "v0",
        ])
    }

    /// Move the calling thread into the namespace (threads it starts afterwards are inside too).
    pub fn enter(&self) -> Result<(), String> {
        let f = std::fs::File::open(format!("/run/netns/{}", self.name))
            .map_err(|e| format!("open namespace: {e}"))?;
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&f),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| format!("setns: {e}"))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn server() -> ScriptedServer {
    let stream = Reply::sse(SseScript {
        items: vec![(
            Duration::ZERO,
            SseItem::Event {
                event: None,
                data: "hello".into(),
                id: Some("1".into()),
            },
        )],
        heartbeat: Some((Duration::from_millis(500), SseItem::Comment("hb".into()))),
        end: SseEnd::Hang,
        channel: None,
    });
    ScriptedServer::new(
        Script::new()
            .route(Route::new("/events", vec![stream]))
            .route(Route::new("/r", vec![Reply::ok("ok")])),
    )
}

fn wait_connected(
    rx: &Receiver<Result<bool, String>>,
    within: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let left = within
            .checked_sub(start.elapsed())
            .ok_or_else(|| format!("the stream did not (re)connect within {within:?}"))?;
        match rx.recv_timeout(left) {
            Ok(Ok(true)) => return Ok(start.elapsed()),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => return Err(format!("the stream ended: {e}")),
            Err(_) => return Err(format!("the stream did not (re)connect within {within:?}")),
        }
    }
}

/// Run the scenario in namespace `tag` with clients made by `make` (called on the namespace's thread with the
/// server's base URL). Panics with the reason on failure; the namespace is deleted either way.
pub fn network_change<C: NetClient + 'static>(
    tag: &str,
    addr: Ipv4Addr,
    make: impl FnOnce(&str) -> C + Send + 'static,
) {
    let ns = std::sync::Arc::new(NetNs::create(tag, addr).unwrap_or_else(|e| panic!("{e}")));
    let ns2 = ns.clone();
    let run = std::thread::spawn(move || scenario(&ns2, make));
    let result = run.join();
    drop(ns);
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("network change: {e}"),
        Err(p) => std::panic::resume_unwind(p),
    }
}

fn scenario<C: NetClient>(ns: &NetNs, make: impl FnOnce(&str) -> C) -> Result<(), String> {
    ns.enter()?;
    let host = Loopback::start_on(
        server(),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
    )
    .map_err(|e| format!("server: {e}"))?;
    let base = format!("http://{}:{}", ns.addr(), host.addr().port());
    let client = make(&base);
    let (ev_tx, ev_rx) = mpsc::channel();
    client.events(format!("{base}/events"), ev_tx);
    wait_connected(&ev_rx, Duration::from_secs(10))?;
    let (tx, rx) = mpsc::channel();
    // A pooled connection, idle when the address goes.
    client.post(format!("{base}/r?n=0"), 0, tx.clone());
    let (n, status) = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "request 0 hung")?;
    if n != 0 || status != Ok(200) {
        return Err(format!("request 0: {status:?}"));
    }

    ns.del_addr()?;
    // Requests sent while the address is gone: they may not be lost, nor sent twice when it comes back.
    std::thread::sleep(Duration::from_millis(200));
    for n in 1..=3 {
        client.post(format!("{base}/r?n={n}"), n, tx.clone());
    }
    // Long enough for the stream to fail a few reconnects: its backoff is now above a second.
    std::thread::sleep(Duration::from_millis(2500));
    let before = stream_requests(&host);
    ns.add_addr()?;
    let took = wait_connected(&ev_rx, Duration::from_secs(1))
        .map_err(|e| format!("after the address came back: {e}"))?;
    if stream_requests(&host) <= before {
        return Err("the stream never reconnected to the server".into());
    }
    let mut done = std::collections::BTreeMap::new();
    while done.len() < 3 {
        let (n, status) = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| format!("requests lost: answered {done:?}"))?;
        done.insert(n, status);
    }
    for (n, status) in &done {
        if *status != Ok(200) {
            return Err(format!("request {n}: {status:?}"));
        }
    }
    let server = host.server();
    for n in 0..=3 {
        let target = format!("/r?n={n}");
        let seen = server
            .requests()
            .iter()
            .filter(|r| r.target == target)
            .count();
        if seen != 1 {
            return Err(format!("request {n} reached the server {seen} times"));
        }
    }
    eprintln!("network change: stream reconnected {took:?} after the address came back");
    Ok(())
}

fn stream_requests(host: &Loopback) -> usize {
    host.server()
        .requests()
        .iter()
        .filter(|r| r.path() == "/events")
        .count()
}
