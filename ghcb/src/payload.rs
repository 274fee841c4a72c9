//! MSG_REPORT_REQ/RSP and MSG_KEY_REQ/RSP payloads.
//!
//! These are the plaintexts inside [`crate::message`] envelopes. Each has an explicit
//! little-endian `encode` into a caller's buffer and a bounds-checked `decode` from bytes; the
//! guest encodes requests and decodes responses, the simulated firmware does the reverse.
//!
//! MSG_REPORT_REQ (96 bytes; byte-identical to Linux `struct snp_report_req`, whose `rsvd[28]`
//! begins with the KEY_SEL word):
//!
//! | off  | size | field                          |
//! |------|------|--------------------------------|
//! | 0x00 | 64   | REPORT_DATA                    |
//! | 0x40 | 4    | VMPL                           |
//! | 0x44 | 4    | bits 1:0 KEY_SEL, 31:2 reserved |
//! | 0x48 | 24   | reserved                       |
//!
//! MSG_REPORT_RSP (0x4C0 bytes): STATUS u32, REPORT_SIZE u32, 24 reserved, REPORT (0x4A0).
//!
//! MSG_KEY_REQ (32 bytes, message version 1): ROOT_KEY_SELECT u32 (bit 0: 0 = VCEK-derived,
//! 1 = VMRK; bits 2:1 KEY_SEL on newer firmware), reserved u32, GUEST_FIELD_SELECT u64, VMPL u32,
//! GUEST_SVN u32, TCB_VERSION u64. MSG_KEY_RSP (64 bytes): STATUS u32, 28 reserved, DERIVED_KEY (32).

use thiserror::Error;

use crate::exit::FwStatus;

/// Size of an ATTESTATION_REPORT.
pub const REPORT_SIZE: usize = 0x4A0;
/// Size of MSG_REPORT_REQ.
pub const REPORT_REQ_SIZE: usize = 0x60;
/// Offset of the report inside MSG_REPORT_RSP.
pub const REPORT_RSP_HEADER_SIZE: usize = 0x20;
/// Size of MSG_REPORT_RSP.
pub const REPORT_RSP_SIZE: usize = REPORT_RSP_HEADER_SIZE + REPORT_SIZE;
/// Size of MSG_KEY_REQ (message version 1).
pub const KEY_REQ_SIZE: usize = 0x20;
/// Size of MSG_KEY_RSP.
pub const KEY_RSP_SIZE: usize = 0x40;
/// Size of a derived key.
pub const DERIVED_KEY_SIZE: usize = 32;

/// KEY_SEL: VLEK if one is installed, else VCEK.
pub const KEY_SEL_DEFAULT: u8 = 0;
/// KEY_SEL: sign with the VCEK.
pub const KEY_SEL_VCEK: u8 = 1;
/// KEY_SEL: sign with the VLEK (firmware answers INVALID_KEY if none is loaded).
pub const KEY_SEL_VLEK: u8 = 2;

/// Why a payload could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// Input shorter than the layout.
    #[error("payload truncated: need {needed} bytes, got {got}")]
    Truncated {
        /// Bytes required.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// Output buffer too small.
    #[error("output buffer too small: need {needed} bytes, got {got}")]
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// KEY_SEL outside bits 1:0, or the reserved value 3.
    #[error("KEY_SEL {0} is invalid (0 = default, 1 = VCEK, 2 = VLEK)")]
    BadKeySel(u32),
    /// A reserved field is non-zero.
    #[error("reserved payload byte at offset {offset:#x} is non-zero")]
    ReservedNonZero {
        /// Offset of the first non-zero reserved byte.
        offset: usize,
    },
    /// REPORT_SIZE in a successful response is not the size of an attestation report.
    #[error("report response claims REPORT_SIZE {got:#x}, expected {expected:#x}")]
    BadReportSize {
        /// REPORT_SIZE found.
        got: u32,
        /// REPORT_SIZE expected.
        expected: u32,
    },
}

fn need(bytes: &[u8], n: usize) -> Result<&[u8], PayloadError> {
    bytes.get(..n).ok_or(PayloadError::Truncated {
        needed: n,
        got: bytes.len(),
    })
}

fn need_mut(out: &mut [u8], n: usize) -> Result<&mut [u8], PayloadError> {
    let got = out.len();
    out.get_mut(..n)
        .ok_or(PayloadError::BufferTooSmall { needed: n, got })
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn check_zero(b: &[u8], range: core::ops::Range<usize>) -> Result<(), PayloadError> {
    let start = range.start;
    match b[range].iter().position(|&x| x != 0) {
        Some(i) => Err(PayloadError::ReservedNonZero { offset: start + i }),
        None => Ok(()),
    }
}

/// MSG_REPORT_REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportReq {
    /// 64 bytes bound into the report (e.g. a hash of a nonce and a public key).
    pub report_data: [u8; 64],
    /// VMPL to report (must be ≥ the caller's VMPL, else firmware status INVALID_PARAM).
    pub vmpl: u32,
    /// KEY_SEL (bits 1:0): [`KEY_SEL_DEFAULT`], [`KEY_SEL_VCEK`] or [`KEY_SEL_VLEK`].
    pub key_sel: u8,
}

impl ReportReq {
    /// Encode into `out[..96]` (the rest of `out` is untouched).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, PayloadError> {
        if self.key_sel > KEY_SEL_VLEK {
            return Err(PayloadError::BadKeySel(self.key_sel as u32));
        }
        let o = need_mut(out, REPORT_REQ_SIZE)?;
        o.fill(0);
        o[..64].copy_from_slice(&self.report_data);
        o[0x40..0x44].copy_from_slice(&self.vmpl.to_le_bytes());
        o[0x44..0x48].copy_from_slice(&(self.key_sel as u32).to_le_bytes());
        Ok(REPORT_REQ_SIZE)
    }

    /// Encode into a fresh 96-byte array.
    pub fn to_bytes(&self) -> Result<[u8; REPORT_REQ_SIZE], PayloadError> {
        let mut b = [0u8; REPORT_REQ_SIZE];
        self.encode(&mut b)?;
        Ok(b)
    }

    /// Decode (firmware side): reserved bits and bytes must be zero and KEY_SEL must not be 3.
    /// Real firmware answers such a request with status INVALID_PARAM; the simulator maps these
    /// errors to that status.
    pub fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        let b = need(bytes, REPORT_REQ_SIZE)?;
        let mut report_data = [0u8; 64];
        report_data.copy_from_slice(&b[..64]);
        let sel_word = u32_at(b, 0x44);
        if sel_word > KEY_SEL_VLEK as u32 {
            return Err(PayloadError::BadKeySel(sel_word));
        }
        check_zero(b, 0x48..REPORT_REQ_SIZE)?;
        Ok(Self {
            report_data,
            vmpl: u32_at(b, 0x40),
            key_sel: sel_word as u8,
        })
    }
}

/// MSG_REPORT_RSP.
#[derive(Clone, PartialEq, Eq)]
pub struct ReportRsp {
    /// STATUS: firmware status of the report request (INVALID_PARAM for a bad VMPL, INVALID_KEY
    /// for a missing VLEK). Not a transport error: the message itself was fine.
    pub status: FwStatus,
    /// REPORT_SIZE as sent.
    pub report_size: u32,
    /// The report bytes (all zero unless `status` is success).
    pub report: [u8; REPORT_SIZE],
}

impl core::fmt::Debug for ReportRsp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReportRsp")
            .field("status", &self.status)
            .field("report_size", &self.report_size)
            .finish_non_exhaustive()
    }
}

impl ReportRsp {
    /// A successful response carrying `report`.
    pub fn success(report: [u8; REPORT_SIZE]) -> Self {
        Self {
            status: FwStatus::Success,
            report_size: REPORT_SIZE as u32,
            report,
        }
    }

    /// A failed response (no report).
    pub fn failure(status: FwStatus) -> Self {
        Self {
            status,
            report_size: 0,
            report: [0; REPORT_SIZE],
        }
    }

    /// Encode into `out[..0x4C0]`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, PayloadError> {
        let o = need_mut(out, REPORT_RSP_SIZE)?;
        o.fill(0);
        o[0..4].copy_from_slice(&self.status.to_u32().to_le_bytes());
        o[4..8].copy_from_slice(&self.report_size.to_le_bytes());
        o[REPORT_RSP_HEADER_SIZE..].copy_from_slice(&self.report);
        Ok(REPORT_RSP_SIZE)
    }

    /// Decode (guest side). A successful status requires REPORT_SIZE = 0x4A0 and all of the
    /// report present; a failed status needs only the 0x20-byte header (the report is left zero).
    /// Reserved bytes are not checked: they are the firmware's, and a guest gains nothing by
    /// refusing a report over them.
    pub fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        let h = need(bytes, REPORT_RSP_HEADER_SIZE)?;
        let status = FwStatus::from_u32(u32_at(h, 0));
        let report_size = u32_at(h, 4);
        let mut report = [0u8; REPORT_SIZE];
        if status == FwStatus::Success {
            if report_size as usize != REPORT_SIZE {
                return Err(PayloadError::BadReportSize {
                    got: report_size,
                    expected: REPORT_SIZE as u32,
                });
            }
            let b = need(bytes, REPORT_RSP_SIZE)?;
            report.copy_from_slice(&b[REPORT_RSP_HEADER_SIZE..]);
        }
        Ok(Self {
            status,
            report_size,
            report,
        })
    }
}

/// MSG_KEY_REQ (message version 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReq {
    /// ROOT_KEY_SELECT word: bit 0 root key (0 VCEK, 1 VMRK), bits 2:1 KEY_SEL on newer firmware.
    pub root_key_select: u32,
    /// GUEST_FIELD_SELECT: which guest fields are mixed into the derived key.
    pub guest_field_select: u64,
    /// VMPL to mix in (≥ caller's VMPL).
    pub vmpl: u32,
    /// Guest SVN to mix in.
    pub guest_svn: u32,
    /// TCB version to mix in.
    pub tcb_version: u64,
}

impl KeyReq {
    /// Encode into `out[..32]`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, PayloadError> {
        let o = need_mut(out, KEY_REQ_SIZE)?;
        o.fill(0);
        o[0..4].copy_from_slice(&self.root_key_select.to_le_bytes());
        o[8..16].copy_from_slice(&self.guest_field_select.to_le_bytes());
        o[0x10..0x14].copy_from_slice(&self.vmpl.to_le_bytes());
        o[0x14..0x18].copy_from_slice(&self.guest_svn.to_le_bytes());
        o[0x18..0x20].copy_from_slice(&self.tcb_version.to_le_bytes());
        Ok(KEY_REQ_SIZE)
    }

    /// Decode (firmware side); the reserved word at 0x04 must be zero.
    pub fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        let b = need(bytes, KEY_REQ_SIZE)?;
        check_zero(b, 4..8)?;
        Ok(Self {
            root_key_select: u32_at(b, 0),
            guest_field_select: u64_at(b, 8),
            vmpl: u32_at(b, 0x10),
            guest_svn: u32_at(b, 0x14),
            tcb_version: u64_at(b, 0x18),
        })
    }
}

/// MSG_KEY_RSP. The derived key is secret: zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRsp {
    /// STATUS.
    pub status: FwStatus,
    /// DERIVED_KEY.
    pub derived_key: [u8; DERIVED_KEY_SIZE],
}

impl Drop for KeyRsp {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.derived_key);
    }
}

impl core::fmt::Debug for KeyRsp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyRsp")
            .field("status", &self.status)
            .field("derived_key", &"<redacted>")
            .finish()
    }
}

impl KeyRsp {
    /// Encode into `out[..64]`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, PayloadError> {
        let o = need_mut(out, KEY_RSP_SIZE)?;
        o.fill(0);
        o[0..4].copy_from_slice(&self.status.to_u32().to_le_bytes());
        o[0x20..0x40].copy_from_slice(&self.derived_key);
        Ok(KEY_RSP_SIZE)
    }

    /// Decode (guest side).
    pub fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        let b = need(bytes, KEY_RSP_SIZE)?;
        let mut derived_key = [0u8; DERIVED_KEY_SIZE];
        derived_key.copy_from_slice(&b[0x20..0x40]);
        Ok(Self {
            status: FwStatus::from_u32(u32_at(b, 0)),
            derived_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn report_req_layout() {
        let r = ReportReq {
            report_data: core::array::from_fn(|i| i as u8),
            vmpl: 2,
            key_sel: KEY_SEL_VLEK,
        };
        let b = r.to_bytes().unwrap();
        assert_eq!(b[63], 63);
        assert_eq!(&b[0x40..0x48], &[2, 0, 0, 0, 2, 0, 0, 0]);
        assert!(b[0x48..].iter().all(|&x| x == 0));
        assert_eq!(ReportReq::decode(&b), Ok(r));
        let bad = ReportReq { key_sel: 3, ..r };
        assert_eq!(bad.to_bytes(), Err(PayloadError::BadKeySel(3)));
        let mut t = b;
        t[0x45] = 1; // KEY_SEL reserved bits
        assert_eq!(ReportReq::decode(&t), Err(PayloadError::BadKeySel(0x102)));
        let mut t = b;
        t[0x50] = 1;
        assert_eq!(
            ReportReq::decode(&t),
            Err(PayloadError::ReservedNonZero { offset: 0x50 })
        );
        assert_eq!(
            ReportReq::decode(&b[..95]),
            Err(PayloadError::Truncated {
                needed: 96,
                got: 95
            })
        );
    }

    #[test]
    fn report_rsp_round_trip_and_bounds() {
        let report: [u8; REPORT_SIZE] = core::array::from_fn(|i| (i * 7) as u8);
        let rsp = ReportRsp::success(report);
        let mut b = [0u8; REPORT_RSP_SIZE];
        assert_eq!(rsp.encode(&mut b), Ok(REPORT_RSP_SIZE));
        assert_eq!(&b[..8], &[0, 0, 0, 0, 0xA0, 4, 0, 0]);
        assert_eq!(ReportRsp::decode(&b), Ok(rsp.clone()));
        assert!(matches!(
            ReportRsp::decode(&b[..REPORT_RSP_SIZE - 1]),
            Err(PayloadError::Truncated { .. })
        ));
        let mut big = b;
        big[4..8].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        assert_eq!(
            ReportRsp::decode(&big),
            Err(PayloadError::BadReportSize {
                got: u32::MAX,
                expected: 0x4A0
            })
        );
        let fail = ReportRsp::failure(FwStatus::InvalidParam);
        fail.encode(&mut b).unwrap();
        let d = ReportRsp::decode(&b[..0x20]).unwrap();
        assert_eq!(d.status, FwStatus::InvalidParam);
    }

    #[test]
    fn key_round_trip() {
        let k = KeyReq {
            root_key_select: 1,
            guest_field_select: 0x3F,
            vmpl: 1,
            guest_svn: 5,
            tcb_version: 0x0102_0304_0506_0708,
        };
        let mut b = [0u8; KEY_REQ_SIZE];
        k.encode(&mut b).unwrap();
        assert_eq!(KeyReq::decode(&b), Ok(k));
        b[5] = 1;
        assert_eq!(
            KeyReq::decode(&b),
            Err(PayloadError::ReservedNonZero { offset: 5 })
        );
        let r = KeyRsp {
            status: FwStatus::Success,
            derived_key: [9; 32],
        };
        let mut b = [0u8; KEY_RSP_SIZE];
        r.encode(&mut b).unwrap();
        assert_eq!(KeyRsp::decode(&b), Ok(r));
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..0x600)) {
            let _ = ReportReq::decode(&bytes);
            let _ = ReportRsp::decode(&bytes);
            let _ = KeyReq::decode(&bytes);
            let _ = KeyRsp::decode(&bytes);
        }
    }
}
