//! What an exit looks like: the decoded status, where it came from, and when it was seen.

use std::time::SystemTime;

use crate::usage::Usage;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit` / returned from `main` with this code (0..=255).
    Exited { code: i32 },
    /// A signal ended it.
    Killed { signal: i32 },
    /// A signal ended it and a core dump was requested.
    Dumped { signal: i32 },
    /// It is gone but no source still held its status. Never guessed.
    Unknown,
}

impl ExitStatus {
    /// Decodes a `waitpid`-style wait status (as kept by the kernel in `task->exit_code`).
    pub fn from_wait_status(status: i32) -> Self {
        let signal = status & 0x7f;
        if signal == 0 {
            ExitStatus::Exited {
                code: (status >> 8) & 0xff,
            }
        } else if status & 0x80 != 0 {
            ExitStatus::Dumped { signal }
        } else {
            ExitStatus::Killed { signal }
        }
    }

    /// Decodes the `si_code` / `si_status` pair `waitid` returns.
    pub fn from_siginfo(code: i32, status: i32) -> Self {
        match code {
            libc::CLD_EXITED => ExitStatus::Exited { code: status },
            libc::CLD_KILLED => ExitStatus::Killed { signal: status },
            libc::CLD_DUMPED => ExitStatus::Dumped { signal: status },
            _ => ExitStatus::Unknown,
        }
    }
}

/// Which kernel interface produced the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusSource {
    /// `waitid(P_PIDFD, …)` that reaped the process (exitwatch owned it).
    Waitid,
    /// `waitid(P_PIDFD, …, WNOWAIT)`: read while leaving the zombie to its owner.
    WaitidNoWait,
    /// `ioctl(PIDFD_GET_INFO, PIDFD_INFO_EXIT)` after another owner reaped it (Linux 6.15+).
    PidfdInfo,
    /// `exit_code` of `/proc/<pid>/stat` while the process was an unreaped zombie of
    /// someone else (pinned by the pidfd, so never a recycled pid).
    ProcStat,
    /// Reported by the child's owner in this process after it reaped it (Node's
    /// `ChildProcess` 'exit'), when no kernel source kept the status.
    ChildProcess,
    /// `PROC_EVENT_EXIT` of the kernel's process-events connector (netlink), received while
    /// the pidfd pinned the process (so never a recycled pid's).
    ProcConnector,
    /// No source had it: the status is `Unknown`.
    None,
}

impl StatusSource {
    pub const ALL: [StatusSource; 7] = [
        StatusSource::Waitid,
        StatusSource::WaitidNoWait,
        StatusSource::PidfdInfo,
        StatusSource::ProcStat,
        StatusSource::ChildProcess,
        StatusSource::ProcConnector,
        StatusSource::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StatusSource::Waitid => "waitid",
            StatusSource::WaitidNoWait => "waitid-nowait",
            StatusSource::PidfdInfo => "pidfd-info",
            StatusSource::ProcStat => "proc-stat",
            StatusSource::ChildProcess => "child-process",
            StatusSource::ProcConnector => "proc-connector",
            StatusSource::None => "none",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One observed exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub pid: i32,
    /// The pidfs inode of the process (Linux 6.9+): tells apart two processes with one pid.
    pub id: Option<u64>,
    pub status: ExitStatus,
    pub source: StatusSource,
    /// Wall-clock time at which the monitor observed the exit.
    pub exited_at: SystemTime,
    /// `CLOCK_MONOTONIC` (ns) at the same moment: comparable with Node's `process.hrtime`.
    pub monotonic_ns: u64,
    /// exitwatch reaped it (it owned the process, or it was an orphan).
    pub reaped: bool,
    /// An orphan (a zombie child nobody claimed) reaped by exitwatch as PID 1 / subreaper.
    pub orphan: bool,
    /// What it cost, where the source keeps it: `waitid` (our children) and the zombie's
    /// `/proc/<pid>/stat` (CPU times only). `None` from `PIDFD_INFO_EXIT` and the proc
    /// connector, which carry no usage.
    pub usage: Option<Usage>,
}

impl ExitInfo {
    /// An exit observed now, neither reaped by exitwatch nor an orphan.
    pub(crate) fn observed_now(
        pid: i32,
        id: Option<u64>,
        status: ExitStatus,
        source: StatusSource,
    ) -> ExitInfo {
        ExitInfo {
            pid,
            id,
            status,
            source,
            exited_at: SystemTime::now(),
            monotonic_ns: crate::sys::monotonic_ns(),
            reaped: false,
            orphan: false,
            usage: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_wait_statuses() {
        assert_eq!(
            ExitStatus::from_wait_status(42 << 8),
            ExitStatus::Exited { code: 42 }
        );
        assert_eq!(
            ExitStatus::from_wait_status(9),
            ExitStatus::Killed { signal: 9 }
        );
        assert_eq!(
            ExitStatus::from_wait_status(11 | 0x80),
            ExitStatus::Dumped { signal: 11 }
        );
    }

    #[test]
    fn decodes_siginfo() {
        assert_eq!(
            ExitStatus::from_siginfo(libc::CLD_EXITED, 3),
            ExitStatus::Exited { code: 3 }
        );
        assert_eq!(
            ExitStatus::from_siginfo(libc::CLD_KILLED, 15),
            ExitStatus::Killed { signal: 15 }
        );
        assert_eq!(
            ExitStatus::from_siginfo(libc::CLD_DUMPED, 6),
            ExitStatus::Dumped { signal: 6 }
        );
    }
}
