//! The seam between the driver and an async runtime: everything that touches the world.

use core::future::Future;
use core::net::SocketAddr;
use std::io;
use std::os::fd::BorrowedFd;
use std::process::{Command, ExitStatus};
use std::time::Instant as StdInstant;

/// An async runtime as the driver needs it. Implementations are thin: each method is one runtime call.
///
/// Futures returned here must be cancel-safe in the usual sense: dropping a pending `read` loses no bytes,
/// dropping a pending `connect` closes the half-open socket.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The read half of a connection.
    type Reader: ConnRead;
    /// The write half of a connection.
    type Writer: ConnWrite;
    /// A spawned child process.
    type Child: ChildProcess;

    /// The runtime's monotonic clock. The driver converts it to the core's `Instant` (epoch = client creation).
    fn now(&self) -> StdInstant;
    /// 64 bits of entropy to seed the core's RNG (backoff jitter). Not for cryptography.
    fn entropy(&self) -> u64;
    /// Run a task in the background until it finishes.
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, fut: F);
    /// Complete at (or after) `deadline`. The driver re-checks the clock, so waking early is harmless.
    fn sleep_until(&self, deadline: StdInstant) -> impl Future<Output = ()> + Send;
    /// Open a TCP connection with TCP_NODELAY set, split into halves that can be used from two tasks.
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<(Self::Reader, Self::Writer)>> + Send;
    /// Resolve a host name (only called when the core asks, see `Output::Resolve`).
    fn resolve(
        &self,
        host: String,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
    /// Start a process (the OpenCode server manager) with stdout and stderr piped (the caller must keep
    /// draining them: a full pipe blocks the child) and stdin empty. Any stdio set on `command` is replaced.
    fn spawn_process(&self, command: Command) -> io::Result<Self::Child>;
    /// Complete once `fd` is readable. The driver waits this way on the OS watchers' one descriptor
    /// (`plue_http_os::OsWatcher::fd`: network changes, memory pressure), registering it for this wait only;
    /// such events are rare, so the registration cost does not matter.
    fn wait_readable<'a>(
        &'a self,
        fd: BorrowedFd<'a>,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
}

/// Reading from a connection or a pipe.
pub trait ConnRead: Send + 'static {
    /// Read some bytes; `Ok(0)` is end of stream.
    fn read(&mut self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;

    /// Wait until a read would find bytes (or the end). The driver calls it after a short read, which emptied
    /// the socket's receive buffer: waiting for readiness first saves the read that would only say
    /// `WouldBlock` (a system call per response on runtimes whose reads try the socket before waiting). The
    /// default returns at once, and the next read waits instead.
    fn readable(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        async { Ok(()) }
    }
}

/// Writing to a connection.
pub trait ConnWrite: Send + 'static {
    /// Write some of `buf`, returning how many bytes were taken.
    fn write(&mut self, buf: &[u8]) -> impl Future<Output = io::Result<usize>> + Send;
    /// The connection's local address, reported to the core when it connects so that a network change closes
    /// exactly the connections whose address is gone. `None` when unknown (such connections are then only
    /// closed by their own errors and timeouts).
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

/// A child process started by [`Runtime::spawn_process`].
pub trait ChildProcess: Send + 'static {
    /// Its stdout or stderr pipe.
    type Pipe: ConnRead;
    /// The OS process id, while it runs.
    fn id(&self) -> Option<u32>;
    /// Take the piped stdout (once).
    fn take_stdout(&mut self) -> Option<Self::Pipe>;
    /// Take the piped stderr (once).
    fn take_stderr(&mut self) -> Option<Self::Pipe>;
    /// Ask it to exit (SIGTERM on Unix). Does nothing once it has been reaped.
    fn terminate(&mut self) -> io::Result<()>;
    /// Kill it (SIGKILL on Unix).
    fn kill(&mut self) -> io::Result<()>;
    /// Wait for it to exit (reaps it: no zombie).
    fn wait(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + Send;
}

/// Entropy for [`Runtime::entropy`]: the standard library's random hash keys, which the OS seeds once per thread
/// and which differ for every `RandomState`. No clock is read. Every runtime seeds the core's RNG from it.
/// Not for cryptography.
pub fn os_entropy() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x706c_7565); // any fixed input: the randomness is in the keys
    h.finish()
}
