//! Memory soak against the real OpenCode server (opt-in: `PLUE_SOAK_MEMORY=1`; run by `scripts/soak.sh`):
//!
//! ```text
//! PLUE_SOAK_MEMORY=1 PLUE_SOAK_SECS=1800 PLUE_SOAK_CSV=target/soak.csv \
//!     cargo test -p plue-http-tests --test soak_memory -- --nocapture
//! ```
//!
//! Three workers send requests through the blocking (mio) client — `GET /global/health`, `GET /config`,
//! `GET /session` (the newest 100) and now and then a `POST /session` — while an event stream stays open on
//! `/event`; every `PLUE_SOAK_KILL_SECS` (default 60) the server is killed with SIGKILL and restarted on the
//! same port. Every 5 s it samples RSS, the live heap (a counting global allocator in this test binary), open
//! file descriptors, threads and sockets, and writes them to `PLUE_SOAK_CSV`.
//!
//! Checked (the plateau): the live heap at the end is within max(5 %, 256 KiB) of its value after the first
//! minute, both measured at rest (workers paused, idle connections released); after every kill and recovery
//! the open descriptors come back to the baseline taken the same way. Reported: the least-squares slope of the
//! live heap over the last 20 minutes (or everything after the first minute in shorter runs). At the very end
//! it measures what reading the whole session list (`GET /session?limit=1000000`) costs, the reading that made
//! an earlier soak's last RSS sample look like growth.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::net::TcpListener;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use plue_http::mio::Client;
use plue_http::{Method, Options, StreamEvent};
use plue_http_tests::opencode_fixture::{stop_group, Sandbox};

/// Counts live heap bytes for the whole test process.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn add(n: isize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    if n > 0 {
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every call forwards to the system allocator unchanged; only counters are updated around it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_heap() -> i64 {
    LIVE.load(Ordering::Relaxed) as i64
}

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// (open descriptors, of which sockets).
fn fds() -> (usize, usize) {
    let mut all = 0;
    let mut sockets = 0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        for e in dir.flatten() {
            all += 1;
            if std::fs::read_link(e.path())
                .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
            {
                sockets += 1;
            }
        }
    }
    (all, sockets)
}

fn spawn(sandbox: &Sandbox, port: u16) -> Child {
    let (tx, rx) = mpsc::channel();
    let child = sandbox.spawn(port, None, tx).expect("spawn opencode");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if plue_http::opencode::supervisor::parse_listening_line(&line).is_some() {
                thread::spawn(move || for _ in rx {});
                return child;
            }
        }
    }
    stop_group(child, Duration::from_secs(1));
    panic!("opencode did not start on port {port}");
}

/// Workers pause here while the soak measures at rest.
struct Gate {
    paused: AtomicBool,
    busy: AtomicIsize,
}

/// Pause the workers, release idle connections, and wait until the descriptor count equals `want` (or, with
/// `None`, settles). Returns (descriptors, live heap) at rest.
fn at_rest(client: &Client, gate: &Gate, want: Option<usize>) -> (usize, i64) {
    gate.paused.store(true, Ordering::SeqCst);
    let until = Instant::now() + Duration::from_secs(20);
    while gate.busy.load(Ordering::SeqCst) > 0 && Instant::now() < until {
        thread::sleep(Duration::from_millis(20));
    }
    client.release_idle();
    let mut last = usize::MAX;
    let mut same = 0;
    let until = Instant::now() + Duration::from_secs(20);
    let n = loop {
        thread::sleep(Duration::from_millis(200));
        let n = fds().0;
        same = if n == last { same + 1 } else { 0 };
        last = n;
        if want.is_some_and(|w| n == w) || (want.is_none() && same >= 5) || Instant::now() > until {
            break n;
        }
    };
    let heap = live_heap();
    gate.paused.store(false, Ordering::SeqCst);
    (n, heap)
}

fn slope_kib_per_min(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        // x in seconds, y in bytes.
        sxy / sxx * 60.0 / 1024.0
    }
}

#[test]
fn soak_memory_plateau_real_opencode_with_kills() {
    if std::env::var("PLUE_SOAK_MEMORY").ok().as_deref() != Some("1") {
        eprintln!("memory soak skipped (set PLUE_SOAK_MEMORY=1, or run scripts/soak.sh)");
        return;
    }
    let length = env_secs("PLUE_SOAK_SECS", 180);
    let kill_every = env_secs("PLUE_SOAK_KILL_SECS", 60);
    let csv_path = std::env::var("PLUE_SOAK_CSV").unwrap_or_else(|_| "target/soak.csv".into());
    let mut csv = std::fs::File::create(&csv_path).expect("csv");
    writeln!(
        csv,
        "t_s,rss_kib,live_heap_bytes,fds,sockets,threads,requests,errors,stream_events,reconnects,kills"
    )
    .unwrap();

    let sandbox = Sandbox::new().expect("sandbox");
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(Some(spawn(&sandbox, port))));
    let client = Arc::new(
        Client::new(Options {
            base_url: Some(format!("http://127.0.0.1:{port}")),
            timeout: Some(Duration::from_secs(20)),
            read_timeout: Some(Duration::from_secs(10)),
            max_retries: 6,
            retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(2),
            event_idle_timeout: Duration::from_secs(15),
            ..Options::default()
        })
        .expect("client"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(Gate {
        paused: AtomicBool::new(false),
        busy: AtomicIsize::new(0),
    });
    let requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let events = Arc::new(AtomicU64::new(0));
    let reconnects = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    // Sized up front so the soak's own bookkeeping does not show up as heap growth.
    let mut samples: Vec<(f64, f64)> = Vec::with_capacity(length.as_secs() as usize / 5 + 16);
    let mut rest_checks: Vec<(u32, usize)> =
        Vec::with_capacity(length.as_secs() as usize / 10 + 16);
    let mut baseline: Option<(usize, i64)> = None;
    let mut kills = 0u32;

    thread::scope(|s| {
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
        for w in 0..3u64 {
            let (client, stop, gate, requests, errors) = (
                client.clone(),
                stop.clone(),
                gate.clone(),
                requests.clone(),
                errors.clone(),
            );
            s.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if gate.paused.load(Ordering::SeqCst) {
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    gate.busy.fetch_add(1, Ordering::SeqCst);
                    if gate.paused.load(Ordering::SeqCst) {
                        gate.busy.fetch_sub(1, Ordering::SeqCst);
                        continue;
                    }
                    i += 1;
                    let builder = match (i + w) % 10 {
                        0 => client
                            .builder(Method::POST, "/session")
                            .json(&serde_json::json!({"title": format!("soak {w}-{i}")})),
                        1..=3 => client.builder(Method::GET, "/global/health"),
                        4..=6 => client.builder(Method::GET, "/config"),
                        _ => client.builder(Method::GET, "/session"),
                    };
                    let ok = client.send(builder).is_ok_and(|r| r.is_success());
                    requests.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    gate.busy.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }

        let mut next_sample = start;
        let mut next_kill = start + kill_every;
        let mut after_kill: Option<Instant> = None;
        while start.elapsed() < length {
            thread::sleep(Duration::from_millis(100));
            let now = Instant::now();
            if baseline.is_none() && start.elapsed() >= Duration::from_secs(60) {
                baseline = Some(at_rest(&client, &gate, None));
                eprintln!(
                    "baseline at rest after 1 min: {:?} (fds, live heap)",
                    baseline
                );
            }
            if let (Some(at), Some((fd0, _))) = (after_kill, baseline) {
                if now >= at {
                    let (n, _) = at_rest(&client, &gate, Some(fd0));
                    rest_checks.push((kills, n));
                    after_kill = None;
                }
            }
            if now >= next_kill && start.elapsed() + Duration::from_secs(20) < length {
                next_kill += kill_every;
                let child = server.lock().unwrap().take().expect("server");
                let pgid = child.id() as i32;
                // SAFETY: a plain syscall on the process group this test started.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                stop_group(child, Duration::from_millis(10));
                kills += 1;
                thread::sleep(Duration::from_millis(500));
                *server.lock().unwrap() = Some(spawn(&sandbox, port));
                // Recovery: the stream reconnects and the workers' retries go through within seconds.
                after_kill = Some(Instant::now() + Duration::from_secs(8));
            }
            if now >= next_sample {
                next_sample += Duration::from_secs(5);
                let t = start.elapsed().as_secs_f64();
                let heap = live_heap();
                let (all, sockets) = fds();
                writeln!(
                    csv,
                    "{:.1},{},{},{},{},{},{},{},{},{},{}",
                    t,
                    status_field("VmRSS:"),
                    heap,
                    all,
                    sockets,
                    status_field("Threads:"),
                    requests.load(Ordering::Relaxed),
                    errors.load(Ordering::Relaxed),
                    events.load(Ordering::Relaxed),
                    reconnects.load(Ordering::Relaxed),
                    kills
                )
                .unwrap();
                let _ = csv.flush();
                samples.push((t, heap as f64));
            }
        }
        let (fd0, heap0) = baseline.expect("runs at least a minute");
        let (fd_end, heap_end) = at_rest(&client, &gate, Some(fd0));
        rest_checks.push((kills, fd_end));
        stop.store(true, Ordering::Relaxed);

        let last = samples.last().map_or(0.0, |p| p.0);
        let window: Vec<(f64, f64)> = samples
            .iter()
            .copied()
            .filter(|p| p.0 >= 60.0 && p.0 >= last - 1200.0)
            .collect();
        let slope = slope_kib_per_min(&window);
        let tolerance = (heap0 as f64 * 0.05).max(256.0 * 1024.0);
        eprintln!(
            "soak {:?}: {} requests ({} failed), {} stream events, {} reconnects, {} kills",
            length,
            requests.load(Ordering::Relaxed),
            errors.load(Ordering::Relaxed),
            events.load(Ordering::Relaxed),
            reconnects.load(Ordering::Relaxed),
            kills
        );
        eprintln!(
            "live heap at rest: {heap0} B after 1 min -> {heap_end} B at the end (tolerance {tolerance:.0} B); \
             slope over {:.0}..{:.0} s: {slope:.3} KiB/min",
            window.first().map_or(0.0, |p| p.0),
            last
        );
        eprintln!("fds at rest: baseline {fd0}; after each kill and recovery {rest_checks:?}");
        // The reading an earlier soak ended with: the whole session list, read into memory at once.
        let before = live_heap();
        PEAK.store(before as isize, Ordering::Relaxed);
        let rss_before = status_field("VmRSS:");
        let listed = client
            .get("/session?limit=1000000")
            .ok()
            .and_then(|r| r.json::<Vec<serde_json::Value>>().ok())
            .map_or(0, |v| v.len());
        eprintln!(
            "GET /session?limit=1000000 ({listed} sessions) read whole: live heap peak +{} KiB, RSS {} -> {} KiB",
            (PEAK.load(Ordering::Relaxed) as i64 - before) / 1024,
            rss_before,
            status_field("VmRSS:")
        );
        assert!(
            ((heap_end - heap0) as f64).abs() <= tolerance,
            "live heap moved {} B (> {tolerance:.0} B) between the first minute and the end",
            heap_end - heap0
        );
        for (k, n) in &rest_checks {
            assert_eq!(
                *n, fd0,
                "after kill {k}: {n} open descriptors at rest, baseline {fd0}"
            );
        }
    });
    let last = server.lock().unwrap().take();
    if let Some(child) = last {
        stop_group(child, Duration::from_secs(2));
    }
}
