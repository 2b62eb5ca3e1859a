//! The view folds a real chat's events; a diff between any two points of it turns one into the other.

use super::*;
use crate::{MessageWithParts, PermissionReply, Role};

fn chat() -> Vec<Event> {
    fixture!("event_chat.txt")
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| Event::parse(d).unwrap())
        .collect()
}

const SES: &str = "ses_df042e4abffe5Rn2JeQcG51t96";

fn fold(events: &[Event]) -> SessionView {
    let mut v = SessionView::default();
    for e in events {
        v.apply(e);
    }
    v
}

fn ev(s: &str) -> Event {
    Event::parse(s).unwrap()
}

#[test]
fn opencode_view_folds_a_real_chat() {
    let v = fold(&chat());
    assert!(v.sessions().contains_key(SES));
    assert_eq!(v.status(SES), SessionStatus::Idle);
    let msgs = v.messages(SES).unwrap();
    let replies: Vec<String> = msgs
        .values()
        .filter(|m| m.info.role == Role::Assistant)
        .map(|m| {
            m.parts
                .values()
                .filter_map(|p| p.as_text())
                .collect::<String>()
        })
        .collect();
    assert_eq!(replies, vec!["Hello from the mock.".to_string(); 3]);
    assert!(msgs.values().all(|m| !m.is_unfinished_reply()));
}

#[test]
fn opencode_view_folded_equals_built_from_the_messages_call() {
    // messages.json is `GET /session/{id}/message` of the same session after its first prompt: the view built
    // from it keeps exactly what the events of that prompt left.
    let all = chat();
    let messages: Vec<MessageWithParts> = serde_json::from_str(fixture!("messages.json")).unwrap();
    let last = messages.last().unwrap().info.id.clone();
    // Fold up to (and including) the last update of that message, then compare messages only.
    let end = all
        .iter()
        .rposition(|e| matches!(e, Event::MessageUpdated { info } if info.id == last))
        .unwrap();
    let folded = fold(&all[..=end]);
    let session = folded.sessions()[SES].clone();
    let snap = Snapshot {
        sessions: vec![session],
        messages: [(SES.to_string(), messages)].into_iter().collect(),
        ..Snapshot::default()
    };
    let built = SessionView::from_snapshot(DEFAULT_MAX_RECENT, &snap);
    assert_eq!(folded.messages(SES), built.messages(SES));
}

#[test]
fn opencode_view_diff_between_any_two_points_of_a_chat_converges() {
    let all = chat();
    let full = fold(&all);
    for k in (0..all.len()).step_by(7) {
        let mut v = fold(&all[..k]);
        for e in diff(&v, &full) {
            v.apply(&e);
        }
        assert_eq!(v, full, "from the view after {k} events");
        // And backwards: the diff also removes what a later view no longer has.
        let early = fold(&all[..k]);
        let mut back = full.clone();
        for e in diff(&full, &early) {
            back.apply(&e);
        }
        assert_eq!(back, early, "back to the view after {k} events");
    }
    assert!(diff(&full, &full).is_empty());
}

#[test]
fn opencode_view_permissions_questions_statuses_and_deletion() {
    let mut v = SessionView::default();
    v.apply(&ev(r#"{"type":"session.created","properties":{"info":{"id":"ses_1","title":"t","time":{"created":1,"updated":1}}}}"#));
    v.apply(&ev(
        r#"{"type":"session.status","properties":{"sessionID":"ses_1","status":{"type":"busy"}}}"#,
    ));
    v.apply(&ev(r#"{"type":"permission.asked","properties":{"id":"per_1","sessionID":"ses_1","permission":"bash","patterns":["ls"],"always":[]}}"#));
    v.apply(&ev(r#"{"type":"question.asked","properties":{"id":"que_1","sessionID":"ses_1","questions":[{"question":"which?"}]}}"#));
    v.apply(&ev(r#"{"type":"message.updated","properties":{"info":{"id":"msg_1","sessionID":"ses_1","role":"assistant","time":{"created":2}}}}"#));
    assert_eq!(v.status("ses_1"), SessionStatus::Busy);
    assert!(v.permissions().contains_key("per_1"));
    assert!(v.questions().contains_key("que_1"));
    assert!(v.messages("ses_1").unwrap()["msg_1"].is_unfinished_reply());
    let before = v.clone();
    v.apply(&Event::PermissionReplied {
        session_id: "ses_1".into(),
        request_id: "per_1".into(),
        reply: PermissionReply::Once,
    });
    v.apply(&ev(
        r#"{"type":"question.rejected","properties":{"sessionID":"ses_1","requestID":"que_1"}}"#,
    ));
    v.apply(&ev(
        r#"{"type":"session.idle","properties":{"sessionID":"ses_1"}}"#,
    ));
    assert!(v.permissions().is_empty() && v.questions().is_empty());
    assert_eq!(v.status("ses_1"), SessionStatus::Idle);
    // The diff back re-asks what is pending again.
    let mut again = v.clone();
    for e in diff(&v, &before) {
        again.apply(&e);
    }
    assert_eq!(again, before);
    // Deleting the session drops everything of it.
    let info = before.sessions()["ses_1"].clone();
    let mut gone = before.clone();
    gone.apply(&Event::SessionDeleted { info });
    assert!(gone.sessions().is_empty() && gone.permissions().is_empty());
    assert!(gone.questions().is_empty() && gone.all_messages().is_empty());
    assert!(gone.statuses().is_empty());
}

#[test]
fn opencode_view_keeps_messages_of_the_most_recent_sessions_only() {
    let mut v = SessionView::new(1);
    let created = |id: &str, t: u32| {
        ev(&format!(
            r#"{{"type":"session.updated","properties":{{"info":{{"id":"{id}","time":{{"created":1,"updated":{t}}}}}}}}}"#
        ))
    };
    v.apply(&created("ses_a", 1));
    v.apply(&ev(r#"{"type":"message.updated","properties":{"info":{"id":"msg_1","sessionID":"ses_a","role":"user"}}}"#));
    assert_eq!(v.recent(), ["ses_a"]);
    v.apply(&created("ses_b", 2));
    assert_eq!(v.recent(), ["ses_b"]);
    assert!(v.messages("ses_a").is_none());
    // Events of a session that is not recent are not kept.
    v.apply(&ev(r#"{"type":"message.updated","properties":{"info":{"id":"msg_2","sessionID":"ses_a","role":"user"}}}"#));
    assert!(v.messages("ses_a").is_none());
    assert!(v.messages("ses_b").unwrap().is_empty());
}
