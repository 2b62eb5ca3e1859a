//! [`diff`]: the events that turn one [`SessionView`] into another — what a resync emits after a gap.

use super::SessionView;
use crate::{Event, PermissionReply, SessionStatus};

/// The events that, applied in order to a view equal to `from`, leave it equal to `to` (both with the same
/// [`SessionView::max_recent`]). Sessions first (deletions, then creations and updates, so the set of recent
/// sessions settles), then statuses, permissions, questions, and the recent sessions' messages and parts.
///
/// The server does not say what became of a request that vanished during a gap: a permission that is no
/// longer pending comes as `permission.replied` with [`PermissionReply::Reject`] (the actual reply was lost
/// with the gap), a vanished question as `question.rejected`.
pub fn diff(from: &SessionView, to: &SessionView) -> Vec<Event> {
    let mut d = Diff {
        work: from.clone(),
        out: Vec::new(),
    };
    for (id, s) in from.sessions.iter() {
        if !to.sessions.contains_key(id) {
            d.emit(Event::SessionDeleted { info: s.clone() });
        }
    }
    for (id, s) in to.sessions.iter() {
        match from.sessions.get(id) {
            None => d.emit(Event::SessionCreated { info: s.clone() }),
            Some(old) if old != s => d.emit(Event::SessionUpdated { info: s.clone() }),
            Some(_) => {}
        }
    }
    let idle: Vec<String> = d
        .work
        .status
        .keys()
        .filter(|id| !to.status.contains_key(*id))
        .cloned()
        .collect();
    for session_id in idle {
        d.emit(Event::SessionStatus {
            session_id,
            status: SessionStatus::Idle,
        });
    }
    for (id, st) in to.status.iter() {
        if d.work.status.get(id) != Some(st) {
            d.emit(Event::SessionStatus {
                session_id: id.clone(),
                status: st.clone(),
            });
        }
    }
    let gone: Vec<_> = d
        .work
        .permissions
        .values()
        .filter(|p| !to.permissions.contains_key(&p.id))
        .cloned()
        .collect();
    for p in gone {
        d.emit(Event::PermissionReplied {
            session_id: p.session_id,
            request_id: p.id,
            reply: PermissionReply::Reject,
        });
    }
    for (id, p) in to.permissions.iter() {
        if d.work.permissions.get(id) != Some(p) {
            d.emit(Event::PermissionAsked(p.clone()));
        }
    }
    let gone: Vec<_> = d
        .work
        .questions
        .values()
        .filter(|q| !to.questions.contains_key(&q.id))
        .cloned()
        .collect();
    for q in gone {
        d.emit(Event::QuestionRejected {
            session_id: q.session_id,
            request_id: q.id,
        });
    }
    for (id, q) in to.questions.iter() {
        if d.work.questions.get(id) != Some(q) {
            d.emit(Event::QuestionAsked {
                id: q.id.clone(),
                session_id: q.session_id.clone(),
                questions: q.questions.clone(),
            });
        }
    }
    for (sid, msgs) in to.messages.iter() {
        let have = d.work.messages.get(sid).cloned().unwrap_or_default();
        for (mid, _) in have.iter().filter(|(mid, _)| !msgs.contains_key(*mid)) {
            d.emit(Event::MessageRemoved {
                session_id: sid.clone(),
                message_id: mid.clone(),
            });
        }
        for (mid, m) in msgs.iter() {
            let old = have.get(mid);
            if old.map(|o| &o.info) != Some(&m.info) {
                d.emit(Event::MessageUpdated {
                    info: m.info.clone(),
                });
            }
            let old_parts = old.map(|o| o.parts.clone()).unwrap_or_default();
            for pid in old_parts.keys().filter(|p| !m.parts.contains_key(*p)) {
                d.emit(Event::MessagePartRemoved {
                    session_id: sid.clone(),
                    message_id: mid.clone(),
                    part_id: pid.clone(),
                });
            }
            for (pid, p) in m.parts.iter() {
                if old_parts.get(pid) != Some(p) {
                    d.emit(Event::MessagePartUpdated { part: p.clone() });
                }
            }
        }
    }
    d.out
}

struct Diff {
    work: SessionView,
    out: Vec<Event>,
}

impl Diff {
    fn emit(&mut self, ev: Event) {
        self.work.apply(&ev);
        self.out.push(ev);
    }
}
