//! The monitor thread: blocks in `epoll_wait` on the wake-up eventfd and one pidfd per
//! watched process, reads each exit status, and appends it to the consumers' inboxes.
//! It never waits on a consumer and never wakes up while nothing is happening.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crate::capabilities::Engine;
use crate::collect::{collect_exit, Collected, Watched};
use crate::error::{Error, Operation, Result};
use crate::exit::{ExitInfo, ExitStatus, StatusSource};
use crate::inbox::Inbox;
use crate::orphans::{LiveKernel, OrphanReaper};
use crate::poll_engine::Poller;
use crate::procfs;
use crate::provenance::{self, Forked};
use crate::registry::Registry;
use crate::shared::{registered_as_child, Shared, CONNECTOR_KEY, SIGNAL_KEY, WAKE_KEY};
use crate::sync::lock;
use crate::sys::{self, Interest};

/// Readiness reports taken per `epoll_wait`; more simply wait for the next round.
const EVENTS_PER_WAKE: usize = 1024;
/// Retry delays for statuses that were not readable yet (only while some are pending).
const FIRST_RETRY_MS: i32 = 1;
const MAX_RETRY_MS: i32 = 1000;

/// Starts the monitor thread if it is not running (first use, or after it died).
pub(crate) fn ensure_running(shared: &Arc<Shared>) -> Result<()> {
    if shared.counters.monitor_thread_alive.load(Ordering::Acquire) {
        return Ok(());
    }
    let _guard = lock(&shared.spawn_lock);
    if shared.counters.monitor_thread_alive.load(Ordering::Acquire) {
        return Ok(());
    }
    spawn(shared.clone()).map_err(|e| Error::os(&e, Operation::StartMonitorThread))
}

/// Starts a monitor thread. After the first start it re-arms every registered pidfd, so a
/// readiness report consumed by a thread that died is seen again.
fn spawn(shared: Arc<Shared>) -> io::Result<()> {
    let restart = shared.ever_started.swap(true, Ordering::AcqRel);
    if restart {
        shared
            .counters
            .monitor_thread_restarts
            .fetch_add(1, Ordering::Relaxed);
    }
    shared
        .counters
        .monitor_thread_alive
        .store(true, Ordering::Release);
    let thread_shared = shared.clone();
    let spawned = thread::Builder::new()
        .name("exitwatch-monitor".into())
        .spawn(move || run(thread_shared, restart));
    if spawned.is_err() {
        shared
            .counters
            .monitor_thread_alive
            .store(false, Ordering::Release);
    }
    spawned.map(|_| ())
}

/// Marks the thread dead when it ends, and starts a new one at once if it died by panic.
struct AliveGuard(Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0
            .counters
            .monitor_thread_alive
            .store(false, Ordering::Release);
        if thread::panicking() && !self.0.shutdown.load(Ordering::Acquire) {
            // If this fails (no threads left), the next API call tries again.
            let _ = ensure_running(&self.0);
        }
    }
}

fn run(shared: Arc<Shared>, restart: bool) {
    let _alive = AliveGuard(shared.clone());
    if restart {
        rearm_all(&shared);
    }
    let mut events = Vec::with_capacity(EVENTS_PER_WAKE);
    let mut ready: Vec<Ready> = Vec::new();
    let mut to_wake: Vec<Arc<Inbox>> = Vec::new();
    let mut orphans = OrphanReaper::new(LiveKernel);
    let mut orphan_deadline: Option<Instant> = None;
    let mut poller = (shared.caps.engine == Engine::Poll).then(Poller::default);
    let mut retry_ms = FIRST_RETRY_MS;
    loop {
        let has_pending = !lock(&shared.registry).pending.is_empty();
        let deadline = [orphan_deadline, poller.as_ref().and_then(Poller::deadline)]
            .into_iter()
            .flatten()
            .min();
        let timeout = wait_timeout(has_pending.then_some(retry_ms), deadline);
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
                key => ready.push(Ready {
                    key,
                    maybe_reaped: event.events & libc::EPOLLHUP as u32 != 0,
                }),
            }
        }
        #[cfg(feature = "fault-injection")]
        shared.faults.fire(&shared);
        // Connector events may be what a pending status waits for (see `awaits_exit`).
        let retry_due = has_pending && (rescan || connector_ready || n == 0);
        if retry_due {
            shared
                .counters
                .status_retries
                .fetch_add(1, Ordering::Relaxed);
            ready.extend(lock(&shared.registry).pending.drain().map(|key| Ready {
                key,
                maybe_reaped: true,
            }));
        }
        // Read the connector's events before the statuses they may hold. (The kernel queues an
        // exit's event just after its pidfd becomes readable: one may still be missing.)
        if shared.connector.is_open() && (connector_ready || !ready.is_empty()) {
            shared.connector.drain(&shared.counters);
        }
        let mut new_pending = false;
        for &process in &ready {
            new_pending |= handle_ready(&shared, process, &mut to_wake);
        }
        // An exit handled above may have asked for a scan (an orphan to reap after grace).
        rescan |= shared.rescan_requested.swap(false, Ordering::AcqRel);
        if rescan || orphan_deadline.is_some_and(|d| d <= Instant::now()) {
            orphan_deadline = orphans.scan(&shared.orphan_context(), &mut to_wake);
        }
        if let Some(poller) = &mut poller {
            // Without pidfds every wake-up is a SIGCHLD or a new registration.
            poller.run(&shared, n > 0, &mut to_wake);
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

/// `epoll_wait`'s timeout: forever unless a status retry, an orphan's grace period or a round
/// of the poll engine is due.
fn wait_timeout(retry_ms: Option<i32>, deadline: Option<Instant>) -> i32 {
    let deadline_ms = deadline.map(|d| {
        let left = d.saturating_duration_since(Instant::now());
        // Round up so the deadline has passed when the wait ends.
        left.as_millis().min(i32::MAX as u128) as i32 + 1
    });
    match (retry_ms, deadline_ms) {
        (Some(a), Some(b)) => a.min(b),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => -1,
    }
}

/// A registered process whose status is to be read now.
#[derive(Clone, Copy)]
struct Ready {
    key: u64,
    /// Its pidfd reported EPOLLHUP (reaped when epoll looked), or this is a retry, when
    /// nothing is known. See `Watched::maybe_reaped`.
    maybe_reaped: bool,
}

/// Reads the status of a process whose pidfd became readable and delivers its exit.
/// Returns true when the status was not there yet and the process was parked as pending.
fn handle_ready(shared: &Shared, ready: Ready, to_wake: &mut Vec<Arc<Inbox>>) -> bool {
    let key = ready.key;
    let mut registry = lock(&shared.registry);
    let Some((pid, id, reap, claimed, owner_reports_exit, pidfd)) =
        registry.processes.get(&key).and_then(|p| {
            Some((
                p.pid,
                p.id,
                p.reap,
                p.claimed,
                p.owner_reports_exit,
                p.pin.pidfd()?.clone(),
            ))
        })
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
        maybe_reaped: ready.maybe_reaped,
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
    if !registry.processes.contains_key(&key) {
        return false; // unregistered, or its owner's report delivered it, meanwhile
    }
    match collected {
        Collected::NotYet => {
            registry.pending.insert(key);
            true
        }
        // Its owner reaped it before the connector's event for it was queued: wait for the
        // event (the connector's socket wakes this thread, and pending statuses are retried).
        Collected::Exit {
            status: ExitStatus::Unknown,
            ..
        } if !reap && shared.connector.awaits_exit(pid, key, &shared.counters) => {
            registry.pending.insert(key);
            true
        }
        // Its owner reaped it first and no kernel source kept the status: the owner's report
        // (`Monitor::owner_reported_exit`) brings the exact one.
        Collected::Exit {
            status: ExitStatus::Unknown,
            ..
        } if owner_reports_exit => {
            registry.awaiting_owner.insert(key);
            false
        }
        Collected::Exit {
            status,
            source,
            reaped,
            usage,
        } => {
            let mut exit = ExitInfo::observed_now(pid, id, status, source);
            exit.reaped = reaped;
            exit.usage = usage;
            if source == StatusSource::WaitidNoWait && !claimed && shared.orphans.active() {
                adopt_orphan(shared, &mut registry, pidfd.as_fd(), &mut exit);
            }
            shared.counters.exit_observed(&exit);
            registry.deliver_exit(key, exit, to_wake);
            if shared.connector.is_open() {
                shared.connector.forget(pid, key);
            }
            false
        }
    }
}

/// A watched child of ours exited while orphan reaping is on. Unless this process forked it
/// (its forker reaps it), it is an orphan: reaped now, or after the grace period without a
/// second report when the grace is not zero.
fn adopt_orphan(
    shared: &Shared,
    registry: &mut Registry,
    pidfd: BorrowedFd<'_>,
    exit: &mut ExitInfo,
) {
    let Some(entry) = procfs::read_entry(exit.pid) else {
        return;
    };
    let forked = provenance::forked(exit.pid, entry.start_time);
    if forked == Forked::Yes {
        return; // its forker reaps it
    }
    // Perhaps ours (an ambiguous fork, or a fork under way that may be of this very child
    // and not recorded yet), or a grace period to honour: the scan decides later.
    if matches!(forked, Forked::Until(_))
        || provenance::fork_in_progress()
        || shared.orphans.grace_ms.load(Ordering::Relaxed) > 0
    {
        registry.orphans_reported.insert(exit.pid, entry.start_time);
        shared.rescan_requested.store(true, Ordering::Release);
        return;
    }
    // Under the registry lock, like every reap (see `handle_ready`).
    if let Ok(Some(_)) = sys::waitid_pidfd(pidfd, true) {
        exit.source = StatusSource::Waitid;
        exit.reaped = true;
        exit.orphan = true;
    }
}

/// Re-arms every registered pidfd and retries every pending status.
fn rearm_all(shared: &Shared) {
    let registry = lock(&shared.registry);
    for (key, process) in &registry.processes {
        let Some(pidfd) = process.pin.pidfd() else {
            continue; // the poll engine checks every process on its next round anyway
        };
        // A failure here means the descriptor is gone, and so is the process entry soon.
        let _ = sys::epoll_rearm(
            shared.epoll.as_fd(),
            pidfd.as_raw_fd(),
            *key,
            Interest::ReadableOnce,
        );
    }
    shared.rescan_requested.store(true, Ordering::Release);
    shared.wake();
}
