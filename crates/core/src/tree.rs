//! Process trees: a snapshot of a process and its descendants, and pinning a whole tree
//! (each member held by a pidfd and stopped) so it can be signalled without ever reaching a
//! process that merely reused a member's pid.

use std::sync::Arc;

use crate::error::{Error, ErrorCode, Result};
use crate::inbox::Inbox;
use crate::monitor::{Monitor, WatchOptions};
use crate::procfs;

/// One process of a tree, as seen when it was listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeMember {
    pub pid: i32,
    pub ppid: i32,
    /// The command line, or `[name]` when it has none (zombies, kernel threads).
    pub command: String,
}

/// A tree member pinned by a watch: its exit arrives in the inbox as `Target::Watch(token)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedMember {
    pub member: TreeMember,
    pub token: u64,
}

impl Monitor {
    /// `pid` and its descendants as seen now, parents before children.
    pub fn descendants(&self, pid: i32) -> Result<Vec<TreeMember>> {
        let members = procfs::descendants(&[pid]);
        if members.first().map(|m| m.pid) != Some(pid) {
            return Err(Error::new(
                ErrorCode::Esrch,
                format!("no process with pid {pid}"),
            ));
        }
        Ok(members.iter().map(|m| to_member(m.pid, m.ppid)).collect())
    }

    /// Pins `roots` and all their descendants: each is watched (delivering to `inbox`) and
    /// stopped with SIGSTOP, top-down, and the tree is listed again until no new member
    /// appears — a stopped process cannot fork. A member is pinned only if, once its pidfd is
    /// open, its parent is still the member it was listed under: a pid reused in between by
    /// an unrelated process is left alone. The caller signals the members through their
    /// tokens, then sends SIGCONT.
    pub(crate) fn pin_tree(&self, roots: &[i32], inbox: &Arc<Inbox>) -> Result<Vec<PinnedMember>> {
        let mut pinned: Vec<PinnedMember> = Vec::new();
        loop {
            let mut grew = false;
            for entry in procfs::descendants(roots) {
                if pinned.iter().any(|p| p.member.pid == entry.pid) {
                    continue;
                }
                let Ok(token) = self.register(entry.pid, WatchOptions::default(), inbox) else {
                    continue; // gone since it was listed
                };
                let is_root = roots.contains(&entry.pid);
                let same_parent =
                    procfs::read_entry(entry.pid).is_some_and(|now| now.ppid == entry.ppid);
                if !is_root && !same_parent {
                    self.unregister(token); // the pid now names someone else
                    continue;
                }
                // ESRCH here means it exited meanwhile: its exit still arrives.
                let _ = self.kill(token, libc::SIGSTOP);
                pinned.push(PinnedMember {
                    member: to_member(entry.pid, entry.ppid),
                    token,
                });
                grew = true;
            }
            if !grew {
                return Ok(pinned);
            }
        }
    }
}

fn to_member(pid: i32, ppid: i32) -> TreeMember {
    TreeMember {
        pid,
        ppid,
        command: procfs::command_of(pid),
    }
}
