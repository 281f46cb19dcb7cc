//! The native floor: a plain pidfd + epoll loop, measured the same way as exitwatch.
//!   pidfd-floor latency <samples> <idle children>   → {"latencyNs":[...]}
//!   pidfd-floor storm <children>                     → {"ms":..,"received":..}

use std::io::Read;
use std::process::{Command, Stdio};

use exitwatch_bench::{idle_children, kill_all, monotonic_ns, pidfd_open, Epoll};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| {
        args.get(i)
            .and_then(|s| s.parse::<usize>().ok())
            .expect("a number")
    };
    match args.get(1).map(String::as_str) {
        Some("latency") => latency(number(2), number(3), &args[4]),
        Some("storm") => storm(number(2)),
        _ => panic!("usage: pidfd-floor latency <samples> <idle> <exit-stamp path> | storm <n>"),
    }
}

fn latency(samples: usize, idle: usize, stamper: &str) {
    let epoll = Epoll::default();
    let mut idlers = idle_children(idle);
    let idle_fds: Vec<_> = idlers.iter().map(|c| pidfd_open(c.id())).collect();
    for (i, fd) in idle_fds.iter().enumerate() {
        epoll.add(fd, i as u64 + 1);
    }
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let mut child = Command::new(stamper)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let fd = pidfd_open(child.id());
        epoll.add(&fd, 0);
        while !epoll.wait(8).contains(&0) {}
        let notified = monotonic_ns();
        let mut text = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let stamp: u64 = text.trim().parse().unwrap();
        latencies.push(notified.saturating_sub(stamp));
        epoll.remove(&fd);
        child.wait().unwrap();
    }
    kill_all(&mut idlers);
    println!("{{\"latencyNs\":{latencies:?}}}");
}

fn storm(count: usize) {
    let epoll = Epoll::default();
    let mut children = idle_children(count);
    let fds: Vec<_> = children.iter().map(|c| pidfd_open(c.id())).collect();
    for (i, fd) in fds.iter().enumerate() {
        epoll.add(fd, i as u64);
    }
    let started = monotonic_ns();
    for fd in &fds {
        // SAFETY: signals the process the pidfd names.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                std::os::fd::AsRawFd::as_raw_fd(fd),
                libc::SIGKILL,
                0,
                0,
            )
        };
    }
    let mut seen = vec![false; count];
    let mut received = 0;
    while received < count {
        for key in epoll.wait(1024) {
            let i = key as usize;
            if !seen[i] {
                seen[i] = true;
                received += 1;
                epoll.remove(&fds[i]);
            }
        }
    }
    let ms = (monotonic_ns() - started) as f64 / 1e6;
    kill_all(&mut children);
    println!("{{\"ms\":{ms},\"received\":{received}}}");
}
