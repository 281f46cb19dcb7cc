//! A pre-start subscription for Rust programs (containerd's preStart/handleStarted,
//! generalised): every exit observed from its creation is kept until claimed or dropped.

use std::sync::Arc;
use std::time::Duration;

use crate::channel::Claim;
use crate::error::Result;
use crate::exit::ExitInfo;
use crate::inbox::Inbox;
use crate::monitor::{Monitor, WatchOptions};
use crate::watch::Watch;

pub struct Subscription<'m> {
    monitor: &'m Monitor,
    id: u64,
    inbox: Arc<Inbox>,
}

impl Monitor {
    /// Starts buffering every exit this monitor observes (watched processes, owned ones,
    /// orphans it reaps). Drop it to release the buffer.
    pub fn subscribe(&self) -> Result<Subscription<'_>> {
        let inbox = self.inbox(None);
        let id = self.subscribe_inbox(&inbox)?;
        Ok(Subscription {
            monitor: self,
            id,
            inbox,
        })
    }
}

impl<'m> Subscription<'m> {
    /// The next exit observed, in order, waiting up to `timeout`. An exit taken here can no
    /// longer be found by `claim`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<ExitInfo> {
        self.inbox.recv_timeout(timeout).map(|e| e.exit)
    }

    /// The exit of `pid` if it happened during the subscription, else a watch on it (still
    /// running, or a zombie).
    pub fn claim(&self, pid: i32, options: WatchOptions) -> Result<Claim<Watch<'m>>> {
        let watch_inbox = self.monitor.inbox(None);
        Ok(
            match self.monitor.claim(self.id, pid, options, &watch_inbox)? {
                Claim::Exited(exit) => Claim::Exited(exit),
                Claim::Running(token) => {
                    Claim::Running(Watch::from_token(self.monitor, pid, token, watch_inbox))
                }
            },
        )
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        self.monitor.unsubscribe(self.id);
    }
}
