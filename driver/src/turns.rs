//! Who runs a blocking runtime's event loop (the mio runtime's). A calling thread that waits for its request
//! runs the loop itself (as a blocking client blocks on its own socket), so a sequential request costs no
//! hand-off to another thread. A background thread runs it only while work is open that no caller is waiting
//! on (an event stream between reads, a started request, the OpenCode façade's own threads); it parks again
//! once the loop is idle.
//!
//! The loop lives in a mutex while nobody runs it; a runner takes it out, turns it, and puts it back. Nothing
//! here touches a socket: the loop's [`Turns`] implementation does the I/O.

use std::future::Future;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use super::router::Wake;

/// An event loop that runs one turn at a time on whichever thread holds it.
pub trait Turns: Send + 'static {
    /// One turn: wait for readiness (at most `cap`, and not at all when commands are queued), do the I/O it
    /// allows, expire timers, apply queued commands. `polling` must be set (then a `SeqCst` fence, then the
    /// command queue checked) while the thread is blocked in the OS poll, so a sender knows to interrupt it.
    /// Returns `true` once the client has shut down.
    fn turn(&mut self, polling: &AtomicBool, cap: Option<Duration>) -> bool;
    /// No request or stream is open and no command waits (see [`Router::is_idle`](super::Router::is_idle)).
    fn is_idle(&self) -> bool;
}

/// Wakes a thread parked in [`SharedLoop::drive`].
struct Unpark(Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// One waker per thread, built once: waiting costs no allocation.
    static WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
}

struct State<L> {
    /// The loop, while nobody runs it.
    idle: Option<Box<L>>,
    /// Callers waiting for the loop to come back.
    waiting: Vec<Thread>,
    /// The client shut down: the loop is gone.
    closed: bool,
}

/// A blocking client's event loop, shared by every handle: run by waiting callers, or by a background thread
/// (see the module docs).
pub struct SharedLoop<L> {
    state: Mutex<State<L>>,
    /// A runner is blocked in the loop's poll: a new command must interrupt it.
    polling: AtomicBool,
    /// Callers inside [`SharedLoop::drive`]: one of them runs the loop next, so a command needs no wake-up.
    drivers: AtomicUsize,
    /// Interrupts the loop's poll (a `mio::Waker`).
    interrupt: Wake,
    /// The background thread was asked to run the loop.
    kicked: AtomicBool,
    background: OnceLock<Thread>,
}

impl<L> core::fmt::Debug for SharedLoop<L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedLoop")
            .field("drivers", &self.drivers.load(SeqCst))
            .finish_non_exhaustive()
    }
}

enum Take<L> {
    Loop(Box<L>),
    Busy,
    Closed,
}

impl<L: Turns> SharedLoop<L> {
    /// A shared loop with no loop installed yet; `interrupt` wakes a thread blocked in the loop's poll.
    pub fn new(interrupt: Wake) -> Arc<Self> {
        Arc::new(SharedLoop {
            state: Mutex::new(State {
                idle: None,
                waiting: Vec::new(),
                closed: false,
            }),
            polling: AtomicBool::new(false),
            drivers: AtomicUsize::new(0),
            interrupt,
            kicked: AtomicBool::new(false),
            background: OnceLock::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<L>> {
        // Every critical section is a plain move of the loop or a flag: a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hand the loop over (once, at start).
    pub fn install(&self, lp: L) {
        self.lock().idle = Some(Box::new(lp));
    }

    /// A handle queued a command (call it from the front's [`Wake`]): interrupt the runner blocked in poll,
    /// or, when no caller will run the loop, kick the background thread.
    pub fn command_sent(&self) {
        fence(SeqCst);
        if self.polling.load(SeqCst) {
            (self.interrupt)();
        } else if self.drivers.load(SeqCst) == 0 {
            self.kick();
        }
    }

    fn kick(&self) {
        if !self.kicked.swap(true, SeqCst) {
            if let Some(t) = self.background.get() {
                t.unpark();
            }
        }
    }

    fn take(&self) -> Take<L> {
        let mut s = self.lock();
        match s.idle.take() {
            Some(lp) => Take::Loop(lp),
            None if s.closed => Take::Closed,
            None => {
                // Once per thread: a caller that wakes and waits again while one runner keeps the loop
                // (a long event stream) must not grow the list.
                let me = thread::current();
                if !s.waiting.iter().any(|t| t.id() == me.id()) {
                    s.waiting.push(me);
                }
                Take::Busy
            }
        }
    }

    /// Put the loop back (or drop it once the client shut down) and wake the callers waiting for it.
    fn release(&self, lp: Box<L>, shut: bool) {
        let waiting = {
            let mut s = self.lock();
            if shut {
                s.closed = true;
            } else {
                s.idle = Some(lp);
            }
            core::mem::take(&mut s.waiting)
        };
        for t in waiting {
            t.unpark();
        }
    }

    /// Work open that nobody waits on is the background thread's.
    fn settle(&self) {
        fence(SeqCst);
        let unattended = {
            let s = self.lock();
            s.closed || s.idle.as_ref().is_some_and(|lp| !lp.is_idle())
        };
        if unattended {
            self.kick();
        }
    }

    /// Run `start()`'s future to completion on this thread, running the loop while it waits (or parking while
    /// another thread runs it).
    pub fn wait<F: Future>(&self, start: impl FnOnce() -> F) -> F::Output {
        match self.drive(start, None) {
            Some(out) => out,
            None => unreachable!("without a deadline, drive only returns the output"),
        }
    }

    /// [`SharedLoop::wait`] giving up at `deadline` (`None` then).
    pub fn drive<F: Future>(
        &self,
        start: impl FnOnce() -> F,
        deadline: Option<Instant>,
    ) -> Option<F::Output> {
        self.drivers.fetch_add(1, SeqCst);
        let out = self.drive_inner(start(), deadline);
        self.drivers.fetch_sub(1, SeqCst);
        self.settle();
        out
    }

    fn drive_inner<F: Future>(&self, fut: F, deadline: Option<Instant>) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        WAKER.with(|waker| {
            let mut cx = Context::from_waker(waker);
            loop {
                if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                    return Some(out);
                }
                let left = match deadline {
                    Some(d) => Some(
                        Some(d.saturating_duration_since(Instant::now()))
                            .filter(|l| !l.is_zero())?,
                    ),
                    None => None,
                };
                match self.take() {
                    Take::Loop(mut lp) => {
                        let out = self.run(&mut lp, fut.as_mut(), &mut cx, deadline);
                        let shut = out.is_err();
                        self.release(lp, shut);
                        match out {
                            Ok(Some(out)) => return Some(out),
                            Ok(None) => return None,
                            // The loop is gone and every channel closed: the future ends now.
                            Err(()) => continue,
                        }
                    }
                    Take::Busy => match left {
                        Some(left) => thread::park_timeout(left),
                        None => thread::park(),
                    },
                    // A closed loop ended every handle's channel, so the future is ready on the next poll.
                    Take::Closed => thread::park_timeout(Duration::from_millis(1)),
                }
            }
        })
    }

    /// Turn the loop until `fut` is ready or `deadline` passes; `Err` once the client shut down.
    fn run<F: Future>(
        &self,
        lp: &mut L,
        mut fut: std::pin::Pin<&mut F>,
        cx: &mut Context<'_>,
        deadline: Option<Instant>,
    ) -> Result<Option<F::Output>, ()> {
        loop {
            let cap = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if lp.turn(&self.polling, cap) {
                return Err(());
            }
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Ok(Some(out));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// The background thread's body: parked until kicked, then runs the loop until it is idle again; returns
    /// once the client has shut down.
    pub fn background(self: Arc<Self>) {
        let _ = self.background.set(thread::current());
        loop {
            while !self.kicked.swap(false, SeqCst) {
                thread::park();
            }
            let mut lp = match self.take_for_background() {
                Take::Loop(lp) => lp,
                Take::Busy => continue,
                Take::Closed => return,
            };
            let shut = loop {
                if lp.turn(&self.polling, None) {
                    break true;
                }
                if lp.is_idle() {
                    break false;
                }
            };
            self.release(lp, shut);
            if shut {
                return;
            }
            // A command that arrived after the last turn found this thread running and did not kick it.
            self.settle();
        }
    }

    /// Like `take`, but a busy loop is simply left to its runner (who settles when done).
    fn take_for_background(&self) -> Take<L> {
        let mut s = self.lock();
        match s.idle.take() {
            Some(lp) => Take::Loop(lp),
            None if s.closed => Take::Closed,
            None => Take::Busy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chan::{self, Receiver, Sender};
    use std::thread::ThreadId;

    /// The shared loop, its command sender, its open-work count, the background thread's id.
    type Setup = (
        Arc<SharedLoop<Fake>>,
        Sender<Sender<ThreadId>>,
        Arc<AtomicUsize>,
        ThreadId,
    );

    /// A loop whose commands ask "which thread ran me?".
    struct Fake {
        cmds: Receiver<Sender<ThreadId>>,
        open: Arc<AtomicUsize>,
    }

    impl Turns for Fake {
        fn turn(&mut self, polling: &AtomicBool, cap: Option<Duration>) -> bool {
            polling.store(true, SeqCst);
            fence(SeqCst);
            if self.cmds.is_empty() {
                // Stands in for a blocking poll.
                thread::sleep(
                    cap.unwrap_or(Duration::from_millis(1))
                        .min(Duration::from_millis(1)),
                );
            }
            polling.store(false, SeqCst);
            while let Ok(reply) = self.cmds.try_recv() {
                let _ = reply.try_send(thread::current().id());
                self.open.fetch_sub(1, SeqCst);
            }
            false
        }
        fn is_idle(&self) -> bool {
            self.open.load(SeqCst) == 0 && self.cmds.is_empty()
        }
    }

    fn fake() -> Setup {
        let (tx, rx) = chan::unbounded();
        let open = Arc::new(AtomicUsize::new(0));
        let shared = SharedLoop::new(Arc::new(|| {}));
        shared.install(Fake {
            cmds: rx,
            open: open.clone(),
        });
        let bg = shared.clone();
        let id = thread::spawn(move || bg.background()).thread().id();
        (shared, tx, open, id)
    }

    fn ask(
        shared: &SharedLoop<Fake>,
        tx: &Sender<Sender<ThreadId>>,
        open: &AtomicUsize,
    ) -> Receiver<ThreadId> {
        let (reply, got) = chan::unbounded();
        open.fetch_add(1, SeqCst);
        assert!(tx.try_send(reply).is_ok());
        shared.command_sent();
        got
    }

    #[test]
    fn turns_a_waiting_caller_runs_the_loop_itself() {
        let (shared, tx, open, bg) = fake();
        for _ in 0..100 {
            let ran_on = shared.wait(|| {
                let got = ask(&shared, &tx, &open);
                async move { got.recv().await }
            });
            assert_eq!(ran_on, Some(thread::current().id()));
        }
        assert_ne!(bg, thread::current().id());
    }

    #[test]
    fn turns_work_nobody_waits_on_runs_on_the_background_thread() {
        let (shared, tx, open, bg) = fake();
        let got = ask(&shared, &tx, &open);
        // Not driven by this thread: a plain block_on only parks.
        let ran_on = futures_lite::future::block_on(got.recv());
        assert_eq!(ran_on, Some(bg));
    }

    #[test]
    fn turns_callers_on_many_threads_all_finish() {
        let (shared, tx, open, _) = fake();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (shared, tx, open) = (shared.clone(), tx.clone(), open.clone());
                thread::spawn(move || {
                    for _ in 0..200 {
                        let got = shared.wait(|| {
                            let got = ask(&shared, &tx, &open);
                            async move { got.recv().await }
                        });
                        assert!(got.is_some());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(open.load(SeqCst), 0);
    }
}
