//! The poll engine (no pidfds), forced with `EXITWATCH_ENGINE=poll`: exact statuses where a
//! source has them, `Unknown` where none does, no wake-ups while nothing is watched.

mod common;

use std::process::Command;
use std::sync::Once;
use std::time::Duration;

use common::*;
use exitwatch_core::{
    Claim, Engine, ErrorCode, ExitStatus, Monitor, SpawnSpec, StatusSource, Stdio, WatchOptions,
    ENGINE_ENV,
};

/// Every test of this binary uses the poll engine; the variable is read once, on first use.
fn force_poll_engine() {
    static FORCE: Once = Once::new();
    FORCE.call_once(|| std::env::set_var(ENGINE_ENV, "poll"));
}

fn monitor() -> &'static Monitor {
    force_poll_engine();
    let monitor = Monitor::global().expect("monitor");
    assert_eq!(monitor.capabilities().engine, Engine::Poll);
    monitor
}

#[test]
fn child_exit_code_is_exact_and_left_to_its_owner() {
    // Nobody forwards SIGCHLD here: the rounds alone find the zombie.
    let mut child = sh("exit 42");
    let watch = monitor()
        .watch(child.id() as i32, WatchOptions::default())
        .unwrap();
    let exit = watch.wait();
    assert_eq!(exit.status, ExitStatus::Exited { code: 42 });
    assert_eq!(exit.source, StatusSource::WaitidNoWait);
    assert_eq!(exit.id, None, "no pidfs identity without pidfds");
    assert_eq!(child.wait().unwrap().code(), Some(42), "never stolen");
}

#[test]
#[allow(clippy::zombie_processes)] // exitwatch, not the spawner, reaps it: that is the test
fn owned_child_is_reaped_with_its_exact_status() {
    let child = sh("exit 7");
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
    assert_eq!(proc_state(pid), None, "no zombie left");
}

#[test]
fn kill_reaches_the_process_and_its_signal_is_exact() {
    let mut child = sh("exec sleep 30");
    let watch = monitor()
        .watch(child.id() as i32, WatchOptions::default())
        .unwrap();
    watch.kill(libc::SIGTERM).unwrap();
    assert_eq!(
        watch.wait().status,
        ExitStatus::Killed {
            signal: libc::SIGTERM
        }
    );
    assert_eq!(
        watch.kill(libc::SIGTERM).unwrap_err().code,
        ErrorCode::Esrch
    );
    child.wait().unwrap();
}

#[test]
fn grandchild_status_comes_from_its_zombie_stat() {
    let mut parent = sh("(sleep 0.2; exit 9) & echo $!; exec sleep 30");
    let pid = read_pid(&mut parent);
    let watch = monitor().watch(pid, WatchOptions::default()).unwrap();
    let exit = watch.wait();
    assert_eq!(exit.status, ExitStatus::Exited { code: 9 });
    assert_eq!(exit.source, StatusSource::ProcStat);
    assert_eq!(proc_state(pid), Some('Z'), "left to its parent");
    parent.kill().unwrap();
    parent.wait().unwrap();
}

#[test]
fn a_foreign_process_reaped_unseen_is_unknown_never_guessed() {
    // Its parent reaps it the moment it exits: a round can hardly ever see the zombie. If one
    // does, the status must be the real one.
    let mut parent = sh("(sleep 0.3; exit 5) & echo $!; wait; exec sleep 30");
    let pid = read_pid(&mut parent);
    let watch = monitor().watch(pid, WatchOptions::default()).unwrap();
    let exit = watch.wait();
    match (exit.status, exit.source) {
        (ExitStatus::Unknown, StatusSource::None) => {}
        (ExitStatus::Exited { code: 5 }, StatusSource::ProcStat) => {}
        other => panic!("a wrong status: {other:?}"),
    }
    parent.kill().unwrap();
    parent.wait().unwrap();
}

#[test]
fn a_claim_watches_a_running_process() {
    let monitor = monitor();
    let subscription = monitor.subscribe().unwrap();
    let mut child = sh("sleep 0.1; exit 3");
    match subscription
        .claim(child.id() as i32, WatchOptions::default())
        .unwrap()
    {
        Claim::Running(watch) => {
            assert_eq!(watch.wait().status, ExitStatus::Exited { code: 3 });
        }
        Claim::Exited(exit) => panic!("claimed before it exited, got {exit:?}"),
    }
    child.wait().unwrap();
}

#[test]
fn what_needs_pidfds_fails_with_a_typed_error() {
    let error = monitor()
        .enable_orphan_reaping(Duration::from_millis(10))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Enosys);
    assert!(error.message.contains("pidfd_open"), "{error}");
}

#[test]
fn rounds_back_off_and_stop_when_nothing_is_watched() {
    force_poll_engine();
    let monitor = Monitor::new().unwrap(); // its own thread and counters
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(monitor.stats().wakeups, 0, "no rounds before any watch");

    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let watch = monitor
        .watch(child.id() as i32, WatchOptions::default())
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    // 1, 2, 4, … 1024 ms, then every second: about 13 rounds in 2.5 s, not 2,500.
    let while_running = monitor.stats().wakeups;
    assert!(
        (5..=20).contains(&while_running),
        "{while_running} wake-ups"
    );

    watch.kill(libc::SIGKILL).unwrap();
    let exit = watch.wait();
    assert_eq!(
        exit.status,
        ExitStatus::Killed {
            signal: libc::SIGKILL
        }
    );
    let stats = monitor.stats();
    assert_eq!(stats.fallback_exits, 1);
    assert_eq!(stats.watched, 0);
    std::thread::sleep(Duration::from_millis(100));
    let after_exit = monitor.stats().wakeups;
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(monitor.stats().wakeups, after_exit, "idle again");
    child.wait().unwrap();
}

#[test]
fn two_watches_of_one_process_get_one_identical_exit() {
    let mut parent = sh("(sleep 0.2; exit 4) & echo $!; exec sleep 30");
    let pid = read_pid(&mut parent);
    let first = monitor().watch(pid, WatchOptions::default()).unwrap();
    let second = monitor().watch(pid, WatchOptions::default()).unwrap();
    let exit = first.wait();
    assert_eq!(exit.status, ExitStatus::Exited { code: 4 });
    assert_eq!(second.wait(), exit);
    parent.kill().unwrap();
    parent.wait().unwrap();
}

#[test]
fn a_spawned_child_is_owned_without_pidfds() {
    let monitor = monitor();
    let inbox = monitor.inbox(None);
    let mut spec = SpawnSpec::new("sh");
    spec.args = vec!["-c".into(), "exit 5".into()];
    spec.stdio = vec![Stdio::Ignore; 3];
    let spawned = monitor.spawn(&spec, &inbox).unwrap();
    let exit = wait_for_watch(&inbox, spawned.token);
    assert_eq!(exit.status, ExitStatus::Exited { code: 5 });
    assert_eq!(exit.source, StatusSource::Waitid);
    assert!(exit.reaped);

    let mut spec = SpawnSpec::new("sleep");
    spec.args = vec!["30".into()];
    let spawned = monitor.spawn(&spec, &inbox).unwrap();
    monitor.kill(spawned.token, libc::SIGKILL).unwrap();
    let exit = wait_for_watch(&inbox, spawned.token);
    assert_eq!(
        exit.status,
        ExitStatus::Killed {
            signal: libc::SIGKILL
        }
    );

    let err = monitor
        .spawn(&SpawnSpec::new("exitwatch-no-such-program"), &inbox)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Enoent);
}
