//! Writes CLOCK_MONOTONIC (ns) and exits at once: the benchmarks' exiting child.
//!   exit-stamp          the stamp goes to stdout
//!   exit-stamp <path>   the stamp goes to <path> (opened before the stamp is taken), so the
//!                       child needs no pipe and every spawn method can run it with `stdio: 'ignore'`
use std::ffi::CString;

fn main() {
    let fd = match std::env::args().nth(1) {
        Some(path) => {
            let path = CString::new(path).expect("a path without NUL");
            // SAFETY: a valid C string; the descriptor is only written once, then the process exits.
            let fd = unsafe {
                libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                    0o600,
                )
            };
            assert!(fd >= 0, "open: {}", std::io::Error::last_os_error());
            fd
        }
        None => 1,
    };
    let stamp = format!("{}\n", exitwatch_bench::monotonic_ns());
    // SAFETY: writes a valid buffer, then exits without running destructors.
    unsafe {
        libc::write(fd, stamp.as_ptr().cast(), stamp.len());
        libc::_exit(0);
    }
}
