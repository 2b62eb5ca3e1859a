//! Abort controller and signal tests (threads race aborts, so they live outside the sans-IO text guard).

use super::*;
use std::sync::atomic::AtomicUsize;

fn counter() -> (Arc<AtomicUsize>, impl Fn() -> Box<dyn FnOnce() + Send>) {
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    (n, move || {
        let m = m.clone();
        Box::new(move || {
            m.fetch_add(1, Ordering::SeqCst);
        })
    })
}

#[test]
fn abort_is_idempotent_and_calls_each_listener_once() {
    let c = AbortController::new();
    let s = c.signal();
    let (n, make) = counter();
    s.on_abort(make());
    s.on_abort(make());
    assert!(!s.is_aborted());
    assert_eq!(n.load(Ordering::SeqCst), 0);
    c.abort();
    c.abort();
    c.clone().abort();
    assert!(s.is_aborted() && c.is_aborted());
    assert_eq!(n.load(Ordering::SeqCst), 2);
}

#[test]
fn abort_listener_registered_after_abort_runs_at_once() {
    let c = AbortController::new();
    c.abort();
    let (n, make) = counter();
    c.signal().on_abort(make());
    assert_eq!(n.load(Ordering::SeqCst), 1);
    c.abort();
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn abort_clones_share_state_and_are_send_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<AbortController>();
    assert_send_sync::<AbortSignal>();
    let c = AbortController::new();
    let s1 = c.signal();
    let s2 = s1.clone();
    c.clone().abort();
    assert!(s1.is_aborted() && s2.is_aborted());
    let other = AbortController::new();
    assert!(!other.is_aborted());
}

#[test]
fn abort_listener_may_reenter() {
    let c = AbortController::new();
    let s = c.signal();
    let (n, make) = counter();
    let c2 = c.clone();
    let s2 = s.clone();
    let inner = make();
    s.on_abort(move || {
        c2.abort(); // re-entrant abort: no deadlock, no second round
        s2.on_abort(inner); // registered during abort: runs at once
    });
    c.abort();
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn abort_races_call_every_listener_exactly_once() {
    for _ in 0..50 {
        let c = AbortController::new();
        let (n, make) = counter();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let c = c.clone();
                let s = c.signal();
                let listeners: Vec<_> = (0..25).map(|_| make()).collect();
                std::thread::spawn(move || {
                    for (j, l) in listeners.into_iter().enumerate() {
                        s.on_abort(l);
                        if i == 0 && j == 12 {
                            c.abort();
                        }
                    }
                    c.abort();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(n.load(Ordering::SeqCst), 100);
    }
}
