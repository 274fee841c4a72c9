//! The configfs-tsm backend (`/sys/kernel/config/tsm/report`, Linux ≥ 6.7).
//!
//! One request = one uniquely named report entry: `mkdir`, check `provider` is `sev_guest`, read
//! `generation`, write `privlevel` and `inblob`, check `generation` advanced by exactly our two
//! writes, read `outblob` and `auxblob`, check `generation` again, `rmdir`. The entry is removed on
//! every path, errors included (a private `EntryGuard` removes it on drop).
//!
//! Why the generation checks: `inblob` writes take effect on `close()` and the kernel drops their
//! errors there, and `outblob`/`auxblob` are separate reads — a foreign writer in between makes
//! the auxblob belong to another report (abi-facts §2.2). A mismatch is retried with a fresh entry,
//! a bounded number of times. The kernel itself handles BUSY (and disables the VMPCK after 60 s) and
//! always offers a 16 KiB certificate buffer; userspace cannot resize it.
//!
//! That retry is a plain bounded count rather than `snp_ghcb::retry::RetryState`: the kernel has
//! already applied its own BUSY policy below this interface, and a foreign write is not a host
//! answer the shared policy classifies. Each new attempt uses a fresh entry, so no wait is needed
//! for a foreign writer to go away from it.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use tracing::{debug, warn};

use super::error::{BackendError, KernelStatus};
use super::{Backend, BackendKind, ExtendedReport, ReportRequest};

/// The default report directory.
pub const DEFAULT_ROOT: &str = "/sys/kernel/config/tsm/report";
/// The provider name of the SEV-SNP guest driver.
pub const PROVIDER: &str = "sev_guest";
/// Default number of attempts when another writer races us.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// Bound on `outblob`: the sev_guest provider refuses reports with `report_size + 32 > 4096`.
const OUTBLOB_MAX: usize = 4096;
/// Bound on `auxblob`: the provider's certificate buffer is `SEV_FW_BLOB_MAX_SIZE` (16 KiB).
const AUXBLOB_MAX: usize = 0x4000;
/// Bound on the small text attributes (`provider`, `generation`).
const TEXT_MAX: usize = 64;
/// Name collisions tolerated before giving up on `mkdir`.
const MKDIR_TRIES: u32 = 8;

/// The filesystem operations the backend needs, so the protocol logic can be unit-tested against
/// an in-memory model of the kernel; the real implementation is plain `std::fs`.
pub(crate) trait ConfigFs: Send + Sync {
    fn mkdir(&self, path: &Path) -> io::Result<()>;
    fn rmdir(&self, path: &Path) -> io::Result<()>;
    /// Read the whole file, failing with [`ReadError::TooLarge`] past `max` bytes.
    fn read(&self, path: &Path, max: usize) -> Result<Vec<u8>, ReadError>;
    /// Write to an existing attribute and close it, reporting a failed `close()`.
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()>;
}

/// A bounded read failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    TooLarge,
}

/// `std::fs` on the real (or FUSE-mounted) tree.
#[derive(Debug, Default)]
pub(crate) struct RealFs;

impl ConfigFs for RealFs {
    fn mkdir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }
    fn rmdir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }
    fn read(&self, path: &Path, max: usize) -> Result<Vec<u8>, ReadError> {
        let f = std::fs::File::open(path).map_err(ReadError::Io)?;
        let mut out = Vec::new();
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        f.take(limit).read_to_end(&mut out).map_err(ReadError::Io)?;
        if out.len() > max {
            return Err(ReadError::TooLarge);
        }
        Ok(out)
    }
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        // Never create or truncate: configfs attributes exist or the tree is not configfs.
        let mut f = OpenOptions::new().write(true).open(path)?;
        f.write_all(data)?;
        // Binary attributes take effect on close: close explicitly so an error there is seen
        // where the filesystem reports one (configfs itself drops it; the generation check
        // catches that case).
        nix::unistd::close(f.into_raw_fd()).map_err(io::Error::from)
    }
}

/// Removes the report entry when dropped, on every path.
struct EntryGuard<'a> {
    fs: &'a dyn ConfigFs,
    path: PathBuf,
}

impl Drop for EntryGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.fs.rmdir(&self.path) {
            warn!(path = %self.path.display(), error = %e, "could not remove the configfs-tsm report entry");
        } else {
            debug!(path = %self.path.display(), "removed configfs-tsm report entry");
        }
    }
}

/// The configfs-tsm backend.
pub struct TsmBackend {
    root: PathBuf,
    attempts: u32,
    fs: Box<dyn ConfigFs>,
}

impl std::fmt::Debug for TsmBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsmBackend")
            .field("root", &self.root)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

static ENTRY_COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    let n = ENTRY_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("snp-agent-{}-{n}-{nanos:08x}", std::process::id())
}

impl TsmBackend {
    /// A backend on the report directory `root`; `attempts` bounds retries after a concurrent
    /// writer (at least 1). Checks that `root` is a directory and that an entry made in it is
    /// served by the `sev_guest` provider (no firmware request is made).
    pub fn open(root: &Path, attempts: u32) -> Result<Self, BackendError> {
        Self::with_fs(root, attempts, Box::new(RealFs))
    }

    pub(crate) fn with_fs(
        root: &Path,
        attempts: u32,
        fs: Box<dyn ConfigFs>,
    ) -> Result<Self, BackendError> {
        let b = TsmBackend {
            root: root.to_path_buf(),
            attempts: attempts.max(1),
            fs,
        };
        b.probe()?;
        Ok(b)
    }

    /// The report directory in use.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn probe(&self) -> Result<(), BackendError> {
        match std::fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(BackendError::TsmUnavailable {
                    root: self.root.clone(),
                    reason: "not a directory".into(),
                })
            }
            Err(e) => {
                return Err(BackendError::TsmUnavailable {
                    root: self.root.clone(),
                    reason: e.to_string(),
                })
            }
        }
        let entry = self.create_entry()?;
        self.check_provider(&entry.path)
    }

    fn create_entry(&self) -> Result<EntryGuard<'_>, BackendError> {
        let mut last = None;
        for _ in 0..MKDIR_TRIES {
            let path = self.root.join(unique_name());
            match self.fs.mkdir(&path) {
                Ok(()) => {
                    debug!(path = %path.display(), "created configfs-tsm report entry");
                    return Ok(EntryGuard {
                        fs: self.fs.as_ref(),
                        path,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((path, e)),
                Err(e) => {
                    let reason = match e.raw_os_error().map(Errno::from_raw) {
                        Some(Errno::ENXIO) => {
                            format!(
                                "mkdir {}: no attestation provider is registered ({e})",
                                path.display()
                            )
                        }
                        _ => format!("mkdir {}: {e}", path.display()),
                    };
                    return Err(BackendError::TsmUnavailable {
                        root: self.root.clone(),
                        reason,
                    });
                }
            }
        }
        let (path, source) = last.unwrap_or_else(|| {
            (
                self.root.clone(),
                io::Error::from(io::ErrorKind::AlreadyExists),
            )
        });
        Err(BackendError::TsmIo {
            op: "mkdir",
            path,
            source,
        })
    }

    fn read_text(&self, path: &Path) -> Result<String, BackendError> {
        let bytes = self.read_bounded(path, TEXT_MAX, "read")?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_string())
    }

    fn read_bounded(
        &self,
        path: &Path,
        max: usize,
        op: &'static str,
    ) -> Result<Vec<u8>, BackendError> {
        self.fs.read(path, max).map_err(|e| match e {
            ReadError::TooLarge => BackendError::TsmTooLarge {
                path: path.to_path_buf(),
                max,
            },
            ReadError::Io(source) => BackendError::TsmIo {
                op,
                path: path.to_path_buf(),
                source,
            },
        })
    }

    fn check_provider(&self, entry: &Path) -> Result<(), BackendError> {
        let path = entry.join("provider");
        let found = self.read_text(&path).map_err(|e| match e {
            BackendError::TsmIo { source, .. } => BackendError::TsmUnavailable {
                root: self.root.clone(),
                reason: format!("cannot read {}: {source}", path.display()),
            },
            other => other,
        })?;
        if found != PROVIDER {
            return Err(BackendError::TsmProvider { path, found });
        }
        Ok(())
    }

    fn generation(&self, entry: &Path) -> Result<u64, BackendError> {
        let path = entry.join("generation");
        let text = self.read_text(&path)?;
        text.parse::<u64>()
            .map_err(|_| BackendError::TsmUnexpected {
                path,
                content: text.chars().take(32).collect(),
                expected: "a decimal write count",
            })
    }

    fn write(&self, path: PathBuf, data: &[u8]) -> Result<(), BackendError> {
        self.fs.write(&path, data).map_err(|source| {
            match source.raw_os_error().map(Errno::from_raw) {
                Some(errno @ Errno::EINVAL) => BackendError::InvalidRequest {
                    status: KernelStatus::from_errno(errno),
                },
                _ => BackendError::TsmIo {
                    op: "write",
                    path,
                    source,
                },
            }
        })
    }

    /// Read `outblob`: the moment the kernel sends the request. Its errno is the provider's.
    fn read_outblob(&self, entry: &Path) -> Result<Vec<u8>, BackendError> {
        let path = entry.join("outblob");
        let backend = BackendKind::Tsm;
        match self.fs.read(&path, OUTBLOB_MAX) {
            Ok(b) if b.is_empty() => Err(BackendError::TsmEmptyReport { path }),
            Ok(b) => Ok(b),
            Err(ReadError::TooLarge) => Err(BackendError::TsmTooLarge {
                path,
                max: OUTBLOB_MAX,
            }),
            Err(ReadError::Io(source)) => {
                let Some(errno) = source.raw_os_error().map(Errno::from_raw) else {
                    return Err(BackendError::TsmIo {
                        op: "read",
                        path,
                        source,
                    });
                };
                let status = Some(KernelStatus::from_errno(errno));
                Err(match errno {
                    Errno::ETIMEDOUT => BackendError::BusyTimeout {
                        backend,
                        status,
                        detail: Some("the kernel retried BUSY every 2 s for 60 s".into()),
                    },
                    Errno::ENOTTY => BackendError::VmpckDisabled {
                        backend,
                        status,
                        detail: None,
                    },
                    Errno::EINVAL => BackendError::InvalidRequest {
                        status: KernelStatus::from_errno(errno),
                    },
                    Errno::EIO | Errno::ENXIO | Errno::EBADMSG | Errno::ENOMEM => {
                        BackendError::ProviderFailed {
                            status: KernelStatus::from_errno(errno),
                        }
                    }
                    _ => BackendError::TsmIo {
                        op: "read",
                        path,
                        source,
                    },
                })
            }
        }
    }

    /// One attempt with a fresh entry. `Ok(Err((expected, found)))` = a concurrent writer.
    fn attempt(
        &self,
        req: &ReportRequest,
    ) -> Result<Result<ExtendedReport, (u64, u64)>, BackendError> {
        let entry = self.create_entry()?;
        let dir = entry.path.clone();
        self.check_provider(&dir)?;
        let before = self.generation(&dir)?;
        self.write(dir.join("privlevel"), req.vmpl.to_string().as_bytes())?;
        self.write(dir.join("inblob"), &req.report_data)?;
        let expected = before.saturating_add(2);
        let after_writes = self.generation(&dir)?;
        if after_writes != expected {
            return Ok(Err((expected, after_writes)));
        }
        let report = self.read_outblob(&dir)?;
        let cert_table = self.read_bounded(&dir.join("auxblob"), AUXBLOB_MAX, "read")?;
        let after_reads = self.generation(&dir)?;
        if after_reads != expected {
            return Ok(Err((expected, after_reads)));
        }
        drop(entry);
        Ok(Ok(ExtendedReport { report, cert_table }))
    }
}

impl Backend for TsmBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Tsm
    }

    fn get_ext_report(&mut self, req: &ReportRequest) -> Result<ExtendedReport, BackendError> {
        if req.vmpl > 3 {
            return Err(BackendError::BadVmpl { vmpl: req.vmpl });
        }
        let mut last = (0, 0);
        for attempt in 1..=self.attempts {
            match self.attempt(req)? {
                Ok(r) => return Ok(r),
                Err((expected, found)) => {
                    warn!(attempt, expected, found, "configfs-tsm generation changed under us (concurrent writer); retrying with a new entry");
                    last = (expected, found);
                }
            }
        }
        Err(BackendError::TsmGenerationRace {
            root: self.root.clone(),
            attempts: self.attempts,
            expected: last.0,
            found: last.1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A predicate on the error a case must produce.
    type Check = fn(&BackendError) -> bool;
    use std::collections::{HashMap, VecDeque};
    use std::sync::{Arc, Mutex};

    /// What the model kernel answers when `outblob` is read.
    #[derive(Clone, Debug)]
    enum Outcome {
        Report(Vec<u8>, Vec<u8>),
        Empty,
        Errno(Errno),
    }

    #[derive(Default, Debug)]
    struct EntryState {
        generation: u64,
        privlevel: Option<Vec<u8>>,
        inblob: Option<Vec<u8>>,
        report: Option<(Vec<u8>, Vec<u8>)>,
    }

    #[derive(Default, Debug)]
    struct State {
        entries: HashMap<String, EntryState>,
        provider: String,
        script: VecDeque<Outcome>,
        /// Foreign writes injected after each of our inblob writes / outblob reads.
        foreign_after_write: u32,
        foreign_after_read: u32,
        mkdirs: u32,
        rmdirs: u32,
        reports_generated: u32,
        last_privlevel: Vec<u8>,
        last_inblob: Vec<u8>,
        fail_privlevel: Option<Errno>,
    }

    /// An in-memory model of the kernel's configfs-tsm semantics.
    #[derive(Clone, Default)]
    struct Model(Arc<Mutex<State>>);

    fn split(path: &Path) -> (String, Option<String>) {
        let mut it = path.components().rev();
        let last = it
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        if last.starts_with("snp-agent-") {
            (last, None)
        } else {
            let entry = it
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .into_owned();
            (entry, Some(last))
        }
    }

    fn eno(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e as i32)
    }

    impl ConfigFs for Model {
        fn mkdir(&self, path: &Path) -> io::Result<()> {
            let mut s = self.0.lock().unwrap();
            let (name, _) = split(path);
            s.mkdirs += 1;
            if s.entries.insert(name, EntryState::default()).is_some() {
                return Err(eno(Errno::EEXIST));
            }
            Ok(())
        }
        fn rmdir(&self, path: &Path) -> io::Result<()> {
            let mut s = self.0.lock().unwrap();
            let (name, _) = split(path);
            s.rmdirs += 1;
            s.entries
                .remove(&name)
                .map(|_| ())
                .ok_or(eno(Errno::ENOENT))
        }
        fn read(&self, path: &Path, max: usize) -> Result<Vec<u8>, ReadError> {
            let mut guard = self.0.lock().unwrap();
            let s = &mut *guard;
            let (name, attr) = split(path);
            let attr = attr.unwrap();
            let provider = s.provider.clone();
            let e = s
                .entries
                .get_mut(&name)
                .ok_or(ReadError::Io(eno(Errno::ENOENT)))?;
            let out = match attr.as_str() {
                "provider" => format!("{provider}\n").into_bytes(),
                "generation" => format!("{}\n", e.generation).into_bytes(),
                "outblob" | "auxblob" => {
                    if e.report.is_none() {
                        match s.script.pop_front().expect("script exhausted") {
                            Outcome::Report(r, a) => {
                                s.reports_generated += 1;
                                e.report = Some((r, a));
                            }
                            Outcome::Empty => e.report = Some((vec![], vec![])),
                            Outcome::Errno(x) => return Err(ReadError::Io(eno(x))),
                        }
                    }
                    if attr == "outblob" && s.foreign_after_read > 0 {
                        s.foreign_after_read -= 1;
                        e.generation += 1;
                    }
                    let (r, a) = e.report.clone().unwrap();
                    if attr == "outblob" {
                        r
                    } else {
                        a
                    }
                }
                _ => return Err(ReadError::Io(eno(Errno::ENOENT))),
            };
            if out.len() > max {
                return Err(ReadError::TooLarge);
            }
            Ok(out)
        }
        fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
            let mut guard = self.0.lock().unwrap();
            let s = &mut *guard;
            let (name, attr) = split(path);
            let attr = attr.unwrap();
            let fail_privlevel = s.fail_privlevel;
            let e = s.entries.get_mut(&name).ok_or(eno(Errno::ENOENT))?;
            match attr.as_str() {
                "privlevel" => {
                    if let Some(x) = fail_privlevel {
                        return Err(eno(x));
                    }
                    e.privlevel = Some(data.to_vec());
                    s.last_privlevel = data.to_vec();
                }
                "inblob" => {
                    e.inblob = Some(data.to_vec());
                    s.last_inblob = data.to_vec();
                    if s.foreign_after_write > 0 {
                        s.foreign_after_write -= 1;
                        e.generation += 1;
                    }
                }
                _ => return Err(eno(Errno::EACCES)),
            }
            e.generation += 1;
            e.report = None;
            Ok(())
        }
    }

    fn model(script: Vec<Outcome>) -> Model {
        let m = Model::default();
        {
            let mut s = m.0.lock().unwrap();
            s.provider = PROVIDER.into();
            s.script = script.into();
        }
        m
    }

    fn backend(m: &Model, attempts: u32) -> TsmBackend {
        let dir = std::env::temp_dir();
        TsmBackend::with_fs(&dir, attempts, Box::new(m.clone())).unwrap()
    }

    fn assert_clean(m: &Model) {
        let s = m.0.lock().unwrap();
        assert!(
            s.entries.is_empty(),
            "entries left behind: {:?}",
            s.entries.keys()
        );
        assert_eq!(s.mkdirs, s.rmdirs);
    }

    fn req() -> ReportRequest {
        ReportRequest {
            report_data: [0x5A; 64],
            vmpl: 1,
        }
    }

    #[test]
    fn plain_request_writes_inputs_and_returns_both_blobs() {
        let m = model(vec![Outcome::Report(vec![1; 0x4A0], vec![2; 100])]);
        let mut b = backend(&m, 3);
        let out = b.get_ext_report(&req()).unwrap();
        assert_eq!(out.report, vec![1; 0x4A0]);
        assert_eq!(out.cert_table, vec![2; 100]);
        {
            let s = m.0.lock().unwrap();
            assert_eq!(s.reports_generated, 1);
            assert_eq!(s.last_privlevel, b"1");
            assert_eq!(s.last_inblob, vec![0x5A; 64]);
        }
        assert_clean(&m);
    }

    #[test]
    fn concurrent_writer_is_retried_then_gives_up() {
        // One foreign write after our inblob write: the first attempt is discarded.
        let m = model(vec![Outcome::Report(vec![1; 16], vec![])]);
        m.0.lock().unwrap().foreign_after_write = 1;
        let mut b = backend(&m, 3);
        assert_eq!(b.get_ext_report(&req()).unwrap().report, vec![1; 16]);
        assert_clean(&m);

        // A foreign write between outblob and auxblob: detected by the second check.
        let m = model(vec![
            Outcome::Report(vec![1; 16], vec![]),
            Outcome::Report(vec![3; 16], vec![]),
        ]);
        m.0.lock().unwrap().foreign_after_read = 1;
        let mut b = backend(&m, 3);
        assert_eq!(b.get_ext_report(&req()).unwrap().report, vec![3; 16]);
        assert_eq!(m.0.lock().unwrap().reports_generated, 2);
        assert_clean(&m);

        // Always racing: bounded.
        let m = model(vec![]);
        m.0.lock().unwrap().foreign_after_write = 100;
        let mut b = backend(&m, 3);
        let e = b.get_ext_report(&req()).unwrap_err();
        assert!(
            matches!(
                e,
                BackendError::TsmGenerationRace {
                    attempts: 3,
                    expected: 2,
                    found: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(m.0.lock().unwrap().mkdirs, 1 + 3);
        assert_clean(&m);
    }

    #[test]
    fn empty_outblob_is_a_failure() {
        let m = model(vec![Outcome::Empty]);
        let mut b = backend(&m, 3);
        let e = b.get_ext_report(&req()).unwrap_err();
        assert!(matches!(e, BackendError::TsmEmptyReport { .. }), "{e:?}");
        assert_clean(&m);
    }

    #[test]
    fn provider_errnos_map_to_typed_errors_and_the_entry_is_removed() {
        let cases: Vec<(Errno, Check)> = vec![
            (Errno::ETIMEDOUT, |e| {
                matches!(
                    e,
                    BackendError::BusyTimeout {
                        backend: BackendKind::Tsm,
                        ..
                    }
                )
            }),
            (Errno::ENOTTY, |e| {
                matches!(
                    e,
                    BackendError::VmpckDisabled {
                        backend: BackendKind::Tsm,
                        ..
                    }
                )
            }),
            (Errno::EINVAL, |e| {
                matches!(e, BackendError::InvalidRequest { .. })
            }),
            (Errno::EIO, |e| {
                matches!(e, BackendError::ProviderFailed { .. })
            }),
            (Errno::EFAULT, |e| {
                matches!(e, BackendError::TsmIo { op: "read", .. })
            }),
        ];
        for (errno, check) in cases {
            let m = model(vec![Outcome::Errno(errno)]);
            let mut b = backend(&m, 3);
            let e = b.get_ext_report(&req()).unwrap_err();
            assert!(check(&e), "{errno}: {e:?}");
            assert_clean(&m);
        }
    }

    #[test]
    fn privlevel_below_the_floor_is_an_invalid_request() {
        let m = model(vec![]);
        m.0.lock().unwrap().fail_privlevel = Some(Errno::EINVAL);
        let mut b = backend(&m, 3);
        let e = b.get_ext_report(&req()).unwrap_err();
        assert!(matches!(e, BackendError::InvalidRequest { .. }), "{e:?}");
        assert_clean(&m);
    }

    #[test]
    fn wrong_provider_is_refused_at_open() {
        let m = model(vec![]);
        m.0.lock().unwrap().provider = "tdx_guest".into();
        let e = TsmBackend::with_fs(&std::env::temp_dir(), 3, Box::new(m.clone())).unwrap_err();
        assert!(
            matches!(&e, BackendError::TsmProvider { found, .. } if found == "tdx_guest"),
            "{e:?}"
        );
        assert_clean(&m);
    }

    #[test]
    fn oversized_blobs_are_refused() {
        let m = model(vec![Outcome::Report(vec![1; OUTBLOB_MAX + 1], vec![])]);
        let mut b = backend(&m, 3);
        assert!(matches!(
            b.get_ext_report(&req()).unwrap_err(),
            BackendError::TsmTooLarge {
                max: OUTBLOB_MAX,
                ..
            }
        ));
        let m = model(vec![Outcome::Report(vec![1; 16], vec![0; AUXBLOB_MAX + 1])]);
        let mut b = backend(&m, 3);
        assert!(matches!(
            b.get_ext_report(&req()).unwrap_err(),
            BackendError::TsmTooLarge {
                max: AUXBLOB_MAX,
                ..
            }
        ));
        assert_clean(&m);
    }

    #[test]
    fn plain_directory_is_not_configfs_and_nothing_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let e = TsmBackend::open(dir.path(), 3).unwrap_err();
        assert!(matches!(e, BackendError::TsmUnavailable { .. }), "{e:?}");
        assert!(e.is_unavailable());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn missing_root_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let e = TsmBackend::open(&dir.path().join("nope"), 3).unwrap_err();
        assert!(matches!(e, BackendError::TsmUnavailable { .. }), "{e:?}");
    }

    #[test]
    fn real_fs_reads_are_bounded_and_writes_never_create() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, [1u8; 10]).unwrap();
        assert_eq!(RealFs.read(&f, 10).unwrap().len(), 10);
        assert!(matches!(RealFs.read(&f, 9), Err(ReadError::TooLarge)));
        let missing = dir.path().join("missing");
        assert!(RealFs.write(&missing, b"x").is_err());
        assert!(!missing.exists());
        RealFs.write(&f, b"ab").unwrap();
        assert_eq!(&std::fs::read(&f).unwrap()[..2], b"ab");
    }
}
