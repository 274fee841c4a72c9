//! Face (a): the guest driver's [`Vmgexit`] trait implemented in process.
//!
//! The MSR protocol is answered like KVM does for the parts a guest request needs: SEV
//! information (GHCB protocol 2 only, C-bit 51), GHCB GPA registration (echoed when the page is
//! mapped shared guest memory, refused otherwise) and termination. A VMGEXIT before a GHCB was
//! registered fails like a real hypervisor that cannot find the guest's GHCB.

use snp_ghcb::driver::{Gpa, PlatformError, Vmgexit};
use snp_ghcb::msr::{self, MsrRequest, SevInfo};
use snp_ghcb::page::Ghcb;

use crate::platform::SimPlatform;

/// C-bit position the simulated platform reports (as on EPYC parts).
pub const C_BIT: u8 = 51;

/// The in-process GHCB face over a [`SimPlatform`] (clone the platform to keep a handle for
/// inspection while a driver owns the face).
#[derive(Debug, Clone)]
pub struct GhcbFace {
    platform: SimPlatform,
}

impl GhcbFace {
    /// A face onto `platform`.
    pub fn new(platform: SimPlatform) -> Self {
        Self { platform }
    }
    /// The platform behind this face.
    pub fn platform(&self) -> &SimPlatform {
        &self.platform
    }
}

impl Vmgexit for GhcbFace {
    fn alloc_shared(&mut self, npages: usize) -> Result<Gpa, PlatformError> {
        self.platform.alloc_shared(npages)
    }
    fn free_shared(&mut self, gpa: Gpa, npages: usize) {
        self.platform.free_shared(gpa, npages)
    }
    fn write_shared(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), PlatformError> {
        self.platform.write_shared(gpa, data)
    }
    fn read_shared(&mut self, gpa: Gpa, out: &mut [u8]) -> Result<(), PlatformError> {
        self.platform.read_shared(gpa, out)
    }
    fn vmgexit(&mut self, ghcb: &mut Ghcb) -> Result<(), PlatformError> {
        if self.platform.registered_ghcb().is_none() {
            return Err(PlatformError::ExitNotDelivered(
                "no GHCB registered with the hypervisor",
            ));
        }
        self.platform.vmgexit(ghcb)
    }
    fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError> {
        match MsrRequest::decode(value) {
            MsrRequest::SevInfo => Ok(SevInfo {
                max_protocol: 2,
                min_protocol: 2,
                c_bit: C_BIT,
            }
            .encode()),
            MsrRequest::RegisterGpa(gpa) => {
                if self.platform.register_ghcb(gpa) {
                    Ok(msr::register_gpa_response(gpa >> 12))
                } else {
                    Ok(msr::register_gpa_response(msr::REGISTER_GPA_REFUSED_GFN))
                }
            }
            MsrRequest::Terminate(t) => {
                tracing::warn!(?t, "simulated guest requested termination");
                Err(PlatformError::Terminated)
            }
            // Unmodelled requests get an all-zero (invalid) response, which a guest rejects.
            MsrRequest::Other { .. } => Ok(0),
        }
    }
}
