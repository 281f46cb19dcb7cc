//! Typed errors with stable codes and a message that says what to do.

use std::fmt;
use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No such process (never existed, or already exited and reaped).
    Esrch,
    /// Out of file descriptors.
    Emfile,
    /// Not allowed.
    Eperm,
    /// The kernel lacks a needed feature.
    Enosys,
    /// A bad argument.
    Einval,
    /// A file or directory to spawn with does not exist.
    Enoent,
    /// Permission to execute the file, or to enter the working directory, was denied.
    Eacces,
    /// The file is not in an executable format (and has no `#!` line).
    Enoexec,
    /// The arguments and environment of a spawn are too large.
    E2big,
    /// A path component is not a directory.
    Enotdir,
    /// Out of processes (`RLIMIT_NPROC`, `pids.max`) or kernel memory for a new process.
    Eagain,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Esrch => "ESRCH",
            ErrorCode::Emfile => "EMFILE",
            ErrorCode::Eperm => "EPERM",
            ErrorCode::Enosys => "ENOSYS",
            ErrorCode::Einval => "EINVAL",
            ErrorCode::Enoent => "ENOENT",
            ErrorCode::Eacces => "EACCES",
            ErrorCode::Enoexec => "ENOEXEC",
            ErrorCode::E2big => "E2BIG",
            ErrorCode::Enotdir => "ENOTDIR",
            ErrorCode::Eagain => "EAGAIN",
        }
    }

    /// The code of a spawn that failed with `errno`. Errnos without a code of their own
    /// are `EINVAL`, with the system's wording in the message.
    pub fn of_spawn_errno(errno: i32) -> ErrorCode {
        match errno {
            libc::ENOENT => ErrorCode::Enoent,
            libc::EACCES => ErrorCode::Eacces,
            libc::ENOEXEC => ErrorCode::Enoexec,
            libc::E2BIG => ErrorCode::E2big,
            libc::ENOTDIR => ErrorCode::Enotdir,
            libc::EAGAIN | libc::ENOMEM => ErrorCode::Eagain,
            libc::EPERM => ErrorCode::Eperm,
            libc::EMFILE | libc::ENFILE => ErrorCode::Emfile,
            libc::ENOSYS => ErrorCode::Enosys,
            _ => ErrorCode::Einval,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Einval, message)
    }

    pub fn exited(pid: i32) -> Self {
        Error::new(
            ErrorCode::Esrch,
            format!("process {pid} has already exited; nothing was signalled"),
        )
    }

    /// Maps an OS error from an operation on `pid` to a typed error.
    pub fn from_io(err: &io::Error, pid: i32, operation: &str) -> Self {
        let code = err.raw_os_error().unwrap_or(0);
        match code {
            libc::ESRCH => Error::new(
                ErrorCode::Esrch,
                format!("{operation}: no process with pid {pid} (it never existed, or it has already exited and been reaped)"),
            ),
            libc::EMFILE | libc::ENFILE => Error::new(
                ErrorCode::Emfile,
                format!("{operation} {pid}: out of file descriptors ({err}); every watched process needs one. Raise the limit (ulimit -n, or LimitNOFILE= in a systemd unit) or watch fewer processes"),
            ),
            libc::EPERM | libc::EACCES => Error::new(
                ErrorCode::Eperm,
                format!("{operation} {pid}: not permitted ({err})"),
            ),
            libc::ENOSYS => Error::new(
                ErrorCode::Enosys,
                format!("{operation}: this kernel lacks the system call ({err}); exitwatch needs Linux 5.3 or newer"),
            ),
            libc::EINVAL => Error::new(
                ErrorCode::Einval,
                format!("{operation} {pid}: invalid ({err}); is {pid} a thread id rather than a process id?"),
            ),
            _ => Error::new(ErrorCode::Einval, format!("{operation} {pid}: {err}")),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
