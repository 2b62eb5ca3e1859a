//! [`OpenCode`]: every typed OpenCode call as one async method over a client [`Front`]; [`OpenCodeClient`] is
//! the same bound to a runtime.
//!
//! Each method executes the core's [`Call`] (request built and response parsed by [`Api`]): no protocol logic
//! lives here. The only driver-side extra is reading `OPENCODE_SERVER_USERNAME` / `OPENCODE_SERVER_PASSWORD`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use async_channel::Sender;

use crate::{
    Agent, Api, Auth, Call, Config, ConfigProviders, Health, MessageWithParts, OpenCodeOptions,
    PathInfo, PermissionReply, PermissionRequest, Project, PromptInput, ProviderList, Session,
    SessionCreate, SessionStatus,
};
use plue_http_core::client::Options;
use plue_http_core::error::{Error, ErrorKind};
use plue_http_driver::{Client, Front, Runtime};

/// Basic auth from `OPENCODE_SERVER_USERNAME` / `OPENCODE_SERVER_PASSWORD` (`None` without a password).
pub fn env_auth() -> Option<Auth> {
    let user = std::env::var("OPENCODE_SERVER_USERNAME").ok();
    let password = std::env::var("OPENCODE_SERVER_PASSWORD").ok();
    Auth::from_env_values(user.as_deref(), password.as_deref())
}

/// `options` with [`env_auth`] filled in when they carry no auth of their own.
pub fn with_env_auth(mut options: OpenCodeOptions) -> OpenCodeOptions {
    if options.auth.is_none() {
        options.auth = env_auth();
    }
    options
}

/// The API and the event streams that must follow it when the server moves.
#[derive(Debug)]
struct Shared {
    api: RwLock<Api>,
    /// One sender per live event stream; a move is announced on each (closed ones are dropped).
    moves: Mutex<Vec<Sender<String>>>,
}

/// An OpenCode client over a [`Front`], usable from any runtime (the async [`OpenCodeClient`] and the blocking
/// mio client both wrap it). Cheap to clone; clones follow the same server URL.
#[derive(Debug, Clone)]
pub struct OpenCode {
    front: Front,
    shared: Arc<Shared>,
}

impl OpenCode {
    /// An OpenCode client sending through `front`. Auth comes from `options`, else from the environment
    /// ([`env_auth`]). Fails on a URL the client cannot use.
    pub fn new(front: Front, options: OpenCodeOptions) -> Result<OpenCode, Error> {
        let api = Api::new(&with_env_auth(options)).map_err(Error::new)?;
        Ok(OpenCode {
            front,
            shared: Arc::new(Shared {
                api: RwLock::new(api),
                moves: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The HTTP client underneath.
    pub fn front(&self) -> &Front {
        &self.front
    }

    /// The current request builder (URL, directory, auth).
    pub fn api(&self) -> Api {
        self.shared
            .api
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current server URL (`http://host:port`).
    pub fn url(&self) -> String {
        format!("http://{}", self.api().base_url().authority())
    }

    /// Point every clone at `url`. Live event streams resubscribe there and yield
    /// [`EventItem::Resubscribed`](super::EventItem::Resubscribed): events in between are lost.
    pub fn set_url(&self, url: &str) -> Result<(), Error> {
        if self.point_at(url)? {
            self.resubscribe_streams();
        }
        Ok(())
    }

    /// Replace the credentials of every clone (`None`: none), e.g. after attaching to a server or a password
    /// rotation. Live event streams subscribe anew with them and yield
    /// [`EventItem::Resubscribed`](super::EventItem::Resubscribed).
    pub fn set_auth(&self, auth: Option<Auth>) {
        if self.replace_auth(auth) {
            self.resubscribe_streams();
        }
    }

    /// Replace the credentials without touching live streams; `true` when they changed.
    pub(crate) fn replace_auth(&self, auth: Option<Auth>) -> bool {
        let mut api = self.shared.api.write().unwrap_or_else(|e| e.into_inner());
        let next = api.with_auth(auth.as_ref());
        let changed = next != *api;
        *api = next;
        changed
    }

    /// Point every clone at `url` without touching live streams; `true` when the URL changed.
    pub(crate) fn point_at(&self, url: &str) -> Result<bool, Error> {
        let mut api = self.shared.api.write().unwrap_or_else(|e| e.into_inner());
        let next = api.with_base_url(url).map_err(Error::new)?;
        let changed = next != *api;
        *api = next;
        Ok(changed)
    }

    /// Make every live event stream drop its connection and subscribe anew at the current URL, yielding
    /// [`EventItem::Resubscribed`](super::EventItem::Resubscribed). The server manager calls this once a
    /// restarted server is healthy, so streams do not wait out a backoff (or a connection the dying server
    /// accepted but never answered).
    pub fn resubscribe_streams(&self) {
        let url = self.url();
        self.shared
            .moves
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|tx| tx.try_send(url.clone()).is_ok());
    }

    /// A channel on which [`OpenCode::set_url`] announces moves.
    pub(crate) fn watch_moves(&self) -> async_channel::Receiver<String> {
        let (tx, rx) = async_channel::unbounded();
        self.shared
            .moves
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        rx
    }

    /// Execute a typed call: send its request, parse its response (a non-2xx is [`ErrorKind::Status`]).
    pub async fn call<T>(&self, call: Result<Call<T>, ErrorKind>) -> Result<T, Error> {
        let (request, parse) = call.map_err(Error::new)?.into_parts();
        let response = self.front.request(request).await?;
        parse(&response).map_err(Error::new)
    }

    /// Execute a typed call whose answer holds one big array at `pointer`: its elements are decoded one by one
    /// as the body arrives (never the whole body in memory) and handed to `each`; the rest of the document (the
    /// array emptied) is parsed as `T`. A non-2xx answer is collected and parsed as usual.
    async fn call_streamed<T, E>(
        &self,
        call: Result<Call<T>, ErrorKind>,
        pointer: &str,
        each: impl FnMut(E),
    ) -> Result<T, Error>
    where
        T: serde::de::DeserializeOwned,
        E: serde::de::DeserializeOwned,
    {
        let (request, parse) = call.map_err(Error::new)?.into_parts();
        let (head, mut body) = self.front.request_streaming(request).await?.into_parts();
        if !head.status.is_success() {
            let bytes = body.bytes().await?;
            return parse(&plue_http_core::response::Response::new(head, bytes))
                .map_err(Error::new);
        }
        body.json_elements(pointer, Default::default(), each).await
    }

    /// `GET /global/health`.
    pub async fn health(&self) -> Result<Health, Error> {
        self.call(self.api().health()).await
    }
    /// `GET /path`.
    pub async fn path(&self) -> Result<PathInfo, Error> {
        self.call(self.api().path()).await
    }
    /// `GET /project/current`.
    pub async fn project_current(&self) -> Result<Project, Error> {
        self.call(self.api().project_current()).await
    }
    /// `GET /config`.
    pub async fn config(&self) -> Result<Config, Error> {
        self.call(self.api().config()).await
    }
    /// `GET /provider`: the whole catalogue.
    pub async fn providers(&self) -> Result<ProviderList, Error> {
        // 6.5 MB on a 1.18 server: streamed provider by provider.
        let mut all = Vec::new();
        let mut list: ProviderList = self
            .call_streamed(self.api().providers(), "/all", |p| all.push(p))
            .await?;
        list.all = all;
        Ok(list)
    }
    /// `GET /config/providers`: the providers usable with the current configuration.
    pub async fn config_providers(&self) -> Result<ConfigProviders, Error> {
        self.call(self.api().config_providers()).await
    }
    /// `GET /agent`.
    pub async fn agents(&self) -> Result<Vec<Agent>, Error> {
        self.call(self.api().agents()).await
    }
    /// `GET /session`.
    pub async fn sessions(&self) -> Result<Vec<Session>, Error> {
        let mut all = Vec::new();
        let _empty: Vec<Session> = self
            .call_streamed(self.api().sessions(), "", |s| all.push(s))
            .await?;
        Ok(all)
    }
    /// `POST /session` with an optional title and parent.
    pub async fn session_create(
        &self,
        title: Option<&str>,
        parent: Option<&str>,
    ) -> Result<Session, Error> {
        let body = SessionCreate {
            title: title.map(str::to_string),
            parent_id: parent.map(str::to_string),
        };
        self.call(self.api().session_create(&body)).await
    }
    /// `GET /session/{id}`.
    pub async fn session(&self, id: &str) -> Result<Session, Error> {
        self.call(self.api().session_get(id)).await
    }
    /// `PATCH /session/{id}` with a new title.
    pub async fn session_update_title(&self, id: &str, title: &str) -> Result<Session, Error> {
        self.call(self.api().session_update_title(id, title)).await
    }
    /// `DELETE /session/{id}` (children go with it).
    pub async fn session_delete(&self, id: &str) -> Result<bool, Error> {
        self.call(self.api().session_delete(id)).await
    }
    /// `GET /session/{id}/children`.
    pub async fn session_children(&self, id: &str) -> Result<Vec<Session>, Error> {
        self.call(self.api().session_children(id)).await
    }
    /// `GET /session/status`: every session that is not idle.
    pub async fn session_status(&self) -> Result<BTreeMap<String, SessionStatus>, Error> {
        self.call(self.api().session_status()).await
    }
    /// `POST /session/{id}/abort`.
    pub async fn session_abort(&self, id: &str) -> Result<bool, Error> {
        self.call(self.api().session_abort(id)).await
    }
    /// `GET /session/{id}/message`.
    pub async fn messages(&self, session_id: &str) -> Result<Vec<MessageWithParts>, Error> {
        // A long session's messages run to megabytes: streamed message by message.
        let mut all = Vec::new();
        let _empty: Vec<MessageWithParts> = self
            .call_streamed(self.api().messages(session_id), "", |m| all.push(m))
            .await?;
        Ok(all)
    }
    /// `GET /session/{id}/message/{messageID}`.
    pub async fn message(
        &self,
        session_id: &str,
        message_id: &str,
    ) -> Result<MessageWithParts, Error> {
        self.call(self.api().message(session_id, message_id)).await
    }
    /// `POST /session/{id}/message`: blocks until the answer is complete (no read timeout, never retried).
    pub async fn prompt(
        &self,
        session_id: &str,
        input: &PromptInput,
    ) -> Result<MessageWithParts, Error> {
        self.call(self.api().prompt(session_id, input)).await
    }
    /// `POST /session/{id}/prompt_async`: starts the prompt; follow it on [`OpenCode::events`].
    pub async fn prompt_async(&self, session_id: &str, input: &PromptInput) -> Result<(), Error> {
        self.call(self.api().prompt_async(session_id, input)).await
    }
    /// `GET /permission`: pending permission requests.
    pub async fn permissions(&self) -> Result<Vec<PermissionRequest>, Error> {
        self.call(self.api().permissions()).await
    }
    /// `POST /permission/{requestID}/reply`.
    pub async fn permission_reply(
        &self,
        request_id: &str,
        reply: PermissionReply,
        message: Option<&str>,
    ) -> Result<bool, Error> {
        self.call(self.api().permission_reply(request_id, reply, message))
            .await
    }
}

/// An OpenCode client on runtime `R`: [`OpenCode`]'s methods (through `Deref`) with the runtime's HTTP client.
#[derive(Debug, Clone)]
pub struct OpenCodeClient<R: Runtime> {
    opencode: OpenCode,
    client: Client<R>,
}

impl<R: Runtime + Default> OpenCodeClient<R> {
    /// A client for `options` with default HTTP options on the runtime's default instance.
    pub fn new(options: OpenCodeOptions) -> Result<Self, Error> {
        Self::with_client(Client::new(Options::default())?, options)
    }
}

impl<R: Runtime> OpenCodeClient<R> {
    /// A client for `options` sending through `client` (its timeouts, pool and retry settings apply).
    pub fn with_client(client: Client<R>, options: OpenCodeOptions) -> Result<Self, Error> {
        let opencode = OpenCode::new((*client).clone(), options)?;
        Ok(OpenCodeClient { opencode, client })
    }

    /// The HTTP client underneath.
    pub fn client(&self) -> &Client<R> {
        &self.client
    }

    /// The runtime-independent handle (what the server manager and monitor take).
    pub fn opencode(&self) -> &OpenCode {
        &self.opencode
    }
}

impl<R: Runtime> core::ops::Deref for OpenCodeClient<R> {
    type Target = OpenCode;
    fn deref(&self) -> &OpenCode {
        &self.opencode
    }
}
