//! The driver's errors: platform primitives, why a key was wiped, and what a request returns.

use thiserror::Error;

use crate::exit::{ExitInfo2, FwStatus, HvResponse};
use crate::message::MessageError;
use crate::msr::MsrError;
use crate::payload::PayloadError;
use crate::retry::RetryError;

use super::{Gpa, StoreError};

/// Failures of the platform primitives themselves (not of a guest request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PlatformError {
    /// No host-shared memory of that size could be allocated.
    #[error("could not allocate {npages} host-shared pages")]
    OutOfSharedMemory {
        /// Pages requested.
        npages: usize,
    },
    /// A GPA range is not (entirely) host-shared guest memory.
    #[error("GPA range {gpa:#x}+{len:#x} is not host-shared guest memory")]
    InvalidGpa {
        /// Start of the range.
        gpa: Gpa,
        /// Length in bytes.
        len: usize,
    },
    /// The VMGEXIT could not be performed (no GHCB registered with the platform, the VM is
    /// being torn down, …): the exit never reached the host. The request page is host-shared
    /// memory all the same, so the driver still treats its message as seen.
    #[error("the VMGEXIT never reached the host: {0}")]
    ExitNotDelivered(&'static str),
    /// The host received and handled the exit but could not complete it — e.g. the VMM
    /// answered REQ_CERTS and merged KVM refused that completion, so `KVM_RUN` failed and a real
    /// guest would not be resumed. The host saw the request; whether the firmware did is
    /// unknown to the guest.
    #[error("the host handled the exit but failed to complete it: {0}")]
    HostRunFailed(&'static str),
    /// The hypervisor terminated the guest or stopped answering.
    #[error("the hypervisor terminated the guest or stopped answering")]
    Terminated,
}

/// Why a VMPCK was disabled. Once disabled, a key is never used again by this driver: the firmware
/// may have consumed a message whose sequence number we cannot account for, and the only IV-safe
/// continuation is to stop using the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WipeReason {
    /// The host or firmware answered with an error SW_EXITINFO2 (neither success, BUSY nor a
    /// usable INVALID_LEN); the firmware may or may not have processed the message.
    #[error("the host/firmware answered {0}")]
    HostError(ExitInfo2),
    /// The hypervisor rejected the GHCB exchange itself (SW_EXITINFO1 ≠ 0).
    #[error("the hypervisor rejected the GHCB exchange ({0:?})")]
    GhcbError(HvResponse),
    /// The hypervisor did not mark SW_EXITINFO1/2 valid: the outcome is unknown.
    #[error("the hypervisor returned no SW_EXITINFO1/2 (outcome unknown)")]
    ExitInfoMissing,
    /// The firmware's response failed verification (wrong seqno/type/version, bad tag, …).
    #[error("the response failed verification: {0}")]
    BadResponse(MessageError),
    /// The platform lost the exit (the hypervisor stopped answering); the outcome is unknown.
    #[error("the platform lost the exit: {0}")]
    PlatformLost(PlatformError),
    /// The host answered BUSY until the retry policy gave up. BUSY claims the firmware never
    /// saw the message, but that is the host's word: a hostile host can forward it, keep the
    /// response and answer BUSY. The message's sequence number can therefore be used neither for
    /// another message nor trusted to be unconsumed, so the key goes (as Linux and coconut-svsm
    /// do).
    #[error("the host stayed BUSY: {0}")]
    HostStayedBusy(RetryError),
    /// The key's home ([`super::VmpckStore`]) no longer holds it: another user of the same
    /// guest wiped it.
    #[error("the key was wiped in its home (the secrets page) by another user")]
    KeyGoneFromStore,
}

/// Errors of the guest driver. Each message says what happened to the key and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DriverError {
    /// A platform primitive failed while no message was exposed to the host (allocating or
    /// clearing the certificate area, reading a consumed response). The key is kept and its count
    /// is exact.
    #[error("platform failure ({0}); the VMPCK is kept and the next request may succeed")]
    Platform(PlatformError),
    /// The message count could not be persisted to the key's home, so nothing was sent (the
    /// message was never sealed); the key is kept.
    #[error("cannot persist the VMPCK message count ({0}); nothing was sent, the VMPCK is kept")]
    Store(StoreError),
    /// An MSR protocol exchange failed during setup.
    #[error("GHCB MSR protocol: {0}")]
    Msr(MsrError),
    /// The hypervisor does not speak GHCB protocol version 2 (needed for SNP guest requests).
    #[error("the hypervisor supports GHCB protocol versions {min}..={max}, SEV-SNP guest requests need version 2")]
    ProtocolUnsupported {
        /// Lowest version offered.
        min: u16,
        /// Highest version offered.
        max: u16,
    },
    /// No (non-zero) key is installed for this VMPCK id.
    #[error("no VMPCK{id} is available (all-zero or not installed): this VMPL has no access to it; use the VMPCK matching the guest's VMPL")]
    NoKey {
        /// Key id.
        id: u8,
    },
    /// This request caused the key to be wiped.
    #[error("VMPCK{id} has been wiped because {reason}; no further guest request can use it (reboot, or use another VMPCK)")]
    Wiped {
        /// Key id.
        id: u8,
        /// Why.
        reason: WipeReason,
    },
    /// The key was wiped by an earlier failure.
    #[error("VMPCK{id} is disabled since an earlier failure ({reason}); no guest request can succeed with it until the guest reboots or another VMPCK is used")]
    KeyDisabled {
        /// Key id.
        id: u8,
        /// Why it was wiped.
        reason: WipeReason,
    },
    /// The retry policy gave up on INVALID_LEN (the host wants more than the policy allows, or
    /// keeps growing). The unconsumed sequence number was burnt first (the same message re-sent
    /// as a plain request and answered), so the key is kept and in step. BUSY past the policy
    /// is [`DriverError::Wiped`] with [`WipeReason::HostStayedBusy`] instead.
    #[error("{0}; the VMPCK is kept")]
    Retry(RetryError),
    /// The sequence number space of the key is exhausted.
    #[error(
        "VMPCK{id} has used up its sequence numbers; no further requests are possible with it"
    )]
    SeqnoExhausted {
        /// Key id.
        id: u8,
    },
    /// The caller's certificate buffer cannot grow to what the host needs.
    #[error("the host needs {needed_pages} certificate pages but the buffer holds only {capacity_pages}; pass a larger buffer")]
    CertBufferTooSmall {
        /// Pages needed.
        needed_pages: usize,
        /// Pages the buffer can hold.
        capacity_pages: usize,
    },
    /// The firmware processed the request but refused it (MSG_REPORT_RSP/MSG_KEY_RSP status).
    #[error("the firmware refused the request with status {status}: INVALID_PARAM usually means a VMPL below the guest's, INVALID_KEY a VLEK requested but none loaded")]
    FirmwareRefused {
        /// The status.
        status: FwStatus,
    },
    /// The firmware's (authenticated) response is shorter than its type requires.
    #[error("the firmware response has {len} bytes, at least {needed} are required")]
    ResponseTooShort {
        /// Bytes received.
        len: usize,
        /// Bytes required.
        needed: usize,
    },
    /// Encoding the request payload failed.
    #[error("request payload: {0}")]
    Payload(PayloadError),
    /// Sealing the request failed.
    #[error("sealing the request: {0}")]
    Message(MessageError),
    /// Defence in depth: the driver refused to seal a second message under one (VMPCK, seqno).
    #[error("internal error: refusing to reuse sequence number {seqno} of VMPCK{id}")]
    SeqnoReuse {
        /// Key id.
        id: u8,
        /// The sequence number.
        seqno: u64,
    },
}

impl From<PlatformError> for DriverError {
    fn from(e: PlatformError) -> Self {
        DriverError::Platform(e)
    }
}

impl From<MsrError> for DriverError {
    fn from(e: MsrError) -> Self {
        DriverError::Msr(e)
    }
}
