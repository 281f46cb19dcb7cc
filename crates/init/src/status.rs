//! From a child's exit status to the init's own exit code, and to words.

use exitwatch_core::ExitStatus;

use crate::signals;

/// Exit codes that tini's `-e CODE` turns into 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemappedCodes([u64; 4]);

impl RemappedCodes {
    pub fn add(&mut self, code: u8) {
        self.0[code as usize / 64] |= 1 << (code % 64);
    }

    /// The init's exit code for the main child's status: its code, or 128 + the signal that
    /// ended it (as a shell reports it), then 0 if that code was given to `-e`.
    pub fn exit_code(&self, status: ExitStatus) -> u8 {
        let code = match status {
            ExitStatus::Exited { code } => code,
            ExitStatus::Killed { signal } | ExitStatus::Dumped { signal } => 128 + signal,
            // A child we reaped ourselves always has a status; kept total for safety.
            ExitStatus::Unknown => 1,
        } as u8;
        if self.0[code as usize / 64] & (1 << (code % 64)) != 0 {
            0
        } else {
            code
        }
    }
}

/// `exited with code 3`, `killed by SIGTERM`, `dumped by SIGSEGV`.
pub fn describe(status: ExitStatus) -> String {
    match status {
        ExitStatus::Exited { code } => format!("exited with code {code}"),
        ExitStatus::Killed { signal } => format!("killed by {}", signals::name(signal)),
        ExitStatus::Dumped { signal } => format!("dumped by {}", signals::name(signal)),
        ExitStatus::Unknown => "exited (status unknown)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_codes_and_signals_like_a_shell_and_remaps_with_e() {
        let mut remapped = RemappedCodes::default();
        assert_eq!(remapped.exit_code(ExitStatus::Exited { code: 3 }), 3);
        assert_eq!(remapped.exit_code(ExitStatus::Killed { signal: 15 }), 143);
        assert_eq!(remapped.exit_code(ExitStatus::Dumped { signal: 11 }), 139);
        remapped.add(143);
        remapped.add(3);
        assert_eq!(remapped.exit_code(ExitStatus::Killed { signal: 15 }), 0);
        assert_eq!(remapped.exit_code(ExitStatus::Exited { code: 3 }), 0);
        assert_eq!(remapped.exit_code(ExitStatus::Exited { code: 4 }), 4);
        assert_eq!(remapped.exit_code(ExitStatus::Killed { signal: 9 }), 137);
    }

    #[test]
    fn describes_statuses() {
        assert_eq!(
            describe(ExitStatus::Exited { code: 4 }),
            "exited with code 4"
        );
        assert_eq!(
            describe(ExitStatus::Killed { signal: 15 }),
            "killed by SIGTERM"
        );
        assert_eq!(
            describe(ExitStatus::Dumped { signal: 6 }),
            "dumped by SIGABRT"
        );
    }
}
