//! An idle sibling for the spawn benchmarks: blocks, with no wake-up, until process <pid> exits,
//! then exits itself. Started by the benchmark with its own pid, it cannot outlive the
//! benchmark even when that is killed with SIGKILL (a pidfd names the whole process, unlike
//! PR_SET_PDEATHSIG, which fires when the spawning *thread* ends).
//!   idle-child <pid>
fn main() {
    let pid: libc::pid_t = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: idle-child <pid of the process whose exit ends this one>");
    // SAFETY: plain system calls on descriptors this process owns.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
        if fd < 0 {
            libc::_exit(0); // already gone
        }
        let mut watched = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        while libc::poll(&mut watched, 1, -1) < 0 {}
        libc::_exit(0);
    }
}
