//! Exited processes that are not ours, left to their owner to reap for a short while: the
//! reap puts the exit status in `PIDFD_INFO_EXIT`, one system call to read, where the
//! unreaped zombie's `/proc/<pid>/stat` costs five and most of the monitor's CPU. Kept by
//! the monitor thread alone.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use crate::capabilities::Capabilities;
use crate::exit::ExitInfo;
use crate::sys::{self, Interest};

/// How long an owner gets to reap before the zombie's `/proc/<pid>/stat` is read instead:
/// the most an exit whose owner does not reap is reported late. Owners that reap on SIGCHLD
/// (a shell, libuv, an init) do so within microseconds, a few milliseconds under load.
pub const OWNER_REAP_GRACE: Duration = Duration::from_millis(20);

/// How a pidfd is armed. Where the reap keeps the status (`PIDFD_INFO_EXIT`), a process that
/// was not our child when registered reports its exit and then its reap, so the wait for its
/// owner costs no system call. Otherwise a pidfd reports once: our children's status never
/// depends on the reap, and without `PIDFD_INFO_EXIT` nothing waits for it, so the reap would
/// only wake the monitor again for nothing.
pub(crate) fn pidfd_interest(registered_as_child: bool, caps: &Capabilities) -> Interest {
    if caps.pidfd_info_exit && !registered_as_child {
        Interest::ExitAndReap
    } else {
        Interest::ReadableOnce
    }
}

/// Waits that would end within this much after one that ends now end with it: a burst of
/// exits whose owner does not reap costs one wake-up, not one per batch of exit reports. (So
/// an owner gets between `OWNER_REAP_GRACE` minus this and `OWNER_REAP_GRACE`.)
const OVERDUE_TOGETHER: Duration = Duration::from_millis(5);

/// How long the monitor pauses, after a round that left exits to their owners, before it waits
/// for the next reports: reaps that come meanwhile (owners reap within microseconds, a few
/// hundred under load) are then read in one round instead of waking the thread once each,
/// which halved the monitor's CPU per exit in a burst of foreign exits. Other exits that come
/// meanwhile are reported at most this much later.
pub(crate) const REAP_BATCH_PAUSE: Duration = Duration::from_micros(250);

/// When the monitor first saw an exit: what the exit reports as its time, however long the
/// owner took to reap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    at: SystemTime,
    monotonic_ns: u64,
}

impl Seen {
    pub fn now() -> Seen {
        Seen {
            at: SystemTime::now(),
            monotonic_ns: sys::monotonic_ns(),
        }
    }

    pub fn stamp(self, exit: &mut ExitInfo) {
        exit.exited_at = self.at;
        exit.monotonic_ns = self.monotonic_ns;
    }
}

#[derive(Default)]
pub(crate) struct ReapWaits {
    /// Deadlines with their process keys, oldest first (one grace for all keeps them in order).
    /// A key whose wait ended early stays here until its deadline and is skipped then.
    deadlines: VecDeque<(Instant, u64)>,
    /// Process key → when its exit was seen, for the processes still waited for.
    seen: HashMap<u64, Seen>,
    /// A wait started since the last `take_started`.
    started: bool,
}

impl ReapWaits {
    /// Starts waiting for the owner of process `key` to reap it.
    pub fn start(&mut self, key: u64, seen: Seen, now: Instant) {
        if let Entry::Vacant(entry) = self.seen.entry(key) {
            entry.insert(seen);
            self.deadlines.push_back((now + OWNER_REAP_GRACE, key));
            self.started = true;
        }
    }

    /// True when a wait started since the last call: reaps are about to come.
    pub fn take_started(&mut self) -> bool {
        std::mem::take(&mut self.started)
    }

    /// Ends the wait for `key`, if there was one (its status is read now): when its exit was
    /// first seen.
    pub fn finish(&mut self, key: u64) -> Option<Seen> {
        if self.seen.is_empty() {
            return None;
        }
        self.seen.remove(&key)
    }

    /// The earliest deadline of a process still waited for.
    pub fn deadline(&mut self) -> Option<Instant> {
        while let Some(&(deadline, key)) = self.deadlines.front() {
            if self.seen.contains_key(&key) {
                return Some(deadline);
            }
            self.deadlines.pop_front();
        }
        None
    }

    /// The processes whose owner did not reap them in time (their waits stay until
    /// `finish`, which gives back when they were seen).
    pub fn overdue(&mut self, now: Instant) -> impl Iterator<Item = u64> + '_ {
        let mut until = None;
        std::iter::from_fn(move || loop {
            let &(deadline, key) = self.deadlines.front()?;
            // Once one is due, those due soon after go with it.
            let until =
                *until.get_or_insert_with(|| (deadline <= now).then(|| now + OVERDUE_TOGETHER));
            if until.is_none_or(|until| deadline > until) {
                return None;
            }
            self.deadlines.pop_front();
            if self.seen.contains_key(&key) {
                return Some(key);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_overdue_after_the_grace_and_keeps_its_first_sighting() {
        let mut waits = ReapWaits::default();
        let t0 = Instant::now();
        let seen = Seen::now();
        assert!(!waits.take_started());
        waits.start(1, seen, t0);
        waits.start(2, Seen::now(), t0 + Duration::from_millis(1));
        assert!(waits.take_started());
        assert!(!waits.take_started(), "taken");
        assert_eq!(waits.deadline(), Some(t0 + OWNER_REAP_GRACE));
        assert_eq!(waits.overdue(t0).count(), 0, "not before the grace");
        waits.start(3, Seen::now(), t0 + OVERDUE_TOGETHER * 2);
        let late = t0 + OWNER_REAP_GRACE;
        assert_eq!(
            waits.overdue(late).collect::<Vec<_>>(),
            [1, 2],
            "with the one due, the one due soon after"
        );
        assert_eq!(waits.finish(1), Some(seen));
        assert_eq!(waits.finish(1), None);
        waits.finish(2);
        assert_eq!(
            waits.deadline(),
            Some(t0 + OVERDUE_TOGETHER * 2 + OWNER_REAP_GRACE)
        );
    }

    #[test]
    fn only_processes_not_ours_report_their_reap_and_only_where_it_keeps_the_status() {
        let with = Capabilities {
            pidfd_info_exit: true,
            ..Capabilities::get().clone()
        };
        let without = Capabilities {
            pidfd_info_exit: false,
            ..with.clone()
        };
        assert!(matches!(
            pidfd_interest(false, &with),
            Interest::ExitAndReap
        ));
        assert!(matches!(
            pidfd_interest(true, &with),
            Interest::ReadableOnce
        ));
        assert!(matches!(
            pidfd_interest(false, &without),
            Interest::ReadableOnce
        ));
    }

    #[test]
    fn a_wait_ended_by_the_reap_is_never_overdue() {
        let mut waits = ReapWaits::default();
        let t0 = Instant::now();
        let seen = Seen::now();
        waits.start(7, seen, t0);
        waits.start(7, Seen::now(), t0 + Duration::from_millis(5)); // one wait per process
        assert_eq!(waits.finish(7), Some(seen));
        assert_eq!(waits.deadline(), None);
        assert_eq!(waits.overdue(t0 + OWNER_REAP_GRACE * 2).count(), 0);
    }
}
