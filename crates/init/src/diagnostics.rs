//! Diagnostics on stderr: silent by default, one line per event with `-v`.

use std::io::Write;

pub struct Diagnostics {
    verbose: bool,
}

impl Diagnostics {
    pub fn new(verbosity: u32) -> Self {
        Diagnostics {
            verbose: verbosity > 0,
        }
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// A line shown with `-v` only.
    pub fn info(&self, message: impl FnOnce() -> String) {
        if self.verbose {
            Self::always(&message());
        }
    }

    /// A line shown whatever the verbosity (errors, and what `-w` asks for).
    pub fn always(message: &str) {
        // One write per line; a closed stderr is not worth dying for.
        let _ = std::io::stderr().write_all(format!("exitwatch-init: {message}\n").as_bytes());
    }
}
