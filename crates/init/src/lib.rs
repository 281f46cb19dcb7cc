//! exitwatch-init: a container init over exitwatch's kernel layer. It accepts tini's and
//! dumb-init's flags with their meaning, forwards every signal it receives to its child,
//! reaps every orphan at once (as PID 1 or subreaper), and can log every exit as JSON.

pub mod cli;
pub mod diagnostics;
pub mod exit_log;
pub mod signals;
pub mod spawn;
pub mod status;
pub mod supervisor;
pub mod tree;

use std::ffi::OsString;

use cli::{Parsed, UsageError};
use diagnostics::Diagnostics;

/// Runs the init with `args` (program name first); returns the process's exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let invoked_as = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rest = args.get(1..).unwrap_or_default();
    match cli::parse(&invoked_as, rest, |name| std::env::var(name).ok()) {
        Ok(Parsed::Help) => println!("{}", cli::USAGE),
        Ok(Parsed::Version) => println!("exitwatch-init {}", env!("CARGO_PKG_VERSION")),
        Ok(Parsed::License) => println!("exitwatch-init is released under the MIT license."),
        Err(UsageError(message)) => {
            Diagnostics::always(&format!("{message} (see exitwatch-init --help)"));
            return 2;
        }
        Ok(Parsed::Run(config)) => {
            return match supervisor::start(config) {
                Ok(supervisor) => i32::from(supervisor.run()),
                Err(error) => {
                    Diagnostics::always(&format!("cannot start: {error}"));
                    1
                }
            }
        }
    }
    0
}
