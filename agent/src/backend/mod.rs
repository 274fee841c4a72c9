//! Backends: the ways a guest obtains an *extended* report (report + the host's certificate table).
//!
//! Every backend returns the raw bytes exactly as the platform produced them, before any parsing,
//! so that an unparsable report can still be saved and shown to an operator.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use tracing::{debug, info};

mod error;
pub mod sev_guest;
#[cfg(feature = "sim")]
pub mod sim;
pub mod stale;
pub mod tsm;

pub use error::{BackendError, KernelStatus};
pub use snp_ghcb::retry::RetryPolicy;

/// What the caller asks the platform to put into the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// 64 bytes bound into REPORT_DATA (a nonce, or a hash of a key the workload holds).
    pub report_data: [u8; 64],
    /// The VMPL the report is requested at (0..=3); firmware refuses one below the caller's own.
    pub vmpl: u32,
}

impl Default for ReportRequest {
    fn default() -> Self {
        ReportRequest {
            report_data: [0; 64],
            vmpl: 0,
        }
    }
}

/// The raw answer of an extended guest request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedReport {
    /// The ATTESTATION_REPORT bytes as returned (normally 0x4A0 bytes).
    pub report: Vec<u8>,
    /// The certificate table as the host served it (may be empty: many hosts serve none).
    pub cert_table: Vec<u8>,
}

/// Which backend to use. `Auto` tries configfs-tsm, then `/dev/sev-guest`, and never falls back to
/// the simulator: an agent must not pretend to be attested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// configfs-tsm, then /dev/sev-guest.
    #[default]
    Auto,
    /// `/sys/kernel/config/tsm/report`.
    Tsm,
    /// `/dev/sev-guest` ioctls.
    SevGuest,
    /// The in-process simulator (explicit only).
    Sim,
}

impl BackendKind {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::Tsm => "tsm",
            BackendKind::SevGuest => "sev-guest",
            BackendKind::Sim => "sim",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(BackendKind::Auto),
            "tsm" => Ok(BackendKind::Tsm),
            "sev-guest" => Ok(BackendKind::SevGuest),
            "sim" => Ok(BackendKind::Sim),
            other => Err(format!(
                "unknown backend {other:?}: expected auto, tsm, sev-guest or sim"
            )),
        }
    }
}

/// A way to obtain an extended report. Implementations return the platform's raw bytes and never
/// parse the report: an unparsable report is still returned so it can be saved and shown.
pub trait Backend: Send {
    /// Which backend this is (never [`BackendKind::Auto`]).
    fn kind(&self) -> BackendKind;
    /// Ask for a report bound to `req.report_data` at `req.vmpl`, with the host's certificates.
    fn get_ext_report(&mut self, req: &ReportRequest) -> Result<ExtendedReport, BackendError>;
}

/// Everything [`open`] needs. `Default` gives the standard Linux paths and the documented retry
/// policy.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// The SEV-SNP guest device (default `/dev/sev-guest`).
    pub device: PathBuf,
    /// The configfs-tsm report directory (default `/sys/kernel/config/tsm/report`).
    pub tsm_root: PathBuf,
    /// Attempts when another process writes our configfs-tsm entry concurrently (default 3).
    pub tsm_attempts: u32,
    /// `msg_version` of the ioctl's MSG_REPORT_REQ (default 1, what the kernel's configfs path uses).
    pub msg_version: u8,
    /// The retry policy of the in-process GHCB driver (the kernel paths retry inside Linux).
    pub retry: RetryPolicy,
    /// The simulated platform for `--backend sim`.
    #[cfg(feature = "sim")]
    pub sim: sim::SimSettings,
    /// Re-asks after a stale certificate blob (issue 15, [`stale::ReaskPolicy`]).
    pub reask: stale::ReaskPolicy,
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions {
            device: PathBuf::from("/dev/sev-guest"),
            tsm_root: PathBuf::from(tsm::DEFAULT_ROOT),
            tsm_attempts: tsm::DEFAULT_ATTEMPTS,
            msg_version: sev_guest::DEFAULT_MSG_VERSION,
            retry: RetryPolicy::default(),
            #[cfg(feature = "sim")]
            sim: sim::SimSettings::default(),
            reask: stale::ReaskPolicy::default(),
        }
    }
}

/// Open a backend. `Auto` tries configfs-tsm, then `/dev/sev-guest`, and fails with
/// [`BackendError::NoPlatform`] (saying how to use `--backend sim`) where neither exists: it never
/// falls back to the simulator, because an agent must not pretend to be attested.
pub fn open(kind: BackendKind, opts: &BackendOptions) -> Result<Box<dyn Backend>, BackendError> {
    // issue 15: every backend re-asks when the host serves a stale blob (see stale.rs).
    open_unguarded(kind, opts)
        .map(|b| Box::new(stale::StaleGuard::new(b, opts.reask)) as Box<dyn Backend>)
}

/// [`open`] without the stale-blob guard ([`stale::StaleGuard`]): what the host answers, as is.
pub fn open_unguarded(
    kind: BackendKind,
    opts: &BackendOptions,
) -> Result<Box<dyn Backend>, BackendError> {
    match kind {
        BackendKind::Tsm => Ok(Box::new(tsm::TsmBackend::open(
            &opts.tsm_root,
            opts.tsm_attempts,
        )?)),
        BackendKind::SevGuest => Ok(Box::new(sev_guest::SevGuestBackend::open(
            &opts.device,
            opts.msg_version,
        )?)),
        BackendKind::Sim => open_sim(opts),
        BackendKind::Auto => {
            let tsm_reason = match tsm::TsmBackend::open(&opts.tsm_root, opts.tsm_attempts) {
                Ok(b) => {
                    info!(root = %opts.tsm_root.display(), "using configfs-tsm");
                    return Ok(Box::new(b));
                }
                Err(e) => {
                    debug!(error = %e, "configfs-tsm unusable");
                    e.to_string()
                }
            };
            let device_reason =
                match sev_guest::SevGuestBackend::open(&opts.device, opts.msg_version) {
                    Ok(b) => {
                        info!(device = %opts.device.display(), "using the sev-guest device");
                        return Ok(Box::new(b));
                    }
                    Err(BackendError::DeviceUnavailable { source, .. }) => source.to_string(),
                    Err(e) => e.to_string(),
                };
            Err(BackendError::NoPlatform {
                tsm_root: opts.tsm_root.clone(),
                tsm_reason,
                device: opts.device.clone(),
                device_reason,
            })
        }
    }
}

#[cfg(feature = "sim")]
fn open_sim(opts: &BackendOptions) -> Result<Box<dyn Backend>, BackendError> {
    Ok(Box::new(sim::SimBackend::new(&opts.sim, opts.retry)?))
}

#[cfg(not(feature = "sim"))]
fn open_sim(_opts: &BackendOptions) -> Result<Box<dyn Backend>, BackendError> {
    Err(BackendError::SimNotBuilt)
}

/// Size of an entry of the GHCB certificate table.
const CERT_ENTRY_SIZE: usize = 24;

/// How many bytes of a certificate buffer the host's table occupies — the rule the kernel uses
/// for configfs-tsm's `auxblob` (max offset + length over the entries before the all-zero
/// terminator), so the ioctl and configfs paths return the same bytes. A buffer holding no
/// entries gives 0 (the host served no certificates). The walk is bounded by the buffer; where
/// the table is malformed (no terminator, an entry past the end) the whole buffer is kept so the
/// parser, not this function, reports the problem.
pub(crate) fn cert_table_extent(buf: &[u8]) -> usize {
    let mut end = 0usize;
    for (i, entry) in buf.chunks_exact(CERT_ENTRY_SIZE).enumerate() {
        if entry.iter().all(|&b| b == 0) {
            if i == 0 {
                return 0;
            }
            let header = (i + 1) * CERT_ENTRY_SIZE;
            return end.max(header).min(buf.len());
        }
        let word = |at: usize| {
            entry
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_le_bytes)
                .unwrap_or(0) as usize
        };
        match word(16).checked_add(word(20)) {
            Some(e) if e <= buf.len() => end = end.max(e),
            _ => return buf.len(),
        }
    }
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(guid: u8, offset: u32, len: u32) -> Vec<u8> {
        let mut e = vec![guid; 16];
        e.extend_from_slice(&offset.to_le_bytes());
        e.extend_from_slice(&len.to_le_bytes());
        e
    }

    #[test]
    fn extent_of_tables() {
        // no entries at all
        assert_eq!(cert_table_extent(&[0u8; 4096]), 0);
        assert_eq!(cert_table_extent(&[]), 0);
        // two entries + terminator, payloads after the header
        let mut buf = entry(1, 72, 100);
        buf.extend(entry(2, 172, 50));
        buf.extend([0u8; 24]);
        buf.resize(4096, 0);
        assert_eq!(cert_table_extent(&buf), 222);
        // entries with zero lengths: the header is kept so the parser can complain
        let mut buf = entry(1, 0, 0);
        buf.resize(4096, 0);
        assert_eq!(cert_table_extent(&buf), 48);
        // entry past the end / overflowing: whole buffer kept
        let mut buf = entry(1, 4000, 200);
        buf.resize(4096, 0);
        assert_eq!(cert_table_extent(&buf), 4096);
        let mut buf = entry(1, u32::MAX, u32::MAX);
        buf.resize(4096, 0);
        assert_eq!(cert_table_extent(&buf), 4096);
        // no terminator: whole buffer kept
        let buf = vec![0xFFu8; 4096];
        assert_eq!(cert_table_extent(&buf), 4096);
    }

    #[test]
    fn auto_never_falls_back_to_the_simulator() {
        let dir = tempfile::tempdir().unwrap();
        let opts = BackendOptions {
            device: dir.path().join("no-such-device"),
            tsm_root: dir.path().join("no-such-tsm"),
            ..BackendOptions::default()
        };
        let e = open(BackendKind::Auto, &opts).err().expect("must fail");
        assert!(matches!(e, BackendError::NoPlatform { .. }), "{e:?}");
        assert!(e.is_unavailable());
        let msg = e.to_string();
        assert!(msg.contains("--backend sim"), "{msg}");
        assert!(
            msg.contains("no-such-device") && msg.contains("no-such-tsm"),
            "{msg}"
        );
    }

    #[test]
    fn explicit_backends_report_unavailability() {
        let dir = tempfile::tempdir().unwrap();
        let opts = BackendOptions {
            device: dir.path().join("sev-guest"),
            tsm_root: dir.path().join("tsm"),
            ..BackendOptions::default()
        };
        let e = open(BackendKind::SevGuest, &opts).err().expect("must fail");
        assert!(matches!(e, BackendError::DeviceUnavailable { .. }), "{e:?}");
        assert!(e.to_string().contains("--backend sim"));
        let e = open(BackendKind::Tsm, &opts).err().expect("must fail");
        assert!(matches!(e, BackendError::TsmUnavailable { .. }), "{e:?}");
    }

    /// A production build without the simulator refuses `--backend sim` with a clear error.
    #[cfg(not(feature = "sim"))]
    #[test]
    fn sim_is_refused_when_not_built() {
        let e = open(BackendKind::Sim, &BackendOptions::default())
            .err()
            .expect("no simulator in this build");
        assert!(matches!(e, BackendError::SimNotBuilt) && e.is_unavailable());
    }

    proptest! {
        #[test]
        fn extent_never_panics_and_stays_in_bounds(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
            let n = cert_table_extent(&buf);
            prop_assert!(n <= buf.len());
        }
    }
}
