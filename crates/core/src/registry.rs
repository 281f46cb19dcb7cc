//! Who is watched and who listens. Only plain data and non-blocking operations: the registry
//! lock is never held across anything that can wait.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use crate::capabilities::Capabilities;
use crate::exit::{ExitInfo, StatusSource};
use crate::inbox::{Event, Inbox, Target};
use crate::procfs;

/// A registered process, pinned by its pidfd or, without pidfds, by its start time.
pub(crate) struct Process {
    pub pid: i32,
    pub id: Option<u64>,
    pub pin: Pin,
    /// exitwatch owns the process and reaps it.
    pub reap: bool,
    /// Another part of this process owns it and will reap it (a claimed child).
    pub claimed: bool,
    /// Its owner reports the exact status (see `WatchOptions::owner_reports_exit`).
    pub owner_reports_exit: bool,
    pub watchers: Vec<Watcher>,
}

/// What proves that `pid` still names the registered process.
#[derive(Clone)]
pub(crate) enum Pin {
    /// Shared with the monitor thread while it reads the status outside the lock.
    Pidfd(Arc<OwnedFd>),
    /// The poll engine: the start time (`/proc/<pid>/stat` field 22) seen at registration.
    StartTime(u64),
}

impl Pin {
    pub fn pidfd(&self) -> Option<&Arc<OwnedFd>> {
        match self {
            Pin::Pidfd(pidfd) => Some(pidfd),
            Pin::StartTime(_) => None,
        }
    }

    /// True once the pinned process `pid` was reaped (the pid may name another one now).
    pub fn reaped(&self, pid: i32) -> bool {
        match self {
            Pin::Pidfd(pidfd) => !Capabilities::get().proves_unreaped(pidfd.as_fd()),
            Pin::StartTime(start) => procfs::read_entry(pid).is_none_or(|e| e.start_time != *start),
        }
    }
}

pub(crate) struct Watcher {
    pub token: u64,
    pub inbox: Arc<Inbox>,
}

/// Receives every exit the monitor observes.
pub(crate) struct Subscriber {
    pub id: u64,
    pub inbox: Arc<Inbox>,
}

#[derive(Default)]
pub(crate) struct Registry {
    /// Process key (also its epoll key) → process.
    pub processes: HashMap<u64, Process>,
    /// Watch token → process key.
    pub watches: HashMap<u64, u64>,
    /// Pid → key of the newest process registered under that pid.
    by_pid: HashMap<i32, u64>,
    /// Process keys whose pidfd was readable but whose status was not there yet.
    pub pending: HashSet<u64>,
    /// In subscription order.
    pub subscribers: Vec<Subscriber>,
    /// Exited processes whose status no kernel source kept, waiting for their owner's
    /// report (`Monitor::owner_reported_exit`) instead of being reported `Unknown`.
    pub awaiting_owner: HashSet<u64>,
    /// Claimed children whose exit we read without reaping (WNOWAIT): their zombies belong to
    /// their owner (libuv, a Rust `Child`) even after they left the registry. Pid → identity.
    left_to_owner: HashMap<i32, Option<u64>>,
    /// Orphans whose exit was already delivered to a watch: reaped later without a second
    /// broadcast. Pid → start time.
    pub orphans_reported: HashMap<i32, u64>,
    /// Exits delivered while the process stayed an unreaped zombie, oldest first, each with
    /// what pins it: a watch of that zombie registered later gets the same exit.
    recent_zombie_exits: VecDeque<(ExitInfo, Pin)>,
}

/// How many exits of unreaped zombies are remembered (each may keep its pidfd open).
const RECENT_ZOMBIE_EXITS: usize = 64;

impl Registry {
    /// The process already registered for `pid` with the same pidfs identity, if any.
    /// Without pidfs identities (before Linux 6.9), `same_process_unreaped` is asked: a pidfd
    /// opened before the registered process was found unreaped names that same process,
    /// since a pid is never reused before its process is reaped.
    pub fn find_same_process(
        &self,
        pid: i32,
        id: Option<u64>,
        same_process_unreaped: impl FnOnce(&Process) -> bool,
    ) -> Option<u64> {
        let key = *self.by_pid.get(&pid)?;
        let process = self.processes.get(&key)?;
        let same = match id {
            Some(_) => process.id == id,
            None => same_process_unreaped(process),
        };
        same.then_some(key)
    }

    /// The process registered for `pid` with the same start time (the poll engine's pin).
    pub fn find_same_start(&self, pid: i32, start_time: u64) -> Option<u64> {
        let key = *self.by_pid.get(&pid)?;
        let same = matches!(self.processes.get(&key)?.pin, Pin::StartTime(t) if t == start_time);
        same.then_some(key)
    }

    /// True when the zombie child `pid` (identity `id`) has an owner: it is registered, or it
    /// is a claimed child whose exit we read and left for its owner to reap. Orphan reaping
    /// must skip it.
    pub fn is_claimed(&self, pid: i32, id: Option<u64>) -> bool {
        self.by_pid.contains_key(&pid) || self.left_to_owner.get(&pid) == Some(&id)
    }

    /// The exit already delivered for `pid` if that process is still the unreaped zombie
    /// that was pinned (so a newer process with that pid never matches). Forgets the entry
    /// once the zombie was reaped.
    pub fn exit_of_zombie(&mut self, pid: i32) -> Option<ExitInfo> {
        let i = self
            .recent_zombie_exits
            .iter()
            .rposition(|(e, _)| e.pid == pid)?;
        let (exit, pin) = &self.recent_zombie_exits[i];
        if !pin.reaped(pid) {
            return Some(*exit);
        }
        self.recent_zombie_exits.remove(i);
        None
    }

    /// Forgets the zombies left to their owners that are no longer our children (reaped).
    pub fn prune_left_to_owner(&mut self, still_children: impl Fn(i32) -> bool) {
        self.left_to_owner.retain(|pid, _| still_children(*pid));
        self.orphans_reported.retain(|pid, _| still_children(*pid));
    }

    pub fn insert_process(&mut self, key: u64, process: Process) {
        self.by_pid.insert(process.pid, key);
        self.processes.insert(key, process);
    }

    fn remove_process(&mut self, key: u64) -> Option<Process> {
        let process = self.processes.remove(&key)?;
        self.pending.remove(&key);
        self.awaiting_owner.remove(&key);
        if self.by_pid.get(&process.pid) == Some(&key) {
            self.by_pid.remove(&process.pid);
        }
        Some(process)
    }

    /// Removes a watch. The process stays registered while others watch it or while
    /// exitwatch must still reap it. Returns false for an unknown token.
    pub fn unwatch(&mut self, token: u64) -> bool {
        let Some(key) = self.watches.remove(&token) else {
            return false;
        };
        if let Some(process) = self.processes.get_mut(&key) {
            if let Some(i) = process.watchers.iter().position(|w| w.token == token) {
                let watcher = process.watchers.swap_remove(i);
                watcher.inbox.discard(Target::Watch(token));
            }
            if process.watchers.is_empty() && !process.reap {
                self.remove_process(key);
            }
        }
        true
    }

    /// Removes a subscription and what was queued for it. False for an unknown id.
    pub fn unsubscribe(&mut self, id: u64) -> bool {
        let Some(i) = self.subscribers.iter().position(|s| s.id == id) else {
            return false;
        };
        let subscriber = self.subscribers.remove(i);
        subscriber.inbox.discard(Target::Subscription(id));
        true
    }

    pub fn subscriber(&self, id: u64) -> Option<&Subscriber> {
        self.subscribers.iter().find(|s| s.id == id)
    }

    /// Removes every watch and subscription that delivers to `inbox`.
    pub fn remove_inbox(&mut self, inbox: &Arc<Inbox>) {
        self.subscribers.retain(|s| !Arc::ptr_eq(&s.inbox, inbox));
        let tokens: Vec<u64> = self
            .processes
            .values()
            .flat_map(|p| &p.watchers)
            .filter(|w| Arc::ptr_eq(&w.inbox, inbox))
            .map(|w| w.token)
            .collect();
        for token in tokens {
            self.unwatch(token);
        }
    }

    /// Removes an exited process and appends its exit to every watcher's inbox, in
    /// registration order. Returns the inboxes that went from empty to non-empty.
    pub fn deliver_exit(&mut self, key: u64, exit: ExitInfo, to_wake: &mut Vec<Arc<Inbox>>) {
        let Some(process) = self.remove_process(key) else {
            return;
        };
        if exit.source == StatusSource::WaitidNoWait && process.claimed {
            self.left_to_owner.insert(exit.pid, exit.id);
        }
        if matches!(
            exit.source,
            StatusSource::WaitidNoWait | StatusSource::ProcStat
        ) {
            if self.recent_zombie_exits.len() == RECENT_ZOMBIE_EXITS {
                self.recent_zombie_exits.pop_front();
            }
            self.recent_zombie_exits
                .push_back((exit, process.pin.clone()));
        }
        for watcher in process.watchers {
            self.watches.remove(&watcher.token);
            push(&watcher.inbox, Target::Watch(watcher.token), exit, to_wake);
        }
        self.broadcast(exit, to_wake);
    }

    /// Appends an exit to every subscription.
    pub fn broadcast(&self, exit: ExitInfo, to_wake: &mut Vec<Arc<Inbox>>) {
        for subscriber in &self.subscribers {
            push(
                &subscriber.inbox,
                Target::Subscription(subscriber.id),
                exit,
                to_wake,
            );
        }
    }
}

pub(crate) fn push(
    inbox: &Arc<Inbox>,
    target: Target,
    exit: ExitInfo,
    to_wake: &mut Vec<Arc<Inbox>>,
) {
    if inbox.push(Event { target, exit }) && !to_wake.iter().any(|i| Arc::ptr_eq(i, inbox)) {
        to_wake.push(inbox.clone());
    }
}
