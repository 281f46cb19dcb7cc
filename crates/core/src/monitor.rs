//! The public entry point: registers processes, hands out inboxes, and keeps exactly one
//! monitor thread alive.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::capabilities::Capabilities;
use crate::error::{Error, ErrorCode, Result};
use crate::inbox::{Inbox, Waker};
use crate::registry::{Process, Registry, Watcher};
use crate::stats::{Counters, Stats};
use crate::sync::lock;
use crate::sys::{self, Interest};
use crate::worker;

/// Options of one watch.
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchOptions {
    /// exitwatch owns the process and reaps it (it must be a child of this process). Without
    /// it the status is read with `WNOWAIT` and the zombie is left to its owner.
    pub reap: bool,
}

/// State shared by the API and the monitor thread.
pub(crate) struct Shared {
    pub registry: Mutex<Registry>,
    pub epoll: OwnedFd,
    pub wake: OwnedFd,
    pub counters: Arc<Counters>,
    pub caps: &'static Capabilities,
    next_id: AtomicU64,
    /// Serialises (re)spawning the monitor thread.
    spawn_lock: Mutex<()>,
    /// A monitor thread was started before: the next start is a restart.
    pub ever_started: AtomicBool,
    pub shutdown: AtomicBool,
    /// Asks the monitor thread to retry statuses that were not readable yet.
    pub retry_requested: AtomicBool,
    #[cfg(feature = "fault-injection")]
    pub faults: crate::fault::Faults,
}

/// The epoll key of the wake-up eventfd; process keys start at 1 and never reach it.
pub(crate) const WAKE_KEY: u64 = u64::MAX;

impl Shared {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn wake(&self) {
        sys::eventfd_signal(self.wake.as_fd());
    }

    /// Starts the monitor thread if it is not running (first use, or after it died).
    pub fn ensure_worker(self: &Arc<Self>) -> Result<()> {
        if self.counters.worker_alive.load(Ordering::Acquire) {
            return Ok(());
        }
        let _guard = lock(&self.spawn_lock);
        if self.counters.worker_alive.load(Ordering::Acquire) {
            return Ok(());
        }
        worker::spawn(self.clone()).map_err(|e| {
            Error::new(
                ErrorCode::Emfile,
                format!("could not start the exitwatch monitor thread: {e}"),
            )
        })
    }
}

/// Watches processes for their exit. One monitor thread serves a `Monitor`, whatever the
/// number of processes; `Monitor::global()` is the one a program normally shares.
pub struct Monitor {
    pub(crate) shared: Arc<Shared>,
}

impl Monitor {
    /// A new, independent monitor with its own thread.
    pub fn new() -> Result<Monitor> {
        let caps = Capabilities::get();
        let io = |what: &str, e: std::io::Error| Error::from_io(&e, 0, what);
        let epoll = sys::epoll_create().map_err(|e| io("epoll_create1", e))?;
        let wake = sys::eventfd().map_err(|e| io("eventfd", e))?;
        sys::epoll_add(
            epoll.as_fd(),
            wake.as_raw_fd(),
            WAKE_KEY,
            Interest::Readable,
        )
        .map_err(|e| io("epoll_ctl", e))?;
        let shared = Arc::new(Shared {
            registry: Mutex::new(Registry::default()),
            epoll,
            wake,
            counters: Arc::new(Counters::default()),
            caps,
            next_id: AtomicU64::new(1),
            spawn_lock: Mutex::new(()),
            ever_started: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            retry_requested: AtomicBool::new(false),
            #[cfg(feature = "fault-injection")]
            faults: Default::default(),
        });
        shared.ensure_worker()?;
        Ok(Monitor { shared })
    }

    /// The process-wide monitor, created on first use.
    pub fn global() -> Result<&'static Monitor> {
        static GLOBAL: OnceLock<Monitor> = OnceLock::new();
        static CREATING: Mutex<()> = Mutex::new(());
        if let Some(monitor) = GLOBAL.get() {
            return Ok(monitor);
        }
        let _creating = lock(&CREATING);
        if let Some(monitor) = GLOBAL.get() {
            return Ok(monitor);
        }
        let monitor = Monitor::new()?;
        Ok(GLOBAL.get_or_init(|| monitor))
    }

    pub fn capabilities(&self) -> &'static Capabilities {
        self.shared.caps
    }

    /// A new inbox. `waker` is called, outside every lock, each time it goes from empty to
    /// non-empty; it must not block.
    pub fn inbox(&self, waker: Option<Waker>) -> Arc<Inbox> {
        Inbox::new(self.shared.counters.clone(), waker)
    }

    /// Registers `pid`; its exit will be appended to `inbox` as `Target::Watch(token)`.
    /// Returns the token. The pidfd is opened here, so the watch names the process that
    /// has this pid now, never a later one.
    pub fn register(&self, pid: i32, options: WatchOptions, inbox: &Arc<Inbox>) -> Result<u64> {
        validate_pid(pid)?;
        self.shared.ensure_worker()?;
        if !self.shared.caps.pidfd_open {
            return Err(Error::new(
                ErrorCode::Enosys,
                "this kernel has no pidfd_open (Linux 5.3+ is required to watch processes)",
            ));
        }
        let pidfd = sys::pidfd_open(pid).map_err(|e| Error::from_io(&e, pid, "watch"))?;
        if options.reap {
            ensure_child(&pidfd, pid)?;
        }
        let id = sys::pidfd_identity(pidfd.as_fd());
        let token = self.shared.next_id();
        let watcher = Watcher {
            token,
            inbox: inbox.clone(),
        };

        let mut registry = lock(&self.shared.registry);
        if let Some(key) = registry.find_same_process(pid, id) {
            let process = registry.processes.get_mut(&key).expect("found above");
            process.reap |= options.reap;
            process.watchers.push(watcher);
            registry.watches.insert(token, key);
            return Ok(token);
        }
        let key = self.shared.next_id();
        // Registered before it is armed, so the monitor thread always finds the process.
        sys::epoll_add(
            self.shared.epoll.as_fd(),
            pidfd.as_raw_fd(),
            key,
            Interest::ReadableOnce,
        )
        .map_err(|e| Error::from_io(&e, pid, "watch"))?;
        registry.insert_process(
            key,
            Process {
                pid,
                id,
                pidfd: Arc::new(pidfd),
                reap: options.reap,
                watchers: vec![watcher],
            },
        );
        registry.watches.insert(token, key);
        Ok(token)
    }

    /// Removes a watch; nothing is delivered for it after this returns. A process exitwatch
    /// owns is still reaped. Returns false when the token is unknown (already exited).
    pub fn unregister(&self, token: u64) -> bool {
        lock(&self.shared.registry).unwatch(token)
    }

    /// The consumer of `inbox` is gone: removes its watches (owned processes are still
    /// reaped) and drops what was queued for it.
    pub fn close_inbox(&self, inbox: &Arc<Inbox>) {
        lock(&self.shared.registry).remove_inbox(inbox);
        inbox.clear();
    }

    /// Sends `signal` to the watched process through its pidfd. Fails with `ESRCH` once its
    /// exit has been observed: a recycled pid is never signalled.
    pub fn kill(&self, token: u64, signal: i32) -> Result<()> {
        let (pid, pidfd) = {
            let registry = lock(&self.shared.registry);
            let process = registry
                .watches
                .get(&token)
                .and_then(|key| registry.processes.get(key))
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::Esrch,
                        "the process has already exited; nothing was signalled",
                    )
                })?;
            (process.pid, process.pidfd.clone())
        };
        if !(0..=64).contains(&signal) {
            return Err(Error::invalid(format!("{signal} is not a signal number")));
        }
        sys::pidfd_send_signal(pidfd.as_fd(), signal).map_err(|e| match e.raw_os_error() {
            Some(libc::ESRCH) => Error::exited(pid),
            _ => Error::from_io(&e, pid, "kill"),
        })
    }

    /// Tells the monitor a SIGCHLD arrived (for hosts where someone else owns SIGCHLD, such
    /// as Node's libuv): statuses that were held back are retried now.
    pub fn notify_sigchld(&self) {
        // Most SIGCHLDs concern exits the pidfds already reported: wake only if needed.
        if lock(&self.shared.registry).pending.is_empty() {
            return;
        }
        self.shared.retry_requested.store(true, Ordering::Release);
        self.shared.wake();
    }

    pub fn stats(&self) -> Stats {
        let (watched, pending) = {
            let registry = lock(&self.shared.registry);
            (registry.processes.len(), registry.pending.len())
        };
        self.shared
            .counters
            .snapshot(watched, watched, pending, sys::open_descriptor_count())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake();
    }
}

fn validate_pid(pid: i32) -> Result<()> {
    if pid <= 0 {
        return Err(Error::invalid(format!(
            "{pid} is not a process id: pids are positive integers"
        )));
    }
    let max = sys::pid_max();
    if pid >= max {
        return Err(Error::invalid(format!(
            "{pid} is not a process id: this system's pids are below {max} (kernel.pid_max)"
        )));
    }
    if pid == sys::getpid() {
        return Err(Error::invalid("a process cannot watch its own exit"));
    }
    Ok(())
}

/// `reap: true` is only for children: anything else has another owner whose status we
/// would steal (and the kernel would refuse anyway).
fn ensure_child(pidfd: &OwnedFd, pid: i32) -> Result<()> {
    match sys::waitid_pidfd(pidfd.as_fd(), false) {
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Err(Error::invalid(format!(
            "reap: true needs a child of this process, and {pid} is not one (or was already reaped)"
        ))),
        _ => Ok(()),
    }
}
