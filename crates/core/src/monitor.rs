//! The public entry point: registers processes and subscriptions, hands out inboxes, and
//! keeps exactly one monitor thread alive.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::capabilities::{self, Capabilities, Engine};
use crate::channel::Claim;
use crate::error::{Error, ErrorCode, Operation, Result};
use crate::exit::ExitInfo;
use crate::exit::{ExitStatus, StatusSource};
use crate::inbox::{Inbox, Target, Waker};
use crate::monitor_thread;
use crate::poll_engine;
use crate::provenance;
use crate::registry::{push, Pin, Process, Registry, Subscriber, Watcher};
use crate::shared::{Shared, CONNECTOR_KEY, SIGNAL_KEY};
use crate::stats::Stats;
use crate::sync::lock;
use crate::sys::{self, Interest};

/// Options of one watch.
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchOptions {
    /// exitwatch owns the process and reaps it (it must be a child of this process). Without
    /// it the status is read with `WNOWAIT` and the zombie is left to its owner.
    pub reap: bool,
    /// The process is a child whose owner in this process (Node's `ChildProcess`) will reap
    /// it and report its exact status through [`Monitor::owner_reported_exit`]. When the owner
    /// reaps it before the monitor reads the status and no kernel source kept it (before
    /// Linux 6.15), the exit waits for that report instead of being `Unknown`.
    pub owner_reports_exit: bool,
}

/// How a process comes to be registered.
enum Origin {
    /// Watched (or claimed through a subscription) by a consumer.
    Watched,
    /// Claimed for another part of this process, which owns the child and will reap it.
    Claimed,
    /// Spawned by exitwatch, with the pidfd `clone` returned where it did.
    Spawned(Option<OwnedFd>),
}

/// Watches processes for their exit. One monitor thread serves a `Monitor`, whatever the
/// number of processes; `Monitor::global()` is the one a program normally shares.
pub struct Monitor {
    pub(crate) shared: Arc<Shared>,
}

impl Monitor {
    /// A new, independent monitor with its own thread.
    pub fn new() -> Result<Monitor> {
        capabilities::engine_from_env()?;
        let shared = Arc::new(Shared::new(Capabilities::get())?);
        monitor_thread::ensure_running(&shared)?;
        provenance::track_forks();
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
    pub(crate) fn inbox(&self, waker: Option<Waker>) -> Arc<Inbox> {
        Inbox::new(self.shared.counters.clone(), waker)
    }

    /// Registers `pid`; its exit will be appended to `inbox` as `Target::Watch(token)`.
    /// Returns the token. The pidfd is opened here, so the watch names the process that
    /// has this pid now, never a later one.
    pub(crate) fn register(
        &self,
        pid: i32,
        options: WatchOptions,
        inbox: &Arc<Inbox>,
    ) -> Result<u64> {
        self.ready_to_watch(pid)?;
        self.register_into(pid, options, inbox, Origin::Watched)
    }

    /// Registers a child this process just spawned for exitwatch (see `spawn.rs`), watched
    /// and reaped by the monitor: `pidfd` is the one `clone` returned, if any.
    pub(crate) fn register_spawned(
        &self,
        pid: i32,
        pidfd: Option<OwnedFd>,
        inbox: &Arc<Inbox>,
    ) -> Result<u64> {
        let options = WatchOptions {
            reap: true,
            owner_reports_exit: false,
        };
        self.register_into(pid, options, inbox, Origin::Spawned(pidfd))
    }

    /// Registers under the lock, then wakes the inboxes that got an exit at once.
    fn register_into(
        &self,
        pid: i32,
        options: WatchOptions,
        inbox: &Arc<Inbox>,
        origin: Origin,
    ) -> Result<u64> {
        let mut to_wake = Vec::new();
        let token = {
            let mut registry = lock(&self.shared.registry);
            self.register_locked(
                &mut registry,
                pid,
                options,
                Some(inbox),
                origin,
                &mut to_wake,
            )
        };
        wake_all(to_wake);
        token
    }

    /// Without `pidfd_open` the poll engine is in use (see `Capabilities::engine`).
    fn ready_to_watch(&self, pid: i32) -> Result<()> {
        validate_pid(pid)?;
        monitor_thread::ensure_running(&self.shared)
    }

    /// Opens the pidfd (or, with the poll engine, reads the start time) under the registry
    /// lock: the monitor thread reaps owned processes under the same lock, so a pid it reaps
    /// cannot be reused and opened here before its exit is in the inboxes (what makes `claim`
    /// exact). Every call here is non-blocking. Without an inbox the process is only claimed.
    /// A zombie whose exit was delivered already gets that same exit at once (into `to_wake`).
    fn register_locked(
        &self,
        registry: &mut Registry,
        pid: i32,
        options: WatchOptions,
        inbox: Option<&Arc<Inbox>>,
        origin: Origin,
        to_wake: &mut Vec<Arc<Inbox>>,
    ) -> Result<u64> {
        let claimed = matches!(origin, Origin::Claimed);
        let spawned_pidfd = match origin {
            Origin::Spawned(pidfd) => pidfd,
            _ => None,
        };
        let connector = &self.shared.connector;
        let (pin, id, child, opened_at) = match self.shared.caps.engine {
            Engine::Pidfd => {
                // The proc connector listens before the pidfd is opened; the clock read around
                // the opening tells which of its events can be this process's (see
                // proc_connector.rs).
                let tracked = !options.reap
                    && connector.enabled()
                    && connector.listen(
                        self.shared.epoll.as_fd(),
                        CONNECTOR_KEY,
                        &self.shared.counters,
                    );
                let opened_from_ns = if tracked { sys::monotonic_ns() } else { 0 };
                let opened = spawned_pidfd
                    .map_or_else(|| sys::pidfd_open(pid), Ok)
                    .map_err(|e| Error::os(&e, Operation::Watch(pid)))
                    .and_then(|pidfd| {
                        let child = is_child(&pidfd, self.shared.caps);
                        if options.reap && !child {
                            return Err(not_a_child(pid));
                        }
                        Ok((pidfd, child))
                    });
                let opened_to_ns = if tracked { sys::monotonic_ns() } else { 0 };
                let (pidfd, child) = match opened {
                    Ok(opened) => opened,
                    Err(e) => {
                        connector.note_failed_registration();
                        return Err(e);
                    }
                };
                let id = sys::pidfd_identity(pidfd.as_fd());
                let opened_at = tracked.then_some((opened_from_ns, opened_to_ns));
                (Pin::Pidfd(Arc::new(pidfd)), id, child, opened_at)
            }
            Engine::Poll => {
                let start_time = poll_engine::pin(pid, options.reap)?;
                (Pin::StartTime(start_time), None, false, None)
            }
        };
        let token = self.shared.next_id();
        if !options.reap {
            if let Some(exit) = registry.exit_of_zombie(pid) {
                if let Some(inbox) = inbox {
                    push(inbox, Target::Watch(token), exit, to_wake);
                }
                return Ok(token);
            }
        }
        let watchers: Vec<Watcher> = inbox
            .map(|inbox| Watcher {
                token,
                inbox: inbox.clone(),
            })
            .into_iter()
            .collect();
        let same_process = match pin {
            Pin::Pidfd(_) => registry.find_same_process(pid, id, |p| !p.pin.reaped(pid)),
            Pin::StartTime(start_time) => registry.find_same_start(pid, start_time),
        };
        let key = match same_process {
            Some(key) => {
                let process = registry.processes.get_mut(&key).expect("found above");
                process.reap |= options.reap;
                process.claimed |= claimed;
                process.owner_reports_exit |= options.owner_reports_exit;
                process.watchers.extend(watchers);
                key
            }
            None => {
                let key = self.shared.next_process_key(child);
                match &pin {
                    // Registered before it is armed, so the monitor thread always finds it.
                    Pin::Pidfd(pidfd) => {
                        let armed = sys::epoll_add(
                            self.shared.epoll.as_fd(),
                            pidfd.as_raw_fd(),
                            key,
                            Interest::ReadableOnce,
                        );
                        if let Err(e) = armed {
                            connector.note_failed_registration();
                            return Err(Error::os(&e, Operation::Watch(pid)));
                        }
                    }
                    // Starts a round of the poll engine once the lock is released.
                    Pin::StartTime(_) => self.shared.wake(),
                }
                // Tracked once nothing can fail, before the monitor thread can find the process.
                if let Some((from_ns, to_ns)) = opened_at {
                    connector.track(pid, key, from_ns, to_ns);
                }
                registry.insert_process(
                    key,
                    Process {
                        pid,
                        id,
                        pin,
                        reap: options.reap,
                        claimed,
                        owner_reports_exit: options.owner_reports_exit,
                        watchers,
                    },
                );
                key
            }
        };
        if inbox.is_some() {
            registry.watches.insert(token, key);
        }
        Ok(token)
    }

    /// Removes a watch; nothing is delivered for it after this returns. A process exitwatch
    /// owns is still reaped. Returns false when the token is unknown (already exited).
    pub(crate) fn unregister(&self, token: u64) -> bool {
        let mut registry = lock(&self.shared.registry);
        let watched = registry
            .watches
            .get(&token)
            .and_then(|key| Some((*key, registry.processes.get(key)?.pid)));
        let removed = registry.unwatch(token);
        if let Some((key, pid)) = watched {
            if !registry.processes.contains_key(&key) {
                self.shared.connector.forget(pid, key);
            }
        }
        removed
    }

    /// Appends every exit observed from now on to `inbox` as `Target::Subscription(id)`.
    /// Returns the id.
    pub(crate) fn subscribe_inbox(&self, inbox: &Arc<Inbox>) -> Result<u64> {
        monitor_thread::ensure_running(&self.shared)?;
        let id = self.shared.next_id();
        lock(&self.shared.registry).subscribers.push(Subscriber {
            id,
            inbox: inbox.clone(),
        });
        Ok(id)
    }

    /// Ends a subscription: nothing more is appended for it, and what was queued for it and
    /// not taken yet is dropped. Synchronous; false when already ended.
    pub(crate) fn unsubscribe(&self, id: u64) -> bool {
        lock(&self.shared.registry).unsubscribe(id)
    }

    /// Claims `pid` for a subscription: its exit if the subscription already holds one
    /// (still queued in its inbox), else a new watch delivering to `watch_inbox`. Atomic
    /// with respect to the monitor's reaping, so a recycled pid is never watched by mistake.
    pub(crate) fn claim(
        &self,
        subscription: u64,
        pid: i32,
        options: WatchOptions,
        watch_inbox: &Arc<Inbox>,
    ) -> Result<Claim<u64>> {
        self.ready_to_watch(pid)?;
        let mut registry = lock(&self.shared.registry);
        let subscriber = registry.subscriber(subscription).ok_or_else(|| {
            Error::invalid("the subscription was disposed: subscribe() again before claiming")
        })?;
        if let Some(exit) = subscriber
            .inbox
            .find(Target::Subscription(subscription), pid)
        {
            return Ok(Claim::Exited(exit));
        }
        let mut to_wake = Vec::new();
        let claimed = self
            .register_locked(
                &mut registry,
                pid,
                options,
                Some(watch_inbox),
                Origin::Watched,
                &mut to_wake,
            )
            .map(Claim::Running);
        drop(registry);
        wake_all(to_wake);
        claimed
    }

    /// The consumer of `inbox` is gone: removes its watches and subscriptions (owned
    /// processes are still reaped) and drops what was queued for it.
    pub(crate) fn close_inbox(&self, inbox: &Arc<Inbox>) {
        let mut registry = lock(&self.shared.registry);
        registry.remove_inbox(inbox);
        self.shared
            .connector
            .retain(|key| registry.processes.contains_key(&key));
        drop(registry);
        inbox.clear();
    }

    /// Sends `signal` to the watched process through its pidfd. Fails with `ESRCH` once its
    /// exit has been observed: a recycled pid is never signalled. Without pidfds the process's
    /// start time is checked right before `kill(2)` (see `poll_engine::signal`).
    pub(crate) fn kill(&self, token: u64, signal: i32) -> Result<()> {
        if !(0..=64).contains(&signal) {
            return Err(Error::invalid(format!("{signal} is not a signal number")));
        }
        let (pid, pidfd) = {
            let registry = lock(&self.shared.registry);
            let process = registry
                .watches
                .get(&token)
                .and_then(|key| registry.processes.get(key))
                .ok_or_else(|| Error::exited(None))?;
            match &process.pin {
                Pin::Pidfd(pidfd) => (process.pid, pidfd.clone()),
                // Under the lock: see `poll_engine::signal`.
                Pin::StartTime(start_time) => {
                    return poll_engine::signal(process.pid, *start_time, signal)
                }
            }
        };
        sys::pidfd_send_signal(pidfd.as_fd(), signal).map_err(|e| match e.raw_os_error() {
            Some(libc::ESRCH) => Error::exited(Some(pid)),
            _ => Error::os(&e, Operation::Kill(pid)),
        })
    }

    /// Tells the monitor a SIGCHLD arrived (for hosts where someone else owns SIGCHLD, such
    /// as Node's libuv): held-back statuses are retried and orphans looked for.
    pub fn notify_sigchld(&self) {
        // Most SIGCHLDs concern exits the pidfds already reported: wake only if needed. The
        // poll engine checks its processes on each SIGCHLD.
        let polled = self.shared.caps.engine == Engine::Poll;
        let needed = self.shared.orphans.enabled.load(Ordering::Acquire) || {
            let registry = lock(&self.shared.registry);
            !registry.pending.is_empty() || (polled && !registry.processes.is_empty())
        };
        if !needed {
            return;
        }
        self.shared.request_rescan();
    }

    /// Reaps orphans: zombie children nobody claimed, once they stayed zombies for `grace`.
    /// Sets PR_SET_CHILD_SUBREAPER unless this process is PID 1 (orphans of the namespace
    /// come to PID 1 anyway). Their exits go to every subscription, marked `orphan`.
    pub fn enable_orphan_reaping(&self, grace: Duration) -> Result<()> {
        if self.shared.caps.engine == Engine::Poll {
            return Err(Error::new(
                ErrorCode::Enosys,
                "orphan reaping needs pidfds (pidfd_open), which pin each zombie so that a reused pid is never reaped; this system has none (engine: poll). Becoming a subreaper without reaping orphans still works",
            ));
        }
        monitor_thread::ensure_running(&self.shared)?;
        if sys::getpid() != 1 && !sys::is_child_subreaper() {
            // Never a subreaper before: every child this process has now, it forked.
            provenance::record_current_children();
        }
        self.set_child_subreaper()?;
        let grace_ms = grace.as_millis().min(u64::MAX as u128) as u64;
        self.shared
            .orphans
            .grace_ms
            .store(grace_ms, Ordering::Relaxed);
        self.shared.orphans.enabled.store(true, Ordering::Release);
        self.shared.request_rescan();
        Ok(())
    }

    /// Makes this process a child subreaper (a no-op as PID 1, which is one already).
    pub fn set_child_subreaper(&self) -> Result<()> {
        if sys::getpid() == 1 {
            return Ok(());
        }
        sys::set_child_subreaper().map_err(|e| Error::os(&e, Operation::SetChildSubreaper))?;
        self.shared.adopts_orphans.store(true, Ordering::Release);
        Ok(())
    }

    pub fn orphan_reaping_enabled(&self) -> bool {
        self.shared.orphans.enabled.load(Ordering::Acquire)
    }

    /// Claims a child whose owner will reap it (e.g. one Node's `child_process` started), so
    /// orphan reaping never takes it. Its exit still reaches the subscriptions.
    /// `owner_reports_exit`: see [`WatchOptions::owner_reports_exit`].
    pub fn claim_child(&self, pid: i32, owner_reports_exit: bool) -> Result<()> {
        self.ready_to_watch(pid)?;
        let options = WatchOptions {
            reap: false,
            owner_reports_exit,
        };
        let mut registry = lock(&self.shared.registry);
        self.register_locked(
            &mut registry,
            pid,
            options,
            None,
            Origin::Claimed,
            &mut Vec::new(),
        )
        .map(|_| ())
    }

    /// The owner of child `pid` reaped it and reports its exact status (Node's `ChildProcess`
    /// 'exit'). It is delivered, with source `ChildProcess`, to a registered process of that
    /// pid with `owner_reports_exit` that is reaped now and whose exit was not delivered yet —
    /// if no kernel source has the status: the monitor found none, or the kernel has no
    /// `PIDFD_INFO_EXIT` (then none can exist once the owner reaped it). A report for anything
    /// else (delivered already, a newer process) changes nothing.
    pub fn owner_reported_exit(&self, pid: i32, status: ExitStatus) {
        let mut to_wake = Vec::new();
        {
            let mut registry = lock(&self.shared.registry);
            let kernel_keeps_status = self.shared.caps.pidfd_info_exit;
            let awaits_report = |key: &u64, p: &Process| {
                p.pid == pid
                    && p.owner_reports_exit
                    && (registry.awaiting_owner.contains(key) || !kernel_keeps_status)
                    && p.pin.reaped(pid)
            };
            let Some(key) = registry
                .processes
                .iter()
                .find(|(key, p)| awaits_report(key, p))
                .map(|(key, _)| *key)
            else {
                return;
            };
            let id = registry.processes[&key].id;
            let exit = ExitInfo::observed_now(pid, id, status, StatusSource::ChildProcess);
            self.shared.counters.exit_observed(&exit);
            registry.deliver_exit(key, exit, &mut to_wake);
            self.shared.connector.forget(pid, key);
        }
        wake_all(to_wake);
    }

    /// Pauses orphan reaping while a synchronous spawn runs (its child is its own to reap).
    /// Calls nest; each must be matched by `resume_orphan_reaping`.
    pub fn suspend_orphan_reaping(&self) {
        self.shared.orphans.suspended.fetch_add(1, Ordering::AcqRel);
    }

    pub fn resume_orphan_reaping(&self) {
        let previous = self.shared.orphans.suspended.fetch_sub(1, Ordering::AcqRel);
        if previous == 1 {
            self.shared.request_rescan();
        }
    }

    /// For Rust hosts that own SIGCHLD: receive it through a signalfd on the monitor thread.
    /// SIGCHLD must be blocked in every thread of the process (block it in `main` before
    /// any thread starts, this monitor's included).
    pub fn use_signalfd(&self) -> Result<()> {
        let io = |e: std::io::Error| Error::os(&e, Operation::Setup("signalfd"));
        if self.shared.signalfd.get().is_some() {
            return Ok(());
        }
        let fd = sys::signalfd_sigchld().map_err(io)?;
        sys::epoll_add(
            self.shared.epoll.as_fd(),
            fd.as_raw_fd(),
            SIGNAL_KEY,
            Interest::Readable,
        )
        .map_err(io)?;
        let _ = self.shared.signalfd.set(fd);
        self.shared.request_rescan();
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        let (watched, pending, subscriptions) = {
            let registry = lock(&self.shared.registry);
            (
                registry.processes.len(),
                registry.pending.len(),
                registry.subscribers.len(),
            )
        };
        self.shared.counters.snapshot(
            watched,
            pending,
            subscriptions,
            sys::open_descriptor_count(),
            self.shared.connector.is_open(),
        )
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake();
    }
}

/// Wakes the consumers whose inboxes went non-empty, outside every lock.
fn wake_all(to_wake: Vec<Arc<Inbox>>) {
    for inbox in to_wake {
        inbox.wake();
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

/// Whether the process is our child now (`waitid` answers ECHILD for anything else). Asked
/// once at registration, so that the monitor never asks `waitid` where it can only fail.
fn is_child(pidfd: &OwnedFd, caps: &Capabilities) -> bool {
    caps.waitid_pidfd
        && !matches!(
            sys::waitid_pidfd(pidfd.as_fd(), false),
            Err(e) if e.raw_os_error() == Some(libc::ECHILD)
        )
}

/// `reap: true` is only for children: anything else has another owner whose status we
/// would steal (and the kernel would refuse anyway).
fn not_a_child(pid: i32) -> Error {
    Error::invalid(format!(
        "reap: true needs a child of this process, and {pid} is not one (or was already reaped)"
    ))
}
