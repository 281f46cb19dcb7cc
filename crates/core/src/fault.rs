//! Test-only fault injection (feature `fault-injection`): makes the monitor thread panic, or
//! poison the registry lock, on its next wake-up.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::monitor::Monitor;
use crate::shared::Shared;
use crate::sync::lock;

#[derive(Default)]
pub(crate) struct Faults {
    panic_in_loop: AtomicBool,
    poison_registry: AtomicBool,
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
    }
}

impl Monitor {
    /// Makes the monitor thread panic on its next wake-up, after it took that wake-up's
    /// readiness reports and before it handled them (they are lost unless re-armed).
    pub fn inject_panic(&self) {
        let faults = &self.shared.faults;
        faults.panic_in_loop.store(true, Ordering::Release);
    }

    /// Makes the monitor thread panic on its next wake-up while holding the registry lock,
    /// poisoning it.
    pub fn inject_poisoned_registry(&self) {
        let faults = &self.shared.faults;
        faults.poison_registry.store(true, Ordering::Release);
    }
}
