//! Which children this process forked itself, as opposed to orphans re-parented to it as
//! PID 1 or child subreaper. A forked child has an owner in this process (libuv, a worker's
//! libuv, a native addon, `spawnSync`) that will reap it; an orphan has nobody but us.
//!
//! `fork()` runs the `pthread_atfork` handlers in the forking thread, whichever thread and
//! whoever calls it: `prepare` lists that thread's children (`/proc/thread-self/children`)
//! and notes the time, `parent` lists them again: the one child that is new and started at or
//! after that time is the child just forked. Orphans are re-parented to a thread of this
//! process too (as PID 1, to the main thread): one that arrives during the fork and was born
//! during it as well makes the new children ambiguous. Then all of them are recorded for
//! `AMBIGUOUS_FOR` only — long enough for an owner to reap its child, short enough that an
//! orphan among them is reaped soon after.
//! `clone(CLONE_VFORK)` (glibc's `posix_spawn`, Rust's `Command`) and raw `clone` run no fork
//! handlers: such children are unknown here, which is what the orphan grace period is for.
//!
//! A record is (pid, start time), so a recycled pid is never mistaken for a recorded child.
//! Between `prepare` and the end of `parent` a fork is in progress: its child may already be
//! a zombie and not yet recorded, so orphan reaping waits (see [`fork_in_progress`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use crate::procfs;
use crate::sync::lock;

/// How long children recorded by an ambiguous fork count as forked by us.
const AMBIGUOUS_FOR: Duration = Duration::from_secs(1);

/// Forked children not yet known to be gone.
static FORKS: Mutex<Records> = Mutex::new(Records {
    children: None,
    pruned_at_len: 0,
});

#[derive(Clone, Copy)]
struct Record {
    /// Clock ticks since boot: with the pid, the process's identity.
    start_time: u64,
    /// Set when the fork that recorded it had several new children.
    expires: Option<Instant>,
}

struct Records {
    children: Option<HashMap<i32, Record>>,
    /// Size after the last prune: the parent handler prunes when the map doubled since.
    pruned_at_len: usize,
}

/// Forks between their `prepare` and the end of their `parent` handler, in all threads.
static FORKS_IN_PROGRESS: AtomicU32 = AtomicU32::new(0);

/// What `prepare` saw, for `parent`.
struct BeforeFork {
    started_at: u64,
    /// The forking thread's children, or None where the kernel cannot list them per thread.
    children: Option<Vec<i32>>,
}

thread_local! {
    static BEFORE_FORK: RefCell<Option<BeforeFork>> = const { RefCell::new(None) };
}

/// Starts recording forked children (idempotent). Children forked before this call are
/// not recorded: see [`record_current_children`].
pub(crate) fn track_forks() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: both handlers are plain `extern "C"` functions that never unwind.
        unsafe { libc::pthread_atfork(Some(prepare), Some(parent), None) };
    });
}

/// Records every current child as forked by us. Exact only while this process has never
/// been a subreaper nor PID 1: then it can have no other children.
pub(crate) fn record_current_children() {
    let children = procfs::children_of(crate::sys::getpid());
    let mut records = lock(&FORKS);
    let map = records.children.get_or_insert_with(HashMap::new);
    for child in children {
        map.insert(
            child.pid,
            Record {
                start_time: child.start_time,
                expires: None,
            },
        );
    }
}

/// True while some thread is forking, or spawning a child of exitwatch's own: a zombie child
/// seen now may be its child, not yet recorded (or registered). Checked after listing the
/// children, so any child listed is recorded already or its fork is still in progress.
pub(crate) fn fork_in_progress() -> bool {
    FORKS_IN_PROGRESS.load(Ordering::SeqCst) > 0
}

/// A spawn of exitwatch's own is under way, from before its child exists until it is
/// registered (or reaped, when it failed): orphan reaping leaves every zombie alone meanwhile,
/// as during a fork.
pub(crate) struct SpawnInProgress(());

impl SpawnInProgress {
    pub fn begin() -> SpawnInProgress {
        FORKS_IN_PROGRESS.fetch_add(1, Ordering::SeqCst);
        SpawnInProgress(())
    }
}

impl Drop for SpawnInProgress {
    fn drop(&mut self) {
        FORKS_IN_PROGRESS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a process was forked by this process, as far as the fork handlers know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forked {
    No,
    Yes,
    /// By an ambiguous fork: counts as forked until then.
    Until(Instant),
}

/// Whether `pid`, started at `start_time`, was forked by this process.
pub(crate) fn forked(pid: i32, start_time: u64) -> Forked {
    let records = lock(&FORKS);
    let Some(record) = records.children.as_ref().and_then(|m| m.get(&pid)) else {
        return Forked::No;
    };
    match record.expires {
        _ if record.start_time != start_time => Forked::No,
        None => Forked::Yes,
        Some(expires) if Instant::now() < expires => Forked::Until(expires),
        Some(_) => Forked::No,
    }
}

/// Forgets the records of processes that are no longer our children (reaped by their owner).
pub(crate) fn prune(still_child: impl Fn(i32, u64) -> bool) {
    let mut records = lock(&FORKS);
    if let Some(map) = records.children.as_mut() {
        map.retain(|&pid, r| still_child(pid, r.start_time));
        records.pruned_at_len = map.len();
    }
}

extern "C" fn prepare() {
    FORKS_IN_PROGRESS.fetch_add(1, Ordering::SeqCst);
    let before = BeforeFork {
        started_at: crate::sys::boottime_ticks(),
        children: std::panic::catch_unwind(procfs::children_of_this_thread).unwrap_or(None),
    };
    BEFORE_FORK.with(|b| *b.borrow_mut() = Some(before));
}

extern "C" fn parent() {
    if let Some(before) = BEFORE_FORK.with(|b| b.borrow_mut().take()) {
        // Never unwind into libc: a failure here only means one child goes unrecorded.
        let _ = std::panic::catch_unwind(|| record_new_children(before));
    }
    FORKS_IN_PROGRESS.fetch_sub(1, Ordering::SeqCst);
}

fn record_new_children(before: BeforeFork) {
    let me = crate::sys::getpid();
    let now_children = match before.children {
        Some(_) => procfs::children_of_this_thread(),
        None => None,
    }
    .unwrap_or_else(|| procfs::children_of(me).into_iter().map(|c| c.pid).collect());
    let old = before.children.unwrap_or_default();
    let new: Vec<(i32, u64)> = now_children
        .into_iter()
        .filter(|pid| !old.contains(pid))
        .filter_map(procfs::read_entry)
        .filter(|e| e.ppid == me && e.start_time >= before.started_at)
        .map(|e| (e.pid, e.start_time))
        .collect();
    let expires = (new.len() > 1).then(|| Instant::now() + AMBIGUOUS_FOR);
    let mut records = lock(&FORKS);
    let map = records.children.get_or_insert_with(HashMap::new);
    for (pid, start_time) in new {
        map.insert(
            pid,
            Record {
                start_time,
                expires,
            },
        );
    }
    if map.len() > 2 * records.pruned_at_len + 64 {
        drop(records);
        prune(|pid, start| {
            procfs::read_entry(pid).is_some_and(|e| e.ppid == me && e.start_time == start)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fork()` through libc (what libuv does), from a thread that is not the main thread.
    fn fork_exiting_child_from_a_thread() -> i32 {
        std::thread::spawn(|| {
            // SAFETY: the child only calls async-signal-safe `_exit`.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                unsafe { libc::_exit(3) };
            }
            pid
        })
        .join()
        .unwrap()
    }

    #[test]
    fn a_child_forked_by_any_thread_is_recorded_and_a_vfork_child_is_not() {
        track_forks();
        let child = fork_exiting_child_from_a_thread();
        let entry = procfs::read_entry(child).expect("unreaped child");
        assert_eq!(forked(child, entry.start_time), Forked::Yes);
        let reused = forked(child, entry.start_time + 1);
        assert_eq!(reused, Forked::No, "another process under that pid");

        // posix_spawn (CLONE_VFORK) runs no fork handlers.
        let spawned = std::process::Command::new("true").spawn().unwrap();
        let spawned_pid = spawned.id() as i32;
        let spawned_entry = procfs::read_entry(spawned_pid).unwrap();
        assert_eq!(forked(spawned_pid, spawned_entry.start_time), Forked::No);

        let mut status = 0;
        unsafe { libc::waitpid(child, &mut status, 0) };
        let mut spawned = spawned;
        spawned.wait().unwrap();
        prune(|pid, _| procfs::read_entry(pid).is_some());
        let reaped = forked(child, entry.start_time);
        assert_eq!(reaped, Forked::No, "pruned once reaped");
    }
}
