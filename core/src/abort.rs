//! [`AbortController`] and [`AbortSignal`]: the thread-safe wake-up side of cancellation.
//!
//! The core machines handle an abort as a command (`ClientMachine::abort`, `EventStream::abort`); they never look
//! at a signal. A signal exists so that another thread (a UI button, a dropped future) can tell the driver to
//! issue that command: the driver registers a listener that wakes its event loop. Listeners therefore run on the
//! thread that calls [`AbortController::abort`], outside any lock, and each runs exactly once.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

type Listener = Box<dyn FnOnce() + Send>;

struct Inner {
    aborted: AtomicBool,
    /// Listeners not yet called. Taken (emptied) by the one `abort` that flips `aborted`.
    listeners: Mutex<Vec<Listener>>,
}

impl Inner {
    /// A listener that panicked poisons nothing we care about: the vector is still consistent.
    fn listeners(&self) -> MutexGuard<'_, Vec<Listener>> {
        self.listeners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The owner's side: call [`abort`](AbortController::abort) to cancel everything holding its signal.
#[derive(Clone, Default)]
pub struct AbortController {
    signal: AbortSignal,
}

/// The observer's side: cheap to clone, `Send + Sync`, shared by every clone of its controller.
#[derive(Clone)]
pub struct AbortSignal {
    inner: Arc<Inner>,
}

impl AbortController {
    /// A controller whose signal is not aborted.
    pub fn new() -> Self {
        AbortController::default()
    }

    /// The signal to hand to whatever should observe this controller.
    pub fn signal(&self) -> AbortSignal {
        self.signal.clone()
    }

    /// Abort: mark the signal aborted and call every registered listener once. Idempotent: only the first call
    /// does anything.
    pub fn abort(&self) {
        let inner = &self.signal.inner;
        // The flag flips before the lock is taken; `on_abort` checks it under the lock. So a listener is either
        // pushed before we drain (and we call it) or sees the flag (and calls itself) — never both, never neither.
        if inner.aborted.swap(true, Ordering::AcqRel) {
            return;
        }
        let listeners = std::mem::take(&mut *inner.listeners());
        // Called outside the lock: a listener may register another listener or abort again without deadlock.
        for listener in listeners {
            listener();
        }
    }

    /// `true` once [`abort`](AbortController::abort) was called.
    pub fn is_aborted(&self) -> bool {
        self.signal.is_aborted()
    }
}

impl AbortSignal {
    /// `true` once the controller aborted.
    pub fn is_aborted(&self) -> bool {
        self.inner.aborted.load(Ordering::Acquire)
    }

    /// Call `listener` once when the controller aborts; at once (on this thread) when it already has.
    pub fn on_abort(&self, listener: impl FnOnce() + Send + 'static) {
        let mut listeners = self.inner.listeners();
        if self.inner.aborted.load(Ordering::Acquire) {
            drop(listeners);
            listener();
        } else {
            listeners.push(Box::new(listener));
        }
    }
}

impl Default for AbortSignal {
    fn default() -> Self {
        AbortSignal {
            inner: Arc::new(Inner {
                aborted: AtomicBool::new(false),
                listeners: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl fmt::Debug for AbortSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortSignal")
            .field("aborted", &self.is_aborted())
            .finish()
    }
}

impl fmt::Debug for AbortController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortController")
            .field("aborted", &self.is_aborted())
            .finish()
    }
}

#[cfg(test)]
mod tests {
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
}
