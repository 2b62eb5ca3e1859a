//! plue-http on tokio: the [`Runtime`](driver::Runtime) seam filled in with tokio calls, and the client types with it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), plue_http_tokio::Error> {
//! let client = plue_http_tokio::Client::new(plue_http_tokio::Options {
//!     base_url: Some("http://127.0.0.1:4096".into()),
//!     ..Default::default()
//! })?;
//! let health = client.get("/global/health").await?;
//! println!("{} {}", health.status(), health.text());
//! # Ok(()) }
//! ```
//!
//! `Client::new` uses the tokio runtime it is called from; outside one it starts a small shared runtime of its
//! own, so the client also works from synchronous code that only blocks on its futures.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use plue_http_driver::{self as driver, ChildProcess, ConnRead, ConnWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::runtime::Handle;

pub use plue_http_core::abort::{AbortController, AbortSignal};
pub use plue_http_core::client::{MemoryPressure, Options, StreamOptions};
pub use plue_http_core::sse::{SseEvent, StreamEvent};
pub use plue_http_core::{Error, ErrorKind, Method, Request, RequestBuilder, Response};
pub use plue_http_driver::{
    AbortHandle, BodyReader, EventStream, ResponseFuture, StreamingFuture, StreamingResponse,
};

/// The plue-http client on tokio.
pub type Client = driver::Client<TokioRuntime>;

/// The tokio implementation of the driver's [`Runtime`](driver::Runtime).
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// Run on the given tokio runtime.
    pub fn new(handle: Handle) -> Self {
        TokioRuntime { handle }
    }
}

impl Default for TokioRuntime {
    /// The current tokio runtime, or (outside one) a shared two-thread runtime started on first use.
    fn default() -> Self {
        static SHARED: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        let handle = Handle::try_current().unwrap_or_else(|_| {
            SHARED
                .get_or_init(|| {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .thread_name("plue-http-tokio")
                        .enable_all()
                        .build()
                        .expect("cannot start the shared tokio runtime")
                })
                .handle()
                .clone()
        });
        TokioRuntime { handle }
    }
}

/// A connection's read half.
#[derive(Debug)]
pub struct Reader(OwnedReadHalf);
/// A connection's write half.
#[derive(Debug)]
pub struct Writer(OwnedWriteHalf);
/// A child process's stdout or stderr.
#[derive(Debug)]
pub enum Pipe {
    /// Standard output.
    Stdout(tokio::process::ChildStdout),
    /// Standard error.
    Stderr(tokio::process::ChildStderr),
}
/// A child process.
#[derive(Debug)]
pub struct Child(tokio::process::Child);

impl driver::Runtime for TokioRuntime {
    type Reader = Reader;
    type Writer = Writer;
    type Child = Child;

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn entropy(&self) -> u64 {
        driver::os_entropy()
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        self.handle.spawn(fut);
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(deadline.into())
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<(Reader, Writer)> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok((Reader(r), Writer(w)))
    }

    async fn resolve(&self, host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host.as_str(), port))
            .await?
            .collect())
    }

    fn spawn_process(&self, command: Command) -> io::Result<Child> {
        let _guard = self.handle.enter();
        let mut command = tokio::process::Command::from(command);
        command
            .kill_on_drop(true)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.spawn().map(Child)
    }

    async fn wait_readable<'a>(&'a self, fd: BorrowedFd<'a>) -> io::Result<()> {
        // Deprecated only because an arbitrary `T` might change its fd; a `BorrowedFd` outlives this
        // `AsyncFd` and always names the same descriptor, and the replacement is `unsafe` (forbidden here).
        #[allow(deprecated)]
        let fd = tokio::io::unix::AsyncFd::with_interest(fd, tokio::io::Interest::READABLE)?;
        fd.readable().await.map(|_| ())
    }
}

impl ConnRead for Reader {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).await
    }

    async fn readable(&mut self) -> io::Result<()> {
        self.0.readable().await
    }
}

impl ConnWrite for Writer {
    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).await
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr().ok()
    }
}

impl ConnRead for Pipe {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Pipe::Stdout(p) => p.read(buf).await,
            Pipe::Stderr(p) => p.read(buf).await,
        }
    }
}

impl ChildProcess for Child {
    type Pipe = Pipe;

    fn id(&self) -> Option<u32> {
        self.0.id()
    }

    fn take_stdout(&mut self) -> Option<Pipe> {
        self.0.stdout.take().map(Pipe::Stdout)
    }

    fn take_stderr(&mut self) -> Option<Pipe> {
        self.0.stderr.take().map(Pipe::Stderr)
    }

    fn terminate(&mut self) -> io::Result<()> {
        terminate(self.0.id())
    }

    fn kill(&mut self) -> io::Result<()> {
        self.0.start_kill()
    }

    fn wait(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + Send {
        self.0.wait()
    }
}

/// SIGTERM to `pid`; `None` (already reaped) does nothing, so a reused pid is never hit.
fn terminate(pid: Option<u32>) -> io::Result<()> {
    let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return Ok(());
    };
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).map_err(io::Error::from)
}

/// OpenCode on tokio: the typed client, typed event streams, the health monitor and the server manager.
pub mod opencode {
    pub use plue_opencode::*;
    pub use plue_opencode::{
        env_auth, reconnect_notice, EventItem, Events, HealthWatch, ManagerOptions, OpenCode,
        Report, ServerManager, StartError,
    };

    use super::{Client, Error, Options, TokioRuntime};

    /// The OpenCode client on tokio.
    pub type OpenCodeClient = plue_opencode::OpenCodeClient<TokioRuntime>;

    /// Start and supervise `opencode serve` (see [`ServerManager`]); clients use default HTTP options.
    pub fn start_server(options: ManagerOptions) -> Result<ServerManager, Error> {
        Ok(start_server_with(
            &Client::new(Options::default())?,
            options,
        ))
    }

    /// [`start_server`] with clients sending through `client` (its timeouts, retry and reconnect settings).
    pub fn start_server_with(client: &Client, options: ManagerOptions) -> ServerManager {
        ServerManager::start(client.runtime().clone(), (**client).clone(), options)
    }

    /// Attach to a server someone else runs (URL and password in `opencode`): a [`ServerManager`] that is
    /// ready once the server is healthy and never restarts or stops it.
    pub fn attach(opencode: &OpenCode) -> ServerManager {
        ServerManager::attach(
            TokioRuntime::default(),
            opencode.clone(),
            HealthConfig::default(),
        )
    }

    /// Watch the health of a server someone else runs (never restarts it).
    pub fn watch(opencode: &OpenCode, config: HealthConfig) -> HealthWatch {
        HealthWatch::start(TokioRuntime::default(), opencode.clone(), config)
    }
}
