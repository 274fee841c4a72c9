//! What merged (KVM-v7, applied 2026-02): `KVM_EXIT_SNP_REQ_CERTS` with
//! `struct kvm_exit_snp_req_certs { u64 gpa; u64 npages; u64 ret; }`. `ret` is 0 on exit; the VMM
//! completes with an errno value: 0 (proceed), `ENOSPC` (npages := pages needed), `EAGAIN` (BUSY),
//! `EIO` (generic). Anything else makes `KVM_RUN` fail with `-EINVAL`. The VMM learns that the
//! firmware request went out by setting `immediate_exit`: KVM finishes the request and returns
//! `-EINTR` from `KVM_RUN`.

use crate::vmm::VmmAnswer;

use super::{CertsDecision, InvalidCompletion};

/// `ENOSPC`.
pub const ENOSPC: u64 = libc::ENOSPC as u64;
/// `EAGAIN`.
pub const EAGAIN: u64 = libc::EAGAIN as u64;
/// `EIO`.
pub const EIO: u64 = libc::EIO as u64;

/// The `snp_req_certs` member of `kvm_run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnpReqCertsExit {
    /// Guest RAX verbatim.
    pub gpa: u64,
    /// Guest RBX verbatim (in); pages needed with ENOSPC (out).
    pub npages: u64,
    /// 0 on exit; the VMM's errno on completion.
    pub ret: u64,
}

impl SnpReqCertsExit {
    /// The exit as KVM raises it.
    pub fn new(gpa: u64, npages: u64) -> Self {
        Self {
            gpa,
            npages,
            ret: 0,
        }
    }

    /// How a VMM fills the record for its decision. Returns whether it sets `immediate_exit`
    /// (it does when it proceeds: it holds the blob lock until the request went out).
    pub fn answer(&mut self, a: VmmAnswer) -> bool {
        match a {
            VmmAnswer::Proceed => {
                self.ret = 0;
                return true;
            }
            VmmAnswer::NeedPages(n) => {
                self.ret = ENOSPC;
                self.npages = n;
            }
            VmmAnswer::Busy => self.ret = EAGAIN,
            VmmAnswer::Generic => self.ret = EIO,
        }
        false
    }

    /// KVM's completion on the next `KVM_RUN`.
    pub fn complete(&self) -> Result<CertsDecision, InvalidCompletion> {
        match self.ret {
            0 => Ok(CertsDecision::Proceed),
            ENOSPC => Ok(CertsDecision::InvalidLen(self.npages)),
            EAGAIN => Ok(CertsDecision::Busy),
            EIO => Ok(CertsDecision::Fail(snp_ghcb::exit::GENERIC)),
            ret => Err(InvalidCompletion { ret }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_mapping_and_refusal() {
        let mut e = SnpReqCertsExit::new(0x2000, 1);
        assert!(!e.answer(VmmAnswer::NeedPages(2)));
        assert_eq!(e.complete(), Ok(CertsDecision::InvalidLen(2)));
        let mut e = SnpReqCertsExit::new(0x2000, 2);
        assert!(e.answer(VmmAnswer::Proceed));
        assert_eq!(e.complete(), Ok(CertsDecision::Proceed));
        e.answer(VmmAnswer::Busy);
        assert_eq!(e.complete(), Ok(CertsDecision::Busy));
        e.answer(VmmAnswer::Generic);
        assert_eq!(e.complete(), Ok(CertsDecision::Fail(0xFFFF_FFFF_0000_0000)));
        for ret in [1u64, 2, 22, 1 << 31] {
            let e = SnpReqCertsExit {
                ret,
                ..SnpReqCertsExit::new(0, 0)
            };
            assert_eq!(e.complete(), Err(InvalidCompletion { ret }));
        }
    }
}
