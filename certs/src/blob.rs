//! The host's certificate-blob file, read under a shared lock and replaced under an exclusive one.
//!
//! The host serves guests a file already in certificate-table format (QEMU's `certs-filename`).
//! Tools that change what the blob must say (SNP_COMMIT, SNP_SET_CONFIG, SNP_VLEK_LOAD, a blob
//! rewrite) hold the file **exclusively** for the whole update; the VMM holds it **shared** from
//! reading the blob until the guest's request has reached the firmware (NOTIFY_DONE in the seed,
//! the immediate-exit completion in what merged). That way a report is never signed under a TCB
//! other than the one the served VCEK certifies.
//!
//! # Which lock: updaters take both kinds, readers take one
//!
//! Linux has two independent whole-file lock families, and neither sees the other:
//! **open-file-description (OFD) record locks** (`fcntl(F_OFD_SETLK)` over the whole file,
//! `l_start = 0`, `l_len = 0`) and **`flock(2)`**. The merged KVM documentation
//! (`KVM_EXIT_SNP_REQ_CERTS`) and QEMU's implementation (`qemu_lock_fd`) use OFD locks; the seed
//! patch's wording and some host tools use `flock`. A scheme that picked one kind would silently
//! fail to exclude a reader of the other kind. So:
//!
//! - **Updaters** ([`ExclusiveBlob`]) take **both** an OFD write lock **and** an exclusive `flock`
//!   on the blob (OFD first, then `flock`, always in that order, so two updaters cannot deadlock),
//!   and take both on every replacement inode too. A reader of either kind is then excluded for
//!   the whole update.
//! - **Readers** ([`SharedBlob`]) take **one** shared lock of the kind they are told:
//!   [`LockKind::Ofd`] by default (what QEMU does, and what the simulator's VMM does), or
//!   [`LockKind::Flock`] for hosts whose VMM uses `flock` (`--lock ofd|flock` on the CLI).
//!   Shared locks of either kind coexist with each other.
//!
//! Both kinds belong to the open file description, so two opens in one process (the simulator's
//! VMM and updater threads) conflict as they would in two processes — classic POSIX `F_SETLK`
//! locks would not, which is why those are never used. Locks are polled non-blocking every
//! millisecond (QEMU does the same) up to a caller-given timeout.
//!
//! # Replacement
//!
//! [`ExclusiveBlob::replace`] writes the new blob to a temporary file in the same directory,
//! syncs it, **locks the new inode exclusively (both kinds)**, and then renames it over the path.
//! Rename makes the switch atomic (no reader ever sees half a blob, even one that does not
//! lock), and because the new inode is already locked, a reader that opens the path after the
//! rename still waits until the [`ExclusiveBlob`] is dropped: the exclusive lock covers the whole
//! update, as the contract requires. A reader that had opened the *old* inode before the rename
//! gets its lock once the updater drops, notices with `stat`/`fstat` that the path now names
//! another inode, and retries ([`SharedBlob::acquire`]) — the same re-check QEMU does. Rewriting
//! in place would also keep the lock but lets a crash leave a torn blob.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;

mod lock;

pub use lock::LockKind;
use lock::{lock_until, Held, Mode};

/// The largest blob we read or write: 1 MiB.
///
/// A real blob (VCEK/VLEK + ASK + ARK, maybe a CRL) is under 10 KiB and a Linux guest can take at
/// most 16 KiB, but a VMM must still read an oversized blob to answer INVALID_LEN with the pages
/// needed, so the cap sits well above that. It bounds the memory a corrupt or hostile file can
/// make the VMM allocate.
pub const MAX_BLOB_LEN: u64 = 1024 * 1024;

/// How many times we reopen the path after finding it replaced while we waited for the lock.
/// Each retry needs a writer to have completed a whole replacement, so a handful is plenty; the
/// bound stops a pathological writer from keeping us in the loop forever.
pub const MAX_REOPENS: usize = 8;

/// Why the blob file could not be read or replaced.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The file could not be opened.
    #[error("cannot open certificate blob {path}: {source}")]
    Open {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another process held a conflicting lock for the whole timeout. A VMM answers BUSY.
    #[error("certificate blob {path} stayed locked by another process for {waited:?}; an update is in progress, try again")]
    LockTimeout {
        /// The path.
        path: PathBuf,
        /// How long we polled.
        waited: Duration,
    },
    /// The lock call itself failed (not contention).
    #[error("cannot lock certificate blob {path}: {source}")]
    Lock {
        /// The path.
        path: PathBuf,
        /// The errno.
        source: Errno,
    },
    /// `stat`/`fstat` failed.
    #[error("cannot stat certificate blob {path}: {source}")]
    Stat {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The path kept being replaced while we locked it.
    #[error("certificate blob {path} was replaced {attempts} times while we waited for its lock; giving up")]
    KeptChanging {
        /// The path.
        path: PathBuf,
        /// Attempts made.
        attempts: usize,
    },
    /// The file exceeds [`MAX_BLOB_LEN`].
    #[error("certificate blob {path} is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size (at least).
        len: u64,
        /// The cap.
        max: u64,
    },
    /// Reading failed.
    #[error("cannot read certificate blob {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing the replacement failed.
    #[error("cannot write certificate blob {path}: {source}")]
    Write {
        /// The path written (the temporary file or the target).
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The path has no parent directory or file name to place a temporary file beside it.
    #[error("certificate blob path {path} has no directory and file name")]
    BadPath {
        /// The path.
        path: PathBuf,
    },
}

/// Whether `path` still names the inode `file` has open.
fn still_names(path: &Path, file: &File) -> Result<bool, BlobError> {
    let stat_err = |source| BlobError::Stat {
        path: path.to_owned(),
        source,
    };
    let held = file.metadata().map_err(stat_err)?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        // Removed (or mid-rename): not ours any more; reopening will tell.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(stat_err(e)),
    }
}

/// Open, lock and re-check the inode, retrying a bounded number of times.
/// `after_open` runs after each open and before locking (a test hook for the replace race).
fn acquire(
    path: &Path,
    mode: Mode,
    timeout: Duration,
    mut after_open: impl FnMut(usize),
) -> Result<(Held, usize), BlobError> {
    let start = Instant::now();
    for attempt in 0..=MAX_REOPENS {
        let mut opts = OpenOptions::new();
        opts.read(true);
        if mode == Mode::Exclusive {
            // A write lock needs a descriptor opened for writing.
            opts.write(true).create(true).mode(0o644);
        }
        let file = opts.open(path).map_err(|source| BlobError::Open {
            path: path.to_owned(),
            source,
        })?;
        after_open(attempt);
        let held = lock_until(file, mode, path, start, timeout)?;
        if still_names(path, held.file())? {
            return Ok((held, attempt));
        }
        tracing::debug!(path = %path.display(), attempt, "certificate blob replaced while locking; reopening");
        // Dropping `held` closes the description and releases its locks.
    }
    Err(BlobError::KeptChanging {
        path: path.to_owned(),
        attempts: MAX_REOPENS + 1,
    })
}

fn read_capped(file: &File, path: &Path) -> Result<Vec<u8>, BlobError> {
    let mut out = Vec::new();
    // Read one byte past the cap so an oversized file is detected without trusting st_size.
    let mut reader = Read::take(file, MAX_BLOB_LEN + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|source| BlobError::Read {
            path: path.to_owned(),
            source,
        })?;
    if out.len() as u64 > MAX_BLOB_LEN {
        let len = file.metadata().map(|m| m.len()).unwrap_or(out.len() as u64);
        return Err(BlobError::TooLarge {
            path: path.to_owned(),
            len: len.max(out.len() as u64),
            max: MAX_BLOB_LEN,
        });
    }
    Ok(out)
}

/// The blob read under a shared lock, held until this value is dropped.
///
/// Keep it alive until the guest's request has reached the firmware, then drop it.
#[derive(Debug)]
pub struct SharedBlob {
    _held: Held,
    path: PathBuf,
    bytes: Vec<u8>,
    reopens: usize,
    kind: LockKind,
}

impl SharedBlob {
    /// Lock `path` shared, polling for at most `timeout` ([`BlobError::LockTimeout`] then, which
    /// a VMM answers with BUSY), re-check that the path still names the locked inode (reopening
    /// a bounded number of times if it was replaced), and read it (at most [`MAX_BLOB_LEN`]).
    /// The lock is an OFD read lock ([`LockKind::Ofd`], QEMU's kind).
    pub fn acquire(path: impl AsRef<Path>, timeout: Duration) -> Result<SharedBlob, BlobError> {
        Self::acquire_kind(path, LockKind::Ofd, timeout)
    }

    /// [`SharedBlob::acquire`] with a shared lock of `kind` (for hosts whose VMM uses `flock`).
    /// Either kind excludes an [`ExclusiveBlob`] updater, which takes both.
    pub fn acquire_kind(
        path: impl AsRef<Path>,
        kind: LockKind,
        timeout: Duration,
    ) -> Result<SharedBlob, BlobError> {
        Self::acquire_with_hook(path.as_ref(), kind, timeout, |_| {})
    }

    fn acquire_with_hook(
        path: &Path,
        kind: LockKind,
        timeout: Duration,
        after_open: impl FnMut(usize),
    ) -> Result<SharedBlob, BlobError> {
        let (held, reopens) = acquire(path, Mode::Shared(kind), timeout, after_open)?;
        let bytes = read_capped(held.file(), path)?;
        tracing::debug!(path = %path.display(), len = bytes.len(), reopens, %kind, "certificate blob locked shared");
        Ok(SharedBlob {
            _held: held,
            path: path.to_owned(),
            bytes,
            reopens,
            kind,
        })
    }

    /// The kind of shared lock held.
    pub fn lock_kind(&self) -> LockKind {
        self.kind
    }

    /// The blob's contents as read under the lock.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The path it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many times the path was found replaced and reopened before the lock stuck.
    pub fn reopens(&self) -> usize {
        self.reopens
    }
}

/// The blob held exclusively until dropped: readers (the VMM) wait, then see the new contents.
#[derive(Debug)]
pub struct ExclusiveBlob {
    /// The locked descriptions (OFD write lock and exclusive `flock` each): the original inode
    /// first, then every replacement. All stay locked until drop so that no reader of either
    /// kind gets in before the update is complete.
    held: Vec<Held>,
    path: PathBuf,
    reopens: usize,
    replacements: u32,
}

impl ExclusiveBlob {
    /// Lock `path` exclusively with **both** kinds — an OFD write lock, then an exclusive
    /// `flock` — (creating an empty file if none exists), polling for at most `timeout`, with
    /// the same inode re-check as [`SharedBlob::acquire`]. Readers of either kind are excluded.
    pub fn acquire(path: impl AsRef<Path>, timeout: Duration) -> Result<ExclusiveBlob, BlobError> {
        let path = path.as_ref();
        let (held, reopens) = acquire(path, Mode::Exclusive, timeout, |_| {})?;
        tracing::debug!(path = %path.display(), reopens, "certificate blob locked exclusive (ofd + flock)");
        Ok(ExclusiveBlob {
            held: vec![held],
            path: path.to_owned(),
            reopens,
            replacements: 0,
        })
    }

    /// The path held.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many times the path was found replaced and reopened before the lock stuck.
    pub fn reopens(&self) -> usize {
        self.reopens
    }

    /// The current contents (at most [`MAX_BLOB_LEN`]).
    pub fn read(&self) -> Result<Vec<u8>, BlobError> {
        let file = File::open(&self.path).map_err(|source| BlobError::Open {
            path: self.path.clone(),
            source,
        })?;
        read_capped(&file, &self.path)
    }

    /// Replace the blob with `data`: temporary file beside it, synced, locked exclusively, then
    /// renamed over the path (see the module docs for why this keeps the lock contract). The new
    /// inode stays locked until this value is dropped.
    pub fn replace(&mut self, data: &[u8]) -> Result<(), BlobError> {
        if data.len() as u64 > MAX_BLOB_LEN {
            return Err(BlobError::TooLarge {
                path: self.path.clone(),
                len: data.len() as u64,
                max: MAX_BLOB_LEN,
            });
        }
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return Err(BlobError::BadPath {
                path: self.path.clone(),
            });
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        self.replacements = self.replacements.wrapping_add(1);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp.{}.{}", std::process::id(), self.replacements));
        let tmp = dir.join(tmp_name);
        let result = self.write_and_rename(&tmp, data);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn write_and_rename(&mut self, tmp: &Path, data: &[u8]) -> Result<(), BlobError> {
        let werr = |source| BlobError::Write {
            path: tmp.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(tmp)
            .map_err(werr)?;
        // Keep the old file's permissions so readers that could read it still can.
        if let Some(old) = self.held.first() {
            if let Ok(meta) = old.file().metadata() {
                let mode = meta.permissions().mode() & 0o7777;
                file.set_permissions(std::fs::Permissions::from_mode(mode))
                    .map_err(werr)?;
            }
        }
        file.write_all(data).map_err(werr)?;
        file.sync_all().map_err(werr)?;
        // Nobody else can have this fresh inode open yet, so this cannot be contended: a zero
        // timeout makes one attempt at each kind.
        let file = lock_until(file, Mode::Exclusive, tmp, Instant::now(), Duration::ZERO)?;
        std::fs::rename(tmp, &self.path).map_err(|source| BlobError::Write {
            path: self.path.clone(),
            source,
        })?;
        // Make the rename durable; failure here does not undo the replacement, so only log it.
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
                tracing::warn!(dir = %dir.display(), error = %e, "could not sync directory after replacing certificate blob");
            }
        }
        tracing::info!(path = %self.path.display(), len = data.len(), "certificate blob replaced");
        self.held.push(file);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const SHORT: Duration = Duration::from_millis(50);
    const LONG: Duration = Duration::from_secs(10);

    fn blob_file(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("certs.bin");
        std::fs::write(&path, content).unwrap();
        (dir, path)
    }

    #[test]
    fn shared_locks_coexist() {
        let (_d, path) = blob_file(b"table");
        let a = SharedBlob::acquire(&path, SHORT).unwrap();
        let b = SharedBlob::acquire(&path, SHORT).unwrap();
        assert_eq!(a.bytes(), b"table");
        assert_eq!(b.bytes(), b"table");
        assert_eq!((a.reopens(), b.reopens()), (0, 0));
        assert_eq!(a.path(), path);
    }

    #[test]
    fn exclusive_blocks_shared_until_dropped() {
        let (_d, path) = blob_file(b"old");
        let ex = ExclusiveBlob::acquire(&path, SHORT).unwrap();
        let t0 = Instant::now();
        match SharedBlob::acquire(&path, SHORT) {
            Err(BlobError::LockTimeout { waited, .. }) => assert!(waited >= SHORT),
            other => panic!("expected LockTimeout, got {other:?}"),
        }
        assert!(t0.elapsed() >= SHORT);
        assert!(matches!(
            ExclusiveBlob::acquire(&path, SHORT),
            Err(BlobError::LockTimeout { .. })
        ));
        drop(ex);
        assert_eq!(SharedBlob::acquire(&path, SHORT).unwrap().bytes(), b"old");
    }

    #[test]
    fn shared_blocks_exclusive_until_dropped() {
        let (_d, path) = blob_file(b"x");
        let sh = SharedBlob::acquire(&path, SHORT).unwrap();
        assert!(matches!(
            ExclusiveBlob::acquire(&path, SHORT),
            Err(BlobError::LockTimeout { .. })
        ));
        drop(sh);
        ExclusiveBlob::acquire(&path, SHORT).unwrap();
    }

    #[test]
    fn replacement_stays_locked_until_the_updater_drops() {
        let (_d, path) = blob_file(b"old");
        let mut ex = ExclusiveBlob::acquire(&path, SHORT).unwrap();
        assert_eq!(ex.read().unwrap(), b"old");
        ex.replace(b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(ex.read().unwrap(), b"new");
        // A reader opening the path now finds the new inode, already locked.
        assert!(matches!(
            SharedBlob::acquire(&path, SHORT),
            Err(BlobError::LockTimeout { .. })
        ));
        ex.replace(b"newer").unwrap();
        drop(ex);
        assert_eq!(SharedBlob::acquire(&path, SHORT).unwrap().bytes(), b"newer");
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("certs.bin")]);
    }

    #[test]
    fn replace_by_rename_is_detected_by_the_inode_recheck() {
        let (dir, path) = blob_file(b"old");
        let other = dir.path().join("staged");
        std::fs::write(&other, b"new").unwrap();
        // Between our open and our lock, someone renames a new file over the path.
        let blob = SharedBlob::acquire_with_hook(&path, LockKind::Ofd, SHORT, |attempt| {
            if attempt == 0 {
                std::fs::rename(&other, &path).unwrap();
            }
        })
        .unwrap();
        assert_eq!(blob.reopens(), 1);
        assert_eq!(blob.bytes(), b"new");
    }

    #[test]
    fn a_reader_waiting_on_the_old_inode_ends_up_with_the_new_blob() {
        let (_d, path) = blob_file(b"old");
        let mut ex = ExclusiveBlob::acquire(&path, SHORT).unwrap();
        let (opened_tx, opened_rx) = mpsc::channel();
        let reader_path = path.clone();
        let reader = std::thread::spawn(move || {
            SharedBlob::acquire_with_hook(&reader_path, LockKind::Flock, LONG, |attempt| {
                let _ = opened_tx.send(attempt);
            })
        });
        // The reader has opened the old inode and is now polling its lock.
        assert_eq!(opened_rx.recv().unwrap(), 0);
        ex.replace(b"new").unwrap();
        drop(ex);
        let blob = reader.join().unwrap().unwrap();
        assert_eq!(blob.bytes(), b"new");
        assert_eq!(blob.reopens(), 1);
    }

    #[test]
    fn a_path_that_keeps_changing_is_given_up_on() {
        let (dir, path) = blob_file(b"v0");
        let staged = dir.path().join("staged");
        let err = SharedBlob::acquire_with_hook(&path, LockKind::Ofd, LONG, |attempt| {
            std::fs::write(&staged, format!("v{}", attempt + 1)).unwrap();
            std::fs::rename(&staged, &path).unwrap();
        })
        .unwrap_err();
        assert!(
            matches!(err, BlobError::KeptChanging { attempts, .. } if attempts == MAX_REOPENS + 1),
            "{err:?}"
        );
    }

    #[test]
    fn oversized_blobs_are_refused() {
        let (_d, path) = blob_file(&vec![0u8; MAX_BLOB_LEN as usize + 1]);
        assert!(matches!(
            SharedBlob::acquire(&path, SHORT),
            Err(BlobError::TooLarge { len, .. }) if len == MAX_BLOB_LEN + 1
        ));
        let (_d2, ok_path) = blob_file(&vec![7u8; MAX_BLOB_LEN as usize]);
        assert_eq!(
            SharedBlob::acquire(&ok_path, SHORT).unwrap().bytes().len() as u64,
            MAX_BLOB_LEN
        );
        let mut ex = ExclusiveBlob::acquire(&ok_path, SHORT).unwrap();
        assert!(matches!(
            ex.replace(&vec![0u8; MAX_BLOB_LEN as usize + 1]),
            Err(BlobError::TooLarge { .. })
        ));
    }

    #[test]
    fn missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.bin");
        assert!(matches!(
            SharedBlob::acquire(&path, SHORT),
            Err(BlobError::Open { .. })
        ));
        // An updater may create the blob.
        let mut ex = ExclusiveBlob::acquire(&path, SHORT).unwrap();
        ex.replace(b"first").unwrap();
        drop(ex);
        assert_eq!(SharedBlob::acquire(&path, SHORT).unwrap().bytes(), b"first");
    }

    #[test]
    fn shared_lock_is_released_on_drop_across_threads() {
        let (_d, path) = blob_file(b"t");
        let sh = SharedBlob::acquire(&path, SHORT).unwrap();
        let p = path.clone();
        let writer = std::thread::spawn(move || {
            let mut ex = ExclusiveBlob::acquire(&p, LONG).unwrap();
            ex.replace(b"u").unwrap();
        });
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(sh.bytes(), b"t");
        drop(sh);
        writer.join().unwrap();
        assert_eq!(SharedBlob::acquire(&path, SHORT).unwrap().bytes(), b"u");
    }

    #[test]
    fn exclusive_excludes_readers_of_both_kinds() {
        let (_d, path) = blob_file(b"old");
        let mut ex = ExclusiveBlob::acquire(&path, SHORT).unwrap();
        for kind in [LockKind::Ofd, LockKind::Flock] {
            assert!(
                matches!(
                    SharedBlob::acquire_kind(&path, kind, SHORT),
                    Err(BlobError::LockTimeout { .. })
                ),
                "{kind} reader got in during an update"
            );
        }
        ex.replace(b"new").unwrap();
        for kind in [LockKind::Ofd, LockKind::Flock] {
            assert!(matches!(
                SharedBlob::acquire_kind(&path, kind, SHORT),
                Err(BlobError::LockTimeout { .. })
            ));
        }
        drop(ex);
        let a = SharedBlob::acquire_kind(&path, LockKind::Ofd, SHORT).unwrap();
        let b = SharedBlob::acquire_kind(&path, LockKind::Flock, SHORT).unwrap();
        assert_eq!((a.bytes(), b.bytes()), (&b"new"[..], &b"new"[..]));
        assert_eq!(
            (a.lock_kind(), b.lock_kind()),
            (LockKind::Ofd, LockKind::Flock)
        );
    }

    #[test]
    fn a_reader_of_either_kind_excludes_the_updater() {
        for kind in [LockKind::Ofd, LockKind::Flock] {
            let (_d, path) = blob_file(b"x");
            let sh = SharedBlob::acquire_kind(&path, kind, SHORT).unwrap();
            assert!(
                matches!(
                    ExclusiveBlob::acquire(&path, SHORT),
                    Err(BlobError::LockTimeout { .. })
                ),
                "updater got in past a {kind} reader"
            );
            drop(sh);
            ExclusiveBlob::acquire(&path, SHORT).unwrap();
        }
    }

    /// Why updaters take both: on Linux an OFD write lock does not exclude a `flock` reader
    /// (nor the reverse). If this ever stopped holding, one lock would do.
    #[test]
    fn the_two_kinds_are_independent() {
        let (_d, path) = blob_file(b"x");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert!(lock::try_ofd(&file, true).unwrap());
        let flock_reader = SharedBlob::acquire_kind(&path, LockKind::Flock, SHORT).unwrap();
        assert!(matches!(
            SharedBlob::acquire_kind(&path, LockKind::Ofd, SHORT),
            Err(BlobError::LockTimeout { .. })
        ));
        drop(flock_reader);
        drop(file);
    }

    #[test]
    fn lock_kind_names_round_trip() {
        for kind in [LockKind::Ofd, LockKind::Flock] {
            assert_eq!(kind.as_str().parse::<LockKind>().unwrap(), kind);
        }
        assert!("posix"
            .parse::<LockKind>()
            .unwrap_err()
            .contains("ofd or flock"));
        assert_eq!(LockKind::default(), LockKind::Ofd);
    }
}
