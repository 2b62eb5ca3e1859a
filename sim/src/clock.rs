//! The virtual clock and the agenda of timed events.
//!
//! Simulated time only moves when the runner moves it, straight to the next thing that can happen, so a run of
//! minutes of virtual time costs microseconds. Ties are broken by insertion order, never by hashing, so the
//! same seed always replays the same interleaving.

use std::collections::BTreeMap;

use plue_http_core::time::Instant;

/// A monotonic virtual clock starting at [`Instant::ZERO`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimClock {
    now: Instant,
}

impl SimClock {
    /// A clock at zero.
    pub fn new() -> Self {
        SimClock::default()
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Move to `t`; an earlier `t` is ignored (time never goes back).
    pub fn advance_to(&mut self, t: Instant) {
        self.now = self.now.max(t);
    }
}

/// Events due at instants, popped in time order, then in insertion order.
#[derive(Debug, Clone)]
pub struct Agenda<T> {
    items: BTreeMap<(Instant, u64), T>,
    seq: u64,
}

impl<T> Default for Agenda<T> {
    fn default() -> Self {
        Agenda {
            items: BTreeMap::new(),
            seq: 0,
        }
    }
}

impl<T> Agenda<T> {
    /// An empty agenda.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedule `item` at `at`.
    pub fn push(&mut self, at: Instant, item: T) {
        self.items.insert((at, self.seq), item);
        self.seq += 1;
    }

    /// The earliest scheduled instant.
    pub fn next_at(&self) -> Option<Instant> {
        self.items.first_key_value().map(|(k, _)| k.0)
    }

    /// The earliest item due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        let entry = self.items.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let at = entry.key().0;
        Some((at, entry.remove()))
    }

    /// Number of scheduled items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Drop every item.
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_agenda_orders_by_time_then_insertion() {
        let mut a = Agenda::new();
        a.push(Instant::from_millis(5), "c");
        a.push(Instant::from_millis(1), "a");
        a.push(Instant::from_millis(1), "b");
        assert_eq!(a.next_at(), Some(Instant::from_millis(1)));
        assert_eq!(a.pop_due(Instant::from_millis(1)).map(|x| x.1), Some("a"));
        assert_eq!(a.pop_due(Instant::from_millis(1)).map(|x| x.1), Some("b"));
        assert_eq!(a.pop_due(Instant::from_millis(4)), None);
        assert_eq!(a.len(), 1);
        let mut c = SimClock::new();
        c.advance_to(Instant::from_millis(3));
        c.advance_to(Instant::from_millis(2));
        assert_eq!(c.now(), Instant::from_millis(3));
    }
}
