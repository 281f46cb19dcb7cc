//! What a process cost: its CPU times and peak memory, as the status sources report them.

use std::sync::OnceLock;

/// Resource usage of an exited process, counting the children it reaped itself (what
/// `wait4` reports to a parent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub user_cpu_us: u64,
    pub system_cpu_us: u64,
    /// Peak resident set size in KiB. `None` when the source does not keep it: a zombie's
    /// memory is already freed and `/proc/<pid>/stat` has no high-water mark.
    pub max_rss_kib: Option<u64>,
}

impl Usage {
    /// From the `rusage` that `waitid` fills in.
    pub(crate) fn from_rusage(ru: &libc::rusage) -> Self {
        let us = |t: libc::timeval| t.tv_sec.max(0) as u64 * 1_000_000 + t.tv_usec.max(0) as u64;
        Usage {
            user_cpu_us: us(ru.ru_utime),
            system_cpu_us: us(ru.ru_stime),
            max_rss_kib: Some(ru.ru_maxrss.max(0) as u64),
        }
    }

    /// From CPU times in clock ticks (`/proc/<pid>/stat`).
    pub(crate) fn from_clock_ticks(user_ticks: u64, system_ticks: u64) -> Self {
        let hz = clock_ticks_per_second();
        Usage {
            user_cpu_us: user_ticks * 1_000_000 / hz,
            system_cpu_us: system_ticks * 1_000_000 / hz,
            max_rss_kib: None,
        }
    }
}

/// `sysconf(_SC_CLK_TCK)`, the unit of /proc's CPU times (fixed for the life of the system).
fn clock_ticks_per_second() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    // SAFETY: plain sysconf query.
    *HZ.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        hz if hz > 0 => hz as u64,
        _ => 100,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_clock_ticks_to_microseconds() {
        let hz = clock_ticks_per_second();
        let usage = Usage::from_clock_ticks(hz * 3 / 10, hz);
        assert_eq!(usage.user_cpu_us, 300_000);
        assert_eq!(usage.system_cpu_us, 1_000_000);
        assert_eq!(usage.max_rss_kib, None);
    }

    #[test]
    fn converts_rusage() {
        // SAFETY: rusage is plain old data; all-zero is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        ru.ru_utime.tv_sec = 1;
        ru.ru_utime.tv_usec = 250;
        ru.ru_stime.tv_usec = 40;
        ru.ru_maxrss = 65_536;
        assert_eq!(
            Usage::from_rusage(&ru),
            Usage {
                user_cpu_us: 1_000_250,
                system_cpu_us: 40,
                max_rss_kib: Some(65_536)
            }
        );
    }
}
