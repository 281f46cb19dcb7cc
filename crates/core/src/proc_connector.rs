//! The kernel's process-events connector (netlink `NETLINK_CONNECTOR`, group `CN_IDX_PROC`) as
//! a status source for processes exitwatch does not reap. Its `PROC_EVENT_EXIT` carries the
//! wait status of every exiting task of the system, even after the owner reaped the process —
//! what `PIDFD_INFO_EXIT` gives on Linux 6.15+, for older kernels. Usable in the initial
//! network, PID and time namespaces (its pids and timestamps are the initial namespaces'), as
//! root or with `CAP_NET_ADMIN` before Linux 6.6, by any user since.
//!
//! One socket, on the monitor's epoll, open only while some registered process is tracked.
//! Only the events of tracked pids are kept. The pidfd proves that until its process is
//! reaped no other process holds the pid, and a new holder can only appear through a fork
//! event (stamped by the kernel with `CLOCK_MONOTONIC`). So the status of a registration is the
//! last exit event of its thread group after the last fork of the pid stamped before its pidfd
//! was opened, and before the first fork stamped after it; a fork stamped while the pidfd was
//! being opened leaves it unknown, and so does a fork stamped after it that follows an exit
//! stamped before (the kernel stamps a fork just after the new process becomes visible, so that
//! fork may be our own process's). Lost events (`ENOBUFS`) make every tracked registration
//! untrusted: they fall back to the other sources.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::capabilities::Capabilities;
use crate::stats::Counters;
use crate::sync::lock;
use crate::sys::{self, Interest};

/// `EXITWATCH_PROC_CONNECTOR`: `on` listens even where `PIDFD_INFO_EXIT` exists (tests,
/// benchmarks), `off` never listens; unset or anything else: only where it is missing.
const MODE_VARIABLE: &str = "EXITWATCH_PROC_CONNECTOR";

const NETLINK_CONNECTOR: libc::c_int = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;
const PROC_EVENT_NONE: u32 = 0;
const PROC_EVENT_FORK: u32 = 1;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// `PROC_EVENT_ALL` minus what we need is filtered out by the kernel (Linux 6.6+).
const WANTED_EVENTS: u32 = PROC_EVENT_FORK | PROC_EVENT_EXIT;
/// The initial PID and time namespaces' inode numbers (`PROC_PID_INIT_INO`,
/// `PROC_TIME_INIT_INO`).
const INITIAL_PID_NAMESPACE: u64 = 0xEFFF_FFFC;
const INITIAL_TIME_NAMESPACE: u64 = 0xEFFF_FFFA;
/// Receive buffer asked for (as root): room for bursts of exits while the monitor is busy.
const RECEIVE_BUFFER: libc::c_int = 8 << 20;
/// How long the socket stays open once nothing is tracked: processes watched right after they
/// were started (and that may exit at once) find it listening already. It closes on the first
/// event after that, so an idle monitor is not woken by the exits of the system.
const LINGER: Duration = Duration::from_secs(1);
/// How long a registration found reaped waits for its exit event. The kernel queues the event
/// just after it makes the pidfd readable and wakes the owner (`exit_notify`, then
/// `proc_exit_connector`), so the owner can reap the process before the event is there; it
/// follows within microseconds unless the exiting task is preempted. Past this, the process
/// exited before the socket listened or its event was lost.
const EXIT_EVENT_GRACE: Duration = Duration::from_secs(1);
/// Fork and exit events kept after they were read, for registrations that come just after
/// (a process watched right after it started may have exited already).
const RECENT: usize = 512;
/// Datagrams taken per `recvmmsg`.
const BATCH: usize = 64;
const DATAGRAM: usize = 256;

const NLMSG_HEADER: usize = 16;
const CN_MSG_HEADER: usize = 20;
/// Offset of `struct proc_event` in a datagram: after `nlmsghdr` and `cn_msg`.
const EVENT: usize = NLMSG_HEADER + CN_MSG_HEADER;
/// Offset of `event_data` in `struct proc_event` (after what, cpu, timestamp_ns).
const EVENT_DATA: usize = EVENT + 16;

// ---- wire format -------------------------------------------------------------------------

/// The events exitwatch uses, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// A new task: a new process when `child_pid == child_tgid`.
    Fork {
        child_pid: i32,
        child_tgid: i32,
        at_ns: u64,
    },
    /// A task (any thread) exited; `exit_code` is its wait status.
    Exit {
        pid: i32,
        tgid: i32,
        exit_code: i32,
        at_ns: u64,
    },
    /// The kernel's answer to a listen/ignore request.
    Ack {
        ack: u32,
        err: u32,
    },
    Other,
}

fn u32_at(data: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        data.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

fn u64_at(data: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(
        data.get(offset..offset + 8)?.try_into().ok()?,
    ))
}

/// Decodes one datagram (`nlmsghdr` + `cn_msg` + `proc_event`).
pub(crate) fn decode(data: &[u8]) -> Option<Event> {
    if u32_at(data, NLMSG_HEADER)? != CN_IDX_PROC || u32_at(data, NLMSG_HEADER + 4)? != CN_VAL_PROC
    {
        return None;
    }
    let at_ns = u64_at(data, EVENT + 8)?;
    let field = |n: usize| u32_at(data, EVENT_DATA + 4 * n);
    Some(match u32_at(data, EVENT)? {
        PROC_EVENT_FORK => Event::Fork {
            child_pid: field(2)? as i32,
            child_tgid: field(3)? as i32,
            at_ns,
        },
        PROC_EVENT_EXIT => Event::Exit {
            pid: field(0)? as i32,
            tgid: field(1)? as i32,
            exit_code: field(2)? as i32,
            at_ns,
        },
        PROC_EVENT_NONE => Event::Ack {
            ack: u32_at(data, NLMSG_HEADER + 12)?,
            err: field(0)?,
        },
        _ => Event::Other,
    })
}

/// A listen/ignore request: `nlmsghdr` + `cn_msg` + the operation, followed (Linux 6.6+) by
/// the events wanted.
fn request(operation: u32, filter: bool, ack: u32) -> Vec<u8> {
    let payload: Vec<u32> = if filter {
        vec![operation, WANTED_EVENTS]
    } else {
        vec![operation]
    };
    let len = EVENT + 4 * payload.len();
    let mut message = Vec::with_capacity(len);
    message.extend((len as u32).to_ne_bytes());
    message.extend((libc::NLMSG_DONE as u16).to_ne_bytes());
    message.extend(0u16.to_ne_bytes()); // flags
    message.extend(0u32.to_ne_bytes()); // seq
    message.extend(0u32.to_ne_bytes()); // port: the kernel fills it in
    for word in [CN_IDX_PROC, CN_VAL_PROC, 0, ack] {
        message.extend(word.to_ne_bytes());
    }
    message.extend(((4 * payload.len()) as u16).to_ne_bytes());
    message.extend(0u16.to_ne_bytes());
    for word in payload {
        message.extend(word.to_ne_bytes());
    }
    message
}

// ---- socket ------------------------------------------------------------------------------

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A non-blocking connector socket bound to the process-events group (not yet listening).
fn open_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; we own the returned descriptor.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            NETLINK_CONNECTOR,
        )
    })?;
    // SAFETY: fresh descriptor.
    let socket = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let size = RECEIVE_BUFFER;
    // SAFETY: valid int option. Needs CAP_NET_ADMIN; without it the default size stays.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    // SAFETY: sockaddr_nl is plain old data; all-zero is valid.
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    address.nl_groups = CN_IDX_PROC;
    // SAFETY: a valid sockaddr_nl of the given size.
    check(unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&address as *const libc::sockaddr_nl).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    Ok(socket)
}

fn send(socket: BorrowedFd<'_>, message: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_nl is plain old data; all-zero (port 0) addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: valid buffer and address.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What one `receive` call got.
enum Received {
    /// Datagrams from the kernel, decoded; `more` when the batch was full (more may wait).
    Events { events: Vec<Event>, more: bool },
    /// The socket's buffer overflowed: events were lost.
    Overrun,
    /// Nothing (more) queued.
    Empty,
}

/// Takes up to `BATCH` queued datagrams in one `recvmmsg`. Datagrams not sent by the kernel
/// (a forged multicast) are dropped.
fn receive(socket: BorrowedFd<'_>) -> io::Result<Received> {
    let mut buffers = [[0u8; DATAGRAM]; BATCH];
    // SAFETY: sockaddr_nl, iovec and mmsghdr are plain old data; all-zero is valid.
    let mut senders: [libc::sockaddr_nl; BATCH] = unsafe { std::mem::zeroed() };
    let mut iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..BATCH {
        iovecs[i].iov_base = buffers[i].as_mut_ptr().cast();
        iovecs[i].iov_len = DATAGRAM;
        headers[i].msg_hdr.msg_iov = &mut iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
        headers[i].msg_hdr.msg_name = (&mut senders[i] as *mut libc::sockaddr_nl).cast();
        headers[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    }
    // SAFETY: every header points at live buffers of the stated sizes.
    let n = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            BATCH as libc::c_uint,
            // The flags' type differs between glibc and musl, hence `as _`.
            libc::MSG_DONTWAIT as _,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAGAIN) => Ok(Received::Empty),
            Some(libc::ENOBUFS) => Ok(Received::Overrun),
            Some(libc::EINTR) => Ok(Received::Events {
                events: Vec::new(),
                more: true,
            }),
            _ => Err(err),
        };
    }
    if n == 0 {
        return Ok(Received::Empty);
    }
    Ok(Received::Events {
        events: (0..n as usize)
            .filter(|&i| senders[i].nl_pid == 0)
            .filter_map(|i| decode(&buffers[i][..headers[i].msg_len as usize]))
            .collect(),
        more: n as usize == BATCH,
    })
}

/// The connector's pids are the initial PID namespace's, and its timestamps the initial time
/// namespace's `CLOCK_MONOTONIC`: both must be ours. (Kernels before 5.6 have no time
/// namespaces.)
fn in_initial_namespaces() -> bool {
    let inode =
        |path: &str| std::fs::metadata(path).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    inode("/proc/self/ns/pid").is_ok_and(|ino| ino == INITIAL_PID_NAMESPACE)
        && inode("/proc/self/ns/time").map_or(true, |ino| ino == INITIAL_TIME_NAMESPACE)
}

/// Listens with `filter` and reads the queue for the kernel's answer: true when it accepted.
/// The kernel answers within the `send` (on this thread), so the answer is already queued.
fn listen_accepted(socket: BorrowedFd<'_>, filter: bool) -> bool {
    let ack = sys::getpid() as u32;
    if send(socket, &request(PROC_CN_MCAST_LISTEN, filter, ack)).is_err() {
        return false;
    }
    loop {
        match receive(socket) {
            Ok(Received::Events { events, .. }) => {
                if let Some(err) = events.iter().find_map(|e| match *e {
                    Event::Ack { ack: a, err } if a == ack.wrapping_add(1) => Some(err),
                    _ => None,
                }) {
                    return err == 0;
                }
            }
            Ok(Received::Overrun) => {}
            Ok(Received::Empty) | Err(_) => return false,
        }
    }
}

/// Whether the connector works here, and whether the kernel filters events (Linux 6.6+):
/// listens once (filtered, then plain), checks the kernel's acknowledgement, stops listening.
fn probe() -> Option<bool> {
    if !in_initial_namespaces() {
        return None;
    }
    let socket = open_socket().ok()?;
    let filtered = [true, false]
        .into_iter()
        .find(|&filter| listen_accepted(socket.as_fd(), filter))?;
    let _ = send(socket.as_fd(), &request(PROC_CN_MCAST_IGNORE, filtered, 0));
    Some(filtered)
}

fn probed() -> Option<bool> {
    static PROBED: OnceLock<Option<bool>> = OnceLock::new();
    *PROBED.get_or_init(probe)
}

/// True when this process can listen to the connector (see the module documentation).
pub(crate) fn usable() -> bool {
    probed().is_some()
}

// ---- attributing events to registrations -------------------------------------------------

/// What the connector tells about one registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The process may still exit: the last exit event of its thread group, if any.
    Open(Option<i32>),
    /// A new process took the pid: nothing after this is about ours.
    Closed(Option<i32>),
    /// Events were lost, or the pid changed hands while the pidfd was being opened.
    Untrusted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tracked {
    key: u64,
    /// `CLOCK_MONOTONIC` just before and just after its pidfd was opened (the clock of the
    /// kernel's event timestamps).
    opened_from_ns: u64,
    opened_to_ns: u64,
    seen: Seen,
    /// The kernel's stamp of the exit event `seen` holds.
    last_exit_ns: u64,
    /// An exit of a thread other than the leader was seen (a multi-threaded process).
    threads_exited: bool,
    /// Since when the process is known reaped while its exit event is still to come.
    awaited_since: Option<Instant>,
}

impl Tracked {
    /// Takes an event about the thread group (or a new process) with pid `pid`.
    fn apply(&mut self, pid: i32, event: Event) {
        match event {
            Event::Exit {
                pid: thread,
                exit_code,
                at_ns,
                ..
            } => {
                // The last exit event of the thread group wins: a leader that exited early
                // (pthread_exit) or was replaced by exec in another thread is followed by the
                // events of the threads that really end the process. An exit from before the
                // pidfd was opened is ours too unless a fork of the pid follows it (below): the
                // pidfd pinned a process that still held the pid, so it was the last to get it.
                if let Seen::Open(_) = self.seen {
                    self.seen = Seen::Open(Some(exit_code));
                    self.last_exit_ns = at_ns;
                    self.threads_exited |= thread != pid;
                }
            }
            Event::Fork { at_ns, .. } => {
                self.seen = match self.seen {
                    // Our process's own fork, or an older one: what came before is not ours.
                    Seen::Open(_) if at_ns <= self.opened_from_ns => {
                        self.threads_exited = false;
                        Seen::Open(None)
                    }
                    // Forked while the pidfd was being opened: ours, or a successor's?
                    _ if at_ns <= self.opened_to_ns => Seen::Untrusted,
                    // After an exit stamped once the pidfd was open (necessarily ours), a
                    // successor: nothing after this is about our process.
                    Seen::Open(Some(status)) if self.last_exit_ns > self.opened_to_ns => {
                        Seen::Closed(Some(status))
                    }
                    // The kernel stamps a fork just after the new process can be found by pid:
                    // this may be our own process's fork, stamped late, and the exit before it
                    // a previous holder's.
                    Seen::Open(Some(_)) => Seen::Untrusted,
                    Seen::Open(None) => Seen::Closed(None),
                    seen => seen,
                };
            }
            _ => {}
        }
    }

    /// The wait status to report, if the events prove it.
    fn status(&self) -> Option<i32> {
        let status = match self.seen {
            Seen::Open(status) | Seen::Closed(status) => status?,
            Seen::Untrusted => return None,
        };
        // In a multi-threaded process that dumps core, only the dumping thread's exit carries
        // the core-dump flag: the last event may lack it. Such statuses are left to the other
        // sources.
        let signal = status & 0x7f;
        if self.threads_exited && signal != 0 && dumps_core(signal) {
            return None;
        }
        Some(status)
    }
}

fn dumps_core(signal: i32) -> bool {
    matches!(
        signal,
        libc::SIGQUIT
            | libc::SIGILL
            | libc::SIGTRAP
            | libc::SIGABRT
            | libc::SIGBUS
            | libc::SIGFPE
            | libc::SIGSEGV
            | libc::SIGXCPU
            | libc::SIGXFSZ
            | libc::SIGSYS
    )
}

/// The tracked registrations by pid (one pid may have several registrations when pidfs
/// identities are missing).
#[derive(Default)]
struct Tracking {
    by_pid: HashMap<i32, Vec<Tracked>>,
    count: usize,
    /// The last `RECENT` fork and exit events read, oldest first, with the pid they are about:
    /// a suffix of the event stream, as if they were still queued.
    recent: VecDeque<(i32, Event)>,
}

impl Tracking {
    fn track(&mut self, pid: i32, key: u64, opened_from_ns: u64, opened_to_ns: u64) {
        let mut tracked = Tracked {
            key,
            opened_from_ns,
            opened_to_ns,
            seen: Seen::Open(None),
            last_exit_ns: 0,
            threads_exited: false,
            awaited_since: None,
        };
        for (_, event) in self.recent.iter().filter(|(about, _)| *about == pid) {
            tracked.apply(pid, *event);
        }
        self.by_pid.entry(pid).or_default().push(tracked);
        self.count += 1;
    }

    fn forget(&mut self, pid: i32, key: u64) {
        let Some(tracked) = self.by_pid.get_mut(&pid) else {
            return;
        };
        let before = tracked.len();
        tracked.retain(|t| t.key != key);
        self.count -= before - tracked.len();
        if tracked.is_empty() {
            self.by_pid.remove(&pid);
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) {
        self.by_pid.retain(|_, tracked| {
            tracked.retain(|t| keep(t.key));
            !tracked.is_empty()
        });
        self.count = self.by_pid.values().map(Vec::len).sum();
    }

    /// Applies one event: a hash lookup, and nothing more for pids nobody tracks.
    fn apply(&mut self, event: Event) {
        let pid = match event {
            Event::Exit { tgid, .. } => tgid,
            Event::Fork {
                child_pid,
                child_tgid,
                ..
            } if child_pid == child_tgid => child_pid,
            _ => return,
        };
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((pid, event));
        for tracked in self.by_pid.get_mut(&pid).into_iter().flatten() {
            tracked.apply(pid, event);
        }
    }

    /// Events were lost: nothing tracked can be trusted, nor can what was read before.
    fn distrust_all(&mut self) {
        for tracked in self.by_pid.values_mut().flatten() {
            tracked.seen = Seen::Untrusted;
        }
        self.recent.clear();
    }

    fn status(&self, pid: i32, key: u64) -> Option<i32> {
        self.by_pid
            .get(&pid)?
            .iter()
            .find(|t| t.key == key)?
            .status()
    }

    /// Whether the exit event of a registration found reaped without a status can still
    /// come: it is trusted, has seen no exit, and was first found so less than
    /// `EXIT_EVENT_GRACE` before `now`.
    fn awaits_exit(&mut self, pid: i32, key: u64, now: Instant) -> Wait {
        let Some(tracked) = self
            .by_pid
            .get_mut(&pid)
            .and_then(|tracked| tracked.iter_mut().find(|t| t.key == key))
        else {
            return Wait::No;
        };
        if tracked.seen != Seen::Open(None) {
            return Wait::No;
        }
        match tracked.awaited_since {
            None => {
                tracked.awaited_since = Some(now);
                Wait::First
            }
            Some(since) if now.duration_since(since) < EXIT_EVENT_GRACE => Wait::Again,
            Some(_) => Wait::Expired,
        }
    }
}

/// What `Tracking::awaits_exit` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Not worth waiting for: the events already tell all they can.
    No,
    /// Found reaped just now: its event is still to come.
    First,
    /// Still within the grace.
    Again,
    /// The grace passed without the event.
    Expired,
}

// ---- the source --------------------------------------------------------------------------

fn note_idle(state: &mut State) {
    if state.tracking.count == 0 && state.socket.is_some() && state.idle_since.is_none() {
        state.idle_since = Some(Instant::now());
    }
}

#[derive(Default)]
struct State {
    socket: Option<OwnedFd>,
    tracking: Tracking,
    /// Since when nothing is tracked while the socket is open.
    idle_since: Option<Instant>,
}

/// The connector as the monitor uses it: opened with the first tracked registration, closed
/// by the monitor thread `LINGER` after the last one, drained by the monitor thread.
pub(crate) struct ProcConnector {
    /// Listen at all (usable here, and asked for or `PIDFD_INFO_EXIT` missing). Fixed.
    enabled: bool,
    /// Whether the kernel filters events for us (Linux 6.6+).
    filtered: bool,
    /// Mirrors `state.socket.is_some()`, read without the lock.
    open: AtomicBool,
    state: Mutex<State>,
}

impl ProcConnector {
    pub fn new(caps: &Capabilities) -> Self {
        let wanted = match std::env::var(MODE_VARIABLE).as_deref() {
            Ok("on") => true,
            Ok("off") => false,
            _ => !caps.pidfd_info_exit,
        };
        ProcConnector {
            enabled: wanted && caps.proc_connector,
            filtered: probed().unwrap_or(false),
            open: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Makes sure the socket listens, before a pidfd is opened (events sent before that
    /// could not be attributed anyway). Returns false when it cannot (the registration is
    /// then simply not tracked).
    pub fn listen(&self, epoll: BorrowedFd<'_>, key: u64, counters: &Counters) -> bool {
        let mut state = lock(&self.state);
        if state.socket.is_some() {
            return true;
        }
        let opened = open_socket().and_then(|socket| {
            send(
                socket.as_fd(),
                &request(PROC_CN_MCAST_LISTEN, self.filtered, 0),
            )?;
            sys::epoll_add(epoll, socket.as_raw_fd(), key, Interest::Readable)?;
            Ok(socket)
        });
        match opened {
            Ok(socket) => {
                state.socket = Some(socket);
                self.open.store(true, Ordering::Release);
                true
            }
            Err(_) => {
                counters
                    .proc_connector_failures
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Starts attributing events to the registration `key` of `pid`, whose pidfd was opened
    /// between the two `CLOCK_MONOTONIC` readings.
    pub fn track(&self, pid: i32, key: u64, opened_from_ns: u64, opened_to_ns: u64) {
        let mut state = lock(&self.state);
        if state.socket.is_some() {
            state.tracking.track(pid, key, opened_from_ns, opened_to_ns);
            state.idle_since = None; // tracking again: not idle any more
        }
    }

    /// Stops tracking a registration.
    pub fn forget(&self, pid: i32, key: u64) {
        let mut state = lock(&self.state);
        state.tracking.forget(pid, key);
        note_idle(&mut state);
    }

    /// Keeps only the registrations `keep` accepts.
    pub fn retain(&self, keep: impl FnMut(u64) -> bool) {
        let mut state = lock(&self.state);
        state.tracking.retain(keep);
        note_idle(&mut state);
    }

    /// After a registration that failed: the socket may have been opened for it alone.
    pub fn note_failed_registration(&self) {
        note_idle(&mut lock(&self.state));
    }

    fn close(&self, state: &mut State) {
        if let Some(socket) = state.socket.take() {
            // Stop listening explicitly: the kernel counts listeners, not sockets.
            let _ = send(
                socket.as_fd(),
                &request(PROC_CN_MCAST_IGNORE, self.filtered, 0),
            );
            self.open.store(false, Ordering::Release);
        }
        state.idle_since = None;
        // Events sent while nobody listens are never read: what was read before is no longer
        // a suffix of the stream (a fork of a reused pid may fall in the gap, and an old exit
        // of that pid would be replayed to its new holder).
        state.tracking.recent.clear();
    }

    /// Reads every queued event and applies it to the tracked registrations. An overrun
    /// distrusts every registration tracked now (their events may be among the lost ones).
    /// Closes the socket once nothing was tracked for `LINGER`.
    pub fn drain(&self, counters: &Counters) {
        let mut state = lock(&self.state);
        if state.tracking.count == 0 && state.idle_since.is_some_and(|t| t.elapsed() >= LINGER) {
            self.close(&mut state);
            return;
        }
        let State {
            socket, tracking, ..
        } = &mut *state;
        let Some(socket) = socket else {
            return;
        };
        loop {
            match receive(socket.as_fd()) {
                Ok(Received::Events { events, more }) => {
                    counters
                        .proc_connector_events
                        .fetch_add(events.len() as u64, Ordering::Relaxed);
                    for event in events {
                        tracking.apply(event);
                    }
                    if !more {
                        return;
                    }
                }
                Ok(Received::Overrun) => {
                    counters
                        .proc_connector_overruns
                        .fetch_add(1, Ordering::Relaxed);
                    tracking.distrust_all();
                }
                Ok(Received::Empty) => return,
                Err(_) => {
                    counters
                        .proc_connector_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracking.distrust_all();
                    return;
                }
            }
        }
    }

    /// The wait status the events prove for registration `key` of `pid`.
    pub fn status(&self, pid: i32, key: u64) -> Option<i32> {
        lock(&self.state).tracking.status(pid, key)
    }

    /// For a registration found reaped with no status from any source: true while its exit
    /// event may still come (see `EXIT_EVENT_GRACE`); the caller reads it again when the
    /// socket has events. Counts the waits and the events that never came. (Nothing is
    /// tracked while the socket is closed.)
    pub fn awaits_exit(&self, pid: i32, key: u64, counters: &Counters) -> bool {
        let mut state = lock(&self.state);
        match state.tracking.awaits_exit(pid, key, Instant::now()) {
            Wait::No => false,
            Wait::First => {
                counters
                    .proc_connector_waits
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            Wait::Again => true,
            Wait::Expired => {
                counters
                    .proc_connector_missed
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

impl Drop for ProcConnector {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        self.close(&mut state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: i32 = 4242;
    const KEY: u64 = 7;

    fn exit(thread: i32, exit_code: i32, at_ns: u64) -> Event {
        Event::Exit {
            pid: thread,
            tgid: PID,
            exit_code,
            at_ns,
        }
    }

    fn fork(at_ns: u64) -> Event {
        Event::Fork {
            child_pid: PID,
            child_tgid: PID,
            at_ns,
        }
    }

    /// Tracks PID (pidfd opened between 100 and 110 ns) and applies `events`.
    fn status_after(events: &[Event]) -> Option<i32> {
        let mut tracking = Tracking::default();
        tracking.track(PID, KEY, 100, 110);
        for event in events {
            tracking.apply(*event);
        }
        tracking.status(PID, KEY)
    }

    #[test]
    fn the_exit_after_the_pidfd_was_opened_is_the_status() {
        assert_eq!(status_after(&[exit(PID, 42 << 8, 200)]), Some(42 << 8));
        assert_eq!(status_after(&[]), None);
    }

    #[test]
    fn events_before_the_fork_of_ours_are_not_ours() {
        // A previous holder of the pid exited, then ours was forked, before the pidfd opened.
        assert_eq!(status_after(&[exit(PID, 1 << 8, 80), fork(90)]), None);
        // Ours exited (a zombie then) before the pidfd opened: the last exit is its own.
        let events = [exit(PID, 1 << 8, 70), fork(80), exit(PID, 5 << 8, 90)];
        assert_eq!(status_after(&events), Some(5 << 8));
    }

    #[test]
    fn a_new_process_with_the_pid_ends_what_we_attribute() {
        // Ours exits with 3, its owner reaps it, a new process gets the pid and exits with 9.
        let events = [exit(PID, 3 << 8, 200), fork(300), exit(PID, 9 << 8, 400)];
        assert_eq!(status_after(&events), Some(3 << 8));
    }

    #[test]
    fn a_fork_after_the_pidfd_following_an_exit_from_before_it_is_ambiguous() {
        // Either ours exited before we watched it and a successor was forked, or a previous
        // holder exited and our own fork was stamped late: unknown.
        assert_eq!(status_after(&[exit(PID, 3 << 8, 90), fork(300)]), None);
        let late_own_fork = [exit(PID, 3 << 8, 80), fork(300), exit(PID, 4 << 8, 400)];
        assert_eq!(status_after(&late_own_fork), None);
        // Without any exit before it, a fork after the pidfd closes: nothing known.
        assert_eq!(status_after(&[fork(300), exit(PID, 9 << 8, 400)]), None);
    }

    #[test]
    fn a_fork_of_the_pid_while_the_pidfd_was_opened_distrusts_everything() {
        // The previous holder may have exited and ours been forked inside that window.
        let events = [exit(PID, 3 << 8, 105), fork(107), exit(PID, 0, 200)];
        assert_eq!(status_after(&events), None);
    }

    #[test]
    fn the_last_thread_to_exit_gives_the_status() {
        // The leader called pthread_exit (0), then another thread ended the group with 7.
        let events = [exit(PID, 0, 200), exit(PID + 1, 7 << 8, 210)];
        assert_eq!(status_after(&events), Some(7 << 8));
    }

    #[test]
    fn a_multi_threaded_core_dump_is_left_to_other_sources() {
        // Only the dumping thread's status carries the core flag: the last one may lack it.
        let events = [
            exit(PID + 1, libc::SIGSEGV | 0x80, 200),
            exit(PID, libc::SIGSEGV, 210),
        ];
        assert_eq!(status_after(&events), None);
        // A single-threaded one is exact, and so is a multi-threaded SIGKILL.
        assert_eq!(
            status_after(&[exit(PID, libc::SIGSEGV | 0x80, 200)]),
            Some(libc::SIGSEGV | 0x80)
        );
        let killed = [
            exit(PID + 1, libc::SIGKILL, 200),
            exit(PID, libc::SIGKILL, 210),
        ];
        assert_eq!(status_after(&killed), Some(libc::SIGKILL));
    }

    #[test]
    fn other_pids_and_threads_being_created_change_nothing() {
        let mut tracking = Tracking::default();
        tracking.track(PID, KEY, 100, 110);
        tracking.apply(Event::Exit {
            pid: 5,
            tgid: 5,
            exit_code: 1 << 8,
            at_ns: 200,
        });
        tracking.apply(Event::Fork {
            child_pid: PID + 3,
            child_tgid: PID,
            at_ns: 210,
        });
        tracking.apply(exit(PID, 2 << 8, 220));
        assert_eq!(tracking.status(PID, KEY), Some(2 << 8));
    }

    #[test]
    fn a_registration_just_after_the_exit_finds_it_among_the_recent_events() {
        let mut tracking = Tracking::default();
        tracking.apply(fork(50));
        tracking.apply(exit(PID, 4 << 8, 60));
        tracking.track(PID, KEY, 100, 110);
        assert_eq!(tracking.status(PID, KEY), Some(4 << 8));
        // After an overrun the history is gone (a fork may have been lost).
        tracking.apply(exit(PID + 9, 0, 120));
        tracking.distrust_all();
        tracking.track(PID, KEY + 1, 130, 140);
        assert_eq!(tracking.status(PID, KEY + 1), None);
    }

    #[test]
    fn a_reaped_process_waits_for_its_exit_event_within_the_grace_only() {
        let start = Instant::now();
        let mut tracking = Tracking::default();
        tracking.track(PID, KEY, 100, 110);
        assert_eq!(tracking.awaits_exit(PID, KEY, start), Wait::First);
        let later = start + EXIT_EVENT_GRACE / 2;
        assert_eq!(tracking.awaits_exit(PID, KEY, later), Wait::Again);
        let past = start + EXIT_EVENT_GRACE;
        assert_eq!(tracking.awaits_exit(PID, KEY, past), Wait::Expired);
        // The event came: nothing more to wait for (the status is there).
        tracking.track(PID, KEY + 1, 100, 110);
        tracking.apply(exit(PID, 6 << 8, 200));
        assert_eq!(tracking.awaits_exit(PID, KEY + 1, start), Wait::No);
        assert_eq!(tracking.status(PID, KEY + 1), Some(6 << 8));
        // Lost events, a successor's fork, or an untracked registration: no event will tell.
        tracking.track(PID, KEY + 2, 100, 110);
        tracking.distrust_all();
        assert_eq!(tracking.awaits_exit(PID, KEY + 2, start), Wait::No);
        let mut successor = Tracking::default();
        successor.track(PID, KEY, 100, 110);
        successor.apply(fork(300));
        assert_eq!(successor.awaits_exit(PID, KEY, start), Wait::No);
        assert_eq!(successor.awaits_exit(PID, KEY + 5, start), Wait::No);
    }

    #[test]
    fn closing_the_socket_drops_the_events_read_before() {
        let connector = ProcConnector {
            enabled: true,
            filtered: false,
            open: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        };
        let mut state = lock(&connector.state);
        // An old holder of the pid exits while the socket is open; after it closed, a new
        // process is forked with the pid (unseen) and watched once the socket is open again.
        state.tracking.apply(exit(PID, 7 << 8, 50));
        connector.close(&mut state);
        state.tracking.track(PID, KEY, 100, 110);
        assert_eq!(state.tracking.status(PID, KEY), None);
    }

    #[test]
    fn an_overrun_distrusts_what_is_tracked_and_forgetting_empties() {
        let mut tracking = Tracking::default();
        tracking.track(PID, KEY, 100, 110);
        tracking.track(PID, KEY + 1, 100, 110);
        tracking.apply(exit(PID, 2 << 8, 200));
        tracking.distrust_all();
        assert_eq!(tracking.status(PID, KEY), None);
        tracking.forget(PID, KEY);
        assert_eq!(tracking.count, 1);
        tracking.retain(|key| key != KEY + 1);
        assert_eq!(tracking.count, 0);
        assert!(tracking.by_pid.is_empty());
    }

    #[test]
    fn decodes_what_it_requests_and_an_exit_event() {
        let listen = request(PROC_CN_MCAST_LISTEN, true, 9);
        assert_eq!(listen.len(), EVENT + 8);
        assert_eq!(u32_at(&listen, 0), Some(listen.len() as u32));
        assert_eq!(u32_at(&listen, NLMSG_HEADER + 12), Some(9)); // cn_msg.ack
        assert_eq!(u32_at(&listen, EVENT), Some(PROC_CN_MCAST_LISTEN));
        assert_eq!(u32_at(&listen, EVENT + 4), Some(WANTED_EVENTS));
        assert_eq!(request(PROC_CN_MCAST_IGNORE, false, 0).len(), EVENT + 4);

        let mut datagram = vec![0u8; EVENT_DATA + 24];
        datagram[NLMSG_HEADER..NLMSG_HEADER + 4].copy_from_slice(&CN_IDX_PROC.to_ne_bytes());
        datagram[NLMSG_HEADER + 4..NLMSG_HEADER + 8].copy_from_slice(&CN_VAL_PROC.to_ne_bytes());
        datagram[EVENT..EVENT + 4].copy_from_slice(&PROC_EVENT_EXIT.to_ne_bytes());
        datagram[EVENT + 8..EVENT + 16].copy_from_slice(&1234u64.to_ne_bytes());
        for (i, value) in [10u32, 11, 42 << 8].into_iter().enumerate() {
            let at = EVENT_DATA + 4 * i;
            datagram[at..at + 4].copy_from_slice(&value.to_ne_bytes());
        }
        assert_eq!(
            decode(&datagram),
            Some(Event::Exit {
                pid: 10,
                tgid: 11,
                exit_code: 42 << 8,
                at_ns: 1234
            })
        );
        datagram[NLMSG_HEADER] = 9; // another connector's message
        assert_eq!(decode(&datagram), None);
    }
}
