//! Kernel features, probed once per process on our own pid.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::proc_connector;
use crate::sys;

/// The environment variable that chooses the engine: `poll` forces the fallback engine
/// (tests, or a sandbox whose pidfds misbehave), `pidfd` or unset picks by probing.
pub const ENGINE_ENV: &str = "EXITWATCH_ENGINE";

/// How exits are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// One pidfd per process on the monitor thread's epoll (Linux 5.3+).
    Pidfd,
    /// Without pidfds: `waitid(P_PID, …)` for our children on SIGCHLD, and `/proc/<pid>/stat`
    /// checked against the start time recorded at registration, polled with a backoff.
    Poll,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Pidfd => "pidfd",
            Engine::Poll => "poll",
        }
    }
}

/// The engine `EXITWATCH_ENGINE` asks for; `None` when unset or `pidfd` (probe decides).
pub(crate) fn engine_from_env() -> Result<Option<Engine>> {
    match std::env::var(ENGINE_ENV).as_deref() {
        Err(_) | Ok("") | Ok("pidfd") => Ok(None),
        Ok("poll") => Ok(Some(Engine::Poll)),
        Ok(other) => Err(Error::invalid(format!(
            "{ENGINE_ENV}={other:?}: the engine must be \"pidfd\" or \"poll\""
        ))),
    }
}

/// What this kernel offers. Each missing feature has a fallback or a typed `ENOSYS` error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `uname -r`.
    pub kernel: String,
    /// `pidfd_open` (Linux 5.3); missing or forbidden (seccomp), the poll engine is used.
    pub pidfd_open: bool,
    /// `pidfd_send_signal` (Linux 5.1).
    pub pidfd_send_signal: bool,
    /// `waitid(P_PIDFD, …)` (Linux 5.4). Without it statuses come from the other sources only.
    pub waitid_pidfd: bool,
    /// `PIDFD_GET_INFO` with `PIDFD_INFO_EXIT` (Linux 6.15): exact status after another owner
    /// reaped. Without it such an exit can only be read while the process is a zombie.
    pub pidfd_info_exit: bool,
    /// pidfs inode numbers (Linux 6.9): a per-boot unique process identity.
    pub pidfs_identity: bool,
    /// signalfd, used by Rust hosts that own SIGCHLD.
    pub signalfd: bool,
    /// The engine in use: `Pidfd` where `pidfd_open` works, unless `EXITWATCH_ENGINE=poll`.
    pub engine: Engine,
    /// The kernel's process-events connector can be listened to (in the initial network, PID
    /// and time namespaces; root or `CAP_NET_ADMIN` before Linux 6.6): exact statuses of
    /// processes that are not ours after their owner reaped them, where `PIDFD_INFO_EXIT` is
    /// missing.
    pub proc_connector: bool,
}

/// `EXITWATCH_DISABLE_PIDFD_INFO=1` makes exitwatch behave as on a kernel without
/// `PIDFD_INFO_EXIT` (before 6.15), for tests and benchmarks of the other sources.
const DISABLE_PIDFD_INFO: &str = "EXITWATCH_DISABLE_PIDFD_INFO";

impl Capabilities {
    /// Probed on first use, then cached for the life of the process.
    pub fn get() -> &'static Capabilities {
        static CAPS: OnceLock<Capabilities> = OnceLock::new();
        CAPS.get_or_init(Capabilities::probe)
    }

    /// Whether the process `pidfd` names is proven unreaped (running or a zombie). Without
    /// `pidfd_send_signal` nothing proves it, and it is taken as reaped: its pid may name
    /// another process now.
    pub(crate) fn proves_unreaped(&self, pidfd: BorrowedFd<'_>) -> bool {
        self.pidfd_send_signal && sys::pidfd_unreaped(pidfd)
    }

    fn probe() -> Capabilities {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let signalfd = probe_signalfd();
        let forced = engine_from_env().ok().flatten();
        let proc_connector = proc_connector::usable();
        let Ok(own) = sys::pidfd_open(sys::getpid()) else {
            return Capabilities {
                kernel,
                pidfd_open: false,
                pidfd_send_signal: false,
                waitid_pidfd: false,
                pidfd_info_exit: false,
                pidfs_identity: false,
                signalfd,
                // ENOSYS (Linux < 5.3, gVisor) or EPERM (a seccomp profile): no pidfds at all.
                engine: Engine::Poll,
                proc_connector,
            };
        };
        let fd = own.as_fd();
        Capabilities {
            kernel,
            pidfd_open: true,
            pidfd_send_signal: sys::pidfd_send_signal(fd, 0).is_ok(),
            // We are not our own child: a kernel that knows P_PIDFD answers ECHILD, an older
            // one EINVAL.
            waitid_pidfd: matches!(
                sys::waitid_pidfd(fd, false),
                Err(e) if e.raw_os_error() == Some(libc::ECHILD)
            ),
            // PIDFD_GET_INFO came with PIDFD_INFO_EXIT in the same release (6.15).
            pidfd_info_exit: sys::pidfd_get_info_supported(fd)
                && std::env::var_os(DISABLE_PIDFD_INFO).is_none_or(|v| v != "1"),
            pidfs_identity: sys::pidfd_identity(fd).is_some(),
            signalfd,
            engine: forced.unwrap_or(Engine::Pidfd),
            proc_connector,
        }
    }
}

fn probe_signalfd() -> bool {
    // SAFETY: an empty mask and a fresh descriptor that is closed right away.
    unsafe {
        let mut mask = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut mask);
        let fd = libc::signalfd(-1, &mask, libc::SFD_CLOEXEC);
        if fd >= 0 {
            libc::close(fd);
        }
        fd >= 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_has_the_basics() {
        let caps = Capabilities::get();
        assert!(caps.pidfd_open, "{caps:?}");
        assert!(caps.waitid_pidfd, "{caps:?}");
        assert!(caps.pidfd_send_signal, "{caps:?}");
    }
}
