//! A Rust host that owns SIGCHLD and runs as a child subreaper: SIGCHLD is blocked in every
//! thread (in `main`, before any thread starts) and the monitor thread reads it from a
//! signalfd. It starts a shell that leaves N background jobs behind and exits; the jobs
//! become orphans of this process, and each exit is reaped and reported.
//!
//! cargo run -p exitwatch-core --example signalfd_reaper -- 50

use std::process::Command;
use std::time::Duration;

use exitwatch_core::{ExitStatus, Monitor};

fn block_sigchld() {
    // SAFETY: plain signal-mask manipulation on the calling (only) thread.
    unsafe {
        let mut mask = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut mask);
        libc::sigaddset(&mut mask, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_BLOCK, &mask, std::ptr::null_mut());
    }
}

fn zombie_children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            let fields: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 1..]
                .split_whitespace()
                .collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
        })
        .count()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    block_sigchld(); // before the monitor thread exists, so it inherits the mask
    let orphans: usize = std::env::args().nth(1).map_or(Ok(20), |n| n.parse())?;

    let monitor = Monitor::global()?;
    monitor.use_signalfd()?;
    monitor.enable_orphan_reaping(Duration::from_millis(50))?;
    let subscription = monitor.subscribe()?;

    let script = format!("for i in $(seq {orphans}); do (sleep 0.2; exit $((i % 100))) & done");
    let mut helper = Command::new("sh").arg("-c").arg(script).spawn()?;
    monitor.claim_child(helper.id() as i32, false)?; // ours to wait for, not an orphan
    helper.wait()?;

    let mut reaped = 0;
    while reaped < orphans {
        let Some(exit) = subscription.recv_timeout(Duration::from_secs(10)) else {
            eprintln!("timed out after {reaped} of {orphans} orphan exits");
            std::process::exit(1);
        };
        if !exit.orphan {
            continue;
        }
        let ExitStatus::Exited { code } = exit.status else {
            return Err(format!("unexpected status {:?}", exit.status).into());
        };
        println!(
            "orphan {} exited with code {code} ({})",
            exit.pid,
            exit.source.name()
        );
        reaped += 1;
    }
    let zombies = zombie_children();
    println!("reaped {reaped} orphans through the signalfd path; {zombies} zombies left");
    std::process::exit(if zombies == 0 { 0 } else { 1 });
}
