//! exitwatch-node: the napi-rs binding of exitwatch-core. Thin on purpose: it converts types,
//! and gives each Node environment (main thread, each worker) one `NativeChannel` whose
//! exits arrive through one weak ThreadsafeFunction call per batch.

use std::sync::Arc;

use exitwatch_core::{Channel, Error as CoreError, ExitStatus, Monitor, WatchOptions};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

mod convert;
mod stats;

use convert::{
    to_pid, NativeCapabilities, NativeClaim, NativeExit, NativePinnedMember, NativeTreeMember,
};
use stats::NativeStats;

/// What the exported functions return: their errors carry a code as a string, which becomes
/// the JavaScript error's `code`.
type Result<T> = napi::Result<T, String>;

/// A core error reaches JavaScript with its stable code (`ESRCH`, …) as `code` and the core's
/// message; the TypeScript layer wraps it in a typed `ExitwatchError`.
fn js_error(err: CoreError) -> napi::Error<String> {
    napi::Error::new(err.code.as_str().to_string(), err.message)
}

/// A failure of napi itself keeps napi's status name as its code.
fn napi_error(err: napi::Error) -> napi::Error<String> {
    napi::Error::new(err.status.as_ref().to_owned(), err.reason)
}

fn monitor() -> Result<&'static Monitor> {
    Monitor::global().map_err(js_error)
}

/// No-argument, non-blocking, weak (does not hold the event loop open by itself).
type ReadyCallback = ThreadsafeFunction<(), (), (), Status, false, true>;

/// One Node environment's connection to the monitor: the core's `Channel`, one method for
/// one method, and its wake-up callback. Dropped when the environment is gone (worker
/// terminated, or garbage collected): nothing is delivered to it any more, and owned
/// processes are still reaped.
#[napi]
pub struct NativeChannel {
    channel: Channel<'static>,
    on_ready: Arc<ReadyCallback>,
    referenced: bool,
}

#[napi]
impl NativeChannel {
    /// `onReady` is called (on this environment's thread) whenever exits are waiting in
    /// `drain()`. Calls are coalesced: one per batch, never one per exit.
    #[napi(constructor)]
    pub fn new(on_ready: Function<(), ()>) -> Result<Self> {
        let on_ready: ReadyCallback = on_ready
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|_| Ok(()))
            .map_err(napi_error)?;
        let on_ready = Arc::new(on_ready);
        let wake = on_ready.clone();
        let channel = monitor()?.channel(Some(Box::new(move || {
            // Non-blocking on an unbounded queue: never stalls the monitor thread. A closing
            // environment answers `Closing`, and its exits are simply not needed any more.
            wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
        })));
        Ok(NativeChannel {
            channel,
            on_ready,
            referenced: false,
        })
    }

    /// Watches `pid`; returns the token its exit will carry. `owner_reports_exit`: a
    /// `ChildProcess` of this process, whose 'exit' is reported with `ownerReportedExit`.
    #[napi]
    pub fn watch(&self, pid: f64, reap: bool, owner_reports_exit: bool) -> Result<i64> {
        let pid = to_pid(pid).map_err(js_error)?;
        let options = WatchOptions {
            reap,
            owner_reports_exit,
        };
        let token = self.channel.watch(pid, options).map_err(js_error)?;
        Ok(token as i64)
    }

    /// Stops a watch; its exit is never delivered after this returns.
    #[napi]
    pub fn unwatch(&self, token: i64) -> Result<bool> {
        Ok(self.channel.unwatch(token as u64))
    }

    #[napi]
    pub fn kill(&self, token: i64, signal: i32) -> Result<()> {
        self.channel.kill(token as u64, signal).map_err(js_error)
    }

    /// Starts a subscription to every exit observed from now on; returns its id.
    #[napi]
    pub fn subscribe(&self) -> Result<i64> {
        let id = self.channel.subscribe().map_err(js_error)?;
        Ok(id as i64)
    }

    /// Ends a subscription synchronously: nothing more is delivered for it.
    #[napi]
    pub fn unsubscribe(&self, id: i64) -> Result<bool> {
        Ok(self.channel.unsubscribe(id as u64))
    }

    /// The exit of `pid` still queued for the subscription, else a new watch's token.
    #[napi]
    pub fn claim(&self, subscription: i64, pid: f64, reap: bool) -> Result<NativeClaim> {
        let pid = to_pid(pid).map_err(js_error)?;
        let claimed = self
            .channel
            .claim(
                subscription as u64,
                pid,
                WatchOptions {
                    reap,
                    owner_reports_exit: false,
                },
            )
            .map_err(js_error)?;
        Ok(NativeClaim::new(claimed, subscription as u64))
    }

    /// Pins `roots` and their descendants (watched and stopped); see the core's `pin_tree`.
    #[napi]
    pub fn pin_tree(&self, roots: Vec<f64>) -> Result<Vec<NativePinnedMember>> {
        let roots = roots
            .into_iter()
            .map(to_pid)
            .collect::<exitwatch_core::Result<Vec<i32>>>()
            .map_err(js_error)?;
        let pinned = self.channel.pin_tree(&roots).map_err(js_error)?;
        Ok(pinned.into_iter().map(Into::into).collect())
    }

    /// Every exit waiting for this environment, oldest first.
    #[napi]
    pub fn drain(&self) -> Vec<NativeExit> {
        self.channel.drain().into_iter().map(Into::into).collect()
    }

    /// Holds the event loop open (something is waiting for an exit) or releases it.
    #[napi]
    pub fn set_referenced(&mut self, env: Env, referenced: bool) -> Result<()> {
        if referenced == self.referenced {
            return Ok(());
        }
        // SAFETY: called on the environment's own thread with its live threadsafe function.
        let status = unsafe {
            if referenced {
                napi::sys::napi_ref_threadsafe_function(env.raw(), self.on_ready.raw())
            } else {
                napi::sys::napi_unref_threadsafe_function(env.raw(), self.on_ready.raw())
            }
        };
        if status != napi::sys::Status::napi_ok {
            return Err(napi::Error::new(
                Status::GenericFailure.as_ref().to_owned(),
                format!("could not change the event loop reference (napi status {status})"),
            ));
        }
        self.referenced = referenced;
        Ok(())
    }
}

#[napi]
pub fn capabilities() -> Result<NativeCapabilities> {
    Ok(monitor()?.capabilities().into())
}

#[napi]
pub fn stats() -> Result<NativeStats> {
    Ok(monitor()?.stats().into())
}

/// Reaps orphans (zombie children nobody claimed) after `grace_ms`; sets
/// PR_SET_CHILD_SUBREAPER unless this process is PID 1.
#[napi]
pub fn enable_orphan_reaping(grace_ms: u32) -> Result<()> {
    monitor()?
        .enable_orphan_reaping(std::time::Duration::from_millis(grace_ms.into()))
        .map_err(js_error)
}

/// Marks a `ChildProcess` child as owned by libuv, so orphan reaping never takes it; its
/// 'exit' is reported with `ownerReportedExit`.
#[napi]
pub fn claim_child(pid: f64) -> Result<()> {
    let pid = to_pid(pid).map_err(js_error)?;
    monitor()?.claim_child(pid, true).map_err(js_error)
}

/// A `ChildProcess` emitted 'exit': libuv's exact status, for an exit no kernel source kept.
#[napi]
pub fn owner_reported_exit(pid: f64, code: Option<i32>, signal: Option<i32>) -> Result<()> {
    let pid = to_pid(pid).map_err(js_error)?;
    let status = match (code, signal) {
        (_, Some(signal)) => ExitStatus::Killed { signal },
        (Some(code), None) => ExitStatus::Exited { code },
        (None, None) => return Ok(()),
    };
    monitor()?.owner_reported_exit(pid, status);
    Ok(())
}

/// True when the terminal on stdin delivers its keyboard signals (Ctrl-C, Ctrl-\\, resize)
/// to `pid` itself: this process is in the terminal's foreground process group and `pid`
/// is in the same group.
#[napi]
pub fn terminal_signals_reach(pid: f64) -> Result<bool> {
    let pid = to_pid(pid).map_err(js_error)?;
    Ok(exitwatch_core::terminal_signals_reach(pid))
}

/// Brackets a synchronous spawn: its child is reaped by the spawn itself.
#[napi]
pub fn suspend_orphan_reaping() -> Result<()> {
    monitor()?.suspend_orphan_reaping();
    Ok(())
}

#[napi]
pub fn resume_orphan_reaping() -> Result<()> {
    monitor()?.resume_orphan_reaping();
    Ok(())
}

/// `pid` and its descendants as seen now.
#[napi]
pub fn descendants(pid: f64) -> Result<Vec<NativeTreeMember>> {
    let pid = to_pid(pid).map_err(js_error)?;
    let members = monitor()?.descendants(pid).map_err(js_error)?;
    Ok(members.into_iter().map(Into::into).collect())
}

/// Node's libuv owns SIGCHLD: the TypeScript layer forwards each one here.
#[napi]
pub fn notify_sigchld() -> Result<()> {
    monitor()?.notify_sigchld();
    Ok(())
}

/// True once orphan reaping is on (in any environment of this process).
#[napi]
pub fn orphan_reaping_enabled() -> Result<bool> {
    Ok(monitor()?.orphan_reaping_enabled())
}

/// Sets PR_SET_CHILD_SUBREAPER without reaping orphans.
#[napi]
pub fn set_child_subreaper() -> Result<()> {
    monitor()?.set_child_subreaper().map_err(js_error)
}
