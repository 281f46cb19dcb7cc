//! Exit statuses of real processes, read from each kernel source, never stolen.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use common::*;
use exitwatch_core::{ErrorCode, ExitStatus, Monitor, StatusSource, WatchOptions};

fn monitor() -> &'static Monitor {
    Monitor::global().expect("monitor")
}

#[test]
fn exit_code_is_exact_and_left_to_its_owner() {
    let mut child = sh("exit 42");
    let watch = monitor()
        .watch(child.id() as i32, WatchOptions::default())
        .unwrap();
    let exit = watch.wait();
    assert_eq!(exit.status, ExitStatus::Exited { code: 42 });
    assert_eq!(exit.pid, child.id() as i32);
    assert!(!exit.reaped);
    // Never steal: the spawner still reaps its child and sees the same code.
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

#[test]
fn exit_code_zero() {
    let mut child = sh("exit 0");
    let watch = monitor()
        .watch(child.id() as i32, WatchOptions::default())
        .unwrap();
    assert_eq!(watch.wait().status, ExitStatus::Exited { code: 0 });
    child.wait().unwrap();
}

#[test]
fn killed_by_signal() {
    let mut child = sh("exec sleep 30");
    let watch = monitor()
        .watch(child.id() as i32, WatchOptions::default())
        .unwrap();
    watch.kill(libc::SIGKILL).unwrap();
    assert_eq!(
        watch.wait().status,
        ExitStatus::Killed {
            signal: libc::SIGKILL
        }
    );
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn segfault_is_killed_or_dumped_by_sigsegv() {
    let mut child = sh("kill -SEGV $$");
    let watch = monitor()
        .watch(child.id() as i32, WatchOptions::default())
        .unwrap();
    let status = watch.wait().status;
    assert!(
        matches!(status, ExitStatus::Killed { signal } | ExitStatus::Dumped { signal } if signal == libc::SIGSEGV),
        "{status:?}"
    );
    let owner = child.wait().unwrap();
    assert_eq!(owner.signal(), Some(libc::SIGSEGV));
    assert_eq!(
        owner.core_dumped(),
        matches!(status, ExitStatus::Dumped { .. })
    );
}

#[test]
#[allow(clippy::zombie_processes)] // exitwatch, not the spawner, reaps it: that is the test
fn owned_child_is_reaped_with_its_exact_status() {
    // The spawner never waits: exitwatch owns the child and must leave no zombie.
    let child = sh("sleep 0.1; exit 7");
    let pid = child.id() as i32;
    let watch = monitor()
        .watch(
            pid,
            WatchOptions {
                reap: true,
                ..Default::default()
            },
        )
        .unwrap();
    let exit = watch.wait();
    assert_eq!(exit.status, ExitStatus::Exited { code: 7 });
    assert_eq!(exit.source, StatusSource::Waitid);
    assert!(exit.reaped);
    assert_eq!(proc_state(pid), None, "no zombie left behind");
    drop(child);
}

#[test]
#[allow(clippy::zombie_processes)] // exitwatch, not the spawner, reaps it: that is the test
fn owned_child_is_reaped_even_when_the_watch_is_dropped_first() {
    let child = sh("sleep 0.1; exit 3");
    let pid = child.id() as i32;
    drop(
        monitor()
            .watch(
                pid,
                WatchOptions {
                    reap: true,
                    ..Default::default()
                },
            )
            .unwrap(),
    );
    wait_until(|| proc_state(pid).is_none());
}

#[test]
fn reap_is_refused_for_a_process_that_is_not_our_child() {
    let (mut parent, pid) = foreign_zombie(1);
    let err = monitor()
        .watch(
            pid,
            WatchOptions {
                reap: true,
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::Einval);
    assert_eq!(proc_state(pid), Some('Z'), "still its parent's to reap");
    parent.kill().unwrap();
    parent.wait().unwrap();
}

#[test]
fn grandchild_exit_is_reported() {
    // The subshell is a child of sh, not of us: sh reaps it, we only observe.
    let mut parent = sh("(sleep 0.2; exit 9) & echo $!; wait");
    let pid = read_pid(&mut parent);
    let exit = monitor()
        .watch(pid, WatchOptions::default())
        .unwrap()
        .wait();
    assert_eq!(exit.status, ExitStatus::Exited { code: 9 });
    assert!(
        matches!(
            exit.source,
            StatusSource::PidfdInfo | StatusSource::ProcStat
        ),
        "{:?}",
        exit.source
    );
    parent.wait().unwrap();
}

#[test]
fn already_a_zombie_resolves_at_once() {
    let (mut parent, pid) = foreign_zombie(23);
    let watch = monitor().watch(pid, WatchOptions::default()).unwrap();
    let exit = watch
        .wait_timeout(Duration::from_secs(2))
        .expect("resolved at once");
    assert_eq!(exit.status, ExitStatus::Exited { code: 23 });
    assert_eq!(exit.source, StatusSource::ProcStat);
    assert_eq!(
        proc_state(pid),
        Some('Z'),
        "the zombie is still its parent's"
    );
    parent.kill().unwrap();
    parent.wait().unwrap();
}

#[test]
fn our_own_zombie_child_is_read_without_reaping() {
    let mut child = sh("exit 4");
    let pid = child.id() as i32;
    wait_until(|| proc_state(pid) == Some('Z'));
    let exit = monitor()
        .watch(pid, WatchOptions::default())
        .unwrap()
        .wait();
    assert_eq!(exit.status, ExitStatus::Exited { code: 4 });
    assert_eq!(exit.source, StatusSource::WaitidNoWait);
    assert_eq!(child.wait().unwrap().code(), Some(4));
}

#[test]
fn status_after_the_owner_reaped_first_comes_from_pidfd_info() {
    if !monitor().capabilities().pidfd_info_exit {
        eprintln!(
            "SKIPPED status_after_the_owner_reaped_first: kernel lacks PIDFD_INFO_EXIT (6.15+)"
        );
        return;
    }
    // A foreign zombie watched, then reaped by its parent before our pending retry: the
    // watch must still get the exact status. Kill the parent so init (or a subreaper) reaps.
    let mut parent = sh("(sleep 0.3; exit 17) & echo $!; wait; exec sleep 30");
    let pid = read_pid(&mut parent);
    let watch = monitor().watch(pid, WatchOptions::default()).unwrap();
    let exit = watch.wait();
    assert_eq!(exit.status, ExitStatus::Exited { code: 17 });
    parent.kill().unwrap();
    parent.wait().unwrap();
}

#[test]
fn exited_at_follows_exit_order() {
    let mut first = sh("sleep 0.05; exit 1");
    let mut second = sh("sleep 0.3; exit 2");
    let a = monitor()
        .watch(first.id() as i32, WatchOptions::default())
        .unwrap();
    let b = monitor()
        .watch(second.id() as i32, WatchOptions::default())
        .unwrap();
    let (ea, eb) = (a.wait(), b.wait());
    assert!(ea.exited_at < eb.exited_at);
    assert!(ea.monotonic_ns < eb.monotonic_ns);
    first.wait().unwrap();
    second.wait().unwrap();
}

#[test]
fn kill_after_exit_signals_nothing() {
    let mut child = sh("exit 0");
    let watch = monitor()
        .watch(child.id() as i32, WatchOptions::default())
        .unwrap();
    watch.wait();
    child.wait().unwrap();
    let err = watch.kill(libc::SIGTERM).unwrap_err();
    assert_eq!(err.code, ErrorCode::Esrch);
}

#[test]
fn bad_pids_get_typed_errors_and_the_monitor_keeps_working() {
    for pid in [0, -1, i32::MAX, std::process::id() as i32] {
        let err = monitor().watch(pid, WatchOptions::default()).err().unwrap();
        assert_eq!(err.code, ErrorCode::Einval, "pid {pid}: {err}");
    }
    // A thread id of ours that is not a process id.
    let tid = unsafe { libc::gettid() };
    let err = monitor().watch(tid, WatchOptions::default()).err();
    if tid != std::process::id() as i32 {
        assert_eq!(err.unwrap().code, ErrorCode::Einval);
    }
    let mut child = sh("exit 5");
    let dead = child.id() as i32;
    child.wait().unwrap();
    let err = monitor()
        .watch(dead, WatchOptions::default())
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::Esrch, "{err}");
    let mut child = sh("exit 6");
    let exit = monitor()
        .watch(child.id() as i32, WatchOptions::default())
        .unwrap()
        .wait();
    assert_eq!(exit.status, ExitStatus::Exited { code: 6 });
    child.wait().unwrap();
}

#[test]
fn exit_under_strace_is_exact() {
    if Command::new("strace").arg("-V").output().is_err() {
        panic!("strace is required for this test (apt-get install strace)");
    }
    // The watched shell is traced by strace; its pidfd's readiness is no proof of a waitable
    // status. The status must still be exact and nothing reported early.
    let mut tracer = Command::new("strace")
        .args([
            "-f",
            "-o",
            "/dev/null",
            "sh",
            "-c",
            "echo $$; sleep 0.3; exit 3",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = read_pid(&mut tracer);
    let watch = monitor().watch(pid, WatchOptions::default()).unwrap();
    assert!(
        watch.wait_timeout(Duration::from_millis(100)).is_none(),
        "reported before exit"
    );
    assert_eq!(watch.wait().status, ExitStatus::Exited { code: 3 });
    tracer.wait().unwrap();
}

#[test]
fn own_child_attached_by_strace_is_exact() {
    let mut child = sh("sleep 0.5; exit 12");
    let pid = child.id() as i32;
    let watch = monitor().watch(pid, WatchOptions::default()).unwrap();
    let mut tracer = Command::new("strace")
        .args(["-o", "/dev/null", "-p", &pid.to_string()])
        .spawn()
        .unwrap();
    assert_eq!(watch.wait().status, ExitStatus::Exited { code: 12 });
    assert_eq!(child.wait().unwrap().code(), Some(12));
    tracer.wait().unwrap();
}
