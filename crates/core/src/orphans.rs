//! Orphan reaping for PID 1 and child subreapers, without stealing anyone's exit status.
//!
//! An orphan is a zombie child of this process that it did not fork and nobody claimed: not
//! recorded by the fork handlers (see `provenance`), not registered as claimed with the
//! monitor, seen while no synchronous spawn runs, and still a zombie after the grace period
//! (zero by default: the grace only matters for children created without `fork()`, which
//! the fork handlers cannot see). It is pinned with a pidfd when first seen, so a reused pid
//! is never reaped by mistake.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::exit::{ExitInfo, ExitStatus, StatusSource};
use crate::inbox::Inbox;
use crate::monitor::Shared;
use crate::procfs;
use crate::provenance::{self, Forked};
use crate::registry::Registry;
use crate::sync::lock;
use crate::sys;

/// How soon to look again when a fork was in progress during a scan.
const FORK_RECHECK: Duration = Duration::from_millis(1);

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
    start_time: u64,
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
        let listed_at = sys::boottime_ticks();
        let children = procfs::children_of(sys::getpid());
        if provenance::fork_in_progress() {
            // A listed zombie may be that fork's child, not recorded yet: look again shortly.
            return Some(now + FORK_RECHECK);
        }
        let is_child = |pid: i32| children.iter().any(|c| c.pid == pid);
        self.candidates.retain(|pid, _| is_child(*pid));
        lock(&shared.registry).prune_left_to_owner(is_child);
        // A child forked since the listing is not in it, and still ours.
        provenance::prune(|pid, start| {
            start >= listed_at
                || children
                    .iter()
                    .any(|c| c.pid == pid && c.start_time == start)
        });
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
                        start_time: child.start_time,
                        first_seen: now,
                    })
                }
            };
            match owner(&lock(&shared.registry), child.pid, candidate) {
                Owner::None => {}
                Owner::Until(until) => {
                    next_deadline = Some(next_deadline.map_or(until, |d| d.min(until)));
                    continue;
                }
                Owner::Known => {
                    self.candidates.remove(&child.pid);
                    continue;
                }
            }
            let deadline = candidate.first_seen + grace;
            if deadline > now {
                next_deadline = Some(next_deadline.map_or(deadline, |d| d.min(deadline)));
                continue;
            }
            if reap(shared, child.pid, candidate, to_wake) == Reaped::NotNow {
                let recheck = now + FORK_RECHECK;
                next_deadline = Some(next_deadline.map_or(recheck, |d| d.min(recheck)));
            } else {
                self.candidates.remove(&child.pid);
            }
        }
        next_deadline
    }
}

enum Owner {
    /// Nobody: an orphan.
    None,
    /// Forked by this process (its forker reaps it), or claimed by an owner.
    Known,
    /// Perhaps forked by this process (an ambiguous fork): left alone until then.
    Until(Instant),
}

fn owner(registry: &Registry, pid: i32, candidate: &Candidate) -> Owner {
    if registry.is_claimed(pid, candidate.id) {
        return Owner::Known;
    }
    match provenance::forked(pid, candidate.start_time) {
        Forked::No => Owner::None,
        Forked::Yes => Owner::Known,
        Forked::Until(until) => Owner::Until(until),
    }
}

/// Reaps one orphan through its pidfd and broadcasts the exit, under the registry lock (so
/// `claim` cannot see its pid reused before the exit is in the subscriptions' buffers).
#[derive(PartialEq, Eq)]
enum Reaped {
    /// Reaped, or not an orphan after all: forget the candidate.
    Done,
    /// A fork is under way: the zombie may be its child. Look again shortly.
    NotNow,
}

fn reap(shared: &Shared, pid: i32, candidate: &Candidate, to_wake: &mut Vec<Arc<Inbox>>) -> Reaped {
    let mut registry = lock(&shared.registry);
    if provenance::fork_in_progress() {
        return Reaped::NotNow;
    }
    if !matches!(owner(&registry, pid, candidate), Owner::None) || !shared.orphans.active() {
        return Reaped::Done; // claimed, or a synchronous spawn started, while we looked
    }
    // WNOHANG: never waits. ECHILD or nothing: its owner reaped it after all.
    let Ok(Some(w)) = sys::waitid_pidfd(candidate.pidfd.as_fd(), true) else {
        return Reaped::Done;
    };
    if registry.orphans_reported.remove(&pid) == Some(candidate.start_time) {
        // Its exit already reached its watchers and the subscriptions.
        shared
            .counters
            .reaped_orphans
            .fetch_add(1, Ordering::Relaxed);
        return Reaped::Done;
    }
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
    Reaped::Done
}
