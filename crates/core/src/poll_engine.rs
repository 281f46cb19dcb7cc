//! The engine for kernels and sandboxes without pidfds (Linux < 5.3, gVisor, seccomp profiles
//! that forbid `pidfd_open`). A process is pinned by its pid and the start time it had when it
//! was registered (`/proc/<pid>/stat` field 22); a pid reused by a later process has a later
//! start time.
//!
//! Nothing reports an exit by itself here, so the monitor thread checks every registered
//! process in rounds: on each SIGCHLD (forwarded by Node, or from the signalfd), on each new
//! registration, and on a timer that starts at 1 ms and doubles up to 1 s while nothing
//! changes. No round runs while nothing is registered.
//!
//! A check reads `/proc/<pid>/stat` through an opened `/proc/<pid>` directory, which keeps
//! naming that one process: once the process is reaped, reads through it fail, even if the pid
//! has been reused. Our zombie children give their status to `waitid(P_PID, …)` (reaped only
//! when owned, else `WNOWAIT`); other zombies give `exit_code` of their stat where we may read
//! it. A process that vanished before a round saw its zombie is `Unknown`, never guessed.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::collect::Collected;
use crate::error::{Error, Operation, Result};
use crate::exit::{ExitInfo, ExitStatus, StatusSource};
use crate::inbox::Inbox;
use crate::procfs;
use crate::registry::{Pin, Registry};
use crate::shared::Shared;
use crate::sync::lock;
use crate::sys;
use crate::usage::Usage;

/// Delay before the next round after something changed; it doubles up to the maximum while
/// nothing does.
const FIRST_INTERVAL: Duration = Duration::from_millis(1);
const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// The start time of `pid`, checked to be a process (not a thread) that exists now; with
/// `reap`, also one of our children. This is what the watch will be pinned to.
pub(crate) fn pin(pid: i32, reap: bool) -> Result<u64> {
    let os_error =
        |errno: i32| Error::os(&io::Error::from_raw_os_error(errno), Operation::Watch(pid));
    let dir = sys::open_proc_dir(pid).map_err(|_| os_error(libc::ESRCH))?;
    let stat = sys::proc_stat(dir.as_fd()).map_err(|_| os_error(libc::ESRCH))?;
    match procfs::tgid_at(dir.as_fd()) {
        Some(tgid) if tgid == pid => {}
        Some(_) => return Err(os_error(libc::EINVAL)), // a thread of another process
        None => return Err(os_error(libc::ESRCH)),     // reaped since the stat was read
    }
    if reap && stat.ppid != sys::getpid() {
        return Err(Error::invalid(format!(
            "reap: true needs a child of this process, and {pid} is not one (or was already reaped)"
        )));
    }
    Ok(stat.start_time)
}

/// Sends `signal` with `kill(2)` if `pid` still names the process that started at
/// `start_time`. The process could still be reaped, and its pid reused, between the check and
/// `kill(2)`: the caller closes that window for owned processes by holding the registry lock,
/// under which the monitor thread reaps them; for others it stays open (a few microseconds).
pub(crate) fn signal(pid: i32, start_time: u64, signal: i32) -> Result<()> {
    let same_process = sys::open_proc_dir(pid)
        .and_then(|dir| sys::proc_stat(dir.as_fd()))
        .is_ok_and(|stat| stat.start_time == start_time);
    if !same_process {
        return Err(Error::exited(Some(pid)));
    }
    sys::kill(pid, signal).map_err(|e| match e.raw_os_error() {
        Some(libc::ESRCH) => Error::exited(Some(pid)),
        _ => Error::os(&e, Operation::Kill(pid)),
    })
}

/// The status of the process `pid` that started at `start_time`, if it has exited.
pub(crate) fn check(pid: i32, start_time: u64, reap: bool) -> Collected {
    // Most checks find the process running: one read says so. The rest proves what it finds
    // through the opened directory.
    if let Some((state, start)) = procfs::state_and_start_time(pid) {
        if start == start_time && state != b'Z' && state != b'X' {
            return Collected::NotYet;
        }
    }
    let Ok(dir) = sys::open_proc_dir(pid) else {
        return vanished();
    };
    let Ok(stat) = sys::proc_stat(dir.as_fd()) else {
        return vanished();
    };
    if stat.start_time != start_time {
        return vanished(); // the pid names a later process: ours was reaped unseen
    }
    if stat.state != b'Z' && stat.state != b'X' {
        return Collected::NotYet;
    }
    if stat.ppid == sys::getpid() {
        return child_status(dir.as_fd(), pid, reap);
    }
    // The kernel shows exit_code only to readers allowed to ptrace-read the process; it prints
    // 0 otherwise, which would be a guess. Such a zombie is checked again until it is gone.
    let euid = sys::euid();
    match stat.exit_code {
        Some(wait_status) if euid == 0 || sys::proc_owner(dir.as_fd()).ok() == Some(euid) => {
            Collected::Exit {
                status: ExitStatus::from_wait_status(wait_status),
                source: StatusSource::ProcStat,
                reaped: false,
                usage: Some(Usage::from_clock_ticks(stat.user_ticks, stat.system_ticks)),
            }
        }
        _ => Collected::NotYet,
    }
}

/// Our zombie child `pid`, whose `/proc/<pid>` directory is `dir`.
fn child_status(dir: BorrowedFd<'_>, pid: i32, reap: bool) -> Collected {
    match sys::waitid_pid(pid, reap) {
        Ok(Some(w)) => {
            // Without reaping, the owner may reap it at any moment and the pid may go to a new
            // child. `dir` still reading afterwards proves waitid saw our process: a pid is
            // never reused before its process is reaped.
            if !reap && sys::proc_stat(dir).is_err() {
                return vanished();
            }
            Collected::Exit {
                status: ExitStatus::from_siginfo(w.code, w.status),
                source: if reap {
                    StatusSource::Waitid
                } else {
                    StatusSource::WaitidNoWait
                },
                reaped: reap,
                usage: Some(w.usage),
            }
        }
        // A ptrace tracer holds the status: check again next round.
        Ok(None) => Collected::NotYet,
        // ECHILD: its owner reaped it since we read its stat.
        Err(_) => vanished(),
    }
}

fn vanished() -> Collected {
    Collected::Exit {
        status: ExitStatus::Unknown,
        source: StatusSource::None,
        reaped: false,
        usage: None,
    }
}

/// The rounds of the poll engine, run by the monitor thread.
pub(crate) struct Poller {
    interval: Duration,
    next_round: Option<Instant>,
}

impl Default for Poller {
    fn default() -> Self {
        Poller {
            interval: FIRST_INTERVAL,
            next_round: None,
        }
    }
}

impl Poller {
    /// When the next timed round is due; `None` while nothing is registered.
    pub fn deadline(&self) -> Option<Instant> {
        self.next_round
    }

    /// Runs a round if one is due or the monitor was `woken` (a SIGCHLD, a new registration),
    /// delivering every exit found, and schedules the next one.
    pub fn run(&mut self, shared: &Shared, woken: bool, to_wake: &mut Vec<Arc<Inbox>>) {
        let due = self.next_round.is_some_and(|at| at <= Instant::now());
        if !woken && !due {
            return;
        }
        let registry = lock(&shared.registry);
        let mut processes: Vec<(u64, i32, u64, bool)> = registry
            .processes
            .iter()
            // Those waiting for their owner's report have nothing more to show.
            .filter(|(key, _)| !registry.awaiting_owner.contains(key))
            .filter_map(|(key, p)| match p.pin {
                Pin::StartTime(start) => Some((*key, p.pid, start, p.reap)),
                Pin::Pidfd(_) => None,
            })
            .collect();
        drop(registry);
        // Exits found in one round are delivered in registration order.
        processes.sort_unstable_by_key(|&(key, ..)| key);
        if processes.is_empty() {
            self.next_round = None;
            return;
        }
        let mut changed = woken;
        for (key, pid, start_time, reap) in processes {
            changed |= if reap {
                // Reaping frees the pid: done under the lock, like the pidfd engine does, so
                // that `claim` and `kill` never act on a reused pid before the exit is queued.
                let mut registry = lock(&shared.registry);
                let collected = check(pid, start_time, reap);
                deliver(shared, &mut registry, key, pid, collected, to_wake)
            } else {
                let collected = check(pid, start_time, reap);
                deliver(
                    shared,
                    &mut lock(&shared.registry),
                    key,
                    pid,
                    collected,
                    to_wake,
                )
            };
        }
        self.interval = if changed {
            FIRST_INTERVAL
        } else {
            (self.interval * 2).min(MAX_INTERVAL)
        };
        self.next_round = Some(Instant::now() + self.interval);
    }
}

/// Delivers an exit found by a round; false when there was none (or the process was
/// unregistered meanwhile).
fn deliver(
    shared: &Shared,
    registry: &mut Registry,
    key: u64,
    pid: i32,
    collected: Collected,
    to_wake: &mut Vec<Arc<Inbox>>,
) -> bool {
    let Collected::Exit {
        status,
        source,
        reaped,
        usage,
    } = collected
    else {
        return false;
    };
    let Some((id, owner_reports_exit)) = registry
        .processes
        .get(&key)
        .map(|p| (p.id, p.owner_reports_exit))
    else {
        return false;
    };
    if status == ExitStatus::Unknown && owner_reports_exit {
        // Its owner reaped it first: its report (`Monitor::owner_reported_exit`) is exact.
        registry.awaiting_owner.insert(key);
        return true;
    }
    let exit = ExitInfo {
        pid,
        id,
        status,
        source,
        exited_at: SystemTime::now(),
        monotonic_ns: sys::monotonic_ns(),
        reaped,
        orphan: false,
        usage,
    };
    shared.counters.exit_observed(&exit);
    shared
        .counters
        .fallback_exits
        .fetch_add(1, Ordering::Relaxed);
    registry.deliver_exit(key, exit, to_wake);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use std::process::{Command, Stdio};

    fn start_time_of(pid: i32) -> u64 {
        let dir = sys::open_proc_dir(pid).unwrap();
        sys::proc_stat(dir.as_fd()).unwrap().start_time
    }

    fn wait_for_zombie(pid: i32) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while procfs::read_entry(pid).map(|e| e.state) != Some(b'Z') {
            assert!(Instant::now() < deadline, "{pid} never became a zombie");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn a_zombie_child_gives_its_exact_status_and_stays_for_its_owner() {
        let mut child = Command::new("sh").args(["-c", "exit 42"]).spawn().unwrap();
        let pid = child.id() as i32;
        let start = pin(pid, false).unwrap();
        wait_for_zombie(pid);
        let Collected::Exit {
            status,
            source,
            reaped,
            usage,
        } = check(pid, start, false)
        else {
            panic!("no exit")
        };
        assert_eq!(status, ExitStatus::Exited { code: 42 });
        assert_eq!((source, reaped), (StatusSource::WaitidNoWait, false));
        assert!(
            usage.is_some_and(|u| u.max_rss_kib.is_some()),
            "waitid's rusage"
        );
        assert_eq!(child.wait().unwrap().code(), Some(42), "never stolen");
    }

    #[test]
    fn the_one_read_check_agrees_with_the_full_one() {
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let pid = child.id() as i32;
        let (state, start) = procfs::state_and_start_time(pid).unwrap();
        assert_eq!(start, start_time_of(pid));
        assert_ne!(state, b'Z');
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_running_process_has_no_status_yet() {
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let pid = child.id() as i32;
        assert_eq!(
            check(pid, pin(pid, false).unwrap(), false),
            Collected::NotYet
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn another_start_time_means_the_process_vanished() {
        // The pid names a running process, but not the one registered: never its status.
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let pid = child.id() as i32;
        let start = start_time_of(pid);
        assert_eq!(check(pid, start + 1, false), vanished());
        assert_eq!(
            signal(pid, start + 1, libc::SIGKILL).unwrap_err().code,
            ErrorCode::Esrch
        );
        assert_eq!(child.try_wait().unwrap(), None, "the signal was not sent");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_reaped_process_is_unknown_not_guessed() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let start = pin(pid, false).unwrap();
        child.wait().unwrap();
        assert_eq!(check(pid, start, false), vanished());
    }

    #[test]
    fn registration_refuses_threads_missing_pids_and_foreign_reaping() {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            done_rx.recv().unwrap();
        });
        assert_eq!(
            pin(tid_rx.recv().unwrap(), false).unwrap_err().code,
            ErrorCode::Einval
        );
        done_tx.send(()).unwrap();
        thread.join().unwrap();
        let mut child = Command::new("true").stdout(Stdio::null()).spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert_eq!(pin(pid, false).unwrap_err().code, ErrorCode::Esrch);
        assert_eq!(pin(1, true).unwrap_err().code, ErrorCode::Einval);
    }
}
