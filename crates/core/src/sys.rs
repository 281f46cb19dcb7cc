//! Thin, safe wrappers over the Linux system calls exitwatch uses. Nothing here keeps
//! state or makes policy decisions; every function maps one kernel interface.

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::usage::Usage;

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `pidfd_open(pid, 0)`: a descriptor that names exactly one process for its whole life.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments; the result is a fresh descriptor we own.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(fd, sig, NULL, 0)`: signals the process the pidfd names, never a
/// process that later reused its pid.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: a null siginfo is allowed and means "as kill(2) would send it".
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })?;
    Ok(())
}

/// Whether the process `pidfd` names is still unreaped (running or a zombie), by sending it
/// signal 0. Only ESRCH means reaped: EPERM (another user's process) found it. A sandbox that
/// forbids the call answers EPERM too: callers ask `Capabilities::proves_unreaped`.
pub fn pidfd_unreaped(pidfd: BorrowedFd<'_>) -> bool {
    match pidfd_send_signal(pidfd, 0) {
        Ok(()) => true,
        Err(e) => e.raw_os_error() == Some(libc::EPERM),
    }
}

/// What `waitid` reported about a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitidExit {
    pub code: i32,
    pub status: i32,
    /// The child's resource usage (with its reaped children), filled in even with `WNOWAIT`.
    pub usage: Usage,
}

/// `waitid(P_PIDFD, fd, WEXITED | WNOHANG [| WNOWAIT], &rusage)`. `Ok(None)` means the child
/// has not exited yet (or its status is held back, e.g. by a ptrace tracer). The raw system
/// call, because only it takes the `rusage` out-pointer (glibc's wrapper has four arguments).
pub fn waitid_pidfd(pidfd: BorrowedFd<'_>, reap: bool) -> io::Result<Option<WaitidExit>> {
    waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, reap)
}

/// `waitid(P_PID, pid, WEXITED | WNOHANG [| WNOWAIT])`, for kernels without pidfds. Unlike the
/// pidfd form it names whichever child has `pid` now: the caller proves identity.
pub fn waitid_pid(pid: libc::pid_t, reap: bool) -> io::Result<Option<WaitidExit>> {
    waitid(libc::P_PID, pid as libc::id_t, reap)
}

fn waitid(idtype: libc::idtype_t, id: libc::id_t, reap: bool) -> io::Result<Option<WaitidExit>> {
    let mut flags = libc::WEXITED | libc::WNOHANG;
    if !reap {
        flags |= libc::WNOWAIT;
    }
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    let mut rusage = MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `info` and `rusage` are valid, zeroed buffers the kernel fills in.
    check(unsafe {
        libc::syscall(
            libc::SYS_waitid,
            idtype,
            id,
            info.as_mut_ptr(),
            flags,
            rusage.as_mut_ptr(),
        )
    })?;
    // SAFETY: zero-initialised and possibly filled in by the kernel.
    let (info, rusage) = unsafe { (info.assume_init(), rusage.assume_init()) };
    // SAFETY: for WEXITED results the kernel fills the SIGCHLD fields of the union.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(WaitidExit {
        code: info.si_code,
        status,
        usage: Usage::from_rusage(&rusage),
    }))
}

/// `struct pidfd_info` up to `exit_code` (PIDFD_INFO_SIZE_VER0, Linux 6.15).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

const PIDFD_INFO_PID: u64 = 1 << 0;
const PIDFD_INFO_EXIT: u64 = 1 << 3;
// _IOWR(PIDFS_IOCTL_MAGIC = 0xFF, 11, struct pidfd_info of 64 bytes)
const PIDFD_GET_INFO: libc::c_ulong =
    (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;
const _: () = assert!(std::mem::size_of::<PidfdInfo>() == 64);

fn pidfd_get_info(pidfd: BorrowedFd<'_>, mask: u64) -> io::Result<PidfdInfo> {
    let mut info = PidfdInfo {
        mask,
        ..PidfdInfo::default()
    };
    // SAFETY: `info` is a properly sized, writable pidfd_info. (The request's type differs
    // between glibc and musl, hence `as _`.)
    check(
        unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO as _, &mut info) } as libc::c_long,
    )?;
    Ok(info)
}

/// The wait status (as `waitpid` encodes it) the kernel kept for a process that has been
/// reaped, via `PIDFD_GET_INFO` with `PIDFD_INFO_EXIT`. `Ok(None)`: no exit recorded yet.
pub fn pidfd_exit_status(pidfd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    match pidfd_get_info(pidfd, PIDFD_INFO_EXIT) {
        Ok(info) if info.mask & PIDFD_INFO_EXIT != 0 => Ok(Some(info.exit_code)),
        Ok(_) => Ok(None),
        // A process that is gone but whose exit was not recorded answers ESRCH.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(None),
        Err(e) => Err(e),
    }
}

/// True when `PIDFD_GET_INFO` works on this kernel (probed on our own pidfd).
pub fn pidfd_get_info_supported(pidfd: BorrowedFd<'_>) -> bool {
    pidfd_get_info(pidfd, PIDFD_INFO_PID).is_ok()
}

const PIDFS_MAGIC: i64 = 0x5049_4446;

/// The pidfs inode number of a pidfd: unique per process for the life of the boot
/// (Linux 6.9+). `None` on older kernels, where every pidfd shares one anonymous inode.
pub fn pidfd_identity(pidfd: BorrowedFd<'_>) -> Option<u64> {
    let mut fs = MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: valid out-pointer for fstatfs.
    if unsafe { libc::fstatfs(pidfd.as_raw_fd(), fs.as_mut_ptr()) } < 0 {
        return None;
    }
    // SAFETY: fstatfs succeeded and filled the struct.
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between libcs and arches
    if unsafe { fs.assume_init() }.f_type as i64 != PIDFS_MAGIC {
        return None;
    }
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: valid out-pointer for fstat.
    if unsafe { libc::fstat(pidfd.as_raw_fd(), st.as_mut_ptr()) } < 0 {
        return None;
    }
    // SAFETY: fstat succeeded.
    Some(unsafe { st.assume_init() }.st_ino)
}

/// A non-blocking, close-on-exec eventfd used to wake the monitor thread.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; we own the returned descriptor.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) }.into())?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn eventfd_signal(fd: BorrowedFd<'_>) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid u64. EAGAIN (counter saturated) still leaves the fd
    // readable, which is all a wake-up needs, so the result is deliberately ignored.
    unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

pub fn eventfd_drain(fd: BorrowedFd<'_>) {
    let mut value: u64 = 0;
    // SAFETY: reads 8 bytes into a valid u64; EAGAIN just means nothing was pending.
    unsafe { libc::read(fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
}

/// A non-blocking signalfd for SIGCHLD. The caller must have SIGCHLD blocked in every
/// thread, or the signal is delivered to a handler instead.
pub fn signalfd_sigchld() -> io::Result<OwnedFd> {
    // SAFETY: a valid sigset built in place; we own the returned descriptor.
    unsafe {
        let mut mask = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut mask);
        libc::sigaddset(&mut mask, libc::SIGCHLD);
        let fd = check(libc::signalfd(-1, &mask, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK).into())?;
        Ok(OwnedFd::from_raw_fd(fd as RawFd))
    }
}

/// Reads and discards every queued signal: SIGCHLDs coalesce, so only "some arrived" matters.
pub fn signalfd_drain(fd: BorrowedFd<'_>) {
    let mut buffer = [0u8; 128 * 16];
    // SAFETY: reads into a valid buffer; stops at EAGAIN (nothing left).
    while unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) } > 0 {}
}

/// `kill(pid, signal)`: reaches whichever process has `pid` now (a negative pid names a
/// process group). Without `pidfd_send_signal`, only after the caller checked the process's
/// identity.
pub fn kill(pid: libc::pid_t, signal: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::kill(pid, signal) }.into())?;
    Ok(())
}

/// Makes this process a child subreaper: orphaned descendants are re-parented to it.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }.into())?;
    Ok(())
}

pub fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; we own the returned descriptor.
    let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }.into())?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// How a descriptor is registered in the epoll set.
#[derive(Clone, Copy)]
pub enum Interest {
    /// Level-triggered readability (the wake-up eventfd, the signalfd).
    Readable,
    /// One readiness report, then disarmed until re-armed (pidfds: a readable pidfd stays
    /// readable, so the monitor must not be woken again while it handles it).
    ReadableOnce,
}

impl Interest {
    fn events(self) -> u32 {
        match self {
            Interest::Readable => libc::EPOLLIN as u32,
            Interest::ReadableOnce => (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
        }
    }
}

pub fn epoll_add(epfd: BorrowedFd<'_>, fd: RawFd, key: u64, interest: Interest) -> io::Result<()> {
    epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, key, interest)
}

pub fn epoll_rearm(
    epfd: BorrowedFd<'_>,
    fd: RawFd,
    key: u64,
    interest: Interest,
) -> io::Result<()> {
    epoll_ctl(epfd, libc::EPOLL_CTL_MOD, fd, key, interest)
}

fn epoll_ctl(
    epfd: BorrowedFd<'_>,
    op: libc::c_int,
    fd: RawFd,
    key: u64,
    interest: Interest,
) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: interest.events(),
        u64: key,
    };
    // SAFETY: valid epoll_event pointer.
    check(unsafe { libc::epoll_ctl(epfd.as_raw_fd(), op, fd, &mut event) }.into())?;
    Ok(())
}

/// Blocks until at least one descriptor is ready or `timeout_ms` passes (-1: forever).
/// Returns the keys of the ready descriptors. EINTR is reported as an empty batch.
pub fn epoll_wait(
    epfd: BorrowedFd<'_>,
    buffer: &mut Vec<libc::epoll_event>,
    timeout_ms: i32,
) -> io::Result<usize> {
    // SAFETY: the buffer has `capacity()` writable slots; the kernel fills `n` of them.
    let n = unsafe {
        libc::epoll_wait(
            epfd.as_raw_fd(),
            buffer.as_mut_ptr(),
            buffer.capacity() as i32,
            timeout_ms,
        )
    };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            // SAFETY: zero elements are initialised.
            unsafe { buffer.set_len(0) };
            return Ok(0);
        }
        return Err(err);
    }
    // SAFETY: the kernel initialised exactly `n` elements.
    unsafe { buffer.set_len(n as usize) };
    Ok(n as usize)
}

/// The state, parent, start time, `exit_code` and CPU times of a process, from its
/// `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: u8,
    pub ppid: i32,
    /// Clock ticks after boot at which the process started (field 22): with the pid, it tells
    /// this process from a later one that reused the pid.
    pub start_time: u64,
    /// The wait status of a zombie (field 52), shown only to callers allowed to ptrace-read it.
    pub exit_code: Option<i32>,
    /// utime + cutime and stime + cstime (fields 14–17): the process and the children it
    /// reaped, in clock ticks, like `wait4`'s rusage.
    pub user_ticks: u64,
    pub system_ticks: u64,
}

/// Reads `/proc/<pid>/stat` through an already opened `/proc/<pid>` directory.
pub fn proc_stat(dir: BorrowedFd<'_>) -> io::Result<ProcStat> {
    parse_proc_stat(&read_at(dir, c"stat")?)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
}

/// Opens `/proc/<pid>` as a directory descriptor.
pub fn open_proc_dir(pid: libc::pid_t) -> io::Result<OwnedFd> {
    let path = format!("/proc/{pid}\0");
    let path = CStr::from_bytes_with_nul(path.as_bytes()).expect("no interior NUL");
    // SAFETY: valid NUL-terminated path.
    let fd = check(
        unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        }
        .into(),
    )?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Opens `/proc/<pid>/stat`. The open file keeps naming the process it was opened for: once
/// that process is reaped, reading it fails instead of showing a later holder of the pid.
pub fn open_proc_stat(pid: libc::pid_t) -> io::Result<OwnedFd> {
    let path = format!("/proc/{pid}/stat\0");
    let path = CStr::from_bytes_with_nul(path.as_bytes()).expect("no interior NUL");
    // SAFETY: valid NUL-terminated path.
    let fd = check(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }.into())?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn read_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<String> {
    use std::io::Read;
    // SAFETY: valid NUL-terminated relative path and directory descriptor.
    let fd = check(
        unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        }
        .into(),
    )?;
    // SAFETY: fresh descriptor, owned by the File from here on.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd as RawFd) };
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// Reads an opened `/proc/<pid>/stat` in one `read` (the kernel formats it whole; it is well
/// under 2 KiB).
pub fn read_proc_stat(file: BorrowedFd<'_>) -> io::Result<ProcStat> {
    let mut buffer = [0u8; 2048];
    // SAFETY: reads into a valid buffer of the given length.
    let n = check(
        unsafe { libc::read(file.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) }
            as libc::c_long,
    )? as usize;
    std::str::from_utf8(&buffer[..n])
        .ok()
        .and_then(parse_proc_stat)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
}

fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is field 3 (state); field N is fields[N - 3].
    let field = |n: usize| fields.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(ProcStat {
        state: fields.first()?.bytes().next()?,
        ppid: field(4)? as i32,
        start_time: field(22)?,
        exit_code: fields.get(52 - 3).and_then(|s| s.parse().ok()),
        user_ticks: field(14)? + field(16)?,
        system_ticks: field(15)? + field(17)?,
    })
}

/// The owner (uid) of an open `/proc/<pid>` file: the process's effective uid.
pub fn proc_owner(file: BorrowedFd<'_>) -> io::Result<u32> {
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: valid out-pointer; `file` is an open descriptor.
    check(unsafe { libc::fstat(file.as_raw_fd(), st.as_mut_ptr()) }.into())?;
    // SAFETY: fstat succeeded.
    Ok(unsafe { st.assume_init() }.st_uid)
}

pub fn monotonic_ns() -> u64 {
    let mut ts = MaybeUninit::<libc::timespec>::zeroed();
    // SAFETY: valid out-pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, ts.as_mut_ptr()) };
    // SAFETY: initialised by clock_gettime.
    let ts = unsafe { ts.assume_init() };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_BOOTTIME in clock ticks: the unit and clock of a process's start time in
/// `/proc/<pid>/stat`.
pub fn boottime_ticks() -> u64 {
    static TICKS_PER_SECOND: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    let hz =
        *TICKS_PER_SECOND.get_or_init(|| unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64);
    let mut ts = MaybeUninit::<libc::timespec>::zeroed();
    // SAFETY: valid out-pointer; CLOCK_BOOTTIME exists since Linux 2.6.39.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, ts.as_mut_ptr()) };
    // SAFETY: initialised by clock_gettime.
    let ts = unsafe { ts.assume_init() };
    ts.tv_sec as u64 * hz + ts.tv_nsec as u64 * hz / 1_000_000_000
}

/// True when this process is a child subreaper already.
pub fn is_child_subreaper() -> bool {
    let mut flag: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer.
    unsafe {
        libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut flag as *mut libc::c_int) == 0 && flag != 0
    }
}

/// `kernel.pid_max`, read once: it is a boot-time setting in practice, and reading it on
/// every watch cost three system calls.
pub fn pid_max() -> i32 {
    static PID_MAX: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *PID_MAX.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4_194_304)
    })
}

pub fn euid() -> u32 {
    // SAFETY: always succeeds.
    unsafe { libc::geteuid() }
}

pub fn getpid() -> libc::pid_t {
    // SAFETY: always succeeds.
    unsafe { libc::getpid() }
}

/// Number of open descriptors of this process.
pub fn open_descriptor_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| dir.count().saturating_sub(1))
        .unwrap_or(0)
}

// ---- Process supervision (used by exitwatch-init, a single-threaded init) ----
//
// Signals are taken synchronously: every blockable signal is blocked and read from one
// signalfd, so no handler ever runs and a child forked in between inherits nothing of ours.

/// Blocks every signal the kernel lets a thread block; returns the mask it had before.
pub fn block_all_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: valid sigset_t buffers, filled in place.
    unsafe {
        let mut all = std::mem::zeroed::<libc::sigset_t>();
        let mut previous = std::mem::zeroed::<libc::sigset_t>();
        libc::sigfillset(&mut all);
        let ret = libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        if ret != 0 {
            return Err(io::Error::from_raw_os_error(ret));
        }
        Ok(previous)
    }
}

/// Replaces the calling thread's signal mask.
pub fn set_signal_mask(mask: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: `mask` is a valid sigset_t.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(())
}

/// A non-blocking signalfd for every signal. Only blocked signals reach it.
pub fn signalfd_all() -> io::Result<OwnedFd> {
    // SAFETY: a valid full sigset built in place; we own the returned descriptor.
    unsafe {
        let mut all = std::mem::zeroed::<libc::sigset_t>();
        libc::sigfillset(&mut all);
        let fd = check(libc::signalfd(-1, &all, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK).into())?;
        Ok(OwnedFd::from_raw_fd(fd as RawFd))
    }
}

/// One signal taken from a signalfd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedSignal {
    pub signal: i32,
    /// `si_code`: who generated it (`SI_USER`, `SI_KERNEL`, `SI_QUEUE`, ...).
    pub code: i32,
    /// The sending process, for signals sent with kill/sigqueue.
    pub sender: libc::pid_t,
}

/// Appends every signal now pending to `out`. A pending standard signal is one entry however
/// many times it was sent (the kernel keeps one bit per standard signal); each queued
/// real-time signal is its own entry.
pub fn signalfd_read(fd: BorrowedFd<'_>, out: &mut Vec<ReceivedSignal>) {
    const BATCH: usize = 64;
    let mut buffer = MaybeUninit::<[libc::signalfd_siginfo; BATCH]>::zeroed();
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: reads whole signalfd_siginfo records into a valid buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), BATCH * size) };
        if n <= 0 {
            return; // EAGAIN: nothing left
        }
        // SAFETY: zero-initialised, and the kernel wrote `n / size` whole records.
        let records = unsafe { buffer.assume_init_ref() };
        out.extend(records[..n as usize / size].iter().map(|r| ReceivedSignal {
            signal: r.ssi_signo as i32,
            code: r.ssi_code,
            sender: r.ssi_pid as libc::pid_t,
        }));
    }
}

/// `waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT)`: the pid of one exited child, left a zombie
/// so the caller can still read about it. `Ok(None)`: children exist but none has exited;
/// `Err(ECHILD)`: no children at all.
pub fn waitid_any_exited() -> io::Result<Option<libc::pid_t>> {
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: `info` is a valid, zeroed siginfo_t buffer the kernel fills in.
    let ret = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            info.as_mut_ptr(),
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised and possibly filled in by the kernel.
    let pid = unsafe { info.assume_init().si_pid() };
    Ok((pid != 0).then_some(pid))
}

/// `PR_SET_PDEATHSIG`: the kernel sends `signal` to this process when its parent dies.
pub fn set_parent_death_signal(signal: i32) -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) }.into())?;
    Ok(())
}

pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// True when this process leads its session.
pub fn is_session_leader() -> bool {
    // SAFETY: always succeeds for the calling process.
    unsafe { libc::getsid(0) == libc::getpid() }
}

/// `ioctl(fd, TIOCNOTTY)`: gives up the controlling terminal `fd` refers to.
pub fn detach_controlling_terminal(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCNOTTY takes no argument.
    check(unsafe { libc::ioctl(fd, libc::TIOCNOTTY as _) } as libc::c_long)?;
    Ok(())
}

/// `fork()`: `Ok(0)` in the child, the child's pid in the parent.
pub fn fork() -> io::Result<libc::pid_t> {
    // SAFETY: the callers are single-threaded, so the child may run arbitrary code.
    Ok(check(unsafe { libc::fork() }.into())? as libc::pid_t)
}

/// Moves the calling process into a new process group of its own.
pub fn set_own_process_group() -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::setpgid(0, 0) }.into())?;
    Ok(())
}

/// Starts a new session (and process group) led by the calling process.
pub fn new_session() -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::setsid() }.into())?;
    Ok(())
}

/// Makes the calling process's group the foreground group of terminal `fd`.
pub fn take_terminal_foreground(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain calls on the caller's own process group.
    check(unsafe { libc::tcsetpgrp(fd, libc::getpgrp()) }.into())?;
    Ok(())
}

/// `ioctl(fd, TIOCSCTTY, 0)`: makes terminal `fd` the controlling terminal of this session.
pub fn take_controlling_terminal(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    check(unsafe { libc::ioctl(fd, libc::TIOCSCTTY as _, 0) } as libc::c_long)?;
    Ok(())
}

/// `execvp(argv[0], argv)`; returns only on failure, with the reason.
pub fn execvp(argv: &[std::ffi::CString]) -> io::Error {
    let mut pointers: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    pointers.push(std::ptr::null());
    // SAFETY: a NULL-terminated array of valid C strings that outlive the call.
    unsafe { libc::execvp(pointers[0], pointers.as_ptr()) };
    io::Error::last_os_error()
}

/// Marks `fd` close-on-exec, so children do not inherit it.
pub fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_SETFD with an integer flag.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }.into())?;
    Ok(())
}

/// Sets `signal`'s disposition to the default; returns true if it was ignored before.
pub fn reset_disposition(signal: i32) -> io::Result<bool> {
    // SAFETY: valid sigaction buffers; SIG_DFL installs no handler.
    unsafe {
        let mut default = std::mem::zeroed::<libc::sigaction>();
        default.sa_sigaction = libc::SIG_DFL;
        let mut previous = std::mem::zeroed::<libc::sigaction>();
        check(libc::sigaction(signal, &default, &mut previous).into())?;
        Ok(previous.sa_sigaction == libc::SIG_IGN)
    }
}

/// Sets `signal`'s disposition to "ignore".
pub fn ignore_signal(signal: i32) -> io::Result<()> {
    // SAFETY: valid sigaction buffer; SIG_IGN installs no handler.
    unsafe {
        let mut ignore = std::mem::zeroed::<libc::sigaction>();
        ignore.sa_sigaction = libc::SIG_IGN;
        check(libc::sigaction(signal, &ignore, std::ptr::null_mut()).into())?;
    }
    Ok(())
}

/// `setpgid(pid, pid)`: puts child `pid` in a process group of its own (done by both parent
/// and child after fork, so the group exists whichever runs first).
pub fn set_child_process_group(pid: libc::pid_t) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::setpgid(pid, pid) }.into())?;
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn parses_a_zombie_stat_line() {
        // A command name with spaces and parentheses; utime 25, stime 5, cutime 3, cstime 2;
        // exit_code 10752 (exit 42).
        let line = "1234 (a (b) c) Z 1 1234 1234 0 -1 4228108 100 0 0 0 25 5 3 2 20 0 1 0 \
                    500 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 \
                    0 0 0 10752\n";
        let stat = parse_proc_stat(line).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                state: b'Z',
                ppid: 1,
                start_time: 500,
                exit_code: Some(10752),
                user_ticks: 28,
                system_ticks: 7
            }
        );
    }

    #[test]
    fn waitid_fills_rusage_even_with_wnowait() {
        // A child that burns CPU for a while, then exits; read without reaping.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exit 3")
            .spawn()
            .unwrap();
        let pidfd = pidfd_open(child.id() as i32).unwrap();
        let exit = loop {
            if let Some(exit) = waitid_pidfd(pidfd.as_fd(), false).unwrap() {
                break exit;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!((exit.code, exit.status), (libc::CLD_EXITED, 3));
        assert!(
            exit.usage.user_cpu_us + exit.usage.system_cpu_us >= 10_000,
            "{exit:?}"
        );
        assert!(exit.usage.max_rss_kib.unwrap() > 0, "{exit:?}");
        // Still a zombie for its owner: reaping it now reports the same usage.
        let reaped = waitid_pidfd(pidfd.as_fd(), true).unwrap().unwrap();
        assert_eq!(reaped.usage, exit.usage);
        child.wait().unwrap_err(); // already reaped above
    }
}
