//! Helpers that make real processes in the states the tests need.
#![allow(dead_code)] // each test binary uses a different subset

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A shell child running `script`.
pub fn sh(script: &str) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sh")
}

/// Reads the first line of a child's stdout as a pid.
pub fn read_pid(child: &mut Child) -> i32 {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read pid");
    line.trim().parse().expect("a pid on stdout")
}

/// A grandchild that exits with `code` at once, left an unreaped zombie by its parent (a
/// child of ours that just sleeps). Returns (parent child, grandchild pid).
pub fn foreign_zombie(code: i32) -> (Child, i32) {
    // `exec sleep` replaces the shell before the job exits, so nothing ever reaps it (a shell
    // could reap a job that finished before the exec).
    let mut parent = sh(&format!(
        "(sleep 0.1; exit {code}) & echo $!; exec sleep 30"
    ));
    let pid = read_pid(&mut parent);
    wait_until(|| proc_state(pid) == Some('Z'));
    (parent, pid)
}

/// The state letter of /proc/<pid>/stat, or None when the pid does not exist.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

pub fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for the exit delivered to `inbox` for watch `token`.
pub fn wait_for_watch(inbox: &exitwatch_core::Inbox, token: u64) -> exitwatch_core::ExitInfo {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = inbox.recv_timeout(left).expect("an exit within 10 s");
        if event.target == exitwatch_core::Target::Watch(token) {
            return event.exit;
        }
    }
}

/// Our children that are zombies now.
pub fn zombie_children() -> Vec<i32> {
    exitwatch_core::procfs::children_of(std::process::id() as i32)
        .into_iter()
        .filter(|c| c.state == b'Z')
        .map(|c| c.pid)
        .collect()
}
