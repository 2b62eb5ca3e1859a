//! A thread-based [`Host`] for the OpenCode monitor and manager: the blocking crate has no async runtime, so
//! every task gets its own thread (`block_on`), timers come from one shared timer thread, and pipes are read
//! with blocking reads (each from its own task thread).

use std::collections::BinaryHeap;
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::Host;
use plue_http_driver::{ChildProcess, ConnRead};

/// Threads for tasks, one timer thread, `std::process` for children.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadHost;

struct Entry(Instant, Waker);
impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Earliest first in a max-heap.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.0.cmp(&self.0)
    }
}

struct Timers {
    heap: Mutex<BinaryHeap<Entry>>,
    cv: Condvar,
}

fn timers() -> &'static Timers {
    static T: OnceLock<&'static Timers> = OnceLock::new();
    T.get_or_init(|| {
        let t: &'static Timers = Box::leak(Box::new(Timers {
            heap: Mutex::new(BinaryHeap::new()),
            cv: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("plue-http-timer".into())
            .spawn(move || {
                let mut heap = t.heap.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let now = Instant::now();
                    while heap.peek().is_some_and(|e| e.0 <= now) {
                        if let Some(e) = heap.pop() {
                            e.1.wake();
                        }
                    }
                    let wait = heap.peek().map_or(Duration::from_secs(3600), |e| e.0 - now);
                    heap =
                        t.cv.wait_timeout(heap, wait)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                }
            })
            .expect("cannot start the timer thread");
        t
    })
}

/// Completes at its deadline.
struct Sleep(Instant);

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.0 {
            return Poll::Ready(());
        }
        let t = timers();
        t.heap
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Entry(self.0, cx.waker().clone()));
        t.cv.notify_one();
        Poll::Pending
    }
}

/// A child's stdout or stderr, read with blocking reads.
#[derive(Debug)]
pub enum Pipe {
    /// Standard output.
    Stdout(std::process::ChildStdout),
    /// Standard error.
    Stderr(std::process::ChildStderr),
}

impl ConnRead for Pipe {
    // Blocking: the manager reads each pipe from a task of its own, which here is a thread of its own.
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Pipe::Stdout(p) => p.read(buf),
            Pipe::Stderr(p) => p.read(buf),
        }
    }
}

/// A child process; reaped by [`ChildProcess::wait`].
#[derive(Debug)]
pub struct Child {
    child: std::process::Child,
    reaped: bool,
}

impl Drop for Child {
    fn drop(&mut self) {
        // Like tokio's and smol's `kill_on_drop`: never leave a server behind.
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl ChildProcess for Child {
    type Pipe = Pipe;

    fn id(&self) -> Option<u32> {
        (!self.reaped).then(|| self.child.id())
    }

    fn take_stdout(&mut self) -> Option<Pipe> {
        self.child.stdout.take().map(Pipe::Stdout)
    }

    fn take_stderr(&mut self) -> Option<Pipe> {
        self.child.stderr.take().map(Pipe::Stderr)
    }

    fn terminate(&mut self) -> io::Result<()> {
        // Not reaped, so the pid is still this child's.
        let Some(pid) = self.id() else { return Ok(()) };
        let pid = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| io::Error::other("invalid pid"))?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).map_err(io::Error::from)
    }

    fn kill(&mut self) -> io::Result<()> {
        self.child.kill()
    }

    async fn wait(&mut self) -> io::Result<ExitStatus> {
        // Polled, so a pending wait can be dropped (the manager races it against signals).
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                return Ok(status);
            }
            Sleep(Instant::now() + Duration::from_millis(50)).await;
        }
    }
}

impl Host for ThreadHost {
    type Child = Child;

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        // Detached; a task that cannot get a thread is dropped, which aborts what it owned.
        let _ = std::thread::Builder::new()
            .name("plue-http-task".into())
            .spawn(move || futures_lite::future::block_on(fut));
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        Sleep(deadline)
    }

    fn spawn_process(&self, mut command: Command) -> io::Result<Child> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(Child {
            child: command.spawn()?,
            reaped: false,
        })
    }

    async fn port_is_free(&self, port: u16) -> bool {
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    }
}
