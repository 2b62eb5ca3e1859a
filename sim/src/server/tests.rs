//! Scripted-server behaviour: framing, pipelining order, timing, faults, the request record.

use core::time::Duration;

use super::*;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Drain outputs at `now` into (text sent, closed, reset).
fn drain(s: &mut ScriptedServer, now: Instant) -> (String, bool, bool, Option<Instant>) {
    let (mut text, mut closed, mut reset) = (String::new(), false, false);
    loop {
        match s.poll_output(now) {
            SrvOutput::Transmit(_, b) => text.push_str(&String::from_utf8_lossy(&b)),
            SrvOutput::Close(_) => closed = true,
            SrvOutput::Reset(_) => reset = true,
            SrvOutput::Wait(d) => return (text, closed, reset, d),
        }
    }
}

#[test]
fn sim_server_pipelined_requests_answer_in_order_and_record_reuse() {
    let script = Script::new()
        .route(Route::new(
            "/slow",
            vec![Reply::ok("slow").delay_head(Duration::from_millis(50))],
        ))
        .route(Route::new(
            "/fast",
            vec![Reply::ok("fast").framing(Framing::Chunked)],
        ));
    let mut s = ScriptedServer::new(script);
    let c = s.accept(ms(0));
    s.handle_data(
        ms(0),
        c,
        b"GET /slow HTTP/1.1\r\nx-sim-tag: a\r\n\r\nGET /fast HTTP/1.1\r\nx-sim-tag: b\r\n\r\n",
    );
    let (text, ..) = drain(&mut s, ms(0));
    assert_eq!(text, "", "the second reply must wait for the first");
    let (text, closed, _, _) = drain(&mut s, ms(50));
    let slow = text.find("slow").unwrap();
    let fast = text.find("fast").unwrap();
    assert!(slow < fast);
    assert!(text.contains("x-sim-tag: a\r\n") && text.contains("x-sim-tag: b\r\n"));
    assert!(!closed);
    let log = s.requests();
    assert_eq!(log.len(), 2);
    assert!(!log[0].reused() && log[1].reused());
    assert!(log[0].executed && log[1].executed);
    assert!(s.is_idle_keep_alive(c));
}

#[test]
fn sim_server_replies_in_script_order_then_repeat_last() {
    let script = Script::new().route(Route::new(
        "/r",
        vec![Reply::new(503, "busy"), Reply::ok("fine")],
    ));
    let mut s = ScriptedServer::new(script);
    let mut statuses = Vec::new();
    for i in 0..3 {
        let c = s.accept(ms(i));
        s.handle_data(
            ms(i),
            c,
            b"POST /r?x=1 HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi",
        );
        let (text, ..) = drain(&mut s, ms(i));
        statuses.push(text[9..12].to_string());
    }
    assert_eq!(statuses, ["503", "200", "200"]);
    assert!(!s.requests()[0].executed && s.requests()[1].executed);
    assert_eq!(&s.requests()[2].body[..], b"hi");
    assert_eq!(s.requests()[2].path(), "/r");
}

#[test]
fn sim_server_reset_mid_body_and_close_delimited() {
    let script = Script::new()
        .route(Route::new(
            "/cut",
            vec![Reply::ok("0123456789").reset_after(40)],
        ))
        .route(Route::new(
            "/eof",
            vec![Reply::ok("body").framing(Framing::CloseDelimited)],
        ));
    let mut s = ScriptedServer::new(script);
    let c = s.accept(ms(0));
    s.handle_data(ms(0), c, b"GET /cut HTTP/1.1\r\n\r\n");
    let (text, closed, reset, _) = drain(&mut s, ms(0));
    assert_eq!(text.len(), 40);
    assert!(reset && !closed);
    assert!(!s.is_open(c));
    let c = s.accept(ms(0));
    s.handle_data(ms(0), c, b"GET /eof HTTP/1.1\r\n\r\n");
    let (text, closed, reset, _) = drain(&mut s, ms(0));
    assert!(text.ends_with("\r\n\r\nbody") && !text.contains("content-length"));
    assert!(closed && !reset);
}

#[test]
fn sim_server_sse_heartbeats_and_publishes() {
    struct H;
    impl Handler for H {
        fn handle(&mut self, now: Instant, req: &ReceivedRequest, ctx: &mut Ctx) -> Reply {
            if req.path() == "/event" {
                return Reply::sse(SseScript {
                    items: vec![(Duration::ZERO, SseItem::event("hello", "{}"))],
                    heartbeat: Some((Duration::from_secs(10), SseItem::Comment("hb".into()))),
                    end: SseEnd::Hang,
                    channel: Some("bus".into()),
                });
            }
            ctx.publish_at(
                now + Duration::from_millis(5),
                "bus",
                SseItem::event("delta", "x"),
            );
            Reply::ok("queued")
        }
    }
    let mut s = ScriptedServer::with_handler(Box::new(H), ServerConfig::default());
    let ev = s.accept(ms(0));
    s.handle_data(ms(0), ev, b"GET /event HTTP/1.1\r\n\r\n");
    let (text, _, _, wait) = drain(&mut s, ms(0));
    assert!(text.contains("text/event-stream") && text.contains("event: hello\n"));
    assert_eq!(wait, Some(ms(10_000)));
    let c = s.accept(ms(1));
    s.handle_data(
        ms(1),
        c,
        b"POST /prompt HTTP/1.1\r\ncontent-length: 0\r\n\r\n",
    );
    let (text, _, _, wait) = drain(&mut s, ms(1));
    assert!(text.contains("queued"));
    assert_eq!(wait, Some(ms(6)));
    let (text, ..) = drain(&mut s, ms(6));
    assert!(text.contains("event: delta\ndata: x\n\n"));
    let (text, ..) = drain(&mut s, ms(20_000));
    assert_eq!(text.matches(": hb").count(), 2);
    s.handle_eof(ms(20_001), ev);
    let (_, closed, ..) = drain(&mut s, ms(20_001));
    assert!(closed);
}

#[test]
fn sim_server_idle_timeout_and_malformed_request() {
    let mut s = ScriptedServer::with_handler(
        Box::new(Script::new()),
        ServerConfig {
            idle_timeout: Some(Duration::from_secs(5)),
        },
    );
    let c = s.accept(ms(0));
    s.handle_data(ms(0), c, b"GET /none HTTP/1.1\r\n\r\n");
    let (text, closed, _, wait) = drain(&mut s, ms(0));
    assert!(text.starts_with("HTTP/1.1 404"));
    assert!(!closed);
    assert_eq!(wait, Some(ms(5_000)));
    let (_, closed, ..) = drain(&mut s, ms(5_000));
    assert!(closed);
    let c = s.accept(ms(0));
    s.handle_data(ms(0), c, b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
    let (text, closed, ..) = drain(&mut s, ms(0));
    assert!(text.starts_with("HTTP/1.1 400") && closed);
}

#[test]
fn sim_server_answered_at_is_the_last_byte_not_a_trailing_pause() {
    let script = Script::new().route(Route::new(
        "/empty",
        vec![Reply::ok("").stall_body(Duration::from_secs(2))],
    ));
    let mut s = ScriptedServer::new(script);
    let c = s.accept(ms(0));
    s.handle_data(
        ms(10),
        c,
        b"GET /empty HTTP/1.1\r\n\r\nGET /empty HTTP/1.1\r\n\r\n",
    );
    let (text, ..) = drain(&mut s, ms(10));
    assert!(text.contains("content-length: 0"));
    // The second reply waits for the first plan's pause, but the first reply was complete at its head.
    drain(&mut s, ms(2_010));
    drain(&mut s, ms(4_010));
    let log = s.requests();
    assert_eq!(log[0].answered_at, Some(ms(10)));
    assert_eq!(log[1].answered_at, Some(ms(2_010)));
}
