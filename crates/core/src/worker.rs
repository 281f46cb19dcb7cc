//! The monitor thread: blocks in `epoll_wait` on the wake-up eventfd and one pidfd per
//! watched process, reads each exit status, and appends it to the consumers' inboxes.
//! It never waits on a consumer and never wakes up while nothing is happening.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Instant, SystemTime};

use crate::collect::{collect_exit, Collected, Watched};
use crate::exit::ExitInfo;
use crate::inbox::Inbox;
use crate::monitor::{registered_as_child, Shared, CONNECTOR_KEY, SIGNAL_KEY, WAKE_KEY};
use crate::orphans::OrphanReaper;
use crate::sync::lock;
use crate::sys::{self, Interest};

/// Readiness reports taken per `epoll_wait`; more simply wait for the next round.
const EVENTS_PER_WAKE: usize = 1024;
/// Retry delays for statuses that were not readable yet (only while some are pending).
const FIRST_RETRY_MS: i32 = 1;
const MAX_RETRY_MS: i32 = 1000;

/// Starts a monitor thread. After the first start it re-arms every registered pidfd, so a
/// readiness report consumed by a thread that died is seen again.
pub(crate) fn spawn(shared: Arc<Shared>) -> io::Result<()> {
    let restart = shared.ever_started.swap(true, Ordering::AcqRel);
    if restart {
        shared
            .counters
            .worker_restarts
            .fetch_add(1, Ordering::Relaxed);
    }
    shared.counters.worker_alive.store(true, Ordering::Release);
    let thread_shared = shared.clone();
    let spawned = thread::Builder::new()
        .name("exitwatch-monitor".into())
        .spawn(move || run(thread_shared, restart));
    if spawned.is_err() {
        shared.counters.worker_alive.store(false, Ordering::Release);
    }
    spawned.map(|_| ())
}

/// Marks the thread dead when it ends, and starts a new one at once if it died by panic.
struct AliveGuard(Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.counters.worker_alive.store(false, Ordering::Release);
        if thread::panicking() && !self.0.shutdown.load(Ordering::Acquire) {
            // If this fails (no threads left), the next API call tries again.
            let _ = self.0.ensure_worker();
        }
    }
}

fn run(shared: Arc<Shared>, restart: bool) {
    let _alive = AliveGuard(shared.clone());
    if restart {
        rearm_all(&shared);
    }
    let mut events = Vec::with_capacity(EVENTS_PER_WAKE);
    let mut ready: Vec<u64> = Vec::new();
    let mut to_wake: Vec<Arc<Inbox>> = Vec::new();
    let mut orphans = OrphanReaper::default();
    let mut orphan_deadline: Option<Instant> = None;
    let mut retry_ms = FIRST_RETRY_MS;
    loop {
        let has_pending = !lock(&shared.registry).pending.is_empty();
        let timeout = wait_timeout(has_pending.then_some(retry_ms), orphan_deadline);
        let n = sys::epoll_wait(shared.epoll.as_fd(), &mut events, timeout)
            .expect("epoll_wait on the monitor's own epoll descriptor");
        shared.counters.woke_up();
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        ready.clear();
        // A SIGCHLD (forwarded, or from the signalfd) or a policy change: retry the pending
        // statuses and look for orphans.
        let mut rescan = false;
        let mut connector_ready = false;
        for event in &events {
            match event.u64 {
                WAKE_KEY => {
                    sys::eventfd_drain(shared.wake.as_fd());
                    rescan |= shared.rescan_requested.swap(false, Ordering::AcqRel);
                }
                SIGNAL_KEY => {
                    if let Some(fd) = shared.signalfd.get() {
                        sys::signalfd_drain(fd.as_fd());
                    }
                    rescan = true;
                }
                CONNECTOR_KEY => connector_ready = true,
                key => ready.push(key),
            }
        }
        #[cfg(feature = "fault-injection")]
        shared.faults.fire(&shared);
        let retry_due = has_pending && (rescan || n == 0);
        if retry_due {
            shared
                .counters
                .status_retries
                .fetch_add(1, Ordering::Relaxed);
            ready.extend(lock(&shared.registry).pending.drain());
        }
        // An exit's connector event is queued before its pidfd becomes readable: read them
        // all before the statuses.
        if shared.connector.is_open() && (connector_ready || !ready.is_empty()) {
            shared.connector.drain(&shared.counters);
        }
        let mut new_pending = false;
        for &key in &ready {
            new_pending |= handle_ready(&shared, key, &mut to_wake);
        }
        if rescan || orphan_deadline.is_some_and(|d| d <= Instant::now()) {
            orphan_deadline = orphans.scan(&shared, &mut to_wake);
        }
        for inbox in to_wake.drain(..) {
            inbox.wake();
        }
        retry_ms = if new_pending && !retry_due {
            FIRST_RETRY_MS
        } else if retry_due {
            (retry_ms * 2).min(MAX_RETRY_MS)
        } else {
            retry_ms
        };
    }
}

/// `epoll_wait`'s timeout: forever unless a status retry or an orphan's grace period is due.
fn wait_timeout(retry_ms: Option<i32>, orphan_deadline: Option<Instant>) -> i32 {
    let orphan_ms = orphan_deadline.map(|d| {
        let left = d.saturating_duration_since(Instant::now());
        // Round up so the deadline has passed when the wait ends.
        left.as_millis().min(i32::MAX as u128) as i32 + 1
    });
    match (retry_ms, orphan_ms) {
        (Some(a), Some(b)) => a.min(b),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => -1,
    }
}

/// Reads the status of a process whose pidfd became readable and delivers its exit.
/// Returns true when the status was not there yet and the process was parked as pending.
fn handle_ready(shared: &Shared, key: u64, to_wake: &mut Vec<Arc<Inbox>>) -> bool {
    let mut registry = lock(&shared.registry);
    let Some((pid, id, reap, pidfd)) = registry
        .processes
        .get(&key)
        .map(|p| (p.pid, p.id, p.reap, p.pidfd.clone()))
    else {
        return false; // unregistered meanwhile
    };
    let connector_status = || {
        let connector = &shared.connector;
        connector
            .is_open()
            .then(|| connector.status(pid, key))
            .flatten()
    };
    let watched = |connector_status| Watched {
        pidfd: pidfd.as_fd(),
        pid,
        reap,
        may_be_child: registered_as_child(key) || shared.adopts_orphans.load(Ordering::Acquire),
        connector_status,
    };
    let collected = if reap {
        // Reaping frees the pid: it happens under the lock so that `claim` never opens a
        // pidfd on a reused pid before this exit is in the inboxes. WNOHANG: it never waits.
        collect_exit(&watched(None), shared.caps)
    } else {
        // Reading someone else's status touches /proc: done without the lock.
        drop(registry);
        let collected = collect_exit(&watched(connector_status()), shared.caps);
        registry = lock(&shared.registry);
        collected
    };
    match collected {
        Collected::NotYet => {
            if registry.processes.contains_key(&key) {
                registry.pending.insert(key);
                return true;
            }
            false
        }
        Collected::Exit {
            status,
            source,
            reaped,
            usage,
        } => {
            let exit = ExitInfo {
                pid,
                id,
                status,
                source,
                exited_at: SystemTime::now(),
                monotonic_ns: sys::monotonic_ns(),
                reaped,
                orphan: false,
                usage,
            };
            shared.counters.exit_observed(&exit);
            registry.deliver_exit(key, exit, to_wake);
            if shared.connector.is_open() {
                shared.connector.forget(pid, key);
            }
            false
        }
    }
}

/// Re-arms every registered pidfd and retries every pending status.
fn rearm_all(shared: &Shared) {
    let registry = lock(&shared.registry);
    for (key, process) in &registry.processes {
        // A failure here means the descriptor is gone, and so is the process entry soon.
        let _ = sys::epoll_rearm(
            shared.epoll.as_fd(),
            process.pidfd.as_raw_fd(),
            *key,
            Interest::ReadableOnce,
        );
    }
    shared.rescan_requested.store(true, Ordering::Release);
    shared.wake();
}
