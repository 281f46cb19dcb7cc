//! Command line and environment: tini's and dumb-init's flags with their meaning, plus
//! exitwatch-init's own.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::signals::{self, Rewrites};
use crate::status::RemappedCodes;

pub const USAGE: &str = "\
Usage: exitwatch-init [options] [--] COMMAND [ARGS...]

A container init: runs COMMAND as its child, forwards every signal it receives to it, reaps
every orphan (as PID 1, or with -s), and exits with COMMAND's exit code (128 + signal number
if a signal ended it) as soon as COMMAND exits.

  -s                  become a child subreaper (also: TINI_SUBREAPER set)
  -g                  forward signals to the child's process group (also: TINI_KILL_PROCESS_GROUP set)
  -e CODE             exit 0 when the child's exit code is CODE (repeatable)
  -p SIGNAL           receive SIGNAL when the parent process dies (then forwarded)
  -w                  print a line for every orphan reaped
  -v                  diagnostics on stderr (repeatable; also TINI_VERBOSITY=N, DUMB_INIT_DEBUG=1)
  -r, --rewrite S:T   forward signal S as T; T = 0 drops S (repeatable)
  --setsid            run the child in a new session and forward to its group (dumb-init's
                      default, also chosen when this program is invoked as dumb-init)
  -c, --single-child  no new session or group for the child; forward to the child only
                      (also: DUMB_INIT_SETSID=0)
  --exits FD|PATH     one JSON line per exit (the child and every reaped descendant)
  --kill-after MS     after forwarding SIGTERM or SIGINT, SIGKILL whatever is left of the
                      process tree MS later, and exit once it is gone (implies -s)
  --wait-descendants MS
                      after the child exits, wait up to MS for the other descendants (implies -s)
  -h, --help          this help;  -V, --version  the version";

/// How the child is placed relative to the terminal and the init's own group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildPlacement {
    /// tini: a process group of its own, made the terminal's foreground group.
    ProcessGroup,
    /// dumb-init's default: a new session with the terminal as its controlling terminal.
    Session,
    /// dumb-init `-c`: stays in the init's group and session.
    Inherit,
}

/// Where `--exits` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitsTarget {
    Fd(i32),
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub command: Vec<OsString>,
    pub placement: ChildPlacement,
    /// Forward to the child's process group rather than to the child alone.
    pub signal_group: bool,
    pub subreaper: bool,
    pub remapped: RemappedCodes,
    pub parent_death_signal: Option<i32>,
    pub warn_on_reap: bool,
    pub verbosity: u32,
    pub rewrites: Rewrites,
    pub exits: Option<ExitsTarget>,
    pub kill_after_ms: Option<u64>,
    pub wait_descendants_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Config),
    Help,
    Version,
    License,
}

/// A command line that cannot be run, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

/// Parses `args` (without the program name). `invoked_as` is the program name (a
/// `dumb-init` link gets dumb-init's defaults); `env` looks up environment variables.
pub fn parse(
    invoked_as: &str,
    args: &[OsString],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, UsageError> {
    let as_dumb_init = invoked_as.rsplit('/').next() == Some("dumb-init");
    let mut config = Config {
        command: Vec::new(),
        placement: if as_dumb_init {
            ChildPlacement::Session
        } else {
            ChildPlacement::ProcessGroup
        },
        signal_group: env("TINI_KILL_PROCESS_GROUP").is_some(),
        subreaper: env("TINI_SUBREAPER").is_some(),
        remapped: RemappedCodes::default(),
        parent_death_signal: None,
        warn_on_reap: false,
        verbosity: env("TINI_VERBOSITY")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
            .max(u32::from(env("DUMB_INIT_DEBUG").as_deref() == Some("1"))),
        rewrites: Rewrites::default(),
        exits: None,
        kill_after_ms: None,
        wait_descendants_ms: None,
    };
    if env("DUMB_INIT_SETSID").as_deref() == Some("0")
        && config.placement == ChildPlacement::Session
    {
        config.placement = ChildPlacement::Inherit;
    }

    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(text) = arg.to_str() else {
            config.command.push(arg.clone());
            break; // not an option: the command starts here
        };
        if text == "--" {
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            let mut value = || -> Result<String, UsageError> {
                inline
                    .clone()
                    .or_else(|| rest.next().and_then(|v| v.to_str()).map(str::to_string))
                    .ok_or_else(|| UsageError(format!("--{name} needs a value")))
            };
            match name {
                "help" => return Ok(Parsed::Help),
                "version" => return Ok(Parsed::Version),
                "verbose" => config.verbosity += 1,
                "single-child" => config.placement = ChildPlacement::Inherit,
                "setsid" => config.placement = ChildPlacement::Session,
                "subreaper" => config.subreaper = true,
                "rewrite" => config.rewrites.add(&value()?).map_err(UsageError)?,
                "exits" => config.exits = Some(exits_target(&value()?)?),
                "kill-after" => config.kill_after_ms = Some(milliseconds(name, &value()?)?),
                "wait-descendants" => {
                    config.wait_descendants_ms = Some(milliseconds(name, &value()?)?)
                }
                _ => return Err(UsageError(format!("unknown option --{name}"))),
            }
            continue;
        }
        let Some(cluster) = text.strip_prefix('-').filter(|c| !c.is_empty()) else {
            config.command.push(arg.clone());
            break;
        };
        // Short flags may be grouped (-sg) and take a value attached (-e143) or next (-e 143).
        for (at, flag) in cluster.char_indices() {
            let attached = &cluster[at + flag.len_utf8()..];
            let mut value = || -> Result<String, UsageError> {
                if !attached.is_empty() {
                    return Ok(attached.to_string());
                }
                rest.next()
                    .and_then(|v| v.to_str())
                    .map(str::to_string)
                    .ok_or_else(|| UsageError(format!("-{flag} needs a value")))
            };
            match flag {
                'h' => return Ok(Parsed::Help),
                'V' => return Ok(Parsed::Version),
                'l' => return Ok(Parsed::License),
                's' => config.subreaper = true,
                'g' => config.signal_group = true,
                'w' => config.warn_on_reap = true,
                'v' => config.verbosity += 1,
                'c' => config.placement = ChildPlacement::Inherit,
                'e' => {
                    let text = value()?;
                    let code = text.parse::<u8>().map_err(|_| {
                        UsageError(format!("-e takes an exit code from 0 to 255, not {text:?}"))
                    })?;
                    config.remapped.add(code);
                    break;
                }
                'p' => {
                    let text = value()?;
                    let signal = signals::parse(&text).filter(|s| *s != 0).ok_or_else(|| {
                        UsageError(format!("-p takes a signal name or number, not {text:?}"))
                    })?;
                    config.parent_death_signal = Some(signal);
                    break;
                }
                'r' => {
                    config.rewrites.add(&value()?).map_err(UsageError)?;
                    break;
                }
                _ => return Err(UsageError(format!("unknown option -{flag}"))),
            }
        }
    }
    config.command.extend(rest.cloned());
    if config.command.is_empty() {
        return Err(UsageError("no command given".to_string()));
    }
    match config.placement {
        // dumb-init: the child's whole session gets what we forward, and a terminal stop
        // becomes SIGSTOP (the new session's group is orphaned, so the kernel would discard
        // SIGTSTP, SIGTTIN and SIGTTOU sent to it).
        ChildPlacement::Session => {
            config.signal_group = true;
            for stop in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
                config.rewrites.add_default(stop, libc::SIGSTOP);
            }
        }
        // The child shares our group: forwarding to "its group" would signal us too.
        ChildPlacement::Inherit => config.signal_group = false,
        ChildPlacement::ProcessGroup => {}
    }
    // Both options wait for descendants, which only come back to us as a subreaper.
    config.subreaper |= config.kill_after_ms.is_some() || config.wait_descendants_ms.is_some();
    Ok(Parsed::Run(config))
}

fn exits_target(text: &str) -> Result<ExitsTarget, UsageError> {
    if text.is_empty() {
        return Err(UsageError(
            "--exits needs a descriptor number or a path".to_string(),
        ));
    }
    Ok(match text.parse::<i32>() {
        Ok(fd) if fd >= 0 => ExitsTarget::Fd(fd),
        _ => ExitsTarget::Path(PathBuf::from(text)),
    })
}

fn milliseconds(option: &str, text: &str) -> Result<u64, UsageError> {
    text.parse::<u64>().map_err(|_| {
        UsageError(format!(
            "--{option} takes milliseconds (a whole number), not {text:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use exitwatch_core::ExitStatus;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn run_with(invoked_as: &str, list: &[&str], env: &[(&str, &str)]) -> Config {
        let lookup = |name: &str| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        match parse(invoked_as, &args(list), lookup).unwrap() {
            Parsed::Run(config) => config,
            other => panic!("expected a command, got {other:?}"),
        }
    }

    fn run(list: &[&str]) -> Config {
        run_with("exitwatch-init", list, &[])
    }

    #[test]
    fn defaults_are_tini_s() {
        let config = run(&["--", "sleep", "1"]);
        assert_eq!(config.command, args(&["sleep", "1"]));
        assert_eq!(config.placement, ChildPlacement::ProcessGroup);
        assert!(!config.signal_group && !config.subreaper && config.verbosity == 0);
        assert_eq!(config.rewrites.apply(libc::SIGTSTP), libc::SIGTSTP);
    }

    #[test]
    fn tini_flags_grouped_attached_or_separate() {
        let config = run(&["-sgwvv", "-e", "143", "-e3", "-p", "SIGKILL", "--", "x"]);
        assert!(config.subreaper && config.signal_group && config.warn_on_reap);
        assert_eq!(config.verbosity, 2);
        assert_eq!(
            config.remapped.exit_code(ExitStatus::Killed { signal: 15 }),
            0
        );
        assert_eq!(config.remapped.exit_code(ExitStatus::Exited { code: 3 }), 0);
        assert_eq!(config.parent_death_signal, Some(9));
        assert_eq!(run(&["-p15", "x"]).parent_death_signal, Some(15));
    }

    #[test]
    fn tini_environment_variables() {
        let env = [
            ("TINI_SUBREAPER", ""),
            ("TINI_KILL_PROCESS_GROUP", "1"),
            ("TINI_VERBOSITY", "3"),
        ];
        let config = run_with("tini", &["x"], &env);
        assert!(config.subreaper && config.signal_group);
        assert_eq!(config.verbosity, 3);
    }

    #[test]
    fn dumb_init_flags_and_environment() {
        let config = run(&[
            "-r",
            "15:3",
            "--rewrite",
            "1:0",
            "--rewrite=USR1:USR2",
            "-c",
            "x",
        ]);
        assert_eq!(config.rewrites.apply(15), 3);
        assert_eq!(config.rewrites.apply(1), 0);
        assert_eq!(config.rewrites.apply(10), 12);
        assert_eq!(config.placement, ChildPlacement::Inherit);

        let as_dumb_init = run_with("/usr/bin/dumb-init", &["x"], &[("DUMB_INIT_DEBUG", "1")]);
        assert_eq!(as_dumb_init.placement, ChildPlacement::Session);
        assert!(as_dumb_init.signal_group);
        assert_eq!(as_dumb_init.verbosity, 1);
        assert_eq!(as_dumb_init.rewrites.apply(libc::SIGTSTP), libc::SIGSTOP);
        let user_rule = run(&["--setsid", "-r", "20:10", "x"]);
        assert_eq!(user_rule.rewrites.apply(libc::SIGTSTP), libc::SIGUSR1);
        assert_eq!(user_rule.rewrites.apply(libc::SIGTTIN), libc::SIGSTOP);

        let single = run_with("dumb-init", &["x"], &[("DUMB_INIT_SETSID", "0")]);
        assert_eq!(single.placement, ChildPlacement::Inherit);
        assert!(!single.signal_group);
        assert!(
            !run(&["-g", "-c", "x"]).signal_group,
            "-c keeps the child in our group"
        );
    }

    #[test]
    fn own_options() {
        let config = run(&[
            "--exits",
            "3",
            "--kill-after=500",
            "--wait-descendants",
            "100",
            "x",
        ]);
        assert_eq!(config.exits, Some(ExitsTarget::Fd(3)));
        assert_eq!(config.kill_after_ms, Some(500));
        assert_eq!(config.wait_descendants_ms, Some(100));
        assert!(
            config.subreaper,
            "waiting for descendants needs them re-parented to us"
        );
        assert_eq!(
            run(&["--exits", "/tmp/exits.jsonl", "x"]).exits,
            Some(ExitsTarget::Path("/tmp/exits.jsonl".into()))
        );
    }

    #[test]
    fn the_command_starts_at_the_first_non_option_and_keeps_its_own_flags() {
        let config = run(&["-s", "sh", "-c", "exit 3", "--", "-v"]);
        assert_eq!(config.command, args(&["sh", "-c", "exit 3", "--", "-v"]));
        assert_eq!(config.verbosity, 0);
        assert_eq!(run(&["--", "--help"]).command, args(&["--help"]));
        assert_eq!(run(&["-", "x"]).command, args(&["-", "x"]));
    }

    #[test]
    fn help_version_license() {
        let parse_args = |list: &[&str]| parse("exitwatch-init", &args(list), |_| None);
        assert_eq!(parse_args(&["-h"]), Ok(Parsed::Help));
        assert_eq!(parse_args(&["--help"]), Ok(Parsed::Help));
        assert_eq!(parse_args(&["-V"]), Ok(Parsed::Version));
        assert_eq!(parse_args(&["--version"]), Ok(Parsed::Version));
        assert_eq!(parse_args(&["-l"]), Ok(Parsed::License));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let error = |list: &[&str]| match parse("exitwatch-init", &args(list), |_| None) {
            Err(UsageError(message)) => message,
            other => panic!("expected an error for {list:?}, got {other:?}"),
        };
        assert_eq!(error(&[]), "no command given");
        assert_eq!(error(&["-s", "--"]), "no command given");
        assert_eq!(error(&["-x", "y"]), "unknown option -x");
        assert_eq!(error(&["--nope", "y"]), "unknown option --nope");
        assert!(error(&["-e", "256", "y"]).contains("0 to 255"));
        assert!(error(&["-e"]).contains("needs a value"));
        assert!(error(&["-p", "SIGNOPE", "y"]).contains("signal name or number"));
        assert!(error(&["-r", "15", "y"]).contains("invalid signal rewrite"));
        assert!(error(&["--kill-after", "soon", "y"]).contains("milliseconds"));
        assert!(error(&["--exits=", "y"]).contains("descriptor number or a path"));
    }
}
