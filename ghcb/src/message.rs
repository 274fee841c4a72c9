//! The SNP guest message: header, AES-256-GCM seal/open under a VMPCK.
//!
//! Guest and firmware exchange 4 KiB message pages: a 0x60-byte header followed by the payload
//! encrypted with AES-256-GCM under a VMPCK (VM platform communication key, one of four in the
//! secrets page). Layout (AMD pub. 56860; Linux `snp_guest_msg_hdr`; abi-facts §1.8):
//!
//! | off  | size | field        | rule                                   |
//! |------|------|--------------|----------------------------------------|
//! | 0x00 | 32   | AUTHTAG      | GCM tag in bytes 0..16, rest zero       |
//! | 0x20 | 8    | MSG_SEQNO    | IV; response = request + 1              |
//! | 0x28 | 8    | reserved     | zero                                   |
//! | 0x30 | 1    | ALGO         | 1 = AES-256-GCM                         |
//! | 0x31 | 1    | HDR_VERSION  | 1                                      |
//! | 0x32 | 2    | HDR_SIZE     | 0x60                                   |
//! | 0x34 | 1    | MSG_TYPE     | [`MsgType`]                            |
//! | 0x35 | 1    | MSG_VERSION  | 1 for reports                          |
//! | 0x36 | 2    | MSG_SIZE     | payload bytes                          |
//! | 0x38 | 4    | reserved     | zero                                   |
//! | 0x3C | 1    | MSG_VMPCK    | key id 0..=3                           |
//! | 0x3D | 35   | reserved     | zero                                   |
//!
//! IV = MSG_SEQNO little-endian, zero-padded to 12 bytes; AAD = header bytes 0x30..0x60; the tag
//! is 16 bytes. [`seal`] and [`open`] are used by both sides: the guest seals requests and opens
//! responses, the simulated firmware opens requests and seals responses.
//!
//! What [`open`] can and cannot tell apart: every header field it checks (sequence number, type,
//! version, VMPCK id, algorithm, header version/size, reserved bytes, size bounds) has its own
//! [`MessageError`] variant and is checked *before* decryption. Once the header is as expected, a
//! changed ciphertext, a changed tag, a changed AAD byte that is not otherwise checked (a smaller
//! but in-bounds MSG_SIZE) and a wrong key all look identical to AES-GCM — one bit of "does the tag
//! verify" — so they share [`MessageError::AuthenticationFailed`]. Claiming finer diagnosis would
//! be a lie.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::page::PAGE_SIZE;

/// Size of the message header.
pub const MSG_HDR_SIZE: usize = 0x60;
/// Largest payload that fits in one message page.
pub const MAX_PAYLOAD: usize = PAGE_SIZE - MSG_HDR_SIZE;
/// ALGO value for AES-256-GCM (the only defined algorithm; 0 is invalid).
pub const ALGO_AES_256_GCM: u8 = 1;
/// The header version this crate speaks.
pub const HDR_VERSION: u8 = 1;
/// Length of the GCM tag actually used (the AUTHTAG field is 32 bytes).
pub const AUTHTAG_LEN: usize = 16;
/// Size of the AUTHTAG field.
pub const AUTHTAG_FIELD_LEN: usize = 32;
/// The header range authenticated as AAD.
pub const AAD_RANGE: core::ops::Range<usize> = 0x30..0x60;
/// Message version of MSG_REPORT_REQ/RSP and MSG_KEY_REQ/RSP used by Linux and this crate.
pub const MSG_VERSION_1: u8 = 1;

const OFF_SEQNO: usize = 0x20;
const OFF_ALGO: usize = 0x30;
const OFF_HDR_VERSION: usize = 0x31;
const OFF_HDR_SIZE: usize = 0x32;
const OFF_TYPE: usize = 0x34;
const OFF_VERSION: usize = 0x35;
const OFF_SIZE: usize = 0x36;
const OFF_VMPCK: usize = 0x3C;
/// Reserved header ranges that must be zero.
const RESERVED: [core::ops::Range<usize>; 3] = [0x28..0x30, 0x38..0x3C, 0x3D..0x60];

/// SNP guest message types (Linux `enum msg_type`). A response's type is its request's + 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// 0: invalid.
    Invalid,
    /// 1: CPUID request.
    CpuidReq,
    /// 2: CPUID response.
    CpuidRsp,
    /// 3: derived key request.
    KeyReq,
    /// 4: derived key response.
    KeyRsp,
    /// 5: attestation report request.
    ReportReq,
    /// 6: attestation report response.
    ReportRsp,
    /// 7: export request (migration).
    ExportReq,
    /// 8: export response.
    ExportRsp,
    /// 9: import request.
    ImportReq,
    /// 10: import response.
    ImportRsp,
    /// 11: absorb request.
    AbsorbReq,
    /// 12: absorb response.
    AbsorbRsp,
    /// 13: VMRK request.
    VmrkReq,
    /// 14: VMRK response.
    VmrkRsp,
    /// 17: TSC info request (Secure TSC).
    TscInfoReq,
    /// 18: TSC info response.
    TscInfoRsp,
    /// Any other value (15/16 are not named by Linux).
    Other(u8),
}

impl MsgType {
    /// Decode the MSG_TYPE byte. Total.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => MsgType::Invalid,
            1 => MsgType::CpuidReq,
            2 => MsgType::CpuidRsp,
            3 => MsgType::KeyReq,
            4 => MsgType::KeyRsp,
            5 => MsgType::ReportReq,
            6 => MsgType::ReportRsp,
            7 => MsgType::ExportReq,
            8 => MsgType::ExportRsp,
            9 => MsgType::ImportReq,
            10 => MsgType::ImportRsp,
            11 => MsgType::AbsorbReq,
            12 => MsgType::AbsorbRsp,
            13 => MsgType::VmrkReq,
            14 => MsgType::VmrkRsp,
            17 => MsgType::TscInfoReq,
            18 => MsgType::TscInfoRsp,
            v => MsgType::Other(v),
        }
    }

    /// Encode as the MSG_TYPE byte.
    pub const fn to_u8(self) -> u8 {
        match self {
            MsgType::Invalid => 0,
            MsgType::CpuidReq => 1,
            MsgType::CpuidRsp => 2,
            MsgType::KeyReq => 3,
            MsgType::KeyRsp => 4,
            MsgType::ReportReq => 5,
            MsgType::ReportRsp => 6,
            MsgType::ExportReq => 7,
            MsgType::ExportRsp => 8,
            MsgType::ImportReq => 9,
            MsgType::ImportRsp => 10,
            MsgType::AbsorbReq => 11,
            MsgType::AbsorbRsp => 12,
            MsgType::VmrkReq => 13,
            MsgType::VmrkRsp => 14,
            MsgType::TscInfoReq => 17,
            MsgType::TscInfoRsp => 18,
            MsgType::Other(v) => v,
        }
    }

    /// The response type expected for this request type (type + 1), if it is a named request.
    pub const fn response(self) -> Option<MsgType> {
        match self {
            MsgType::CpuidReq => Some(MsgType::CpuidRsp),
            MsgType::KeyReq => Some(MsgType::KeyRsp),
            MsgType::ReportReq => Some(MsgType::ReportRsp),
            MsgType::ExportReq => Some(MsgType::ExportRsp),
            MsgType::ImportReq => Some(MsgType::ImportRsp),
            MsgType::AbsorbReq => Some(MsgType::AbsorbRsp),
            MsgType::VmrkReq => Some(MsgType::VmrkRsp),
            MsgType::TscInfoReq => Some(MsgType::TscInfoRsp),
            _ => None,
        }
    }
}

/// A VMPCK id (0..=3): which of the four VM platform communication keys a message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VmpckId(u8);

impl VmpckId {
    /// VMPCK0 (the key a VMPL0 guest normally uses).
    pub const ZERO: VmpckId = VmpckId(0);

    /// Validate a key id.
    pub const fn new(id: u8) -> Result<Self, MessageError> {
        if id <= 3 {
            Ok(VmpckId(id))
        } else {
            Err(MessageError::InvalidVmpckId(id))
        }
    }

    /// The id as a byte.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A 32-byte VMPCK. Zeroized on drop; `Debug` never prints the key.
#[derive(Clone)]
pub struct Vmpck([u8; 32]);

impl Zeroize for Vmpck {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for Vmpck {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for Vmpck {}

impl Vmpck {
    /// Wrap key bytes (e.g. copied from the secrets page). Zeroize your own copy afterwards.
    pub fn new(key: [u8; 32]) -> Self {
        Vmpck(key)
    }

    /// An all-zero key is how Linux and the secrets page mark a VMPCK as unavailable (not
    /// provisioned for this VMPL, or wiped after a failure).
    pub fn is_zero(&self) -> bool {
        self.0.iter().fold(0u8, |acc, b| acc | b) == 0
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&self.0).into())
    }
}

impl core::fmt::Debug for Vmpck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Vmpck(<redacted>)")
    }
}

/// The per-message header values both sides agree on (everything except tag and size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgMeta {
    /// Sequence number (also the IV).
    pub seqno: u64,
    /// Message type.
    pub msg_type: MsgType,
    /// Message version.
    pub msg_version: u8,
    /// Key id.
    pub vmpck_id: VmpckId,
}

/// A decoded header. Decoding only parses; [`open`] is what validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgHeader {
    /// The AUTHTAG field (tag in the first 16 bytes).
    pub authtag: [u8; AUTHTAG_FIELD_LEN],
    /// MSG_SEQNO.
    pub seqno: u64,
    /// ALGO.
    pub algo: u8,
    /// HDR_VERSION.
    pub hdr_version: u8,
    /// HDR_SIZE.
    pub hdr_size: u16,
    /// MSG_TYPE.
    pub msg_type: MsgType,
    /// MSG_VERSION.
    pub msg_version: u8,
    /// MSG_SIZE (payload bytes).
    pub msg_size: u16,
    /// MSG_VMPCK (raw byte; may be out of range in a hostile message).
    pub vmpck: u8,
}

impl MsgHeader {
    /// A header for `meta` with a payload of `msg_size` bytes and a zero tag.
    pub fn new(meta: &MsgMeta, msg_size: u16) -> Self {
        Self {
            authtag: [0; AUTHTAG_FIELD_LEN],
            seqno: meta.seqno,
            algo: ALGO_AES_256_GCM,
            hdr_version: HDR_VERSION,
            hdr_size: MSG_HDR_SIZE as u16,
            msg_type: meta.msg_type,
            msg_version: meta.msg_version,
            msg_size,
            vmpck: meta.vmpck_id.get(),
        }
    }

    /// Parse the first 0x60 bytes of `bytes`. Fails only if fewer are present.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let h = bytes
            .get(..MSG_HDR_SIZE)
            .ok_or(MessageError::TruncatedHeader { len: bytes.len() })?;
        let mut authtag = [0u8; AUTHTAG_FIELD_LEN];
        authtag.copy_from_slice(&h[..AUTHTAG_FIELD_LEN]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&h[OFF_SEQNO..OFF_SEQNO + 8]);
        Ok(Self {
            authtag,
            seqno: u64::from_le_bytes(seq),
            algo: h[OFF_ALGO],
            hdr_version: h[OFF_HDR_VERSION],
            hdr_size: u16::from_le_bytes([h[OFF_HDR_SIZE], h[OFF_HDR_SIZE + 1]]),
            msg_type: MsgType::from_u8(h[OFF_TYPE]),
            msg_version: h[OFF_VERSION],
            msg_size: u16::from_le_bytes([h[OFF_SIZE], h[OFF_SIZE + 1]]),
            vmpck: h[OFF_VMPCK],
        })
    }

    /// Write the header into `out[..0x60]`, reserved bytes zero.
    pub fn encode(&self, out: &mut [u8]) -> Result<(), MessageError> {
        let len = out.len();
        let h = out
            .get_mut(..MSG_HDR_SIZE)
            .ok_or(MessageError::BufferTooSmall {
                needed: MSG_HDR_SIZE,
                got: len,
            })?;
        h.fill(0);
        h[..AUTHTAG_FIELD_LEN].copy_from_slice(&self.authtag);
        h[OFF_SEQNO..OFF_SEQNO + 8].copy_from_slice(&self.seqno.to_le_bytes());
        h[OFF_ALGO] = self.algo;
        h[OFF_HDR_VERSION] = self.hdr_version;
        h[OFF_HDR_SIZE..OFF_HDR_SIZE + 2].copy_from_slice(&self.hdr_size.to_le_bytes());
        h[OFF_TYPE] = self.msg_type.to_u8();
        h[OFF_VERSION] = self.msg_version;
        h[OFF_SIZE..OFF_SIZE + 2].copy_from_slice(&self.msg_size.to_le_bytes());
        h[OFF_VMPCK] = self.vmpck;
        Ok(())
    }
}

/// Why a message could not be sealed or opened. Each detectable cause has its own variant; see
/// the module documentation for what AES-GCM cannot distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MessageError {
    /// The output buffer cannot hold the result.
    #[error("buffer too small: need {needed} bytes, got {got}")]
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The payload does not fit in one message page.
    #[error("payload of {len} bytes exceeds the {max}-byte message maximum")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// Fewer than 0x60 bytes: no complete header.
    #[error("message truncated: {len} bytes, a header needs 0x60")]
    TruncatedHeader {
        /// Bytes present.
        len: usize,
    },
    /// ALGO is not AES-256-GCM.
    #[error("message algorithm {0} is not AES-256-GCM (1)")]
    BadAlgorithm(u8),
    /// HDR_VERSION is not 1.
    #[error("message header version {0} is not 1")]
    BadHeaderVersion(u8),
    /// HDR_SIZE is not 0x60.
    #[error("message header size {0:#x} is not 0x60")]
    BadHeaderSize(u16),
    /// A reserved header byte is non-zero.
    #[error("reserved message header byte at offset {offset:#x} is {value:#x}, must be zero")]
    ReservedNonZero {
        /// Offset of the first non-zero reserved byte.
        offset: usize,
        /// Its value.
        value: u8,
    },
    /// MSG_SEQNO differs from the expected one (a replayed, reordered or forged message).
    #[error("message sequence number {got} where {expected} was expected (replayed or out-of-order message)")]
    SeqnoMismatch {
        /// Expected seqno.
        expected: u64,
        /// Seqno found.
        got: u64,
    },
    /// MSG_TYPE differs from the expected one.
    #[error("message type {got} where {expected} was expected")]
    TypeMismatch {
        /// Expected type byte.
        expected: u8,
        /// Type byte found.
        got: u8,
    },
    /// MSG_VERSION differs from the expected one.
    #[error("message version {got} where {expected} was expected")]
    VersionMismatch {
        /// Expected version.
        expected: u8,
        /// Version found.
        got: u8,
    },
    /// MSG_VMPCK differs from the key id expected.
    #[error("message names VMPCK {got} where VMPCK {expected} was expected")]
    VmpckIdMismatch {
        /// Expected key id.
        expected: u8,
        /// Key id found.
        got: u8,
    },
    /// MSG_SIZE exceeds the page or the bytes actually present.
    #[error("message size {msg_size} exceeds the {available} payload bytes available")]
    SizeOutOfBounds {
        /// MSG_SIZE.
        msg_size: u16,
        /// Payload bytes available.
        available: usize,
    },
    /// A key id outside 0..=3.
    #[error("VMPCK id {0} is out of range 0..=3")]
    InvalidVmpckId(u8),
    /// The AES-GCM tag did not verify: ciphertext, tag, an unchecked AAD byte or the key differ
    /// from what the sender used (AES-GCM cannot say which).
    #[error(
        "message authentication failed: ciphertext, tag or key do not match (cannot tell which)"
    )]
    AuthenticationFailed,
    /// AES-GCM refused to encrypt (cannot happen for payloads within [`MAX_PAYLOAD`]).
    #[error("AES-GCM encryption failed")]
    EncryptionFailed,
}

fn nonce(seqno: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&seqno.to_le_bytes());
    iv
}

/// Seal `payload` into `out`: the whole of `out` is zeroed, then header (with tag) and ciphertext
/// are written to `out[..0x60 + payload.len()]`. Returns the number of bytes written.
///
/// The caller owns the rule that a (VMPCK, seqno) pair is never sealed twice; this function cannot
/// know, and [`crate::driver::GuestDriver`] enforces it.
pub fn seal(
    out: &mut [u8],
    meta: &MsgMeta,
    vmpck: &Vmpck,
    payload: &[u8],
) -> Result<usize, MessageError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(MessageError::PayloadTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    let total = MSG_HDR_SIZE + payload.len();
    if out.len() < total {
        return Err(MessageError::BufferTooSmall {
            needed: total,
            got: out.len(),
        });
    }
    out.fill(0);
    // payload.len() <= MAX_PAYLOAD < u16::MAX, so the cast is lossless.
    let header = MsgHeader::new(meta, payload.len() as u16);
    header.encode(out)?;
    let (hdr, body) = out.split_at_mut(MSG_HDR_SIZE);
    let ct = &mut body[..payload.len()];
    ct.copy_from_slice(payload);
    let tag = vmpck
        .cipher()
        .encrypt_in_place_detached(&Nonce::from(nonce(meta.seqno)), &hdr[AAD_RANGE], ct)
        .map_err(|_| MessageError::EncryptionFailed)?;
    hdr[..AUTHTAG_LEN].copy_from_slice(&tag);
    Ok(total)
}

/// Validate the header of `msg` against `expect` and decrypt its payload into `out`. Returns the
/// payload length. On any error `out` is zeroed (no unauthenticated plaintext escapes).
///
/// Checks, in order: a complete header; ALGO = 1, HDR_VERSION = 1, HDR_SIZE = 0x60; reserved bytes
/// zero; MSG_VMPCK, MSG_SEQNO, MSG_TYPE, MSG_VERSION as expected; MSG_SIZE within the page, the
/// bytes present and `out`; then the AES-GCM tag.
pub fn open(
    msg: &[u8],
    expect: &MsgMeta,
    vmpck: &Vmpck,
    out: &mut [u8],
) -> Result<usize, MessageError> {
    let r = open_inner(msg, expect, vmpck, out);
    if r.is_err() {
        out.fill(0);
    }
    r
}

fn open_inner(
    msg: &[u8],
    expect: &MsgMeta,
    vmpck: &Vmpck,
    out: &mut [u8],
) -> Result<usize, MessageError> {
    let h = MsgHeader::decode(msg)?;
    if h.algo != ALGO_AES_256_GCM {
        return Err(MessageError::BadAlgorithm(h.algo));
    }
    if h.hdr_version != HDR_VERSION {
        return Err(MessageError::BadHeaderVersion(h.hdr_version));
    }
    if h.hdr_size as usize != MSG_HDR_SIZE {
        return Err(MessageError::BadHeaderSize(h.hdr_size));
    }
    for range in RESERVED {
        for off in range {
            // `decode` succeeded, so msg has at least MSG_HDR_SIZE bytes.
            let value = msg[off];
            if value != 0 {
                return Err(MessageError::ReservedNonZero { offset: off, value });
            }
        }
    }
    if h.vmpck != expect.vmpck_id.get() {
        return Err(MessageError::VmpckIdMismatch {
            expected: expect.vmpck_id.get(),
            got: h.vmpck,
        });
    }
    if h.seqno != expect.seqno {
        return Err(MessageError::SeqnoMismatch {
            expected: expect.seqno,
            got: h.seqno,
        });
    }
    if h.msg_type != expect.msg_type {
        return Err(MessageError::TypeMismatch {
            expected: expect.msg_type.to_u8(),
            got: h.msg_type.to_u8(),
        });
    }
    if h.msg_version != expect.msg_version {
        return Err(MessageError::VersionMismatch {
            expected: expect.msg_version,
            got: h.msg_version,
        });
    }
    let size = h.msg_size as usize;
    let available = (msg.len() - MSG_HDR_SIZE).min(MAX_PAYLOAD);
    if size > available {
        return Err(MessageError::SizeOutOfBounds {
            msg_size: h.msg_size,
            available,
        });
    }
    if out.len() < size {
        return Err(MessageError::BufferTooSmall {
            needed: size,
            got: out.len(),
        });
    }
    let ct = &msg[MSG_HDR_SIZE..MSG_HDR_SIZE + size];
    let pt = &mut out[..size];
    pt.copy_from_slice(ct);
    let mut tag_bytes = [0u8; AUTHTAG_LEN];
    tag_bytes.copy_from_slice(&h.authtag[..AUTHTAG_LEN]);
    let tag = Tag::from(tag_bytes);
    vmpck
        .cipher()
        .decrypt_in_place_detached(&Nonce::from(nonce(expect.seqno)), &msg[AAD_RANGE], pt, &tag)
        .map_err(|_| MessageError::AuthenticationFailed)?;
    Ok(size)
}

#[cfg(test)]
mod tests;
