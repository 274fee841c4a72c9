//! What a report request returns: the raw decrypted MSG_REPORT_RSP and the certificate length.

use crate::exit::FwStatus;
use crate::message::MAX_PAYLOAD;
use crate::payload::{PayloadError, ReportRsp, REPORT_RSP_HEADER_SIZE};

use super::DriverError;

/// The decrypted MSG_REPORT_RSP exactly as the firmware sent it. Kept raw so a report that later
/// fails to parse or verify can still be saved and inspected.
#[derive(Clone)]
pub struct ReportResponse {
    pub(super) bytes: [u8; MAX_PAYLOAD],
    pub(super) len: usize,
}

impl core::fmt::Debug for ReportResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReportResponse")
            .field("len", &self.len)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl ReportResponse {
    /// The decrypted MSG_REPORT_RSP payload (MSG_SIZE bytes).
    pub fn raw(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// STATUS (the driver only returns responses with at least the 0x20-byte header).
    pub fn status(&self) -> FwStatus {
        let mut s = [0u8; 4];
        s.copy_from_slice(&self.bytes[..4]);
        FwStatus::from_u32(u32::from_le_bytes(s))
    }

    /// Parse into a [`ReportRsp`] (checks REPORT_SIZE).
    pub fn parse(&self) -> Result<ReportRsp, PayloadError> {
        ReportRsp::decode(self.raw())
    }

    /// The raw ATTESTATION_REPORT bytes, as sized by REPORT_SIZE (bounded by what was received).
    pub fn report(&self) -> Result<&[u8], PayloadError> {
        let rsp = self.raw();
        let mut s = [0u8; 4];
        s.copy_from_slice(&rsp[4..8]);
        let size = u32::from_le_bytes(s) as usize;
        rsp.get(REPORT_RSP_HEADER_SIZE..REPORT_RSP_HEADER_SIZE.saturating_add(size))
            .ok_or(PayloadError::Truncated {
                needed: REPORT_RSP_HEADER_SIZE.saturating_add(size),
                got: rsp.len(),
            })
    }
}

/// Result of an extended report request: the raw response and the certificate data length.
#[derive(Debug, Clone)]
pub struct ExtReport {
    /// The raw MSG_REPORT_RSP.
    pub response: ReportResponse,
    /// Bytes of certificate data in the caller's buffer (whole pages as the host filled them;
    /// the certificate table starts at offset 0 and is terminated by a zero entry).
    pub certs_len: usize,
}

pub(super) fn check_report_response(out: &ReportResponse) -> Result<(), DriverError> {
    if out.len < REPORT_RSP_HEADER_SIZE {
        return Err(DriverError::ResponseTooShort {
            len: out.len,
            needed: REPORT_RSP_HEADER_SIZE,
        });
    }
    let status = out.status();
    if status != FwStatus::Success {
        return Err(DriverError::FirmwareRefused { status });
    }
    Ok(())
}
