//! The no_std guest driver for (extended) guest requests over a Vmgexit trait.
//!
//! [`Vmgexit`] is the guest's whole view of the platform: host-shared pages addressed by GPA, the
//! VMGEXIT itself, and the GHCB MSR exchange. Real firmware code implements it with page-state
//! changes and the VMGEXIT instruction; tests and the agent's `sim` backend implement it with the
//! simulator. Everything above the trait (GHCB filling, sequence numbers, encryption, the retry
//! policy) is plain safe Rust that runs identically in both.

use thiserror::Error;

use crate::page::Ghcb;

/// A guest physical address.
pub type Gpa = u64;

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
    /// being torn down, …). The host never saw the request.
    #[error("VMGEXIT could not be performed: {0}")]
    ExitFailed(&'static str),
    /// The hypervisor terminated the guest or stopped answering.
    #[error("the hypervisor terminated the guest or stopped answering")]
    Terminated,
}

/// The guest's view of the platform.
pub trait Vmgexit {
    /// Allocate `npages` contiguous page-aligned host-shared pages; GPA of the first.
    fn alloc_shared(&mut self, npages: usize) -> Result<Gpa, PlatformError>;
    /// Return pages obtained from [`Vmgexit::alloc_shared`].
    fn free_shared(&mut self, gpa: Gpa, npages: usize);
    /// Copy `data` into host-shared memory at `gpa`.
    fn write_shared(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), PlatformError>;
    /// Copy host-shared memory at `gpa` into `out`.
    fn read_shared(&mut self, gpa: Gpa, out: &mut [u8]) -> Result<(), PlatformError>;
    /// VMGEXIT with this GHCB; on return `ghcb` holds what the host wrote.
    fn vmgexit(&mut self, ghcb: &mut Ghcb) -> Result<(), PlatformError>;
    /// MSR protocol exchange (write GHCB MSR, VMGEXIT, read GHCB MSR).
    fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError>;
}
