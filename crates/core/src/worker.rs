//! The monitor thread: blocks in `epoll_wait` on the wake-up eventfd and one pidfd per
//! watched process, reads each exit status, and appends it to the consumers' inboxes.
//! It never waits on a consumer and never wakes up while nothing is happening.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::SystemTime;

use crate::collect::{collect_exit, Collected};
use crate::exit::ExitInfo;
use crate::inbox::Inbox;
use crate::monitor::{Shared, WAKE_KEY};
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
    let mut retry_ms = FIRST_RETRY_MS;
    loop {
        let has_pending = !lock(&shared.registry).pending.is_empty();
        let timeout = if has_pending { retry_ms } else { -1 };
        let n = sys::epoll_wait(shared.epoll.as_fd(), &mut events, timeout)
            .expect("epoll_wait on the monitor's own epoll descriptor");
        shared.counters.woke_up();
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        ready.clear();
        let mut retry_now = has_pending && n == 0;
        for event in &events {
            if event.u64 == WAKE_KEY {
                sys::eventfd_drain(shared.wake.as_fd());
                retry_now |= shared.retry_requested.swap(false, Ordering::AcqRel);
            } else {
                ready.push(event.u64);
            }
        }
        #[cfg(feature = "fault-injection")]
        shared.faults.fire(&shared);
        if retry_now {
            shared
                .counters
                .status_retries
                .fetch_add(1, Ordering::Relaxed);
            ready.extend(lock(&shared.registry).pending.drain());
        }
        let mut new_pending = false;
        for &key in &ready {
            new_pending |= handle_ready(&shared, key, &mut to_wake);
        }
        for inbox in to_wake.drain(..) {
            inbox.wake();
        }
        retry_ms = if new_pending && !retry_now {
            FIRST_RETRY_MS
        } else if retry_now {
            (retry_ms * 2).min(MAX_RETRY_MS)
        } else {
            retry_ms
        };
    }
}

/// Reads the status of a process whose pidfd became readable and delivers its exit.
/// Returns true when the status was not there yet and the process was parked as pending.
fn handle_ready(shared: &Shared, key: u64, to_wake: &mut Vec<Arc<Inbox>>) -> bool {
    let Some((pid, id, reap, pidfd)) = lock(&shared.registry)
        .processes
        .get(&key)
        .map(|p| (p.pid, p.id, p.reap, p.pidfd.clone()))
    else {
        return false; // unregistered meanwhile
    };
    // The status is read without the lock: nothing else waits on this.
    match collect_exit(pidfd.as_fd(), pid, reap, shared.caps) {
        Collected::NotYet => {
            let mut registry = lock(&shared.registry);
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
        } => {
            let exit = ExitInfo {
                pid,
                id,
                status,
                source,
                exited_at: SystemTime::now(),
                monotonic_ns: sys::monotonic_ns(),
                reaped,
            };
            shared.counters.exit_observed(&exit);
            lock(&shared.registry).deliver_exit(key, exit, to_wake);
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
    shared.retry_requested.store(true, Ordering::Release);
    shared.wake();
}
