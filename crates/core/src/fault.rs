//! Test-only fault injection (feature `fault-injection`): makes the monitor thread panic, or
//! poison the registry lock, on its next wake-up, or hold back after each wake-up; or holds
//! spawns back before they register their child.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::monitor::Monitor;
use crate::shared::Shared;
use crate::sync::lock;

#[derive(Default)]
pub(crate) struct Faults {
    panic_in_loop: AtomicBool,
    poison_registry: AtomicBool,
    spawn_registration_delay_us: AtomicU64,
    wake_up_delay_us: AtomicU64,
}

fn sleep_us(us: &AtomicU64) {
    let us = us.load(Ordering::Acquire);
    if us > 0 {
        std::thread::sleep(Duration::from_micros(us));
    }
}

fn as_us(delay: Duration) -> u64 {
    delay.as_micros().min(u64::MAX as u128) as u64
}

impl Faults {
    /// Called by the monitor thread after each wake-up.
    pub fn fire(&self, shared: &Shared) {
        if self.poison_registry.swap(false, Ordering::AcqRel) {
            let _registry = lock(&shared.registry);
            panic!("injected fault: panic while holding the registry lock");
        }
        if self.panic_in_loop.swap(false, Ordering::AcqRel) {
            panic!("injected fault: panic in the monitor loop");
        }
        sleep_us(&self.wake_up_delay_us);
    }

    /// Called by `Monitor::spawn` between `clone` and the registration of the child.
    pub fn delay_spawn_registration(&self) {
        sleep_us(&self.spawn_registration_delay_us);
    }
}

impl Monitor {
    /// Makes the monitor thread panic on its next wake-up, after it took that wake-up's
    /// readiness reports and before it handled them (they are lost unless re-armed).
    pub fn inject_panic(&self) {
        let faults = &self.shared.faults;
        faults.panic_in_loop.store(true, Ordering::Release);
    }

    /// Makes every spawn wait `delay` after `clone` before it registers its child, so that a
    /// short-lived child is a zombie before it is registered.
    pub fn inject_spawn_registration_delay(&self, delay: Duration) {
        let faults = &self.shared.faults;
        faults
            .spawn_registration_delay_us
            .store(as_us(delay), Ordering::Release);
    }

    /// Makes the monitor thread wait `delay` after each wake-up before it reads the statuses
    /// that woke it (so their owners can reap them meanwhile).
    pub fn inject_wake_up_delay(&self, delay: Duration) {
        let faults = &self.shared.faults;
        faults
            .wake_up_delay_us
            .store(as_us(delay), Ordering::Release);
    }

    /// Makes the monitor thread panic on its next wake-up while holding the registry lock,
    /// poisoning it.
    pub fn inject_poisoned_registry(&self) {
        let faults = &self.shared.faults;
        faults.poison_registry.store(true, Ordering::Release);
    }
}
