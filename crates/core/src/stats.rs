//! Health counters, updated lock-free and read as one `Stats` snapshot.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exit::{ExitInfo, StatusSource};

#[derive(Default)]
pub(crate) struct Counters {
    pub exits_observed: AtomicU64,
    pub reaped_owned: AtomicU64,
    pub reaped_orphans: AtomicU64,
    pub unknown_statuses: AtomicU64,
    pub by_source: [AtomicU64; StatusSource::ALL.len()],
    pub queue_depth: AtomicUsize,
    pub queue_depth_max: AtomicUsize,
    pub monitor_thread_alive: AtomicBool,
    pub monitor_thread_restarts: AtomicU64,
    pub wakeups: AtomicU64,
    /// Milliseconds since the Unix epoch of the last wake-up; 0 before the first.
    pub last_wakeup_ms: AtomicU64,
    pub status_retries: AtomicU64,
    pub fallback_exits: AtomicU64,
    pub proc_connector_events: AtomicU64,
    pub proc_connector_overruns: AtomicU64,
    pub proc_connector_failures: AtomicU64,
    pub proc_connector_waits: AtomicU64,
    pub proc_connector_missed: AtomicU64,
    pub spawned: AtomicU64,
    pub spawn_failures: AtomicU64,
    pub spawn_refusals: AtomicU64,
}

impl Counters {
    pub fn queued(&self, n: usize) {
        let depth = self.queue_depth.fetch_add(n, Ordering::Relaxed) + n;
        self.queue_depth_max.fetch_max(depth, Ordering::Relaxed);
    }

    pub fn dequeued(&self, n: usize) {
        self.queue_depth.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn exit_observed(&self, exit: &ExitInfo) {
        self.exits_observed.fetch_add(1, Ordering::Relaxed);
        self.by_source[exit.source.index()].fetch_add(1, Ordering::Relaxed);
        if exit.source == StatusSource::None {
            self.unknown_statuses.fetch_add(1, Ordering::Relaxed);
        }
        if exit.orphan {
            self.reaped_orphans.fetch_add(1, Ordering::Relaxed);
        } else if exit.reaped {
            self.reaped_owned.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn woke_up(&self) {
        self.wakeups.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.last_wakeup_ms
            .store(now.as_millis() as u64, Ordering::Relaxed);
    }
}

/// Calls `$callback!` with every field of [`Stats`], in order, each with its doc comment:
/// `$(#[doc = "…"])* name: Type,` (plain `#[doc]` strings, which bindings' code generators
/// read as they are). The types are `u64` (counts), `usize` (sizes), `bool`,
/// `Option<SystemTime>` and `Vec<(StatusSource, u64)>`. The one list of the health figures:
/// `Stats` is generated from it, and so can a binding's own shape of them be.
#[macro_export]
macro_rules! for_each_stat {
    ($callback:ident) => {
        $callback! {
            #[doc = "Processes registered and not yet exited."]
            watched: usize,
            exits_observed: u64,
            #[doc = "Processes exitwatch reaped because it owned them (`reap: true`)."]
            reaped_owned: u64,
            #[doc = "Orphans exitwatch reaped as PID 1 / subreaper."]
            reaped_orphans: u64,
            #[doc = "Exits whose status no source had (`status: Unknown`)."]
            unknown_statuses: u64,
            #[doc = "Exits per status source."]
            by_source: Vec<(StatusSource, u64)>,
            #[doc = "Events queued in inboxes and not yet taken by their consumers."]
            queue_depth: usize,
            queue_depth_max: usize,
            #[doc = "Exits seen but whose status was not readable yet (ptrace, unreaped foreign zombie)."]
            pending_statuses: usize,
            status_retries: u64,
            #[doc = "The monitor thread is running."]
            monitor_thread_alive: bool,
            #[doc = "Times the monitor thread was started again after it died."]
            monitor_thread_restarts: u64,
            #[doc = "Times the monitor thread returned from `epoll_wait`."]
            wakeups: u64,
            #[doc = "When it last did."]
            last_wakeup: Option<SystemTime>,
            #[doc = "Subscriptions (iterators, pre-start subscriptions) open now."]
            subscriptions: usize,
            #[doc = "Open descriptors of the whole process (each watched process holds one pidfd)."]
            descriptors_in_use: usize,
            #[doc = "Locks recovered after a panic while they were held."]
            poison_recoveries: u64,
            #[doc = "Exits observed by the poll engine (no pidfds on this system)."]
            fallback_exits: u64,
            #[doc = "The proc connector's socket is open (some process not reaped by exitwatch is watched and the connector is in use)."]
            proc_connector_listening: bool,
            #[doc = "Process events read from the connector (each one a wake-up's worth of work)."]
            proc_connector_events: u64,
            #[doc = "Times its socket overflowed and events were lost: the processes watched then fall back to the other sources."]
            proc_connector_overruns: u64,
            #[doc = "Times it could not be opened or read."]
            proc_connector_failures: u64,
            #[doc = "Exits found reaped by their owner before the connector's event for them was read (the kernel queues it just after it wakes the owner): each waited for its event, up to 1 s."]
            proc_connector_waits: u64,
            #[doc = "Of those, exits whose event did not come within that second (the process exited before the socket listened, or the event was lost): delivered as unknown."]
            proc_connector_missed: u64,
            #[doc = "Processes started by `spawn()`."]
            spawned: u64,
            #[doc = "Spawns that failed once their options were checked (ENOENT, EACCES, a bad `cwd`, ...), each thrown as an error that left nothing behind."]
            spawn_failures: u64,
            #[doc = "Times the system refused a step of a spawn that has a slower way (`CLONE_FILES`, `CLONE_PIDFD`, `close_range` refused or missing) and the spawn went on without it."]
            spawn_refusals: u64,
        }
    };
}

macro_rules! define_stats {
    ($($(#[$doc:meta])* $name:ident: $type:ty,)*) => {
        /// A snapshot of the monitor's health.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Stats {
            $($(#[$doc])* pub $name: $type,)*
        }
    };
}

for_each_stat!(define_stats);

impl Counters {
    pub fn snapshot(
        &self,
        watched: usize,
        pending_statuses: usize,
        subscriptions: usize,
        descriptors_in_use: usize,
        proc_connector_listening: bool,
    ) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let last = load(&self.last_wakeup_ms);
        Stats {
            watched,
            exits_observed: load(&self.exits_observed),
            reaped_owned: load(&self.reaped_owned),
            reaped_orphans: load(&self.reaped_orphans),
            unknown_statuses: load(&self.unknown_statuses),
            by_source: StatusSource::ALL
                .iter()
                .map(|s| (*s, load(&self.by_source[s.index()])))
                .collect(),
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            queue_depth_max: self.queue_depth_max.load(Ordering::Relaxed),
            pending_statuses,
            status_retries: load(&self.status_retries),
            monitor_thread_alive: self.monitor_thread_alive.load(Ordering::Relaxed),
            monitor_thread_restarts: load(&self.monitor_thread_restarts),
            wakeups: load(&self.wakeups),
            last_wakeup: (last != 0).then(|| UNIX_EPOCH + Duration::from_millis(last)),
            subscriptions,
            descriptors_in_use,
            poison_recoveries: crate::sync::POISON_RECOVERIES.load(Ordering::Relaxed),
            fallback_exits: load(&self.fallback_exits),
            proc_connector_listening,
            proc_connector_events: load(&self.proc_connector_events),
            proc_connector_overruns: load(&self.proc_connector_overruns),
            proc_connector_failures: load(&self.proc_connector_failures),
            proc_connector_waits: load(&self.proc_connector_waits),
            proc_connector_missed: load(&self.proc_connector_missed),
            spawned: load(&self.spawned),
            spawn_failures: load(&self.spawn_failures),
            spawn_refusals: load(&self.spawn_refusals),
        }
    }
}
