//! A consumer's unbounded event queue. The monitor thread appends without ever blocking on
//! the consumer; the consumer drains at its own pace, or blocks in `recv`.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::exit::ExitInfo;
use crate::stats::Counters;
use crate::sync::lock;

/// Who an event is addressed to inside one inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The watch registered with this token.
    Watch(u64),
    /// The subscription with this id.
    Subscription(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub target: Target,
    pub exit: ExitInfo,
}

/// Called (outside every lock) when an inbox goes from empty to non-empty.
pub type Waker = Box<dyn Fn() + Send + Sync>;

pub struct Inbox {
    events: Mutex<VecDeque<Event>>,
    ready: Condvar,
    waker: Option<Waker>,
    counters: Arc<Counters>,
}

impl Inbox {
    pub(crate) fn new(counters: Arc<Counters>, waker: Option<Waker>) -> Arc<Inbox> {
        Arc::new(Inbox {
            events: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            waker,
            counters,
        })
    }

    /// Appends an event; true when the inbox was empty, i.e. the consumer needs a wake-up.
    pub(crate) fn push(&self, event: Event) -> bool {
        let mut events = lock(&self.events);
        events.push_back(event);
        self.counters.queued(1);
        events.len() == 1
    }

    /// Wakes the consumer: its waker, and any thread blocked in `recv`.
    pub(crate) fn wake(&self) {
        self.ready.notify_all();
        if let Some(waker) = &self.waker {
            waker();
        }
    }

    /// Takes every queued event, oldest first.
    pub fn drain(&self) -> Vec<Event> {
        let drained: Vec<Event> = lock(&self.events).drain(..).collect();
        self.counters.dequeued(drained.len());
        drained
    }

    /// Waits up to `timeout` for an event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        let events = lock(&self.events);
        let (mut events, _) = self
            .ready
            .wait_timeout_while(events, timeout, |events| events.is_empty())
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let event = events.pop_front();
        if event.is_some() {
            self.counters.dequeued(1);
        }
        event
    }

    /// The newest queued exit of `pid` addressed to `target`, left in place.
    pub(crate) fn find(&self, target: Target, pid: i32) -> Option<ExitInfo> {
        lock(&self.events)
            .iter()
            .rev()
            .find(|e| e.target == target && e.exit.pid == pid)
            .map(|e| e.exit)
    }

    /// Drops every queued event (the consumer went away).
    pub(crate) fn clear(&self) {
        let mut events = lock(&self.events);
        self.counters.dequeued(events.len());
        events.clear();
    }

    /// Drops the queued events addressed to `target`.
    pub(crate) fn discard(&self, target: Target) {
        let mut events = lock(&self.events);
        let before = events.len();
        events.retain(|e| e.target != target);
        self.counters.dequeued(before - events.len());
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.clear();
    }
}
