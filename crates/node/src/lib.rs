//! exitwatch-node: the napi-rs binding of exitwatch-core. Thin on purpose: it converts types,
//! and gives each Node environment (main thread, each worker) one `NativeChannel` whose
//! exits arrive through one weak ThreadsafeFunction call per batch.

use std::sync::Arc;

use exitwatch_core::{
    Claimed, Error as CoreError, Event, ExitStatus, Inbox, Monitor, Target, WatchOptions,
};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

mod convert;
mod spawn;

use convert::{to_pid, NativeCapabilities, NativeClaim, NativeExit, NativeStats, NativeTreeMember};
use spawn::{NativeSpawnSpec, NativeSpawned};

/// Errors reach JavaScript as `[CODE] message`; the TypeScript layer turns the stable code
/// into a typed `ExitwatchError` (napi-rs sets `err.code` only from its own statuses).
fn js_error(err: CoreError) -> napi::Error {
    napi::Error::new(
        Status::GenericFailure,
        format!("[{}] {}", err.code.as_str(), err.message),
    )
}

fn monitor() -> Result<&'static Monitor> {
    Monitor::global().map_err(js_error)
}

/// No-argument, non-blocking, weak (does not hold the event loop open by itself).
type ReadyCallback = ThreadsafeFunction<(), (), (), Status, false, true>;

/// One Node environment's connection to the monitor: its inbox and its wake-up callback.
#[napi]
pub struct NativeChannel {
    inbox: Arc<Inbox>,
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
            .build_callback(|_| Ok(()))?;
        let on_ready = Arc::new(on_ready);
        let wake = on_ready.clone();
        let inbox = monitor()?.inbox(Some(Box::new(move || {
            // Non-blocking on an unbounded queue: never stalls the monitor thread. A closing
            // environment answers `Closing`, and its exits are simply not needed any more.
            wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
        })));
        Ok(NativeChannel {
            inbox,
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
        let token = monitor()?
            .register(pid, options, &self.inbox)
            .map_err(js_error)?;
        Ok(token as i64)
    }

    /// Starts a child that exitwatch owns and reaps; its exit arrives under the returned
    /// token, like a `watch` with `reap`.
    #[napi]
    pub fn spawn(&self, spec: NativeSpawnSpec) -> Result<NativeSpawned> {
        let spec = spec.to_core().map_err(js_error)?;
        let spawned = monitor()?.spawn(&spec, &self.inbox).map_err(js_error)?;
        Ok(spawned.into())
    }

    /// Stops a watch; its exit is never delivered after this returns.
    #[napi]
    pub fn unwatch(&self, token: i64) -> Result<bool> {
        Ok(monitor()?.unregister(token as u64))
    }

    #[napi]
    pub fn kill(&self, token: i64, signal: i32) -> Result<()> {
        monitor()?.kill(token as u64, signal).map_err(js_error)
    }

    /// Starts a subscription to every exit observed from now on; returns its id.
    #[napi]
    pub fn subscribe(&self) -> Result<i64> {
        let id = monitor()?.subscribe_inbox(&self.inbox).map_err(js_error)?;
        Ok(id as i64)
    }

    /// Ends a subscription synchronously: nothing more is delivered for it.
    #[napi]
    pub fn unsubscribe(&self, id: i64) -> Result<bool> {
        Ok(monitor()?.unsubscribe(id as u64))
    }

    /// The exit of `pid` still queued for the subscription, else a new watch's token.
    #[napi]
    pub fn claim(&self, subscription: i64, pid: f64, reap: bool) -> Result<NativeClaim> {
        let pid = to_pid(pid).map_err(js_error)?;
        let claimed = monitor()?
            .claim(
                subscription as u64,
                pid,
                WatchOptions {
                    reap,
                    owner_reports_exit: false,
                },
                &self.inbox,
            )
            .map_err(js_error)?;
        Ok(match claimed {
            Claimed::Exited(exit) => NativeClaim {
                exit: Some(to_native(Event {
                    target: Target::Subscription(subscription as u64),
                    exit,
                })),
                token: None,
            },
            Claimed::Watching(token) => NativeClaim {
                exit: None,
                token: Some(token as i64),
            },
        })
    }

    /// Pins `roots` and their descendants (watched and stopped); see the core's `pin_tree`.
    #[napi]
    pub fn pin_tree(&self, roots: Vec<f64>) -> Result<Vec<NativeTreeMember>> {
        let roots = roots
            .into_iter()
            .map(to_pid)
            .collect::<exitwatch_core::Result<Vec<i32>>>()
            .map_err(js_error)?;
        let pinned = monitor()?.pin_tree(&roots, &self.inbox).map_err(js_error)?;
        Ok(pinned
            .into_iter()
            .map(|p| NativeTreeMember::new(p.member, Some(p.token as i64)))
            .collect())
    }

    /// Every exit waiting for this environment, oldest first.
    #[napi]
    pub fn drain(&self) -> Vec<NativeExit> {
        self.inbox.drain().into_iter().map(to_native).collect()
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
                Status::GenericFailure,
                format!("could not change the event loop reference (napi status {status})"),
            ));
        }
        self.referenced = referenced;
        Ok(())
    }
}

impl Drop for NativeChannel {
    /// The environment is gone (worker terminated, or garbage collected): stop delivering
    /// to it. Owned processes are still reaped.
    fn drop(&mut self) {
        if let Ok(monitor) = Monitor::global() {
            monitor.close_inbox(&self.inbox);
        }
    }
}

fn to_native(event: Event) -> NativeExit {
    let (kind, target) = match event.target {
        Target::Watch(token) => ("watch", token),
        Target::Subscription(id) => ("subscription", id),
    };
    let exit = event.exit;
    let (status, code, signal) = match exit.status {
        ExitStatus::Exited { code } => ("exited", Some(code), None),
        ExitStatus::Killed { signal } => ("killed", None, Some(signal)),
        ExitStatus::Dumped { signal } => ("dumped", None, Some(signal)),
        ExitStatus::Unknown => ("unknown", None, None),
    };
    NativeExit {
        kind: kind.to_owned(),
        target: target as i64,
        pid: exit.pid,
        id: exit.id.map(|id| id.to_string()),
        status: status.to_owned(),
        code,
        signal,
        source: exit.source.name().to_owned(),
        exited_at_ms: exit
            .exited_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0),
        monotonic_ns: BigInt::from(exit.monotonic_ns),
        reaped: exit.reaped,
        orphan: exit.orphan,
        usage: exit.usage.map(Into::into),
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
    Ok(members
        .into_iter()
        .map(|m| NativeTreeMember::new(m, None))
        .collect())
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
