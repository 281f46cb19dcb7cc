//! Spawning children that exitwatch owns: started without copying the parent's memory,
//! watched and reaped by the monitor, never seen by anyone else.
//!
//! `clone(CLONE_VM | CLONE_VFORK)` on a separate stack (what `posix_spawn` does): the child
//! borrows the parent's address space until it calls `execve`, so the cost does not grow with
//! the parent's memory the way `fork()`'s page-table copy does. `CLONE_PIDFD` returns the
//! pidfd with the pid, so the watch pins the child from its first instant (Linux 5.2; the
//! legacy `clone` ignores the flag before that, and then `pidfd_open` is used). `clone3`
//! would give the same pidfd but needs hand-written assembly to switch stacks in the child,
//! and sandboxes often refuse it (Docker's seccomp profile answers ENOSYS), so `clone` it is.
//! Under the poll engine no pidfd is asked for at all.
//!
//! Between `clone` and `execve` the child shares the parent's memory and thread-local
//! storage: it may only make raw, async-signal-safe system calls (no allocation, no locks, no
//! libc wrappers that keep process-wide state such as `setuid`'s broadcast to all threads).
//! Every string, pointer array and path candidate is prepared by the parent beforehand. A
//! failure in the child is written to memory both share (errno and the step), the child exits
//! with 127, and the parent reaps it before returning the error.
//!
//! The child is registered under [`provenance::SpawnInProgress`]: orphan reaping leaves every
//! zombie alone from before `clone` until the registration, so not even `grace 0` in PID-1
//! mode can take it. Every option is expressed without `fork()`; there is no slow path.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::sync::Arc;

use crate::capabilities::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::inbox::Inbox;
use crate::low_descriptors::Staged;
use crate::monitor::Monitor;
use crate::monitor_thread;
use crate::provenance::SpawnInProgress;

/// What one child descriptor is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// A new `socketpair(AF_UNIX, SOCK_STREAM)`: the parent gets the other end (duplex, so a
    /// descriptor ≥ 3 works both ways).
    Pipe,
    /// The parent's descriptor of the same number (left closed if the parent has none).
    Inherit,
    /// `/dev/null`, for reading and writing.
    Ignore,
    /// This open descriptor of the parent.
    Fd(RawFd),
}

/// What to run and how. `stdio[i]` is the child's descriptor `i`; the child has no other.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// Looked up in `PATH` (of `env` if given, else the current environment) like `execvp`
    /// when it has no '/'. A relative path is relative to `cwd` when that is given.
    pub file: OsString,
    /// `argv[1..]`.
    pub args: Vec<OsString>,
    /// `argv[0]`; `file` when `None`.
    pub argv0: Option<OsString>,
    /// `KEY=value` entries; `None`: the current environment, read at spawn time.
    pub env: Option<Vec<OsString>>,
    pub cwd: Option<PathBuf>,
    pub stdio: Vec<Stdio>,
    /// A new session and process group (`setsid`).
    pub detached: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl SpawnSpec {
    /// `file` with no arguments, the current environment and directory, and stdin, stdout
    /// and stderr inherited.
    pub fn new(file: impl Into<OsString>) -> SpawnSpec {
        SpawnSpec {
            file: file.into(),
            args: Vec::new(),
            argv0: None,
            env: None,
            cwd: None,
            stdio: vec![Stdio::Inherit; 3],
            detached: false,
            uid: None,
            gid: None,
        }
    }
}

/// A running child owned by exitwatch.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    /// The watch delivering its exit (reaped by the monitor).
    pub token: u64,
    /// `fds[i]`: the parent's end (close-on-exec) of child descriptor `i` for `Stdio::Pipe`.
    pub fds: Vec<Option<OwnedFd>>,
}

impl Monitor {
    /// Starts `spec` as a child that the monitor watches and reaps; its exit is appended to
    /// `inbox` as `Target::Watch(token)`. Errors name the file (and the directory, for a bad
    /// `cwd`); a failed spawn leaves no process, no registration and no descriptor behind.
    pub(crate) fn spawn(&self, spec: &SpawnSpec, inbox: &Arc<Inbox>) -> Result<Spawned> {
        let counters = &self.shared.counters;
        let result = self.spawn_uncounted(spec, inbox);
        let outcome = match result {
            Ok(_) => &counters.spawned,
            Err(_) => &counters.spawn_failures,
        };
        outcome.fetch_add(1, Ordering::Relaxed);
        result
    }

    fn spawn_uncounted(&self, spec: &SpawnSpec, inbox: &Arc<Inbox>) -> Result<Spawned> {
        monitor_thread::ensure_running(&self.shared)?;
        let program = Program::prepare(spec)?;
        validate_stdio(&spec.stdio)?;
        let stdio = StdioPlan::open(&spec.stdio).map_err(|e| spawn_error(spec, Step::Stdio, e))?;
        let want_pidfd = self.shared.caps.engine == Engine::Pidfd;
        let _spawning = SpawnInProgress::begin();
        let child = ChildStack::with_this_threads(|stack| {
            clone_child(&program, &stdio, spec, stack, want_pidfd)
        })
        .map_err(|e| spawn_error(spec, Step::Clone, e))?;
        self.shared
            .counters
            .spawn_refusals
            .fetch_add(child.refusals, Ordering::Relaxed);
        let StdioPlan {
            parent_ends,
            child_ends,
            ..
        } = stdio;
        drop(child_ends); // the child has its copies (or is gone)
        if let Some((step, errno)) = child.failure {
            reap_failed(child.pid);
            return Err(spawn_error(spec, step, io::Error::from_raw_os_error(errno)));
        }
        #[cfg(feature = "fault-injection")]
        self.shared.faults.delay_spawn_registration();
        let token = match self.register_spawned(child.pid, child.pidfd, inbox) {
            Ok(token) => token,
            Err(e) => {
                // Nobody would own it: it must not outlive the failed call.
                // SAFETY: our unreaped child, so the pid cannot name another process.
                unsafe { libc::kill(child.pid, libc::SIGKILL) };
                reap_failed(child.pid);
                return Err(e);
            }
        };
        Ok(Spawned {
            pid: child.pid,
            token,
            fds: parent_ends,
        })
    }
}

/// The part of the spawn that failed, for the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    Stdio = 1,
    Clone,
    /// Taking a private copy of the low part of the shared descriptor table: retried
    /// without sharing, never reported.
    UnshareDescriptors,
    Setsid,
    Descriptors,
    Chdir,
    Setgid,
    Setuid,
    Exec,
}

impl Step {
    /// The step a child reported (`Exec` for anything unexpected: it is the last one).
    fn from_u8(value: u8) -> Step {
        match value {
            1 => Step::Stdio,
            2 => Step::Clone,
            3 => Step::UnshareDescriptors,
            4 => Step::Setsid,
            5 => Step::Descriptors,
            6 => Step::Chdir,
            7 => Step::Setgid,
            8 => Step::Setuid,
            _ => Step::Exec,
        }
    }
}

fn spawn_error(spec: &SpawnSpec, step: Step, err: io::Error) -> Error {
    let errno = err.raw_os_error().unwrap_or(libc::EINVAL);
    let file = spec.file.to_string_lossy();
    let what = match step {
        Step::Stdio => "could not create its stdio descriptors".to_owned(),
        Step::Clone => "could not create the process".to_owned(),
        Step::UnshareDescriptors => "could not take its own descriptor table".to_owned(),
        Step::Setsid => "could not start a new session".to_owned(),
        Step::Descriptors => "could not set up its descriptors".to_owned(),
        Step::Chdir => format!(
            "could not change to the working directory {:?}",
            spec.cwd.as_deref().unwrap_or("".as_ref())
        ),
        Step::Setgid => format!("could not switch to gid {}", spec.gid.unwrap_or(0)),
        Step::Setuid => format!("could not switch to uid {}", spec.uid.unwrap_or(0)),
        Step::Exec if errno == libc::ENOENT && !spec.file.as_bytes().contains(&b'/') => {
            "not found in PATH".to_owned()
        }
        Step::Exec => "could not execute it".to_owned(),
    };
    Error::new(
        ErrorCode::of_spawn_errno(errno),
        format!("spawn {file:?}: {what}: {err}"),
    )
}

/// The strings of the new program, as the child passes them to `execve`.
struct Program {
    /// Paths to try in order (`execvp`'s PATH search), NUL-terminated.
    candidates: Vec<CString>,
    argv: Vec<CString>,
    env: Vec<CString>,
    cwd: Option<CString>,
}

impl Program {
    fn prepare(spec: &SpawnSpec) -> Result<Program> {
        let file = spec.file.as_bytes();
        if file.is_empty() {
            return Err(Error::new(
                ErrorCode::Errno(libc::ENOENT),
                "spawn \"\": the file name is empty",
            ));
        }
        let argv0 = spec.argv0.as_deref().unwrap_or(&spec.file);
        let argv = std::iter::once(argv0)
            .chain(spec.args.iter().map(OsString::as_os_str))
            .map(|a| c_string(a, "an argument"))
            .collect::<Result<Vec<_>>>()?;
        let env = match &spec.env {
            Some(env) => env
                .iter()
                .map(|e| c_string(e, "an environment entry"))
                .collect::<Result<Vec<_>>>()?,
            None => std::env::vars_os().map(environment_entry).collect(),
        };
        let cwd = spec
            .cwd
            .as_deref()
            .map(|d| c_string(d.as_os_str(), "cwd"))
            .transpose()?;
        let candidates = if file.contains(&b'/') {
            vec![c_string(&spec.file, "file")?]
        } else {
            let path = env
                .iter()
                .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
                .unwrap_or(DEFAULT_PATH);
            path.split(|b| *b == b':')
                .map(|dir| {
                    // An empty element is the current directory, as for execvp.
                    let mut candidate = dir.to_vec();
                    if !candidate.is_empty() {
                        candidate.push(b'/');
                    }
                    candidate.extend_from_slice(file);
                    c_string(OsStr::from_bytes(&candidate), "file")
                })
                .collect::<Result<Vec<_>>>()?
        };
        Ok(Program {
            candidates,
            argv,
            env,
            cwd,
        })
    }
}

/// `KEY=value` of a variable of this process's environment (which holds no NUL byte).
fn environment_entry((key, value): (OsString, OsString)) -> CString {
    let mut entry = key.into_vec();
    entry.reserve_exact(value.len() + 2);
    entry.push(b'=');
    entry.extend_from_slice(value.as_bytes());
    CString::new(entry).expect("environment variables hold no NUL byte")
}

/// glibc's and musl's `execvp` search path when `PATH` is unset.
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

fn c_string(value: &OsStr, what: &str) -> Result<CString> {
    CString::new(value.as_bytes()).map_err(|_| {
        Error::invalid(format!(
            "{what} contains a NUL byte, which no C string can carry: {value:?}"
        ))
    })
}

/// NULL-terminated pointer array over `strings`, which must outlive it.
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The descriptors the child gets, opened by the parent before `clone`.
struct StdioPlan {
    /// `sources[i]`: the parent descriptor that becomes child descriptor `i`, or -1 to leave
    /// it closed.
    sources: Vec<RawFd>,
    /// The child's ends of the pipes and `/dev/null`: closed in the parent after `clone`.
    child_ends: Vec<OwnedFd>,
    parent_ends: Vec<Option<OwnedFd>>,
}

impl StdioPlan {
    fn open(stdio: &[Stdio]) -> io::Result<StdioPlan> {
        let mut plan = StdioPlan {
            sources: Vec::with_capacity(stdio.len()),
            child_ends: Vec::new(),
            parent_ends: Vec::with_capacity(stdio.len()),
        };
        let mut dev_null: Option<RawFd> = None;
        for (i, kind) in stdio.iter().enumerate() {
            let (source, parent_end) = match *kind {
                Stdio::Pipe => {
                    let (parent, child) = socketpair()?;
                    let source = child.as_raw_fd();
                    plan.child_ends.push(child);
                    (source, Some(parent))
                }
                Stdio::Ignore => {
                    let fd = match dev_null {
                        Some(fd) => fd,
                        None => {
                            let file = open_dev_null()?;
                            let fd = file.as_raw_fd();
                            plan.child_ends.push(file);
                            dev_null = Some(fd);
                            fd
                        }
                    };
                    (fd, None)
                }
                Stdio::Inherit => (if is_open(i as RawFd) { i as RawFd } else { -1 }, None),
                Stdio::Fd(fd) => (fd, None),
            };
            plan.sources.push(source);
            plan.parent_ends.push(parent_end);
        }
        Ok(plan)
    }
}

fn validate_stdio(stdio: &[Stdio]) -> Result<()> {
    for (i, kind) in stdio.iter().enumerate() {
        if let Stdio::Fd(fd) = *kind {
            if fd < 0 || !is_open(fd) {
                return Err(Error::invalid(format!(
                    "stdio[{i}]: descriptor {fd} is not open in this process"
                )));
            }
        }
    }
    Ok(())
}

fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: valid out-array of two ints; both descriptors are ours.
    let ret = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn open_dev_null() -> io::Result<OwnedFd> {
    // SAFETY: valid NUL-terminated path.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only inspects the descriptor.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// The child's stack: `clone` runs the child on it while the parent's stays untouched.
struct ChildStack {
    base: *mut libc::c_void,
}

/// Enough for the child's few frames of raw system calls, with a guard page below.
const STACK_SIZE: usize = 64 * 1024;
const GUARD_SIZE: usize = 4096;

impl ChildStack {
    fn new() -> io::Result<ChildStack> {
        // SAFETY: a fresh anonymous mapping; the guard page is made inaccessible below.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let stack = ChildStack { base };
            if libc::mprotect(base, GUARD_SIZE, libc::PROT_NONE) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(stack)
        }
    }

    /// Runs `f` with this thread's child stack, mapped on its first spawn and kept for the
    /// next (a thread runs one spawn at a time: `clone` suspends it until the child execs).
    fn with_this_threads<T>(f: impl FnOnce(&ChildStack) -> io::Result<T>) -> io::Result<T> {
        thread_local! {
            static STACK: std::cell::RefCell<Option<ChildStack>> =
                const { std::cell::RefCell::new(None) };
        }
        let stack = match STACK.with(|s| s.borrow_mut().take()) {
            Some(stack) => stack,
            None => ChildStack::new()?,
        };
        let result = f(&stack);
        STACK.with(|s| *s.borrow_mut() = Some(stack));
        result
    }

    /// The highest address: the stack grows down on every Linux target we build.
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, 16-byte aligned (page-aligned base).
        unsafe { self.base.cast::<u8>().add(STACK_SIZE).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used (its thread is exiting).
        unsafe { libc::munmap(self.base, STACK_SIZE) };
    }
}

/// Everything the child reads, prepared by the parent; and where it reports a failure.
#[repr(C)]
struct ChildArgs {
    candidates: *const *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// NULL: stay in the parent's directory.
    cwd: *const libc::c_char,
    /// Child descriptor `i` comes from `sources[i]` (-1: closed). The child rewrites entries
    /// it has to move out of the way.
    sources: *mut RawFd,
    source_count: usize,
    /// The child shares the parent's descriptor table (`CLONE_FILES`) and must first take a
    /// private copy of its descriptors below `keep_below`, where all its sources lie.
    files_shared: bool,
    keep_below: RawFd,
    /// Used where `close_range` is missing and /proc cannot be read.
    max_fd: RawFd,
    detached: bool,
    /// -1: unchanged.
    uid: i64,
    gid: i64,
    /// Set by the child as it starts: proof that it shares our memory.
    child_ran: AtomicBool,
    failed_step: AtomicU8,
    errno: AtomicI32,
    /// The write end of a close-on-exec pipe (-1: none) for a child that turns out not to
    /// share our memory (see `MemoryShared`).
    report_fd: RawFd,
}

/// Whether `clone(CLONE_VM | CLONE_VFORK)` really shares memory here. It does on Linux;
/// emulators such as qemu-user turn it into a fork, and then a failure can only come back
/// through a pipe. Until the first spawn has shown which, each spawn brings a pipe.
static MEMORY_SHARED: AtomicU8 = AtomicU8::new(MemoryShared::Unknown as u8);

#[repr(u8)]
enum MemoryShared {
    Unknown,
    Yes,
    No,
}

/// Whether children may share the descriptor table until they copy its low part (see
/// `low_descriptors`). Cleared for good once `clone` refuses `CLONE_FILES` (qemu-user) or a
/// child cannot unshare (`close_range` missing before Linux 5.9, or forbidden).
static SHARE_FILES: AtomicBool = AtomicBool::new(true);

/// Whether `clone` takes `CLONE_PIDFD`. Cleared for good once it refuses the flag (then
/// `pidfd_open` pins the child).
static CLONE_PIDFD_TAKEN: AtomicBool = AtomicBool::new(true);

struct Child {
    pid: i32,
    pidfd: Option<OwnedFd>,
    /// The child exited with 127 after this step failed with this errno.
    failure: Option<(Step, i32)>,
    /// Steps the system refused on the way, each then done without (see `SHARE_FILES`,
    /// `CLONE_PIDFD_TAKEN`).
    refusals: u64,
}

/// `clone(CLONE_VM | CLONE_VFORK)`: returns once the child has called `execve` or exited.
fn clone_child(
    program: &Program,
    stdio: &StdioPlan,
    spec: &SpawnSpec,
    stack: &ChildStack,
    want_pidfd: bool,
) -> io::Result<Child> {
    let mut sources = stdio.sources.clone();
    let staged = Staged::stage(&mut sources)?;
    let mut refusals = 0;
    loop {
        let share_files = SHARE_FILES.load(Ordering::Relaxed);
        let child = clone_once(
            program,
            &sources,
            staged.keep_below,
            spec,
            stack,
            want_pidfd,
            share_files,
        )?;
        refusals += child.refusals;
        if share_files && matches!(child.failure, Some((Step::UnshareDescriptors, _))) {
            SHARE_FILES.store(false, Ordering::Relaxed);
            reap_failed(child.pid);
            refusals += 1;
            continue; // nothing happened in the child yet: try again with a copied table
        }
        return Ok(Child { refusals, ..child });
    }
}

/// One `clone`, with the optional flags (`CLONE_FILES` when `share_files`, `CLONE_PIDFD`
/// when `want_pidfd`) dropped one by one while the system refuses them with EINVAL.
fn clone_once(
    program: &Program,
    sources: &[RawFd],
    keep_below: RawFd,
    spec: &SpawnSpec,
    stack: &ChildStack,
    want_pidfd: bool,
    share_files: bool,
) -> io::Result<Child> {
    let candidates = pointers(&program.candidates);
    let argv = pointers(&program.argv);
    let envp = pointers(&program.env);
    let mut sources = sources.to_vec();
    let report_pipe = match MEMORY_SHARED.load(Ordering::Relaxed) {
        shared if shared == MemoryShared::Yes as u8 => None,
        _ => Some(pipe()?),
    };
    let report_fd = report_pipe.as_ref().map_or(-1, |(_, w)| w.as_raw_fd());
    let mut args = ChildArgs {
        candidates: candidates.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: program
            .cwd
            .as_ref()
            .map_or(std::ptr::null(), |c| c.as_ptr()),
        sources: sources.as_mut_ptr(),
        source_count: sources.len(),
        files_shared: false,
        keep_below: keep_below.max(report_fd + 1),
        max_fd: max_fd(),
        detached: spec.detached,
        uid: spec.uid.map_or(-1, i64::from),
        gid: spec.gid.map_or(-1, i64::from),
        child_ran: AtomicBool::new(false),
        failed_step: AtomicU8::new(0),
        errno: AtomicI32::new(0),
        report_fd,
    };
    let mut pidfd: libc::c_int = -1;
    let mut clone_with = |flags: libc::c_int| {
        args.files_shared = flags & libc::CLONE_FILES != 0;
        // Every signal blocked across `clone`: a handler of the parent must never run in the
        // child, which shares its memory. The child unblocks them once its handlers are reset.
        let previous_mask = block_all_signals();
        // SAFETY: `child_main` only reads `args` (alive until `clone` returns, since
        // CLONE_VFORK suspends us until the child has exec'd or exited) and runs on its own
        // stack. `&mut pidfd` is where CLONE_PIDFD stores the pidfd; TLS and child tid are
        // unused.
        let pid = unsafe {
            libc::clone(
                child_main,
                stack.top(),
                flags,
                std::ptr::addr_of!(args).cast_mut().cast(),
                &mut pidfd as *mut libc::c_int,
                std::ptr::null_mut::<libc::c_void>(),
                std::ptr::null_mut::<libc::c_int>(),
            )
        };
        let clone_error = io::Error::last_os_error();
        restore_signals(previous_mask);
        if pid < 0 {
            Err(clone_error)
        } else {
            Ok(pid)
        }
    };
    let base = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    let files_choices: &[libc::c_int] = if share_files {
        &[libc::CLONE_FILES, 0]
    } else {
        &[0]
    };
    // A sandbox that refuses CLONE_PIDFD (EINVAL) still spawns, and `pidfd_open` pins.
    let pidfd_choices: &[libc::c_int] = if want_pidfd && CLONE_PIDFD_TAKEN.load(Ordering::Relaxed) {
        &[libc::CLONE_PIDFD, 0]
    } else {
        &[0]
    };
    let mut result = Err(io::Error::from_raw_os_error(libc::EINVAL));
    let mut refusals = 0;
    'choices: for pidfd_flag in pidfd_choices {
        for files_flag in files_choices {
            result = clone_with(base | pidfd_flag | files_flag);
            match &result {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    refusals += 1;
                    continue;
                }
                Ok(_) => {
                    if share_files && *files_flag == 0 {
                        SHARE_FILES.store(false, Ordering::Relaxed);
                    }
                    if pidfd_choices.len() > 1 && *pidfd_flag == 0 {
                        CLONE_PIDFD_TAKEN.store(false, Ordering::Relaxed);
                    }
                }
                Err(_) => {}
            }
            break 'choices;
        }
    }
    let pid = result?;
    // SAFETY: CLONE_PIDFD stored a fresh, close-on-exec descriptor we own (a kernel that
    // ignores the flag leaves -1).
    let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
    let failure = if args.child_ran.load(Ordering::Acquire) {
        MEMORY_SHARED.store(MemoryShared::Yes as u8, Ordering::Relaxed);
        let failed_step = args.failed_step.load(Ordering::Acquire);
        (failed_step != 0).then(|| {
            (
                Step::from_u8(failed_step),
                args.errno.load(Ordering::Acquire),
            )
        })
    } else {
        MEMORY_SHARED.store(MemoryShared::No as u8, Ordering::Relaxed);
        // (Always a pipe here: memory is only ever known shared after a child wrote to it.)
        report_pipe.and_then(|(read_end, write_end)| {
            drop(write_end);
            read_report(&read_end)
        })
    };
    Ok(Child {
        pid,
        pidfd,
        failure,
        refusals,
    })
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut ends = [0; 2];
    // SAFETY: valid out-array of two ints; both descriptors are ours.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) })
}

/// Waits until a child that does not share our memory has exec'd (the pipe closes: `None`)
/// or reported a failure (its step and errno).
fn read_report(read_end: &OwnedFd) -> Option<(Step, i32)> {
    let mut report = [0i32; 2];
    loop {
        // SAFETY: reads at most 8 bytes into a valid buffer.
        let n = unsafe { libc::read(read_end.as_raw_fd(), report.as_mut_ptr().cast(), 8) };
        if n == 8 {
            return Some((Step::from_u8(report[0] as u8), report[1]));
        }
        if n >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

/// The highest descriptor number worth closing one by one (the soft `RLIMIT_NOFILE`, capped).
fn max_fd() -> RawFd {
    let mut limit = std::mem::MaybeUninit::<libc::rlimit>::zeroed();
    // SAFETY: valid out-pointer.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, limit.as_mut_ptr()) } == 0;
    // SAFETY: filled by getrlimit when it succeeded, zeroed otherwise.
    let current = unsafe { limit.assume_init() }.rlim_cur;
    if ok {
        current.min(1 << 20) as RawFd
    } else {
        1024
    }
}

/// Kernel `sigset_t` size for `rt_sigprocmask`/`rt_sigaction`: 64 signals.
const KERNEL_SIGSET_SIZE: usize = 8;

fn block_all_signals() -> u64 {
    let all: u64 = !0;
    let mut previous: u64 = 0;
    // SAFETY: valid 8-byte sets. The raw call also blocks the C library's internal signals,
    // which `pthread_sigmask` would leave open.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &all as *const u64,
            &mut previous as *mut u64,
            KERNEL_SIGSET_SIZE,
        )
    };
    previous
}

fn restore_signals(mask: u64) {
    // SAFETY: a valid 8-byte set.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &mask as *const u64,
            std::ptr::null_mut::<u64>(),
            KERNEL_SIGSET_SIZE,
        )
    };
}

/// Reaps a child that failed before `execve` (or that nobody could own), so it leaves no
/// zombie. It has exited or been killed: this waits at most for it to finish dying.
fn reap_failed(pid: i32) {
    let mut status = 0;
    // SAFETY: our unreaped child; EINTR is retried.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
}

// ---- The child, between `clone` and `execve` ----
//
// Only raw system calls through `libc::syscall` (which touches nothing but errno), no
// allocation, no indexing that could panic.

/// A raw system call's result: the errno on failure.
fn sys_result(ret: libc::c_long) -> std::result::Result<libc::c_long, i32> {
    if ret < 0 {
        // SAFETY: the calling thread's errno, just set by `syscall`.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(ret)
    }
}

extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive while the parent is suspended.
    let args = unsafe { &*arg.cast::<ChildArgs>() };
    args.child_ran.store(true, Ordering::Release);
    let mut report_fd = args.report_fd;
    // SAFETY: only raw system calls on data the parent prepared.
    let (step, errno) = unsafe { prepare_and_exec(args, &mut report_fd) };
    args.errno.store(errno, Ordering::Release);
    args.failed_step.store(step as u8, Ordering::Release);
    if report_fd >= 0 {
        let report = [step as i32, errno];
        // SAFETY: writes 8 bytes from a valid array (atomic: below PIPE_BUF).
        unsafe { libc::syscall(libc::SYS_write, report_fd, report.as_ptr(), 8) };
    }
    // SAFETY: `_exit` is async-signal-safe and never returns.
    unsafe { libc::_exit(127) }
}

/// Sets the child up and executes the program; returns only on failure.
/// `report_fd` is moved out of the way of the child's descriptors if needed.
unsafe fn prepare_and_exec(args: &ChildArgs, report_fd: &mut RawFd) -> (Step, i32) {
    if args.files_shared {
        // First of all: until this returns, every descriptor change would be the parent's.
        if let Err(e) = sys_result(libc::syscall(
            libc::SYS_close_range,
            args.keep_below as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_UNSHARE,
        )) {
            return (Step::UnshareDescriptors, e);
        }
    }
    reset_signal_dispositions();
    if args.detached {
        if let Err(e) = sys_result(libc::syscall(libc::SYS_setsid)) {
            return (Step::Setsid, e);
        }
    }
    if let Err(e) = install_descriptors(args, report_fd) {
        return (Step::Descriptors, e);
    }
    if !args.cwd.is_null() {
        if let Err(e) = sys_result(libc::syscall(libc::SYS_chdir, args.cwd)) {
            return (Step::Chdir, e);
        }
    }
    if args.uid >= 0 || args.gid >= 0 {
        // Drop the parent's supplementary groups where allowed (as libuv does); without
        // CAP_SETGID this fails and the groups stay, which is all an unprivileged parent has.
        let _ = libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>());
    }
    if args.gid >= 0 {
        if let Err(e) = sys_result(libc::syscall(libc::SYS_setgid, args.gid as libc::gid_t)) {
            return (Step::Setgid, e);
        }
    }
    if args.uid >= 0 {
        if let Err(e) = sys_result(libc::syscall(libc::SYS_setuid, args.uid as libc::uid_t)) {
            return (Step::Setuid, e);
        }
    }
    let empty: u64 = 0;
    let _ = libc::syscall(
        libc::SYS_rt_sigprocmask,
        libc::SIG_SETMASK,
        &empty as *const u64,
        std::ptr::null_mut::<u64>(),
        KERNEL_SIGSET_SIZE,
    );
    (Step::Exec, exec_first_candidate(args))
}

/// Every signal back to its default action (the mask stays full until just before exec).
unsafe fn reset_signal_dispositions() {
    // The kernel's `struct sigaction` (handler, flags, restorer, mask): all zero is SIG_DFL.
    let default = [0u64; 4];
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        let _ = libc::syscall(
            libc::SYS_rt_sigaction,
            signal,
            default.as_ptr(),
            std::ptr::null_mut::<u64>(),
            KERNEL_SIGSET_SIZE,
        );
    }
}

/// Puts each source on its child descriptor, then marks every other descriptor close-on-exec.
unsafe fn install_descriptors(
    args: &ChildArgs,
    report_fd: &mut RawFd,
) -> std::result::Result<(), i32> {
    let count = args.source_count as RawFd;
    let sources = std::slice::from_raw_parts_mut(args.sources, args.source_count);
    // A descriptor below `count` could be overwritten by a slot's dup: move it above first.
    if *report_fd >= 0 && *report_fd < count {
        *report_fd = sys_result(libc::syscall(
            libc::SYS_fcntl,
            *report_fd,
            libc::F_DUPFD_CLOEXEC,
            count,
        ))? as RawFd;
    }
    for (target, source) in (0..).zip(sources.iter_mut()) {
        if *source >= 0 && *source < count && *source != target {
            *source = sys_result(libc::syscall(
                libc::SYS_fcntl,
                *source,
                libc::F_DUPFD_CLOEXEC,
                count,
            ))? as RawFd;
        }
    }
    for (target, source) in (0..).zip(sources.iter()) {
        if *source < 0 {
            let _ = libc::syscall(libc::SYS_close, target);
        } else if *source == target {
            sys_result(libc::syscall(libc::SYS_fcntl, target, libc::F_SETFD, 0))?;
        } else {
            sys_result(libc::syscall(libc::SYS_dup3, *source, target, 0))?;
        }
        if *source >= 0 && target <= 2 {
            make_blocking(target);
        }
    }
    mark_cloexec_from(count, args.max_fd)
}

/// Clears `O_NONBLOCK` on a standard descriptor, as libuv does for `child_process`: most
/// programs fail on EAGAIN from stdin or stdout. The flag belongs to the open file, so an
/// inherited descriptor of the parent becomes blocking for the parent too.
unsafe fn make_blocking(fd: RawFd) {
    let flags = libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL);
    let nonblocking = libc::c_long::from(libc::O_NONBLOCK);
    if flags >= 0 && flags & nonblocking != 0 {
        let _ = libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFL, flags & !nonblocking);
    }
}

/// Marks every descriptor ≥ `first` close-on-exec: `close_range` (Linux 5.11), else the
/// entries of /proc/self/fd, else each number below `max_fd`.
unsafe fn mark_cloexec_from(first: RawFd, max_fd: RawFd) -> std::result::Result<(), i32> {
    let all = sys_result(libc::syscall(
        libc::SYS_close_range,
        first as libc::c_uint,
        libc::c_uint::MAX,
        libc::CLOSE_RANGE_CLOEXEC,
    ));
    if all.is_ok() || mark_listed_cloexec_from(first).is_ok() {
        return Ok(());
    }
    for fd in first..max_fd {
        let _ = libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    Ok(())
}

/// Marks the descriptors ≥ `first` listed in /proc/self/fd close-on-exec, reading the
/// directory with `getdents64` into a buffer on the stack.
unsafe fn mark_listed_cloexec_from(first: RawFd) -> std::result::Result<(), i32> {
    let dir = sys_result(libc::syscall(
        libc::SYS_openat,
        libc::AT_FDCWD,
        c"/proc/self/fd".as_ptr(),
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
    ))?;
    let mut buffer = [0u8; 2048];
    let listed = loop {
        let n = match sys_result(libc::syscall(
            libc::SYS_getdents64,
            dir,
            buffer.as_mut_ptr(),
            buffer.len(),
        )) {
            Ok(0) => break Ok(()),
            Ok(n) => n as usize,
            Err(e) => break Err(e),
        };
        let mut offset = 0usize;
        // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, then the name.
        while offset + DIRENT_NAME_OFFSET < n {
            let entry = buffer.as_ptr().add(offset);
            let reclen = std::ptr::read_unaligned(entry.add(16).cast::<u16>()) as usize;
            if reclen == 0 {
                break;
            }
            let name = entry.add(DIRENT_NAME_OFFSET);
            let name_len = reclen
                .saturating_sub(DIRENT_NAME_OFFSET)
                .min(n - offset - DIRENT_NAME_OFFSET);
            if let Some(fd) = parse_fd(std::slice::from_raw_parts(name, name_len)) {
                if fd >= first && libc::c_long::from(fd) != dir {
                    let _ = libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            offset += reclen;
        }
    };
    let _ = libc::syscall(libc::SYS_close, dir);
    listed
}

const DIRENT_NAME_OFFSET: usize = 19;

/// The descriptor number a NUL-terminated /proc/self/fd entry name spells ("." and ".." are
/// not numbers).
fn parse_fd(name: &[u8]) -> Option<RawFd> {
    let mut value: RawFd = 0;
    let mut digits = 0;
    for &byte in name.iter().take_while(|b| **b != 0) {
        let digit = byte.checked_sub(b'0').filter(|d| *d <= 9)?;
        value = value.checked_mul(10)?.checked_add(RawFd::from(digit))?;
        digits += 1;
    }
    (digits > 0).then_some(value)
}

/// `execve` on each path candidate in turn, as `execvp` does: a missing file or directory
/// moves on to the next; denied permission is remembered and reported if nothing else ran;
/// any other failure (ENOEXEC, E2BIG, ...) stops the search. Returns the errno.
unsafe fn exec_first_candidate(args: &ChildArgs) -> i32 {
    let mut denied = false;
    let mut last = libc::ENOENT;
    let mut candidate = args.candidates;
    while !(*candidate).is_null() {
        let ret = libc::syscall(libc::SYS_execve, *candidate, args.argv, args.envp);
        let Err(errno) = sys_result(ret) else {
            return 0; // unreachable: a successful execve does not return
        };
        last = errno;
        match errno {
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => return errno,
        }
        candidate = candidate.add(1);
    }
    if denied {
        libc::EACCES
    } else {
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_survives_the_trip_through_shared_memory() {
        let steps = [
            Step::Stdio,
            Step::Clone,
            Step::UnshareDescriptors,
            Step::Setsid,
            Step::Descriptors,
            Step::Chdir,
            Step::Setgid,
            Step::Setuid,
            Step::Exec,
        ];
        for step in steps {
            assert_eq!(Step::from_u8(step as u8), step);
        }
    }

    #[test]
    fn descriptor_names_parse_and_dots_do_not() {
        assert_eq!(parse_fd(b"0\0"), Some(0));
        assert_eq!(parse_fd(b"1234\0\0\0"), Some(1234));
        assert_eq!(parse_fd(b".\0"), None);
        assert_eq!(parse_fd(b"..\0"), None);
        assert_eq!(parse_fd(b"\0"), None);
        assert_eq!(parse_fd(b"99999999999\0"), None, "overflow");
    }

    fn is_cloexec(fd: RawFd) -> bool {
        // SAFETY: F_GETFD only inspects the descriptor.
        unsafe { libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0 }
    }

    /// The fallback for kernels without `close_range(CLOSE_RANGE_CLOEXEC)`, run on this
    /// process: only descriptors at or above `first` change.
    #[test]
    fn the_proc_listing_fallback_marks_descriptors_from_first_on() {
        // SAFETY: valid paths; both descriptors are closed below.
        let (low, high) = unsafe {
            let low = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            let high = libc::fcntl(low, libc::F_DUPFD, 900);
            (low, high)
        };
        assert!(low > 2 && high >= 900);
        assert!(!is_cloexec(low) && !is_cloexec(high));
        // SAFETY: raw system calls on this process's own descriptor table.
        unsafe { mark_listed_cloexec_from(900) }.unwrap();
        assert!(!is_cloexec(low), "below first: untouched");
        assert!(is_cloexec(high));
        // SAFETY: our own descriptors.
        unsafe {
            libc::close(low);
            libc::close(high);
        }
    }
}
