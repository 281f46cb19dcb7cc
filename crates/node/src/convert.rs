//! Plain JavaScript shapes of the core's types, and argument validation.

use exitwatch_core::{Capabilities, Error, Result, TreeMember, Usage};
use napi_derive::napi;

/// A JavaScript number that must be a pid: an integer in 1..=i32::MAX. The core checks the
/// system's pid_max and the other rules.
pub fn to_pid(value: f64) -> Result<i32> {
    if !value.is_finite() || value.fract() != 0.0 {
        return Err(Error::invalid(format!(
            "{value} is not a process id: pids are positive integers"
        )));
    }
    if value < i32::MIN as f64 || value > i32::MAX as f64 {
        return Err(Error::invalid(format!(
            "{value} is not a process id: it is out of range"
        )));
    }
    Ok(value as i32)
}

#[napi(object)]
pub struct NativeExit {
    /// "watch" or "subscription".
    pub kind: String,
    pub target: i64,
    pub pid: i32,
    pub id: Option<String>,
    pub status: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub source: String,
    pub exited_at_ms: f64,
    pub monotonic_ns: napi::bindgen_prelude::BigInt,
    pub reaped: bool,
    pub orphan: bool,
    pub usage: Option<NativeUsage>,
}

#[napi(object)]
pub struct NativeUsage {
    pub user_cpu_us: f64,
    pub system_cpu_us: f64,
    #[napi(js_name = "maxRssKiB")]
    pub max_rss_kib: Option<f64>,
}

impl From<Usage> for NativeUsage {
    fn from(u: Usage) -> Self {
        NativeUsage {
            user_cpu_us: u.user_cpu_us as f64,
            system_cpu_us: u.system_cpu_us as f64,
            max_rss_kib: u.max_rss_kib.map(|kib| kib as f64),
        }
    }
}

#[napi(object)]
pub struct NativeClaim {
    /// Set when the process already exited during the subscription.
    pub exit: Option<NativeExit>,
    /// Set when it is watched now.
    pub token: Option<i64>,
}

#[napi(object)]
pub struct NativeTreeMember {
    pub pid: i32,
    pub ppid: i32,
    pub command: String,
    /// The watch pinning it (pinTree only).
    pub token: Option<i64>,
}

impl NativeTreeMember {
    pub fn new(member: TreeMember, token: Option<i64>) -> Self {
        NativeTreeMember {
            pid: member.pid,
            ppid: member.ppid,
            command: member.command,
            token,
        }
    }
}

#[napi(object)]
pub struct NativeCapabilities {
    pub kernel: String,
    pub pidfd_open: bool,
    pub pidfd_send_signal: bool,
    pub waitid_pidfd: bool,
    pub pidfd_info_exit: bool,
    pub pidfs_identity: bool,
    pub signalfd: bool,
    #[napi(ts_type = "'pidfd' | 'poll'")]
    pub engine: String,
    pub proc_connector: bool,
}

impl From<&Capabilities> for NativeCapabilities {
    fn from(c: &Capabilities) -> Self {
        NativeCapabilities {
            kernel: c.kernel.clone(),
            pidfd_open: c.pidfd_open,
            pidfd_send_signal: c.pidfd_send_signal,
            waitid_pidfd: c.waitid_pidfd,
            pidfd_info_exit: c.pidfd_info_exit,
            pidfs_identity: c.pidfs_identity,
            signalfd: c.signalfd,
            engine: c.engine.name().to_owned(),
            proc_connector: c.proc_connector,
        }
    }
}
