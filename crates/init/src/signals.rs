//! Signal names, dumb-init's `-r s:t` rewriting, and what the init does with each signal it
//! receives.

use std::collections::HashMap;

/// Standard signal names by number (1..=31), without the `SIG` prefix.
const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// The highest signal number Linux has.
pub const MAX_SIGNAL: i32 = 64;

/// `SIGTERM`, `SIGRTMIN+2`, or `SIG<n>` for a number with no name.
pub fn name(signal: i32) -> String {
    let rtmin = libc::SIGRTMIN();
    match signal {
        1..=31 => format!("SIG{}", NAMES[signal as usize - 1]),
        s if s == rtmin => "SIGRTMIN".to_string(),
        s if s > rtmin && s <= MAX_SIGNAL => format!("SIGRTMIN+{}", s - rtmin),
        s => format!("SIG{s}"),
    }
}

/// Parses `15`, `TERM`, `SIGTERM`, `sigterm`, `RTMIN+2`. `0` is accepted (it means "none"
/// where a caller allows it).
pub fn parse(text: &str) -> Option<i32> {
    if let Ok(number) = text.parse::<i32>() {
        return (0..=MAX_SIGNAL).contains(&number).then_some(number);
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(index) = NAMES.iter().position(|n| *n == bare) {
        return Some(index as i32 + 1);
    }
    let rtmin = libc::SIGRTMIN();
    let offset = match bare.strip_prefix("RTMIN") {
        Some("") => 0,
        Some(rest) => rest.strip_prefix('+')?.parse::<i32>().ok()?,
        None => return None,
    };
    (rtmin + offset <= MAX_SIGNAL).then_some(rtmin + offset)
}

/// dumb-init's `--rewrite s:t`: signal `s` is forwarded as `t`; `t = 0` drops it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrites(HashMap<i32, i32>);

impl Rewrites {
    /// Adds one `s:t` rule (later rules for the same `s` win, as in dumb-init).
    pub fn add(&mut self, rule: &str) -> Result<(), String> {
        let invalid =
            || format!("invalid signal rewrite {rule:?} (expected s:t, e.g. 15:3 or TERM:QUIT)");
        let (from, to) = rule.split_once(':').ok_or_else(invalid)?;
        let from = parse(from).filter(|s| *s != 0).ok_or_else(invalid)?;
        let to = parse(to).ok_or_else(invalid)?;
        self.0.insert(from, to);
        Ok(())
    }

    /// Adds `from -> to` unless the user rewrote `from` already.
    pub fn add_default(&mut self, from: i32, to: i32) {
        self.0.entry(from).or_insert(to);
    }

    /// The signal to forward for `signal` received; 0 means "do not forward".
    pub fn apply(&self, signal: i32) -> i32 {
        self.0.get(&signal).copied().unwrap_or(signal)
    }
}

/// What to do with one received signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// SIGCHLD: collect exited children.
    Reap,
    /// Send `signal` on; with `stop_self`, then stop this process too (a terminal stop
    /// signal, as dumb-init does, so the shell that started us sees the job stop).
    Forward { signal: i32, stop_self: bool },
    /// Rewritten to 0, or an expected one-time signal from giving up the terminal.
    Drop,
}

/// The forwarding policy: rewriting, and signals to swallow once.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rewrites: Rewrites,
    swallow_once: Vec<i32>,
}

impl Policy {
    pub fn new(rewrites: Rewrites) -> Self {
        Policy {
            rewrites,
            swallow_once: Vec::new(),
        }
    }

    /// The next `signal` received is dropped: giving up a controlling terminal as session
    /// leader makes the kernel send us SIGHUP and SIGCONT, which are not meant for the child.
    pub fn swallow_next(&mut self, signal: i32) {
        self.swallow_once.push(signal);
    }

    pub fn on_signal(&mut self, signal: i32) -> Action {
        if let Some(at) = self.swallow_once.iter().position(|s| *s == signal) {
            self.swallow_once.swap_remove(at);
            return Action::Drop;
        }
        if signal == libc::SIGCHLD {
            return Action::Reap;
        }
        let stop_self = matches!(signal, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU);
        match self.rewrites.apply(signal) {
            0 => Action::Drop,
            forwarded => Action::Forward {
                signal: forwarded,
                stop_self,
            },
        }
    }
}

/// A signal asking the process to stop, after which `--kill-after` starts counting.
pub fn is_stop_request(signal: i32) -> bool {
    matches!(signal, libc::SIGTERM | libc::SIGINT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for signal in 1..=MAX_SIGNAL {
            let name = name(signal);
            if signal < 32 || signal >= libc::SIGRTMIN() {
                assert_eq!(parse(&name), Some(signal), "{name}");
            }
        }
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGRTMIN() + 2), "SIGRTMIN+2");
        assert_eq!(parse("term"), Some(15));
        assert_eq!(parse("USR1"), Some(10));
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("0"), Some(0));
        for bad in ["65", "-1", "SIGFOO", "RTMIN+99", "RTMIN2", ""] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn rewrites_like_dumb_init() {
        let mut rewrites = Rewrites::default();
        rewrites.add("15:3").unwrap();
        rewrites.add("SIGHUP:0").unwrap();
        rewrites.add("USR1:USR2").unwrap();
        rewrites.add("USR1:WINCH").unwrap(); // later rule wins
        assert_eq!(rewrites.apply(15), 3);
        assert_eq!(rewrites.apply(1), 0);
        assert_eq!(rewrites.apply(10), 28);
        assert_eq!(rewrites.apply(2), 2);
        rewrites.add_default(15, 9);
        rewrites.add_default(20, 19);
        assert_eq!(rewrites.apply(15), 3, "a user rule beats a default");
        assert_eq!(rewrites.apply(20), 19);
        for bad in ["15", "0:3", "15:99", "x:1", ":", "15:3:1"] {
            assert!(Rewrites::default().add(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_forwards_reaps_drops_and_stops_itself_on_terminal_stops() {
        let mut rewrites = Rewrites::default();
        rewrites.add("HUP:0").unwrap();
        let mut policy = Policy::new(rewrites);
        assert_eq!(policy.on_signal(libc::SIGCHLD), Action::Reap);
        assert_eq!(policy.on_signal(libc::SIGHUP), Action::Drop);
        assert_eq!(
            policy.on_signal(libc::SIGUSR1),
            Action::Forward {
                signal: libc::SIGUSR1,
                stop_self: false
            }
        );
        assert_eq!(
            policy.on_signal(libc::SIGTSTP),
            Action::Forward {
                signal: libc::SIGTSTP,
                stop_self: true
            }
        );
        policy.swallow_next(libc::SIGCONT);
        assert_eq!(policy.on_signal(libc::SIGCONT), Action::Drop);
        assert_eq!(
            policy.on_signal(libc::SIGCONT),
            Action::Forward {
                signal: libc::SIGCONT,
                stop_self: false
            },
            "swallowed once only"
        );
    }
}
