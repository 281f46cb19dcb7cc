//! A few descriptor numbers near the bottom of the table, reserved for spawning.
//!
//! A child started with `clone(CLONE_VM | CLONE_VFORK)` gets a copy of the parent's whole
//! descriptor table, and its `execve` then closes every close-on-exec copy: one step per open
//! descriptor, twice. Beside 10,000 open sockets or pidfds that made each spawn block the
//! spawning thread ~0.4 ms longer and delayed the child by as much again. So the child shares
//! the table instead (`CLONE_FILES`) and copies only its lowest part: `close_range(end, ~0,
//! CLOSE_RANGE_UNSHARE)` (Linux 5.9) gives it a private table holding descriptors `0..end`.
//! That needs everything the child inherits below `end`: a descriptor that lies higher is
//! duplicated onto one of the slots reserved here, while the table was still small, for the
//! length of the spawn.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::sync::lock;

/// Sources a spawn can stage: stdin, stdout, stderr and one more.
const SLOTS: usize = 4;

struct Slots {
    /// `/dev/null`: what a slot holds while no spawn uses it.
    placeholder: OwnedFd,
    slots: Vec<OwnedFd>,
    /// One above the highest slot.
    end: RawFd,
}

/// Opened by the first spawn; `None` when that could not open them (the spawns then copy as
/// much of the table as their highest source needs).
fn reserved() -> Option<&'static Mutex<Slots>> {
    static RESERVED: OnceLock<Option<Mutex<Slots>>> = OnceLock::new();
    RESERVED
        .get_or_init(|| reserve().ok().map(Mutex::new))
        .as_ref()
}

fn reserve() -> io::Result<Slots> {
    // SAFETY: a valid NUL-terminated path; the descriptor is owned below.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    let placeholder = unsafe { OwnedFd::from_raw_fd(fd) };
    let slots = (0..SLOTS)
        .map(|_| placeholder.try_clone())
        .collect::<io::Result<Vec<_>>>()?;
    let end = slots.iter().map(|s| s.as_raw_fd() + 1).max().unwrap_or(0);
    Ok(Slots {
        placeholder,
        slots,
        end,
    })
}

/// A spawn's child descriptors, all below `keep_below` for as long as this lives (one spawn
/// stages at a time). Dropping it puts the placeholders back, so no slot keeps a pipe open.
pub(crate) struct Staged {
    slots: Option<MutexGuard<'static, Slots>>,
    used: usize,
    /// The child keeps descriptors `0..keep_below` of the parent's table.
    pub(crate) keep_below: RawFd,
}

impl Staged {
    /// Replaces each of `sources` (parent descriptors, -1 for none) that lies at or above the
    /// slots by a slot holding the same open file. When more sources lie that high than there
    /// are slots, nothing is staged and `keep_below` is one above the highest source.
    pub(crate) fn stage(sources: &mut [RawFd]) -> io::Result<Staged> {
        let unstaged = |sources: &[RawFd]| Staged {
            slots: None,
            used: 0,
            keep_below: sources.iter().copied().max().unwrap_or(-1).max(2) + 1,
        };
        let Some(reserved) = reserved() else {
            return Ok(unstaged(sources));
        };
        let slots = lock(reserved);
        let end = slots.end;
        if sources.iter().filter(|s| **s >= end).count() > slots.slots.len() {
            return Ok(unstaged(sources));
        }
        let mut staged = Staged {
            slots: Some(slots),
            used: 0,
            keep_below: end.max(3),
        };
        let slots = staged.slots.as_ref().expect("just set");
        let mut next = slots.slots.iter().map(AsRawFd::as_raw_fd);
        for source in sources.iter_mut().filter(|s| **s >= end) {
            let slot = next.next().expect("counted above");
            // SAFETY: both are open descriptors; the slot is ours and holds only a placeholder.
            if unsafe { libc::dup3(*source, slot, libc::O_CLOEXEC) } < 0 {
                return Err(io::Error::last_os_error()); // `staged` restores the slots used so far
            }
            *source = slot;
            staged.used += 1;
        }
        Ok(staged)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let Some(slots) = &self.slots else { return };
        for slot in &slots.slots[..self.used] {
            // SAFETY: both descriptors are ours. Should this fail, the slot keeps the source's
            // file open, which only delays an end-of-file: never a wrong descriptor.
            unsafe {
                libc::dup3(
                    slots.placeholder.as_raw_fd(),
                    slot.as_raw_fd(),
                    libc::O_CLOEXEC,
                )
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_file(a: RawFd, b: RawFd) -> bool {
        let stat = |fd: RawFd| {
            let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
            // SAFETY: valid out-pointer.
            assert_eq!(unsafe { libc::fstat(fd, st.as_mut_ptr()) }, 0);
            // SAFETY: filled by fstat.
            let st = unsafe { st.assume_init() };
            (st.st_dev, st.st_ino)
        };
        stat(a) == stat(b)
    }

    #[test]
    fn high_sources_move_onto_slots_and_the_slots_are_freed_after() {
        let pipe = || {
            let mut ends = [0; 2];
            // SAFETY: valid out-array.
            assert_eq!(
                unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) },
                0
            );
            // SAFETY: fresh descriptors.
            ends.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        };
        let [read_end, write_end] = pipe();
        // Far above the slots, whatever this test process holds already.
        // SAFETY: an open descriptor; the duplicate is owned below.
        let high = unsafe { libc::fcntl(read_end.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 5000) };
        assert!(high >= 5000);
        // SAFETY: fresh descriptor.
        let high = unsafe { OwnedFd::from_raw_fd(high) };
        let mut sources = [0, high.as_raw_fd(), -1];
        let staged = Staged::stage(&mut sources).unwrap();
        assert!(staged.keep_below < 5000);
        assert_eq!(sources[0], 0, "a source already below the slots stays");
        assert_eq!(sources[2], -1);
        assert!(sources[1] < staged.keep_below);
        assert!(same_file(sources[1], read_end.as_raw_fd()));
        let slot = sources[1];
        drop(staged);
        assert!(
            !same_file(slot, read_end.as_raw_fd()),
            "the slot let go of the pipe"
        );
        drop((read_end, high));
        let mut buffer = [0u8; 1];
        // SAFETY: writes one byte from a valid buffer.
        let wrote = unsafe { libc::write(write_end.as_raw_fd(), buffer.as_mut_ptr().cast(), 1) };
        assert!(wrote < 0, "no read end left open: EPIPE");
    }

    #[test]
    fn more_high_sources_than_slots_stage_nothing() {
        // SAFETY: an open descriptor; the duplicates are owned below.
        let high: Vec<OwnedFd> = (0..=SLOTS as RawFd)
            .map(|i| unsafe {
                OwnedFd::from_raw_fd(libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 6000 + i))
            })
            .collect();
        let mut sources: Vec<RawFd> = high.iter().map(AsRawFd::as_raw_fd).collect();
        let before = sources.clone();
        let staged = Staged::stage(&mut sources).unwrap();
        assert_eq!(sources, before);
        assert_eq!(staged.keep_below, before.iter().max().unwrap() + 1);
    }
}
