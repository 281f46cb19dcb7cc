//! Reading an exit status without stealing it: the order in which the kernel's sources are
//! asked, and what "no status yet" means.

use std::os::fd::{AsFd, BorrowedFd};

use crate::capabilities::Capabilities;
use crate::exit::{ExitStatus, StatusSource};
use crate::sys;
use crate::usage::Usage;

/// The result of asking the kernel about a process whose pidfd became readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collected {
    Exit {
        status: ExitStatus,
        source: StatusSource,
        reaped: bool,
        usage: Option<Usage>,
    },
    /// Readable but no status yet: a ptrace tracer holds it, or an owned zombie's status is
    /// not waitable yet. Readiness is not proof of exit (tokio #7144): keep waiting.
    NotYet,
}

/// What the monitor knows about a process whose pidfd became readable.
pub(crate) struct Watched<'a> {
    pub pidfd: BorrowedFd<'a>,
    pub pid: i32,
    /// exitwatch owns it and reaps it.
    pub reap: bool,
    /// It can be our child: it was one when registered, or this process adopts orphans
    /// (subreaper, PID 1). For any other process `waitid` can only fail, so it is not asked.
    pub may_be_child: bool,
    /// It may have been reaped already. False when its pidfd became readable without
    /// EPOLLHUP: it was a zombie when epoll looked, so `PIDFD_INFO_EXIT` (Linux 6.15, which
    /// reports reaping as EPOLLHUP since 6.9) can have nothing yet and is not asked first.
    pub maybe_reaped: bool,
    /// The wait status the proc connector saw for it, if it is listening and saw the exit.
    pub connector_status: Option<i32>,
}

/// Asks, in order: `waitid` on the pidfd (our children only; reaping only when `reap`), the
/// proc connector's status (already in memory), `PIDFD_INFO_EXIT` (another owner reaped it
/// first), then `/proc/<pid>/stat` of the still unreaped zombie. Reports `Unknown` only when
/// the process is provably gone and no source kept its status.
pub(crate) fn collect_exit(process: &Watched<'_>, caps: &Capabilities) -> Collected {
    let pidfd = process.pidfd;
    if caps.waitid_pidfd && (process.reap || process.may_be_child) {
        match sys::waitid_pidfd(pidfd, process.reap) {
            Ok(Some(w)) => {
                return Collected::Exit {
                    status: ExitStatus::from_siginfo(w.code, w.status),
                    source: if process.reap {
                        StatusSource::Waitid
                    } else {
                        StatusSource::WaitidNoWait
                    },
                    reaped: process.reap,
                    usage: Some(w.usage),
                }
            }
            // Our child, but its status is not waitable yet. If we own it we must be the
            // one to reap it: wait for the next SIGCHLD / retry.
            Ok(None) if process.reap => return Collected::NotYet,
            // ECHILD: not our child, or already reaped by its owner. Ask the other sources.
            Ok(None) | Err(_) => {}
        }
    }
    if let Some(wait_status) = process.connector_status {
        return Collected::Exit {
            status: ExitStatus::from_wait_status(wait_status),
            source: StatusSource::ProcConnector,
            reaped: false,
            usage: None,
        };
    }
    if process.maybe_reaped {
        if let Some(exit) = reaped_status(pidfd, caps) {
            return exit;
        }
    }
    // (Reaped since epoll looked after all: this asks PIDFD_INFO_EXIT once it finds out.)
    zombie_status(pidfd, process.pid, caps)
}

fn reaped_status(pidfd: BorrowedFd<'_>, caps: &Capabilities) -> Option<Collected> {
    if !caps.pidfd_info_exit {
        return None;
    }
    match sys::pidfd_exit_status(pidfd) {
        Ok(Some(wait_status)) => Some(Collected::Exit {
            status: ExitStatus::from_wait_status(wait_status),
            source: StatusSource::PidfdInfo,
            reaped: false,
            usage: None,
        }),
        _ => None,
    }
}

/// The process is not ours and nobody reaped it yet (or it is still running).
fn zombie_status(pidfd: BorrowedFd<'_>, pid: i32, caps: &Capabilities) -> Collected {
    let unknown = Collected::Exit {
        status: ExitStatus::Unknown,
        source: StatusSource::None,
        reaped: false,
        usage: None,
    };
    // Open /proc/<pid>/stat first, then prove with the pidfd that our process still holds the
    // pid: a pid is never reused before its process is reaped, so the file is our process's.
    let file = sys::open_proc_stat(pid);
    let alive = caps.proves_unreaped(pidfd);
    let file = match (file, alive) {
        (Ok(file), true) => file,
        // Reaped in between: the pidfd info may have appeared meanwhile.
        _ => return reaped_status(pidfd, caps).unwrap_or(unknown),
    };
    let Ok(stat) = sys::read_proc_stat(file.as_fd()) else {
        return reaped_status(pidfd, caps).unwrap_or(unknown);
    };
    if stat.state != b'Z' && stat.state != b'X' {
        return Collected::NotYet;
    }
    // The kernel shows exit_code only to readers allowed to ptrace-read the process; it prints
    // 0 otherwise, which would be a guess. So a 0 is only believed from such a reader.
    let may_read = || {
        let euid = sys::euid();
        euid == 0 || sys::proc_owner(file.as_fd()).ok() == Some(euid)
    };
    match stat.exit_code {
        Some(wait_status) if wait_status != 0 || may_read() => Collected::Exit {
            status: ExitStatus::from_wait_status(wait_status),
            source: StatusSource::ProcStat,
            reaped: false,
            usage: Some(Usage::from_clock_ticks(stat.user_ticks, stat.system_ticks)),
        },
        // A zombie whose status we may not read: its owner will reap it, and then
        // PIDFD_INFO_EXIT has it.
        _ => Collected::NotYet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn child_exiting_with(code: i32) -> (std::process::Child, std::os::fd::OwnedFd) {
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("exit {code}"))
            .spawn()
            .unwrap();
        let pidfd = sys::pidfd_open(child.id() as i32).unwrap();
        (child, pidfd)
    }

    fn watched(pidfd: &std::os::fd::OwnedFd, pid: i32, reap: bool) -> Watched<'_> {
        Watched {
            pidfd: pidfd.as_fd(),
            pid,
            reap,
            may_be_child: true,
            maybe_reaped: true,
            connector_status: None,
        }
    }

    /// Blocks until the pidfd is readable (the process exited), as the monitor would.
    fn wait_readable(pidfd: &std::os::fd::OwnedFd) {
        let mut poll = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(pidfd),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut poll, 1, 10_000) }, 1);
    }

    fn exit(status: ExitStatus, source: StatusSource) -> Collected {
        Collected::Exit {
            status,
            source,
            reaped: false,
            usage: None,
        }
    }

    #[test]
    fn status_after_the_owner_reaped_comes_from_pidfd_info() {
        let caps = Capabilities::get();
        if !caps.pidfd_info_exit {
            eprintln!("SKIPPED status_after_the_owner_reaped_comes_from_pidfd_info: kernel lacks PIDFD_INFO_EXIT (6.15+)");
            return;
        }
        let (mut child, pidfd) = child_exiting_with(77);
        let pid = child.id() as i32;
        assert_eq!(child.wait().unwrap().code(), Some(77)); // the owner reaps first
        let collected = collect_exit(&watched(&pidfd, pid, false), caps);
        assert_eq!(
            collected,
            exit(ExitStatus::Exited { code: 77 }, StatusSource::PidfdInfo)
        );
    }

    /// Epoll saw a zombie (no EPOLLHUP), and its owner reaped it before the status was read:
    /// the zombie is gone from /proc, and PIDFD_INFO_EXIT is asked after all.
    #[test]
    fn reaped_after_epoll_saw_a_zombie_still_comes_from_pidfd_info() {
        let caps = Capabilities::get();
        if !caps.pidfd_info_exit {
            eprintln!("SKIPPED reaped_after_epoll_saw_a_zombie_still_comes_from_pidfd_info: kernel lacks PIDFD_INFO_EXIT (6.15+)");
            return;
        }
        let (mut child, pidfd) = child_exiting_with(78);
        let pid = child.id() as i32;
        child.wait().unwrap();
        let process = Watched {
            maybe_reaped: false,
            ..watched(&pidfd, pid, false)
        };
        assert_eq!(
            collect_exit(&process, caps),
            exit(ExitStatus::Exited { code: 78 }, StatusSource::PidfdInfo)
        );
    }

    #[test]
    fn reaped_without_pidfd_info_is_unknown_not_guessed() {
        let caps = Capabilities {
            pidfd_info_exit: false,
            ..Capabilities::get().clone()
        };
        let (mut child, pidfd) = child_exiting_with(5);
        let pid = child.id() as i32;
        child.wait().unwrap();
        let collected = collect_exit(&watched(&pidfd, pid, false), &caps);
        assert_eq!(collected, exit(ExitStatus::Unknown, StatusSource::None));
    }

    #[test]
    fn reaped_without_pidfd_info_takes_the_connector_status() {
        let caps = Capabilities {
            pidfd_info_exit: false,
            ..Capabilities::get().clone()
        };
        let (mut child, pidfd) = child_exiting_with(5);
        let pid = child.id() as i32;
        child.wait().unwrap();
        let process = Watched {
            connector_status: Some(5 << 8),
            ..watched(&pidfd, pid, false)
        };
        assert_eq!(
            collect_exit(&process, &caps),
            exit(ExitStatus::Exited { code: 5 }, StatusSource::ProcConnector)
        );
    }

    #[test]
    fn our_child_is_read_with_waitid_and_its_usage() {
        let (mut child, pidfd) = child_exiting_with(9);
        let pid = child.id() as i32;
        wait_readable(&pidfd);
        let collected = collect_exit(&watched(&pidfd, pid, false), Capabilities::get());
        let Collected::Exit {
            status,
            source,
            usage,
            ..
        } = collected
        else {
            unreachable!()
        };
        assert_eq!(status, ExitStatus::Exited { code: 9 });
        assert_eq!(source, StatusSource::WaitidNoWait);
        assert!(
            usage.and_then(|u| u.max_rss_kib).is_some_and(|kib| kib > 0),
            "{usage:?}"
        );
        child.wait().unwrap();
    }

    #[test]
    fn a_process_that_is_not_our_child_is_not_asked_with_waitid() {
        // It is our child, but registered as not one: the zombie's /proc/<pid>/stat answers
        // (waitid would have said waitid-nowait).
        let (mut child, pidfd) = child_exiting_with(6);
        let pid = child.id() as i32;
        let process = Watched {
            may_be_child: false,
            ..watched(&pidfd, pid, false)
        };
        wait_readable(&pidfd);
        let collected = collect_exit(&process, Capabilities::get());
        assert!(
            matches!(
                collected,
                Collected::Exit {
                    status: ExitStatus::Exited { code: 6 },
                    source: StatusSource::ProcStat,
                    usage: Some(Usage {
                        max_rss_kib: None,
                        ..
                    }),
                    ..
                }
            ),
            "{collected:?}"
        );
        child.wait().unwrap();
    }

    #[test]
    fn a_running_process_has_no_status_yet() {
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let pidfd = sys::pidfd_open(child.id() as i32).unwrap();
        for reap in [false, true] {
            let collected = collect_exit(
                &watched(&pidfd, child.id() as i32, reap),
                Capabilities::get(),
            );
            assert_eq!(collected, Collected::NotYet);
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
