//! The state the API and the monitor thread share: the registry, the epoll set and its
//! wake-up eventfd, the counters, the orphan policy and the status sources' handles.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::capabilities::Capabilities;
use crate::error::{Error, Operation, Result};
use crate::orphans::{OrphanPolicy, ScanContext};
use crate::proc_connector::ProcConnector;
use crate::registry::Registry;
use crate::stats::Counters;
use crate::sys::{self, Interest};

pub(crate) struct Shared {
    pub registry: Mutex<Registry>,
    pub epoll: OwnedFd,
    pub wake: OwnedFd,
    pub counters: Arc<Counters>,
    pub caps: &'static Capabilities,
    next_id: AtomicU64,
    /// Serialises (re)spawning the monitor thread.
    pub spawn_lock: Mutex<()>,
    /// A monitor thread was started before: the next start is a restart.
    pub ever_started: AtomicBool,
    pub shutdown: AtomicBool,
    /// Asks the monitor thread to retry statuses that were not readable yet and to look for
    /// orphans (a SIGCHLD arrived, or the orphan policy changed).
    pub rescan_requested: AtomicBool,
    pub orphans: OrphanPolicy,
    pub signalfd: OnceLock<OwnedFd>,
    /// Orphaned descendants can become our children (subreaper, or PID 1): `waitid` may then
    /// answer for a process that was not our child when registered.
    pub adopts_orphans: AtomicBool,
    pub connector: ProcConnector,
    #[cfg(feature = "fault-injection")]
    pub faults: crate::fault::Faults,
}

/// The epoll key of the wake-up eventfd; process keys start at 1 and never reach it.
pub(crate) const WAKE_KEY: u64 = u64::MAX;
/// The epoll key of the SIGCHLD signalfd (Rust hosts that own SIGCHLD).
pub(crate) const SIGNAL_KEY: u64 = u64::MAX - 1;
/// The epoll key of the proc connector's socket.
pub(crate) const CONNECTOR_KEY: u64 = u64::MAX - 2;
/// Set in the key of a process that was our child when registered: only for those can
/// `waitid` answer (process keys are counters far below this bit and the keys above).
const CHILD_KEY_BIT: u64 = 1 << 62;

/// True when the process of `key` was our child when it was registered.
pub(crate) fn registered_as_child(key: u64) -> bool {
    key & CHILD_KEY_BIT != 0
}

impl Shared {
    /// The epoll set with its wake-up eventfd, and empty state; no thread yet.
    pub fn new(caps: &'static Capabilities) -> Result<Shared> {
        let io = |call, e: std::io::Error| Error::os(&e, Operation::Setup(call));
        let epoll = sys::epoll_create().map_err(|e| io("epoll_create1", e))?;
        let wake = sys::eventfd().map_err(|e| io("eventfd", e))?;
        sys::epoll_add(
            epoll.as_fd(),
            wake.as_raw_fd(),
            WAKE_KEY,
            Interest::Readable,
        )
        .map_err(|e| io("epoll_ctl", e))?;
        Ok(Shared {
            registry: Mutex::new(Registry::default()),
            epoll,
            wake,
            counters: Arc::new(Counters::default()),
            caps,
            next_id: AtomicU64::new(1),
            spawn_lock: Mutex::new(()),
            ever_started: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            rescan_requested: AtomicBool::new(false),
            orphans: OrphanPolicy::default(),
            signalfd: OnceLock::new(),
            adopts_orphans: AtomicBool::new(sys::getpid() == 1),
            connector: ProcConnector::new(caps),
            #[cfg(feature = "fault-injection")]
            faults: Default::default(),
        })
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A new process key, marked when the process is our child now.
    pub fn next_process_key(&self, child: bool) -> u64 {
        self.next_id() | if child { CHILD_KEY_BIT } else { 0 }
    }

    pub fn wake(&self) {
        sys::eventfd_signal(self.wake.as_fd());
    }

    /// Wakes the monitor thread to retry pending statuses and look for orphans.
    pub fn request_rescan(&self) {
        self.rescan_requested.store(true, Ordering::Release);
        self.wake();
    }

    /// What the orphan reaper consults and updates.
    pub fn orphan_context(&self) -> ScanContext<'_, Registry> {
        ScanContext {
            owners: &self.registry,
            policy: &self.orphans,
            counters: &self.counters,
        }
    }
}
