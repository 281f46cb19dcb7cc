//! A child of `Monitor::spawn` is never taken by orphan reaping, even with no grace period
//! while SIGCHLDs keep asking for scans, and even when it is a zombie before it is
//! registered. Its own test binary: it makes the whole process a subreaper.

mod common;

use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use exitwatch_core::{ExitInfo, ExitStatus, Monitor, SpawnSpec, Stdio, Subscription};

/// Forwards a SIGCHLD to the monitor every 100 µs (each one asks for an orphan scan), as a
/// busy Node process would, until dropped.
struct SigchldStorm {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SigchldStorm {
    fn start(monitor: &'static Monitor) -> SigchldStorm {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                monitor.notify_sigchld();
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        SigchldStorm {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SigchldStorm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

/// Spawns `count` children exiting with 7 at once; checks each watch gets exactly that, not
/// as an orphan. Returns their pids.
fn spawn_short_children(monitor: &Monitor, count: usize) -> Vec<i32> {
    let channel = monitor.channel(None);
    let mut spec = SpawnSpec::new("sh");
    spec.args = vec!["-c".into(), "exit 7".into()];
    spec.stdio = vec![Stdio::Ignore; 3];
    (0..count)
        .map(|_| {
            let spawned = channel.spawn(&spec).expect("spawn");
            let exit = wait_for_watch(&channel, spawned.token);
            assert_eq!(exit.status, ExitStatus::Exited { code: 7 }, "{exit:?}");
            assert!(exit.reaped && !exit.orphan, "{exit:?}");
            spawned.pid
        })
        .collect()
}

/// Every exit the subscription got so far.
fn received(subscription: &Subscription<'_>) -> Vec<ExitInfo> {
    std::iter::from_fn(|| subscription.recv_timeout(Duration::from_millis(200))).collect()
}

/// Runs `sh -c script` through libc `fork()` (whose handlers record the shell as ours: a
/// `posix_spawn`ed one would be an orphan itself at grace 0), waits for it, and returns the
/// pid it printed.
fn forked_shell_printing_its_orphan(script: &str) -> i32 {
    let script = std::ffi::CString::new(script).unwrap();
    let argv = [
        c"sh".as_ptr(),
        c"-c".as_ptr(),
        script.as_ptr(),
        std::ptr::null(),
    ];
    let mut ends = [0; 2];
    // SAFETY: valid out-array; the child only calls async-signal-safe functions.
    let pid = unsafe {
        assert_eq!(libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC), 0);
        let pid = libc::fork();
        if pid == 0 {
            libc::dup2(ends[1], 1);
            libc::execv(c"/bin/sh".as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
        libc::close(ends[1]);
        pid
    };
    // SAFETY: the read end is ours from here on.
    let mut output = std::fs::File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(ends[0]) });
    let mut text = String::new();
    std::io::Read::read_to_string(&mut output, &mut text).unwrap();
    let mut status = 0;
    // SAFETY: our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    text.trim().parse().expect("a pid")
}

/// A shell's background job that outlives the shell: a real orphan, reaped and reported as
/// one (proves that reaping is on while the spawned children are left alone). Returns every
/// exit the subscription received meanwhile.
fn expect_an_orphan_reaped(subscription: &Subscription<'_>) -> Vec<ExitInfo> {
    let mut seen = Vec::new();
    let orphan = forked_shell_printing_its_orphan("(sleep 0.1; exit 42) & echo $!");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(exit) = subscription.recv_timeout(Duration::from_millis(50)) {
            seen.push(exit);
            if exit.pid == orphan {
                assert!(exit.orphan && exit.reaped, "{exit:?}");
                assert_eq!(exit.status, ExitStatus::Exited { code: 42 });
                return seen;
            }
        }
        assert!(Instant::now() < deadline, "the orphan's exit");
    }
}

#[test]
fn spawned_children_are_never_reaped_as_orphans() {
    let monitor = Monitor::global().unwrap();
    let subscription = monitor.subscribe().unwrap();
    monitor.enable_orphan_reaping(Duration::ZERO).unwrap();
    let storm = SigchldStorm::start(monitor);

    let pids = spawn_short_children(monitor, 200);
    #[cfg(feature = "fault-injection")]
    let pids = {
        // Each child exits while its spawn waits to register it: a zombie nobody has claimed
        // yet, in front of a reaper with no grace period.
        monitor.inject_spawn_registration_delay(Duration::from_millis(20));
        let delayed = spawn_short_children(monitor, 20);
        monitor.inject_spawn_registration_delay(Duration::ZERO);
        [pids, delayed].concat()
    };
    let mut broadcast = expect_an_orphan_reaped(&subscription);
    drop(storm);
    broadcast.extend(received(&subscription));
    for pid in &pids {
        let exits: Vec<_> = broadcast.iter().filter(|e| e.pid == *pid).collect();
        assert_eq!(exits.len(), 1, "one broadcast exit for {pid}: {exits:?}");
        assert!(!exits[0].orphan, "{:?}", exits[0]);
    }
    assert!(zombie_children().is_empty());
}
