//! A blocking, RAII handle over one watched process, for Rust programs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::error::Result;
use crate::exit::ExitInfo;
use crate::inbox::Inbox;
use crate::monitor::{Monitor, WatchOptions};

/// One watched process. Dropping it unregisters the watch (an owned process is still reaped).
pub struct Watch<'m> {
    monitor: &'m Monitor,
    pid: i32,
    token: u64,
    inbox: Arc<Inbox>,
    exit: OnceLock<ExitInfo>,
}

impl Monitor {
    /// Watches `pid` and returns a handle to wait for its exit.
    pub fn watch(&self, pid: i32, options: WatchOptions) -> Result<Watch<'_>> {
        let inbox = self.inbox(None);
        let token = self.register(pid, options, &inbox)?;
        Ok(Watch::from_token(self, pid, token, inbox))
    }
}

impl<'m> Watch<'m> {
    pub(crate) fn from_token(
        monitor: &'m Monitor,
        pid: i32,
        token: u64,
        inbox: Arc<Inbox>,
    ) -> Self {
        Watch {
            monitor,
            pid,
            token,
            inbox,
            exit: OnceLock::new(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Blocks until the process exits.
    pub fn wait(&self) -> ExitInfo {
        loop {
            if let Some(exit) = self.wait_timeout(Duration::from_secs(3600)) {
                return exit;
            }
        }
    }

    /// Waits up to `timeout` for the exit.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<ExitInfo> {
        if let Some(exit) = self.exit.get() {
            return Some(*exit);
        }
        let event = self.inbox.recv_timeout(timeout)?;
        Some(*self.exit.get_or_init(|| event.exit))
    }

    /// Signals the process through its pidfd; `ESRCH` once it has exited.
    pub fn kill(&self, signal: i32) -> Result<()> {
        self.monitor.kill(self.token, signal)
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.monitor.unregister(self.token);
    }
}
