//! Typed calls, sans-IO: each method builds a [`Request`] and pairs it with the parser of its [`Response`].
//!
//! ```text
//! let call = api.session_create(&SessionCreate::default())?;
//! let response = /* any driver sends call.request and collects the response */;
//! let session: Session = call.parse(&response)?;   // non-2xx → ErrorKind::Status(ApiError)
//! ```

use std::collections::BTreeMap;

use http::Method;
use serde::de::DeserializeOwned;

use super::message::{MessageWithParts, PermissionReply, PermissionRequest, PromptInput};
use super::options::{DirectoryMode, OpenCodeOptions};
use super::session::{Session, SessionCreate, SessionStatus, SessionUpdate};
use super::types::{Agent, Config, ConfigProviders, Health, PathInfo, Project, ProviderList};
use plue_http_core::error::ErrorKind;
use plue_http_core::request::{validate_header, Request, RequestBuilder};
use plue_http_core::response::Response;
use plue_http_core::url::{percent_encode_into, Url};

/// Turns a response into a typed result: a non-2xx status becomes [`ErrorKind::Status`].
pub type Parser<T> = fn(&Response) -> Result<T, ErrorKind>;

/// A request and the parser of its answer.
#[derive(Debug, Clone)]
#[must_use = "a call does nothing until its request is sent"]
pub struct Call<T> {
    /// The request to send.
    pub request: Request,
    /// The parser of the response.
    pub parse: Parser<T>,
}

impl<T> Call<T> {
    /// Parse the response of [`Call::request`].
    pub fn parse(&self, response: &Response) -> Result<T, ErrorKind> {
        (self.parse)(response)
    }

    /// Split into the request and the parser (the parser is a plain `fn`, `Copy`).
    pub fn into_parts(self) -> (Request, Parser<T>) {
        (self.request, self.parse)
    }
}

fn json<T: DeserializeOwned>(r: &Response) -> Result<T, ErrorKind> {
    r.success_json()
}

fn empty(r: &Response) -> Result<(), ErrorKind> {
    r.error_for_status()
}

/// Builds OpenCode requests for one server: base URL, directory and auth applied to every one.
#[derive(Clone, PartialEq)]
pub struct Api {
    base: Url,
    directory: Option<String>,
    mode: DirectoryMode,
    authorization: Option<String>,
}

impl core::fmt::Debug for Api {
    // Credentials never reach logs: the URL is redacted and the Authorization value hidden.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base.redacted())
            .field("directory", &self.directory)
            .field("mode", &self.mode)
            .field("auth", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Api {
    /// An API for these options. Fails on a URL the client cannot use.
    pub fn new(options: &OpenCodeOptions) -> Result<Api, ErrorKind> {
        let base = Url::parse(&options.url)?;
        if let Some(dir) = &options.directory {
            if options.directory_mode == DirectoryMode::Header {
                validate_header(b"x-opencode-directory", header_safe(dir).as_bytes())?;
            }
        }
        Ok(Api {
            base,
            directory: options.directory.clone(),
            mode: options.directory_mode,
            authorization: options.auth.as_ref().map(|a| a.header_value()),
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The same API pointed at another URL (the server manager restarted the server on a new port).
    pub fn with_base_url(&self, url: &str) -> Result<Api, ErrorKind> {
        let mut api = self.clone();
        api.base = Url::parse(url)?;
        Ok(api)
    }

    /// A builder for `path` with base URL, directory and auth applied. Use it for endpoints without a typed call.
    pub fn builder(&self, method: Method, path: &str) -> RequestBuilder {
        let mut b = Request::builder(method, path).base(Some(&self.base));
        if let Some(auth) = &self.authorization {
            b = b.header("authorization", auth);
        }
        // `/global/*` is server-wide: the directory means nothing there.
        if let (Some(dir), false) = (&self.directory, path.starts_with("/global/")) {
            b = match self.mode {
                DirectoryMode::Query => b.query("directory", dir),
                DirectoryMode::Header => b.header("x-opencode-directory", header_safe(dir)),
            };
        }
        b
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Call<T>, ErrorKind> {
        Ok(Call {
            request: self.builder(Method::GET, path).build()?,
            parse: json::<T>,
        })
    }

    fn send_json<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<Call<T>, ErrorKind> {
        Ok(Call {
            request: self.builder(method, path).json(body).build()?,
            parse: json::<T>,
        })
    }

    /// `GET /global/health`.
    pub fn health(&self) -> Result<Call<Health>, ErrorKind> {
        self.get("/global/health")
    }

    /// `GET /path`.
    pub fn path(&self) -> Result<Call<PathInfo>, ErrorKind> {
        self.get("/path")
    }

    /// `GET /project/current`.
    pub fn project_current(&self) -> Result<Call<Project>, ErrorKind> {
        self.get("/project/current")
    }

    /// `GET /config`.
    pub fn config(&self) -> Result<Call<Config>, ErrorKind> {
        self.get("/config")
    }

    /// `GET /provider`: the whole catalogue (several MB on a 1.18 server).
    pub fn providers(&self) -> Result<Call<ProviderList>, ErrorKind> {
        self.get("/provider")
    }

    /// `GET /config/providers`: the providers usable with the current configuration.
    pub fn config_providers(&self) -> Result<Call<ConfigProviders>, ErrorKind> {
        self.get("/config/providers")
    }

    /// `GET /agent`.
    pub fn agents(&self) -> Result<Call<Vec<Agent>>, ErrorKind> {
        self.get("/agent")
    }

    /// `GET /session`.
    pub fn sessions(&self) -> Result<Call<Vec<Session>>, ErrorKind> {
        self.get("/session")
    }

    /// `POST /session` with an optional title and parent.
    pub fn session_create(&self, body: &SessionCreate) -> Result<Call<Session>, ErrorKind> {
        self.send_json(Method::POST, "/session", body)
    }

    /// `GET /session/{id}`.
    pub fn session_get(&self, id: &str) -> Result<Call<Session>, ErrorKind> {
        self.get(&format!("/session/{}", segment(id)?))
    }

    /// `PATCH /session/{id}` with a new title.
    pub fn session_update_title(&self, id: &str, title: &str) -> Result<Call<Session>, ErrorKind> {
        let body = SessionUpdate {
            title: title.to_string(),
        };
        self.send_json(Method::PATCH, &format!("/session/{}", segment(id)?), &body)
    }

    /// `DELETE /session/{id}` (children go with it).
    pub fn session_delete(&self, id: &str) -> Result<Call<bool>, ErrorKind> {
        Ok(Call {
            request: self
                .builder(Method::DELETE, &format!("/session/{}", segment(id)?))
                .build()?,
            parse: json::<bool>,
        })
    }

    /// `GET /session/{id}/children`.
    pub fn session_children(&self, id: &str) -> Result<Call<Vec<Session>>, ErrorKind> {
        self.get(&format!("/session/{}/children", segment(id)?))
    }

    /// `GET /session/status`: the status of every session that is not idle.
    pub fn session_status(&self) -> Result<Call<BTreeMap<String, SessionStatus>>, ErrorKind> {
        self.get("/session/status")
    }

    /// `POST /session/{id}/abort`: stop the running prompt (answers `true` even when nothing ran).
    pub fn session_abort(&self, id: &str) -> Result<Call<bool>, ErrorKind> {
        Ok(Call {
            request: self
                .builder(Method::POST, &format!("/session/{}/abort", segment(id)?))
                .build()?,
            parse: json::<bool>,
        })
    }

    /// `GET /session/{id}/message`.
    pub fn messages(&self, session_id: &str) -> Result<Call<Vec<MessageWithParts>>, ErrorKind> {
        self.get(&format!("/session/{}/message", segment(session_id)?))
    }

    /// `GET /session/{id}/message/{messageID}`.
    pub fn message(
        &self,
        session_id: &str,
        message_id: &str,
    ) -> Result<Call<MessageWithParts>, ErrorKind> {
        self.get(&format!(
            "/session/{}/message/{}",
            segment(session_id)?,
            segment(message_id)?
        ))
    }

    /// `POST /session/{id}/message`: the blocking prompt. The server sends the response head only when the
    /// answer is complete, so this request has no read and no whole-request timeout (only the connect timeout)
    /// and is never retried (a prompt is not idempotent).
    pub fn prompt(
        &self,
        session_id: &str,
        input: &PromptInput,
    ) -> Result<Call<MessageWithParts>, ErrorKind> {
        let request = self
            .builder(
                Method::POST,
                &format!("/session/{}/message", segment(session_id)?),
            )
            .json(input)
            .max_retries(0)
            .timeout(None)
            .read_timeout(None)
            .build()?;
        Ok(Call {
            request,
            parse: json::<MessageWithParts>,
        })
    }

    /// `POST /session/{id}/prompt_async`: starts the prompt and answers 204 at once; follow it on `/event`.
    /// Never retried.
    pub fn prompt_async(
        &self,
        session_id: &str,
        input: &PromptInput,
    ) -> Result<Call<()>, ErrorKind> {
        let request = self
            .builder(
                Method::POST,
                &format!("/session/{}/prompt_async", segment(session_id)?),
            )
            .json(input)
            .max_retries(0)
            .build()?;
        Ok(Call {
            request,
            parse: empty,
        })
    }

    /// `GET /permission`: pending permission requests.
    pub fn permissions(&self) -> Result<Call<Vec<PermissionRequest>>, ErrorKind> {
        self.get("/permission")
    }

    /// `POST /permission/{requestID}/reply`, with an optional message for the model (on `reject`).
    pub fn permission_reply(
        &self,
        request_id: &str,
        reply: PermissionReply,
        message: Option<&str>,
    ) -> Result<Call<bool>, ErrorKind> {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            reply: PermissionReply,
            #[serde(skip_serializing_if = "Option::is_none")]
            message: Option<&'a str>,
        }
        self.send_json(
            Method::POST,
            &format!("/permission/{}/reply", segment(request_id)?),
            &Body { reply, message },
        )
    }

    /// The `/event` subscription request (this directory's bus events), with auth.
    pub fn event_request(&self) -> Result<Request, ErrorKind> {
        self.builder(Method::GET, "/event")
            .header("accept", "text/event-stream")
            .build()
    }

    /// The `/global/event` subscription request (every directory's events, wrapped as `{directory?, payload}`).
    pub fn global_event_request(&self) -> Result<Request, ErrorKind> {
        self.builder(Method::GET, "/global/event")
            .header("accept", "text/event-stream")
            .build()
    }
}

/// One path segment from an id: percent-encoded, and never empty or a dot-segment (which would change the path).
fn segment(id: &str) -> Result<String, ErrorKind> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(ErrorKind::InvalidRequest {
            field: "path",
            reason: "an id is empty or a dot-segment",
        });
    }
    let mut out = String::with_capacity(id.len());
    percent_encode_into(id, &mut out);
    Ok(out)
}

/// A directory as a header value: OpenCode URI-decodes `x-opencode-directory`, so bytes that a header cannot
/// carry (and `%` itself) are percent-encoded; `/` and other visible ASCII stay readable.
fn header_safe(dir: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(dir.len());
    for b in dir.bytes() {
        if (0x21..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}
