//! `NativeChannel::spawn`: the JavaScript shapes of a spawn and their conversion.

use std::os::fd::IntoRawFd;

use exitwatch_core::{Error, Result, SpawnSpec, Stdio};
use napi_derive::napi;

#[napi(object)]
pub struct NativeSpawnSpec {
    /// Looked up in PATH (of `env` if given) like execvp when it has no '/'.
    pub file: String,
    /// argv[1..].
    pub args: Vec<String>,
    /// argv[0]; default: `file`.
    pub argv0: Option<String>,
    /// "KEY=value" entries; absent: the current environment, read at spawn time.
    pub env: Option<Vec<String>>,
    pub cwd: Option<String>,
    /// Index = child descriptor.
    pub stdio: Vec<NativeStdio>,
    /// A new session and process group.
    pub detached: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// What a child descriptor is connected to.
#[napi(string_enum = "lowercase")]
pub enum StdioKind {
    Pipe,
    Inherit,
    Ignore,
    Fd,
}

#[napi(object)]
pub struct NativeStdio {
    pub kind: StdioKind,
    /// The parent's open descriptor, for "fd".
    pub fd: Option<i32>,
}

#[napi(object)]
pub struct NativeSpawned {
    /// The watch delivering its exit (exitwatch reaps the child).
    pub token: i64,
    pub pid: i32,
    /// The parent's end (close-on-exec, owned by the caller from now on) of each "pipe"
    /// entry; null for the others.
    pub fds: Vec<Option<i32>>,
}

impl NativeSpawnSpec {
    pub fn to_core(&self) -> Result<SpawnSpec> {
        let stdio = self
            .stdio
            .iter()
            .enumerate()
            .map(|(i, s)| stdio(i, s))
            .collect::<Result<Vec<_>>>()?;
        Ok(SpawnSpec {
            file: self.file.clone().into(),
            args: self.args.iter().map(Into::into).collect(),
            argv0: self.argv0.as_ref().map(Into::into),
            env: self
                .env
                .as_ref()
                .map(|env| env.iter().map(Into::into).collect()),
            cwd: self.cwd.as_ref().map(Into::into),
            stdio,
            detached: self.detached,
            uid: self.uid,
            gid: self.gid,
        })
    }
}

fn stdio(index: usize, entry: &NativeStdio) -> Result<Stdio> {
    match (&entry.kind, entry.fd) {
        (StdioKind::Pipe, _) => Ok(Stdio::Pipe),
        (StdioKind::Inherit, _) => Ok(Stdio::Inherit),
        (StdioKind::Ignore, _) => Ok(Stdio::Ignore),
        (StdioKind::Fd, Some(fd)) => Ok(Stdio::Fd(fd)),
        (StdioKind::Fd, None) => Err(Error::invalid(format!(
            "stdio[{index}]: kind \"fd\" needs an fd"
        ))),
    }
}

impl From<exitwatch_core::Spawned> for NativeSpawned {
    fn from(spawned: exitwatch_core::Spawned) -> Self {
        NativeSpawned {
            token: spawned.token as i64,
            pid: spawned.pid,
            fds: spawned
                .fds
                .into_iter()
                .map(|fd| fd.map(IntoRawFd::into_raw_fd))
                .collect(),
        }
    }
}
