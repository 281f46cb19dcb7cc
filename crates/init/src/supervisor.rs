//! The init's single thread: one epoll set over one signalfd. Signals are forwarded, exited
//! children reaped (nothing else in this process waits, so no exit is ever stolen), and the
//! init exits as soon as the main child has exited and whatever it must wait for is done.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::time::SystemTime;

use exitwatch_core::sys::{self, Interest, ReceivedSignal};
use exitwatch_core::ExitStatus;

use crate::cli::{ChildPlacement, Config};
use crate::diagnostics::Diagnostics;
use crate::exit_log::{ExitLog, ExitRecord};
use crate::signals::{self, Action, Policy};
use crate::{spawn, status, tree};

/// While killing a tree, how often it is listed again for members forked meanwhile.
const KILL_RESCAN_MS: u64 = 100;

pub struct Supervisor {
    config: Config,
    diagnostics: Diagnostics,
    exit_log: Option<ExitLog>,
    policy: Policy,
    signal_fd: OwnedFd,
    epoll: OwnedFd,
    received: Vec<ReceivedSignal>,
    main_pid: libc::pid_t,
    /// The main child while it lives (None on kernels without pidfds).
    main_pidfd: Option<OwnedFd>,
    main_status: Option<ExitStatus>,
    has_children: bool,
    /// `--kill-after`: when (monotonic ns) the remaining tree gets SIGKILL.
    kill_at: Option<u64>,
    killing: bool,
    /// `--wait-descendants`: until when (monotonic ns) descendants are waited for.
    wait_until: Option<u64>,
}

/// Sets the process up (signals, subreaper, terminal), starts the child and returns the
/// supervisor of it. Errors are setup failures of the init itself.
pub fn start(config: Config) -> io::Result<Supervisor> {
    let diagnostics = Diagnostics::new(config.verbosity);
    let original_mask = sys::block_all_signals()?;
    // An inherited "ignore SIGCHLD" would make the kernel reap our children for us and hide
    // the main child's status; the child gets the ignore back (see spawn).
    let sigchld_was_ignored = sys::reset_disposition(libc::SIGCHLD)?;
    let signal_fd = sys::signalfd_all()?;
    let epoll = sys::epoll_create()?;
    sys::epoll_add(epoll.as_fd(), signal_fd.as_raw_fd(), 0, Interest::Readable)?;

    let is_pid_1 = sys::getpid() == 1;
    if config.subreaper && !is_pid_1 {
        sys::set_child_subreaper()?;
    }
    if !config.subreaper && !is_pid_1 {
        diagnostics.info(|| {
            "not PID 1 and not a subreaper (-s): orphans will not be re-parented to this process"
                .to_string()
        });
    }
    if let Some(signal) = config.parent_death_signal {
        sys::set_parent_death_signal(signal)?;
    }
    let exit_log = config.exits.as_ref().map(ExitLog::open).transpose()?;

    let mut policy = Policy::new(config.rewrites.clone());
    if config.placement == ChildPlacement::Session && sys::isatty(libc::STDIN_FILENO) {
        // The child's new session takes the terminal, so we let go of it. As the session
        // leader that makes the kernel send us SIGHUP and SIGCONT, which are not for the child.
        if sys::is_session_leader() {
            policy.swallow_next(libc::SIGHUP);
            policy.swallow_next(libc::SIGCONT);
        }
        if let Err(error) = sys::detach_controlling_terminal(libc::STDIN_FILENO) {
            diagnostics.info(|| format!("could not give up the terminal: {error}"));
        }
    }

    let argv: Vec<CString> = config
        .command
        .iter()
        .map(|arg| CString::new(arg.clone().into_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "an argument contains NUL"))?;
    let main_pid = spawn::spawn(&argv, config.placement, &original_mask, sigchld_was_ignored)?;
    if config.placement == ChildPlacement::ProcessGroup {
        // Also from this side, so a signal forwarded to the group right away finds it.
        let _ = sys::set_child_process_group(main_pid);
    }
    let main_pidfd = sys::pidfd_open(main_pid).ok();
    diagnostics.info(|| format!("started {main_pid}: {}", show_command(&config.command)));

    Ok(Supervisor {
        config,
        diagnostics,
        exit_log,
        policy,
        signal_fd,
        epoll,
        received: Vec::with_capacity(64),
        main_pid,
        main_pidfd,
        main_status: None,
        has_children: true,
        kill_at: None,
        killing: false,
        wait_until: None,
    })
}

impl Supervisor {
    /// Runs until the init should exit; returns its exit code.
    pub fn run(mut self) -> u8 {
        let mut events = Vec::with_capacity(4);
        loop {
            if let Some(code) = self.finished() {
                self.before_exit();
                return code;
            }
            let timeout = self.timeout_ms();
            if let Err(error) = sys::epoll_wait(self.epoll.as_fd(), &mut events, timeout) {
                Diagnostics::always(&format!("epoll_wait failed: {error}"));
                return 1;
            }
            self.take_signals();
            self.on_deadlines();
        }
    }

    /// The exit code once the init is done: the main child has exited, and the tree it
    /// must wait for (`--kill-after` once armed, `--wait-descendants`) is gone or out of time.
    fn finished(&self) -> Option<u8> {
        let status = self.main_status?;
        let waiting_for_tree = self.kill_at.is_some()
            || self
                .wait_until
                .is_some_and(|until| sys::monotonic_ns() < until);
        if self.has_children && waiting_for_tree {
            return None;
        }
        Some(self.config.remapped.exit_code(status))
    }

    fn timeout_ms(&self) -> i32 {
        let now = sys::monotonic_ns();
        let until_kill = self.kill_at.filter(|_| !self.killing);
        let deadline = [until_kill, self.wait_until].into_iter().flatten().min();
        let mut timeout = deadline.map(|at| at.saturating_sub(now).div_ceil(1_000_000));
        if self.killing {
            timeout = Some(timeout.map_or(KILL_RESCAN_MS, |t| t.min(KILL_RESCAN_MS)));
        }
        timeout.map_or(-1, |ms| ms.min(i32::MAX as u64) as i32)
    }

    fn take_signals(&mut self) {
        let mut received = std::mem::take(&mut self.received);
        received.clear();
        sys::signalfd_read(self.signal_fd.as_fd(), &mut received);
        let mut reap = false;
        for signal in &received {
            match self.policy.on_signal(signal.signal) {
                Action::Reap => reap = true,
                Action::Drop => self
                    .diagnostics
                    .info(|| format!("dropped {}", signals::name(signal.signal))),
                Action::Forward {
                    signal: forwarded,
                    stop_self,
                } => {
                    self.forward(forwarded);
                    if signals::is_stop_request(signal.signal) {
                        self.arm_kill_after();
                    }
                    if stop_self {
                        // As dumb-init does: the job that started us stops with the child.
                        let _ = sys::kill(sys::getpid(), libc::SIGSTOP);
                    }
                }
            }
        }
        self.received = received;
        if reap {
            self.reap();
        }
    }

    fn forward(&self, signal: i32) {
        if self.main_status.is_some() {
            // The main child is gone; what is left of its tree gets the signal.
            let count = tree::signal_descendants(signal);
            self.diagnostics
                .info(|| format!("forwarded {} to {count} descendants", signals::name(signal)));
            return;
        }
        let to_group = self.config.signal_group && sys::kill(-self.main_pid, signal).is_ok();
        // Without a group (or before the child has made it), the child alone. Its pid cannot
        // be reused before we reap it; the pidfd, where the kernel has one, makes that explicit.
        let sent = to_group
            || match &self.main_pidfd {
                Some(pidfd) => sys::pidfd_send_signal(pidfd.as_fd(), signal),
                None => sys::kill(self.main_pid, signal),
            }
            .inspect_err(|error| {
                self.diagnostics
                    .info(|| format!("could not forward {}: {error}", signals::name(signal)))
            })
            .is_ok();
        if sent {
            self.diagnostics.info(|| {
                let target = if to_group { "process group " } else { "" };
                format!(
                    "forwarded {} to {target}{}",
                    signals::name(signal),
                    self.main_pid
                )
            });
        }
    }

    fn arm_kill_after(&mut self) {
        if let (Some(ms), None) = (self.config.kill_after_ms, self.kill_at) {
            self.kill_at = Some(sys::monotonic_ns() + ms * 1_000_000);
        }
    }

    fn on_deadlines(&mut self) {
        let now = sys::monotonic_ns();
        if self.kill_at.is_some_and(|at| now >= at) && self.has_children {
            self.killing = true;
            let count = tree::signal_descendants(libc::SIGKILL);
            self.diagnostics
                .info(|| format!("--kill-after: sent SIGKILL to {count} processes"));
            // Their exits come as SIGCHLD; a zombie left by an exited parent is ours now.
            self.reap();
        }
    }

    /// Collects every exited child. `waitid` peeks first (WNOWAIT) so the zombie can still be
    /// named (pidfs id, comm) for the log, then reaps exactly that pid.
    fn reap(&mut self) {
        loop {
            match sys::waitid_any_exited() {
                Ok(Some(pid)) => self.collect(pid),
                Ok(None) => {
                    self.has_children = true;
                    return;
                }
                Err(error) => {
                    if error.raw_os_error() != Some(libc::ECHILD) {
                        Diagnostics::always(&format!("waitid failed: {error}"));
                    }
                    self.has_children = false;
                    return;
                }
            }
        }
    }

    fn collect(&mut self, pid: libc::pid_t) {
        let main = pid == self.main_pid;
        let described = self.exit_log.is_some()
            || self.diagnostics.verbose()
            || (self.config.warn_on_reap && !main);
        let (pidfs_id, comm) = if described {
            let id = sys::pidfd_open(pid)
                .ok()
                .and_then(|fd| sys::pidfd_identity(fd.as_fd()));
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (id, comm.trim_end().to_string())
        } else {
            (None, String::new())
        };
        let exit = match sys::waitid_pid(pid, true) {
            Ok(Some(reaped)) => reaped,
            Ok(None) => return, // cannot happen: it was reported exited and only we reap
            Err(error) => {
                Diagnostics::always(&format!("could not reap {pid}: {error}"));
                return;
            }
        };
        let status = ExitStatus::from_siginfo(exit.code, exit.status);
        if main {
            self.main_status = Some(status);
            self.main_pidfd = None;
            if let Some(ms) = self.config.wait_descendants_ms {
                self.wait_until = Some(sys::monotonic_ns() + ms * 1_000_000);
            }
        }
        if !described {
            return;
        }
        let line = || {
            let kind = if main { "" } else { "orphan " };
            format!("{kind}{pid} {} [waitid] ({comm})", status::describe(status))
        };
        if self.config.warn_on_reap && !main && !self.diagnostics.verbose() {
            Diagnostics::always(&line());
        } else {
            self.diagnostics.info(line);
        }
        if let Some(log) = &mut self.exit_log {
            let record = ExitRecord {
                pid,
                pidfs_id,
                comm: comm.clone(),
                status,
                main,
                usage: exit.usage,
                time: SystemTime::now(),
            };
            if let Err(error) = log.write(&record) {
                self.diagnostics
                    .info(|| format!("could not write the exit log: {error}"));
            }
        }
    }

    fn before_exit(&self) {
        if self.config.placement == ChildPlacement::Session {
            // As dumb-init does: the rest of the child's session is asked to stop too.
            let _ = sys::kill(-self.main_pid, libc::SIGTERM);
        }
    }
}

fn show_command(command: &[OsString]) -> String {
    command
        .iter()
        .map(|arg| arg.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
