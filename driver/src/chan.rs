//! A small unbounded multi-producer, single-consumer channel: a `Mutex<VecDeque>` and one `Waker`.
//!
//! The driver's queues (commands, per-request events, per-connection gates) carry a few items at a time and
//! are almost never contended. `async_channel`'s unbounded queue allocates and zeroes a 31-slot block on the
//! first push of every channel (and again every 31 pushes); with one channel per request that was ~10% of a
//! request's instructions. Here a fresh channel allocates only when it first holds an item, without zeroing,
//! and a long-lived queue reuses its ring. Bounds are the core's business (it grants reads), not the channel's.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// Items kept inside the channel's own allocation: a request's head, body and end fit without another.
const INLINE: usize = 3;

/// A FIFO whose first few items live inline. Every inline item is older than every spilled one: items go
/// inline only while nothing has spilled.
struct Queue<T> {
    inline: [Option<T>; INLINE],
    start: usize,
    len: usize,
    spill: VecDeque<T>,
}

impl<T> Queue<T> {
    fn new() -> Self {
        Queue {
            inline: [const { None }; INLINE],
            start: 0,
            len: 0,
            spill: VecDeque::new(),
        }
    }

    fn push_back(&mut self, item: T) {
        if self.spill.is_empty() && self.len < INLINE {
            self.inline[(self.start + self.len) % INLINE] = Some(item);
            self.len += 1;
        } else {
            self.spill.push_back(item);
        }
    }

    fn pop_front(&mut self) -> Option<T> {
        if self.len > 0 {
            let item = self.inline[self.start].take();
            self.start = (self.start + 1) % INLINE;
            self.len -= 1;
            item
        } else {
            self.spill.pop_front()
        }
    }

    fn take(&mut self) -> Queue<T> {
        core::mem::replace(self, Queue::new())
    }
}

struct State<T> {
    queue: Queue<T>,
    /// The receiver, when it is waiting for an item.
    waker: Option<Waker>,
    senders: usize,
    receiver: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock leaves the queue consistent (every critical section is a plain
        // push, pop or flag write), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A channel with no item limit.
pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: Queue::new(),
            waker: None,
            senders: 1,
            receiver: true,
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The sending side; cloneable. When the last sender is dropped the receiver sees the end.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queue `item` and wake the receiver; `Err(item)` once the receiver is gone.
    pub(crate) fn try_send(&self, item: T) -> Result<(), T> {
        if let Some(w) = self.try_send_deferred(item)? {
            w.wake();
        }
        Ok(())
    }

    /// Queue `item` and hand back the receiver's waker (if it waits) for the caller to wake later, e.g. after
    /// queueing several items, so the receiver wakes once and finds them all.
    pub(crate) fn try_send_deferred(&self, item: T) -> Result<Option<Waker>, T> {
        let mut s = self.shared.lock();
        if !s.receiver {
            return Err(item);
        }
        s.queue.push_back(item);
        Ok(s.waker.take())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.shared.lock();
            s.senders -= 1;
            if s.senders == 0 {
                s.waker.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryRecvError {
    /// Nothing queued; senders remain.
    Empty,
    /// Nothing queued and every sender is gone.
    Closed,
}

/// The receiving side. Dropping it makes every later send fail (and drops what was queued).
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        let s = self.shared.lock();
        s.queue.len == 0 && s.queue.spill.is_empty()
    }

    /// The next item without waiting.
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut s = self.shared.lock();
        match s.queue.pop_front() {
            Some(item) => Ok(item),
            None if s.senders == 0 => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next item; `Ready(None)` once the queue is empty and every sender is gone.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = self.shared.lock();
        if let Some(item) = s.queue.pop_front() {
            return Poll::Ready(Some(item));
        }
        if s.senders == 0 {
            return Poll::Ready(None);
        }
        match &mut s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Wait for the next item; `None` once every sender is gone.
    pub(crate) fn recv(&self) -> Recv<'_, T> {
        Recv { rx: self }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let queued = {
            let mut s = self.shared.lock();
            s.receiver = false;
            s.waker = None;
            s.queue.take()
        };
        // Items are dropped outside the lock: their destructors may send on other channels.
        drop(queued);
    }
}

/// The future of [`Receiver::recv`].
pub(crate) struct Recv<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn chan_delivers_in_order_then_ends_when_senders_drop() {
        let (tx, rx) = unbounded();
        let tx2 = tx.clone();
        tx.try_send(1).unwrap();
        tx2.try_send(2).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        drop(tx);
        assert_eq!(block_on(rx.recv()), Some(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(tx2);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(block_on(rx.recv()), None);
    }

    #[test]
    fn chan_keeps_fifo_order_across_inline_and_spilled_items() {
        let (tx, rx) = unbounded();
        let mut expect = 0;
        let mut next = 0;
        // Interleave pushes and pops so the inline ring wraps and spills repeatedly.
        for round in 0..50 {
            for _ in 0..(round % 7) {
                tx.try_send(next).unwrap();
                next += 1;
            }
            for _ in 0..(round % 5) {
                if let Ok(v) = rx.try_recv() {
                    assert_eq!(v, expect);
                    expect += 1;
                }
            }
        }
        while let Ok(v) = rx.try_recv() {
            assert_eq!(v, expect);
            expect += 1;
        }
        assert_eq!(expect, next);
    }

    #[test]
    fn chan_send_fails_once_the_receiver_is_gone() {
        let (tx, rx) = unbounded();
        tx.try_send(1).unwrap();
        drop(rx);
        assert_eq!(tx.try_send(2), Err(2));
    }

    #[test]
    fn chan_wakes_a_waiting_receiver_from_another_thread() {
        let (tx, rx) = unbounded();
        // The sender waits until the receiver has polled, found nothing and parked: no sleep, no race.
        let (parked_tx, parked_rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            parked_rx.recv().unwrap();
            tx.try_send(7u8).unwrap();
        });
        let mut recv = Box::pin(rx.recv());
        let mut told = false;
        let got = block_on(futures_lite::future::poll_fn(|cx| {
            let p = recv.as_mut().poll(cx);
            if p.is_pending() && !told {
                told = true;
                parked_tx.send(()).unwrap();
            }
            p
        }));
        assert!(told, "the receiver must have been waiting before the send");
        assert_eq!(got, Some(7));
        drop(recv);
        assert_eq!(block_on(rx.recv()), None);
        t.join().unwrap();
    }
}
