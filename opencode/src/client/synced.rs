//! [`Synced`]: a typed `/event` stream that resyncs after every gap, so a [`SessionView`] that follows it stays
//! equal to one built from GET calls, and that ends the wait for a reply the server lost.
//!
//! It keeps its own view (the shadow) of what its events said. When the stream is live again after a gap (the
//! first `server.connected` after `Resumed` or `Resubscribed`, which proves the new subscription is registered
//! on the server's bus), it fetches a [`Snapshot`], emits the diff from the shadow as [`SyncItem::Resync`]
//! events, then judges the sessions it waits on ([`check_wait`]). The inner stream is not read while the
//! snapshot is fetched, so events keep their order; an event sent between a GET and its delivery is applied
//! again after the resync, which is harmless for every event that sets state (all but `message.part.delta`,
//! whose part's next whole update replaces the text).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::{BTreeSet, VecDeque};

use futures_lite::Stream;

use super::events::{EventItem, Events};
use super::opencode::OpenCode;
use crate::resync::{check_wait, Gap, SyncItem, WaitVerdict};
use crate::view::{diff, SessionView, Snapshot, DEFAULT_MAX_RECENT};
use crate::Event;
use plue_http_core::error::Error;
use plue_http_core::sse::StreamEvent;

type Fetch = Pin<Box<dyn Future<Output = Result<Snapshot, Error>> + Send>>;

/// Fetch what a [`SessionView`] holds from the server: sessions, statuses, pending permissions and questions,
/// and the messages of the `max_recent` most recently updated sessions and of `extra` sessions.
pub async fn fetch_snapshot(
    oc: &OpenCode,
    max_recent: usize,
    extra: &[String],
) -> Result<Snapshot, Error> {
    let mut snap = Snapshot {
        sessions: oc.sessions().await?,
        status: oc.session_status().await?,
        permissions: oc.permissions().await?,
        questions: oc.call(oc.api().questions()).await?,
        ..Snapshot::default()
    };
    let mut wanted = SessionView::from_snapshot(max_recent, &snap).recent();
    wanted.extend(extra.iter().cloned());
    wanted.sort();
    wanted.dedup();
    for id in wanted {
        let msgs = oc.messages(&id).await?;
        snap.messages.insert(id, msgs);
    }
    Ok(snap)
}

/// A typed `/event` stream with resync after gaps (see the module docs). An `Err` ends it; a 401 ends it with
/// [`ErrorKind::Status`](plue_http_core::error::ErrorKind::Status) (classified as
/// [`ApiErrorKind::Unauthorized`](crate::ApiErrorKind::Unauthorized)), which names no credential.
pub struct Synced {
    opencode: OpenCode,
    inner: Events<Event>,
    shadow: SessionView,
    waiting: BTreeSet<String>,
    /// Waited sessions seen working (busy, or an assistant message) since the wait began: only for these does
    /// an idle session whose last message is the prompt mean a lost reply, not a prompt the server has not
    /// started yet.
    working: BTreeSet<String>,
    queue: VecDeque<SyncItem>,
    fetch: Option<Fetch>,
    /// A resync is due at the next `server.connected` (the stream is subscribed again) or heartbeat (a fetch
    /// failed: try again every 10 s, never at every event).
    due: bool,
    initial: bool,
}

impl core::fmt::Debug for Synced {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Synced")
            .field("waiting", &self.waiting)
            .field("due", &self.due)
            .finish_non_exhaustive()
    }
}

impl Synced {
    /// Resync `events` (a `/event` stream of `opencode`), keeping the messages of the `max_recent` most recently
    /// updated sessions. The first sync runs when the stream first reports `server.connected`.
    pub fn new(opencode: OpenCode, events: Events<Event>, max_recent: usize) -> Synced {
        Synced {
            opencode,
            inner: events,
            shadow: SessionView::new(max_recent),
            waiting: BTreeSet::new(),
            working: BTreeSet::new(),
            queue: VecDeque::new(),
            fetch: None,
            due: true,
            initial: true,
        }
    }

    /// The view the stream's items built so far (equal to the server's state after each [`SyncItem::Synced`]).
    pub fn view(&self) -> &SessionView {
        &self.shadow
    }

    /// Wait for a reply in `session_id`: every resync checks it, and yields [`SyncItem::ReplyLost`] when the
    /// server lost it, or (as [`SyncItem::Resync`]) the `session.idle` / `session.error` a gap swallowed.
    pub fn wait_for(&mut self, session_id: impl Into<String>) {
        let id = session_id.into();
        self.working.remove(&id);
        self.waiting.insert(id);
    }

    /// Stop waiting for `session_id`.
    pub fn stop_waiting(&mut self, session_id: &str) {
        self.waiting.remove(session_id);
        self.working.remove(session_id);
    }

    /// Note a waited session at work.
    fn note_working(&mut self, ev: &Event) {
        let working = match ev {
            Event::SessionStatus { status, .. } => *status != crate::SessionStatus::Idle,
            Event::MessageUpdated { info } => info.role == crate::Role::Assistant,
            _ => false,
        };
        if let Some(id) = ev
            .session_id()
            .filter(|id| working && self.waiting.contains(*id))
        {
            self.working.insert(id.to_string());
        }
    }

    /// Abort the stream now; it ends with [`ErrorKind::Aborted`](plue_http_core::error::ErrorKind::Aborted).
    pub fn abort(&self) {
        self.inner.abort();
    }

    fn start_fetch(&mut self) {
        let oc = self.opencode.clone();
        let max = self.shadow.max_recent();
        let extra: Vec<String> = self.waiting.iter().cloned().collect();
        self.fetch = Some(Box::pin(
            async move { fetch_snapshot(&oc, max, &extra).await },
        ));
        self.due = false;
    }

    /// Emit the diff, the verdicts on waited sessions, and adopt the fresh view.
    fn finish(&mut self, snap: Snapshot) {
        let fresh = SessionView::from_snapshot(self.shadow.max_recent(), &snap);
        let events = diff(&self.shadow, &fresh);
        let mut changes = events.len();
        self.queue.extend(events.into_iter().map(SyncItem::Resync));
        for id in self.waiting.clone() {
            match check_wait(&snap, &id) {
                WaitVerdict::Working => {}
                WaitVerdict::Finished => {
                    changes += 1;
                    self.queue
                        .push_back(SyncItem::Resync(Event::SessionIdle { session_id: id }));
                }
                WaitVerdict::Failed(error) => {
                    changes += 1;
                    self.queue.push_back(SyncItem::Resync(Event::SessionError {
                        session_id: Some(id),
                        error: Some(error),
                    }));
                }
                WaitVerdict::Lost(lost)
                    if lost.message_id.is_none() && !self.working.contains(&id) => {}
                WaitVerdict::Lost(lost) => self.queue.push_back(SyncItem::ReplyLost(lost)),
            }
        }
        // The lost-reply verdicts come after the Synced marker's count, which counts events only.
        let at = self
            .queue
            .iter()
            .position(|i| matches!(i, SyncItem::ReplyLost(_)))
            .unwrap_or(self.queue.len());
        self.queue.insert(
            at,
            SyncItem::Synced {
                changes,
                initial: self.initial,
            },
        );
        self.initial = false;
        self.shadow = fresh;
    }

    fn gap(&mut self, gap: Gap) {
        self.queue.push_back(SyncItem::Gap(gap));
        self.due = true;
    }
}

impl Stream for Synced {
    type Item = Result<SyncItem, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.queue.pop_front() {
                return Poll::Ready(Some(Ok(item)));
            }
            if let Some(fetch) = this.fetch.as_mut() {
                match fetch.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => {
                        this.fetch = None;
                        match r {
                            Ok(snap) => this.finish(snap),
                            Err(e) => {
                                this.due = true;
                                this.queue.push_back(SyncItem::ResyncFailed(e));
                            }
                        }
                        continue;
                    }
                }
            }
            let item = match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(item))) => item,
            };
            match item {
                EventItem::Event(ev) => {
                    let live = ev.is_connected() || ev == Event::ServerHeartbeat;
                    this.note_working(&ev);
                    this.shadow.apply(&ev);
                    this.queue.push_back(SyncItem::Event(ev));
                    if this.due && live {
                        this.start_fetch();
                    }
                }
                EventItem::Stream(StreamEvent::Resumed { last_event_id }) => {
                    this.queue
                        .push_back(SyncItem::Stream(StreamEvent::Resumed { last_event_id }));
                    this.gap(Gap::Reconnected);
                }
                EventItem::Resubscribed { url } => this.gap(Gap::Resubscribed { url }),
                EventItem::Stream(other) => this.queue.push_back(SyncItem::Stream(other)),
            }
        }
    }
}

impl OpenCode {
    /// `/event` with resync after gaps (see [`Synced`]), keeping the messages of the
    /// [`DEFAULT_MAX_RECENT`] most recently updated sessions.
    pub fn synced_events(&self) -> Synced {
        Synced::new(self.clone(), self.events(), DEFAULT_MAX_RECENT)
    }
}
