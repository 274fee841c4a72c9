//! The guest's view of the platform: host-shared pages by GPA, the VMGEXIT and the MSR exchange.

use crate::page::Ghcb;

use super::PlatformError;

/// A guest physical address.
pub type Gpa = u64;

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

/// A borrowed platform is a platform: a caller can build a driver on `&mut` its platform, drop
/// it and build another on the same one (what a restart looks like).
impl<T: Vmgexit + ?Sized> Vmgexit for &mut T {
    fn alloc_shared(&mut self, npages: usize) -> Result<Gpa, PlatformError> {
        (**self).alloc_shared(npages)
    }
    fn free_shared(&mut self, gpa: Gpa, npages: usize) {
        (**self).free_shared(gpa, npages)
    }
    fn write_shared(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), PlatformError> {
        (**self).write_shared(gpa, data)
    }
    fn read_shared(&mut self, gpa: Gpa, out: &mut [u8]) -> Result<(), PlatformError> {
        (**self).read_shared(gpa, out)
    }
    fn vmgexit(&mut self, ghcb: &mut Ghcb) -> Result<(), PlatformError> {
        (**self).vmgexit(ghcb)
    }
    fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError> {
        (**self).msr_exchange(value)
    }
}
