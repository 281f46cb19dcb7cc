//! Plain JavaScript shapes of the core's types, and argument validation.

use exitwatch_core::{
    Capabilities, Claim, Engine, Error, Event, ExitStatus, PinnedMember, Result, StatusSource,
    Target, TreeMember, Usage,
};
use napi::bindgen_prelude::BigInt;
use napi_derive::napi;

/// A JavaScript number as a pid_t: a whole number in its range. What makes it a pid
/// (positive, below pid_max, not this process) is the core's to check.
pub fn to_pid(value: f64) -> Result<i32> {
    if value.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&value) {
        return Ok(value as i32);
    }
    Err(Error::invalid(format!(
        "{value} is not a process id: it is not a whole number in the range of pid_t"
    )))
}

/// What an exit was delivered for.
#[napi(string_enum = "lowercase")]
pub enum ExitKind {
    Watch,
    Subscription,
}

/// How a process ended.
#[napi(string_enum = "lowercase")]
pub enum ExitStatusKind {
    Exited,
    Killed,
    Dumped,
    Unknown,
}

/// Which kernel interface gave the status (see the core's `StatusSource`).
#[napi(string_enum = "kebab-case")]
pub enum ExitSource {
    Waitid,
    WaitidNowait,
    PidfdInfo,
    ProcStat,
    ProcConnector,
    ChildProcess,
    None,
}

impl From<StatusSource> for ExitSource {
    fn from(source: StatusSource) -> Self {
        match source {
            StatusSource::Waitid => ExitSource::Waitid,
            StatusSource::WaitidNoWait => ExitSource::WaitidNowait,
            StatusSource::PidfdInfo => ExitSource::PidfdInfo,
            StatusSource::ProcStat => ExitSource::ProcStat,
            StatusSource::ProcConnector => ExitSource::ProcConnector,
            StatusSource::ChildProcess => ExitSource::ChildProcess,
            StatusSource::None => ExitSource::None,
        }
    }
}

/// How the monitor thread learns of exits.
#[napi(string_enum = "lowercase")]
pub enum EngineKind {
    Pidfd,
    Poll,
}

impl From<Engine> for EngineKind {
    fn from(engine: Engine) -> Self {
        match engine {
            Engine::Pidfd => EngineKind::Pidfd,
            Engine::Poll => EngineKind::Poll,
        }
    }
}

#[napi(object)]
pub struct NativeExit {
    pub kind: ExitKind,
    /// The watch token or subscription id, per `kind`.
    pub target: i64,
    pub pid: i32,
    pub id: Option<String>,
    pub status: ExitStatusKind,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub source: ExitSource,
    pub exited_at_ms: f64,
    pub monotonic_ns: BigInt,
    pub reaped: bool,
    pub orphan: bool,
    pub usage: Option<NativeUsage>,
}

impl From<Event> for NativeExit {
    fn from(event: Event) -> Self {
        let (kind, target) = match event.target {
            Target::Watch(token) => (ExitKind::Watch, token),
            Target::Subscription(id) => (ExitKind::Subscription, id),
        };
        let exit = event.exit;
        let (status, code, signal) = match exit.status {
            ExitStatus::Exited { code } => (ExitStatusKind::Exited, Some(code), None),
            ExitStatus::Killed { signal } => (ExitStatusKind::Killed, None, Some(signal)),
            ExitStatus::Dumped { signal } => (ExitStatusKind::Dumped, None, Some(signal)),
            ExitStatus::Unknown => (ExitStatusKind::Unknown, None, None),
        };
        NativeExit {
            kind,
            target: target as i64,
            pid: exit.pid,
            id: exit.id.map(|id| id.to_string()),
            status,
            code,
            signal,
            source: exit.source.into(),
            exited_at_ms: epoch_ms(exit.exited_at).unwrap_or(0.0),
            monotonic_ns: BigInt::from(exit.monotonic_ns),
            reaped: exit.reaped,
            orphan: exit.orphan,
            usage: exit.usage.map(Into::into),
        }
    }
}

/// A time as milliseconds since the Unix epoch (None before it).
pub fn epoch_ms(time: std::time::SystemTime) -> Option<f64> {
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64() * 1000.0)
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

/// The outcome of a claim: the process still runs and is watched now, or it already exited
/// during the subscription.
#[napi(discriminant = "state", discriminant_case = "lowercase")]
pub enum NativeClaim {
    Running { token: i64 },
    Exited { exit: NativeExit },
}

impl NativeClaim {
    pub fn new(claim: Claim<u64>, subscription: u64) -> Self {
        match claim {
            Claim::Running(token) => NativeClaim::Running {
                token: token as i64,
            },
            Claim::Exited(exit) => NativeClaim::Exited {
                exit: Event {
                    target: Target::Subscription(subscription),
                    exit,
                }
                .into(),
            },
        }
    }
}

#[napi(object)]
pub struct NativeTreeMember {
    pub pid: i32,
    pub ppid: i32,
    /// Command line, or `[name]` when it has none.
    pub command: String,
}

impl From<TreeMember> for NativeTreeMember {
    fn from(member: TreeMember) -> Self {
        NativeTreeMember {
            pid: member.pid,
            ppid: member.ppid,
            command: member.command,
        }
    }
}

/// A tree member pinned by a watch.
#[napi(object)]
pub struct NativePinnedMember {
    pub member: NativeTreeMember,
    pub token: i64,
}

impl From<PinnedMember> for NativePinnedMember {
    fn from(pinned: PinnedMember) -> Self {
        NativePinnedMember {
            member: pinned.member.into(),
            token: pinned.token as i64,
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
    pub engine: EngineKind,
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
            engine: c.engine.into(),
            proc_connector: c.proc_connector,
        }
    }
}
