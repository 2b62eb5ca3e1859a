//! (feature `sim`) A fake OpenCode server, sans-IO: routes, state and the bus, modelled on real 1.18.34 responses.
//!
//! The simulation's scripted server and the CLI's embedded demo server put it behind a socket: they hand it each
//! request ([`FakeOpenCode::handle`]), write what it answers, and broadcast [`FakeOpenCode::poll_event`] payloads
//! to every open `/event` stream as `data:` lines. Time is passed in; replies stream as paced
//! `message.part.delta` events from a canned model, exactly in the order the real server sends them, and the
//! blocking prompt answers only when the reply is complete, as the real one does.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use crate::time::Instant;

/// Settings of the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeConfig {
    /// What `/global/health` reports.
    pub version: String,
    /// The canned model's reply to every prompt.
    pub reply: String,
    /// Pieces the reply streams in.
    pub chunks: usize,
    /// Pause between pieces.
    pub chunk_delay: Duration,
    /// Heartbeat period (OpenCode: 10 s).
    pub heartbeat: Duration,
    /// The project directory the fake pretends to serve.
    pub directory: String,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            version: "1.18.34".into(),
            reply: "Hello from the plue demo model, streamed piece by piece.".into(),
            chunks: 5,
            chunk_delay: Duration::from_millis(150),
            heartbeat: Duration::from_secs(10),
            directory: "/plue/demo".into(),
        }
    }
}

/// A blocking prompt waiting for its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PendingId(pub u64);

/// The fake's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeResponse {
    /// Answer now. An empty `body` with 204 has no content type.
    Full {
        /// Status code.
        status: u16,
        /// The JSON body (empty for 204).
        body: String,
    },
    /// Answer `200 text/event-stream` and send `first` (a payload) at once; then every broadcast payload —
    /// wrapped with [`FakeOpenCode::wrap_global`] when `global` (a `/global/event` stream).
    EventStream {
        /// The first event's payload (`server.connected`), already wrapped for a global stream.
        first: String,
        /// `true` for `/global/event`.
        global: bool,
    },
    /// The blocking prompt: its response comes from [`FakeOpenCode::poll_completion`] when the reply is done.
    Pending(PendingId),
}

#[derive(Debug, Clone)]
enum Due {
    Event { session: String, payload: String },
    Finish { session: String, assistant: String },
}

/// The fake server. See the module docs.
#[derive(Debug)]
pub struct FakeOpenCode {
    cfg: FakeConfig,
    seq: u64,
    created_ms: u64,
    sessions: Vec<Value>,
    messages: BTreeMap<String, Vec<Value>>,
    busy: BTreeMap<String, Option<PendingId>>,
    scheduled: VecDeque<(Instant, Due)>,
    next_heartbeat: Instant,
    events: VecDeque<String>,
    completions: VecDeque<(PendingId, FakeResponse)>,
}

fn full(status: u16, body: Value) -> FakeResponse {
    FakeResponse::Full {
        status,
        body: body.to_string(),
    }
}

fn not_found(what: &str, id: &str) -> FakeResponse {
    full(
        404,
        json!({"name": "NotFoundError", "data": {"message": format!("{what} not found: {id}")}}),
    )
}

impl FakeOpenCode {
    /// A fake with no sessions; heartbeats start `heartbeat` after `now`.
    pub fn new(cfg: FakeConfig, now: Instant) -> Self {
        FakeOpenCode {
            next_heartbeat: now + cfg.heartbeat,
            cfg,
            seq: 0,
            created_ms: 1_795_560_000_000,
            sessions: Vec::new(),
            messages: BTreeMap::new(),
            busy: BTreeMap::new(),
            scheduled: VecDeque::new(),
            events: VecDeque::new(),
            completions: VecDeque::new(),
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_fake{:06}", self.seq)
    }

    /// Milliseconds for timestamps: a fixed base plus the fake's own time (deterministic).
    fn ms(&self, now: Instant) -> u64 {
        self.created_ms + now.as_nanos() / 1_000_000
    }

    fn event(&mut self, kind: &str, properties: Value) -> String {
        let id = self.id("evt");
        json!({"id": id, "type": kind, "properties": properties}).to_string()
    }

    /// The `server.connected` payload every new `/event` connection starts with.
    pub fn connected_event(&mut self) -> String {
        self.event("server.connected", json!({}))
    }

    fn session(&self, id: &str) -> Option<&Value> {
        self.sessions.iter().find(|s| s["id"] == id)
    }

    /// Answer one request. `path_and_query` as sent (`/session?directory=…`); `body` as received.
    pub fn handle(
        &mut self,
        now: Instant,
        method: &Method,
        path_and_query: &str,
        body: &[u8],
    ) -> FakeResponse {
        let path = path_and_query.split('?').next().unwrap_or("");
        let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
        let json_body =
            || serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { body });
        let m = method.as_str();
        match (m, seg.as_slice()) {
            ("GET", ["global", "health"]) => {
                full(200, json!({"healthy": true, "version": self.cfg.version}))
            }
            ("GET", ["event"]) => FakeResponse::EventStream {
                first: self.connected_event(),
                global: false,
            },
            ("GET", ["global", "event"]) => {
                // Server-wide events carry no directory, as on the real server.
                let first = self.connected_event();
                FakeResponse::EventStream {
                    first: format!("{{\"payload\":{first}}}"),
                    global: true,
                }
            }
            ("GET", ["path"]) => full(
                200,
                json!({"home": "/home/plue", "state": "/home/plue/.local/state/opencode",
                       "config": "/home/plue/.config/opencode", "worktree": "/",
                       "directory": self.cfg.directory}),
            ),
            ("GET", ["project", "current"]) => full(
                200,
                json!({"id": "global", "worktree": "/", "time": {"created": self.created_ms, "updated": self.created_ms}, "sandboxes": []}),
            ),
            ("GET", ["config"]) => full(
                200,
                json!({"$schema": "https://opencode.ai/config.json", "share": "disabled", "autoupdate": false,
                       "model": "demo/canned", "small_model": "demo/canned", "username": "plue"}),
            ),
            ("GET", ["provider"]) => full(
                200,
                json!({"all": [Self::provider()], "default": {"demo": "canned"}, "connected": ["demo"]}),
            ),
            ("GET", ["config", "providers"]) => full(
                200,
                json!({"providers": [Self::provider()], "default": {"demo": "canned"}}),
            ),
            ("GET", ["agent"]) => full(
                200,
                json!([{"name": "build", "description": "The default agent.", "mode": "primary", "native": true, "permission": [], "options": {}},
                       {"name": "plan", "description": "Plans without editing.", "mode": "primary", "native": true, "permission": [], "options": {}}]),
            ),
            ("GET", ["permission"]) | ("GET", ["question"]) => full(200, json!([])),
            ("POST", ["permission", id, "reply"]) => full(
                404,
                json!({"_tag": "PermissionNotFoundError", "requestID": id, "message": format!("Permission request not found: {id}")}),
            ),
            ("GET", ["session"]) => full(
                200,
                Value::Array(self.sessions.iter().rev().cloned().collect()),
            ),
            ("GET", ["session", "status"]) => {
                let map: serde_json::Map<String, Value> = self
                    .busy
                    .keys()
                    .map(|k| (k.clone(), json!({"type": "busy"})))
                    .collect();
                full(200, Value::Object(map))
            }
            ("POST", ["session"]) => match json_body() {
                Ok(b) => self.create_session(now, &b),
                Err(_) => full(400, json!({"_tag": "BadRequest"})),
            },
            ("GET", ["session", id]) => match self.session(id) {
                Some(s) => full(200, s.clone()),
                None => not_found("Session", id),
            },
            ("PATCH", ["session", id]) => {
                let Ok(b) = json_body() else {
                    return full(400, json!({"_tag": "BadRequest"}));
                };
                let ms = self.ms(now);
                match self.sessions.iter_mut().find(|s| s["id"] == *id) {
                    Some(s) => {
                        if let Some(t) = b.get("title").and_then(Value::as_str) {
                            s["title"] = t.into();
                        }
                        s["time"]["updated"] = ms.into();
                        let s = s.clone();
                        let ev = self.event("session.updated", json!({"sessionID": id, "info": s}));
                        self.events.push_back(ev);
                        full(200, s)
                    }
                    None => not_found("Session", id),
                }
            }
            ("DELETE", ["session", id]) => self.delete_session(id),
            ("GET", ["session", id, "children"]) => match self.session(id) {
                Some(_) => full(
                    200,
                    Value::Array(
                        self.sessions
                            .iter()
                            .filter(|s| s["parentID"] == *id)
                            .cloned()
                            .collect(),
                    ),
                ),
                None => not_found("Session", id),
            },
            ("POST", ["session", id, "abort"]) => self.abort(now, id),
            ("GET", ["session", id, "message"]) => match self.session(id) {
                Some(_) => full(
                    200,
                    Value::Array(self.messages.get(*id).cloned().unwrap_or_default()),
                ),
                None => not_found("Session", id),
            },
            ("GET", ["session", id, "message", mid]) => {
                match self
                    .messages
                    .get(*id)
                    .and_then(|ms| ms.iter().find(|m| m["info"]["id"] == *mid))
                {
                    Some(m) => full(200, m.clone()),
                    None => not_found("Message", mid),
                }
            }
            ("POST", ["session", id, "message"]) => self.prompt(now, id, body, true),
            ("POST", ["session", id, "prompt_async"]) => self.prompt(now, id, body, false),
            _ => full(
                404,
                json!({"name": "NotFoundError", "data": {"message": format!("Route not found: {m} {path}")}}),
            ),
        }
    }

    fn provider() -> Value {
        json!({"id": "demo", "name": "Plue demo", "source": "config", "env": [], "options": {},
               "models": {"canned": {"id": "canned", "providerID": "demo", "name": "Canned replies",
                                     "api": {"id": "canned", "url": "", "npm": "@ai-sdk/openai-compatible"},
                                     "status": "active", "limit": {"context": 0, "output": 0}}}})
    }

    fn create_session(&mut self, now: Instant, b: &Value) -> FakeResponse {
        let parent = b.get("parentID").and_then(Value::as_str);
        if let Some(p) = parent {
            if self.session(p).is_none() {
                return not_found("Session", p);
            }
        }
        let id = self.id("ses");
        let ms = self.ms(now);
        let title = b
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("New session - {ms}"));
        let mut s = json!({"id": id, "slug": "demo-session", "projectID": "global",
            "directory": self.cfg.directory, "title": title, "version": self.cfg.version,
            "cost": 0, "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
            "time": {"created": ms, "updated": ms}});
        if let Some(p) = parent {
            s["parentID"] = p.into();
        }
        self.sessions.push(s.clone());
        let ev = self.event("session.created", json!({"sessionID": id, "info": s}));
        self.events.push_back(ev);
        full(200, s)
    }

    fn delete_session(&mut self, id: &str) -> FakeResponse {
        let Some(s) = self.session(id).cloned() else {
            return not_found("Session", id);
        };
        let children: Vec<String> = self
            .sessions
            .iter()
            .filter(|c| c["parentID"] == id)
            .filter_map(|c| c["id"].as_str().map(str::to_string))
            .collect();
        for c in children {
            self.delete_session(&c);
        }
        self.sessions.retain(|x| x["id"] != id);
        self.messages.remove(id);
        let ev = self.event("session.deleted", json!({"sessionID": id, "info": s}));
        self.events.push_back(ev);
        full(200, json!(true))
    }

    fn prompt(&mut self, now: Instant, sid: &str, body: &[u8], blocking: bool) -> FakeResponse {
        let Ok(b) = serde_json::from_slice::<Value>(body) else {
            return full(400, json!({"_tag": "BadRequest"}));
        };
        let Some(parts) = b.get("parts").and_then(Value::as_array) else {
            return full(
                400,
                json!({"name": "BadRequest", "data": {"message": "Expected array\n  at [\"parts\"]", "kind": "Payload"}}),
            );
        };
        if self.session(sid).is_none() {
            return not_found("Session", sid);
        }
        let text: String = parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect();
        let ms = self.ms(now);
        let (user, user_part) = (self.id("msg"), self.id("prt"));
        let (asst, asst_part) = (self.id("msg"), self.id("prt"));
        let model = b
            .get("model")
            .cloned()
            .unwrap_or(json!({"providerID": "demo", "modelID": "canned"}));
        let user_info = json!({"id": user, "sessionID": sid, "role": "user", "time": {"created": ms},
                               "agent": "build", "model": model});
        let user_text = json!({"id": user_part, "sessionID": sid, "messageID": user, "type": "text", "text": text});
        let asst_info = json!({"id": asst, "sessionID": sid, "role": "assistant", "parentID": user,
            "time": {"created": ms}, "modelID": model["modelID"], "providerID": model["providerID"],
            "mode": "build", "agent": "build", "path": {"cwd": self.cfg.directory, "root": "/"}, "cost": 0,
            "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}});
        let empty_part = json!({"id": asst_part, "sessionID": sid, "messageID": asst, "type": "text", "text": "",
                                "time": {"start": ms}});
        self.messages.entry(sid.to_string()).or_default().extend([
            json!({"info": user_info, "parts": [user_text]}),
            json!({"info": asst_info, "parts": [empty_part]}),
        ]);
        for (kind, props) in [
            (
                "message.updated",
                json!({"sessionID": sid, "info": user_info}),
            ),
            (
                "message.part.updated",
                json!({"sessionID": sid, "part": user_text}),
            ),
            (
                "session.status",
                json!({"sessionID": sid, "status": {"type": "busy"}}),
            ),
            (
                "message.updated",
                json!({"sessionID": sid, "info": asst_info}),
            ),
            (
                "message.part.updated",
                json!({"sessionID": sid, "part": empty_part}),
            ),
        ] {
            let ev = self.event(kind, props);
            self.events.push_back(ev);
        }
        let pieces = split(&self.cfg.reply, self.cfg.chunks);
        let mut at = now;
        for piece in pieces {
            at += self.cfg.chunk_delay;
            let ev = self.event(
                "message.part.delta",
                json!({"sessionID": sid, "messageID": asst, "partID": asst_part, "field": "text", "delta": piece}),
            );
            self.scheduled.push_back((
                at,
                Due::Event {
                    session: sid.to_string(),
                    payload: ev,
                },
            ));
        }
        self.scheduled.push_back((
            at + self.cfg.chunk_delay,
            Due::Finish {
                session: sid.to_string(),
                assistant: asst,
            },
        ));
        let pending = blocking.then(|| {
            self.seq += 1;
            PendingId(self.seq)
        });
        self.busy.insert(sid.to_string(), pending);
        match pending {
            Some(p) => FakeResponse::Pending(p),
            None => FakeResponse::Full {
                status: 204,
                body: String::new(),
            },
        }
    }

    fn abort(&mut self, now: Instant, sid: &str) -> FakeResponse {
        if !self.busy.contains_key(sid) {
            return full(200, json!(true));
        }
        let mut assistant = None;
        self.scheduled.retain(|(_, d)| match d {
            Due::Event { session, .. } => session != sid,
            Due::Finish {
                session,
                assistant: a,
            } => {
                if session == sid {
                    assistant = Some(a.clone());
                }
                session != sid
            }
        });
        if let Some(a) = assistant {
            self.finish(now, sid, &a, Some(json!({"name": "MessageAbortedError", "data": {"message": "The operation was aborted."}})));
        }
        full(200, json!(true))
    }

    fn finish(&mut self, now: Instant, sid: &str, asst: &str, error: Option<Value>) {
        let ms = self.ms(now);
        let reply = if error.is_none() {
            self.cfg.reply.clone()
        } else {
            String::new()
        };
        let mut done = None;
        if let Some(m) = self
            .messages
            .get_mut(sid)
            .and_then(|ms| ms.iter_mut().find(|m| m["info"]["id"] == asst))
        {
            m["info"]["time"]["completed"] = ms.into();
            if let Some(e) = &error {
                m["info"]["error"] = e.clone();
            } else {
                m["info"]["finish"] = "stop".into();
            }
            m["parts"][0]["text"] = reply.clone().into();
            m["parts"][0]["time"]["end"] = ms.into();
            done = Some(m.clone());
        }
        let Some(done) = done else { return };
        let mut evs = vec![
            (
                "message.part.updated",
                json!({"sessionID": sid, "part": done["parts"][0]}),
            ),
            (
                "message.updated",
                json!({"sessionID": sid, "info": done["info"]}),
            ),
        ];
        if let Some(e) = &error {
            evs.push(("session.error", json!({"sessionID": sid, "error": e})));
        }
        evs.push((
            "session.status",
            json!({"sessionID": sid, "status": {"type": "idle"}}),
        ));
        evs.push(("session.idle", json!({"sessionID": sid})));
        for (k, p) in evs {
            let ev = self.event(k, p);
            self.events.push_back(ev);
        }
        if let Some(Some(p)) = self.busy.remove(sid) {
            self.completions.push_back((
                p,
                FakeResponse::Full {
                    status: 200,
                    body: done.to_string(),
                },
            ));
        }
    }

    /// Move everything due at `now` (deltas, finished replies, heartbeats) into the outputs.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.scheduled.front().is_some_and(|(t, _)| *t <= now) {
            let Some((_, due)) = self.scheduled.pop_front() else {
                break;
            };
            match due {
                Due::Event { payload, .. } => self.events.push_back(payload),
                Due::Finish { session, assistant } => self.finish(now, &session, &assistant, None),
            }
        }
        while self.next_heartbeat <= now {
            self.next_heartbeat += self.cfg.heartbeat;
            let ev = self.event("server.heartbeat", json!({}));
            self.events.push_back(ev);
        }
    }

    /// A bus payload as a `/global/event` item: `{"directory":…,"project":"global","payload":…}`
    /// (heartbeats carry no directory).
    pub fn wrap_global(&self, payload: &str) -> String {
        if payload.contains("\"type\":\"server.heartbeat\"") {
            return format!("{{\"payload\":{payload}}}");
        }
        let dir = Value::String(self.cfg.directory.clone());
        format!("{{\"directory\":{dir},\"project\":\"global\",\"payload\":{payload}}}")
    }

    /// The next bus event payload to broadcast to every open `/event` stream.
    pub fn poll_event(&mut self) -> Option<String> {
        self.events.pop_front()
    }

    /// A blocking prompt's response, once its reply is complete.
    pub fn poll_completion(&mut self) -> Option<(PendingId, FakeResponse)> {
        self.completions.pop_front()
    }

    /// When to call [`FakeOpenCode::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self.scheduled.front().map(|(t, _)| *t);
        crate::time::earliest(next, Some(self.next_heartbeat))
    }
}

/// Split `text` into `n` pieces at char boundaries (the last takes the rest).
fn split(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.clamp(1, chars.len().max(1));
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opencode::{
        Api, ApiErrorKind, Event, OpenCodeOptions, PromptInput, ReplyFollower, ReplyUpdate,
        SessionCreate,
    };
    use crate::{Request, Response, ResponseHead};
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode, Version};

    fn api() -> Api {
        Api::new(&OpenCodeOptions::new("http://127.0.0.1:4096").directory("/plue/demo")).unwrap()
    }

    fn to_response(r: FakeResponse) -> Response {
        let FakeResponse::Full { status, body } = r else {
            panic!("not a full response: {r:?}")
        };
        Response::new(
            ResponseHead {
                status: StatusCode::from_u16(status).unwrap(),
                version: Version::HTTP_11,
                headers: HeaderMap::new(),
            },
            Bytes::from(body),
        )
    }

    fn send(f: &mut FakeOpenCode, now: Instant, req: &Request) -> FakeResponse {
        f.handle(
            now,
            req.method(),
            &req.url().path_and_query(),
            req.body().as_bytes(),
        )
    }

    #[test]
    fn opencode_fake_answers_every_typed_call() {
        let a = api();
        let mut f = FakeOpenCode::new(FakeConfig::default(), Instant::ZERO);
        let t = Instant::ZERO;
        macro_rules! call {
            ($c:expr) => {{
                let c = $c.unwrap();
                let r = to_response(send(&mut f, t, &c.request));
                c.parse(&r)
            }};
        }
        assert_eq!(call!(a.health()).unwrap().version, "1.18.34");
        assert_eq!(call!(a.path()).unwrap().directory, "/plue/demo");
        assert_eq!(call!(a.project_current()).unwrap().id, "global");
        assert_eq!(
            call!(a.config()).unwrap().model.as_deref(),
            Some("demo/canned")
        );
        assert_eq!(call!(a.providers()).unwrap().connected, ["demo"]);
        assert_eq!(call!(a.config_providers()).unwrap().providers[0].id, "demo");
        assert_eq!(call!(a.agents()).unwrap()[0].name, "build");
        let s = call!(a.session_create(&SessionCreate {
            title: Some("t".into()),
            parent_id: None
        }))
        .unwrap();
        let c = call!(a.session_create(&SessionCreate {
            title: None,
            parent_id: Some(s.id.clone())
        }))
        .unwrap();
        assert_eq!(c.parent_id.as_deref(), Some(s.id.as_str()));
        assert_eq!(call!(a.session_get(&s.id)).unwrap().title, "t");
        assert_eq!(
            call!(a.session_update_title(&s.id, "u")).unwrap().title,
            "u"
        );
        assert_eq!(call!(a.session_children(&s.id)).unwrap().len(), 1);
        assert_eq!(call!(a.sessions()).unwrap().len(), 2);
        assert!(call!(a.session_status()).unwrap().is_empty());
        assert!(call!(a.messages(&s.id)).unwrap().is_empty());
        assert!(call!(a.session_abort(&s.id)).unwrap());
        assert!(call!(a.permissions()).unwrap().is_empty());
        let e = call!(a.permission_reply("per_x", crate::opencode::PermissionReply::Once, None))
            .unwrap_err();
        assert_eq!(
            ApiErrorKind::of_error(&e),
            Some(ApiErrorKind::RequestNotFound)
        );
        assert!(call!(a.session_delete(&s.id)).unwrap());
        let e = call!(a.session_get(&c.id)).unwrap_err();
        assert_eq!(
            ApiErrorKind::of_error(&e),
            Some(ApiErrorKind::NotFound),
            "children go with the parent"
        );
        let bad = a
            .builder(Method::POST, "/session")
            .body("{nope")
            .build()
            .unwrap();
        let e = to_response(send(&mut f, t, &bad))
            .error_for_status()
            .unwrap_err();
        assert_eq!(ApiErrorKind::of_error(&e), Some(ApiErrorKind::BadRequest));
    }

    #[test]
    fn opencode_fake_streams_a_paced_reply_and_completes_the_blocking_prompt() {
        let a = api();
        let cfg = FakeConfig::default();
        let mut f = FakeOpenCode::new(cfg.clone(), Instant::ZERO);
        let mut now = Instant::ZERO;
        let FakeResponse::EventStream {
            first,
            global: false,
        } = send(&mut f, now, &a.event_request().unwrap())
        else {
            panic!()
        };
        assert_eq!(Event::parse(&first).unwrap(), Event::ServerConnected);
        let FakeResponse::EventStream {
            first,
            global: true,
        } = send(&mut f, now, &a.global_event_request().unwrap())
        else {
            panic!()
        };
        let g = crate::opencode::GlobalEvent::parse(&first).unwrap();
        assert_eq!((g.directory, g.payload), (None, Event::ServerConnected));
        let c = a.session_create(&SessionCreate::default()).unwrap();
        let s = c
            .parse(&to_response(send(&mut f, now, &c.request)))
            .unwrap();
        let prompt = a.prompt(&s.id, &PromptInput::text("hi")).unwrap();
        let FakeResponse::Pending(pid) = send(&mut f, now, &prompt.request) else {
            panic!()
        };
        let mut follower = ReplyFollower::new(&s.id);
        let mut pieces = Vec::new();
        let mut answer = None;
        while answer.is_none() {
            while let Some(e) = f.poll_event() {
                match follower.handle(&Event::parse(&e).unwrap()) {
                    Some(ReplyUpdate::Text(t)) => pieces.push((now, t)),
                    Some(ReplyUpdate::Idle) | None => {}
                    Some(ReplyUpdate::Error(e)) => panic!("{e:?}"),
                }
            }
            if let Some((p, r)) = f.poll_completion() {
                assert_eq!(p, pid);
                answer = Some(prompt.parse(&to_response(r)).unwrap());
                continue;
            }
            now = f.poll_timeout().unwrap();
            f.handle_timeout(now);
        }
        assert_eq!(pieces.len(), cfg.chunks);
        assert!(
            pieces
                .windows(2)
                .all(|w| w[1].0 - w[0].0 == cfg.chunk_delay),
            "paced"
        );
        assert_eq!(follower.text(), cfg.reply);
        assert!(follower.is_idle());
        assert_eq!(answer.unwrap().text(), cfg.reply);
        // The history holds both messages; the status map is empty again.
        let m = a.messages(&s.id).unwrap();
        let hist = m
            .parse(&to_response(send(&mut f, now, &m.request)))
            .unwrap();
        assert_eq!(hist.len(), 2);
        assert_eq!(hist[1].text(), cfg.reply);
    }

    #[test]
    fn opencode_fake_heartbeats_abort_and_async_prompt() {
        let a = api();
        let mut f = FakeOpenCode::new(FakeConfig::default(), Instant::ZERO);
        assert_eq!(f.poll_timeout(), Some(Instant::from_millis(10_000)));
        f.handle_timeout(Instant::from_millis(25_000));
        let beats: Vec<Event> = std::iter::from_fn(|| f.poll_event())
            .map(|e| Event::parse(&e).unwrap())
            .collect();
        assert_eq!(beats, [Event::ServerHeartbeat, Event::ServerHeartbeat]);
        let now = Instant::from_millis(25_000);
        let c = a.session_create(&SessionCreate::default()).unwrap();
        let s = c
            .parse(&to_response(send(&mut f, now, &c.request)))
            .unwrap();
        let p = a.prompt_async(&s.id, &PromptInput::text("x")).unwrap();
        p.parse(&to_response(send(&mut f, now, &p.request)))
            .unwrap();
        let st = a.session_status().unwrap();
        let map = st
            .parse(&to_response(send(&mut f, now, &st.request)))
            .unwrap();
        assert_eq!(map[&s.id], crate::opencode::SessionStatus::Busy);
        let ab = a.session_abort(&s.id).unwrap();
        assert!(ab
            .parse(&to_response(send(&mut f, now, &ab.request)))
            .unwrap());
        let payloads: Vec<String> = std::iter::from_fn(|| f.poll_event()).collect();
        let kinds: Vec<String> = payloads
            .iter()
            .map(|e| Event::parse(e).unwrap().kind().to_string())
            .collect();
        let g =
            crate::opencode::GlobalEvent::parse(&f.wrap_global(payloads.last().unwrap())).unwrap();
        assert_eq!(g.directory.as_deref(), Some("/plue/demo"));
        assert!(matches!(g.payload, Event::SessionIdle { .. }));
        assert!(
            kinds.ends_with(&[
                "session.error".into(),
                "session.status".into(),
                "session.idle".into()
            ]),
            "{kinds:?}"
        );
        // Nothing of the aborted reply is left to stream.
        f.handle_timeout(Instant::from_millis(29_000));
        assert!(std::iter::from_fn(|| f.poll_event()).all(|e| !e.contains("message.part.delta")));
        let bad = a
            .builder(Method::POST, &format!("/session/{}/message", s.id))
            .json(&json!({"parts": "x"}))
            .build()
            .unwrap();
        let e = to_response(send(&mut f, now, &bad))
            .error_for_status()
            .unwrap_err();
        assert!(e.to_string().contains("parts"), "{e}");
        assert_eq!(split("abcdefg", 3), ["abc", "def", "g"]);
        assert_eq!(split("", 5), [""; 0]);
    }
}
