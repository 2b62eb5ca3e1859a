//! [`Hub`]: many subscribers over one resyncing event connection, each filtered (by session or directory) and
//! with its own bounded queue. A subscriber that falls behind never blocks the others: once its queue is full
//! it misses items, and when it has drained its queue it is told it lagged ([`Gap::Lagged`]) and gets a resync
//! computed from the hub's view, so it ends up where the others are.
//!
//! ```text
//!  Synced (one /event connection) ──▶ pump task: for each subscriber, try_send or mark lagged; fold the view
//!                                          │
//!         Subscription::poll_next ◀────────┘ queue empty and lagged? diff(view when it lagged, view now)
//! ```
//!
//! The pump and a lagging subscriber agree through one lock: the pump dispatches an item and folds it into the
//! view under it, and a subscriber takes its lag and copies the view under it, so no item falls between the
//! resync and the queue.

use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_channel::{Receiver, Sender, TrySendError};
use futures_lite::{Stream, StreamExt};

use crate::manager::Host;
use crate::resync::{Gap, SyncItem};
use crate::view::{diff, SessionView};
use crate::Event;
use plue_http_core::error::Error;

/// Which items a subscriber gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// Only events of this session (and stream-wide items: gaps, sync markers, connection feedback).
    pub session: Option<String>,
    /// Only events of sessions working in this directory (as the sessions say; an event of a session the hub
    /// has not seen yet does not pass).
    pub directory: Option<String>,
}

impl Filter {
    /// Every item.
    pub fn all() -> Filter {
        Filter::default()
    }

    /// One session's events.
    pub fn session(id: impl Into<String>) -> Filter {
        Filter {
            session: Some(id.into()),
            directory: None,
        }
    }

    /// The events of sessions in one directory.
    pub fn directory(dir: impl Into<String>) -> Filter {
        Filter {
            session: None,
            directory: Some(dir.into()),
        }
    }

    /// Whether `event` passes, judged against `view` (and `before`, for a session that was just deleted).
    fn passes_event(
        &self,
        event: &Event,
        view: &SessionView,
        before: Option<&SessionView>,
    ) -> bool {
        if self.session.is_none() && self.directory.is_none() {
            return true;
        }
        let Some(sid) = event.session_id() else {
            // Server-wide events reach everyone; other events without a session (files, unknown types) cannot
            // be placed, so a filtered subscriber does not get them.
            return matches!(
                event,
                Event::ServerConnected
                    | Event::LegacyConnected
                    | Event::ServerHeartbeat
                    | Event::ServerInstanceDisposed { .. }
                    | Event::GlobalDisposed
            );
        };
        if self.session.as_deref().is_some_and(|s| s != sid) {
            return false;
        }
        match &self.directory {
            None => true,
            Some(dir) => {
                let of = |v: &SessionView| v.sessions().get(sid).map(|s| s.directory == *dir);
                let direct = match event {
                    Event::SessionCreated { info }
                    | Event::SessionUpdated { info }
                    | Event::SessionDeleted { info } => Some(info.directory == *dir),
                    _ => None,
                };
                direct
                    .or_else(|| of(view))
                    .or_else(|| before.and_then(of))
                    .unwrap_or(false)
            }
        }
    }

    fn passes(&self, item: &SyncItem, view: &SessionView) -> bool {
        match item {
            SyncItem::Event(e) | SyncItem::Resync(e) => self.passes_event(e, view, None),
            SyncItem::ReplyLost(l) => self.session.as_ref().is_none_or(|s| *s == l.session_id),
            _ => true,
        }
    }
}

/// A subscriber that fell behind: the view it had when its queue overflowed, and how many items it missed.
struct Lag {
    base: SessionView,
    missed: usize,
    /// The subscriber's first catch-up: the state so far, not a gap.
    initial: bool,
}

struct Slot {
    tx: Sender<Result<SyncItem, Error>>,
    filter: Filter,
    lag: Arc<Mutex<Option<Lag>>>,
}

struct State {
    view: SessionView,
    slots: Vec<Slot>,
}

/// One event connection shared by many subscribers (see the module docs). Dropping the hub and every
/// subscription stops the connection.
#[derive(Clone)]
pub struct Hub {
    state: Arc<Mutex<State>>,
}

impl core::fmt::Debug for Hub {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hub")
            .field("subscribers", &self.lock().slots.len())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Pump `upstream` (normally a [`Synced`](crate::Synced) stream) on `host` to every subscriber. The hub's
    /// view keeps the messages of the `max_recent` most recently updated sessions (use the upstream's).
    pub fn start<H, S>(host: &H, upstream: S, max_recent: usize) -> Hub
    where
        H: Host,
        S: Stream<Item = Result<SyncItem, Error>> + Send + Unpin + 'static,
    {
        let state = Arc::new(Mutex::new(State {
            view: SessionView::new(max_recent),
            slots: Vec::new(),
        }));
        let hub = Hub {
            state: state.clone(),
        };
        let weak = Arc::downgrade(&state);
        host.spawn(async move {
            let mut upstream = upstream;
            while let Some(item) = upstream.next().await {
                let Some(state) = weak.upgrade() else { return };
                let end = item.is_err();
                dispatch(&mut state.lock().unwrap_or_else(|e| e.into_inner()), item);
                if end {
                    break;
                }
            }
            // Closing every queue ends every subscription once it is drained.
            if let Some(state) = weak.upgrade() {
                state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .slots
                    .clear();
            }
        });
        hub
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new subscriber with a queue of `capacity` items (at least 1). It starts with the hub's current state
    /// as [`SyncItem::Resync`] events and `SyncItem::Synced { initial: true }`.
    pub fn subscribe(&self, filter: Filter, capacity: usize) -> Subscription {
        let (tx, rx) = async_channel::bounded(capacity.max(1));
        let mut st = self.lock();
        let lag = Arc::new(Mutex::new(Some(Lag {
            base: SessionView::new(st.view.max_recent()),
            missed: 0,
            initial: true,
        })));
        st.slots.retain(|s| !s.tx.is_closed());
        st.slots.push(Slot {
            tx,
            filter: filter.clone(),
            lag: lag.clone(),
        });
        Subscription {
            hub: self.state.clone(),
            rx: Box::pin(rx),
            filter,
            lag,
            local: VecDeque::new(),
        }
    }

    /// A copy of the hub's view (everything the connection said, resyncs included).
    pub fn view(&self) -> SessionView {
        self.lock().view.clone()
    }
}

impl crate::OpenCode {
    /// One resyncing `/event` connection ([`OpenCode::synced_events`](crate::OpenCode::synced_events)) shared
    /// by many subscribers ([`Hub::subscribe`]), pumped on `host` (any runtime is a host).
    pub fn event_hub<H: Host>(&self, host: &H) -> Hub {
        Hub::start(host, self.synced_events(), crate::view::DEFAULT_MAX_RECENT)
    }
}

/// Hand `item` to every subscriber that wants it, without waiting for any; then fold it into the view.
fn dispatch(st: &mut State, item: Result<SyncItem, Error>) {
    st.slots.retain(|s| !s.tx.is_closed());
    for slot in &st.slots {
        if let Ok(i) = &item {
            if !slot.filter.passes(i, &st.view) {
                continue;
            }
        }
        let mut lag = slot.lag.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = lag.as_mut() {
            l.missed += 1;
            continue;
        }
        if let Err(TrySendError::Full(_)) = slot.tx.try_send(item.clone()) {
            *lag = Some(Lag {
                base: st.view.clone(),
                missed: 1,
                initial: false,
            });
        }
    }
    if let Ok(SyncItem::Event(e) | SyncItem::Resync(e)) = &item {
        st.view.apply(e);
    }
}

/// One subscriber of a [`Hub`]: a stream of the items its filter passes. Ends when the hub's connection ends.
pub struct Subscription {
    hub: Arc<Mutex<State>>,
    rx: Pin<Box<Receiver<Result<SyncItem, Error>>>>,
    filter: Filter,
    lag: Arc<Mutex<Option<Lag>>>,
    local: VecDeque<SyncItem>,
}

impl core::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Subscription")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The catch-up after a lag (or the initial state): under the hub's lock, so no item falls in between.
    fn catch_up(&mut self) -> bool {
        let st = self.hub.lock().unwrap_or_else(|e| e.into_inner());
        let Some(lag) = self.lag.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return false;
        };
        let initial = lag.initial;
        let events: Vec<Event> = diff(&lag.base, &st.view)
            .into_iter()
            .filter(|e| self.filter.passes_event(e, &st.view, Some(&lag.base)))
            .collect();
        drop(st);
        if !initial {
            self.local
                .push_back(SyncItem::Gap(Gap::Lagged { missed: lag.missed }));
        }
        let changes = events.len();
        self.local.extend(events.into_iter().map(SyncItem::Resync));
        self.local.push_back(SyncItem::Synced { changes, initial });
        true
    }
}

impl Stream for Subscription {
    type Item = Result<SyncItem, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(item) = self.local.pop_front() {
                return Poll::Ready(Some(Ok(item)));
            }
            // Queued items come first: they happened before the lag began.
            match self.rx.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => return Poll::Ready(Some(item)),
                // Ended: still deliver a pending catch-up (the connection's last state), then end.
                Poll::Ready(None) => {
                    if !self.catch_up() {
                        return Poll::Ready(None);
                    }
                }
                Poll::Pending => {
                    if !self.catch_up() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::ThreadHost;
    use std::time::{Duration, Instant};

    const SES: &str = "ses_df042e4abffe5Rn2JeQcG51t96";

    fn chat() -> Vec<Event> {
        fixture!("event_chat.txt")
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| Event::parse(d).unwrap())
            .collect()
    }

    fn next(s: &mut Subscription) -> Option<SyncItem> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let waker = std::task::Waker::noop();
            match Pin::new(&mut *s).poll_next(&mut Context::from_waker(waker)) {
                Poll::Ready(Some(Ok(i))) => return Some(i),
                Poll::Ready(Some(Err(e))) => panic!("{e}"),
                Poll::Ready(None) => return None,
                Poll::Pending if Instant::now() > deadline => panic!("no item"),
                Poll::Pending => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// Everything the subscription yields until its stream ends, folded.
    fn drain(s: &mut Subscription) -> (SessionView, Vec<SyncItem>) {
        let mut v = SessionView::default();
        let mut items = Vec::new();
        while let Some(i) = next(s) {
            if let SyncItem::Event(e) | SyncItem::Resync(e) = &i {
                v.apply(e);
            }
            items.push(i);
        }
        (v, items)
    }

    #[test]
    fn opencode_hub_a_slow_subscriber_lags_gets_a_resync_and_never_blocks_the_others() {
        let all = chat();
        let (tx, rx) = async_channel::unbounded();
        let hub = Hub::start(&ThreadHost, Box::pin(rx), crate::view::DEFAULT_MAX_RECENT);
        let mut fast = hub.subscribe(Filter::all(), 1000);
        let mut slow = hub.subscribe(Filter::session(SES), 2);
        let mut other = hub.subscribe(Filter::session("ses_other"), 2);
        let mut elsewhere = hub.subscribe(Filter::directory("/nowhere"), 2);
        // Their first catch-up: nothing yet.
        for s in [&mut fast, &mut slow, &mut other, &mut elsewhere] {
            assert_eq!(
                next(s),
                Some(SyncItem::Synced {
                    changes: 0,
                    initial: true
                })
            );
        }
        for e in &all {
            tx.try_send(Ok(SyncItem::Event(e.clone()))).unwrap();
        }
        drop(tx);
        // The fast subscriber got every event, in order, while the slow one's queue overflowed.
        let (fast_view, fast_items) = drain(&mut fast);
        let live: Vec<Event> = fast_items
            .into_iter()
            .filter_map(|i| match i {
                SyncItem::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(live, all);
        assert_eq!(fast_view, hub.view());
        // The slow one: its two queued items, then the lag and a resync to where the hub is (for its session).
        let (slow_view, slow_items) = drain(&mut slow);
        assert!(matches!(slow_items[0], SyncItem::Event(_)));
        assert!(matches!(slow_items[1], SyncItem::Event(_)));
        let SyncItem::Gap(Gap::Lagged { missed }) = &slow_items[2] else {
            panic!("{:?}", &slow_items[..3])
        };
        // Every event its filter passes, but the two it had room for.
        let passing = all
            .iter()
            .filter(|e| e.session_id().is_none_or(|s| s == SES))
            .filter(|e| !matches!(e, Event::Unknown { .. } | Event::FileEdited { .. }))
            .count();
        assert_eq!(*missed, passing - 2);
        assert!(matches!(
            slow_items.last(),
            Some(SyncItem::Synced { initial: false, .. })
        ));
        assert_eq!(
            slow_view.sessions().get(SES),
            hub.view().sessions().get(SES)
        );
        assert_eq!(slow_view.messages(SES), hub.view().messages(SES));
        // Filters: another session's subscriber and another directory's get server-wide events only.
        for s in [&mut other, &mut elsewhere] {
            let (v, items) = drain(s);
            assert!(v.sessions().is_empty(), "{items:?}");
            assert!(items.iter().all(|i| match i {
                SyncItem::Event(e) => e.session_id().is_none(),
                SyncItem::Resync(_) => false,
                _ => true,
            }));
        }
    }
}
