//! The seed (v15 "[PATCH 19/20] KVM: SEV: Provide support for SNP_EXTENDED_GUEST_REQUEST"):
//! `KVM_EXIT_VMGEXIT` of type `KVM_USER_VMGEXIT_REQ_CERTS`.
//!
//! `struct kvm_user_vmgexit { u32 type; union { struct { u64 data_gpa; u64 data_npages; u32 ret;
//! u8 flags; u8 status; } req_certs; } }`: the VMM answers in `ret` (0, 1 INVALID_LEN with
//! `data_npages` updated, 2 BUSY, anything else an error that reaches the guest verbatim in the
//! upper half of SW_EXITINFO2), may set `flags` NOTIFY_DONE to receive a second exit with
//! `status` DONE once KVM has issued the firmware request (so it can drop its lock), and KVM
//! completes the guest's VMGEXIT from that.

use crate::vmm::VmmAnswer;

use super::CertsDecision;

/// `KVM_USER_VMGEXIT_REQ_CERTS`.
pub const KVM_USER_VMGEXIT_REQ_CERTS: u32 = 1;
/// `ret`: success.
pub const RET_OK: u32 = 0;
/// `ret`: buffer too small, `data_npages` holds the pages needed.
pub const RET_INVALID_LEN: u32 = 1;
/// `ret`: busy.
pub const RET_BUSY: u32 = 2;
/// `ret`: generic error.
pub const RET_GENERIC: u32 = 1 << 31;
/// `flags` bit 0: send a second exit with status DONE after the firmware request.
pub const FLAG_NOTIFY_DONE: u8 = 1;
/// `status`: the first exit, before the firmware request.
pub const STATUS_PENDING: u8 = 0;
/// `status`: the firmware request has been issued.
pub const STATUS_DONE: u8 = 1;

/// The REQ_CERTS record of `KVM_EXIT_VMGEXIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReqCertsExit {
    /// Guest RAX: GPA of the certificate pages.
    pub data_gpa: u64,
    /// Guest RBX: pages offered (in) / needed (out, with INVALID_LEN).
    pub data_npages: u64,
    /// VMM answer.
    pub ret: u32,
    /// VMM flags (NOTIFY_DONE).
    pub flags: u8,
    /// PENDING on the first exit, DONE on the notification exit.
    pub status: u8,
}

impl ReqCertsExit {
    /// The first exit KVM makes for an extended request.
    pub fn pending(data_gpa: u64, data_npages: u64) -> Self {
        Self {
            data_gpa,
            data_npages,
            ret: RET_OK,
            flags: 0,
            status: STATUS_PENDING,
        }
    }

    /// How a seed-era VMM fills the record for its decision. It always asks for NOTIFY_DONE when
    /// it proceeds, because it holds the blob lock until then.
    pub fn answer(&mut self, a: VmmAnswer) {
        match a {
            VmmAnswer::Proceed => {
                self.ret = RET_OK;
                self.flags |= FLAG_NOTIFY_DONE;
            }
            VmmAnswer::NeedPages(n) => {
                self.ret = RET_INVALID_LEN;
                self.data_npages = n;
            }
            VmmAnswer::Busy => self.ret = RET_BUSY,
            VmmAnswer::Generic => self.ret = RET_GENERIC,
        }
    }

    /// KVM's completion: what the guest gets. `snp_complete_ext_guest_req` passes any non-zero
    /// `ret` through as the VMM half of SW_EXITINFO2 (`SNP_GUEST_ERR(vmm_ret, 0)`), so 1 and 2
    /// are INVALID_LEN and BUSY and everything else reaches the guest verbatim: the generic
    /// `1 << 31` as `0x8000_0000_0000_0000`.
    pub fn complete(&self) -> CertsDecision {
        match self.ret {
            RET_OK => CertsDecision::Proceed,
            RET_INVALID_LEN => CertsDecision::InvalidLen(self.data_npages),
            RET_BUSY => CertsDecision::Busy,
            ret => CertsDecision::Fail(u64::from(ret) << 32),
        }
    }

    /// Whether KVM must deliver the second (DONE) exit after the firmware request.
    pub fn wants_notify_done(&self) -> bool {
        self.ret == RET_OK && self.flags & FLAG_NOTIFY_DONE != 0
    }

    /// The notification exit.
    pub fn done(&self) -> Self {
        Self {
            status: STATUS_DONE,
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_mapping() {
        let mut e = ReqCertsExit::pending(0x1000, 1);
        e.answer(VmmAnswer::NeedPages(3));
        assert_eq!(e.complete(), CertsDecision::InvalidLen(3));
        assert!(!e.wants_notify_done());
        let mut e = ReqCertsExit::pending(0x1000, 4);
        e.answer(VmmAnswer::Proceed);
        assert_eq!(e.complete(), CertsDecision::Proceed);
        assert!(e.wants_notify_done());
        assert_eq!(e.done().status, STATUS_DONE);
        let mut e = ReqCertsExit::pending(0, 0);
        e.answer(VmmAnswer::Busy);
        assert_eq!(e.complete(), CertsDecision::Busy);
        for ret in [RET_GENERIC, 3, 22, 0xFFFF_FFFF] {
            let e = ReqCertsExit {
                ret,
                ..ReqCertsExit::pending(0, 0)
            };
            assert_eq!(e.complete(), CertsDecision::Fail(u64::from(ret) << 32));
        }
        // The seed's generic error reaches the guest as bit 63, not as KVM's all-ones VMM half.
        let mut e = ReqCertsExit::pending(0, 0);
        e.answer(VmmAnswer::Generic);
        assert_eq!(e.complete(), CertsDecision::Fail(0x8000_0000_0000_0000));
    }
}
