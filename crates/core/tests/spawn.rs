//! `Monitor::spawn` with real processes: exact statuses, stdio, environment, sessions, typed
//! errors that leave nothing behind, and a child that inherits nothing it was not given.
//! The tests run one at a time (they count this process's descriptors and zombies).

mod common;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::*;
use exitwatch_core::{
    Channel, ErrorCode, ExitInfo, ExitStatus, Monitor, SpawnSpec, Spawned, Stdio,
};

fn monitor() -> &'static Monitor {
    Monitor::global().expect("monitor")
}

/// One test at a time: descriptor and zombie counts are process-wide.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn sh_spec(script: &str, stdio: Vec<Stdio>) -> SpawnSpec {
    let mut spec = SpawnSpec::new("sh");
    spec.args = vec!["-c".into(), script.into()];
    spec.stdio = stdio;
    spec
}

fn spawn(spec: &SpawnSpec) -> (Spawned, Channel<'static>) {
    let channel = monitor().channel(None);
    let spawned = channel.spawn(spec).expect("spawn");
    (spawned, channel)
}

fn run(spec: &SpawnSpec) -> (ExitInfo, Vec<Option<OwnedFd>>) {
    let (spawned, channel) = spawn(spec);
    (wait_for_watch(&channel, spawned.token), spawned.fds)
}

fn file(fd: Option<OwnedFd>) -> std::fs::File {
    std::fs::File::from(fd.expect("a pipe"))
}

fn read_all(fd: Option<OwnedFd>) -> String {
    let mut text = String::new();
    file(fd).read_to_string(&mut text).unwrap();
    text
}

fn descriptor_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The descriptor numbers process `pid` holds, sorted as strings.
fn descriptors_of(pid: i32) -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    fds
}

fn proc_stat_fields(pid: i32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split_whitespace().map(str::to_owned).collect()
}

fn status_field(pid: i32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn exit_code_is_exact_and_the_child_is_reaped() {
    let _serial = serial();
    let (exit, _) = run(&sh_spec("exit 42", vec![Stdio::Ignore; 3]));
    assert_eq!(exit.status, ExitStatus::Exited { code: 42 });
    assert!(exit.reaped && !exit.orphan, "{exit:?}");
    assert!(zombie_children().is_empty());
}

#[test]
fn a_signal_is_exact_and_kill_reaches_the_child() {
    let _serial = serial();
    let mut spec = SpawnSpec::new("sleep");
    spec.args = vec!["30".into()];
    let (spawned, channel) = spawn(&spec);
    channel.kill(spawned.token, libc::SIGTERM).unwrap();
    let exit = wait_for_watch(&channel, spawned.token);
    assert_eq!(
        exit.status,
        ExitStatus::Killed {
            signal: libc::SIGTERM
        }
    );
    assert_eq!(exit.pid, spawned.pid);
}

#[test]
fn pipes_carry_stdin_stdout_and_stderr() {
    let _serial = serial();
    let spec = sh_spec(
        "read line; echo \"out:$line\"; echo \"err:$line\" >&2",
        vec![Stdio::Pipe; 3],
    );
    let (spawned, channel) = spawn(&spec);
    let mut fds = spawned.fds.into_iter();
    let mut stdin = file(fds.next().unwrap());
    stdin.write_all(b"hello\n").unwrap();
    drop(stdin);
    assert_eq!(read_all(fds.next().unwrap()), "out:hello\n");
    assert_eq!(read_all(fds.next().unwrap()), "err:hello\n");
    let exit = wait_for_watch(&channel, spawned.token);
    assert_eq!(exit.status, ExitStatus::Exited { code: 0 });
}

#[test]
fn an_extra_descriptor_works_both_ways() {
    let _serial = serial();
    let spec = sh_spec(
        "echo ping >&3; read reply <&3; echo \"got $reply\"",
        vec![Stdio::Ignore, Stdio::Pipe, Stdio::Inherit, Stdio::Pipe],
    );
    let (spawned, channel) = spawn(&spec);
    let mut fds = spawned.fds.into_iter();
    assert!(fds.next().unwrap().is_none(), "no parent end for 'ignore'");
    let stdout = fds.next().unwrap();
    assert!(fds.next().unwrap().is_none(), "no parent end for 'inherit'");
    let mut extra = file(fds.next().unwrap());
    let mut ping = [0u8; 5];
    extra.read_exact(&mut ping).unwrap();
    assert_eq!(&ping, b"ping\n");
    extra.write_all(b"pong\n").unwrap();
    assert_eq!(read_all(stdout), "got pong\n");
    assert_eq!(
        wait_for_watch(&channel, spawned.token).status,
        ExitStatus::Exited { code: 0 }
    );
}

#[test]
fn ignore_is_dev_null_and_inherit_is_the_same_descriptor() {
    let _serial = serial();
    let spec = sh_spec(
        "readlink /proc/$$/fd/0; cat; readlink /proc/$$/fd/2",
        vec![Stdio::Ignore, Stdio::Pipe, Stdio::Inherit],
    );
    let (exit, fds) = run(&spec);
    let stderr_of_parent = std::fs::read_link("/proc/self/fd/2").unwrap();
    let expected = format!("/dev/null\n{}\n", stderr_of_parent.display());
    assert_eq!(read_all(fds.into_iter().nth(1).unwrap()), expected);
    assert_eq!(exit.status, ExitStatus::Exited { code: 0 });
}

#[test]
fn an_open_descriptor_of_the_parent_becomes_a_child_descriptor() {
    let _serial = serial();
    let mut ends = [0; 2];
    // SAFETY: valid out-array; both ends are owned below.
    assert_eq!(
        unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) },
        0
    );
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    // Given as the child's stdout and stderr (the same source twice) and as descriptor 5.
    let spec = sh_spec(
        "echo one; echo two >&2; echo three >&5",
        vec![
            Stdio::Ignore,
            Stdio::Fd(write_end.as_raw_fd()),
            Stdio::Fd(write_end.as_raw_fd()),
            Stdio::Ignore,
            Stdio::Ignore,
            Stdio::Fd(write_end.as_raw_fd()),
        ],
    );
    let (exit, _) = run(&spec);
    drop(write_end);
    assert_eq!(read_all(Some(read_end)), "one\ntwo\nthree\n");
    assert_eq!(exit.status, ExitStatus::Exited { code: 0 });
}

#[test]
fn standard_descriptors_are_blocking_in_the_child() {
    let _serial = serial();
    let mut ends = [0; 2];
    // SAFETY: valid out-array; both ends are owned below.
    assert_eq!(
        unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) },
        0
    );
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    // fdinfo shows the open file's flags in octal; O_NONBLOCK is 04000.
    let spec = sh_spec(
        "grep flags /proc/$$/fdinfo/1",
        vec![
            Stdio::Ignore,
            Stdio::Fd(write_end.as_raw_fd()),
            Stdio::Inherit,
        ],
    );
    let (exit, _) = run(&spec);
    drop(write_end);
    let mut out = String::new();
    std::fs::File::from(read_end)
        .read_to_string(&mut out)
        .unwrap();
    let flags = u32::from_str_radix(out.trim().trim_start_matches("flags:").trim(), 8).unwrap();
    assert_eq!(flags & libc::O_NONBLOCK as u32, 0, "{out:?}");
    assert_eq!(exit.status, ExitStatus::Exited { code: 0 });
}

#[test]
fn a_source_below_the_stdio_count_is_not_clobbered() {
    let _serial = serial();
    // The parent's descriptor 1 becomes the child's 3 while the child's 1 is a pipe: a naive
    // dup2 order would give descriptor 3 the pipe.
    let parent_stdout = std::fs::read_link("/proc/self/fd/1").unwrap();
    let spec = sh_spec(
        "readlink /proc/$$/fd/3",
        vec![Stdio::Ignore, Stdio::Pipe, Stdio::Ignore, Stdio::Fd(1)],
    );
    let (exit, fds) = run(&spec);
    let expected = format!("{}\n", parent_stdout.display());
    assert_eq!(read_all(fds.into_iter().nth(1).unwrap()), expected);
    assert_eq!(exit.status, ExitStatus::Exited { code: 0 });
}

#[test]
fn env_cwd_and_argv0_are_the_ones_given() {
    let _serial = serial();
    let mut spec = sh_spec(
        "echo \"$GREETING\"; pwd; tr '\\0' ' ' < /proc/$$/cmdline",
        vec![Stdio::Ignore, Stdio::Pipe, Stdio::Inherit],
    );
    spec.env = Some(vec![
        "GREETING=hi there".into(),
        "PATH=/usr/bin:/bin".into(),
    ]);
    spec.cwd = Some("/tmp".into());
    spec.argv0 = Some("custom-name".into());
    let (exit, fds) = run(&spec);
    let out = read_all(fds.into_iter().nth(1).unwrap());
    assert!(
        out.starts_with("hi there\n/tmp\ncustom-name -c "),
        "{out:?}"
    );
    assert_eq!(exit.status, ExitStatus::Exited { code: 0 });
}

#[test]
fn without_env_the_child_gets_the_current_environment() {
    let _serial = serial();
    let spec = sh_spec(
        "echo \"$PATH\"; echo \"$HOME\"",
        vec![Stdio::Ignore, Stdio::Pipe, Stdio::Inherit],
    );
    let (_, fds) = run(&spec);
    let expected = format!(
        "{}\n{}\n",
        std::env::var("PATH").unwrap_or_default(),
        std::env::var("HOME").unwrap_or_default()
    );
    assert_eq!(read_all(fds.into_iter().nth(1).unwrap()), expected);
}

#[test]
fn the_path_search_uses_the_path_of_the_given_env() {
    let _serial = serial();
    let mut spec = SpawnSpec::new("sh");
    spec.env = Some(vec!["PATH=/nonexistent-dir:/also-not-here".into()]);
    let err = monitor().channel(None).spawn(&spec).unwrap_err();
    assert_eq!(err.code, ErrorCode::Errno(libc::ENOENT), "{err}");
}

#[test]
fn detached_gives_a_new_session_and_process_group() {
    let _serial = serial();
    let mut spec = SpawnSpec::new("sleep");
    spec.args = vec!["30".into()];
    spec.detached = true;
    let (spawned, channel) = spawn(&spec);
    let fields = proc_stat_fields(spawned.pid);
    // Fields 5 and 6 (pgrp, session) are [2] and [3] after the state.
    assert_eq!(fields[2], spawned.pid.to_string(), "process group");
    assert_eq!(fields[3], spawned.pid.to_string(), "session");
    channel.kill(spawned.token, libc::SIGKILL).unwrap();
    wait_for_watch(&channel, spawned.token);

    spec.detached = false;
    let (spawned, channel) = spawn(&spec);
    let fields = proc_stat_fields(spawned.pid);
    // SAFETY: getsid(0) has no preconditions.
    assert_eq!(
        fields[3],
        unsafe { libc::getsid(0) }.to_string(),
        "our session"
    );
    channel.kill(spawned.token, libc::SIGKILL).unwrap();
    wait_for_watch(&channel, spawned.token);
}

/// Spawns `spec`, expects `code`, and checks that the failure left no descriptor, zombie or
/// registration behind. Returns the message.
fn expect_failure(spec: &SpawnSpec, code: ErrorCode) -> String {
    // The first spawn of a process reserves a few low descriptors for good: not a leak.
    run(&SpawnSpec::new("/bin/true"));
    let channel = monitor().channel(None);
    let fds_before = descriptor_count();
    let watched_before = monitor().stats().watched;
    let err = channel.spawn(spec).unwrap_err();
    assert_eq!(err.code, code, "{err}");
    assert_eq!(descriptor_count(), fds_before, "no leaked descriptor");
    assert_eq!(zombie_children(), Vec::<i32>::new(), "no zombie");
    assert_eq!(monitor().stats().watched, watched_before, "no registration");
    assert!(channel.recv_timeout(Duration::from_millis(50)).is_none());
    err.message
}

fn temp_file(name: &str, content: &[u8], mode: u32) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("exitwatch-spawn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn a_missing_file_is_enoent_naming_it() {
    let _serial = serial();
    let spec = SpawnSpec::new("exitwatch-no-such-program");
    let message = expect_failure(&spec, ErrorCode::Errno(libc::ENOENT));
    assert!(message.contains("exitwatch-no-such-program"), "{message}");
    let spec = SpawnSpec::new("/nonexistent/dir/program");
    let message = expect_failure(&spec, ErrorCode::Errno(libc::ENOENT));
    assert!(message.contains("/nonexistent/dir/program"), "{message}");
}

#[test]
fn a_file_without_execute_permission_is_eacces() {
    let _serial = serial();
    let path = temp_file("not-executable", b"#!/bin/sh\nexit 0\n", 0o644);
    let message = expect_failure(&SpawnSpec::new(&path), ErrorCode::Errno(libc::EACCES));
    assert!(message.contains(&*path.to_string_lossy()), "{message}");
}

#[test]
fn a_file_in_no_executable_format_is_enoexec() {
    let _serial = serial();
    let path = temp_file("garbage", b"\x01\x02\x03 not a program\n", 0o755);
    let message = expect_failure(&SpawnSpec::new(&path), ErrorCode::Errno(libc::ENOEXEC));
    assert!(message.contains(&*path.to_string_lossy()), "{message}");
}

#[test]
fn arguments_too_large_are_e2big() {
    let _serial = serial();
    let mut spec = SpawnSpec::new("true");
    // One string longer than the kernel's MAX_ARG_STRLEN (32 pages).
    spec.args = vec![OsString::from("x".repeat(200 * 1024))];
    let message = expect_failure(&spec, ErrorCode::Errno(libc::E2BIG));
    assert!(message.contains("\"true\""), "{message}");
}

#[test]
fn a_bad_cwd_is_reported_naming_the_directory() {
    let _serial = serial();
    let mut spec = SpawnSpec::new("true");
    spec.cwd = Some("/nonexistent-exitwatch-dir".into());
    let message = expect_failure(&spec, ErrorCode::Errno(libc::ENOENT));
    assert!(message.contains("/nonexistent-exitwatch-dir"), "{message}");
}

#[test]
fn bad_input_is_einval() {
    let _serial = serial();
    let mut spec = SpawnSpec::new("true");
    spec.args = vec!["a\0b".into()];
    expect_failure(&spec, ErrorCode::Einval);
    let mut spec = SpawnSpec::new("true");
    spec.stdio = vec![Stdio::Fd(100_000)];
    expect_failure(&spec, ErrorCode::Einval);
}

#[test]
fn uid_and_gid_are_switched_or_refused_with_eperm() {
    let _serial = serial();
    let mut spec = sh_spec(
        "id -u; id -g; id -G",
        vec![Stdio::Ignore, Stdio::Pipe, Stdio::Inherit],
    );
    spec.uid = Some(65534);
    spec.gid = Some(65534);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // A supplementary group of ours, which the child must not keep.
        let groups = [4321 as libc::gid_t];
        // SAFETY: a valid one-element array; undone below.
        assert_eq!(unsafe { libc::setgroups(1, groups.as_ptr()) }, 0);
        let (exit, fds) = run(&spec);
        // SAFETY: an empty list needs no array.
        unsafe { libc::setgroups(0, std::ptr::null()) };
        assert_eq!(
            read_all(fds.into_iter().nth(1).unwrap()),
            "65534\n65534\n65534\n"
        );
        assert_eq!(exit.status, ExitStatus::Exited { code: 0 });
    } else {
        let message = expect_failure(&spec, ErrorCode::Eperm);
        assert!(message.contains("gid 65534"), "{message}");
    }
}

#[test]
fn a_thousand_spawns_leak_no_descriptor() {
    let _serial = serial();
    let before = descriptor_count();
    let started = Instant::now();
    for _ in 0..1000 {
        let (exit, fds) = run(&SpawnSpec {
            stdio: vec![Stdio::Pipe, Stdio::Pipe, Stdio::Ignore],
            ..SpawnSpec::new("true")
        });
        assert_eq!(exit.status, ExitStatus::Exited { code: 0 });
        drop(fds);
    }
    let elapsed = started.elapsed();
    eprintln!("1000 spawn + exit of `true`: {elapsed:?}");
    assert_eq!(descriptor_count(), before);
    assert!(zombie_children().is_empty());
}

#[test]
fn threads_spawning_at_once_each_get_their_own_children() {
    let _serial = serial();
    let before = descriptor_count();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..50 {
                    let code = (t * 50 + i) % 256;
                    let spec = sh_spec(&format!("exit {code}"), vec![Stdio::Pipe; 3]);
                    let (exit, fds) = run(&spec);
                    assert_eq!(exit.status, ExitStatus::Exited { code });
                    drop(fds);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(descriptor_count(), before);
    assert!(zombie_children().is_empty());
}

#[test]
fn the_child_inherits_no_other_descriptor() {
    let _serial = serial();
    // Opened without O_CLOEXEC, as some native code would.
    // SAFETY: valid NUL-terminated path; closed below.
    let leaky = unsafe { libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY) };
    assert!(leaky > 2);
    let mut spec = SpawnSpec::new("sleep");
    spec.args = vec!["30".into()];
    spec.stdio = vec![Stdio::Ignore, Stdio::Pipe, Stdio::Inherit];
    let (spawned, channel) = spawn(&spec);
    // `spawn` returns when the child's execve let go of our memory, a moment before the
    // kernel closes its close-on-exec descriptors: a leak is one that stays.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut fds = descriptors_of(spawned.pid);
    while fds.len() > 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        fds = descriptors_of(spawned.pid);
    }
    channel.kill(spawned.token, libc::SIGKILL).unwrap();
    wait_for_watch(&channel, spawned.token);
    // SAFETY: our own descriptor.
    unsafe { libc::close(leaky) };
    assert_eq!(fds, ["0", "1", "2"]);
}

/// Beside thousands of open descriptors the child shares our table and copies only its low
/// part: it must still get exactly its own descriptors, from sources lying high, and no copy
/// of a source may stay behind in this process.
#[test]
fn a_parent_with_many_descriptors_gives_the_child_exactly_its_own() {
    let _serial = serial();
    // SAFETY: valid out-array; the descriptors are owned below.
    let (read_end, write_end) = unsafe {
        let mut ends = [0; 2];
        assert_eq!(libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC), 0);
        (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1]))
    };
    // SAFETY: duplicates of an open descriptor, owned by the vectors.
    let crowd: Vec<OwnedFd> = (0..3000)
        .map(|_| unsafe { OwnedFd::from_raw_fd(libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3)) })
        .collect();
    // SAFETY: as above; above every descriptor of the crowd.
    let high_read = unsafe {
        OwnedFd::from_raw_fd(libc::fcntl(
            read_end.as_raw_fd(),
            libc::F_DUPFD_CLOEXEC,
            4000,
        ))
    };
    drop(read_end);
    run(&SpawnSpec::new("/bin/true")); // the first spawn reserves its descriptors for good
    let before = descriptor_count();
    let spec = sh_spec(
        "read line; echo \"got $line\"; exec sleep 30",
        vec![Stdio::Fd(high_read.as_raw_fd()), Stdio::Pipe, Stdio::Ignore],
    );
    let (spawned, channel) = spawn(&spec);
    std::fs::File::from(write_end.try_clone().unwrap())
        .write_all(b"hello\n")
        .unwrap();
    let mut stdout = std::io::BufReader::new(file(spawned.fds.into_iter().nth(1).unwrap()));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "got hello\n");
    let child_fds = descriptors_of(spawned.pid);
    channel.kill(spawned.token, libc::SIGKILL).unwrap();
    wait_for_watch(&channel, spawned.token);
    drop(stdout);
    assert_eq!(child_fds, ["0", "1", "2"]);
    assert_eq!(descriptor_count(), before, "no descriptor left behind");
    drop((high_read, crowd));
    // SAFETY: writes one byte from a valid buffer.
    let wrote = unsafe { libc::write(write_end.as_raw_fd(), b"x".as_ptr().cast(), 1) };
    assert_eq!(
        (wrote, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(libc::EPIPE)),
        "no copy of the read end stayed open in this process"
    );
}

#[test]
fn the_child_starts_with_default_signals_and_an_empty_mask() {
    let _serial = serial();
    // SAFETY: plain signal-state calls on this process and thread, undone below.
    let previous_mask = unsafe {
        let mut ignore = std::mem::zeroed::<libc::sigaction>();
        ignore.sa_sigaction = libc::SIG_IGN;
        libc::sigaction(libc::SIGUSR1, &ignore, std::ptr::null_mut());
        let mut block = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGUSR2);
        let mut previous = std::mem::zeroed::<libc::sigset_t>();
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut previous);
        previous
    };
    assert_ne!(
        status_field(std::process::id() as i32, "SigIgn"),
        "0000000000000000"
    );
    let mut spec = SpawnSpec::new("sleep");
    spec.args = vec!["30".into()];
    let (spawned, channel) = spawn(&spec);
    let blocked = status_field(spawned.pid, "SigBlk");
    let ignored = status_field(spawned.pid, "SigIgn");
    channel.kill(spawned.token, libc::SIGKILL).unwrap();
    wait_for_watch(&channel, spawned.token);
    // SAFETY: restores what was changed above.
    unsafe {
        let mut default = std::mem::zeroed::<libc::sigaction>();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGUSR1, &default, std::ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous_mask, std::ptr::null_mut());
    }
    assert_eq!(blocked, "0000000000000000");
    assert_eq!(ignored, "0000000000000000");
}
