//! Typed OpenCode events through the public API.

use plue_http_core::error::{ErrorKind, JsonOp};

#[test]
fn opencode_events_less_common_kinds_parse_to_their_variants() {
    use plue_opencode::Event;
    let parse = |kind: &str, props: serde_json::Value| {
        let data = serde_json::json!({"type": kind, "properties": props}).to_string();
        let ev = Event::parse(&data).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(ev.kind(), kind, "kind() names the wire type");
        ev
    };
    let ids =
        serde_json::json!({"sessionID": "s", "messageID": "m", "partID": "p", "requestID": "r"});
    match parse(
        "session.diff",
        serde_json::json!({"sessionID": "s", "diff": [{"file": "a"}]}),
    ) {
        Event::SessionDiff { session_id, diff } => assert_eq!(
            (session_id.as_str(), diff[0]["file"].as_str()),
            ("s", Some("a"))
        ),
        other => panic!("{other:?}"),
    }
    match parse("message.removed", ids.clone()) {
        Event::MessageRemoved {
            session_id,
            message_id,
        } => assert_eq!((session_id.as_str(), message_id.as_str()), ("s", "m")),
        other => panic!("{other:?}"),
    }
    match parse("message.part.removed", ids.clone()) {
        Event::MessagePartRemoved { part_id, .. } => assert_eq!(part_id, "p"),
        other => panic!("{other:?}"),
    }
    match parse(
        "question.asked",
        serde_json::json!({"id": "q", "sessionID": "s", "questions": [{"text": "?"}]}),
    ) {
        Event::QuestionAsked {
            id,
            session_id,
            questions,
        } => {
            assert_eq!(
                (
                    id.as_str(),
                    session_id.as_str(),
                    questions[0]["text"].as_str()
                ),
                ("q", "s", Some("?"))
            )
        }
        other => panic!("{other:?}"),
    }
    match parse(
        "question.replied",
        serde_json::json!({"sessionID": "s", "requestID": "r", "answers": ["yes"]}),
    ) {
        Event::QuestionReplied {
            request_id,
            answers,
            ..
        } => assert_eq!(
            (request_id.as_str(), answers[0].as_str()),
            ("r", Some("yes"))
        ),
        other => panic!("{other:?}"),
    }
    match parse("question.rejected", ids.clone()) {
        Event::QuestionRejected {
            session_id,
            request_id,
        } => assert_eq!((session_id.as_str(), request_id.as_str()), ("s", "r")),
        other => panic!("{other:?}"),
    }
    match parse(
        "todo.updated",
        serde_json::json!({"sessionID": "s", "todos": [{"content": "x"}]}),
    ) {
        Event::TodoUpdated { session_id, todos } => assert_eq!(
            (session_id.as_str(), todos[0]["content"].as_str()),
            ("s", Some("x"))
        ),
        other => panic!("{other:?}"),
    }
    // A known type with the wrong shape is kept as `Unknown` with its raw payload (documented: parsing errors
    // only when the payload is not a JSON object), never a panic or a variant with made-up fields.
    match Event::parse(r#"{"type":"message.removed","properties":{"sessionID":1}}"#).unwrap() {
        Event::Unknown { kind, raw } => assert_eq!(
            (kind.as_str(), &raw["properties"]["sessionID"]),
            ("message.removed", &serde_json::json!(1))
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Event::parse("[1]"),
        Err(ErrorKind::Json {
            op: JsonOp::Decode,
            ..
        })
    ));
    // Unknown types are kept, not refused (newer servers add events).
    assert_eq!(
        Event::parse(r#"{"type":"lsp.updated","properties":{}}"#)
            .unwrap()
            .kind(),
        "lsp.updated"
    );
}
