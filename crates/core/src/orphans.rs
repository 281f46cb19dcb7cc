//! Orphan reaping for PID 1 and child subreapers, without stealing anyone's exit status.
//!
//! An orphan is a zombie child of this process that nobody claimed: not registered with the
//! monitor (Node's `child_process` children are registered as they spawn), seen while no
//! synchronous spawn runs, and still a zombie after the grace period. It is pinned with a
//! pidfd when first seen, so a reused pid is never reaped by mistake.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::exit::{ExitInfo, ExitStatus, StatusSource};
use crate::inbox::Inbox;
use crate::monitor::Shared;
use crate::procfs;
use crate::sync::lock;
use crate::sys;

/// Orphan reaping settings, shared between the API and the monitor thread.
#[derive(Default)]
pub(crate) struct OrphanPolicy {
    pub enabled: AtomicBool,
    pub grace_ms: AtomicU64,
    /// Synchronous spawns running now (their children must be left to them).
    pub suspended: AtomicU32,
}

impl OrphanPolicy {
    pub fn active(&self) -> bool {
        self.enabled.load(Ordering::Acquire) && self.suspended.load(Ordering::Acquire) == 0
    }
}

struct Candidate {
    pidfd: OwnedFd,
    id: Option<u64>,
    first_seen: Instant,
}

/// Zombie children seen and not yet reaped, kept by the monitor thread.
#[derive(Default)]
pub(crate) struct OrphanReaper {
    candidates: HashMap<i32, Candidate>,
}

impl OrphanReaper {
    /// Reaps every orphan whose grace period is over and broadcasts its exit. Returns when
    /// the next candidate's grace period ends, if any is waiting.
    pub fn scan(&mut self, shared: &Shared, to_wake: &mut Vec<Arc<Inbox>>) -> Option<Instant> {
        if !shared.orphans.active() {
            return None;
        }
        let grace = Duration::from_millis(shared.orphans.grace_ms.load(Ordering::Relaxed));
        let now = Instant::now();
        let children = procfs::children_of(sys::getpid());
        let is_child = |pid: i32| children.iter().any(|c| c.pid == pid);
        self.candidates.retain(|pid, _| is_child(*pid));
        lock(&shared.registry).prune_left_to_owner(is_child);
        let mut next_deadline: Option<Instant> = None;
        for child in children.iter().filter(|c| c.state == b'Z') {
            let candidate = match self.candidates.entry(child.pid) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let Ok(pidfd) = sys::pidfd_open(child.pid) else {
                        continue; // reaped by its owner meanwhile
                    };
                    let id = sys::pidfd_identity(pidfd.as_fd());
                    e.insert(Candidate {
                        pidfd,
                        id,
                        first_seen: now,
                    })
                }
            };
            if lock(&shared.registry).is_claimed(child.pid, candidate.id) {
                self.candidates.remove(&child.pid);
                continue;
            }
            let deadline = candidate.first_seen + grace;
            if deadline > now {
                next_deadline = Some(next_deadline.map_or(deadline, |d| d.min(deadline)));
                continue;
            }
            if let Some(candidate) = self.candidates.remove(&child.pid) {
                reap(shared, child.pid, candidate, to_wake);
            }
        }
        next_deadline
    }
}

/// Reaps one orphan through its pidfd and broadcasts the exit, under the registry lock (so
/// `claim` cannot see its pid reused before the exit is in the subscriptions' buffers).
fn reap(shared: &Shared, pid: i32, candidate: Candidate, to_wake: &mut Vec<Arc<Inbox>>) {
    let registry = lock(&shared.registry);
    if registry.is_claimed(pid, candidate.id) || !shared.orphans.active() {
        return; // claimed, or a synchronous spawn started, while we looked
    }
    // WNOHANG: never waits. ECHILD or nothing: its owner reaped it after all.
    let Ok(Some(w)) = sys::waitid_pidfd(candidate.pidfd.as_fd(), true) else {
        return;
    };
    let exit = ExitInfo {
        pid,
        id: candidate.id,
        status: ExitStatus::from_siginfo(w.code, w.status),
        source: StatusSource::Waitid,
        exited_at: SystemTime::now(),
        monotonic_ns: sys::monotonic_ns(),
        reaped: true,
        orphan: true,
        usage: Some(w.usage),
    };
    shared.counters.exit_observed(&exit);
    registry.broadcast(exit, to_wake);
}
