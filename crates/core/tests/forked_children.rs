//! A subreaper with no grace period never takes a child that native code in this process
//! forked itself (as a Node addon would), however late its owner waits for it, and still
//! reaps the orphans at once. Its own test binary: it makes the whole process a subreaper.

mod common;

use std::time::Duration;

use common::*;
use exitwatch_core::{ExitStatus, Monitor};

/// Forks from a thread of its own through libc `fork()`; the child exits with `code` at once.
/// The thread waits `owner_delay` before it reaps, then returns the status it got.
fn fork_and_wait_late(code: i32, owner_delay: Duration) -> std::thread::JoinHandle<Option<i32>> {
    std::thread::spawn(move || {
        // SAFETY: the child only calls async-signal-safe `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe { libc::_exit(code) };
        }
        std::thread::sleep(owner_delay);
        let mut status = 0;
        // SAFETY: plain waitpid on our own child.
        let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
        (reaped == pid && libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status))
    })
}

#[test]
fn forked_children_keep_their_status_and_orphans_are_reaped_at_once() {
    let monitor = Monitor::global().unwrap();
    let orphans = monitor.subscribe().unwrap();
    monitor.enable_orphan_reaping(Duration::ZERO).unwrap();

    let owners: Vec<_> = (0..20)
        .map(|i| fork_and_wait_late(i, Duration::from_millis(800)))
        .collect();
    // An orphan: a shell's background job that outlives the shell.
    let mut helper = sh("(sleep 0.2; exit 42) & echo $!");
    let orphan = read_pid(&mut helper);
    helper.wait().unwrap();

    // This host does not own SIGCHLD: it tells the monitor, as Node's layer does.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exit = loop {
        monitor.notify_sigchld();
        match orphans.recv_timeout(Duration::from_millis(20)) {
            Some(exit) if exit.pid == orphan => break exit,
            Some(exit) => assert!(
                !exit.orphan,
                "only the shell job is an orphan, not {exit:?}"
            ),
            None => assert!(std::time::Instant::now() < deadline, "the orphan's exit"),
        }
    };
    assert_eq!(exit.status, ExitStatus::Exited { code: 42 });
    assert!(exit.orphan && exit.reaped);
    for (i, owner) in owners.into_iter().enumerate() {
        assert_eq!(
            owner.join().unwrap(),
            Some(i as i32),
            "the forking thread reaps its own child"
        );
    }
}
