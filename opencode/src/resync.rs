//! Resync after a gap, the pure part: what a [`Synced`](crate::Synced) stream yields, and what a fresh
//! snapshot says about the replies an app is waiting for.
//!
//! OpenCode's streams carry no `id:` lines, so events sent while a stream was down are lost. After every
//! reconnect the stream fetches a [`Snapshot`] with GET calls, and emits the [`diff`](crate::view::diff)
//! between the view its events built and the fresh one as [`SyncItem::Resync`] events: a view that follows the
//! stream ends up equal to one built from the GET calls. The same snapshot decides, for each session the app
//! waits on, whether the reply finished during the gap or was lost with a server restart ([`check_wait`]).

use core::fmt;

use crate::view::Snapshot;
use crate::{Event, MessageWithParts, Role, SessionStatus};
use plue_http_core::sse::StreamEvent;

/// Why events may have been missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// The stream reconnected by itself (`StreamEvent::Resumed`).
    Reconnected,
    /// The stream was opened anew at `url` (the server restarted or moved, or the credentials changed).
    Resubscribed {
        /// The server URL now.
        url: String,
    },
    /// A subscriber's queue was full and `missed` items were dropped.
    Lagged {
        /// How many items were dropped.
        missed: usize,
    },
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gap::Reconnected => f.write_str("the event stream reconnected"),
            Gap::Resubscribed { url } => write!(f, "the event stream was reopened at {url}"),
            Gap::Lagged { missed } => write!(f, "{missed} events were dropped for a slow reader"),
        }
    }
}

/// A reply the server lost: the session is idle, but the reply never finished (or never started). The prompt is
/// still in the session, so sending it again repeats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLost {
    /// The session.
    pub session_id: String,
    /// The unfinished assistant message, when the server had started one.
    pub message_id: Option<String>,
}

impl fmt::Display for ReplyLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the server restarted and the reply was lost; the prompt was kept")
    }
}

impl std::error::Error for ReplyLost {}

/// One item of a [`Synced`](crate::Synced) stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncItem {
    /// A live event.
    Event(Event),
    /// An event derived by a resync: what the lost events would have changed.
    Resync(Event),
    /// Events may have been missed; a resync follows once the stream is live again.
    Gap(Gap),
    /// A resync finished: `changes` [`SyncItem::Resync`] events were emitted. `initial` for the first one,
    /// which loads the state the server had when the stream opened.
    Synced {
        /// How many events the resync emitted.
        changes: usize,
        /// The first sync of the stream rather than one after a gap.
        initial: bool,
    },
    /// A resync could not fetch the server's state; it is tried again at the next heartbeat (every 10 s) or
    /// reconnect.
    ResyncFailed(plue_http_core::error::Error),
    /// A reply the stream was told to wait for ([`Synced::wait_for`](crate::Synced::wait_for)) was lost.
    ReplyLost(ReplyLost),
    /// Every other stream item: `Connected`, `Reconnecting`, `Resumed`, comments, skipped or unparsed events.
    Stream(StreamEvent),
}

/// What a snapshot says about a reply the app waits for in `session_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitVerdict {
    /// The session is still working (or has nothing to say yet).
    Working,
    /// The session is idle and its last message is a finished assistant reply: the reply completed during the
    /// gap.
    Finished,
    /// The session is idle and its last message is an assistant reply that ended with this error.
    Failed(serde_json::Value),
    /// The session is idle and the reply is unfinished, or the prompt has no reply at all: lost.
    Lost(ReplyLost),
}

/// Judge a waited-for session from a snapshot (its messages must be in [`Snapshot::messages`]).
pub fn check_wait(snap: &Snapshot, session_id: &str) -> WaitVerdict {
    let busy = snap
        .status
        .get(session_id)
        .is_some_and(|s| *s != SessionStatus::Idle);
    let Some(msgs) = snap.messages.get(session_id) else {
        return WaitVerdict::Working;
    };
    // Message ids sort by creation time.
    let last: Option<&MessageWithParts> = msgs.iter().max_by(|a, b| a.info.id.cmp(&b.info.id));
    match last {
        _ if busy => WaitVerdict::Working,
        None => WaitVerdict::Working,
        Some(m) if m.info.role == Role::Assistant => {
            if let Some(e) = &m.info.error {
                WaitVerdict::Failed(e.clone())
            } else if m.info.time.completed.is_none() {
                WaitVerdict::Lost(ReplyLost {
                    session_id: session_id.to_string(),
                    message_id: Some(m.info.id.clone()),
                })
            } else {
                WaitVerdict::Finished
            }
        }
        // An idle session whose last word is the user's prompt: the server forgot it was working on it (the caller
        // must know the session was seen working since the prompt: just after `prompt_async` the server may not
        // have started yet).
        Some(m) if m.info.role == Role::User => WaitVerdict::Lost(ReplyLost {
            session_id: session_id.to_string(),
            message_id: None,
        }),
        Some(_) => WaitVerdict::Working,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(status: Option<SessionStatus>, msgs: &str) -> Snapshot {
        let mut s = Snapshot::default();
        if let Some(st) = status {
            s.status.insert("ses_1".into(), st);
        }
        s.messages
            .insert("ses_1".into(), serde_json::from_str(msgs).unwrap());
        s
    }

    const USER: &str = r#"{"info":{"id":"msg_1","sessionID":"ses_1","role":"user"},"parts":[]}"#;
    const OPEN: &str = r#"{"info":{"id":"msg_2","sessionID":"ses_1","role":"assistant","time":{"created":1}},"parts":[]}"#;
    const DONE: &str = r#"{"info":{"id":"msg_2","sessionID":"ses_1","role":"assistant","time":{"created":1,"completed":2}},"parts":[]}"#;
    const FAILED: &str = r#"{"info":{"id":"msg_2","sessionID":"ses_1","role":"assistant","error":{"name":"X"}},"parts":[]}"#;

    #[test]
    fn opencode_resync_idle_with_an_unfinished_reply_is_lost() {
        let lost = check_wait(&snap(None, &format!("[{USER},{OPEN}]")), "ses_1");
        assert_eq!(
            lost,
            WaitVerdict::Lost(ReplyLost {
                session_id: "ses_1".into(),
                message_id: Some("msg_2".into())
            })
        );
        let WaitVerdict::Lost(l) = lost else {
            unreachable!()
        };
        assert_eq!(
            l.to_string(),
            "the server restarted and the reply was lost; the prompt was kept"
        );
        // The prompt alone, idle: lost too.
        assert!(matches!(
            check_wait(&snap(None, &format!("[{USER}]")), "ses_1"),
            WaitVerdict::Lost(ReplyLost {
                message_id: None,
                ..
            })
        ));
    }

    #[test]
    fn opencode_resync_busy_finished_failed_and_unknown_are_not_lost() {
        let busy = snap(Some(SessionStatus::Busy), &format!("[{USER},{OPEN}]"));
        assert_eq!(check_wait(&busy, "ses_1"), WaitVerdict::Working);
        let done = snap(None, &format!("[{DONE},{USER}]").replace("msg_1", "msg_0"));
        // Order in the answer does not matter: ids do. msg_2 (done) is the last.
        assert_eq!(check_wait(&done, "ses_1"), WaitVerdict::Finished);
        let failed = snap(None, &format!("[{USER},{FAILED}]"));
        assert_eq!(
            check_wait(&failed, "ses_1"),
            WaitVerdict::Failed(serde_json::json!({"name": "X"}))
        );
        assert_eq!(check_wait(&snap(None, "[]"), "ses_1"), WaitVerdict::Working);
        assert_eq!(
            check_wait(&Snapshot::default(), "ses_1"),
            WaitVerdict::Working
        );
    }
}
