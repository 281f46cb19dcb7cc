//! Poison-tolerant locking: a panic while a lock was held must never disable the monitor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How many times a poisoned lock was recovered, process-wide.
pub(crate) static POISON_RECOVERIES: AtomicU64 = AtomicU64::new(0);

/// Locks `mutex`, recovering it if an earlier holder panicked. Every structure behind these
/// locks is kept consistent between statements, so the data is still valid after a panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned: PoisonError<_>| {
        POISON_RECOVERIES.fetch_add(1, Ordering::Relaxed);
        mutex.clear_poison();
        poisoned.into_inner()
    })
}
