//! A small, clearly fake OpenCode server: a stateful [`Handler`] for the scripted server.
//!
//! It answers the routes the `plue` demo, the CLI and the simulation need, in shapes and event orders taken from
//! OpenCode 1.18.34 (`opencode serve`; the captured streams are in `tests/fixtures/opencode/`), with a canned
//! "model" that streams its reply word by word. It is not a reimplementation: real-server behaviour is tested
//! against the real server.
//!
//! A prompt publishes, on `/event` (and wrapped as `{directory, project, payload}` on `/global/event`), exactly
//! what the real server sends for a one-part text reply: `message.updated` (user), `message.part.updated` (user
//! text), `session.status` busy, `message.updated` (assistant), `message.part.updated` (empty text part), one
//! `message.part.delta` (`field: "text"`) per word [`DELTA_PACE`] apart, `message.part.updated` (full text),
//! `message.updated` (completed), `session.status` idle, `session.idle`. Prompts to a busy session queue behind
//! the running one. `POST /session/{id}/abort` stops the reply where it is and ends it as the real server does
//! (`MessageAbortedError`, `session.error`, idle). Errors are the real bodies
//! (`{"name":"NotFoundError","data":{"message":…}}`, `{"_tag":"BadRequest"}`, …).
//!
//! The state is a function of time: a prompt stores its schedule, and `GET /session/{id}/message` or
//! `/session/status` show the reply as far as it has streamed. One limit: an abort cannot hurry a blocking
//! `POST /session/{id}/message` already waiting (the scripted server fixes a reply's timing when it is chosen),
//! so that reply still comes when the model would have finished, carrying the aborted message.

use core::time::Duration;

use serde_json::{json, Value};

use super::server::{
    Ctx, Handler, ReceivedRequest, Reply, ScriptedServer, ServerConfig, SseEnd, SseItem, SseScript,
};
use plue_http_core::time::Instant;

/// The version the fake reports (the `-demo` suffix keeps it from being mistaken for a real server).
pub const VERSION: &str = "1.18.34-demo";
/// Period of `server.heartbeat` events, as the real server sends them.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// Pause between two deltas of the canned model.
pub const DELTA_PACE: Duration = Duration::from_millis(40);
/// The project directory the fake pretends to serve.
pub const DIRECTORY: &str = "/demo";
/// Timestamps are this many ms since the Unix epoch plus the fake's own time: plausible and deterministic.
const EPOCH_MS: u64 = 1_795_560_000_000;
/// The broadcast channel `/event` streams join.
const EVENTS: &str = "opencode-events";
/// The broadcast channel `/global/event` streams join (payloads wrapped).
const GLOBAL: &str = "opencode-global";

/// One prompt and its reply's schedule. The assistant message at any time is derived from it.
#[derive(Debug, Clone)]
struct Prompt {
    session: String,
    user: Value,
    /// The assistant's `info` before completion.
    info: Value,
    /// The assistant's text part before any text.
    part: Value,
    /// When the reply starts (later than the request when it queued behind another prompt).
    start: Instant,
    /// Each delta and when it is sent.
    pieces: Vec<(Instant, String)>,
    /// When the reply completes, unless aborted.
    done: Instant,
    aborted: Option<Instant>,
}

impl Prompt {
    fn assistant_id(&self) -> &str {
        self.info["id"].as_str().unwrap_or_default()
    }

    fn finished_at(&self) -> Instant {
        self.aborted.unwrap_or(self.done)
    }

    /// The assistant message (`{info, parts}`) as it stands at `now`.
    fn assistant(&self, now: Instant) -> Value {
        let until = now.min(self.finished_at());
        let text: String = self
            .pieces
            .iter()
            .filter(|(at, _)| *at <= until)
            .map(|(_, p)| p.as_str())
            .collect();
        let (mut info, mut part) = (self.info.clone(), self.part.clone());
        part["text"] = text.into();
        if now >= self.finished_at() {
            let ms = ms(self.finished_at());
            info["time"]["completed"] = ms.into();
            part["time"]["end"] = ms.into();
            if self.aborted.is_some() {
                info["error"] = aborted_error();
            } else {
                info["finish"] = "stop".into();
            }
        }
        json!({ "info": info, "parts": [part] })
    }
}

/// The fake OpenCode handler. Ids are deterministic counters, so runs replay.
#[derive(Debug, Default)]
pub struct FakeOpenCode {
    sessions: Vec<Value>,
    prompts: Vec<Prompt>,
    next_id: u64,
    /// Event ids count apart from object ids, so the first session is `ses_demo00000001` whatever streamed.
    next_event: u64,
}

fn ms(at: Instant) -> u64 {
    EPOCH_MS + at.as_nanos() / 1_000_000
}

fn aborted_error() -> Value {
    json!({ "name": "MessageAbortedError", "data": { "message": "The operation was aborted." } })
}

fn not_found(what: &str, id: &str) -> Reply {
    Reply::json(
        404,
        &json!({ "name": "NotFoundError", "data": { "message": format!("{what} not found: {id}") } }),
    )
}

fn bad_json() -> Reply {
    Reply::json(400, &json!({ "_tag": "BadRequest" }))
}

/// A bus payload as an SSE item: data only, like the real server.
fn item(data: String) -> SseItem {
    SseItem::Event {
        event: None,
        data,
        id: None,
    }
}

/// A payload as a `/global/event` item; server-wide events (no session) carry no directory.
fn global(payload: &Value) -> String {
    if payload["properties"].get("sessionID").is_some() {
        json!({ "directory": DIRECTORY, "project": "global", "payload": payload }).to_string()
    } else {
        json!({ "payload": payload }).to_string()
    }
}

fn canned_reply(prompt: &str) -> String {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        "Hello from the plue demo model. Ask me anything.".to_string()
    } else {
        format!("Hello from the plue demo model. You said: {prompt}")
    }
}

/// Words with their trailing space, so the deltas concatenate to the whole text.
fn split_words(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_string).collect()
}

fn provider() -> Value {
    json!({"id": "demo", "name": "Demo (canned replies)", "source": "config", "env": [], "options": {},
           "models": {"canned": {"id": "canned", "providerID": "demo", "name": "Canned model",
                                 "api": {"id": "canned", "url": "", "npm": "@ai-sdk/openai-compatible"},
                                 "status": "active", "limit": {"context": 0, "output": 0}}}})
}

impl FakeOpenCode {
    /// An empty server (no sessions).
    pub fn new() -> Self {
        Self::default()
    }

    /// A scripted server answering as the fake OpenCode.
    pub fn server() -> ScriptedServer {
        ScriptedServer::with_handler(Box::new(FakeOpenCode::new()), ServerConfig::default())
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_demo{:08}", self.next_id)
    }

    /// A bus payload `{id, type, properties}` with a fresh event id.
    fn payload(&mut self, kind: &str, properties: Value) -> Value {
        self.next_event += 1;
        let id = format!("evt_demo{:08}", self.next_event);
        json!({ "id": id, "type": kind, "properties": properties })
    }

    /// Publish one bus event at `at` on both channels; `tag` lets an abort take it back.
    fn publish(&mut self, ctx: &mut Ctx, at: Instant, tag: Option<&str>, kind: &str, props: Value) {
        let payload = self.payload(kind, props);
        let (plain, wrapped) = (item(payload.to_string()), item(global(&payload)));
        match tag {
            Some(t) => {
                ctx.publish_tagged(at, EVENTS, t, plain);
                ctx.publish_tagged(at, GLOBAL, t, wrapped);
            }
            None => {
                ctx.publish_at(at, EVENTS, plain);
                ctx.publish_at(at, GLOBAL, wrapped);
            }
        }
    }

    fn stream(&mut self, global_stream: bool) -> Reply {
        let connected = self.payload("server.connected", json!({}));
        let heartbeat = json!({ "type": "server.heartbeat", "properties": {} });
        let (first, beat, channel) = if global_stream {
            (global(&connected), global(&heartbeat), GLOBAL)
        } else {
            (connected.to_string(), heartbeat.to_string(), EVENTS)
        };
        Reply::sse(SseScript {
            items: vec![(Duration::ZERO, item(first))],
            heartbeat: Some((HEARTBEAT, item(beat))),
            end: SseEnd::Hang,
            channel: Some(channel.to_string()),
        })
    }

    fn session(&self, id: &str) -> Option<usize> {
        self.sessions.iter().position(|s| s["id"] == id)
    }

    fn busy(&self, session: &str, now: Instant) -> bool {
        self.prompts
            .iter()
            .any(|p| p.session == session && p.finished_at() > now)
    }

    fn create(&mut self, now: Instant, req: &ReceivedRequest, ctx: &mut Ctx) -> Reply {
        let body = if req.body.is_empty() {
            &b"{}"[..]
        } else {
            &req.body[..]
        };
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return bad_json();
        };
        let parent = body.get("parentID").and_then(Value::as_str);
        if let Some(p) = parent.filter(|p| self.session(p).is_none()) {
            return not_found("Session", p);
        }
        let id = self.id("ses");
        let title = body
            .get("title")
            .and_then(Value::as_str)
            .map_or_else(|| format!("New session - {id}"), str::to_string);
        let mut s = json!({
            "id": id, "slug": id.trim_start_matches("ses_"), "version": VERSION, "projectID": "global",
            "directory": DIRECTORY, "title": title, "cost": 0,
            "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
            "time": { "created": ms(now), "updated": ms(now) },
        });
        if let Some(p) = parent {
            s["parentID"] = p.into();
        }
        self.sessions.push(s.clone());
        self.publish(
            ctx,
            now,
            None,
            "session.created",
            json!({ "sessionID": id, "info": s }),
        );
        Reply::json(200, &s)
    }

    fn rename(&mut self, now: Instant, req: &ReceivedRequest, id: &str, ctx: &mut Ctx) -> Reply {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return bad_json();
        };
        let Some(i) = self.session(id) else {
            return not_found("Session", id);
        };
        let s = &mut self.sessions[i];
        if let Some(t) = body.get("title").and_then(Value::as_str) {
            s["title"] = t.into();
        }
        s["time"]["updated"] = ms(now).into();
        let s = s.clone();
        self.publish(
            ctx,
            now,
            None,
            "session.updated",
            json!({ "sessionID": id, "info": s }),
        );
        Reply::json(200, &s)
    }

    /// Delete a session, its children first, as the real server does.
    fn delete(&mut self, now: Instant, id: &str, ctx: &mut Ctx) -> bool {
        let Some(i) = self.session(id) else {
            return false;
        };
        let s = self.sessions.remove(i);
        let children: Vec<String> = self
            .sessions
            .iter()
            .filter(|c| c["parentID"] == id)
            .filter_map(|c| c["id"].as_str().map(str::to_string))
            .collect();
        for c in children {
            self.delete(now, &c, ctx);
        }
        self.prompts.retain(|p| p.session != id);
        self.publish(
            ctx,
            now,
            None,
            "session.deleted",
            json!({ "sessionID": id, "info": s }),
        );
        true
    }

    fn messages(&self, now: Instant, session: &str) -> Vec<Value> {
        self.prompts
            .iter()
            .filter(|p| p.session == session && p.start <= now)
            .flat_map(|p| [p.user.clone(), p.assistant(now)])
            .collect()
    }

    /// Schedule the canned model's reply to a prompt and publish its events; the prompt is returned.
    fn prompt(&mut self, now: Instant, sid: &str, body: &Value, ctx: &mut Ctx) -> Prompt {
        let text: String = body["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" ");
        // A busy session runs prompts one after another.
        let start = self
            .prompts
            .iter()
            .filter(|p| p.session == sid)
            .map(Prompt::finished_at)
            .fold(now, Instant::max);
        let model = body
            .get("model")
            .cloned()
            .unwrap_or(json!({"providerID": "demo", "modelID": "canned"}));
        let (user, user_part) = (self.id("msg"), self.id("prt"));
        let (asst, asst_part) = (self.id("msg"), self.id("prt"));
        let at = ms(start);
        let user_info = json!({"id": user, "sessionID": sid, "role": "user", "time": {"created": at},
                               "agent": "build", "model": model});
        let user_text = json!({"id": user_part, "sessionID": sid, "messageID": user, "type": "text", "text": text});
        let info = json!({"id": asst, "sessionID": sid, "role": "assistant", "parentID": user,
            "time": {"created": at}, "modelID": model["modelID"], "providerID": model["providerID"],
            "mode": "build", "agent": "build", "path": {"cwd": DIRECTORY, "root": "/"}, "cost": 0,
            "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}});
        let part = json!({"id": asst_part, "sessionID": sid, "messageID": asst, "type": "text", "text": "",
                          "time": {"start": at}});
        let mut t = start;
        let pieces: Vec<(Instant, String)> = split_words(&canned_reply(&text))
            .into_iter()
            .map(|p| {
                t += DELTA_PACE;
                (t, p)
            })
            .collect();
        let p = Prompt {
            session: sid.to_string(),
            user: json!({ "info": user_info, "parts": [user_text] }),
            info: info.clone(),
            part: part.clone(),
            start,
            pieces,
            done: t + DELTA_PACE,
            aborted: None,
        };
        let tag = Some(asst.as_str());
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
            ("message.updated", json!({"sessionID": sid, "info": info})),
            (
                "message.part.updated",
                json!({"sessionID": sid, "part": part}),
            ),
        ] {
            self.publish(ctx, start, tag, kind, props);
        }
        for (at, piece) in &p.pieces {
            let props = json!({"sessionID": sid, "messageID": asst, "partID": asst_part,
                               "field": "text", "delta": piece});
            self.publish(ctx, *at, tag, "message.part.delta", props);
        }
        self.finish(&p, p.done, ctx);
        self.prompts.push(p.clone());
        p
    }

    /// Publish the end of a reply at `at`: the final part and message, then idle.
    fn finish(&mut self, p: &Prompt, at: Instant, ctx: &mut Ctx) {
        let msg = p.assistant(at);
        let sid = p.session.as_str();
        let tag = Some(p.assistant_id());
        let mut events = vec![
            (
                "message.part.updated",
                json!({"sessionID": sid, "part": msg["parts"][0]}),
            ),
            (
                "message.updated",
                json!({"sessionID": sid, "info": msg["info"]}),
            ),
        ];
        if p.aborted.is_some() {
            events.push((
                "session.error",
                json!({"sessionID": sid, "error": aborted_error()}),
            ));
        }
        events.push((
            "session.status",
            json!({"sessionID": sid, "status": {"type": "idle"}}),
        ));
        events.push(("session.idle", json!({"sessionID": sid})));
        for (kind, props) in events {
            self.publish(ctx, at, tag, kind, props);
        }
    }

    /// Stop every unfinished reply of the session now.
    fn abort(&mut self, now: Instant, sid: &str, ctx: &mut Ctx) {
        let running: Vec<usize> = (0..self.prompts.len())
            .filter(|&i| self.prompts[i].session == sid && self.prompts[i].finished_at() > now)
            .collect();
        for &i in &running {
            ctx.cancel(self.prompts[i].assistant_id());
            if self.prompts[i].start <= now {
                self.prompts[i].aborted = Some(now);
                let p = self.prompts[i].clone();
                self.finish(&p, now, ctx);
            }
        }
        // Prompts queued behind the running one never start.
        let mut i = 0;
        self.prompts.retain(|p| {
            i += 1;
            !(running.contains(&(i - 1)) && p.start > now)
        });
    }

    fn session_route(
        &mut self,
        now: Instant,
        req: &ReceivedRequest,
        parts: &[&str],
        ctx: &mut Ctx,
    ) -> Reply {
        let m = req.method.as_str();
        let id = parts[0];
        let Some(i) = self.session(id) else {
            return not_found("Session", id);
        };
        match (m, &parts[1..]) {
            ("GET", []) => Reply::json(200, &self.sessions[i]),
            ("PATCH", []) => self.rename(now, req, id, ctx),
            ("DELETE", []) => Reply::json(200, &Value::Bool(self.delete(now, id, ctx))),
            ("GET", ["children"]) => {
                let kids: Vec<Value> = self
                    .sessions
                    .iter()
                    .filter(|s| s["parentID"] == id)
                    .cloned()
                    .collect();
                Reply::json(200, &Value::Array(kids))
            }
            ("POST", ["abort"]) => {
                self.abort(now, id, ctx);
                Reply::json(200, &Value::Bool(true))
            }
            ("GET", ["message"]) => Reply::json(200, &Value::Array(self.messages(now, id))),
            ("GET", ["message", mid]) => match self
                .messages(now, id)
                .into_iter()
                .find(|m| m["info"]["id"] == *mid)
            {
                Some(msg) => Reply::json(200, &msg),
                None => not_found("Message", mid),
            },
            ("POST", [kind @ ("message" | "prompt_async")]) => {
                let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                    return bad_json();
                };
                if !body["parts"].is_array() {
                    return Reply::json(
                        400,
                        &json!({"name": "BadRequest", "data": {"message": "Expected array\n  at [\"parts\"]", "kind": "Payload"}}),
                    );
                }
                let p = self.prompt(now, id, &body, ctx);
                if *kind == "prompt_async" {
                    return Reply::new(204, "");
                }
                // Like the real server, the answer comes when the model has finished.
                Reply::json(200, &p.assistant(p.done)).delay_head(p.done - now)
            }
            _ => route_not_found(m, req.path()),
        }
    }
}

fn route_not_found(method: &str, path: &str) -> Reply {
    Reply::json(
        404,
        &json!({ "name": "NotFoundError", "data": { "message": format!("Route not found: {method} {path}") } }),
    )
}

impl Handler for FakeOpenCode {
    fn handle(&mut self, now: Instant, req: &ReceivedRequest, ctx: &mut Ctx) -> Reply {
        let path = req.path().trim_end_matches('/').to_string();
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let m = req.method.as_str();
        match (m, parts.as_slice()) {
            ("GET", ["global", "health"]) => {
                Reply::json(200, &json!({ "healthy": true, "version": VERSION }))
            }
            ("GET", ["event"]) => self.stream(false),
            ("GET", ["global", "event"]) => self.stream(true),
            ("GET", ["path"]) => Reply::json(
                200,
                &json!({"home": "/home/plue", "state": "/home/plue/.local/state/opencode",
                        "config": "/home/plue/.config/opencode", "worktree": "/", "directory": DIRECTORY}),
            ),
            ("GET", ["project", "current"]) => Reply::json(
                200,
                &json!({"id": "global", "worktree": "/", "time": {"created": EPOCH_MS, "updated": EPOCH_MS}, "sandboxes": []}),
            ),
            ("GET", ["config"]) => Reply::json(
                200,
                &json!({"$schema": "https://opencode.ai/config.json", "share": "disabled", "autoupdate": false,
                        "model": "demo/canned", "small_model": "demo/canned", "username": "plue"}),
            ),
            ("GET", ["provider"]) => Reply::json(
                200,
                &json!({"all": [provider()], "default": {"demo": "canned"}, "connected": ["demo"]}),
            ),
            ("GET", ["config", "providers"]) => Reply::json(
                200,
                &json!({"providers": [provider()], "default": {"demo": "canned"}}),
            ),
            ("GET", ["agent"]) => Reply::json(
                200,
                &json!([{"name": "build", "description": "The default agent.", "mode": "primary", "native": true, "permission": [], "options": {}},
                        {"name": "plan", "description": "Plans without editing.", "mode": "primary", "native": true, "permission": [], "options": {}}]),
            ),
            ("GET", ["permission"]) | ("GET", ["question"]) => Reply::json(200, &json!([])),
            ("POST", ["permission", id, "reply"]) => Reply::json(
                404,
                &json!({"_tag": "PermissionNotFoundError", "requestID": id, "message": format!("Permission request not found: {id}")}),
            ),
            ("GET", ["session"]) => Reply::json(
                200,
                &Value::Array(self.sessions.iter().rev().cloned().collect()),
            ),
            ("POST", ["session"]) => self.create(now, req, ctx),
            ("GET", ["session", "status"]) => {
                let busy: serde_json::Map<String, Value> = self
                    .sessions
                    .iter()
                    .filter_map(|s| s["id"].as_str())
                    .filter(|id| self.busy(id, now))
                    .map(|id| (id.to_string(), json!({"type": "busy"})))
                    .collect();
                Reply::json(200, &Value::Object(busy))
            }
            (_, ["session", rest @ ..]) if !rest.is_empty() => {
                self.session_route(now, req, rest, ctx)
            }
            _ => route_not_found(m, &path),
        }
    }
}

#[cfg(test)]
mod tests;
