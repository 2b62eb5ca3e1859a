//! A small, clearly fake OpenCode server: a stateful [`Handler`] for the scripted server.
//!
//! It answers the handful of routes the `plue` demo and the simulation need, in shapes modelled on OpenCode
//! 1.18.34 (`opencode serve`), with a canned "model" that streams its reply as `message.part.delta` events on
//! `/event`. It is not a reimplementation: real-server behaviour is tested against the real server.
//!
//! Routes: `GET /global/health`; `GET /event` (SSE: `server.connected`, then `server.heartbeat` every 10 s, then
//! whatever prompts publish); `GET /session`, `POST /session`, `GET /session/{id}`, `DELETE /session/{id}`;
//! `POST /session/{id}/message` (streams deltas, answers with the finished message when the stream is done);
//! `POST /session/{id}/prompt_async` (204 at once, deltas follow); `GET /config/providers`.

use core::time::Duration;

use serde_json::{json, Value};

use super::server::{
    Ctx, Handler, ReceivedRequest, Reply, ScriptedServer, ServerConfig, SseEnd, SseItem, SseScript,
};
use crate::time::Instant;

/// The version the fake reports (the `-demo` suffix keeps it from being mistaken for a real server).
pub const VERSION: &str = "1.18.34-demo";
/// Period of `server.heartbeat` events, as the real server sends them.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// Pause between two deltas of the canned model.
pub const DELTA_PACE: Duration = Duration::from_millis(40);
/// The broadcast channel `/event` streams join.
const CHANNEL: &str = "opencode-events";

#[derive(Debug, Clone)]
struct Session {
    id: String,
    title: String,
    created_ms: u64,
    messages: Vec<Value>,
}

impl Session {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "slug": self.id.trim_start_matches("ses_"),
            "version": VERSION,
            "projectID": "global",
            "directory": "/demo",
            "title": self.title,
            "time": { "created": self.created_ms, "updated": self.created_ms },
        })
    }
}

/// The fake OpenCode handler. Ids are deterministic counters, so runs replay.
#[derive(Debug, Default)]
pub struct FakeOpenCode {
    sessions: Vec<Session>,
    next_id: u64,
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

    fn session(&self, id: &str) -> Option<usize> {
        self.sessions.iter().position(|s| s.id == id)
    }

    fn create(&mut self, now: Instant, req: &ReceivedRequest, ctx: &mut Ctx) -> Reply {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let id = self.id("ses");
        let title = body
            .get("title")
            .and_then(Value::as_str)
            .map_or_else(|| format!("New session - {id}"), str::to_string);
        let s = Session {
            id,
            title,
            created_ms: now.as_nanos() / 1_000_000,
            messages: Vec::new(),
        };
        let info = s.json();
        ctx.publish_at(
            now,
            CHANNEL,
            event("session.created", json!({ "info": info })),
        );
        self.sessions.push(s);
        Reply::json(200, &info)
    }

    /// Run the canned model on a prompt: publish its deltas, store the message, return it and when it is done.
    fn prompt(
        &mut self,
        now: Instant,
        idx: usize,
        req: &ReceivedRequest,
        ctx: &mut Ctx,
    ) -> (Value, Instant) {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let text: String = body
            .get("parts")
            .and_then(Value::as_array)
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let sid = self.sessions[idx].id.clone();
        let user_id = self.id("msg");
        let msg_id = self.id("msg");
        let part_id = self.id("prt");
        let reply = canned_reply(&text);
        let mut at = now;
        ctx.publish_at(
            at,
            CHANNEL,
            event(
                "session.status",
                json!({ "sessionID": sid, "status": { "type": "busy" } }),
            ),
        );
        for piece in split_words(&reply) {
            at += DELTA_PACE;
            let props = json!({
                "sessionID": sid, "messageID": msg_id, "partID": part_id, "field": "text", "delta": piece,
            });
            ctx.publish_at(at, CHANNEL, event("message.part.delta", props));
        }
        at += DELTA_PACE;
        let created = now.as_nanos() / 1_000_000;
        let message = json!({
            "info": {
                "id": msg_id, "sessionID": sid, "role": "assistant", "parentID": user_id,
                "providerID": "demo", "modelID": "canned",
                "time": { "created": created, "completed": at.as_nanos() / 1_000_000 },
            },
            "parts": [{ "id": part_id, "sessionID": sid, "messageID": msg_id, "type": "text", "text": reply }],
        });
        ctx.publish_at(
            at,
            CHANNEL,
            event(
                "message.updated",
                json!({ "info": message["info"].clone() }),
            ),
        );
        ctx.publish_at(
            at,
            CHANNEL,
            event("session.idle", json!({ "sessionID": sid })),
        );
        self.sessions[idx].messages.push(message.clone());
        (message, at)
    }
}

/// One OpenCode bus event as the real server frames it: a data-only SSE event carrying `{type, properties}`.
fn event(kind: &str, properties: Value) -> SseItem {
    SseItem::Event {
        event: None,
        data: json!({ "type": kind, "properties": properties }).to_string(),
        id: None,
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
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        cur.push(ch);
        if ch == ' ' {
            out.push(core::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn not_found(what: &str) -> Reply {
    Reply::json(
        404,
        &json!({ "name": "NotFoundError", "data": { "message": format!("Session not found: {what}") } }),
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
            ("GET", ["event"]) | ("GET", ["global", "event"]) => Reply::sse(SseScript {
                items: vec![(Duration::ZERO, event("server.connected", json!({})))],
                heartbeat: Some((HEARTBEAT, event("server.heartbeat", json!({})))),
                end: SseEnd::Hang,
                channel: Some(CHANNEL.to_string()),
            }),
            ("GET", ["session"]) => {
                let list: Vec<Value> = self.sessions.iter().rev().map(Session::json).collect();
                Reply::json(200, &Value::Array(list))
            }
            ("POST", ["session"]) => self.create(now, req, ctx),
            ("GET", ["session", id]) => match self.session(id) {
                Some(i) => Reply::json(200, &self.sessions[i].json()),
                None => not_found(id),
            },
            ("DELETE", ["session", id]) => match self.session(id) {
                Some(i) => {
                    let s = self.sessions.remove(i);
                    ctx.publish_at(
                        now,
                        CHANNEL,
                        event("session.deleted", json!({ "info": s.json() })),
                    );
                    Reply::json(200, &Value::Bool(true))
                }
                None => not_found(id),
            },
            ("GET", ["session", id, "message"]) => match self.session(id) {
                Some(i) => Reply::json(200, &Value::Array(self.sessions[i].messages.clone())),
                None => not_found(id),
            },
            ("POST", ["session", id, "message"]) => match self.session(id) {
                Some(i) => {
                    // Like the real server, the answer comes when the model has finished.
                    let (message, done) = self.prompt(now, i, req, ctx);
                    Reply::json(200, &message).delay_head(done - now)
                }
                None => not_found(id),
            },
            ("POST", ["session", id, "prompt_async"]) => match self.session(id) {
                Some(i) => {
                    self.prompt(now, i, req, ctx);
                    Reply::new(204, "")
                }
                None => not_found(id),
            },
            ("GET", ["config", "providers"]) => Reply::json(
                200,
                &json!({
                    "providers": [{
                        "id": "demo", "name": "Demo (canned replies)",
                        "models": { "canned": { "id": "canned", "name": "Canned model" } },
                    }],
                    "default": { "demo": "canned" },
                }),
            ),
            _ => Reply::json(
                404,
                &json!({ "name": "NotFoundError", "data": { "message": format!("No route {m} {path}") } }),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::server::SrvOutput;

    fn drain(s: &mut ScriptedServer, now: Instant) -> String {
        let mut text = String::new();
        while let SrvOutput::Transmit(_, b) = s.poll_output(now) {
            text.push_str(&String::from_utf8_lossy(&b));
        }
        text
    }

    fn call(s: &mut ScriptedServer, now: Instant, req: &str) -> String {
        let c = s.accept(now);
        s.handle_data(now, c, req.as_bytes());
        drain(s, now)
    }

    fn post(path: &str, body: &str) -> String {
        format!(
            "POST {path} HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn sim_fake_opencode_health_sessions_and_streamed_prompt() {
        let mut s = FakeOpenCode::server();
        let t = Instant::from_millis(1_000);
        let health = call(&mut s, t, "GET /global/health HTTP/1.1\r\n\r\n");
        assert!(
            health.ends_with(r#"{"healthy":true,"version":"1.18.34-demo"}"#),
            "{health}"
        );

        let ev = s.accept(t);
        s.handle_data(t, ev, b"GET /event HTTP/1.1\r\n\r\n");
        assert!(drain(&mut s, t).contains(r#"data: {"properties":{},"type":"server.connected"}"#));

        let created = call(&mut s, t, &post("/session", r#"{"title":"demo"}"#));
        assert!(
            created.contains(r#""id":"ses_demo00000001""#) && created.contains(r#""title":"demo""#)
        );
        let listed = call(&mut s, t, "GET /session HTTP/1.1\r\n\r\n");
        assert!(listed.contains("ses_demo00000001"));
        let missing = call(&mut s, t, "GET /session/ses_nope HTTP/1.1\r\n\r\n");
        assert!(missing.starts_with("HTTP/1.1 404") && missing.contains("NotFoundError"));

        let prompt = post(
            "/session/ses_demo00000001/message",
            r#"{"parts":[{"type":"text","text":"hi there"}]}"#,
        );
        let c = s.accept(t);
        s.handle_data(t, c, prompt.as_bytes());
        assert_eq!(
            drain(&mut s, t),
            "",
            "the message answer waits for the model"
        );
        // The deltas arrive on the event stream one by one, and concatenate to the reply.
        let mut deltas = String::new();
        let mut pieces = 0;
        let mut now = t;
        let mut all = String::new();
        for _ in 0..20 {
            now += DELTA_PACE;
            let text = drain(&mut s, now);
            all.push_str(&text);
            for line in text.lines().filter(|l| l.starts_with("data: ")) {
                let v: Value = serde_json::from_str(&line[6..]).unwrap();
                if v["type"] == "message.part.delta" {
                    deltas.push_str(v["properties"]["delta"].as_str().unwrap());
                    pieces += 1;
                }
            }
        }
        assert!(pieces >= 2);
        assert_eq!(deltas, "Hello from the plue demo model. You said: hi there");
        assert!(
            all.contains(r#""role":"assistant""#),
            "the message answer came once the model finished"
        );
        assert!(all.contains("session.idle"));
        let hb = drain(&mut s, t + HEARTBEAT);
        assert!(hb.contains("server.heartbeat"));
        let gone = call(
            &mut s,
            now,
            "DELETE /session/ses_demo00000001 HTTP/1.1\r\n\r\n",
        );
        assert!(
            gone.contains("\r\n\r\ntrue") && gone.contains("session.deleted"),
            "{gone}"
        );
    }
}
