//! The poll engine in a Rust host that owns SIGCHLD: the signalfd wakes the monitor when a
//! child exits, so the exit is seen at once rather than at the next round of the backoff.

use std::process::Command;
use std::time::{Duration, Instant};

use exitwatch_core::{Engine, ExitStatus, Monitor, StatusSource, WatchOptions, ENGINE_ENV};

fn main() {
    // SAFETY: a valid sigset built in place; no thread exists yet, so all inherit the mask.
    unsafe {
        let mut mask = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut mask);
        libc::sigaddset(&mut mask, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_BLOCK, &mask, std::ptr::null_mut());
    }
    std::env::set_var(ENGINE_ENV, "poll");
    let monitor = Monitor::global().expect("monitor");
    assert_eq!(monitor.capabilities().engine, Engine::Poll);
    monitor.use_signalfd().expect("signalfd");

    let started = Instant::now();
    let mut child = Command::new("sh")
        .args(["-c", "sleep 1.2; exit 6"])
        .spawn()
        .unwrap();
    let watch = monitor
        .watch(child.id() as i32, WatchOptions::default())
        .unwrap();
    let exit = watch.wait();
    let seen_after = started.elapsed();
    assert_eq!(exit.status, ExitStatus::Exited { code: 6 });
    assert_eq!(exit.source, StatusSource::WaitidNoWait);
    // Rounds alone would come at 1 + 2 + … + 1024 ms, then 1024 ms later: about 2.05 s.
    assert!(
        seen_after < Duration::from_millis(1700),
        "seen {seen_after:?} after the spawn: the SIGCHLD did not wake the monitor"
    );
    assert_eq!(child.wait().unwrap().code(), Some(6));
    println!("poll engine + signalfd: exit seen {seen_after:?} after the spawn (exits at 1.2 s)");
    // The summary line of the standard harness, so that test reports count this test.
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}
