//! Signalling every descendant of the init, each pinned by a pidfd first so a pid reused by
//! an unrelated process is never signalled.

use std::os::fd::AsFd;

use exitwatch_core::{procfs, sys};

/// Sends `signal` to every process below this one; returns how many were signalled.
pub fn signal_descendants(signal: i32) -> usize {
    let me = sys::getpid();
    let mut signalled = 0;
    for member in procfs::descendants(&[me]).into_iter().skip(1) {
        let Ok(pidfd) = sys::pidfd_open(member.pid) else {
            continue; // gone since it was listed
        };
        // With the pidfd open the pid cannot be reused; if its parent changed, the pid was
        // reused before we opened it and names someone else.
        if procfs::read_entry(member.pid).is_none_or(|now| now.ppid != member.ppid) {
            continue;
        }
        if sys::pidfd_send_signal(pidfd.as_fd(), signal).is_ok() {
            signalled += 1;
        }
    }
    signalled
}
