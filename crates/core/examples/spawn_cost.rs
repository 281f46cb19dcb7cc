//! Time spent in the spawning call, by the size of the parent's touched heap:
//! `Monitor::spawn` against `std::process::Command::spawn` (glibc `posix_spawn`) and a plain
//! `fork()` + `execve` (what libuv does on Linux). Each spawns `/bin/true` and waits for it.
//!
//! `cargo run --release -p exitwatch-core --example spawn_cost -- [MiB ...]` (default: 0 1024)

use std::time::{Duration, Instant};

use exitwatch_core::{Monitor, SpawnSpec, Stdio, Target};

const SPAWNS: usize = 200;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a size in MiB"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![0, 1024]
    } else {
        sizes
    };
    let monitor = Monitor::global().expect("monitor");
    println!("spawning call, p50 / p99 of {SPAWNS} spawns of /bin/true");
    for mib in sizes {
        let heap = touched_heap(mib);
        let rss = rss_mib();
        let exitwatch = measure(|| {
            let inbox = monitor.inbox(None);
            let mut spec = SpawnSpec::new("/bin/true");
            spec.stdio = vec![Stdio::Ignore; 3];
            let started = Instant::now();
            let spawned = monitor.spawn(&spec, &inbox).expect("spawn");
            let took = started.elapsed();
            while inbox
                .recv_timeout(Duration::from_secs(10))
                .map(|e| e.target)
                != Some(Target::Watch(spawned.token))
            {}
            took
        });
        let command = measure(|| {
            let started = Instant::now();
            let mut child = std::process::Command::new("/bin/true")
                .spawn()
                .expect("spawn");
            let took = started.elapsed();
            child.wait().unwrap();
            took
        });
        let fork = measure(fork_exec_true);
        println!(
            "RSS {rss:>5} MiB | exitwatch spawn {} | Command (posix_spawn) {} | fork+exec {}",
            exitwatch, command, fork
        );
        drop(heap);
    }
}

/// `mib` MiB allocated and written to, so every page is mapped.
fn touched_heap(mib: usize) -> Vec<u8> {
    let mut heap = vec![0u8; mib << 20];
    for page in heap.chunks_mut(4096) {
        page[0] = 1;
    }
    heap
}

fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

fn measure(mut once: impl FnMut() -> Duration) -> String {
    let mut times: Vec<Duration> = (0..SPAWNS).map(|_| once()).collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:7.3} / {:7.3} ms",
        ms(times[SPAWNS / 2]),
        ms(times[SPAWNS * 99 / 100])
    )
}

fn fork_exec_true() -> Duration {
    let path = c"/bin/true";
    let argv = [path.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    let started = Instant::now();
    // SAFETY: the child only calls async-signal-safe execve and _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    let took = started.elapsed();
    let mut status = 0;
    // SAFETY: our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    took
}
