//! The fake against the core's own typed calls, event parsing and reply follower, over the scripted server's
//! wire bytes (requests encoded by the h1 codec, responses decoded by it).

use std::collections::BTreeMap;

use bytes::BytesMut;
use http::Method;
use serde_json::{json, Value};

use super::*;
use crate::server::{SrvConn, SrvOutput};
use plue_http_core::h1::{encode_request, Decoded, Limits, ResponseDecoder};
use plue_http_core::{Request, Response};
use plue_opencode::{
    Api, ApiErrorKind, Event, GlobalEvent, OpenCodeOptions, PermissionReply, PromptInput,
    ReplyFollower, ReplyUpdate, SessionCreate, SessionStatus,
};

/// The fake on a wire: requests in as bytes, every connection's output collected.
struct Wire {
    server: ScriptedServer,
    now: Instant,
    bufs: BTreeMap<SrvConn, Vec<u8>>,
    methods: BTreeMap<SrvConn, Method>,
}

impl Wire {
    fn new() -> Wire {
        Wire {
            server: FakeOpenCode::server(),
            now: Instant::from_millis(1_000),
            bufs: BTreeMap::new(),
            methods: BTreeMap::new(),
        }
    }

    /// Send `req` on a new connection.
    fn open(&mut self, req: &Request) -> SrvConn {
        let mut out = BytesMut::new();
        encode_request(req, "plue-test", &mut out);
        let c = self.server.accept(self.now);
        self.server.handle_data(self.now, c, &out);
        self.methods.insert(c, req.method().clone());
        self.run_until(self.now);
        c
    }

    /// Collect output through every deadline up to `t`; the clock ends at `t`.
    fn run_until(&mut self, t: Instant) {
        for _ in 0..100_000 {
            match self.server.poll_output(self.now) {
                SrvOutput::Transmit(c, b) => self.bufs.entry(c).or_default().extend_from_slice(&b),
                SrvOutput::Close(_) | SrvOutput::Reset(_) => {}
                SrvOutput::Wait(Some(d)) if d <= t && d > self.now => self.now = d,
                SrvOutput::Wait(_) if self.now < t => self.now = t,
                SrvOutput::Wait(_) => return,
            }
        }
        panic!("the server never settled");
    }

    fn advance(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// The complete response on `c`, if it has arrived.
    fn response(&self, c: SrvConn) -> Option<Response> {
        let mut buf = BytesMut::from(&self.bufs.get(&c)?[..]);
        let mut dec = ResponseDecoder::new(&self.methods[&c], &Limits::default());
        let (mut head, mut body) = (None, BytesMut::new());
        loop {
            match dec.decode(&mut buf).unwrap()? {
                Decoded::Head(h) => head = Some(h),
                Decoded::Body(b) => body.extend_from_slice(&b),
                Decoded::End { .. } => return Some(Response::new(head?, body.freeze())),
            }
        }
    }

    /// Send `req` and wait (in virtual time) for its response.
    fn call(&mut self, req: &Request) -> Response {
        let c = self.open(req);
        for _ in 0..1_000 {
            if let Some(r) = self.response(c) {
                return r;
            }
            self.advance(DELTA_PACE);
        }
        panic!("no response to {} {}", req.method(), req.url());
    }

    /// The `data:` payloads that arrived on the event stream `c` since the last call.
    fn events(&mut self, c: SrvConn) -> Vec<String> {
        let text = String::from_utf8(std::mem::take(self.bufs.entry(c).or_default())).unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(str::to_string)
            .collect()
    }
}

fn api() -> Api {
    Api::new(&OpenCodeOptions::new("http://127.0.0.1:4096")).unwrap()
}

fn session(w: &mut Wire, a: &Api) -> String {
    let c = a.session_create(&SessionCreate::default()).unwrap();
    c.parse(&w.call(&c.request)).unwrap().id
}

fn kind(payload: &str) -> String {
    Event::parse(payload).unwrap().kind().to_string()
}

#[test]
fn sim_fake_opencode_answers_every_typed_call() {
    let a = api();
    let mut w = Wire::new();
    macro_rules! call {
        ($c:expr) => {{
            let c = $c.unwrap();
            let r = w.call(&c.request);
            c.parse(&r)
        }};
    }
    assert_eq!(call!(a.health()).unwrap().version, VERSION);
    assert_eq!(call!(a.path()).unwrap().directory, DIRECTORY);
    assert_eq!(call!(a.project_current()).unwrap().id, "global");
    let model = call!(a.config()).unwrap().model;
    assert_eq!(model.as_deref(), Some("demo/canned"));
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
    let renamed = call!(a.session_update_title(&s.id, "u")).unwrap();
    assert_eq!(renamed.title, "u");
    assert_eq!(call!(a.session_children(&s.id)).unwrap().len(), 1);
    assert_eq!(call!(a.sessions()).unwrap().len(), 2);
    assert!(call!(a.session_status()).unwrap().is_empty());
    assert!(call!(a.messages(&s.id)).unwrap().is_empty());
    assert!(call!(a.session_abort(&s.id)).unwrap());
    assert!(call!(a.permissions()).unwrap().is_empty());
    let e = call!(a.permission_reply("per_x", PermissionReply::Once, None)).unwrap_err();
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
    let bad = a.builder(Method::POST, "/session").body("{nope");
    let e = w
        .call(&bad.build().unwrap())
        .error_for_status()
        .unwrap_err();
    assert_eq!(ApiErrorKind::of_error(&e), Some(ApiErrorKind::BadRequest));
    let nope = w.call(&a.builder(Method::GET, "/nope").build().unwrap());
    assert_eq!(nope.status(), 404);
    assert_eq!(nope.json::<Value>().unwrap()["name"], "NotFoundError");
}

/// The event order of a real 1.18.34 chat (`tests/fixtures/opencode/event_chat.txt`), the follower's text, the
/// pacing, the `/global/event` wrapping, and the blocking prompt answering once the reply is complete.
#[test]
fn sim_fake_opencode_chat_streams_in_the_real_event_order() {
    let a = api();
    let mut w = Wire::new();
    let ev = w.open(&a.event_request().unwrap());
    let gl = w.open(&a.global_event_request().unwrap());
    let first = w.events(ev);
    assert_eq!(Event::parse(&first[0]).unwrap(), Event::ServerConnected);
    let g = GlobalEvent::parse(&w.events(gl)[0]).unwrap();
    assert_eq!((g.directory, g.payload), (None, Event::ServerConnected));

    let sid = session(&mut w, &a);
    assert_eq!(kind(&w.events(ev)[0]), "session.created");
    w.events(gl);
    let prompt = a.prompt(&sid, &PromptInput::text("hi there")).unwrap();
    let pc = w.open(&prompt.request);
    assert!(w.response(pc).is_none(), "the answer waits for the model");

    let mut follower = ReplyFollower::new(&sid);
    let (mut kinds, mut pieces) = (Vec::new(), Vec::new());
    while !follower.is_idle() {
        for e in w.events(ev) {
            kinds.push(kind(&e));
            match follower.handle(&Event::parse(&e).unwrap()) {
                Some(ReplyUpdate::Text(t)) => pieces.push((w.now, t)),
                Some(ReplyUpdate::Error(e)) => panic!("{e:?}"),
                _ => {}
            }
        }
        assert!(w.now < Instant::from_millis(10_000), "no idle: {kinds:?}");
        w.advance(DELTA_PACE);
    }
    let reply = "Hello from the plue demo model. You said: hi there";
    let words = reply.split(' ').count();
    let mut expected = vec![
        "message.updated",
        "message.part.updated",
        "session.status",
        "message.updated",
        "message.part.updated",
    ];
    expected.extend(std::iter::repeat_n("message.part.delta", words));
    expected.extend([
        "message.part.updated",
        "message.updated",
        "session.status",
        "session.idle",
    ]);
    assert_eq!(kinds, expected);
    assert_eq!(follower.text(), reply);
    assert_eq!(pieces.len(), words, "one text update per delta");
    assert!(
        pieces.windows(2).all(|p| p[1].0 - p[0].0 == DELTA_PACE),
        "paced"
    );
    let global: Vec<GlobalEvent> = w
        .events(gl)
        .iter()
        .map(|e| GlobalEvent::parse(e).unwrap())
        .collect();
    assert_eq!(global.len(), expected.len());
    assert!(global.iter().all(
        |g| g.directory.as_deref() == Some(DIRECTORY) && g.project.as_deref() == Some("global")
    ));

    let answer = prompt.parse(&w.response(pc).expect("answered")).unwrap();
    assert_eq!(answer.text(), reply);
    let m = a.messages(&sid).unwrap();
    let history = m.parse(&w.call(&m.request)).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].text(), reply);
    w.advance(HEARTBEAT);
    assert!(w.events(ev).iter().any(|e| kind(e) == "server.heartbeat"));
    let gone = w.call(&a.session_delete(&sid).unwrap().request);
    assert_eq!(gone.text(), "true");
    assert_eq!(kind(&w.events(ev)[0]), "session.deleted");
}

/// Status while busy, then an abort halfway: the rest of the reply never streams, the reply ends like the real
/// server's aborted one, and a prompt queued behind it is dropped.
#[test]
fn sim_fake_opencode_abort_stops_the_reply_and_reports_it() {
    let a = api();
    let mut w = Wire::new();
    let ev = w.open(&a.event_request().unwrap());
    let sid = session(&mut w, &a);
    let p = a
        .prompt_async(&sid, &PromptInput::text("one two three four five"))
        .unwrap();
    assert_eq!(w.call(&p.request).status(), 204);
    let queued = a.prompt_async(&sid, &PromptInput::text("later")).unwrap();
    assert_eq!(w.call(&queued.request).status(), 204);
    let st = a.session_status().unwrap();
    let status = st.parse(&w.call(&st.request)).unwrap();
    assert_eq!(status[&sid], SessionStatus::Busy);
    w.advance(DELTA_PACE * 3);
    w.events(ev);
    assert!(w.call(&a.session_abort(&sid).unwrap().request).status() == 200);
    let kinds: Vec<String> = w.events(ev).iter().map(|e| kind(e)).collect();
    assert_eq!(
        kinds,
        [
            "message.part.updated",
            "message.updated",
            "session.error",
            "session.status",
            "session.idle"
        ]
    );
    w.advance(Duration::from_secs(5));
    let after = w.events(ev);
    assert!(
        after.iter().all(|e| kind(e) == "server.heartbeat"),
        "nothing of either reply streams after the abort: {after:?}"
    );
    let history = a.messages(&sid).unwrap();
    let history = history.parse(&w.call(&history.request)).unwrap();
    assert_eq!(history.len(), 2, "the queued prompt never started");
    let aborted = &history[1];
    assert_eq!(aborted.text(), "Hello from the ", "three deltas went out");
    let error = aborted
        .info
        .error
        .as_ref()
        .expect("the aborted message carries its error");
    assert_eq!(error["name"], "MessageAbortedError");
    let status = st.parse(&w.call(&st.request)).unwrap();
    assert!(status.is_empty());
    let bad = a
        .builder(Method::POST, &format!("/session/{sid}/message"))
        .json(&json!({"parts": "x"}))
        .build()
        .unwrap();
    let e = w.call(&bad).error_for_status().unwrap_err();
    assert!(e.to_string().contains("parts"), "{e}");
    assert_eq!(
        split_words("a b "),
        ["a ", "b "],
        "the words concatenate to the text"
    );
}
