//! Conformance scenarios written once as data: a scripted server, client options, steps with expected
//! outcomes, and what the server must have received. Every driver (sim, tokio, smol, mio) runs every one.
//!
//! Outcomes are statuses, bodies, error kinds, stream events and the server's request log — never durations.
//! Timing values only shape the script (a head delayed past a read timeout); real drivers never assert them.

use core::time::Duration;

use bytes::Bytes;
use http::Method;
use plue_http_core::client::Options;
use plue_http_core::error::{ErrorKind, Limit, NetError, Phase};
use plue_http_core::sse::StreamEvent;
use plue_http_core::url::Url;
use plue_http_core::RequestBuilder;
use plue_http_sim::server::{
    Framing, ReceivedRequest, Reply, Route, Script, ServerConfig, SseEnd, SseItem, SseScript,
};

/// One request as data.
#[derive(Debug, Clone)]
pub struct Req {
    /// Method.
    pub method: Method,
    /// Path joined to the server's base URL.
    pub path: &'static str,
    /// Body, if any.
    pub body: Option<&'static str>,
    /// Extra headers.
    pub headers: Vec<(&'static str, &'static str)>,
    /// Per-request whole timeout.
    pub timeout: Option<Duration>,
    /// Per-request read timeout.
    pub read_timeout: Option<Duration>,
    /// Per-request retry budget.
    pub max_retries: Option<u32>,
    /// Per-request connect timeout.
    pub connect_timeout: Option<Duration>,
}

impl Req {
    /// `GET path`.
    pub fn get(path: &'static str) -> Req {
        Req {
            method: Method::GET,
            path,
            body: None,
            headers: Vec::new(),
            timeout: None,
            read_timeout: None,
            max_retries: None,
            connect_timeout: None,
        }
    }

    /// `POST path` with a body.
    pub fn post(path: &'static str, body: &'static str) -> Req {
        Req {
            method: Method::POST,
            body: Some(body),
            ..Req::get(path)
        }
    }

    fn read_timeout(mut self, d: Duration) -> Req {
        self.read_timeout = Some(d);
        self
    }

    fn timeout(mut self, d: Duration) -> Req {
        self.timeout = Some(d);
        self
    }

    fn retries(mut self, n: u32) -> Req {
        self.max_retries = Some(n);
        self
    }

    /// The request builder against `base`.
    pub fn builder(&self, base: &Url) -> RequestBuilder {
        let mut b = RequestBuilder::new(self.method.clone(), self.path).base(Some(base));
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        if let Some(body) = self.body {
            b = b.body(Bytes::from_static(body.as_bytes()));
        }
        if let Some(t) = self.timeout {
            b = b.timeout(Some(t));
        }
        if let Some(t) = self.read_timeout {
            b = b.read_timeout(Some(t));
        }
        if let Some(t) = self.connect_timeout {
            b = b.connect_timeout(t);
        }
        if let Some(n) = self.max_retries {
            b = b.max_retries(n);
        }
        b
    }
}

/// The expected outcome of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// A response with this status and (when given) exactly this body.
    Status(u16, Option<&'static str>),
    /// A response with this status and a body of exactly this many bytes.
    StatusLen(u16, usize),
    /// An error of exactly this kind.
    Error(ErrorKind),
}

/// What a stream step expects.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectEvents {
    /// The `data` of the events received, in order (the step ends after this many events).
    pub data: Vec<&'static str>,
    /// At least one `Reconnecting` was reported.
    pub reconnected: bool,
}

/// One step of a scenario.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send a request, expect an outcome.
    Send(Req, Expect),
    /// Send requests pipelined as one batch.
    Batch(Vec<(Req, Expect)>),
    /// Send a request to an address whose connects hang (not the scripted server).
    SendToBlackhole(Req, Expect),
    /// Send a request and abort it after a while; it must end with `Aborted`.
    SendAbort(Req, Duration),
    /// Subscribe to an event stream, take events, then drop the stream.
    Events(&'static str, ExpectEvents),
    /// Send a request to an address whose connects hang and abort it while it connects.
    AbortConnecting(Req, Duration),
    /// Let time pass (idle connections expire, servers close them).
    Wait(Duration),
    /// Restart the server: every connection dies and the port refuses connections for this long.
    Restart(Duration),
}

/// A check on the server's request log.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// Exactly `n` requests to this path.
    Count(&'static str, usize),
    /// The `nth` request to this path did (or did not) arrive on a reused connection.
    Reused(&'static str, usize, bool),
    /// The `nth` request to this path carried this header value (`None`: no such header).
    Header(&'static str, usize, &'static str, Option<&'static str>),
    /// The `nth` request to this path used this method.
    Method(&'static str, usize, Method),
    /// Exactly `n` requests to this path were executed (answered 2xx): no work was done twice.
    Executed(&'static str, usize),
    /// All requests to these paths arrived on one connection.
    SameConnection(&'static [&'static str]),
}

/// A scenario: the server, the client and the story.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Unique name (used in test output).
    pub name: &'static str,
    /// Client options; `base_url` is filled in by the driver.
    pub options: Options,
    /// The server's routes.
    pub script: Script,
    /// Server settings.
    pub server: ServerConfig,
    /// The story.
    pub steps: Vec<Step>,
    /// What the server must have received.
    pub received: Vec<Received>,
}

/// What a driver observed for one step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// One request's result: status and body, or the error kind.
    Response(Result<(u16, Bytes), ErrorKind>),
    /// A batch's results in order.
    Batch(Vec<Result<(u16, Bytes), ErrorKind>>),
    /// The stream events seen (the step stops after the expected number of events), and the error if the
    /// stream ended early.
    Events(Vec<StreamEvent>, Option<ErrorKind>),
    /// A step with nothing to observe.
    Done,
}

/// Everything a driver observed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// One per step.
    pub steps: Vec<StepOutcome>,
    /// The server's request log at the end.
    pub received: Vec<ReceivedRequest>,
}

/// Client options shared by the scenarios: quick retries so real runs stay short.
pub fn base_options() -> Options {
    Options {
        timeout: Some(Duration::from_secs(10)),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Some(Duration::from_secs(5)),
        retry_delay: Duration::from_millis(10),
        max_retry_delay: Duration::from_millis(100),
        event_idle_timeout: Duration::from_secs(5),
        ..Options::default()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn scenario(name: &'static str, script: Script, steps: Vec<Step>) -> Scenario {
    Scenario {
        name,
        options: base_options(),
        script,
        server: ServerConfig::default(),
        steps,
        received: Vec::new(),
    }
}

fn ok(body: &'static str) -> Expect {
    Expect::Status(200, Some(body))
}

fn sse(items: Vec<SseItem>, end: SseEnd) -> Reply {
    Reply::sse(SseScript {
        items: items.into_iter().map(|i| (Duration::ZERO, i)).collect(),
        heartbeat: None,
        end,
        channel: None,
    })
}

fn ev(data: &str, id: &str) -> SseItem {
    SseItem::Event {
        event: None,
        data: data.to_string(),
        id: Some(id.to_string()),
    }
}

/// Every scenario.
pub fn all() -> Vec<Scenario> {
    let route = |path, replies| Route::new(path, replies);
    let mut v = Vec::new();

    v.push(scenario(
        "framing_content_length",
        Script::new().route(route("/cl", vec![Reply::ok("hello")])),
        vec![Step::Send(Req::get("/cl"), ok("hello"))],
    ));
    v.push(scenario(
        "framing_chunked",
        Script::new().route(route(
            "/chunked",
            vec![Reply::ok("chunked body").framing(Framing::Chunked)],
        )),
        vec![Step::Send(Req::get("/chunked"), ok("chunked body"))],
    ));
    v.push(scenario(
        "framing_close_delimited",
        Script::new().route(route(
            "/eof",
            vec![Reply::ok("until close").framing(Framing::CloseDelimited)],
        )),
        vec![
            Step::Send(Req::get("/eof"), ok("until close")),
            Step::Send(Req::get("/eof"), ok("until close")),
        ],
    ));
    v.last_mut().unwrap().received = vec![Received::Reused("/eof", 1, false)];

    let mut s = scenario(
        "pool_keep_alive_reuse",
        Script::new().route(route("/a", vec![Reply::ok("a")])),
        vec![
            Step::Send(Req::get("/a"), ok("a")),
            Step::Send(Req::get("/a"), ok("a")),
        ],
    );
    s.received = vec![Received::Count("/a", 2), Received::Reused("/a", 1, true)];
    v.push(s);

    // The server closes idle connections after 100 ms; the client must notice (it keeps idle connections
    // readable) or replay, so even a POST on the next request succeeds exactly once.
    let mut s = scenario(
        "pool_dead_pooled_connection",
        Script::new()
            .route(route("/a", vec![Reply::ok("a")]))
            .route(route("/p", vec![Reply::ok("posted")])),
        vec![
            Step::Send(Req::get("/a"), ok("a")),
            Step::Wait(ms(700)),
            Step::Send(Req::post("/p", "x"), ok("posted")),
        ],
    );
    s.server.idle_timeout = Some(ms(100));
    s.received = vec![Received::Count("/p", 1), Received::Reused("/p", 0, false)];
    v.push(s);

    // The client's own idle limit: the pooled connection is closed by the client, the next request opens one.
    let mut s = scenario(
        "pool_idle_timeout_evicts",
        Script::new().route(route("/a", vec![Reply::ok("a")])),
        vec![
            Step::Send(Req::get("/a"), ok("a")),
            Step::Wait(ms(400)),
            Step::Send(Req::get("/a"), ok("a")),
        ],
    );
    s.options.pool_idle_timeout = ms(100);
    s.received = vec![Received::Count("/a", 2), Received::Reused("/a", 1, false)];
    v.push(s);

    let mut s = scenario(
        "pipeline_batch_in_order",
        Script::new()
            .route(route("/1", vec![Reply::ok("one").delay_head(ms(50))]))
            .route(route(
                "/2",
                vec![Reply::ok("two").framing(Framing::Chunked)],
            ))
            .route(route("/3", vec![Reply::ok("three")])),
        vec![Step::Batch(vec![
            (Req::get("/1"), ok("one")),
            (Req::get("/2"), ok("two")),
            (Req::get("/3"), ok("three")),
        ])],
    );
    s.received = vec![
        Received::Count("/1", 1),
        Received::Count("/2", 1),
        Received::Count("/3", 1),
        Received::SameConnection(&["/1", "/2", "/3"]),
    ];
    v.push(s);

    v.push(scenario(
        "timeout_connect",
        Script::new(),
        vec![
            Step::SendToBlackhole(
                Req {
                    connect_timeout: Some(ms(200)),
                    ..Req::get("/x").retries(0)
                },
                Expect::Error(ErrorKind::Timeout {
                    phase: Phase::Connect,
                }),
            ),
            Step::SendToBlackhole(
                Req {
                    connect_timeout: Some(ms(100)),
                    ..Req::get("/x").retries(2)
                },
                Expect::Error(ErrorKind::Timeout {
                    phase: Phase::Connect,
                }),
            ),
        ],
    ));
    v.push(scenario(
        "timeout_response_head",
        Script::new().route(route("/slow", vec![Reply::ok("late").delay_head(ms(3000))])),
        vec![Step::Send(
            Req::get("/slow").read_timeout(ms(200)).retries(0),
            Expect::Error(ErrorKind::Timeout {
                phase: Phase::ResponseHead,
            }),
        )],
    ));
    v.push(scenario(
        "timeout_body_idle",
        Script::new().route(route(
            "/stall",
            vec![Reply::ok("late").stall_body(ms(3000))],
        )),
        vec![Step::Send(
            Req::get("/stall").read_timeout(ms(200)).retries(0),
            Expect::Error(ErrorKind::Timeout {
                phase: Phase::BodyIdle,
            }),
        )],
    ));
    v.push(scenario(
        "timeout_whole_request",
        Script::new().route(route(
            "/drip",
            vec![Reply::ok("0123456789abcdefghij").drip(1, ms(100))],
        )),
        vec![Step::Send(
            Req::get("/drip").timeout(ms(500)).retries(0),
            Expect::Error(ErrorKind::Timeout {
                phase: Phase::Request,
            }),
        )],
    ));

    let mut s = scenario(
        "retry_get_on_503",
        Script::new().route(route(
            "/r",
            vec![
                Reply::new(503, "busy"),
                Reply::new(503, "busy"),
                Reply::ok("fine"),
            ],
        )),
        vec![Step::Send(Req::get("/r"), ok("fine"))],
    );
    s.received = vec![Received::Count("/r", 3)];
    v.push(s);

    let mut s = scenario(
        "retry_post_not_repeated",
        Script::new()
            .route(route(
                "/busy",
                vec![Reply::new(503, "busy"), Reply::ok("fine")],
            ))
            .route(route("/crash", vec![Reply::ok("never").drop_request()])),
        vec![
            Step::Send(Req::post("/busy", "x"), Expect::Status(503, Some("busy"))),
            Step::Send(
                Req::post("/crash", "y"),
                Expect::Error(ErrorKind::MaybeProcessed {
                    cause: NetError::Closed,
                }),
            ),
        ],
    );
    s.received = vec![Received::Count("/busy", 1), Received::Count("/crash", 1)];
    v.push(s);

    let mut s = scenario(
        "redirect_followed",
        Script::new()
            .route(route("/old", vec![Reply::redirect(302, "/new")]))
            .route(route("/new", vec![Reply::ok("moved here")])),
        vec![Step::Send(Req::get("/old"), ok("moved here"))],
    );
    s.received = vec![Received::Count("/old", 1), Received::Count("/new", 1)];
    v.push(s);

    let mut s = scenario(
        "sse_reconnect_with_last_event_id",
        Script::new().route(route(
            "/events",
            vec![
                sse(
                    vec![SseItem::Retry(10), ev("one", "1"), ev("two", "2")],
                    SseEnd::End,
                ),
                sse(vec![ev("three", "3")], SseEnd::Hang),
            ],
        )),
        vec![Step::Events(
            "/events",
            ExpectEvents {
                data: vec!["one", "two", "three"],
                reconnected: true,
            },
        )],
    );
    s.received = vec![
        Received::Count("/events", 2),
        Received::Header("/events", 0, "last-event-id", None),
        Received::Header("/events", 1, "last-event-id", Some("2")),
    ];
    v.push(s);

    // Issue 20 item 5: a redirect on an event stream is followed (EventSource), the last event id kept: the first
    // connect is redirected once, the reconnect after the clean end is redirected again (307) elsewhere.
    let mut s = scenario(
        "sse_redirect_followed_keeping_last_event_id",
        Script::new()
            .route(route("/old", vec![Reply::redirect(302, "/events")]))
            .route(route(
                "/events",
                vec![
                    sse(vec![SseItem::Retry(10), ev("one", "1")], SseEnd::End),
                    Reply::redirect(307, "/moved"),
                ],
            ))
            .route(route(
                "/moved",
                vec![sse(vec![ev("two", "2")], SseEnd::Hang)],
            )),
        vec![Step::Events(
            "/old",
            ExpectEvents {
                data: vec!["one", "two"],
                reconnected: true,
            },
        )],
    );
    // Reconnects go to where the stream was redirected, not back to /old.
    s.received = vec![
        Received::Count("/old", 1),
        Received::Count("/events", 2),
        Received::Count("/moved", 1),
        Received::Header("/events", 0, "last-event-id", None),
        Received::Header("/events", 1, "last-event-id", Some("1")),
        Received::Header("/moved", 0, "last-event-id", Some("1")),
    ];
    v.push(s);

    let mut s = scenario(
        "sse_idle_timeout_reconnects",
        Script::new().route(route(
            "/quiet",
            vec![
                sse(vec![ev("first", "1")], SseEnd::Hang),
                sse(vec![ev("second", "2")], SseEnd::Hang),
            ],
        )),
        vec![Step::Events(
            "/quiet",
            ExpectEvents {
                data: vec!["first", "second"],
                reconnected: true,
            },
        )],
    );
    s.options.event_idle_timeout = ms(300);
    s.received = vec![Received::Count("/quiet", 2)];
    v.push(s);

    let mut s = scenario(
        "abort_while_waiting_for_head",
        Script::new()
            .route(route("/slow", vec![Reply::ok("late").delay_head(ms(3000))]))
            .route(route("/a", vec![Reply::ok("a")])),
        vec![
            Step::SendAbort(Req::get("/slow"), ms(100)),
            Step::Send(Req::get("/a"), ok("a")),
        ],
    );
    s.received = vec![Received::Count("/slow", 1), Received::Count("/a", 1)];
    v.push(s);

    let mut s = scenario(
        "server_restart_recovers",
        Script::new().route(route("/a", vec![Reply::ok("a")])),
        vec![
            Step::Send(Req::get("/a"), ok("a")),
            Step::Restart(ms(300)),
            Step::Send(Req::get("/a").retries(20), ok("a")),
        ],
    );
    s.received = vec![Received::Count("/a", 2), Received::Reused("/a", 1, false)];
    v.push(s);

    let mut s = scenario(
        "retry_get_replayed_after_server_drop",
        Script::new().route(route(
            "/flaky",
            vec![Reply::ok("never").drop_request(), Reply::ok("ok")],
        )),
        vec![Step::Send(Req::get("/flaky"), ok("ok"))],
    );
    // The dropped attempt counts as executed (the server crashed after the work): replaying it is allowed
    // only because GET is idempotent.
    s.received = vec![
        Received::Count("/flaky", 2),
        Received::Reused("/flaky", 1, false),
    ];
    v.push(s);

    let mut s = scenario(
        "redirect_303_turns_post_into_get",
        Script::new()
            .route(route("/form", vec![Reply::redirect(303, "/done")]))
            .route(route("/done", vec![Reply::ok("done")])),
        vec![Step::Send(Req::post("/form", "payload"), ok("done"))],
    );
    s.received = vec![
        Received::Method("/form", 0, Method::POST),
        Received::Method("/done", 0, Method::GET),
    ];
    v.push(s);

    v.push(scenario(
        "framing_head_has_no_body",
        Script::new().route(route("/h", vec![Reply::ok("not sent for HEAD")])),
        vec![
            Step::Send(
                Req {
                    method: Method::HEAD,
                    ..Req::get("/h")
                },
                Expect::Status(200, Some("")),
            ),
            Step::Send(Req::get("/h"), ok("not sent for HEAD")),
        ],
    ));
    v.last_mut().unwrap().received = vec![Received::Reused("/h", 1, true)];

    // More than the 1 MiB the core lets wait undelivered: reading pauses and resumes as the owner consumes.
    v.push(scenario(
        "framing_large_body_backpressure",
        Script::new().route(route(
            "/big",
            vec![Reply::ok(vec![b'x'; 3 << 20]).framing(Framing::Chunked)],
        )),
        vec![Step::Send(
            Req::get("/big"),
            Expect::StatusLen(200, 3 << 20),
        )],
    ));

    let mut s = scenario(
        "abort_while_connecting",
        Script::new().route(route("/a", vec![Reply::ok("a")])),
        vec![
            Step::AbortConnecting(Req::get("/x"), ms(100)),
            Step::Send(Req::get("/a"), ok("a")),
        ],
    );
    s.received = vec![Received::Count("/a", 1), Received::Count("/x", 0)];
    v.push(s);

    let mut s = scenario(
        "abort_during_body",
        Script::new()
            .route(route(
                "/drip",
                vec![Reply::ok("0123456789").drip(1, ms(100))],
            ))
            .route(route("/a", vec![Reply::ok("a")])),
        vec![
            Step::SendAbort(Req::get("/drip"), ms(250)),
            Step::Send(Req::get("/a"), ok("a")),
        ],
    );
    s.received = vec![
        Received::Count("/drip", 1),
        Received::Reused("/a", 0, false),
    ];
    v.push(s);

    // Issue 20 item 9: a declared length above `max_body_size` is refused from the head. The body stalls past the
    // read timeout, so waiting for it (the old behaviour) would end in a timeout instead.
    let mut s = scenario(
        "framing_declared_length_above_limit_refused_from_head",
        Script::new().route(route(
            "/big",
            vec![Reply::ok("0123456789abcdef").stall_body(ms(3000))],
        )),
        vec![Step::Send(
            Req::get("/big").read_timeout(ms(1000)),
            Expect::Error(ErrorKind::TooLarge {
                limit: Limit::BodySize,
                max: 8,
            }),
        )],
    );
    s.options.max_body_size = 8;
    v.push(s);

    // Issue 20 item 10: a reset in the middle of the body says so. The head arrives first (the body stalls), so a
    // real socket has read it before the reset can discard anything.
    let mut s = scenario(
        "reset_mid_body_is_body_interrupted",
        Script::new().route(route(
            "/cut",
            vec![Reply::ok("0123456789").stall_body(ms(300)).reset_after(43)],
        )),
        vec![Step::Send(
            Req::get("/cut"),
            Expect::Error(ErrorKind::BodyInterrupted {
                cause: NetError::Reset,
            }),
        )],
    );
    s.received = vec![Received::Count("/cut", 1)];
    v.push(s);

    // The server closes after /2: /3, pipelined behind it, provably never ran and is sent again.
    let mut s = scenario(
        "pipeline_close_mid_batch_replays_the_rest",
        Script::new()
            .route(route("/1", vec![Reply::ok("one")]))
            .route(route("/2", vec![Reply::ok("two").close_after()]))
            .route(route("/3", vec![Reply::ok("three")])),
        vec![Step::Batch(vec![
            (Req::get("/1"), ok("one")),
            (Req::get("/2"), ok("two")),
            (Req::post("/3", "z"), ok("three")),
        ])],
    );
    s.received = vec![Received::Executed("/3", 1)];
    v.push(s);

    v
}

fn nth<'a>(
    log: &'a [ReceivedRequest],
    path: &str,
    n: usize,
) -> Result<&'a ReceivedRequest, String> {
    log.iter()
        .filter(|r| r.path() == path)
        .nth(n)
        .ok_or_else(|| format!("the server never received request #{n} to {path}"))
}

fn check_one(expect: &Expect, got: &Result<(u16, Bytes), ErrorKind>) -> Result<(), String> {
    match (expect, got) {
        (Expect::Status(s, body), Ok((status, b))) => {
            if s != status || body.is_some_and(|body| body.as_bytes() != &b[..]) {
                return Err(format!("expected {s} {body:?}, got {status} {b:?}"));
            }
            Ok(())
        }
        (Expect::StatusLen(s, len), Ok((status, b))) => {
            if s != status || *len != b.len() {
                return Err(format!(
                    "expected {s} with {len} bytes, got {status} with {}",
                    b.len()
                ));
            }
            Ok(())
        }
        (Expect::Error(kind), Err(e)) if kind == e => Ok(()),
        (want, got) => Err(format!("expected {want:?}, got {got:?}")),
    }
}

/// Compare what a driver observed with what the scenario expects.
pub fn check(s: &Scenario, o: &Outcome) -> Result<(), String> {
    if o.steps.len() != s.steps.len() {
        return Err(format!("{} steps ran of {}", o.steps.len(), s.steps.len()));
    }
    for (i, (step, got)) in s.steps.iter().zip(&o.steps).enumerate() {
        let r = match (step, got) {
            (Step::Send(_, want) | Step::SendToBlackhole(_, want), StepOutcome::Response(got)) => {
                check_one(want, got)
            }
            (Step::SendAbort(..) | Step::AbortConnecting(..), StepOutcome::Response(got)) => {
                check_one(&Expect::Error(ErrorKind::Aborted), got)
            }
            (Step::Batch(items), StepOutcome::Batch(got)) if items.len() == got.len() => items
                .iter()
                .zip(got)
                .try_for_each(|((_, want), got)| check_one(want, got)),
            (Step::Events(_, want), StepOutcome::Events(events, end)) => {
                let data: Vec<&str> = events
                    .iter()
                    .filter_map(|e| match e {
                        StreamEvent::Event(e) => Some(e.data.as_str()),
                        _ => None,
                    })
                    .collect();
                let reconnected = events
                    .iter()
                    .any(|e| matches!(e, StreamEvent::Reconnecting { .. }));
                if data != want.data || reconnected != want.reconnected {
                    Err(format!(
                        "expected events {:?} (reconnected: {}), got {events:?} ending {end:?}",
                        want.data, want.reconnected
                    ))
                } else {
                    Ok(())
                }
            }
            (Step::Wait(_) | Step::Restart(_), StepOutcome::Done) => Ok(()),
            (step, got) => Err(format!("step {step:?} produced {got:?}")),
        };
        r.map_err(|e| format!("step {i}: {e}"))?;
    }
    for want in &s.received {
        let log = &o.received;
        match want {
            Received::Count(path, n) => {
                let got = log.iter().filter(|r| r.path() == *path).count();
                if got != *n {
                    return Err(format!(
                        "the server received {got} requests to {path}, expected {n}"
                    ));
                }
            }
            Received::Reused(path, n, reused) => {
                let r = nth(log, path, *n)?;
                if r.reused() != *reused {
                    return Err(format!(
                        "request #{n} to {path}: reused = {}, expected {reused}",
                        r.reused()
                    ));
                }
            }
            Received::Header(path, n, name, value) => {
                let r = nth(log, path, *n)?;
                if r.header(name) != *value {
                    return Err(format!(
                        "request #{n} to {path}: {name} = {:?}, expected {value:?}",
                        r.header(name)
                    ));
                }
            }
            Received::Method(path, n, method) => {
                let r = nth(log, path, *n)?;
                if r.method != *method {
                    return Err(format!(
                        "request #{n} to {path}: method {}, expected {method}",
                        r.method
                    ));
                }
            }
            Received::Executed(path, n) => {
                let got = log
                    .iter()
                    .filter(|r| r.path() == *path && r.executed)
                    .count();
                if got != *n {
                    return Err(format!("{path} was executed {got} times, expected {n}"));
                }
            }
            Received::SameConnection(paths) => {
                let mut conns: Vec<_> = log
                    .iter()
                    .filter(|r| paths.contains(&r.path()))
                    .map(|r| r.conn)
                    .collect();
                conns.dedup();
                if conns.len() > 1 {
                    return Err(format!(
                        "requests to {paths:?} used {} connections",
                        conns.len()
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome_for(s: &Scenario, steps: Vec<StepOutcome>) -> Outcome {
        assert_eq!(steps.len(), s.steps.len());
        Outcome {
            steps,
            received: Vec::new(),
        }
    }

    /// The checker must be able to fail: wrong statuses, bodies, error kinds, events and logs are caught.
    #[test]
    fn scenarios_checker_rejects_wrong_outcomes() {
        let all = all();
        let find = |name: &str| all.iter().find(|s| s.name == name).unwrap().clone();
        let s = find("framing_content_length");
        let good = outcome_for(
            &s,
            vec![StepOutcome::Response(Ok((
                200,
                Bytes::from_static(b"hello"),
            )))],
        );
        assert!(check(&s, &good).is_ok());
        for wrong in [
            Ok((200, Bytes::from_static(b"hellO"))),
            Ok((201, Bytes::from_static(b"hello"))),
            Err(ErrorKind::Aborted),
        ] {
            let o = outcome_for(&s, vec![StepOutcome::Response(wrong)]);
            assert!(check(&s, &o).is_err());
        }
        let s = find("timeout_response_head");
        let o = outcome_for(
            &s,
            vec![StepOutcome::Response(Err(ErrorKind::Timeout {
                phase: Phase::BodyIdle,
            }))],
        );
        assert!(check(&s, &o).is_err(), "the wrong timeout phase is caught");
        // Right answers but the server log does not match (nothing received).
        let s = find("retry_get_on_503");
        let o = outcome_for(
            &s,
            vec![StepOutcome::Response(Ok((
                200,
                Bytes::from_static(b"fine"),
            )))],
        );
        assert!(check(&s, &o).unwrap_err().contains("received 0 requests"));
        let s = find("sse_reconnect_with_last_event_id");
        let o = outcome_for(
            &s,
            vec![StepOutcome::Events(Vec::new(), Some(ErrorKind::Aborted))],
        );
        assert!(check(&s, &o).is_err());
    }
}
