//! Guest memory as 4 KiB pages addressed by guest-physical address.
//!
//! Only pages the guest has allocated (and, in this model, shared with the host) exist; any access
//! outside them is an error, never a panic. The number of pages is bounded so a guest (or a test)
//! asking for absurd sizes gets `OutOfMemory` instead of exhausting the host.

use std::collections::BTreeMap;

/// Guest-physical address.
pub type Gpa = u64;

/// Page size used for every GPA computation.
pub const PAGE_SIZE: usize = 4096;
const PAGE_U64: u64 = PAGE_SIZE as u64;

/// Default bound on the number of pages a simulated guest may hold (64 MiB).
pub const DEFAULT_MAX_PAGES: usize = 16 * 1024;

/// First GPA handed out; non-zero so that a zero GPA is always invalid, like a NULL pointer.
const BASE_GPA: Gpa = 0x1_0000_0000;

/// Why a guest memory access failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// The address range touches a page the guest never allocated (or freed).
    #[error("guest address {gpa:#x} (+{len} bytes) is not mapped guest memory")]
    Unmapped {
        /// First address of the access.
        gpa: Gpa,
        /// Length of the access.
        len: usize,
    },
    /// The allocation would exceed the configured number of guest pages.
    #[error("guest memory exhausted: {requested} pages requested, {available} available")]
    OutOfMemory {
        /// Pages asked for.
        requested: usize,
        /// Pages still available.
        available: usize,
    },
    /// An allocation of zero pages, or a range whose end overflows the address space.
    #[error("invalid guest memory range at {gpa:#x} ({len} bytes)")]
    InvalidRange {
        /// Start.
        gpa: Gpa,
        /// Length.
        len: usize,
    },
}

/// The guest's pages.
#[derive(Debug)]
pub struct GuestMemory {
    pages: BTreeMap<u64, Box<[u8; PAGE_SIZE]>>,
    max_pages: usize,
    next_gfn: u64,
}

impl Default for GuestMemory {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PAGES)
    }
}

impl GuestMemory {
    /// Empty memory that may grow to `max_pages` pages.
    pub fn new(max_pages: usize) -> Self {
        Self {
            pages: BTreeMap::new(),
            max_pages,
            next_gfn: BASE_GPA / PAGE_U64,
        }
    }

    /// Pages currently allocated.
    pub fn allocated_pages(&self) -> usize {
        self.pages.len()
    }

    /// Allocate `npages` contiguous zeroed pages; returns the GPA of the first (page-aligned).
    pub fn alloc(&mut self, npages: usize) -> Result<Gpa, MemoryError> {
        if npages == 0 {
            return Err(MemoryError::InvalidRange { gpa: 0, len: 0 });
        }
        let available = self.max_pages.saturating_sub(self.pages.len());
        if npages > available {
            return Err(MemoryError::OutOfMemory {
                requested: npages,
                available,
            });
        }
        let first = self.next_gfn;
        let n = npages as u64;
        let end = first
            .checked_add(n)
            .and_then(|e| e.checked_mul(PAGE_U64))
            .ok_or(MemoryError::InvalidRange {
                gpa: first.saturating_mul(PAGE_U64),
                len: npages.saturating_mul(PAGE_SIZE),
            })?;
        // Leave one unmapped guard page between allocations so overruns are caught.
        self.next_gfn = end / PAGE_U64 + 1;
        for gfn in first..first + n {
            self.pages.insert(gfn, Box::new([0u8; PAGE_SIZE]));
        }
        Ok(first * PAGE_U64)
    }

    /// Free pages previously allocated (unknown pages are ignored, like freeing twice).
    pub fn free(&mut self, gpa: Gpa, npages: usize) {
        let first = gpa / PAGE_U64;
        for i in 0..npages as u64 {
            if let Some(gfn) = first.checked_add(i) {
                self.pages.remove(&gfn);
            }
        }
    }

    /// Whether every page of `[gpa, gpa + len)` is mapped.
    pub fn is_mapped(&self, gpa: Gpa, len: usize) -> bool {
        self.check(gpa, len).is_ok()
    }

    fn check(&self, gpa: Gpa, len: usize) -> Result<(), MemoryError> {
        let unmapped = MemoryError::Unmapped { gpa, len };
        if len == 0 {
            return Ok(());
        }
        let end = gpa
            .checked_add(len as u64 - 1)
            .ok_or(MemoryError::InvalidRange { gpa, len })?;
        for gfn in gpa / PAGE_U64..=end / PAGE_U64 {
            if !self.pages.contains_key(&gfn) {
                return Err(unmapped);
            }
        }
        Ok(())
    }

    /// Copy `data` into guest memory at `gpa` (may span pages).
    pub fn write(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), MemoryError> {
        self.check(gpa, data.len())?;
        let mut done = 0usize;
        while done < data.len() {
            let addr = gpa + done as u64;
            let off = (addr % PAGE_U64) as usize;
            let n = (PAGE_SIZE - off).min(data.len() - done);
            let page = self
                .pages
                .get_mut(&(addr / PAGE_U64))
                .ok_or(MemoryError::Unmapped {
                    gpa,
                    len: data.len(),
                })?;
            page[off..off + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// Copy guest memory at `gpa` into `out` (may span pages).
    pub fn read(&self, gpa: Gpa, out: &mut [u8]) -> Result<(), MemoryError> {
        self.check(gpa, out.len())?;
        let len = out.len();
        let mut done = 0usize;
        while done < len {
            let addr = gpa + done as u64;
            let off = (addr % PAGE_U64) as usize;
            let n = (PAGE_SIZE - off).min(len - done);
            let page = self
                .pages
                .get(&(addr / PAGE_U64))
                .ok_or(MemoryError::Unmapped { gpa, len })?;
            out[done..done + n].copy_from_slice(&page[off..off + n]);
            done += n;
        }
        Ok(())
    }

    /// Read one whole page.
    pub fn read_page(&self, gpa: Gpa) -> Result<[u8; PAGE_SIZE], MemoryError> {
        let mut p = [0u8; PAGE_SIZE];
        self.read(gpa, &mut p)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_write_read_across_pages() {
        let mut m = GuestMemory::new(8);
        let gpa = m.alloc(3).unwrap();
        assert_eq!(gpa % PAGE_U64, 0);
        let data: Vec<u8> = (0..6000u32).map(|i| i as u8).collect();
        m.write(gpa + 100, &data).unwrap();
        let mut out = vec![0u8; 6000];
        m.read(gpa + 100, &mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        let mut m = GuestMemory::new(4);
        let gpa = m.alloc(1).unwrap();
        assert!(matches!(
            m.write(gpa + 4000, &[0u8; 200]),
            Err(MemoryError::Unmapped { .. })
        ));
        assert!(m.read(0, &mut [0u8; 1]).is_err());
        assert!(m.read(u64::MAX - 2, &mut [0u8; 8]).is_err());
        assert!(matches!(
            m.alloc(10),
            Err(MemoryError::OutOfMemory { requested: 10, .. })
        ));
        assert!(m.alloc(0).is_err());
        m.free(gpa, 1);
        assert!(!m.is_mapped(gpa, 1));
        // Guard page: adjacent allocations are not contiguous with each other.
        let a = m.alloc(1).unwrap();
        let b = m.alloc(1).unwrap();
        assert!(!m.is_mapped(a, 2 * PAGE_SIZE));
        assert_ne!(a + PAGE_U64, b);
    }
}
