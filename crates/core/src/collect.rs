//! Reading an exit status without stealing it: the order in which the kernel's sources are
//! asked, and what "no status yet" means.

use std::os::fd::{AsFd, BorrowedFd};

use crate::capabilities::Capabilities;
use crate::exit::{ExitStatus, StatusSource};
use crate::sys;

/// The result of asking the kernel about a process whose pidfd became readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collected {
    Exit {
        status: ExitStatus,
        source: StatusSource,
        reaped: bool,
    },
    /// Readable but no status yet: a ptrace tracer holds it, or an owned zombie's status is
    /// not waitable yet. Readiness is not proof of exit (tokio #7144): keep waiting.
    NotYet,
}

/// Asks, in order: `waitid` on the pidfd (reaping only when `reap`), `PIDFD_INFO_EXIT` (another
/// owner reaped it first), then `/proc/<pid>/stat` of the still unreaped zombie. Reports
/// `Unknown` only when the process is provably gone and no source kept its status.
pub(crate) fn collect_exit(
    pidfd: BorrowedFd<'_>,
    pid: i32,
    reap: bool,
    caps: &Capabilities,
) -> Collected {
    if caps.waitid_pidfd {
        match sys::waitid_pidfd(pidfd, reap) {
            Ok(Some(w)) => {
                return Collected::Exit {
                    status: ExitStatus::from_siginfo(w.code, w.status),
                    source: if reap {
                        StatusSource::Waitid
                    } else {
                        StatusSource::WaitidNoWait
                    },
                    reaped: reap,
                }
            }
            // Our child, but its status is not waitable yet. If we own it we must be the
            // one to reap it: wait for the next SIGCHLD / retry.
            Ok(None) if reap => return Collected::NotYet,
            // ECHILD: not our child, or already reaped by its owner. Ask the other sources.
            Ok(None) | Err(_) => {}
        }
    }
    if let Some(exit) = reaped_status(pidfd, caps) {
        return exit;
    }
    zombie_status(pidfd, pid, caps)
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
    };
    // Open /proc/<pid> first, then prove with the pidfd that our process still holds the pid:
    // a pid is never reused before its process is reaped, so the directory is our process.
    let dir = sys::open_proc_dir(pid);
    let alive = sys::pidfd_send_signal(pidfd, 0).is_ok();
    let dir = match (dir, alive) {
        (Ok(dir), true) => dir,
        // Reaped in between: the pidfd info may have appeared meanwhile.
        _ => return reaped_status(pidfd, caps).unwrap_or(unknown),
    };
    let Ok(stat) = sys::proc_stat(dir.as_fd()) else {
        return reaped_status(pidfd, caps).unwrap_or(unknown);
    };
    if stat.state != b'Z' && stat.state != b'X' {
        return Collected::NotYet;
    }
    // The kernel shows exit_code only to readers allowed to ptrace-read the process; it prints
    // 0 otherwise, which would be a guess.
    let euid = sys::euid();
    let may_read = euid == 0 || stat.uid == Some(euid);
    match stat.exit_code {
        Some(wait_status) if may_read => Collected::Exit {
            status: ExitStatus::from_wait_status(wait_status),
            source: StatusSource::ProcStat,
            reaped: false,
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
        let collected = collect_exit(pidfd.as_fd(), pid, false, caps);
        assert_eq!(
            collected,
            Collected::Exit {
                status: ExitStatus::Exited { code: 77 },
                source: StatusSource::PidfdInfo,
                reaped: false
            }
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
        let collected = collect_exit(pidfd.as_fd(), pid, false, &caps);
        assert_eq!(
            collected,
            Collected::Exit {
                status: ExitStatus::Unknown,
                source: StatusSource::None,
                reaped: false
            }
        );
    }

    #[test]
    fn a_running_process_has_no_status_yet() {
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let pidfd = sys::pidfd_open(child.id() as i32).unwrap();
        for reap in [false, true] {
            let collected =
                collect_exit(pidfd.as_fd(), child.id() as i32, reap, Capabilities::get());
            assert_eq!(collected, Collected::NotYet);
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
