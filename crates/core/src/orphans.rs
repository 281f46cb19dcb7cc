//! Orphan reaping for PID 1 and child subreapers, without stealing anyone's exit status.
//!
//! An orphan is a zombie child of this process that it did not fork and nobody claimed: not
//! recorded by the fork handlers (see `provenance`), not registered as claimed with the
//! monitor, seen while no synchronous spawn runs, and still a zombie after the grace period
//! (zero by default: the grace only matters for children created without `fork()`, which
//! the fork handlers cannot see). It is pinned with a pidfd when first seen, so a reused pid
//! is never reaped by mistake.
//!
//! The rules run against two small traits: [`Kernel`] (list this process's children, pin and
//! reap one, the clocks, forks in progress) and [`Owners`] (the registry's claims and
//! subscriptions). The monitor thread passes the live ones; the unit tests a scripted kernel.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::exit::{ExitInfo, ExitStatus, StatusSource};
use crate::inbox::Inbox;
use crate::procfs::{self, ProcessEntry};
use crate::provenance::{self, Forked};
use crate::registry::Registry;
use crate::stats::Counters;
use crate::sync::lock;
use crate::sys::{self, WaitidExit};

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

    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms.load(Ordering::Relaxed))
    }
}

/// What the reaper asks of the kernel and of the fork records: listing this process's
/// children, pinning and reaping one, the clocks, and whether a fork is under way. The seam
/// that lets its rules be tested without real processes.
pub(crate) trait Kernel {
    /// What holds a zombie so that its pid cannot be reused while it is a candidate.
    type Pin;
    fn now(&self) -> Instant;
    /// CLOCK_BOOTTIME in the ticks of the children's start times.
    fn boottime_ticks(&self) -> u64;
    /// The children of this process, as listed now.
    fn children(&self) -> Vec<ProcessEntry>;
    /// Pins `pid` and reads its identity; `None` when it is gone.
    fn pin(&self, pid: i32) -> Option<(Self::Pin, Option<u64>)>;
    /// Reaps the pinned zombie without waiting; `None` when there is nothing to reap (its
    /// owner reaped it after all).
    fn reap(&self, pin: &Self::Pin) -> Option<WaitidExit>;
    /// Some thread of this process is forking (see `provenance::fork_in_progress`).
    fn fork_in_progress(&self) -> bool;
    /// Whether this process forked `pid` (see `provenance::forked`).
    fn forked(&self, pid: i32, start_time: u64) -> Forked;
    /// Forgets the fork records of processes that are no longer children.
    fn prune_forks(&self, still_child: &dyn Fn(i32, u64) -> bool);
}

/// The registry's part: which children have an owner, and where an orphan's exit goes.
pub(crate) trait Owners {
    /// See `Registry::is_claimed`.
    fn is_claimed(&self, pid: i32, id: Option<u64>) -> bool;
    /// See `Registry::prune_left_to_owner`.
    fn prune_left_to_owner(&mut self, still_child: &dyn Fn(i32) -> bool);
    /// The start time of `pid` when its exit was delivered already (by the monitor thread,
    /// which left the reaping to the scan), forgetting it.
    fn take_reported(&mut self, pid: i32) -> Option<u64>;
    /// Appends the exit to every subscription.
    fn broadcast(&mut self, exit: ExitInfo, to_wake: &mut Vec<Arc<Inbox>>);
}

/// The live kernel: procfs, pidfds, `waitid` and the fork handlers' records.
pub(crate) struct LiveKernel;

impl Kernel for LiveKernel {
    type Pin = OwnedFd;

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn boottime_ticks(&self) -> u64 {
        sys::boottime_ticks()
    }

    fn children(&self) -> Vec<ProcessEntry> {
        procfs::children_of(sys::getpid())
    }

    fn pin(&self, pid: i32) -> Option<(OwnedFd, Option<u64>)> {
        let pidfd = sys::pidfd_open(pid).ok()?;
        let id = sys::pidfd_identity(pidfd.as_fd());
        Some((pidfd, id))
    }

    fn reap(&self, pidfd: &OwnedFd) -> Option<WaitidExit> {
        // WNOHANG: never waits. ECHILD or nothing: its owner reaped it.
        sys::waitid_pidfd(pidfd.as_fd(), true).ok().flatten()
    }

    fn fork_in_progress(&self) -> bool {
        provenance::fork_in_progress()
    }

    fn forked(&self, pid: i32, start_time: u64) -> Forked {
        provenance::forked(pid, start_time)
    }

    fn prune_forks(&self, still_child: &dyn Fn(i32, u64) -> bool) {
        provenance::prune(still_child)
    }
}

impl Owners for Registry {
    fn is_claimed(&self, pid: i32, id: Option<u64>) -> bool {
        Registry::is_claimed(self, pid, id)
    }

    fn prune_left_to_owner(&mut self, still_child: &dyn Fn(i32) -> bool) {
        Registry::prune_left_to_owner(self, still_child)
    }

    fn take_reported(&mut self, pid: i32) -> Option<u64> {
        self.orphans_reported.remove(&pid)
    }

    fn broadcast(&mut self, exit: ExitInfo, to_wake: &mut Vec<Arc<Inbox>>) {
        Registry::broadcast(self, exit, to_wake)
    }
}

/// What a scan consults besides the kernel: the owners (behind the registry lock), the
/// policy, and the counters it updates.
pub(crate) struct ScanContext<'a, O> {
    pub owners: &'a Mutex<O>,
    pub policy: &'a OrphanPolicy,
    pub counters: &'a Counters,
}

struct Candidate<P> {
    pin: P,
    id: Option<u64>,
    start_time: u64,
    first_seen: Instant,
}

/// Zombie children seen and not yet reaped, kept by the monitor thread.
pub(crate) struct OrphanReaper<K: Kernel> {
    kernel: K,
    candidates: HashMap<i32, Candidate<K::Pin>>,
}

impl<K: Kernel> OrphanReaper<K> {
    pub fn new(kernel: K) -> Self {
        OrphanReaper {
            kernel,
            candidates: HashMap::new(),
        }
    }

    /// Reaps every orphan whose grace period is over and broadcasts its exit. Returns when
    /// the next candidate's grace period ends, if any is waiting.
    pub fn scan<O: Owners>(
        &mut self,
        context: &ScanContext<'_, O>,
        to_wake: &mut Vec<Arc<Inbox>>,
    ) -> Option<Instant> {
        if !context.policy.active() {
            return None;
        }
        let kernel = &self.kernel;
        let grace = context.policy.grace();
        let now = kernel.now();
        let listed_at = kernel.boottime_ticks();
        let children = kernel.children();
        if kernel.fork_in_progress() {
            // A listed zombie may be that fork's child, not recorded yet: look again shortly.
            return Some(now + FORK_RECHECK);
        }
        let is_child = |pid: i32| children.iter().any(|c| c.pid == pid);
        self.candidates.retain(|pid, _| is_child(*pid));
        lock(context.owners).prune_left_to_owner(&is_child);
        // A child forked since the listing is not in it, and still ours.
        kernel.prune_forks(&|pid, start| {
            start >= listed_at
                || children
                    .iter()
                    .any(|c| c.pid == pid && c.start_time == start)
        });
        let mut next_deadline: Option<Instant> = None;
        let mut wake_at = |at: Instant| {
            next_deadline = Some(next_deadline.map_or(at, |d| d.min(at)));
        };
        for child in children.iter().filter(|c| c.state == b'Z') {
            let candidate = match self.candidates.entry(child.pid) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let Some((pin, id)) = kernel.pin(child.pid) else {
                        continue; // reaped by its owner meanwhile
                    };
                    e.insert(Candidate {
                        pin,
                        id,
                        start_time: child.start_time,
                        first_seen: now,
                    })
                }
            };
            match owner(kernel, &*lock(context.owners), child.pid, candidate) {
                Owner::None => {}
                Owner::Until(until) => {
                    wake_at(until);
                    continue;
                }
                Owner::Known => {
                    self.candidates.remove(&child.pid);
                    continue;
                }
            }
            let deadline = candidate.first_seen + grace;
            if deadline > now {
                wake_at(deadline);
                continue;
            }
            if reap(kernel, context, child.pid, candidate, to_wake) == Reaped::NotNow {
                wake_at(now + FORK_RECHECK);
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

fn owner<K: Kernel>(
    kernel: &K,
    owners: &impl Owners,
    pid: i32,
    candidate: &Candidate<K::Pin>,
) -> Owner {
    if owners.is_claimed(pid, candidate.id) {
        return Owner::Known;
    }
    match kernel.forked(pid, candidate.start_time) {
        Forked::No => Owner::None,
        Forked::Yes => Owner::Known,
        Forked::Until(until) => Owner::Until(until),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Reaped {
    /// Reaped, or not an orphan after all: forget the candidate.
    Done,
    /// A fork is under way: the zombie may be its child. Look again shortly.
    NotNow,
}

/// Reaps one orphan through its pin and broadcasts the exit, under the registry lock (so
/// `claim` cannot see its pid reused before the exit is in the subscriptions' buffers).
fn reap<K: Kernel, O: Owners>(
    kernel: &K,
    context: &ScanContext<'_, O>,
    pid: i32,
    candidate: &Candidate<K::Pin>,
    to_wake: &mut Vec<Arc<Inbox>>,
) -> Reaped {
    let mut owners = lock(context.owners);
    if kernel.fork_in_progress() {
        return Reaped::NotNow;
    }
    if !matches!(owner(kernel, &*owners, pid, candidate), Owner::None) || !context.policy.active() {
        return Reaped::Done; // claimed, or a synchronous spawn started, while we looked
    }
    let Some(w) = kernel.reap(&candidate.pin) else {
        return Reaped::Done;
    };
    if owners.take_reported(pid) == Some(candidate.start_time) {
        // Its exit already reached its watchers and the subscriptions.
        context
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
    context.counters.exit_observed(&exit);
    owners.broadcast(exit, to_wake);
    Reaped::Done
}

#[cfg(test)]
mod tests {
    //! The reaper's rules against a scripted kernel: no processes, no clock but the fake's.

    use std::cell::{Cell, RefCell};
    use std::collections::{HashSet, VecDeque};

    use super::*;
    use crate::usage::Usage;

    const START: u64 = 1000;

    struct FakeKernel {
        now: Cell<Instant>,
        boottime: u64,
        children: RefCell<Vec<ProcessEntry>>,
        /// Answers of `fork_in_progress`, in call order; `false` once empty.
        forking: RefCell<VecDeque<bool>>,
        forked: RefCell<HashMap<i32, Forked>>,
        /// The fork records (pid → start time) that `prune_forks` filters.
        fork_records: RefCell<HashMap<i32, u64>>,
        reaped: RefCell<Vec<i32>>,
    }

    impl FakeKernel {
        fn new() -> Self {
            FakeKernel {
                now: Cell::new(Instant::now()),
                boottime: START + 500,
                children: RefCell::default(),
                forking: RefCell::default(),
                forked: RefCell::default(),
                fork_records: RefCell::default(),
                reaped: RefCell::default(),
            }
        }

        fn child(&self, pid: i32, state: u8) {
            self.children.borrow_mut().push(ProcessEntry {
                pid,
                ppid: 1,
                state,
                start_time: START + pid as u64,
            });
        }

        fn advance(&self, ms: u64) {
            self.now.set(self.now.get() + Duration::from_millis(ms));
        }

        fn reaped(&self) -> Vec<i32> {
            self.reaped.borrow().clone()
        }
    }

    impl Kernel for &FakeKernel {
        type Pin = i32;

        fn now(&self) -> Instant {
            self.now.get()
        }

        fn boottime_ticks(&self) -> u64 {
            self.boottime
        }

        fn children(&self) -> Vec<ProcessEntry> {
            self.children.borrow().clone()
        }

        fn pin(&self, pid: i32) -> Option<(i32, Option<u64>)> {
            let listed = self.children.borrow().iter().any(|c| c.pid == pid);
            listed.then_some((pid, Some(pid as u64 + 7)))
        }

        fn reap(&self, pid: &i32) -> Option<WaitidExit> {
            let mut children = self.children.borrow_mut();
            let i = children.iter().position(|c| c.pid == *pid)?;
            children.remove(i);
            self.reaped.borrow_mut().push(*pid);
            Some(WaitidExit {
                code: libc::CLD_EXITED,
                status: 7,
                usage: Usage {
                    user_cpu_us: 0,
                    system_cpu_us: 0,
                    max_rss_kib: None,
                },
            })
        }

        fn fork_in_progress(&self) -> bool {
            self.forking.borrow_mut().pop_front().unwrap_or(false)
        }

        fn forked(&self, pid: i32, _start_time: u64) -> Forked {
            self.forked
                .borrow()
                .get(&pid)
                .copied()
                .unwrap_or(Forked::No)
        }

        fn prune_forks(&self, still_child: &dyn Fn(i32, u64) -> bool) {
            self.fork_records
                .borrow_mut()
                .retain(|pid, start| still_child(*pid, *start));
        }
    }

    #[derive(Default)]
    struct FakeOwners {
        claimed: HashSet<i32>,
        reported: HashMap<i32, u64>,
        broadcast: Vec<ExitInfo>,
    }

    impl Owners for FakeOwners {
        fn is_claimed(&self, pid: i32, _id: Option<u64>) -> bool {
            self.claimed.contains(&pid)
        }

        fn prune_left_to_owner(&mut self, still_child: &dyn Fn(i32) -> bool) {
            self.claimed.retain(|pid| still_child(*pid));
        }

        fn take_reported(&mut self, pid: i32) -> Option<u64> {
            self.reported.remove(&pid)
        }

        fn broadcast(&mut self, exit: ExitInfo, _to_wake: &mut Vec<Arc<Inbox>>) {
            self.broadcast.push(exit);
        }
    }

    /// One reaper over a fake kernel, with its owners, policy and counters.
    struct World<'k> {
        kernel: &'k FakeKernel,
        reaper: OrphanReaper<&'k FakeKernel>,
        owners: Mutex<FakeOwners>,
        policy: OrphanPolicy,
        counters: Counters,
    }

    impl<'k> World<'k> {
        fn new(kernel: &'k FakeKernel, grace_ms: u64) -> Self {
            let policy = OrphanPolicy::default();
            policy.enabled.store(true, Ordering::Relaxed);
            policy.grace_ms.store(grace_ms, Ordering::Relaxed);
            World {
                kernel,
                reaper: OrphanReaper::new(kernel),
                owners: Mutex::default(),
                policy,
                counters: Counters::default(),
            }
        }

        fn scan(&mut self) -> Option<Duration> {
            let context = ScanContext {
                owners: &self.owners,
                policy: &self.policy,
                counters: &self.counters,
            };
            let deadline = self.reaper.scan(&context, &mut Vec::new());
            deadline.map(|d| d - self.kernel.now.get())
        }

        fn broadcast(&self) -> Vec<ExitInfo> {
            lock(&self.owners).broadcast.clone()
        }

        fn reaped_orphans(&self) -> u64 {
            self.counters.reaped_orphans.load(Ordering::Relaxed)
        }
    }

    #[test]
    fn an_unclaimed_zombie_is_reaped_at_once_and_its_exit_broadcast() {
        let kernel = FakeKernel::new();
        kernel.child(10, b'Z');
        kernel.child(11, b'S');
        let mut world = World::new(&kernel, 0);
        assert_eq!(world.scan(), None);
        assert_eq!(kernel.reaped(), [10], "the running child is left alone");
        let exits = world.broadcast();
        assert_eq!(exits.len(), 1);
        let exit = exits[0];
        assert_eq!(
            (exit.pid, exit.id, exit.status),
            (10, Some(17), ExitStatus::Exited { code: 7 })
        );
        assert!(exit.orphan && exit.reaped);
        assert_eq!(exit.source, StatusSource::Waitid);
        assert_eq!(world.reaped_orphans(), 1);
    }

    #[test]
    fn the_grace_period_counts_from_when_the_zombie_was_first_seen() {
        let kernel = FakeKernel::new();
        kernel.child(10, b'Z');
        let mut world = World::new(&kernel, 100);
        assert_eq!(world.scan(), Some(Duration::from_millis(100)));
        kernel.advance(60);
        assert_eq!(world.scan(), Some(Duration::from_millis(40)));
        assert!(kernel.reaped().is_empty());
        kernel.advance(40);
        assert_eq!(world.scan(), None);
        assert_eq!(kernel.reaped(), [10]);
    }

    #[test]
    fn a_pid_seen_again_after_its_owner_reaped_it_starts_a_new_grace_period() {
        let kernel = FakeKernel::new();
        kernel.child(10, b'Z');
        let mut world = World::new(&kernel, 100);
        world.scan();
        kernel.children.borrow_mut().clear(); // its owner reaped it
        kernel.advance(80);
        world.scan();
        kernel.child(10, b'Z'); // the pid, reused by a new child that exited
        assert_eq!(world.scan(), Some(Duration::from_millis(100)));
        kernel.advance(30);
        world.scan();
        assert!(kernel.reaped().is_empty());
    }

    #[test]
    fn a_claimed_child_is_never_reaped() {
        let kernel = FakeKernel::new();
        kernel.child(10, b'Z');
        let mut world = World::new(&kernel, 0);
        lock(&world.owners).claimed.insert(10);
        assert_eq!(world.scan(), None);
        kernel.advance(10_000);
        world.scan();
        assert!(kernel.reaped().is_empty());
        assert!(world.broadcast().is_empty());
    }

    #[test]
    fn a_child_this_process_forked_is_left_to_its_forker() {
        let kernel = FakeKernel::new();
        kernel.child(10, b'Z');
        kernel.child(11, b'Z');
        kernel.forked.borrow_mut().insert(10, Forked::Yes);
        let ambiguous_until = kernel.now.get() + Duration::from_millis(250);
        kernel
            .forked
            .borrow_mut()
            .insert(11, Forked::Until(ambiguous_until));
        let mut world = World::new(&kernel, 0);
        assert_eq!(world.scan(), Some(Duration::from_millis(250)));
        assert!(kernel.reaped().is_empty());
        // The ambiguous record expired: 11 is an orphan after all; 10 stays its forker's.
        kernel.forked.borrow_mut().insert(11, Forked::No);
        kernel.advance(250);
        world.scan();
        assert_eq!(kernel.reaped(), [11]);
    }

    #[test]
    fn nothing_is_reaped_while_a_synchronous_spawn_runs_or_reaping_is_off() {
        let kernel = FakeKernel::new();
        kernel.child(10, b'Z');
        let mut world = World::new(&kernel, 0);
        world.policy.suspended.store(2, Ordering::Relaxed);
        assert_eq!(world.scan(), None);
        world.policy.suspended.store(1, Ordering::Relaxed);
        world.scan();
        assert!(kernel.reaped().is_empty());
        world.policy.suspended.store(0, Ordering::Relaxed);
        world.policy.enabled.store(false, Ordering::Relaxed);
        world.scan();
        assert!(kernel.reaped().is_empty());
        world.policy.enabled.store(true, Ordering::Relaxed);
        world.scan();
        assert_eq!(kernel.reaped(), [10]);
    }

    #[test]
    fn a_fork_under_way_during_the_listing_postpones_the_scan() {
        let kernel = FakeKernel::new();
        kernel.child(10, b'Z');
        kernel.forking.borrow_mut().push_back(true);
        let mut world = World::new(&kernel, 0);
        assert_eq!(world.scan(), Some(FORK_RECHECK));
        assert!(kernel.reaped().is_empty());
        assert_eq!(world.scan(), None);
        assert_eq!(kernel.reaped(), [10]);
    }

    #[test]
    fn a_fork_starting_before_the_reap_postpones_the_reap() {
        let kernel = FakeKernel::new();
        kernel.child(10, b'Z');
        // Not forking while listing; forking when the reap looks again under the lock.
        kernel.forking.borrow_mut().extend([false, true]);
        let mut world = World::new(&kernel, 0);
        assert_eq!(world.scan(), Some(FORK_RECHECK));
        assert!(kernel.reaped().is_empty());
        assert_eq!(world.scan(), None);
        assert_eq!(kernel.reaped(), [10]);
    }

    #[test]
    fn an_orphan_whose_exit_was_delivered_is_reaped_without_a_second_report() {
        let kernel = FakeKernel::new();
        kernel.child(10, b'Z');
        kernel.child(11, b'Z');
        let mut world = World::new(&kernel, 0);
        {
            let mut owners = lock(&world.owners);
            owners.reported.insert(10, START + 10);
            owners.reported.insert(11, START); // an older process with that pid
        }
        world.scan();
        let mut reaped = kernel.reaped();
        reaped.sort();
        assert_eq!(reaped, [10, 11]);
        let broadcast: Vec<i32> = world.broadcast().iter().map(|e| e.pid).collect();
        assert_eq!(broadcast, [11]);
        assert_eq!(world.reaped_orphans(), 2);
    }

    #[test]
    fn fork_records_and_claims_of_former_children_are_forgotten() {
        let kernel = FakeKernel::new();
        kernel.child(10, b'S');
        let listed_at = kernel.boottime;
        kernel.fork_records.borrow_mut().extend([
            (10, START + 10),     // a child now
            (12, START + 12),     // reaped by its owner
            (13, listed_at + 1),  // forked after the listing
            (10_000, START + 10), // a pid of an earlier process
        ]);
        let mut world = World::new(&kernel, 0);
        lock(&world.owners).claimed.extend([10, 12]);
        world.scan();
        let mut records: Vec<i32> = kernel.fork_records.borrow().keys().copied().collect();
        records.sort();
        assert_eq!(records, [10, 13]);
        assert_eq!(lock(&world.owners).claimed, HashSet::from([10]));
    }
}
