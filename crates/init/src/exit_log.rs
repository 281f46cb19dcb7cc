//! `--exits`: one JSON line per exit, written to a descriptor or appended to a file.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{SystemTime, UNIX_EPOCH};

use exitwatch_core::sys;
use exitwatch_core::ExitStatus;
use exitwatch_core::Usage;

use crate::cli::ExitsTarget;
use crate::signals;

/// One exit, as the log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRecord {
    pub pid: i32,
    /// The pidfs inode (Linux 6.9+): unique for the boot, unlike the pid.
    pub pidfs_id: Option<u64>,
    pub comm: String,
    pub status: ExitStatus,
    /// The init's main child (otherwise a descendant reaped as an orphan).
    pub main: bool,
    /// From `waitid`: the process's own usage plus that of the children it reaped.
    pub usage: Usage,
    pub time: SystemTime,
}

impl ExitRecord {
    /// The record as one JSON object and a newline.
    pub fn json_line(&self) -> String {
        let (status, code, signal) = match self.status {
            ExitStatus::Exited { code } => ("exited", Some(code), None),
            ExitStatus::Killed { signal } => ("killed", None, Some(signal)),
            ExitStatus::Dumped { signal } => ("dumped", None, Some(signal)),
            ExitStatus::Unknown => ("unknown", None, None),
        };
        let or_null = |value: Option<String>| value.unwrap_or_else(|| "null".to_string());
        let mut line = String::with_capacity(256);
        let _ = writeln!(
            line,
            "{{\"pid\":{},\"pidfsId\":{},\"comm\":{},\"code\":{},\"signal\":{},\"status\":\"{status}\",\
             \"source\":\"waitid\",\"main\":{},\"userCpuUs\":{},\"systemCpuUs\":{},\"maxRssKiB\":{},\"time\":\"{}\"}}",
            self.pid,
            or_null(self.pidfs_id.map(|id| id.to_string())),
            json_string(&self.comm),
            or_null(code.map(|c| c.to_string())),
            or_null(signal.map(|s| json_string(&signals::name(s)))),
            self.main,
            self.usage.user_cpu_us,
            self.usage.system_cpu_us,
            or_null(self.usage.max_rss_kib.map(|kib| kib.to_string())),
            rfc3339_utc(self.time),
        );
        line
    }
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `2026-11-25T19:14:00.123Z`.
fn rfc3339_utc(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Where the lines go. Each line is one `write`, so lines from concurrent writers to the same
/// file (opened for appending) never interleave.
pub struct ExitLog {
    file: std::fs::File,
}

impl ExitLog {
    pub fn open(target: &ExitsTarget) -> io::Result<Self> {
        let file = match target {
            ExitsTarget::Fd(fd) => {
                // The descriptor was handed to us; the child must not keep it open after us.
                sys::set_cloexec(*fd)?;
                // SAFETY: the descriptor is open (set_cloexec succeeded) and is ours from here.
                std::fs::File::from(unsafe { OwnedFd::from_raw_fd(*fd) })
            }
            ExitsTarget::Path(path) => OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o644)
                .open(path)?,
        };
        Ok(ExitLog { file })
    }

    pub fn write(&mut self, record: &ExitRecord) -> io::Result<()> {
        self.file.write_all(record.json_line().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_one_json_line() {
        let record = ExitRecord {
            pid: 42,
            pidfs_id: Some(7),
            comm: "we\"ird\\na\tme\u{1}".to_string(),
            status: ExitStatus::Exited { code: 3 },
            main: true,
            usage: Usage {
                user_cpu_us: 1500,
                system_cpu_us: 250,
                max_rss_kib: Some(2048),
            },
            time: UNIX_EPOCH + Duration::from_millis(1_764_098_040_123),
        };
        assert_eq!(
            record.json_line(),
            "{\"pid\":42,\"pidfsId\":7,\"comm\":\"we\\\"ird\\\\na\\tme\\u0001\",\"code\":3,\"signal\":null,\
             \"status\":\"exited\",\"source\":\"waitid\",\"main\":true,\"userCpuUs\":1500,\"systemCpuUs\":250,\
             \"maxRssKiB\":2048,\"time\":\"2025-11-25T19:14:00.123Z\"}\n"
        );
        let killed = ExitRecord {
            pidfs_id: None,
            status: ExitStatus::Killed { signal: 9 },
            main: false,
            ..record
        };
        let line = killed.json_line();
        assert!(line.contains("\"pidfsId\":null,"), "{line}");
        assert!(
            line.contains("\"code\":null,\"signal\":\"SIGKILL\",\"status\":\"killed\""),
            "{line}"
        );
        assert!(line.contains("\"main\":false"), "{line}");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH + Duration::from_secs(951_782_399)),
            "2000-02-28T23:59:59.000Z"
        );
    }
}
