//! Soak against the real OpenCode server (opt-in: `PLUE_SOAK=1`; length `PLUE_SOAK_SECS`, default 120):
//!
//! ```text
//! PLUE_SOAK=1 PLUE_SOAK_SECS=180 cargo test --release -p plue-http-tests --test soak -- --nocapture
//! ```
//!
//! Four workers send requests concurrently through the blocking (mio) client — reads of `/session`,
//! `/global/health`, `/config`, and non-idempotent `POST /session` — while an event stream stays open on
//! `/event`. Faults: every `PLUE_SOAK_KILL_SECS` (default 30) the server is killed with SIGKILL and restarted on
//! the same port (sessions persist on disk), and every 3 s a proxy between client and server breaks one live
//! connection. At the end it reports requests, errors by kind, stream reconnects and events, RSS at start and
//! end and leaked file descriptors, and checks that the sessions the server holds match the POSTs the client
//! reports as made: exactly the successful ones, plus at most those that ended in `MaybeProcessed` (the only
//! error that admits the server may have acted) — never a duplicate.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use plue_http::mio::Client;
use plue_http::{ErrorKind, Method, Options, StreamEvent};
use plue_http_tests::hostile_proxy::Proxy;
use plue_http_tests::opencode_fixture::{stop_group, Sandbox};

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Start the server in `sandbox` on `port` and wait until it prints its URL.
fn spawn(sandbox: &Sandbox, port: u16) -> Child {
    let (tx, rx) = mpsc::channel();
    let child = sandbox.spawn(port, None, tx).expect("spawn opencode");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if plue_http::opencode::supervisor::parse_listening_line(&line).is_some() {
                // Keep draining so the pipes never fill.
                thread::spawn(move || for _ in rx {});
                return child;
            }
        }
    }
    stop_group(child, Duration::from_secs(1));
    panic!("opencode did not start on port {port}");
}

fn kind_name(k: &ErrorKind) -> String {
    let s = format!("{k:?}");
    let cut = s.find(['{', '(']).unwrap_or(s.len());
    let mut name = s[..cut].trim().to_string();
    if let ErrorKind::ConnectionFailed { cause } | ErrorKind::MaybeProcessed { cause } = k {
        name.push_str(&format!("({cause:?})"));
    }
    if let ErrorKind::Timeout { phase } = k {
        name.push_str(&format!("({phase:?})"));
    }
    if let ErrorKind::InvalidResponse { violation } = k {
        name.push_str(&format!("({violation:?})"));
    }
    name
}

#[derive(Default)]
struct Tally {
    requests: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    posts_ok: u64,
    posts_maybe: u64,
    posts_failed_unsent: u64,
}

#[test]
fn soak_real_opencode_with_kills_and_dropped_connections() {
    if std::env::var("PLUE_SOAK").ok().as_deref() != Some("1") {
        eprintln!("soak skipped (set PLUE_SOAK=1)");
        return;
    }
    let length = env_secs("PLUE_SOAK_SECS", 120);
    let kill_every = env_secs("PLUE_SOAK_KILL_SECS", 30);
    let sandbox = Sandbox::new().expect("sandbox");
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(Some(spawn(&sandbox, port))));
    let upstream: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let fds_start = open_fds();
    let rss_start = rss_kib();
    let proxy = Proxy::start(upstream);
    let options = Options {
        base_url: Some(proxy.base()),
        timeout: Some(Duration::from_secs(20)),
        read_timeout: Some(Duration::from_secs(10)),
        max_retries: 4,
        retry_delay: Duration::from_millis(200),
        max_retry_delay: Duration::from_secs(2),
        event_idle_timeout: Duration::from_secs(15),
        ..Options::default()
    };
    let client = Arc::new(Client::new(options).expect("client"));
    // `GET /session` lists the newest 100 unless asked for more.
    let sessions_before = client
        .get("/session?limit=1000000")
        .expect("list")
        .json::<Vec<serde_json::Value>>()
        .unwrap()
        .len();

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let events = Arc::new(AtomicU64::new(0));
    let reconnects = Arc::new(AtomicU64::new(0));
    let start = Instant::now();

    thread::scope(|s| {
        // The event stream.
        {
            let (client, stop, events, reconnects) = (
                client.clone(),
                stop.clone(),
                events.clone(),
                reconnects.clone(),
            );
            s.spawn(move || {
                let mut stream = client.events("/event");
                while !stop.load(Ordering::Relaxed) {
                    match stream.next_timeout(Duration::from_millis(500)) {
                        Ok(Some(StreamEvent::Reconnecting { .. })) => {
                            reconnects.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Some(_)) => {
                            events.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(None) => {}
                        Err(e) => panic!("the event stream ended: {e}"),
                    }
                }
                stream.abort();
            });
        }
        // Workers.
        for w in 0..4u64 {
            let (client, stop, tally) = (client.clone(), stop.clone(), tally.clone());
            s.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let post = (i + w) % 5 == 0;
                    let builder = match (i + w) % 5 {
                        0 => client
                            .builder(Method::POST, "/session")
                            .json(&serde_json::json!({"title": format!("soak {w}-{i}")})),
                        1 => client.builder(Method::GET, "/global/health"),
                        2 => client.builder(Method::GET, "/config"),
                        _ => client.builder(Method::GET, "/session"),
                    };
                    let result = client.send(builder);
                    let mut t = tally.lock().unwrap();
                    t.requests += 1;
                    match result {
                        Ok(r) if r.is_success() => {
                            t.ok += 1;
                            t.posts_ok += u64::from(post);
                        }
                        Ok(r) => {
                            *t.errors
                                .entry(format!("Status({})", r.status().as_u16()))
                                .or_default() += 1
                        }
                        Err(e) => {
                            *t.errors.entry(kind_name(e.kind())).or_default() += 1;
                            if post {
                                if matches!(e.kind(), ErrorKind::MaybeProcessed { .. }) {
                                    t.posts_maybe += 1;
                                } else {
                                    t.posts_failed_unsent += 1;
                                }
                            }
                        }
                    }
                }
            });
        }
        // Faults.
        let mut kills = 0u32;
        let mut drops = 0u32;
        let mut next_kill = start + kill_every;
        while start.elapsed() < length {
            thread::sleep(Duration::from_secs(3));
            if proxy.drop_one() {
                drops += 1;
            }
            if Instant::now() >= next_kill && start.elapsed() + Duration::from_secs(15) < length {
                next_kill += kill_every;
                let child = server.lock().unwrap().take().expect("server");
                let pgid = child.id() as i32;
                // SAFETY: a plain syscall on the process group this test started.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                stop_group(child, Duration::from_millis(10));
                kills += 1;
                thread::sleep(Duration::from_millis(500));
                *server.lock().unwrap() = Some(spawn(&sandbox, port));
            }
        }
        stop.store(true, Ordering::Relaxed);
        eprintln!("faults: {kills} kill -9 + restart, {drops} dropped connections, {} proxied connections", proxy.accepted());
    });

    // Server-side count, through a fresh client straight to the server.
    let direct = Client::new(Options {
        base_url: Some(format!("http://{upstream}")),
        ..Options::default()
    })
    .unwrap();
    let listed = direct
        .get("/session?limit=1000000")
        .expect("list")
        .json::<Vec<serde_json::Value>>()
        .unwrap();
    let sessions_after = listed.len();
    // Every POST carries a unique title: a replayed POST shows up as a title held twice.
    let mut titles: Vec<&str> = listed
        .iter()
        .filter_map(|s| s["title"].as_str())
        .filter(|t| t.starts_with("soak "))
        .collect();
    let soak_sessions = titles.len();
    titles.sort_unstable();
    titles.dedup();
    let duplicated = soak_sessions - titles.len();
    drop(direct);
    let t = tally.lock().unwrap();
    let created = (sessions_after - sessions_before) as u64;
    eprintln!(
        "soak {:?}: {} requests, {} ok, errors {:?}; stream: {} events, {} reconnects",
        length,
        t.requests,
        t.ok,
        t.errors,
        events.load(Ordering::Relaxed),
        reconnects.load(Ordering::Relaxed)
    );
    eprintln!(
        "POST /session: {} reported made, {} MaybeProcessed, {} failed unsent; server holds {} new sessions",
        t.posts_ok, t.posts_maybe, t.posts_failed_unsent, created
    );
    let rss_end = rss_kib();
    drop(client);
    drop(proxy);
    thread::sleep(Duration::from_millis(1500));
    let fds_end = open_fds();
    eprintln!("RSS {rss_start} KiB -> {rss_end} KiB; fds {fds_start} -> {fds_end}");
    if let Some(child) = server.lock().unwrap().take() {
        stop_group(child, Duration::from_secs(2));
    }
    eprintln!("server-side: {soak_sessions} soak sessions, {duplicated} duplicated titles");
    assert!(t.ok > 0, "nothing succeeded");
    assert_eq!(duplicated, 0, "a non-idempotent POST was executed twice");
    assert!(
        created >= t.posts_ok && created <= t.posts_ok + t.posts_maybe,
        "server holds {created} sessions; client made {} (+{} maybe): duplicated or lost non-idempotent calls",
        t.posts_ok,
        t.posts_maybe
    );
    assert!(
        fds_end <= fds_start,
        "leaked {} file descriptors",
        fds_end - fds_start
    );
}
