//! The floor for exits of processes that are not ours: the same workload as
//! `bench/foreign-cost.mjs` (a shell or a perl loop starts N `sleep`s and reaps them at once,
//! or a shell never does),
//! handled by a bare thread that makes only the system calls no monitor can do without —
//! its share of `epoll_wait`, reading the status, closing the pidfd — measured the same way
//! (that thread's CPU time, the clock its schedstat shows).
//!   foreign-floor <n> <prompt|reaper|never> [proc]   → {"exits":..,"floorCpuUsPerExit":..,"exact":..}
//! prompt, reaper: the pidfds are registered for the reap only (EPOLLHUP), then PIDFD_INFO_EXIT;
//! never, or `proc` (the floor without PIDFD_INFO_EXIT): for the exit (EPOLLIN), then one
//! open + read + close of /proc/<pid>/stat (which fails once the owner reaped: not exact).

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::{Command, Stdio};

use exitwatch_bench::{pidfd_open, Epoll};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(4000);
    let owner = args.get(2).map(String::as_str).unwrap_or("prompt");
    let from_proc = owner == "never" || args.get(3).map(String::as_str) == Some("proc");
    // The same owners as bench/foreign-cost.mjs.
    let (program, script) = match owner {
        "reaper" => ("perl", format!("$|=1; for (1..{count}) {{ my $p = fork; if (!$p) {{ exec 'sleep', '100000'; exit 1 }} print \"$p\\n\" }} while (wait() != -1) {{}} sleep 100000")),
        "never" => ("sh", format!("for i in $(seq {count}); do sleep 100000 & echo $!; done; exec sleep 100000")),
        _ => ("sh", format!("for i in $(seq {count}); do sleep 100000 & echo $!; done; while wait; do :; done; sleep 100000")),
    };
    let flag = if program == "perl" { "-e" } else { "-c" };
    let mut owner = Command::new(program)
        .arg(flag)
        .arg(script)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the owner");
    let mut lines = BufReader::new(owner.stdout.take().unwrap()).lines();
    let pids: Vec<i32> = (0..count)
        .map(|_| lines.next().unwrap().unwrap().trim().parse().unwrap())
        .collect();
    let pidfds: Vec<OwnedFd> = pids.iter().map(|&pid| pidfd_open(pid as u32)).collect();
    let epoll = Epoll::default();
    let interest = if from_proc {
        libc::EPOLLIN
    } else {
        libc::EPOLLHUP
    };
    for (i, fd) in pidfds.iter().enumerate() {
        epoll.add_with(fd, i as u64, (interest | libc::EPOLLONESHOT) as u32);
    }
    let raw: Vec<RawFd> = pidfds.iter().map(AsRawFd::as_raw_fd).collect();

    // The waiter closes the pidfds: they must not be closed twice.
    let raw_owned: Vec<RawFd> = pidfds
        .into_iter()
        .map(std::os::fd::IntoRawFd::into_raw_fd)
        .collect();
    let waiter = std::thread::spawn(move || {
        // Blocked in epoll_wait until the first exit: nothing else runs on this thread.
        let before = thread_cpu_ns();
        let mut exact = 0;
        let mut done = 0;
        let mut path = [0u8; 32];
        // Wall time inside the status reads and the closes (CLOCK_MONOTONIC is read without a
        // system call, so timing them costs next to nothing).
        let (mut status_ns, mut close_ns) = (0, 0);
        while done < count {
            for key in epoll.wait(1024) {
                let i = key as usize;
                let started = monotonic_ns();
                let status = if from_proc {
                    zombie_stat(pids[i], &mut path)
                } else {
                    exit_info(raw[i])
                };
                let read = monotonic_ns();
                exact += usize::from(status.is_some());
                // SAFETY: closes a pidfd this thread owns, once.
                unsafe { libc::close(raw[i]) };
                close_ns += monotonic_ns() - read;
                status_ns += read - started;
                done += 1;
            }
        }
        (exact, thread_cpu_ns() - before, status_ns, close_ns)
    });
    for &fd in &raw_owned {
        // SAFETY: signals the process the pidfd names.
        unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd, libc::SIGKILL, 0, 0) };
    }
    let (exact, cpu_ns, status_ns, close_ns) = waiter.join().unwrap();
    let _ = owner.kill();
    let _ = owner.wait();
    let per_exit_us = |ns: u64| ns as f64 / 1000.0 / count as f64;
    println!(
        "{{\"exits\":{count},\"floorCpuUsPerExit\":{},\"statusReadUsPerExit\":{},\"pidfdCloseUsPerExit\":{},\"exact\":{exact}}}",
        per_exit_us(cpu_ns),
        per_exit_us(status_ns),
        per_exit_us(close_ns)
    );
}

fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time of the calling thread (its `sum_exec_runtime`, schedstat's first field).
fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `PIDFD_GET_INFO` with `PIDFD_INFO_EXIT`: the wait status of a reaped process.
fn exit_info(pidfd: RawFd) -> Option<i32> {
    const PIDFD_INFO_EXIT: u64 = 1 << 3;
    // struct pidfd_info up to exit_code: mask, cgroupid, then 12 u32 (exit_code last).
    #[repr(C)]
    struct Info {
        mask: u64,
        cgroupid: u64,
        ids: [u32; 11],
        exit_code: i32,
    }
    let mut info = Info {
        mask: PIDFD_INFO_EXIT,
        cgroupid: 0,
        ids: [0; 11],
        exit_code: 0,
    };
    let request = (3u64 << 30) | ((std::mem::size_of::<Info>() as u64) << 16) | (0xFF << 8) | 11;
    // SAFETY: a properly sized, writable pidfd_info.
    let ret = unsafe { libc::ioctl(pidfd, request as _, &mut info) };
    (ret == 0 && info.mask & PIDFD_INFO_EXIT != 0).then_some(info.exit_code)
}

/// The wait status of a zombie from `/proc/<pid>/stat` (field 52): open, one read, close.
fn zombie_stat(pid: i32, path: &mut [u8; 32]) -> Option<i32> {
    use std::io::Write;
    write!(std::io::Cursor::new(&mut path[..]), "/proc/{pid}/stat\0").ok()?;
    // SAFETY: a NUL-terminated path in a valid buffer.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut buffer = [0u8; 2048];
    // SAFETY: reads into a valid buffer; then closes the descriptor opened above.
    let n = unsafe {
        let n = libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len());
        libc::close(fd);
        n
    };
    let text = std::str::from_utf8(&buffer[..usize::try_from(n).ok()?]).ok()?;
    text.trim_end().rsplit(' ').next()?.parse().ok()
}
