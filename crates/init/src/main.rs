//! The `exitwatch-init` binary. It defines the C `main` itself: Rust's usual entry point
//! would first set SIGPIPE to "ignore", and the child must inherit the signal dispositions
//! the init was started with.

#![no_main]

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStringExt;

#[no_mangle]
/// # Safety
/// Called by the C runtime only, with its `argc` and `argv`.
pub unsafe extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    let args = (0..argc.max(0) as usize)
        .map(|i| {
            // SAFETY: the C runtime passes `argc` valid NUL-terminated strings in `argv`.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect();
    exitwatch_init::main(args)
}
