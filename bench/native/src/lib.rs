//! Shared bits of the native benchmark programs.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};

pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn pidfd_open(pid: u32) -> OwnedFd {
    // SAFETY: plain syscall; the returned descriptor is ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(fd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: fresh descriptor.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// An epoll set of pidfds: the physical floor for "tell me when it exits".
pub struct Epoll(OwnedFd);

impl Default for Epoll {
    fn default() -> Self {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: fresh descriptor.
        Epoll(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl Epoll {
    pub fn add(&self, fd: &OwnedFd, key: u64) {
        self.add_with(fd, key, libc::EPOLLIN as u32);
    }

    /// Registers `fd` for the given `EPOLL*` events.
    pub fn add_with(&self, fd: &OwnedFd, key: u64, events: u32) {
        let mut event = libc::epoll_event { events, u64: key };
        // SAFETY: valid event pointer.
        let r = unsafe {
            libc::epoll_ctl(
                self.0.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut event,
            )
        };
        assert_eq!(r, 0);
    }

    pub fn remove(&self, fd: &OwnedFd) {
        // SAFETY: removing a registered descriptor.
        unsafe {
            libc::epoll_ctl(
                self.0.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd.as_raw_fd(),
                std::ptr::null_mut(),
            )
        };
    }

    /// Blocks until descriptors are ready; returns their keys.
    pub fn wait(&self, max: usize) -> Vec<u64> {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; max];
        // SAFETY: the buffer holds `max` events.
        let n =
            unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max as i32, -1) };
        events.truncate(n.max(0) as usize);
        events.iter().map(|e| e.u64).collect()
    }
}

/// `count` idle children (`sleep 100000`), to measure how the cost scales with them.
pub fn idle_children(count: usize) -> Vec<Child> {
    (0..count)
        .map(|_| {
            Command::new("sleep")
                .arg("100000")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn an idle child")
        })
        .collect()
}

pub fn kill_all(children: &mut [Child]) {
    for child in children.iter_mut() {
        let _ = child.kill();
    }
    for child in children.iter_mut() {
        let _ = child.wait();
    }
}
