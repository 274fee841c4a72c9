//! KVM's half of the extended guest request, in both generations of its host interface
//! (DESIGN.md "Host interface, two generations"): the seed's `KVM_EXIT_VMGEXIT` REQ_CERTS and the
//! `KVM_EXIT_SNP_REQ_CERTS` exit that merged. Each module defines the exit record the VMM sees and
//! how KVM turns the VMM's completion into the guest's answer; the platform drives both through
//! the same [`CertsDecision`], which is why both give the guest identical answers.

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
    /// Return the generic VMM error `0xFFFF_FFFF_0000_0000`.
    Generic,
}

/// A VMM completion KVM refuses (`KVM_RUN` fails with `-EINVAL`): a VMM bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("KVM_RUN failed with EINVAL: the VMM completed KVM_EXIT_SNP_REQ_CERTS with ret {ret}, which is not 0, ENOSPC, EAGAIN or EIO")]
pub struct InvalidCompletion {
    /// The bogus `ret`.
    pub ret: u64,
}
