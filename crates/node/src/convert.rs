//! Plain JavaScript shapes of the core's types, and argument validation.

use exitwatch_core::{Capabilities, Error, Result, Stats, TreeMember, Usage};
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

#[napi(object)]
pub struct SourceCount {
    pub source: String,
    pub count: f64,
}

#[napi(object)]
pub struct NativeStats {
    pub watched: u32,
    pub exits_observed: f64,
    pub reaped_owned: f64,
    pub reaped_orphans: f64,
    pub unknown_statuses: f64,
    pub by_source: Vec<SourceCount>,
    pub queue_depth: u32,
    pub queue_depth_max: u32,
    pub pending_statuses: u32,
    pub status_retries: f64,
    pub monitor_thread_alive: bool,
    pub monitor_thread_restarts: f64,
    pub wakeups: f64,
    pub last_wakeup_ms: Option<f64>,
    pub subscriptions: u32,
    pub descriptors_in_use: u32,
    pub poison_recoveries: f64,
    pub fallback_exits: f64,
    pub proc_connector_listening: bool,
    pub proc_connector_events: f64,
    pub proc_connector_overruns: f64,
    pub proc_connector_failures: f64,
}

impl From<Stats> for NativeStats {
    fn from(s: Stats) -> Self {
        NativeStats {
            watched: s.watched as u32,
            exits_observed: s.exits_observed as f64,
            reaped_owned: s.reaped_owned as f64,
            reaped_orphans: s.reaped_orphans as f64,
            unknown_statuses: s.unknown_statuses as f64,
            by_source: s
                .by_source
                .iter()
                .map(|(source, count)| SourceCount {
                    source: source.name().to_owned(),
                    count: *count as f64,
                })
                .collect(),
            queue_depth: s.queue_depth as u32,
            queue_depth_max: s.queue_depth_max as u32,
            pending_statuses: s.pending_statuses as u32,
            status_retries: s.status_retries as f64,
            monitor_thread_alive: s.monitor_thread_alive,
            monitor_thread_restarts: s.monitor_thread_restarts as f64,
            wakeups: s.wakeups as f64,
            last_wakeup_ms: s.last_wakeup.and_then(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs_f64() * 1000.0)
            }),
            subscriptions: s.subscriptions as u32,
            descriptors_in_use: s.descriptors_in_use as u32,
            poison_recoveries: s.poison_recoveries as f64,
            fallback_exits: s.fallback_exits as f64,
            proc_connector_listening: s.proc_connector_listening,
            proc_connector_events: s.proc_connector_events as f64,
            proc_connector_overruns: s.proc_connector_overruns as f64,
            proc_connector_failures: s.proc_connector_failures as f64,
        }
    }
}
