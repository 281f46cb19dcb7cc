//! exitwatch-core: exact, fast process-exit tracking on Linux.
//!
//! One monitor thread blocks in `epoll_wait` over one pidfd per watched process. When a pidfd
//! becomes readable the thread reads the exit status without stealing it (`waitid` with
//! `WNOWAIT` unless exitwatch owns the process, then `PIDFD_INFO_EXIT` or the zombie's
//! `/proc/<pid>/stat`), and appends the exit to each consumer's unbounded inbox (a
//! [`Channel`], or the one inside a [`Watch`] or a [`Subscription`]).
//!
//! ```no_run
//! use exitwatch_core::{Monitor, WatchOptions};
//! let child = std::process::Command::new("true").spawn().unwrap();
//! let watch = Monitor::global().unwrap()
//!     .watch(child.id() as i32, WatchOptions { reap: true, ..Default::default() }).unwrap();
//! println!("{:?}", watch.wait().status);
//! ```

mod capabilities;
mod channel;
mod collect;
mod error;
mod exit;
#[cfg(feature = "fault-injection")]
mod fault;
mod inbox;
mod low_descriptors;
mod monitor;
mod monitor_thread;
mod orphans;
mod poll_engine;
mod proc_connector;
/// Process listings from /proc (descendants of a process), shared with exitwatch-init.
pub mod procfs;
mod provenance;
mod registry;
mod shared;
mod spawn;
mod stats;
mod subscription;
mod sync;
/// The kernel layer: thin wrappers over the system calls exitwatch uses, shared with
/// exitwatch-init.
pub mod sys;
mod terminal;
mod tree;
mod usage;
mod watch;

pub use capabilities::{Capabilities, Engine, ENGINE_ENV};
pub use channel::{Channel, Claim};
pub use error::{Error, ErrorCode, Result};
pub use exit::{ExitInfo, ExitStatus, StatusSource};
pub use inbox::{Event, Target, Waker};
pub use monitor::{Monitor, WatchOptions};
pub use spawn::{SpawnSpec, Spawned, Stdio};
pub use stats::Stats;
pub use subscription::Subscription;
pub use terminal::terminal_signals_reach;
pub use tree::{PinnedMember, TreeMember};
pub use usage::Usage;
pub use watch::Watch;
