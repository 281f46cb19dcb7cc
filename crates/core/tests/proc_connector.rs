//! The proc connector as a status source, on a kernel without `PIDFD_INFO_EXIT` (emulated
//! with EXITWATCH_DISABLE_PIDFD_INFO=1 where the kernel has it). One test function: the
//! environment must be set before the capabilities are probed, once per process.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use exitwatch_core::{ExitStatus, Monitor, StatusSource, WatchOptions};

#[test]
fn foreign_exits_after_their_owner_reaped_them_are_exact() {
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var("EXITWATCH_DISABLE_PIDFD_INFO", "1") };
    let monitor = Monitor::global().expect("monitor");
    let caps = monitor.capabilities();
    assert!(
        !caps.pidfd_info_exit,
        "the switch must hide PIDFD_INFO_EXIT"
    );
    if !caps.proc_connector {
        eprintln!(
            "SKIPPED foreign_exits_after_their_owner_reaped_them_are_exact: the proc connector \
             cannot be opened here (needs the initial network, PID and time namespaces, and root \
             or CAP_NET_ADMIN before Linux 6.6)"
        );
        return;
    }
    assert!(
        !monitor.stats().proc_connector_listening,
        "closed while nothing is watched"
    );

    // Grandchildren whose parent shell reaps them at once: without PIDFD_INFO_EXIT only the
    // connector can still have their status once the shell has reaped them.
    for code in [0, 7, 42] {
        let mut parent = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec 3<&0; (read _ <&3; exit {code}) & exec 3<&-; echo $!; wait $!; sleep 0.2"
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = read_pid(&mut parent);
        let watch = monitor.watch(pid, WatchOptions::default()).unwrap();
        assert!(monitor.stats().proc_connector_listening);
        // Its stdin is ours: closing it lets `read` return, so it exits now.
        drop(parent.stdin.take());
        let exit = watch.wait();
        assert_eq!(exit.status, ExitStatus::Exited { code }, "{exit:?}");
        assert_eq!(exit.source, StatusSource::ProcConnector, "{exit:?}");
        assert_eq!(exit.usage, None, "the connector carries no usage");
        parent.wait().unwrap();
    }

    // A signal is exact too.
    let mut parent = sh("sleep 30 & echo $!; wait $!; sleep 0.2");
    let pid = read_pid(&mut parent);
    let watch = monitor.watch(pid, WatchOptions::default()).unwrap();
    watch.kill(libc::SIGTERM).unwrap();
    let exit = watch.wait();
    assert_eq!(
        exit.status,
        ExitStatus::Killed {
            signal: libc::SIGTERM
        }
    );
    assert_eq!(exit.source, StatusSource::ProcConnector);
    parent.wait().unwrap();

    // Children whose owner (this test, as libuv does) reaps them and reports their status at
    // once: an exit the report delivers is forgotten by the connector too, or it never closes.
    let mut reported = 0;
    for code in 0..50 {
        let mut child = sh(&format!("exit {code}"));
        let pid = child.id() as i32;
        let options = WatchOptions {
            reap: false,
            owner_reports_exit: true,
        };
        let watch = monitor.watch(pid, options).unwrap();
        let status = child.wait().unwrap();
        let code_seen = status.code().expect("exited");
        monitor.owner_reported_exit(pid, ExitStatus::Exited { code: code_seen });
        let exit = watch.wait();
        assert_eq!(exit.status, ExitStatus::Exited { code }, "{exit:?}");
        reported += usize::from(exit.source == StatusSource::ChildProcess);
    }
    eprintln!("{reported} of 50 exits were delivered by their owner's report");

    // Nothing watched any more: the socket closes on the first event a second later, and then
    // no exit on the system wakes the monitor.
    assert!(monitor.stats().proc_connector_listening, "lingers a while");
    std::thread::sleep(Duration::from_millis(1100));
    sh("true").wait().unwrap();
    wait_until(|| !monitor.stats().proc_connector_listening);
    let wakeups = monitor.stats().wakeups;
    for _ in 0..8 {
        sh("true").wait().unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(monitor.stats().wakeups, wakeups);
    assert_eq!(monitor.stats().proc_connector_overruns, 0);

    #[cfg(feature = "fault-injection")]
    an_exit_event_never_read_is_waited_for_a_second_then_unknown(monitor);
}

/// A zombie from before the socket listened, reaped by its parent while the monitor thread is
/// held back: its exit event will never be read. The monitor waits for it (never forever):
/// the status is unknown after about a second, the wait and the miss counted.
#[cfg(feature = "fault-injection")]
fn an_exit_event_never_read_is_waited_for_a_second_then_unknown(monitor: &Monitor) {
    use std::time::Instant;
    // Its parent reaps it only when stdin closes (a shell would reap a finished job before
    // its next command, which can come first).
    let parent = Command::new("perl")
        .arg("-e")
        .arg(r#"$| = 1; my $pid = fork() // die; exit 3 if $pid == 0; print "$pid\n"; <STDIN>; waitpid($pid, 0)"#)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut parent) = parent else {
        eprintln!("SKIPPED an_exit_event_never_read_is_waited_for_a_second_then_unknown: perl is not installed (apt-get install perl-base)");
        return;
    };
    let pid = read_pid(&mut parent);
    wait_until(|| proc_state(pid) == Some('Z'));
    let before = monitor.stats();
    monitor.inject_wake_up_delay(Duration::from_millis(300));
    let watch = monitor.watch(pid, WatchOptions::default()).unwrap();
    drop(parent.stdin.take()); // its parent reaps it now
    parent.wait().unwrap();
    monitor.inject_wake_up_delay(Duration::ZERO);
    let reaped_at = Instant::now();
    let exit = watch.wait();
    let waited = reaped_at.elapsed();
    assert_eq!(exit.status, ExitStatus::Unknown, "{exit:?}");
    assert_eq!(exit.source, StatusSource::None);
    let after = monitor.stats();
    assert_eq!(after.proc_connector_waits, before.proc_connector_waits + 1);
    assert_eq!(
        after.proc_connector_missed,
        before.proc_connector_missed + 1
    );
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}
