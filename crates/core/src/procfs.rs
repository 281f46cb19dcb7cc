//! Process listings from /proc: who the children of a process are, and their state.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::fd::BorrowedFd;

use crate::sys;

/// One process as /proc shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessEntry {
    pub pid: i32,
    pub ppid: i32,
    /// The state letter: `R`, `S`, `Z` (zombie), ...
    pub state: u8,
    /// When it started, in clock ticks since boot: with the pid, its identity on any kernel.
    pub start_time: u64,
}

/// Parses `/proc/<pid>/stat`. The command name may hold spaces and parentheses, so the
/// fields are read after the last `)`.
pub fn read_entry(pid: i32) -> Option<ProcessEntry> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.bytes().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // Field 22; `fields` now stands at field 5.
    let start_time = fields.nth(22 - 5)?.parse().ok()?;
    Some(ProcessEntry {
        pid,
        ppid,
        state,
        start_time,
    })
}

/// The children of `parent` (of all its threads), with their state.
///
/// Uses `/proc/<pid>/task/<tid>/children` where the kernel has it (CONFIG_PROC_CHILDREN),
/// and otherwise scans every `/proc/<pid>/stat` for the parent pid.
pub fn children_of(parent: i32) -> Vec<ProcessEntry> {
    match children_from_task_files(parent) {
        Some(pids) => pids.into_iter().filter_map(read_entry).collect(),
        None => all_processes().filter(|p| p.ppid == parent).collect(),
    }
}

/// The children the calling thread created, or None where the kernel lacks
/// CONFIG_PROC_CHILDREN.
pub fn children_of_this_thread() -> Option<Vec<i32>> {
    let text = fs::read_to_string("/proc/thread-self/children").ok()?;
    Some(parse_pids(&text))
}

fn parse_pids(text: &str) -> Vec<i32> {
    text.split_ascii_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn children_from_task_files(parent: i32) -> Option<Vec<i32>> {
    let mut pids = Vec::new();
    for task in fs::read_dir(format!("/proc/{parent}/task")).ok()? {
        let path = task.ok()?.path().join("children");
        let text = fs::read_to_string(path).ok()?;
        pids.extend(parse_pids(&text));
    }
    Some(pids)
}

/// `roots` and all their descendants, parents before children. /proc is read again until a
/// pass finds no new member (processes may fork while it is read).
pub fn descendants(roots: &[i32]) -> Vec<ProcessEntry> {
    let mut members: Vec<ProcessEntry> = roots.iter().filter_map(|&pid| read_entry(pid)).collect();
    for _ in 0..16 {
        let mut by_parent: HashMap<i32, Vec<ProcessEntry>> = HashMap::new();
        for entry in all_processes() {
            by_parent.entry(entry.ppid).or_default().push(entry);
        }
        let mut known: HashSet<i32> = members.iter().map(|m| m.pid).collect();
        let before = members.len();
        let mut i = 0;
        while i < members.len() {
            for child in by_parent.get(&members[i].pid).into_iter().flatten() {
                if known.insert(child.pid) {
                    members.push(*child);
                }
            }
            i += 1;
        }
        if members.len() == before {
            break;
        }
    }
    members
}

/// The state letter and start time (field 22) of `pid`, with one read of `/proc/<pid>/stat`
/// (three system calls): the poll engine's check of a process that is still running.
pub fn state_and_start_time(pid: i32) -> Option<(u8, u64)> {
    // The line is a few hundred bytes long: one read takes it whole.
    let mut buffer = [0u8; 1024];
    let len = fs::File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .read(&mut buffer)
        .ok()?;
    let text = std::str::from_utf8(&buffer[..len]).ok()?;
    let mut fields = text[text.rfind(')')? + 1..].split_ascii_whitespace();
    let state = fields.next()?.bytes().next()?;
    // fields now starts at field 4; field 22 is 18 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some((state, start_time))
}

/// The thread group (process) id of an opened `/proc/<id>` directory: not `<id>` when `<id>`
/// is a thread of another process.
pub fn tgid_at(dir: BorrowedFd<'_>) -> Option<i32> {
    let status = sys::read_at(dir, c"status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Tgid:"))?;
    line.trim().parse().ok()
}

/// The command line of `pid`, or its command name when it has none.
pub fn command_of(pid: i32) -> String {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if !args.is_empty() {
        return args.join(" ");
    }
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| format!("[{}]", c.trim()))
        .unwrap_or_default()
}

/// Every process in this PID namespace's /proc.
pub fn all_processes() -> impl Iterator<Item = ProcessEntry> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_our_children_and_their_state() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        let found = children_of(me);
        let entry = found
            .iter()
            .find(|p| p.pid == child.id() as i32)
            .expect("listed");
        assert_eq!(entry.ppid, me);
        assert_ne!(entry.state, b'Z', "running, not a zombie");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!children_of(me).iter().any(|p| p.pid == child.id() as i32));
    }
}
