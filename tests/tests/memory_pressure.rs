//! `memory_pressure_*`: a level injected through the public API (`Client::memory_pressure`) releases the
//! pooled idle connections, and the live heap — measured by a counting allocator in this test binary — drops
//! by at least what those connections held (the per-connection read buffers of the runtime and the core).
//! The real PSI trigger is armed and parsed in `plue-http-os` (`memory_pressure_psi_trigger_is_armed_and_parsed`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use plue_http::{MemoryPressure, Options};
use plue_http_sim::server::{Reply, Route, Script, ScriptedServer};
use plue_http_tests::loopback::Loopback;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged; only a counter is updated around it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const CONNS: usize = 8;

fn server() -> Loopback {
    let body = vec![b'x'; 48 * 1024];
    Loopback::start(ScriptedServer::new(Script::new().route(Route::new(
        "/big",
        vec![Reply::ok(body).delay_head(Duration::from_millis(300))],
    ))))
    .expect("server")
}

/// Wait until the server has no open connection; the live heap then.
fn released(host: &Loopback) -> isize {
    let until = Instant::now() + Duration::from_secs(10);
    while host.accepted().open > 0 {
        assert!(Instant::now() < until, "idle connections were not released");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Connection tasks finish right after their socket closes.
    std::thread::sleep(Duration::from_millis(300));
    LIVE.load(Ordering::Relaxed)
}

fn settle() -> isize {
    std::thread::sleep(Duration::from_millis(300));
    LIVE.load(Ordering::Relaxed)
}

fn check(name: &str, host: &Loopback, before: isize, after: isize) {
    let dropped = before - after;
    eprintln!("{name}: live heap {before} -> {after} B ({dropped} B released with {CONNS} idle connections)");
    assert_eq!(
        host.accepted().peak,
        CONNS,
        "the pool held {CONNS} connections"
    );
    // Each connection's runtime read buffer alone is 16 KiB.
    assert!(
        dropped >= (CONNS * 16 * 1024) as isize,
        "{name}: the live heap dropped only {dropped} B"
    );
}

#[test]
fn memory_pressure_releases_idle_connections_and_heap() {
    // tokio
    {
        let host = server();
        let url = format!("{}/big", host.base_url());
        let rt = tokio::runtime::Runtime::new().unwrap();
        let client = plue_http::tokio::Client::with_runtime(
            plue_http::tokio::TokioRuntime::new(rt.handle().clone()),
            Options::default(),
        )
        .unwrap();
        rt.block_on(async {
            let futs: Vec<_> = (0..CONNS).map(|_| client.get(&url)).collect();
            for f in futs {
                assert_eq!(f.await.unwrap().status().as_u16(), 200);
            }
        });
        assert_eq!(host.accepted().open, CONNS, "idle in the pool");
        let before = settle();
        client.memory_pressure(MemoryPressure::Critical);
        let after = released(&host);
        check("tokio", &host, before, after);
    }
    // mio
    {
        let host = server();
        let url = format!("{}/big", host.base_url());
        let client = plue_http::mio::Client::new(Options::default()).unwrap();
        std::thread::scope(|s| {
            for _ in 0..CONNS {
                s.spawn(|| assert_eq!(client.get(&url).unwrap().status().as_u16(), 200));
            }
        });
        assert_eq!(host.accepted().open, CONNS, "idle in the pool");
        let before = settle();
        client.memory_pressure(MemoryPressure::Moderate);
        let after = released(&host);
        check("mio", &host, before, after);
    }
}
