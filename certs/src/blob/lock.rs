//! The two lock families and how one acquisition polls them (see the parent module's docs for
//! the scheme: updaters take an OFD write lock and an exclusive `flock`, readers one shared lock).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, Flock, FlockArg};
use nix::libc;

use super::BlobError;

/// How often a contended lock is retried (QEMU polls every 1 ms too).
const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// The kind of whole-file lock a reader takes (updaters always take both; see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LockKind {
    /// An open-file-description record lock over the whole file (`F_OFD_SETLK`): what QEMU and
    /// the merged KVM documentation use. The default.
    #[default]
    Ofd,
    /// `flock(2)`: what the seed patch's wording and some host tools use.
    Flock,
}

impl LockKind {
    /// The name used on the command line (`ofd`, `flock`).
    pub fn as_str(self) -> &'static str {
        match self {
            LockKind::Ofd => "ofd",
            LockKind::Flock => "flock",
        }
    }
}

impl std::fmt::Display for LockKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LockKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ofd" => Ok(LockKind::Ofd),
            "flock" => Ok(LockKind::Flock),
            other => Err(format!(
                "unknown lock kind {other:?}: expected ofd or flock"
            )),
        }
    }
}

/// What one acquisition asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// A reader: one shared lock of this kind.
    Shared(LockKind),
    /// An updater: an OFD write lock, then an exclusive `flock`.
    Exclusive,
}

/// A descriptor with the locks it holds; dropping it releases them (the `flock` explicitly, the
/// OFD lock when the description is closed).
#[derive(Debug)]
pub(super) enum Held {
    /// Only an OFD lock (or none yet).
    Plain(File),
    /// A `flock`, possibly on top of an OFD lock.
    Flocked(Flock<File>),
}

impl Held {
    pub(super) fn file(&self) -> &File {
        match self {
            Held::Plain(f) => f,
            Held::Flocked(f) => f,
        }
    }
}

fn ofd_request(exclusive: bool) -> libc::flock {
    let l_type = if exclusive {
        libc::F_WRLCK
    } else {
        libc::F_RDLCK
    };
    libc::flock {
        l_type: l_type as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0, // to end of file, however it grows
        l_pid: 0, // must be 0 for OFD locks
    }
}

/// One non-blocking OFD attempt: `Ok(true)` locked, `Ok(false)` held by someone else.
pub(super) fn try_ofd(file: &File, exclusive: bool) -> Result<bool, Errno> {
    let req = ofd_request(exclusive);
    match fcntl(file.as_raw_fd(), FcntlArg::F_OFD_SETLK(&req)) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN) | Err(Errno::EACCES) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One non-blocking `flock` attempt: `Ok(Ok(locked))`, `Ok(Err(file))` when held by someone
/// else (the descriptor is handed back to try again).
fn try_flock(file: File, exclusive: bool) -> Result<Result<Flock<File>, File>, Errno> {
    let arg = if exclusive {
        FlockArg::LockExclusiveNonblock
    } else {
        FlockArg::LockSharedNonblock
    };
    match Flock::lock(file, arg) {
        Ok(f) => Ok(Ok(f)),
        Err((file, Errno::EWOULDBLOCK)) => Ok(Err(file)),
        Err((_, e)) => Err(e),
    }
}

/// Poll until `mode`'s locks are all held on `file` or `timeout` (counted from `start`) passes.
pub(super) fn lock_until(
    file: File,
    mode: Mode,
    path: &Path,
    start: Instant,
    timeout: Duration,
) -> Result<Held, BlobError> {
    let lock_err = |source| BlobError::Lock {
        path: path.to_owned(),
        source,
    };
    let wait = |what: &str| -> Result<(), BlobError> {
        let waited = start.elapsed();
        if waited >= timeout {
            tracing::debug!(path = %path.display(), ?waited, ?mode, what, "certificate blob lock timed out");
            return Err(BlobError::LockTimeout {
                path: path.to_owned(),
                waited,
            });
        }
        std::thread::sleep(POLL_INTERVAL.min(timeout - waited));
        Ok(())
    };
    let (ofd, flock_exclusive) = match mode {
        Mode::Shared(LockKind::Ofd) => (Some(false), None),
        Mode::Shared(LockKind::Flock) => (None, Some(false)),
        Mode::Exclusive => (Some(true), Some(true)),
    };
    if let Some(exclusive) = ofd {
        while !try_ofd(&file, exclusive).map_err(lock_err)? {
            wait("ofd")?;
        }
    }
    let Some(exclusive) = flock_exclusive else {
        return Ok(Held::Plain(file));
    };
    // The OFD lock (if any) stays held while we wait for the flock: a reader holds only one
    // kind and never waits for the other, and updaters take OFD first, so this cannot deadlock.
    let mut file = file;
    loop {
        match try_flock(file, exclusive).map_err(lock_err)? {
            Ok(locked) => return Ok(Held::Flocked(locked)),
            Err(back) => file = back,
        }
        wait("flock")?;
    }
}
