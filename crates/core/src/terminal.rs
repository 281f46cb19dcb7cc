//! The controlling terminal's view of process groups: who receives its keyboard signals.

use std::os::fd::AsRawFd;

/// True when this process's controlling terminal delivers its keyboard signals (Ctrl-C,
/// Ctrl-\, window resize) to `pid` itself: this process's group is the terminal's foreground
/// group and `pid` belongs to it. Forwarding such a signal to `pid` would deliver it twice.
pub fn terminal_signals_reach(pid: i32) -> bool {
    let Ok(tty) = std::fs::File::open("/dev/tty") else {
        return false; // no controlling terminal
    };
    // SAFETY: plain calls on an open descriptor and on integers.
    let (foreground, ours, theirs) = unsafe {
        (
            libc::tcgetpgrp(tty.as_raw_fd()),
            libc::getpgrp(),
            libc::getpgid(pid),
        )
    };
    foreground > 0 && foreground == ours && theirs == ours
}
