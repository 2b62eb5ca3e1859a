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
#[path = "abort_tests.rs"]
mod tests;
