//! plue-http on smol / async-io: the [`Runtime`](driver::Runtime) seam filled in with smol calls, and the
//! client types with it.
//!
//! ```no_run
//! # fn demo() -> Result<(), plue_http_smol::Error> {
//! smol::block_on(async {
//!     let client = plue_http_smol::Client::new(plue_http_smol::Options {
//!         base_url: Some("http://127.0.0.1:4096".into()),
//!         ..Default::default()
//!     })?;
//!     let health = client.get("/global/health").await?;
//!     println!("{} {}", health.status(), health.text());
//!     Ok(())
//! })
//! # }
//! ```
//!
//! By default tasks run on smol's global executor (`smol::spawn`), so a client works from any thread; every
//! request then crosses from the caller's thread to the executor's and back. A client on an executor the
//! caller runs itself ([`SmolRuntime::on`], e.g. `smol::block_on(ex.run(…))`) keeps a request on one thread:
//!
//! ```no_run
//! # fn demo() -> Result<(), plue_http_smol::Error> {
//! let ex = std::sync::Arc::new(smol::Executor::new());
//! let client = plue_http_smol::Client::with_runtime(
//!     plue_http_smol::SmolRuntime::on(ex.clone()),
//!     plue_http_smol::Options::default(),
//! )?;
//! smol::block_on(ex.run(async {
//!     let health = client.get("http://127.0.0.1:4096/global/health").await?;
//!     println!("{}", health.status());
//!     Ok(())
//! }))
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Instant;

use async_io::Async;
use plue_http_driver::{self as driver, ChildProcess, ConnRead, ConnWrite};
use smol::io::{AsyncReadExt, AsyncWriteExt};

pub use plue_http_core::abort::{AbortController, AbortSignal};
pub use plue_http_core::client::{MemoryPressure, Options, StreamOptions};
pub use plue_http_core::sse::{SseEvent, StreamEvent};
pub use plue_http_core::{Error, ErrorKind, Method, Request, RequestBuilder, Response};
pub use plue_http_driver::{
    AbortHandle, BodyReader, EventStream, ResponseFuture, StreamingFuture, StreamingResponse,
};

/// The plue-http client on smol.
pub type Client = driver::Client<SmolRuntime>;

/// The smol implementation of the driver's [`Runtime`](driver::Runtime): tasks on smol's global executor
/// (the default) or on a given one.
#[derive(Debug, Clone, Default)]
pub struct SmolRuntime {
    executor: Option<Arc<smol::Executor<'static>>>,
}

impl SmolRuntime {
    /// Spawn the client's tasks on `executor`. Something must run it (`smol::block_on(executor.run(…))`):
    /// the client makes progress only while it runs.
    pub fn on(executor: Arc<smol::Executor<'static>>) -> Self {
        SmolRuntime {
            executor: Some(executor),
        }
    }
}

/// One half of a connection: both share the registered socket (async-io's `Async`, which can wait for
/// readiness without reading).
#[derive(Debug)]
pub struct Half(Arc<Async<std::net::TcpStream>>);

/// A child process's stdout or stderr.
#[derive(Debug)]
pub enum Pipe {
    /// Standard output.
    Stdout(smol::process::ChildStdout),
    /// Standard error.
    Stderr(smol::process::ChildStderr),
}

/// A child process.
#[derive(Debug)]
pub struct Child(smol::process::Child);

impl driver::Runtime for SmolRuntime {
    type Reader = Half;
    type Writer = Half;
    type Child = Child;

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn entropy(&self) -> u64 {
        driver::os_entropy()
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        match &self.executor {
            Some(ex) => ex.spawn(fut).detach(),
            None => smol::spawn(fut).detach(),
        }
    }

    async fn sleep_until(&self, deadline: Instant) {
        async_io::Timer::at(deadline).await;
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<(Half, Half)> {
        let stream = Async::<std::net::TcpStream>::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        let stream = Arc::new(stream);
        Ok((Half(stream.clone()), Half(stream)))
    }

    async fn resolve(&self, host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
        smol::net::resolve((host.as_str(), port)).await
    }

    fn spawn_process(&self, command: Command) -> io::Result<Child> {
        let mut command = smol::process::Command::from(command);
        command
            .kill_on_drop(true)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.spawn().map(Child)
    }

    async fn wait_readable<'a>(&'a self, fd: BorrowedFd<'a>) -> io::Result<()> {
        async_io::Async::new(fd)?.readable().await
    }
}

impl ConnRead for Half {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf).await
    }

    async fn readable(&mut self) -> io::Result<()> {
        self.0.readable().await
    }
}

impl ConnWrite for Half {
    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf).await
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.get_ref().local_addr().ok()
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
        Some(self.0.id())
    }

    fn take_stdout(&mut self) -> Option<Pipe> {
        self.0.stdout.take().map(Pipe::Stdout)
    }

    fn take_stderr(&mut self) -> Option<Pipe> {
        self.0.stderr.take().map(Pipe::Stderr)
    }

    fn terminate(&mut self) -> io::Result<()> {
        // Not reaped yet (`try_status` says so), so the pid is still this child's.
        if self.0.try_status()?.is_some() {
            return Ok(());
        }
        let pid = i32::try_from(self.0.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| io::Error::other("invalid pid"))?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).map_err(io::Error::from)
    }

    fn kill(&mut self) -> io::Result<()> {
        self.0.kill()
    }

    async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.0.status().await
    }
}

/// OpenCode on smol: the typed client, typed event streams, the health monitor and the server manager.
pub mod opencode {
    pub use plue_opencode::*;
    pub use plue_opencode::{
        env_auth, reconnect_notice, EventItem, Events, HealthWatch, ManagerOptions, OpenCode,
        Report, ServerManager, StartError,
    };

    use super::{Client, Error, Options, SmolRuntime};

    /// The OpenCode client on smol.
    pub type OpenCodeClient = plue_opencode::OpenCodeClient<SmolRuntime>;

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
            SmolRuntime::default(),
            opencode.clone(),
            HealthConfig::default(),
        )
    }

    /// Watch the health of a server someone else runs (never restarts it).
    pub fn watch(opencode: &OpenCode, config: HealthConfig) -> HealthWatch {
        HealthWatch::start(SmolRuntime::default(), opencode.clone(), config)
    }
}
