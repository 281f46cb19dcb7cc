//! A consumer's connection to a monitor: one inbox, and the token API over it. What a
//! binding wraps, one method for one method (the Node binding's `NativeChannel`); Rust
//! programs usually prefer the blocking handles [`Watch`](crate::Watch) and
//! [`Subscription`](crate::Subscription).

use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::exit::ExitInfo;
use crate::inbox::{Event, Inbox, Waker};
use crate::monitor::{Monitor, WatchOptions};
use crate::tree::PinnedMember;

/// What a claim found: the exit, if the process already exited during the subscription, or
/// else the process running and watched (`T`: the watch's token, or a [`Watch`](crate::Watch)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<T> {
    Exited(ExitInfo),
    Running(T),
}

/// Watches and subscriptions delivering into one inbox. Dropping the channel ends them all
/// (owned processes are still reaped) and drops what was queued.
pub struct Channel<'m> {
    monitor: &'m Monitor,
    inbox: Arc<Inbox>,
}

impl Monitor {
    /// A new channel. `waker` is called, outside every lock, each time its inbox goes from
    /// empty to non-empty; it must not block.
    pub fn channel(&self, waker: Option<Waker>) -> Channel<'_> {
        Channel {
            monitor: self,
            inbox: self.inbox(waker),
        }
    }
}

impl Channel<'_> {
    /// Watches `pid`; its exit arrives as `Target::Watch(token)`. The pidfd is opened here, so
    /// the watch names the process that has this pid now, never a later one.
    pub fn watch(&self, pid: i32, options: WatchOptions) -> Result<u64> {
        self.monitor.register(pid, options, &self.inbox)
    }

    /// Ends a watch; nothing is delivered for it after this returns. False when the token is
    /// unknown (its exit was delivered already).
    pub fn unwatch(&self, token: u64) -> bool {
        self.monitor.unregister(token)
    }

    /// Signals a watched process through its pidfd; `ESRCH` once its exit was observed.
    pub fn kill(&self, token: u64, signal: i32) -> Result<()> {
        self.monitor.kill(token, signal)
    }

    /// Starts a subscription to every exit observed from now on; they arrive as
    /// `Target::Subscription(id)`.
    pub fn subscribe(&self) -> Result<u64> {
        self.monitor.subscribe_inbox(&self.inbox)
    }

    /// Ends a subscription and drops what was queued for it; synchronous. False when it had
    /// ended already.
    pub fn unsubscribe(&self, id: u64) -> bool {
        self.monitor.unsubscribe(id)
    }

    /// Claims `pid` for the subscription `subscription`: the exit that subscription still
    /// holds, else a new watch delivering to this channel. Atomic with respect to the
    /// monitor's reaping, so a recycled pid is never watched by mistake.
    pub fn claim(&self, subscription: u64, pid: i32, options: WatchOptions) -> Result<Claim<u64>> {
        self.monitor.claim(subscription, pid, options, &self.inbox)
    }

    /// Pins `roots` and their descendants, each watched into this channel and stopped (see
    /// `Monitor::pin_tree`).
    pub fn pin_tree(&self, roots: &[i32]) -> Result<Vec<PinnedMember>> {
        self.monitor.pin_tree(roots, &self.inbox)
    }

    /// Every event waiting, oldest first.
    pub fn drain(&self) -> Vec<Event> {
        self.inbox.drain()
    }

    /// Waits up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.inbox.recv_timeout(timeout)
    }
}

impl Drop for Channel<'_> {
    fn drop(&mut self) {
        self.monitor.close_inbox(&self.inbox);
    }
}
