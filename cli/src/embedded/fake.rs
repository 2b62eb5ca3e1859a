//! A small OpenCode-compatible server as a sans-IO [`Handler`] for the simulation's scripted server: the
//! embedded default backend and the demo's server.
//!
//! It answers the routes the CLI uses with the shapes a real OpenCode 1.18 server sends (see
//! `tests/fixtures/opencode/`): `/global/health`, `/event` and `/global/event` (`server.connected` first, a
//! `server.heartbeat` every 10 s), sessions (list, create, get, delete, messages), `/provider`,
//! `/config/providers`, `/agent`, `/path`, `/config`, and prompts. A prompt is answered by a canned model whose
//! reply streams as `message.part.delta` events, one piece every [`PIECE_DELAY`], followed by the completed
//! part, `session.status` idle and `session.idle` — the event sequence of a real chat.

use std::collections::BTreeMap;
use std::time::Duration;

use plue_http::Method;
use plue_http_core::sim::server::{Ctx, Handler, ReceivedRequest, Reply, SseEnd, SseItem, SseScript};
use plue_http_core::time::Instant;
use serde_json::{json, Value};

/// The version `/global/health` reports.
pub const VERSION: &str = "1.18.34-plue-embedded";
/// The pause between streamed reply pieces.
pub const PIECE_DELAY: Duration = Duration::from_millis(120);
/// The directory the fake server says it works in.
const DIRECTORY: &str = "/plue/embedded";
/// The broadcast channels of `/event` and `/global/event`.
const BUS: &str = "bus";
const GLOBAL: &str = "global";

/// The canned model's answer to `prompt`, in the pieces it streams as.
pub fn reply_pieces(prompt: &str) -> Vec<String> {
    let text = format!(
        "You said \"{}\". This is plue's built-in demo model, streaming its answer piece by piece.",
        prompt.trim()
    );
    // Cut after every third word so the pieces are visible while they stream.
    let mut pieces = Vec::new();
    let mut cur = String::new();
    for (i, word) in text.split_inclusive(' ').enumerate() {
        cur.push_str(word);
        if i % 3 == 2 {
            pieces.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

/// The fake OpenCode server's state: sessions and their messages survive a restart of the transport.
#[derive(Debug, Default)]
pub struct FakeOpenCode {
    sessions: Vec<Value>,
    messages: BTreeMap<String, Vec<Value>>,
    seq: u64,
}

impl FakeOpenCode {
    /// A server with no sessions.
    pub fn new() -> Self {
        Self::default()
    }

    fn id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_plue{:012}", self.seq)
    }

    /// Send a bus event at `at` on `/event` and (wrapped) on `/global/event`.
    fn publish(&mut self, ctx: &mut Ctx, at: Instant, kind: &str, properties: Value) {
        let ev = json!({"id": self.id("evt"), "type": kind, "properties": properties});
        let global = json!({"directory": DIRECTORY, "payload": ev});
        ctx.publish_at(at, BUS, data(&ev));
        ctx.publish_at(at, GLOBAL, data(&global));
    }

    fn session(&self, id: &str) -> Option<&Value> {
        self.sessions.iter().find(|s| s["id"] == id)
    }

    fn create_session(&mut self, now: Instant, ctx: &mut Ctx, body: &Value) -> Reply {
        let id = self.id("ses");
        let ms = millis(now);
        let title = body["title"]
            .as_str()
            .map_or_else(|| format!("New session - {id}"), str::to_string);
        let mut session = json!({
            "id": id, "slug": "embedded-demo", "projectID": "global", "directory": DIRECTORY,
            "title": title, "version": VERSION, "time": {"created": ms, "updated": ms}
        });
        if let Some(parent) = body["parentID"].as_str() {
            session["parentID"] = json!(parent);
        }
        self.sessions.push(session.clone());
        self.messages.insert(id.clone(), Vec::new());
        self.publish(ctx, now, "session.created", json!({"sessionID": id, "info": session}));
        Reply::json(200, &session)
    }

    /// Run the canned model for a prompt: publish the whole event sequence of a chat, paced, and store the
    /// messages. Returns the assistant message and when it completes.
    fn prompt(&mut self, now: Instant, ctx: &mut Ctx, sid: &str, body: &Value) -> (Value, Instant) {
        let text: String = body["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect();
        let model = body.get("model").cloned().unwrap_or(json!({"providerID": "demo", "modelID": "echo"}));
        let ms = millis(now);
        let (user_id, user_part) = (self.id("msg"), self.id("prt"));
        let user = json!({"id": user_id, "sessionID": sid, "role": "user", "time": {"created": ms}, "model": model});
        let upart = json!({"id": user_part, "sessionID": sid, "messageID": user_id, "type": "text", "text": text});
        let (asst_id, part_id) = (self.id("msg"), self.id("prt"));
        let mut asst = json!({
            "id": asst_id, "sessionID": sid, "role": "assistant", "parentID": user_id, "time": {"created": ms},
            "modelID": model["modelID"], "providerID": model["providerID"], "agent": "build"
        });
        self.publish(ctx, now, "message.updated", json!({"sessionID": sid, "info": user}));
        self.publish(ctx, now, "message.part.updated", json!({"sessionID": sid, "part": upart}));
        self.publish(ctx, now, "session.status", json!({"sessionID": sid, "status": {"type": "busy"}}));
        self.publish(ctx, now, "message.updated", json!({"sessionID": sid, "info": asst}));
        let empty = json!({"id": part_id, "sessionID": sid, "messageID": asst_id, "type": "text", "text": ""});
        self.publish(ctx, now, "message.part.updated", json!({"sessionID": sid, "part": empty}));
        let pieces = reply_pieces(&text);
        let mut at = now;
        for piece in &pieces {
            at += PIECE_DELAY;
            let delta = json!({"sessionID": sid, "messageID": asst_id, "partID": part_id, "field": "text", "delta": piece});
            self.publish(ctx, at, "message.part.delta", delta);
        }
        let full: String = pieces.concat();
        let part = json!({"id": part_id, "sessionID": sid, "messageID": asst_id, "type": "text", "text": full});
        asst["time"]["completed"] = json!(millis(at));
        asst["finish"] = json!("stop");
        self.publish(ctx, at, "message.part.updated", json!({"sessionID": sid, "part": part}));
        self.publish(ctx, at, "message.updated", json!({"sessionID": sid, "info": asst}));
        self.publish(ctx, at, "session.status", json!({"sessionID": sid, "status": {"type": "idle"}}));
        self.publish(ctx, at, "session.idle", json!({"sessionID": sid}));
        let answer = json!({"info": asst, "parts": [part]});
        let log = self.messages.entry(sid.to_string()).or_default();
        log.push(json!({"info": user, "parts": [upart]}));
        log.push(answer.clone());
        (answer, at)
    }
}

fn millis(t: Instant) -> u64 {
    t.as_nanos() / 1_000_000
}

fn data(v: &Value) -> SseItem {
    SseItem::Event {
        event: None,
        data: v.to_string(),
        id: None,
    }
}

fn not_found(what: &str, id: &str) -> Reply {
    Reply::json(
        404,
        &json!({"name": "NotFoundError", "data": {"message": format!("{what} not found: {id}")}}),
    )
}

/// `/event`-style stream: `server.connected` at once, heartbeats every 10 s, published events in between.
fn event_stream(channel: &str, wrap: bool) -> Reply {
    let item = |kind: &str| {
        let ev = json!({"id": format!("evt_{kind}"), "type": kind, "properties": {}});
        data(&if wrap { json!({"payload": ev}) } else { ev })
    };
    Reply::sse(SseScript {
        items: vec![(Duration::ZERO, item("server.connected"))],
        heartbeat: Some((Duration::from_secs(10), item("server.heartbeat"))),
        end: SseEnd::Hang,
        channel: Some(channel.to_string()),
    })
}

fn providers() -> Value {
    json!([{
        "id": "demo", "name": "Plue demo", "source": "custom", "env": [],
        "models": {"echo": {"id": "echo", "providerID": "demo", "name": "Demo echo model", "status": "active"}}
    }])
}

impl Handler for FakeOpenCode {
    fn handle(&mut self, now: Instant, req: &ReceivedRequest, ctx: &mut Ctx) -> Reply {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let path = req.path().to_string();
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let m = &req.method;
        match (m, segs.as_slice()) {
            (&Method::GET, ["global", "health"]) => {
                Reply::json(200, &json!({"healthy": true, "version": VERSION}))
            }
            (&Method::GET, ["event"]) => event_stream(BUS, false),
            (&Method::GET, ["global", "event"]) => event_stream(GLOBAL, true),
            (&Method::GET, ["path"]) => Reply::json(
                200,
                &json!({"home": "/home/plue", "state": "/tmp", "config": "/tmp", "worktree": DIRECTORY, "directory": DIRECTORY}),
            ),
            (&Method::GET, ["config"]) => Reply::json(200, &json!({"model": "demo/echo", "share": "disabled"})),
            (&Method::GET, ["project", "current"]) => {
                Reply::json(200, &json!({"id": "global", "worktree": DIRECTORY, "time": {"created": 0}}))
            }
            (&Method::GET, ["agent"]) => Reply::json(
                200,
                &json!([{"name": "build", "mode": "primary", "native": true, "description": "The default agent"}]),
            ),
            (&Method::GET, ["provider"]) => Reply::json(
                200,
                &json!({"all": providers(), "default": {"demo": "echo"}, "connected": ["demo"]}),
            ),
            (&Method::GET, ["config", "providers"]) => {
                Reply::json(200, &json!({"providers": providers(), "default": {"demo": "echo"}}))
            }
            (&Method::GET, ["session"]) => Reply::json(200, &Value::Array(self.sessions.clone())),
            (&Method::POST, ["session"]) => self.create_session(now, ctx, &body),
            (&Method::GET, ["session", "status"]) => Reply::json(200, &json!({})),
            (_, ["session", id, rest @ ..]) => {
                let id = id.to_string();
                if self.session(&id).is_none() {
                    return not_found("Session", &id);
                }
                match (m, rest) {
                    (&Method::GET, []) => Reply::json(200, self.session(&id).unwrap_or(&Value::Null)),
                    (&Method::DELETE, []) => {
                        self.sessions.retain(|s| s["id"] != id.as_str());
                        Reply::json(200, &json!(true))
                    }
                    (&Method::GET, ["message"]) => {
                        Reply::json(200, &Value::Array(self.messages.get(&id).cloned().unwrap_or_default()))
                    }
                    (&Method::POST, ["message"]) => {
                        // The blocking prompt: the head comes when the answer is complete, like OpenCode's.
                        let (answer, done) = self.prompt(now, ctx, &id, &body);
                        Reply::json(200, &answer).delay_head(done.saturating_duration_since(now))
                    }
                    (&Method::POST, ["prompt_async"]) => {
                        self.prompt(now, ctx, &id, &body);
                        Reply::new(204, bytes::Bytes::new())
                    }
                    (&Method::POST, ["abort"]) => Reply::json(200, &json!(true)),
                    _ => not_found("Route", &path),
                }
            }
            _ => not_found("Route", &path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_fake_reply_pieces_add_up_and_are_several() {
        let p = reply_pieces("hi");
        assert!(p.len() >= 4, "{p:?}");
        assert!(p.concat().starts_with("You said \"hi\"."));
        assert!(p.iter().all(|s| !s.is_empty()));
    }
}
