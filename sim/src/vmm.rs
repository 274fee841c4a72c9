//! The VMM (QEMU's role): serves the host's certificate blob for a REQ_CERTS exit.
//!
//! Contract (KVM-v7 documentation, QEMU `certs-filename` / `certs-timeout`):
//! - take a **shared** lock on the blob file before reading it ([`snp_certs::blob::SharedBlob`]:
//!   an OFD read lock, QEMU's kind; updaters take both an OFD write lock and an exclusive
//!   `flock`, so they exclude this VMM, a real QEMU and `flock` readers alike), waiting at most
//!   `certs_timeout` (100 ms by default, QEMU's) and answering BUSY after that — also when the
//!   file was replaced again every time the lock came free;
//! - re-check after locking that the path still names the locked inode (done by `SharedBlob`);
//! - if the guest's buffer is too small answer INVALID_LEN with the pages needed;
//! - otherwise copy the blob into guest memory at the GPA and **keep the lock** until KVM reports
//!   that the firmware request went out ([`Vmm::request_sent`]: NOTIFY_DONE in the seed, the
//!   immediate-exit completion in what merged), so an updater cannot change the TCB between
//!   serving the VCEK and the firmware signing the report.
//!
//! Pages needed: we answer `ceil(size / 4096)` = `(size + 4095) / 4096`, the exact number.
//! QEMU computes `(size + 4096) / 4096`, one page too many when the size is a multiple of 4096;
//! a guest must accept either, and asking for the exact count keeps "the pages the host asked
//! for" equal to what the blob occupies, which the tests rely on.

use std::path::PathBuf;
use std::time::Duration;

use snp_certs::blob::{BlobError, SharedBlob};
use snp_certs::table::{CertTable, CertTableBuilder, EntryKind};

use crate::counters::Counters;
use crate::faults::{Faults, NoCerts};

use crate::memory::{GuestMemory, PAGE_SIZE};

/// QEMU's default `certs-timeout`.
pub const DEFAULT_CERTS_TIMEOUT: Duration = Duration::from_millis(100);

/// The VMM's decision for one REQ_CERTS exit, independent of the KVM generation that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmmAnswer {
    /// Certificates written (or none configured); issue the firmware request.
    Proceed,
    /// The guest buffer is too small; this many pages are needed.
    NeedPages(u64),
    /// Try again later (lock not obtained in time, or a busy fault).
    Busy,
    /// Something failed on the host.
    Generic,
}

/// VMM configuration.
#[derive(Debug, Clone)]
pub struct VmmConfig {
    /// The blob file (`certs-filename`); `None` = no certificates configured.
    pub certs_path: Option<PathBuf>,
    /// How long to wait for the shared lock (`certs-timeout`).
    pub certs_timeout: Duration,
}

/// Blob substitutions the platform's faults ask for.
#[derive(Debug, Clone, Default)]
pub struct ServeFaults {
    /// Serve a corrupt table.
    pub corrupt_table: bool,
    /// Replace the VCEK with this (another chip's) certificate.
    pub wrong_vcek_der: Option<Vec<u8>>,
    /// Serve no certificates.
    pub no_certs: Option<NoCerts>,
}

/// The VMM's per-VM state.
#[derive(Debug)]
pub struct Vmm {
    cfg: VmmConfig,
    held: Option<SharedBlob>,
}

impl Vmm {
    /// A VMM serving `cfg`.
    pub fn new(cfg: VmmConfig) -> Self {
        Self { cfg, held: None }
    }

    /// Whether the VMM currently holds the blob's shared lock.
    pub fn holds_lock(&self) -> bool {
        self.held.is_some()
    }

    /// The answer the VMM-level faults force for this exit, if any (consumes their counts).
    /// Decided before [`Vmm::req_certs`] so the caller can release its fault state before the
    /// VMM blocks on the blob lock.
    pub fn forced_answer(faults: &mut Faults, npages: u64) -> Option<VmmAnswer> {
        if faults.busy.fire() {
            return Some(VmmAnswer::Busy);
        }
        if faults.generic_vmm_error.fire() {
            return Some(VmmAnswer::Generic);
        }
        if let Some(p) = faults.absurd_pages {
            return Some(VmmAnswer::NeedPages(p));
        }
        if faults.invalid_len_storm > 0 {
            faults.invalid_len_storm -= 1;
            // The blob "grows" every time: always one page more than the guest offered now.
            return Some(VmmAnswer::NeedPages(npages.saturating_add(1)));
        }
        None
    }

    /// Handle REQ_CERTS for the guest buffer `[gpa, gpa + npages * 4096)`; `forced` is the
    /// answer faults impose ([`Vmm::forced_answer`]).
    pub fn req_certs(
        &mut self,
        gpa: u64,
        npages: u64,
        mem: &mut GuestMemory,
        forced: Option<VmmAnswer>,
        serve: &ServeFaults,
        counters: &Counters,
    ) -> VmmAnswer {
        // A lock left over from an earlier exit would be a VMM bug; drop it rather than leak it.
        self.held = None;
        if let Some(a) = forced {
            return a;
        }
        let Some(path) = self.cfg.certs_path.clone() else {
            // QEMU without certs-filename: nothing written, firmware request proceeds.
            return VmmAnswer::Proceed;
        };
        let blob = match SharedBlob::acquire(&path, Duration::ZERO) {
            Ok(b) => b,
            Err(BlobError::LockTimeout { .. }) => {
                Counters::bump(&counters.vmm_lock_waits);
                match SharedBlob::acquire(&path, self.cfg.certs_timeout) {
                    Ok(b) => b,
                    Err(e) => return answer_for_blob_error(&e, counters),
                }
            }
            Err(e) => return answer_for_blob_error(&e, counters),
        };
        let bytes = match serve_bytes(blob.bytes(), serve) {
            Some(b) => b,
            None => return VmmAnswer::Generic,
        };
        let size = bytes.len() as u64;
        let needed = size.div_ceil(PAGE_SIZE as u64);
        if npages < needed {
            return VmmAnswer::NeedPages(needed);
        }
        if !bytes.is_empty() {
            if !gpa.is_multiple_of(PAGE_SIZE as u64) || mem.write(gpa, &bytes).is_err() {
                return VmmAnswer::Generic;
            }
            Counters::bump(&counters.certs_served);
        }
        self.held = Some(blob);
        VmmAnswer::Proceed
    }

    /// KVM says the firmware request went out (seed: second exit with status DONE; merged: the
    /// immediate-exit completion): drop the shared lock.
    pub fn request_sent(&mut self, counters: &Counters) {
        if self.held.take().is_some() {
            Counters::bump(&counters.vmm_lock_releases);
        }
    }
}

/// What the VMM answers when it cannot get the blob. An update in progress — the lock held
/// past the timeout, or the file replaced again every time the lock came free (a tight loop of
/// installs) — is transient: BUSY, so the guest retries. Anything else is a host failure.
fn answer_for_blob_error(e: &BlobError, counters: &Counters) -> VmmAnswer {
    match e {
        BlobError::LockTimeout { path, .. } | BlobError::KeptChanging { path, .. } => {
            Counters::bump(&counters.vmm_lock_timeouts);
            tracing::info!(path = %path.display(), error = %e, "certificate blob held by an updater; answering BUSY");
            VmmAnswer::Busy
        }
        _ => {
            tracing::warn!(error = %e, "cannot read the certificate blob");
            VmmAnswer::Generic
        }
    }
}

/// The bytes to copy for `blob` under the serving faults; `None` if the blob cannot be
/// transformed as asked (treated as a host failure).
fn serve_bytes(blob: &[u8], serve: &ServeFaults) -> Option<Vec<u8>> {
    match serve.no_certs {
        Some(NoCerts::EmptyTable) => return Some(vec![0u8; 24]),
        Some(NoCerts::ZeroBuffer) => return Some(Vec::new()),
        None => {}
    }
    let mut out = blob.to_vec();
    if let Some(vcek) = &serve.wrong_vcek_der {
        let table = CertTable::parse(blob).ok()?;
        let mut b = CertTableBuilder::new();
        for e in table.entries() {
            if e.kind == EntryKind::Vcek {
                b.push_kind(EntryKind::Vcek, vcek.clone());
            } else {
                b.push(e.guid, e.bytes.to_vec());
            }
        }
        out = b.build().ok()?;
    }
    if serve.corrupt_table && out.len() >= 24 {
        // First entry's offset points far past the end of the blob.
        out[16..20].copy_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::blob::ExclusiveBlob;

    fn blob_with(len: usize) -> Vec<u8> {
        CertTableBuilder::new()
            .with_kind(EntryKind::Vcek, vec![0x30u8; len])
            .build()
            .unwrap()
    }

    fn setup(len: usize) -> (tempfile::TempDir, Vmm, GuestMemory, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("certs.bin");
        let blob = blob_with(len);
        std::fs::write(&path, &blob).unwrap();
        let vmm = Vmm::new(VmmConfig {
            certs_path: Some(path),
            certs_timeout: Duration::from_millis(20),
        });
        (dir, vmm, GuestMemory::new(64), blob)
    }

    #[test]
    fn serves_pages_needed_then_copies_and_holds_lock() {
        let (_d, mut vmm, mut mem, blob) = setup(5000);
        let c = Counters::default();
        let gpa = mem.alloc(4).unwrap();
        let need = (blob.len() as u64).div_ceil(4096);
        let a = vmm.req_certs(gpa, 1, &mut mem, None, &ServeFaults::default(), &c);
        assert_eq!(a, VmmAnswer::NeedPages(need));
        assert!(!vmm.holds_lock());
        let a = vmm.req_certs(gpa, need, &mut mem, None, &ServeFaults::default(), &c);
        assert_eq!(a, VmmAnswer::Proceed);
        assert!(vmm.holds_lock());
        let mut got = vec![0u8; blob.len()];
        mem.read(gpa, &mut got).unwrap();
        assert_eq!(got, blob);
        vmm.request_sent(&c);
        assert!(!vmm.holds_lock());
        assert_eq!(c.snapshot().vmm_lock_releases, 1);
    }

    #[test]
    fn exclusive_updater_makes_vmm_answer_busy() {
        let (d, mut vmm, mut mem, _) = setup(100);
        let c = Counters::default();
        let gpa = mem.alloc(1).unwrap();
        let ex =
            ExclusiveBlob::acquire(d.path().join("certs.bin"), Duration::from_secs(1)).unwrap();
        let a = vmm.req_certs(gpa, 1, &mut mem, None, &ServeFaults::default(), &c);
        assert_eq!(a, VmmAnswer::Busy);
        assert_eq!(c.snapshot().vmm_lock_timeouts, 1);
        assert_eq!(c.snapshot().vmm_lock_waits, 1);
        drop(ex);
        let a = vmm.req_certs(gpa, 1, &mut mem, None, &ServeFaults::default(), &c);
        assert_eq!(a, VmmAnswer::Proceed);
    }

    #[test]
    fn serving_faults_transform_blob() {
        let blob = blob_with(100);
        let empty = serve_bytes(
            &blob,
            &ServeFaults {
                no_certs: Some(NoCerts::EmptyTable),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(CertTable::parse(&empty).unwrap().is_empty());
        assert!(serve_bytes(
            &blob,
            &ServeFaults {
                no_certs: Some(NoCerts::ZeroBuffer),
                ..Default::default()
            }
        )
        .unwrap()
        .is_empty());
        let bad = serve_bytes(
            &blob,
            &ServeFaults {
                corrupt_table: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(CertTable::parse(&bad).is_err());
        let swapped = serve_bytes(
            &blob,
            &ServeFaults {
                wrong_vcek_der: Some(vec![0x31; 50]),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            CertTable::parse(&swapped).unwrap().vcek().unwrap().bytes,
            &[0x31; 50][..]
        );
    }

    #[test]
    fn no_certs_configured_proceeds_without_writing() {
        let mut vmm = Vmm::new(VmmConfig {
            certs_path: None,
            certs_timeout: DEFAULT_CERTS_TIMEOUT,
        });
        let mut mem = GuestMemory::new(4);
        let gpa = mem.alloc(1).unwrap();
        let c = Counters::default();
        assert_eq!(
            vmm.req_certs(gpa, 1, &mut mem, None, &ServeFaults::default(), &c),
            VmmAnswer::Proceed
        );
        assert_eq!(c.snapshot().certs_served, 0);
    }

    /// Regression (issue 15): a blob replaced again each time the lock came free (a tight
    /// loop of installs) used to be answered with the generic error, which wipes the guest's
    /// VMPCK; it is transient and is now BUSY, like a lock timeout.
    #[test]
    fn an_update_in_progress_is_busy_not_a_host_failure() {
        let c = Counters::default();
        let path = std::path::PathBuf::from("/x/certs.bin");
        let kept = BlobError::KeptChanging {
            path: path.clone(),
            attempts: 9,
        };
        assert_eq!(answer_for_blob_error(&kept, &c), VmmAnswer::Busy);
        let timeout = BlobError::LockTimeout {
            path: path.clone(),
            waited: Duration::from_millis(100),
        };
        assert_eq!(answer_for_blob_error(&timeout, &c), VmmAnswer::Busy);
        assert_eq!(c.snapshot().vmm_lock_timeouts, 2);
        let open = BlobError::Open {
            path,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(answer_for_blob_error(&open, &c), VmmAnswer::Generic);
    }
}
