//! Typed errors with stable codes and a message that says what to do.
//!
//! An error carries its code (`ErrorCode::as_str`: `ESRCH`, `EINVAL`, … or the name of any
//! other errno) and a message built for the operation that failed; `Display` writes the
//! message alone, so a binding can pass both on as they are.

use std::borrow::Cow;
use std::fmt;
use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No such process (never existed, or already exited and reaped).
    Esrch,
    /// Out of file descriptors (`EMFILE`, or the system-wide `ENFILE`).
    Emfile,
    /// Not allowed (`EPERM` or `EACCES`).
    Eperm,
    /// The kernel lacks a needed feature.
    Enosys,
    /// A bad argument.
    Einval,
    /// Any other errno, named by its symbolic name (`EAGAIN`, …).
    Errno(i32),
}

impl ErrorCode {
    /// The code of an OS error number.
    pub fn from_errno(errno: i32) -> Self {
        match errno {
            libc::ESRCH => ErrorCode::Esrch,
            libc::EMFILE | libc::ENFILE => ErrorCode::Emfile,
            libc::EPERM | libc::EACCES => ErrorCode::Eperm,
            libc::ENOSYS => ErrorCode::Enosys,
            libc::EINVAL => ErrorCode::Einval,
            other => ErrorCode::Errno(other),
        }
    }

    /// The code of a spawn that failed with `errno`: as `from_errno`, except that a denied
    /// execution keeps its own name (`EACCES`, not `EPERM`) so callers can tell it from a
    /// refused uid/gid change.
    pub fn of_spawn_errno(errno: i32) -> Self {
        match errno {
            libc::EACCES => ErrorCode::Errno(libc::EACCES),
            other => ErrorCode::from_errno(other),
        }
    }

    /// The stable code: `ESRCH`, `EMFILE`, `EPERM`, `ENOSYS`, `EINVAL`, or another errno's
    /// symbolic name; `E<number>` for a number Linux does not define.
    pub fn as_str(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            ErrorCode::Esrch => "ESRCH",
            ErrorCode::Emfile => "EMFILE",
            ErrorCode::Eperm => "EPERM",
            ErrorCode::Enosys => "ENOSYS",
            ErrorCode::Einval => "EINVAL",
            ErrorCode::Errno(errno) => match errno_name(errno) {
                Some(name) => name,
                None => return Cow::Owned(format!("E{errno}")),
            },
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// What failed, so that the message speaks of it (of a pid only where there is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// Opening and registering a pidfd (or pinning the start time) for a watch.
    Watch(i32),
    /// Signalling a watched process.
    Kill(i32),
    /// `prctl(PR_SET_CHILD_SUBREAPER)`.
    SetChildSubreaper,
    /// Creating the monitor's own descriptors: the named system call.
    Setup(&'static str),
    /// Starting the monitor thread.
    StartMonitorThread,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Watch(pid) => write!(f, "watch {pid}"),
            Operation::Kill(pid) => write!(f, "kill {pid}"),
            Operation::SetChildSubreaper => f.write_str("prctl(PR_SET_CHILD_SUBREAPER)"),
            Operation::Setup(call) => f.write_str(call),
            Operation::StartMonitorThread => f.write_str("starting the exitwatch monitor thread"),
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

    /// A signal for a process whose exit was already observed (its pid, where still known).
    pub fn exited(pid: Option<i32>) -> Self {
        let process = match pid {
            Some(pid) => format!("process {pid}"),
            None => "the process".to_owned(),
        };
        Error::new(
            ErrorCode::Esrch,
            format!("{process} has already exited; nothing was signalled"),
        )
    }

    /// The typed error of an OS error from `operation`: the errno decides the code, the
    /// operation what the message says. An error without an errno (none of exitwatch's system
    /// calls returns one) is `EIO`.
    pub(crate) fn os(err: &io::Error, operation: Operation) -> Self {
        let errno = err.raw_os_error().unwrap_or(libc::EIO);
        let code = match (errno, operation) {
            // pidfd_open of a thread that is not its group's leader: EINVAL on older kernels,
            // ENOENT on newer ones. Either way the argument is not a process id.
            (libc::ENOENT, Operation::Watch(_)) => ErrorCode::Einval,
            _ => ErrorCode::from_errno(errno),
        };
        let message = match (code, operation) {
            (ErrorCode::Esrch, Operation::Watch(pid) | Operation::Kill(pid)) => format!(
                "{operation}: no process with pid {pid} (it never existed, or it has already exited and been reaped)"
            ),
            (ErrorCode::Emfile, _) => format!(
                "{operation}: out of file descriptors ({err}); every watched process needs one. Raise the limit (ulimit -n, or LimitNOFILE= in a systemd unit) or watch fewer processes"
            ),
            (ErrorCode::Eperm, _) => format!("{operation}: not permitted ({err})"),
            (ErrorCode::Enosys, _) => format!(
                "{operation}: this kernel lacks the system call ({err}); exitwatch needs Linux 5.3 or newer"
            ),
            (ErrorCode::Einval, Operation::Watch(pid)) => format!(
                "{operation}: invalid ({err}); is {pid} a thread id rather than a process id?"
            ),
            (ErrorCode::Einval, Operation::SetChildSubreaper) => format!(
                "{operation}: refused as invalid ({err}); child subreapers need Linux 3.4 or newer, and emulators such as qemu-user do not implement the option"
            ),
            (ErrorCode::Errno(libc::EAGAIN), Operation::StartMonitorThread) => format!(
                "{operation}: no thread could be created ({err}); the process or user reached its thread limit (ulimit -u, kernel.threads-max) or memory ran out"
            ),
            _ => format!("{operation}: {err}"),
        };
        Error::new(code, message)
    }
}

/// `Display` is the message alone; the code is `self.code`.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// The symbolic name of a Linux errno (an alias such as `EWOULDBLOCK` is named by its first
/// spelling, `EAGAIN`).
fn errno_name(errno: i32) -> Option<&'static str> {
    macro_rules! names {
        ($($name:ident),* $(,)?) => {
            match errno {
                $(libc::$name => Some(stringify!($name)),)*
                _ => None,
            }
        };
    }
    names!(
        EPERM,
        ENOENT,
        ESRCH,
        EINTR,
        EIO,
        ENXIO,
        E2BIG,
        ENOEXEC,
        EBADF,
        ECHILD,
        EAGAIN,
        ENOMEM,
        EACCES,
        EFAULT,
        ENOTBLK,
        EBUSY,
        EEXIST,
        EXDEV,
        ENODEV,
        ENOTDIR,
        EISDIR,
        EINVAL,
        ENFILE,
        EMFILE,
        ENOTTY,
        ETXTBSY,
        EFBIG,
        ENOSPC,
        ESPIPE,
        EROFS,
        EMLINK,
        EPIPE,
        EDOM,
        ERANGE,
        EDEADLK,
        ENAMETOOLONG,
        ENOLCK,
        ENOSYS,
        ENOTEMPTY,
        ELOOP,
        ENOMSG,
        EIDRM,
        ECHRNG,
        EL2NSYNC,
        EL3HLT,
        EL3RST,
        ELNRNG,
        EUNATCH,
        ENOCSI,
        EL2HLT,
        EBADE,
        EBADR,
        EXFULL,
        ENOANO,
        EBADRQC,
        EBADSLT,
        EBFONT,
        ENOSTR,
        ENODATA,
        ETIME,
        ENOSR,
        ENONET,
        ENOPKG,
        EREMOTE,
        ENOLINK,
        EADV,
        ESRMNT,
        ECOMM,
        EPROTO,
        EMULTIHOP,
        EDOTDOT,
        EBADMSG,
        EOVERFLOW,
        ENOTUNIQ,
        EBADFD,
        EREMCHG,
        ELIBACC,
        ELIBBAD,
        ELIBSCN,
        ELIBMAX,
        ELIBEXEC,
        EILSEQ,
        ERESTART,
        ESTRPIPE,
        EUSERS,
        ENOTSOCK,
        EDESTADDRREQ,
        EMSGSIZE,
        EPROTOTYPE,
        ENOPROTOOPT,
        EPROTONOSUPPORT,
        ESOCKTNOSUPPORT,
        EOPNOTSUPP,
        EPFNOSUPPORT,
        EAFNOSUPPORT,
        EADDRINUSE,
        EADDRNOTAVAIL,
        ENETDOWN,
        ENETUNREACH,
        ENETRESET,
        ECONNABORTED,
        ECONNRESET,
        ENOBUFS,
        EISCONN,
        ENOTCONN,
        ESHUTDOWN,
        ETOOMANYREFS,
        ETIMEDOUT,
        ECONNREFUSED,
        EHOSTDOWN,
        EHOSTUNREACH,
        EALREADY,
        EINPROGRESS,
        ESTALE,
        EUCLEAN,
        ENOTNAM,
        ENAVAIL,
        EISNAM,
        EREMOTEIO,
        EDQUOT,
        ENOMEDIUM,
        EMEDIUMTYPE,
        ECANCELED,
        ENOKEY,
        EKEYEXPIRED,
        EKEYREVOKED,
        EKEYREJECTED,
        EOWNERDEAD,
        ENOTRECOVERABLE,
        ERFKILL,
        EHWPOISON,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(errno: i32, operation: Operation) -> Error {
        Error::os(&io::Error::from_raw_os_error(errno), operation)
    }

    #[test]
    fn other_errnos_keep_their_name() {
        assert_eq!(
            os(libc::EAGAIN, Operation::Watch(42)).code.as_str(),
            "EAGAIN"
        );
        assert_eq!(
            os(libc::ENOMEM, Operation::Kill(42)).code.as_str(),
            "ENOMEM"
        );
        assert_eq!(
            os(libc::EHWPOISON, Operation::Kill(42)).code.as_str(),
            "EHWPOISON"
        );
        assert_eq!(ErrorCode::Errno(4000).as_str(), "E4000");
    }

    #[test]
    fn the_typed_codes_stay() {
        assert_eq!(os(libc::ESRCH, Operation::Watch(42)).code, ErrorCode::Esrch);
        assert_eq!(
            os(libc::ENFILE, Operation::Watch(42)).code,
            ErrorCode::Emfile
        );
        assert_eq!(os(libc::EACCES, Operation::Kill(42)).code, ErrorCode::Eperm);
        assert_eq!(ErrorCode::from_errno(libc::EINVAL).as_str(), "EINVAL");
    }

    #[test]
    fn a_failed_thread_start_is_not_emfile_unless_it_is() {
        let again = os(libc::EAGAIN, Operation::StartMonitorThread);
        assert_eq!(again.code.as_str(), "EAGAIN");
        assert!(again.message.contains("thread limit"), "{again}");
        let out_of_fds = os(libc::EMFILE, Operation::StartMonitorThread);
        assert_eq!(out_of_fds.code, ErrorCode::Emfile);
    }

    #[test]
    fn messages_speak_of_the_operation() {
        let subreaper = os(libc::EINVAL, Operation::SetChildSubreaper);
        assert_eq!(subreaper.code, ErrorCode::Einval);
        assert!(subreaper
            .message
            .starts_with("prctl(PR_SET_CHILD_SUBREAPER): "));
        for pid_words in ["pid", "process id", "thread id", " 0"] {
            assert!(!subreaper.message.contains(pid_words), "{subreaper}");
        }
        for errno in [libc::EINVAL, libc::ENOENT] {
            let watch = os(errno, Operation::Watch(42));
            assert_eq!(watch.code, ErrorCode::Einval);
            assert!(watch.message.contains("is 42 a thread id"), "{watch}");
        }
        let setup = os(libc::ESRCH, Operation::Setup("signalfd"));
        assert!(!setup.message.contains("pid"), "{setup}");
    }

    #[test]
    fn display_is_the_message() {
        let err = os(libc::EPERM, Operation::Kill(42));
        assert_eq!(err.to_string(), err.message);
        assert_eq!(
            err.message,
            "kill 42: not permitted (Operation not permitted (os error 1))"
        );
    }
}
