//! Backends: the ways a guest obtains an *extended* report (report + the host's certificate table).
//!
//! Every backend returns the raw bytes exactly as the platform produced them, before any parsing,
//! so that an unparsable report can still be saved and shown to an operator.

use std::fmt;
use std::str::FromStr;

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
