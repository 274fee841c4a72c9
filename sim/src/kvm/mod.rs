//! KVM's half of the extended guest request, in both generations of its host interface
//! (DESIGN.md "Host interface, two generations"): the seed's `KVM_EXIT_VMGEXIT` REQ_CERTS and the
//! `KVM_EXIT_SNP_REQ_CERTS` exit that merged. Each module defines the exit record the VMM sees and
//! how KVM turns the VMM's completion into the guest's answer; the platform drives both through
//! the same [`CertsDecision`].
//!
//! The guest sees the same *kinds* of answer from both, but not the same bits (issue 16):
//! - the seed hands the VMM's `ret` to the guest unchanged in the upper 32 bits
//!   (`SNP_GUEST_ERR(vmm_ret, 0)`), so its generic error `1 << 31` arrives as
//!   `0x8000_0000_0000_0000` and a buggy `ret` of 22 as `22 << 32`; what merged maps `EIO` to
//!   KVM's `0xFFFF_FFFF_0000_0000` and refuses anything else;
//! - in the seed a firmware failure comes back as `SNP_GUEST_VMM_ERR_GENERIC << 32 | fw_err`
//!   with the seed's `SNP_GUEST_VMM_ERR_GENERIC = BIT(31)` (v15 `snp_handle_guest_req` /
//!   `snp_complete_ext_guest_req`: `__snp_handle_guest_req` fails whenever the firmware does);
//!   the simulator's merged interface answers `fw_err` alone;
//! - the seed exits to the VMM for *every* extended request; what merged exits only for
//!   MSG_REPORT_REQ (KVM reads the plaintext MSG_TYPE first).

pub mod merged;
pub mod seed;

/// Which host interface a simulated VM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Generation {
    /// The v15 seed patch: `KVM_EXIT_VMGEXIT` with REQ_CERTS, NOTIFY_DONE completion.
    Seed,
    /// What merged (Linux 7.0 cycle): `KVM_EXIT_SNP_REQ_CERTS`, errno `ret`, immediate-exit
    /// completion.
    Merged,
}

/// What KVM does with the guest's request after the VMM completed the exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertsDecision {
    /// Issue the firmware request.
    Proceed,
    /// Return INVALID_LEN with RBX := pages.
    InvalidLen(u64),
    /// Return BUSY.
    Busy,
    /// Fail the guest's request with this exact SW_EXITINFO2 (merged: the generic
    /// `0xFFFF_FFFF_0000_0000`; seed: the VMM's `ret << 32`).
    Fail(u64),
}

/// The seed's `SNP_GUEST_VMM_ERR_GENERIC` (`BIT(31)`), as the VMM half of SW_EXITINFO2.
pub const SEED_VMM_ERR_GENERIC: u32 = 1 << 31;

impl Generation {
    /// SW_EXITINFO2 for a request the firmware refused with `fw_err`.
    pub fn firmware_failure(self, fw_err: u32) -> u64 {
        match self {
            Generation::Seed => (u64::from(SEED_VMM_ERR_GENERIC) << 32) | u64::from(fw_err),
            Generation::Merged => u64::from(fw_err),
        }
    }

    /// Whether an extended guest request carrying a message of type `msg_type` exits to the
    /// VMM for certificates.
    pub fn exits_for_certs(self, msg_type: snp_ghcb::message::MsgType) -> bool {
        match self {
            Generation::Seed => true,
            Generation::Merged => msg_type == snp_ghcb::message::MsgType::ReportReq,
        }
    }
}

/// A VMM completion KVM refuses (`KVM_RUN` fails with `-EINVAL`): a VMM bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("KVM_RUN failed with EINVAL: the VMM completed KVM_EXIT_SNP_REQ_CERTS with ret {ret}, which is not 0, ENOSPC, EAGAIN or EIO")]
pub struct InvalidCompletion {
    /// The bogus `ret`.
    pub ret: u64,
}
