//! Starting the main child: its place relative to the terminal, the signal mask it
//! inherits, and the exit codes of a command that cannot be run.

use std::ffi::CString;
use std::io;

use exitwatch_core::sys;

use crate::cli::ChildPlacement;

/// The exit code for a failed `exec`, as shells report it: 127 when the command does not
/// exist, 126 when it exists but cannot be run.
pub fn exec_failure_code(error: &io::Error) -> i32 {
    match error.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => 127,
        _ => 126,
    }
}

/// Forks and execs `argv`. The child gets the signal mask the init had at start (the init
/// blocks everything itself) and keeps every disposition, since the init installs no
/// handler: what was ignored when the init started stays ignored in the child (SIGCHLD,
/// which the init must not ignore, is ignored again in the child if it was).
pub fn spawn(
    argv: &[CString],
    placement: ChildPlacement,
    original_mask: &libc::sigset_t,
    sigchld_was_ignored: bool,
) -> io::Result<libc::pid_t> {
    let pid = sys::fork()?;
    if pid > 0 {
        return Ok(pid);
    }
    // In the child: every signal is still blocked, so taking the terminal cannot stop us
    // with SIGTTOU. Failures to take a terminal are not fatal (there may be none).
    match placement {
        ChildPlacement::ProcessGroup => {
            let _ = sys::set_own_process_group();
            if sys::isatty(libc::STDIN_FILENO) {
                let _ = sys::take_terminal_foreground(libc::STDIN_FILENO);
            }
        }
        ChildPlacement::Session => {
            let _ = sys::new_session();
            if sys::isatty(libc::STDIN_FILENO) {
                let _ = sys::take_controlling_terminal(libc::STDIN_FILENO);
            }
        }
        ChildPlacement::Inherit => {}
    }
    if sigchld_was_ignored {
        let _ = sys::ignore_signal(libc::SIGCHLD);
    }
    let _ = sys::set_signal_mask(original_mask);
    let error = sys::execvp(argv);
    let line = format!(
        "exitwatch-init: cannot run {}: {error}\n",
        argv[0].to_string_lossy()
    );
    // SAFETY: raw write and _exit: the forked child must not run the parent's exit handlers.
    unsafe {
        libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), line.len());
        libc::_exit(exec_failure_code(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_127_and_not_runnable_is_126() {
        let code = |errno| exec_failure_code(&io::Error::from_raw_os_error(errno));
        assert_eq!(code(libc::ENOENT), 127);
        assert_eq!(code(libc::ENOTDIR), 127);
        assert_eq!(code(libc::EACCES), 126);
        assert_eq!(code(libc::ENOEXEC), 126);
        assert_eq!(code(libc::EISDIR), 126);
    }
}
