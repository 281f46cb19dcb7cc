//! Heap bytes and descriptors exitwatch-core uses per watched process, counted by a global
//! allocator wrapper around the system one.
//!   heap-per-watch <processes>   → {"processes":..,"heapBytesPerProcess":..,"fdsPerProcess":..}

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use exitwatch_bench::{idle_children, kill_all};
use exitwatch_core::{Monitor, WatchOptions};

struct Counting;
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let mut children = idle_children(count);
    let pids: Vec<i32> = children.iter().map(|c| c.id() as i32).collect();
    let monitor = Monitor::global().unwrap();
    let channel = monitor.channel(None);
    // One watch first, so one-time structures are not charged to the others.
    channel.watch(pids[0], WatchOptions::default()).unwrap();
    let (bytes_before, fds_before) = (LIVE_BYTES.load(Ordering::Relaxed), open_fds());
    for &pid in &pids[1..] {
        channel.watch(pid, WatchOptions::default()).unwrap();
    }
    let watched = (count - 1) as f64;
    let heap = (LIVE_BYTES.load(Ordering::Relaxed) - bytes_before) as f64 / watched;
    let fds = (open_fds() - fds_before) as f64 / watched;
    kill_all(&mut children);
    println!(
        "{{\"processes\":{count},\"heapBytesPerProcess\":{heap:.1},\"fdsPerProcess\":{fds:.2}}}"
    );
}
