//! Subscriptions, claims, bursts, and a monitor that survives its own faults.

mod common;

use std::process::{Child, Command};
use std::time::Duration;

use common::*;
use exitwatch_core::{Claim, ExitStatus, Monitor, Target, WatchOptions};

fn monitor() -> &'static Monitor {
    Monitor::global().expect("monitor")
}

fn exiting_with(code: i32, after: &str) -> Child {
    sh(&format!("sleep {after}; exit {code}"))
}

#[test]
fn a_subscription_sees_every_observed_exit_in_order() {
    let sub = monitor().subscribe().unwrap();
    let mut children: Vec<Child> = (0..5)
        .map(|i| exiting_with(i, &format!("0.{}", i + 1)))
        .collect();
    let watches: Vec<_> = children
        .iter()
        .map(|c| {
            monitor()
                .watch(c.id() as i32, WatchOptions::default())
                .unwrap()
        })
        .collect();
    let mut codes = Vec::new();
    while codes.len() < 5 {
        let exit = sub.recv_timeout(Duration::from_secs(10)).expect("an exit");
        if let Some(i) = children.iter().position(|c| c.id() as i32 == exit.pid) {
            let ExitStatus::Exited { code } = exit.status else {
                panic!("{exit:?}")
            };
            assert_eq!(code, i as i32);
            codes.push(code);
        }
    }
    assert_eq!(codes, vec![0, 1, 2, 3, 4], "FIFO: in the order they exited");
    drop(watches);
    children.iter_mut().for_each(|c| drop(c.wait()));
}

#[test]
fn claim_returns_an_exit_that_already_happened_during_the_subscription() {
    let sub = monitor().subscribe().unwrap();
    let mut child = exiting_with(31, "0");
    let pid = child.id() as i32;
    // Something else watched it and saw it exit; the subscription kept the exit.
    monitor()
        .watch(pid, WatchOptions::default())
        .unwrap()
        .wait();
    child.wait().unwrap(); // reaped: the pid is free for reuse now
    match sub.claim(pid, WatchOptions::default()).unwrap() {
        Claim::Exited(exit) => assert_eq!(exit.status, ExitStatus::Exited { code: 31 }),
        Claim::Running(_) => panic!("the exit was buffered"),
    }
}

#[test]
fn claim_watches_a_process_that_is_still_running() {
    let sub = monitor().subscribe().unwrap();
    let mut child = exiting_with(32, "0.2");
    match sub
        .claim(child.id() as i32, WatchOptions::default())
        .unwrap()
    {
        Claim::Running(watch) => {
            assert_eq!(watch.wait().status, ExitStatus::Exited { code: 32 })
        }
        Claim::Exited(_) => panic!("it was still running"),
    }
    child.wait().unwrap();
}

#[test]
fn nothing_arrives_after_the_subscription_is_dropped() {
    let channel = monitor().channel(None);
    let id = channel.subscribe().unwrap();
    let mut first = exiting_with(1, "0");
    monitor()
        .watch(first.id() as i32, WatchOptions::default())
        .unwrap()
        .wait();
    assert!(channel.unsubscribe(id));
    assert!(!channel.unsubscribe(id), "twice is a no-op");
    assert!(
        channel.drain().is_empty(),
        "queued events are dropped with the subscription"
    );
    let mut second = exiting_with(2, "0");
    monitor()
        .watch(second.id() as i32, WatchOptions::default())
        .unwrap()
        .wait();
    assert!(channel.drain().is_empty());
    first.wait().unwrap();
    second.wait().unwrap();
}

#[test]
fn a_burst_of_1024_registrations_is_fully_tracked() {
    let mut children: Vec<Child> = (0..1024)
        .map(|_| Command::new("sleep").arg("0.3").spawn().expect("spawn"))
        .collect();
    let channel = monitor().channel(None);
    let tokens: Vec<u64> = children
        .iter()
        .map(|c| {
            channel
                .watch(c.id() as i32, WatchOptions::default())
                .unwrap()
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < tokens.len() {
        let event = channel
            .recv_timeout(Duration::from_secs(20))
            .expect("every exit");
        assert_eq!(event.exit.status, ExitStatus::Exited { code: 0 });
        assert!(seen.insert(event.target), "delivered once");
    }
    assert!(channel.recv_timeout(Duration::from_millis(100)).is_none());
    children.iter_mut().for_each(|c| drop(c.wait()));
}

#[cfg(feature = "fault-injection")]
mod faults {
    use super::*;
    use exitwatch_core::Stats;

    /// Injects a fault that fires on the wake-up reporting a child's exit, and checks that the
    /// exit still arrives, once the monitor respawned. Returns the monitor's stats.
    fn exit_survives(inject: impl Fn(&Monitor), monitor: &Monitor) -> Stats {
        let mut child = exiting_with(44, "0.2");
        let watch = monitor
            .watch(child.id() as i32, WatchOptions::default())
            .unwrap();
        inject(monitor);
        let exit = watch
            .wait_timeout(Duration::from_secs(10))
            .expect("exit not lost");
        assert_eq!(exit.status, ExitStatus::Exited { code: 44 });
        child.wait().unwrap();
        monitor.stats()
    }

    #[test]
    fn a_panic_in_the_monitor_loop_respawns_it_and_loses_no_exit() {
        let monitor = Monitor::new().unwrap();
        let stats = exit_survives(Monitor::inject_panic, &monitor);
        assert_eq!(stats.monitor_thread_restarts, 1);
        assert!(stats.monitor_thread_alive);
    }

    #[test]
    fn a_poisoned_registry_is_recovered() {
        let monitor = Monitor::new().unwrap();
        let stats = exit_survives(Monitor::inject_poisoned_registry, &monitor);
        assert!(stats.poison_recoveries >= 1);
        assert_eq!(stats.monitor_thread_restarts, 1);
        // Still fully usable.
        let mut next = exiting_with(46, "0");
        let exit = monitor
            .watch(next.id() as i32, WatchOptions::default())
            .unwrap()
            .wait();
        assert_eq!(exit.status, ExitStatus::Exited { code: 46 });
        next.wait().unwrap();
    }
}

#[test]
fn a_channel_claims_for_its_subscription_and_watches_into_itself() {
    let channel = monitor().channel(None);
    let subscription = channel.subscribe().unwrap();
    let mut exited = exiting_with(3, "0");
    let exited_pid = exited.id() as i32;
    monitor()
        .watch(exited_pid, WatchOptions::default())
        .unwrap()
        .wait();
    match channel
        .claim(subscription, exited_pid, WatchOptions::default())
        .unwrap()
    {
        Claim::Exited(exit) => assert_eq!(exit.status, ExitStatus::Exited { code: 3 }),
        Claim::Running(token) => panic!("the exit was queued, got watch {token}"),
    }
    let mut running = exiting_with(0, "30");
    let token = match channel
        .claim(subscription, running.id() as i32, WatchOptions::default())
        .unwrap()
    {
        Claim::Running(token) => token,
        Claim::Exited(exit) => panic!("it is still running, got {exit:?}"),
    };
    channel.kill(token, libc::SIGKILL).unwrap();
    let watched = loop {
        let event = channel
            .recv_timeout(Duration::from_secs(10))
            .expect("the killed child's exit");
        if event.target == Target::Watch(token) {
            break event.exit;
        }
    };
    assert_eq!(watched.status, ExitStatus::Killed { signal: 9 });
    assert!(!channel.unwatch(token), "delivered: the token is gone");
    exited.wait().unwrap();
    running.wait().unwrap();
}
