//! OpenCode, blocking: the typed client, typed event iterators, the health monitor and the server manager, for
//! runtimes without an async executor (`plue-http-mio`).
//!
//! Each call blocks on the same [`OpenCode`] the async runtimes use; the monitor and manager run on
//! [`ThreadHost`] (a thread per task, one timer thread), so their decisions and behaviour are the same. A
//! blocking runtime plugs in through [`BlockingHttp`]: where its HTTP client comes from.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::time::Duration;

use futures_lite::future::block_on;
use futures_lite::StreamExt;
use plue_http_core::client::Options;
use plue_http_core::{Error, ErrorKind};
use plue_http_driver::{block_on_timeout, Front};

use crate::{
    Agent, Api, Call, Config, ConfigProviders, Event, EventItem, GlobalEvent, Health, HealthConfig,
    ManagerOptions, MessageWithParts, OpenCode, OpenCodeOptions, PathInfo, PermissionReply,
    PermissionRequest, Project, PromptInput, ProviderList, Report, Session, SessionStatus,
    StartError,
};

mod thread_host;

pub use thread_host::ThreadHost;

/// The seam to a blocking runtime: its HTTP client type and the driver [`Front`] behind it.
pub trait BlockingHttp: Debug + Clone + Send + Sync + 'static {
    /// The runtime's blocking HTTP client.
    type Client;
    /// A client with `options`.
    fn client(options: Options) -> Result<Self::Client, Error>;
    /// The driver handle `client` sends through.
    fn front(client: &Self::Client) -> &Front;
}

/// A blocking OpenCode client. Cheap to clone.
pub struct OpenCodeClient<H: BlockingHttp> {
    inner: OpenCode,
    http: PhantomData<fn() -> H>,
}

impl<H: BlockingHttp> Clone for OpenCodeClient<H> {
    fn clone(&self) -> Self {
        Self::from_opencode(self.inner.clone())
    }
}

impl<H: BlockingHttp> Debug for OpenCodeClient<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpenCodeClient")
            .field("url", &self.inner.url())
            .finish_non_exhaustive()
    }
}

macro_rules! blocking {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $out:ty; )*) => {$(
        $(#[$doc])*
        pub fn $name(&self, $($arg: $ty),*) -> Result<$out, Error> {
            block_on(self.inner.$name($($arg),*))
        }
    )*};
}

impl<H: BlockingHttp> OpenCodeClient<H> {
    /// A client for `options` with default HTTP options (auth from the environment when not given).
    pub fn new(options: OpenCodeOptions) -> Result<Self, Error> {
        Self::with_client(&H::client(Options::default())?, options)
    }

    /// A client for `options` sending through `client`.
    pub fn with_client(client: &H::Client, options: OpenCodeOptions) -> Result<Self, Error> {
        Ok(Self::from_opencode(OpenCode::new(
            H::front(client).clone(),
            options,
        )?))
    }

    /// Wrap a runtime-independent handle (e.g. the one [`ServerManager::ready`] returns).
    pub fn from_opencode(inner: OpenCode) -> Self {
        OpenCodeClient {
            inner,
            http: PhantomData,
        }
    }

    /// The runtime-independent handle.
    pub fn opencode(&self) -> &OpenCode {
        &self.inner
    }

    /// The current server URL.
    pub fn url(&self) -> String {
        self.inner.url()
    }

    /// Execute any typed call of [`Api`].
    pub fn call<T>(&self, call: Result<Call<T>, ErrorKind>) -> Result<T, Error> {
        block_on(self.inner.call(call))
    }

    /// The request builder (URL, directory, auth) for calls without a method here.
    pub fn api(&self) -> Api {
        self.inner.api()
    }

    blocking! {
        /// `GET /global/health`.
        fn health() -> Health;
        /// `GET /path`.
        fn path() -> PathInfo;
        /// `GET /project/current`.
        fn project_current() -> Project;
        /// `GET /config`.
        fn config() -> Config;
        /// `GET /provider`.
        fn providers() -> ProviderList;
        /// `GET /config/providers`.
        fn config_providers() -> ConfigProviders;
        /// `GET /agent`.
        fn agents() -> Vec<Agent>;
        /// `GET /session`.
        fn sessions() -> Vec<Session>;
        /// `POST /session` with an optional title and parent.
        fn session_create(title: Option<&str>, parent: Option<&str>) -> Session;
        /// `GET /session/{id}`.
        fn session(id: &str) -> Session;
        /// `PATCH /session/{id}` with a new title.
        fn session_update_title(id: &str, title: &str) -> Session;
        /// `DELETE /session/{id}`.
        fn session_delete(id: &str) -> bool;
        /// `GET /session/{id}/children`.
        fn session_children(id: &str) -> Vec<Session>;
        /// `GET /session/status`.
        fn session_status() -> BTreeMap<String, SessionStatus>;
        /// `POST /session/{id}/abort`.
        fn session_abort(id: &str) -> bool;
        /// `GET /session/{id}/message`.
        fn messages(session_id: &str) -> Vec<MessageWithParts>;
        /// `GET /session/{id}/message/{messageID}`.
        fn message(session_id: &str, message_id: &str) -> MessageWithParts;
        /// `POST /session/{id}/message`: blocks until the answer is complete.
        fn prompt(session_id: &str, input: &PromptInput) -> MessageWithParts;
        /// `POST /session/{id}/prompt_async`: follow it on [`OpenCodeClient::events`].
        fn prompt_async(session_id: &str, input: &PromptInput) -> ();
        /// `GET /permission`.
        fn permissions() -> Vec<PermissionRequest>;
        /// `POST /permission/{requestID}/reply`.
        fn permission_reply(request_id: &str, reply: PermissionReply, message: Option<&str>) -> bool;
    }

    /// `/event`, typed and reconnecting, as a blocking iterator.
    pub fn events(&self) -> Events<Event> {
        Events(self.inner.events())
    }

    /// `/global/event`, typed and reconnecting, as a blocking iterator.
    pub fn global_events(&self) -> Events<GlobalEvent> {
        Events(self.inner.global_events())
    }
}

/// A typed event stream as a blocking iterator; an `Err` ends it; dropping it unsubscribes.
#[derive(Debug)]
pub struct Events<T>(crate::Events<T>);

impl<T> Events<T> {
    /// The next item, waiting at most `timeout` (`Ok(None)`: nothing in time).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<EventItem<T>>, Error> {
        match block_on_timeout(self.0.next(), timeout) {
            None => Ok(None),
            Some(Some(item)) => item.map(Some),
            Some(None) => Err(Error::new(ErrorKind::Shutdown)),
        }
    }

    /// Abort the stream now.
    pub fn abort(&self) {
        self.0.abort();
    }
}

impl<T> Iterator for Events<T> {
    type Item = Result<EventItem<T>, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        block_on(self.0.next())
    }
}

/// State changes of a monitor or manager, received with a timeout.
pub struct Reports(futures_lite::stream::Boxed<Report>);

impl core::fmt::Debug for Reports {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reports").finish_non_exhaustive()
    }
}

impl Reports {
    /// The next report, waiting at most `timeout`; `None` when nothing came in time or the source stopped.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Report> {
        block_on_timeout(self.0.next(), timeout).flatten()
    }
}

/// A supervised `opencode serve` (blocking API): see [`crate::ServerManager`].
pub struct ServerManager<H: BlockingHttp> {
    inner: crate::ServerManager,
    http: PhantomData<fn() -> H>,
}

impl<H: BlockingHttp> Debug for ServerManager<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.inner.fmt(f)
    }
}

impl<H: BlockingHttp> ServerManager<H> {
    /// Start the server; returns at once (see [`ServerManager::ready`]).
    pub fn start(options: ManagerOptions) -> Result<Self, Error> {
        Ok(Self::start_with(&H::client(Options::default())?, options))
    }

    /// [`ServerManager::start`] with clients sending through `client` (its timeouts, retry and reconnect
    /// settings).
    pub fn start_with(client: &H::Client, options: ManagerOptions) -> Self {
        ServerManager {
            inner: crate::ServerManager::start(ThreadHost, H::front(client).clone(), options),
            http: PhantomData,
        }
    }

    /// Block until the first healthy server (or the start failed); the client follows it across restarts.
    pub fn ready(&self) -> Result<OpenCodeClient<H>, StartError> {
        block_on(self.inner.ready()).map(OpenCodeClient::from_opencode)
    }

    /// The current server process id.
    pub fn pid(&self) -> Option<u32> {
        self.inner.pid()
    }

    /// Every state change, in order (one consumer).
    pub fn reports(&self) -> Reports {
        Reports(self.inner.reports().boxed())
    }

    /// `true` once the manager stopped.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Stop the server (SIGTERM, SIGKILL after the grace period), reap it, unsubscribe. Blocks until done.
    pub fn stop(&self) {
        block_on(self.inner.stop());
    }
}

/// The health monitor alone for a server someone else runs (blocking API); never restarts it.
#[derive(Debug)]
pub struct HealthWatch {
    inner: crate::HealthWatch,
}

impl HealthWatch {
    /// Watch the server `client` talks to.
    pub fn start<H: BlockingHttp>(client: &OpenCodeClient<H>, config: HealthConfig) -> HealthWatch {
        HealthWatch {
            inner: crate::HealthWatch::start(ThreadHost, client.inner.clone(), config),
        }
    }

    /// Every state change, in order (one consumer).
    pub fn reports(&self) -> Reports {
        Reports(self.inner.reports().boxed())
    }

    /// Stop watching. Blocks until done.
    pub fn stop(&self) {
        block_on(self.inner.stop());
    }
}
