//! What can go wrong while obtaining an extended report, with what an operator can do about it.
//!
//! One flat enum for all backends: where two backends fail for the same reason (the host stayed
//! busy, the VMPCK is disabled, the host's certificates do not fit) they return the same variant,
//! so a caller — and the CLI's exit codes — need not care which path was taken. Every ioctl-level
//! failure keeps both the errno and the `exitinfo2` the kernel wrote back ([`KernelStatus`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;
use snp_ghcb::exit::{ExitInfo2, FwStatus};
use thiserror::Error;

use super::BackendKind;

/// What the kernel said about one request: the ioctl's return value, its errno and the
/// `exitinfo2` it copied back (zeroed by us before the call, so 0 means "not written").
/// Through configfs-tsm only the errno is visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelStatus {
    /// The ioctl return value (0, -1, or a positive GHCB-level code). 0 for configfs reads.
    pub ret: i32,
    /// The errno, when the call failed with one.
    pub errno: Option<Errno>,
    /// `exitinfo2` as written back; `None` where the interface does not expose it (configfs-tsm).
    pub exitinfo2: Option<u64>,
}

impl KernelStatus {
    /// Status of a failed configfs-tsm operation (only an errno is visible).
    pub fn from_errno(errno: Errno) -> Self {
        KernelStatus {
            ret: -1,
            errno: Some(errno),
            exitinfo2: None,
        }
    }
}

impl fmt::Display for KernelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno {
            Some(e) => write!(f, "errno {e:?} ({})", e.desc())?,
            None => write!(f, "return value {}", self.ret)?,
        }
        match self.exitinfo2 {
            Some(v) => write!(f, ", {}", ExitInfo2::from_u64(v)),
            None => f.write_str(", exitinfo2 not visible through this interface"),
        }
    }
}

/// A backend could not produce an extended report.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BackendError {
    // ----- nothing to talk to -------------------------------------------------------------
    /// `auto` found neither configfs-tsm nor `/dev/sev-guest`.
    #[error(
        "no SEV-SNP guest interface found: configfs-tsm at {} is unusable ({tsm_reason}) and {} is unusable ({device_reason}); \
         run inside an SEV-SNP guest with the sev-guest driver loaded (`modprobe sev-guest`; configfs mounted at /sys/kernel/config), \
         or use `--backend sim` to talk to the built-in simulator (which proves nothing about this machine)",
        tsm_root.display(), device.display()
    )]
    NoPlatform {
        /// The configfs-tsm report directory that was tried.
        tsm_root: PathBuf,
        /// Why it could not be used.
        tsm_reason: String,
        /// The device that was tried.
        device: PathBuf,
        /// Why it could not be used.
        device_reason: String,
    },

    /// The `/dev/sev-guest` device could not be opened.
    #[error(
        "cannot open {}: {source}; {hint}",
        path.display(),
        hint = device_hint(source)
    )]
    DeviceUnavailable {
        /// The device path.
        path: PathBuf,
        /// Why `open(2)` failed.
        #[source]
        source: io::Error,
    },

    /// The configfs-tsm report directory is missing or does not behave like one.
    #[error(
        "configfs-tsm is unusable at {}: {reason}; it needs Linux >= 6.7 with the sev-guest driver loaded and configfs \
         mounted (`mount -t configfs none /sys/kernel/config`), or choose `--backend sev-guest`",
        root.display()
    )]
    TsmUnavailable {
        /// The report directory.
        root: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// `--backend sim` was asked for but this build has no simulator.
    #[error("this snp-agent was built without the simulator (cargo feature `sim`); rebuild with `--features sim` or use a real backend")]
    SimNotBuilt,

    /// The simulator could not be set up (a bad product or VM configuration).
    #[error("could not set up the simulator: {0}")]
    SimSetup(String),

    // ----- the request was refused or failed --------------------------------------------------
    /// The host needs a larger certificate buffer than this path can offer.
    #[error(
        "the host needs {needed} bytes for its certificate table but the {backend} backend offers at most {max} bytes; \
         no report was returned. Ask the host operator to shrink the certificate blob{hint}{}",
        status.map(|s| format!(" ({s})")).unwrap_or_default(),
        hint = too_large_hint(*backend)
    )]
    CertsTooLarge {
        /// Which backend.
        backend: BackendKind,
        /// Bytes the host asked for.
        needed: u64,
        /// The most this backend can offer.
        max: u64,
        /// The kernel's answer, for kernel paths.
        status: Option<KernelStatus>,
    },

    /// The host answered INVALID_LEN asking for no more than was offered: a host bug.
    #[error(
        "the host answered INVALID_LEN asking for {needed} bytes although {offered} were offered ({status}); \
         this is a host (VMM) bug — report it to the host operator"
    )]
    InconsistentInvalidLen {
        /// Bytes offered.
        offered: u64,
        /// Bytes the host claimed to need.
        needed: u64,
        /// The kernel's answer.
        status: KernelStatus,
    },

    /// The host stayed busy past the deadline; the VMPCK can no longer be used.
    #[error(
        "the host stayed busy (BUSY answers, e.g. a throttling hypervisor or a locked certificate blob) past the deadline \
         via the {backend} backend; the VMPCK is now disabled and no further report can be obtained until the guest \
         reboots (or the sev-guest driver is reloaded with another vmpck_id) — do NOT retry{}",
        detail_suffix(status, detail)
    )]
    BusyTimeout {
        /// Which backend.
        backend: BackendKind,
        /// The kernel's answer, for kernel paths.
        status: Option<KernelStatus>,
        /// Extra detail from the driver (attempts, time waited).
        detail: Option<String>,
    },

    /// The host stayed busy past a retry bound while the key is kept. The in-process GHCB
    /// driver no longer produces this (issue 16: BUSY past its deadline wipes the key and is
    /// [`BackendError::BusyTimeout`]); kept for callers that match on it.
    #[error(
        "the host stayed busy (BUSY answers: a throttling hypervisor or a locked certificate blob) via the {backend} \
         backend: {detail}; a longer retry deadline may help"
    )]
    HostBusy {
        /// Which backend.
        backend: BackendKind,
        /// What the retry policy said.
        detail: String,
    },

    /// The host's answers made no progress (e.g. INVALID_LEN without a usable size, or again and
    /// again); the key is kept.
    #[error(
        "the host misbehaved via the {backend} backend: {detail}; the VMPCK is kept — try again later, and report \
         the host's behaviour to its operator if it persists"
    )]
    HostMisbehaved {
        /// Which backend.
        backend: BackendKind,
        /// What happened.
        detail: String,
    },

    /// The kernel's configfs-tsm provider failed the request with an errno that does not say
    /// more precisely why.
    #[error(
        "the kernel's sev_guest provider failed the request ({status}): a firmware or host error, or a host \
         certificate blob larger than the 16 KiB the kernel offers (`--backend sev-guest` reports the size the host \
         wants); the VMPCK has probably been disabled — check `dmesg`"
    )]
    ProviderFailed {
        /// The errno seen reading `outblob`.
        status: KernelStatus,
    },

    /// The VMPCK was disabled by an earlier failure, or there is no SEV-SNP guest driver behind the
    /// interface.
    #[error(
        "the {backend} backend refused the request because the VMPCK is disabled (an earlier request failed, so the \
         key was wiped to avoid reusing a sequence number) or no SEV-SNP guest driver answers; reboot the guest or \
         reload sev-guest with another `vmpck_id`{}",
        detail_suffix(status, detail)
    )]
    VmpckDisabled {
        /// Which backend.
        backend: BackendKind,
        /// The kernel's answer, for kernel paths.
        status: Option<KernelStatus>,
        /// Extra detail from the driver.
        detail: Option<String>,
    },

    /// The requested VMPL does not exist.
    #[error("VMPL {vmpl} does not exist: a report can be requested for VMPL 0..=3 (default 0)")]
    BadVmpl {
        /// What was asked for.
        vmpl: u32,
    },

    /// The kernel refused the request's parameters.
    #[error(
        "the kernel refused the request as invalid ({status}): the VMPL may be below the driver's vmpck_id \
         (privlevel_floor), the report data not 64 bytes, or the buffer not page-aligned; check `--vmpl`"
    )]
    InvalidRequest {
        /// The kernel's answer.
        status: KernelStatus,
    },

    /// The firmware refused the guest message (status in the low half of `exitinfo2`).
    #[error(
        "the firmware refused the request with status {fw} via the {backend} backend; the VMPCK has been disabled, \
         reboot the guest before trying again{}",
        status.map(|s| format!(" ({s})")).unwrap_or_default()
    )]
    Firmware {
        /// Which backend.
        backend: BackendKind,
        /// The firmware status.
        fw: FwStatus,
        /// The kernel's answer, for kernel paths.
        status: Option<KernelStatus>,
    },

    /// The host (VMM/KVM) failed the request with an error of its own.
    #[error(
        "the host failed the request ({detail}) via the {backend} backend; the VMPCK has been disabled — reboot the \
         guest, and ask the host operator to check the VMM's certificate configuration{}",
        status.map(|s| format!(" ({s})")).unwrap_or_default()
    )]
    HostError {
        /// Which backend.
        backend: BackendKind,
        /// What the host said.
        detail: String,
        /// The kernel's answer, for kernel paths.
        status: Option<KernelStatus>,
    },

    /// The host rejected the exit at the GHCB level (a positive ioctl return, no errno).
    #[error(
        "the host rejected the guest request at the GHCB level (ioctl returned {ret}, {status}); the kernel has \
         disabled the VMPCK — reboot the guest and report the host's misbehaviour"
    )]
    GhcbRejected {
        /// The positive ioctl return (2 = VMM error, 4 = exception injected).
        ret: i32,
        /// The kernel's answer.
        status: KernelStatus,
    },

    /// The response failed authentication or its header checks (a tampering or broken host).
    #[error(
        "the firmware response was rejected ({detail}) via the {backend} backend: it was tampered with, replayed or \
         truncated on its way through the host; the VMPCK has been disabled — reboot the guest"
    )]
    ResponseRejected {
        /// Which backend.
        backend: BackendKind,
        /// What failed.
        detail: String,
    },

    /// The firmware answered, but refused to produce a report (status inside MSG_REPORT_RSP).
    #[error(
        "the firmware refused to produce the report: status {status} inside the response{hint}",
        hint = match status {
            FwStatus::InvalidParam => " (the requested VMPL is below this guest's own; choose a larger --vmpl)",
            FwStatus::InvalidKey => " (the requested signing key is not available: no VLEK loaded, or a bad key selection)",
            _ => "",
        }
    )]
    ReportRefused {
        /// The status inside the response.
        status: FwStatus,
    },

    /// The response was authentic but its contents are out of bounds.
    #[error("the firmware response is malformed: {0}")]
    MalformedResponse(String),

    /// Any other ioctl failure.
    #[error(
        "SNP_GET_EXT_REPORT failed ({status}); see `dmesg` for the sev-guest driver's message"
    )]
    Ioctl {
        /// The kernel's answer.
        status: KernelStatus,
    },

    // ----- configfs-tsm specifics -----------------------------------------------------------------
    /// A configfs-tsm filesystem operation failed.
    #[error("configfs-tsm: {op} {} failed: {source}; {}", path.display(), tsm_hint(source))]
    TsmIo {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },

    /// The configfs-tsm provider is not SEV-SNP.
    #[error("configfs-tsm at {} is served by provider {found:?}, not \"sev_guest\": this is not an SEV-SNP guest (TDX?)", path.display())]
    TsmProvider {
        /// The `provider` file.
        path: PathBuf,
        /// What it said.
        found: String,
    },

    /// Another writer changed the report entry under us, every time we tried.
    #[error(
        "configfs-tsm: another process kept writing the report entry (generation {found}, expected {expected}) in all \
         {attempts} attempts; find the concurrent user of {}", root.display()
    )]
    TsmGenerationRace {
        /// The report directory.
        root: PathBuf,
        /// Attempts made.
        attempts: u32,
        /// Generation we expected.
        expected: u64,
        /// Generation found.
        found: u64,
    },

    /// The kernel produced no report.
    #[error(
        "configfs-tsm returned an empty outblob at {}: the host rejected the request at the GHCB level or the provider \
         failed silently; the VMPCK has probably been disabled — check `dmesg` and reboot the guest", path.display()
    )]
    TsmEmptyReport {
        /// The `outblob` file.
        path: PathBuf,
    },

    /// A configfs file was larger than any valid content.
    #[error("configfs-tsm: {} holds more than {max} bytes, more than any valid content; refusing to read it", path.display())]
    TsmTooLarge {
        /// The file.
        path: PathBuf,
        /// The bound.
        max: usize,
    },

    /// A configfs file did not hold what the ABI says.
    #[error("configfs-tsm: {} holds {content:?}, not {expected}", path.display())]
    TsmUnexpected {
        /// The file.
        path: PathBuf,
        /// What was read (truncated).
        content: String,
        /// What was expected.
        expected: &'static str,
    },

    // ----- the in-process driver ----------------------------------------------------------------
    /// A bug in snp-agent (a request it built could not be encoded).
    #[error("internal error in snp-agent: {0}; please report this")]
    Internal(String),

    /// The in-process GHCB driver failed for a reason not covered above.
    #[error("the in-process GHCB driver failed: {0}")]
    Driver(String),

    // issue 15: the TCB-update race seen from the guest (backend/stale.rs).
    /// The host kept serving a certificate blob whose VEK is for another TCB (or chip) than
    /// the report, after bounded re-asks: a TCB update raced the request and the host did not
    /// hold its blob lock, or the operator raised the TCB without rewriting the blob.
    #[error(
        "the host served a stale certificate blob via the {backend} backend: {detail} (after {attempts} requests). \
         The host raised its TCB without rewriting the blob, or rewrote it without holding the blob lock across \
         the update; ask the host operator to rewrite the blob for the current TCB (`snp-agent host blob install`) \
         and to run updates under the exclusive lock; `snp-agent doctor` names the problem"
    )]
    StaleHostBlob {
        /// Which backend.
        backend: BackendKind,
        /// Requests made (the first and every re-ask).
        attempts: u32,
        /// Which TCB/chip was served and which the report has.
        detail: String,
    },
}

fn device_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => {
            "no sev-guest driver: this is not an SEV-SNP guest, or the driver is not loaded (`modprobe sev-guest`); \
             `--backend sim` talks to the simulator instead"
        }
        io::ErrorKind::PermissionDenied => {
            "run as root or grant this user access to the device (e.g. a udev rule)"
        }
        _ => "check that the path names the SEV-SNP guest device",
    }
}

fn too_large_hint(backend: BackendKind) -> &'static str {
    match backend {
        BackendKind::Sim => {
            ", or raise the retry policy's max_cert_pages if this host is trusted to serve that much"
        }
        _ => " (the Linux guest driver cannot pass more than 16 KiB, SEV_FW_BLOB_MAX_SIZE)",
    }
}

fn tsm_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ETIMEDOUT) => {
            "the host stayed busy for 60 s and the kernel disabled the VMPCK; reboot the guest, do not retry"
        }
        Some(Errno::ENOTTY) => "the VMPCK is disabled by an earlier failure; reboot the guest",
        Some(Errno::EACCES) | Some(Errno::EPERM) => "run as root",
        Some(Errno::ENOENT) => "configfs-tsm or the sev-guest provider is missing",
        _ => "check `dmesg` for the sev-guest driver's message",
    }
}

fn detail_suffix(status: &Option<KernelStatus>, detail: &Option<String>) -> String {
    let mut s = String::new();
    if let Some(st) = status {
        s.push_str(&format!(" ({st})"));
    }
    if let Some(d) = detail {
        s.push_str(&format!(" [{d}]"));
    }
    s
}

impl BackendError {
    /// No SEV-SNP interface exists here (not an error of the platform: a usage/environment error).
    /// The CLI maps this to its "unavailable" exit code.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            BackendError::NoPlatform { .. }
                | BackendError::DeviceUnavailable { .. }
                | BackendError::TsmUnavailable { .. }
                | BackendError::SimNotBuilt
        )
    }

    /// The VMPCK can no longer be used: retrying in this boot cannot help.
    pub fn is_key_disabled(&self) -> bool {
        matches!(
            self,
            BackendError::BusyTimeout { .. }
                | BackendError::VmpckDisabled { .. }
                | BackendError::Firmware { .. }
                | BackendError::HostError { .. }
                | BackendError::GhcbRejected { .. }
                | BackendError::ResponseRejected { .. }
                | BackendError::TsmEmptyReport { .. }
        )
    }

    /// The caller's own parameters were refused (a different VMPL may help).
    pub fn is_invalid_request(&self) -> bool {
        matches!(
            self,
            BackendError::InvalidRequest { .. }
                | BackendError::ReportRefused { .. }
                | BackendError::BadVmpl { .. }
        )
    }
}
