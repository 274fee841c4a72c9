//! The Linux /dev/sev-guest ioctl ABI (include/uapi/linux/sev-guest.h).
//!
//! These are the kernel's structures byte for byte (`#[repr(C)]`, checked against the installed
//! C header by `agent/tests/ioctl_abi.rs`), the three ioctl numbers, and thin safe wrappers that
//! fill the pointer fields from borrowed buffers so no caller outside this module needs `unsafe`.
//! The wrappers interpret nothing: retry policy and error mapping live in the backend.
//!
//! Things the kernel does that a caller must know (see abi-facts §1.5): `exitinfo2` is copied back
//! only when non-zero, so the wrappers zero it before every call; a host rejecting the request at
//! the GHCB level makes the ioctl return a *positive* 2 or 4 with no errno, which is why
//! [`IoctlOutcome::ret`] keeps the raw return value; a report-level failure (bad VMPL or key
//! selection) is not an ioctl error but a `status` inside [`SnpReportResp`].

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::libc::c_int;

/// The ioctl type byte, `'S'`.
pub const SNP_GUEST_REQ_IOC_TYPE: u8 = b'S';

/// The most certificate bytes the Linux driver accepts (`SEV_FW_BLOB_MAX_SIZE` in sev-guest.c,
/// not part of the uapi header). `certs_len` must also be a multiple of 4096.
pub const SEV_FW_BLOB_MAX_SIZE: usize = 0x4000;

/// Low 32 bits of `exitinfo2`: the firmware status (`SNP_GUEST_FW_ERR_MASK`).
pub const SNP_GUEST_FW_ERR_MASK: u64 = 0xFFFF_FFFF;
/// Shift of the VMM error within `exitinfo2` (`SNP_GUEST_VMM_ERR_SHIFT`).
pub const SNP_GUEST_VMM_ERR_SHIFT: u32 = 32;
/// The host needs a bigger certificate buffer; the needed length comes back in `certs_len`.
pub const SNP_GUEST_VMM_ERR_INVALID_LEN: u32 = 1;
/// The host was busy (the kernel retries this itself for 60 s before failing with ETIMEDOUT).
pub const SNP_GUEST_VMM_ERR_BUSY: u32 = 2;
/// KVM's generic VMM error (`~0U`; KVM-private, not in the uapi header): `exitinfo2` reads
/// `0xFFFF_FFFF_0000_0000` when the VMM failed a certificate request.
pub const SNP_GUEST_VMM_ERR_GENERIC: u32 = 0xFFFF_FFFF;
/// `exitinfo2` when no firmware call was made (`SEV_RET_NO_FW_CALL`, -1 as u64), e.g. after a
/// GHCB-level rejection.
pub const SEV_RET_NO_FW_CALL: u64 = u64::MAX;

/// `SNP_GUEST_VMM_ERR(x)`: a VMM error code placed in the upper half of `exitinfo2`.
pub const fn snp_guest_vmm_err(x: u32) -> u64 {
    (x as u64) << SNP_GUEST_VMM_ERR_SHIFT
}

/// `struct snp_report_req`: what the guest asks the firmware to put in the report.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnpReportReq {
    /// Caller data bound into the report (REPORT_DATA).
    pub user_data: [u8; 64],
    /// VMPL to put in the report (must be ≥ the caller's VMPL).
    pub vmpl: u32,
    /// "Must be zero" per the header; the firmware reads KEY_SEL from bits 1:0 of its first
    /// u32, and the kernel passes it through unchecked.
    pub rsvd: [u8; 28],
}

impl Default for SnpReportReq {
    fn default() -> Self {
        SnpReportReq {
            user_data: [0; 64],
            vmpl: 0,
            rsvd: [0; 28],
        }
    }
}

/// `struct snp_report_resp`: the decrypted MSG_REPORT_RSP (status u32, report_size u32, 24
/// reserved bytes, then the report), padded to 4000 bytes (a page minus the message header).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnpReportResp {
    /// Response bytes.
    pub data: [u8; 4000],
}

impl Default for SnpReportResp {
    fn default() -> Self {
        SnpReportResp { data: [0; 4000] }
    }
}

/// `struct snp_derived_key_req`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnpDerivedKeyReq {
    /// 0 = VCEK, 1 = VMRK.
    pub root_key_select: u32,
    /// Reserved, zero.
    pub rsvd: u32,
    /// Which guest fields are mixed into the key.
    pub guest_field_select: u64,
    /// VMPL to mix in.
    pub vmpl: u32,
    /// Guest SVN to mix in.
    pub guest_svn: u32,
    /// TCB version to mix in.
    pub tcb_version: u64,
}

/// `struct snp_derived_key_resp`: the start of MSG_KEY_RSP (status, reserved, 32-byte key).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnpDerivedKeyResp {
    /// Response bytes.
    pub data: [u8; 64],
}

impl Default for SnpDerivedKeyResp {
    fn default() -> Self {
        SnpDerivedKeyResp { data: [0; 64] }
    }
}

/// `struct snp_guest_request_ioctl`: the argument of all three ioctls (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnpGuestRequestIoctl {
    /// Message version; must be non-zero (EINVAL otherwise).
    pub msg_version: u8,
    /// User address of the request structure.
    pub req_data: u64,
    /// User address of the response structure.
    pub resp_data: u64,
    /// The C union `{u64 exitinfo2; struct {u32 fw_error; u32 vmm_error;}}`: firmware status in
    /// bits 31:0, VMM error in bits 63:32.
    pub exitinfo2: u64,
}

impl SnpGuestRequestIoctl {
    /// The firmware status half (`fw_error`).
    pub fn fw_error(&self) -> u32 {
        (self.exitinfo2 & SNP_GUEST_FW_ERR_MASK) as u32
    }

    /// The VMM error half (`vmm_error`).
    pub fn vmm_error(&self) -> u32 {
        (self.exitinfo2 >> SNP_GUEST_VMM_ERR_SHIFT) as u32
    }
}

/// `struct snp_ext_report_req` (112 bytes): a report request plus the certificate buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnpExtReportReq {
    /// The report request.
    pub data: SnpReportReq,
    /// User address of the certificate buffer (0 = no certificates wanted).
    pub certs_address: u64,
    /// In: buffer length (page-aligned, ≤ [`SEV_FW_BLOB_MAX_SIZE`]). Out on INVALID_LEN: the
    /// length the host needs.
    pub certs_len: u32,
}

/// The raw ioctl entry points, generated by nix. Private: callers use the safe wrappers below.
mod raw {
    use super::SnpGuestRequestIoctl;

    nix::ioctl_readwrite!(
        /// `SNP_GET_REPORT`.
        ///
        /// # Safety
        /// `data` must point to a valid request whose `req_data`/`resp_data` address a live
        /// `snp_report_req` / writable `snp_report_resp`.
        snp_get_report,
        super::SNP_GUEST_REQ_IOC_TYPE,
        0x0,
        SnpGuestRequestIoctl
    );
    nix::ioctl_readwrite!(
        /// `SNP_GET_DERIVED_KEY`.
        ///
        /// # Safety
        /// `data` must point to a valid request whose `req_data`/`resp_data` address a live
        /// `snp_derived_key_req` / writable `snp_derived_key_resp`.
        snp_get_derived_key,
        super::SNP_GUEST_REQ_IOC_TYPE,
        0x1,
        SnpGuestRequestIoctl
    );
    nix::ioctl_readwrite!(
        /// `SNP_GET_EXT_REPORT`.
        ///
        /// # Safety
        /// `data` must point to a valid request whose `req_data` addresses a live, writable
        /// `snp_ext_report_req` (its `certs_address` a writable buffer of `certs_len` bytes) and
        /// `resp_data` a writable `snp_report_resp`.
        snp_get_ext_report,
        super::SNP_GUEST_REQ_IOC_TYPE,
        0x2,
        SnpGuestRequestIoctl
    );
}

/// `SNP_GET_REPORT` = `_IOWR('S', 0x0, struct snp_guest_request_ioctl)` = 0xC0205300.
pub const SNP_GET_REPORT: u64 = nix::request_code_readwrite!(
    SNP_GUEST_REQ_IOC_TYPE,
    0x0,
    std::mem::size_of::<SnpGuestRequestIoctl>()
) as u64;
/// `SNP_GET_DERIVED_KEY` = `_IOWR('S', 0x1, …)` = 0xC0205301.
pub const SNP_GET_DERIVED_KEY: u64 = nix::request_code_readwrite!(
    SNP_GUEST_REQ_IOC_TYPE,
    0x1,
    std::mem::size_of::<SnpGuestRequestIoctl>()
) as u64;
/// `SNP_GET_EXT_REPORT` = `_IOWR('S', 0x2, …)` = 0xC0205302.
pub const SNP_GET_EXT_REPORT: u64 = nix::request_code_readwrite!(
    SNP_GUEST_REQ_IOC_TYPE,
    0x2,
    std::mem::size_of::<SnpGuestRequestIoctl>()
) as u64;

/// What one ioctl call produced, uninterpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoctlOutcome {
    /// `Ok(0)` on success; `Ok(2)`/`Ok(4)` when the host rejected the request at the GHCB level
    /// (no errno, VMPCK wiped); `Err(errno)` otherwise.
    pub ret: Result<c_int, Errno>,
    /// `exitinfo2` after the call (zeroed before it, so 0 means "the kernel copied nothing
    /// back"). Keep it with the errno in every error.
    pub exitinfo2: u64,
}

impl IoctlOutcome {
    /// The firmware status half of `exitinfo2`.
    pub fn fw_error(&self) -> u32 {
        (self.exitinfo2 & SNP_GUEST_FW_ERR_MASK) as u32
    }

    /// The VMM error half of `exitinfo2`.
    pub fn vmm_error(&self) -> u32 {
        (self.exitinfo2 >> SNP_GUEST_VMM_ERR_SHIFT) as u32
    }
}

fn request<Req, Resp>(msg_version: u8, req: *const Req, resp: *mut Resp) -> SnpGuestRequestIoctl {
    SnpGuestRequestIoctl {
        msg_version,
        req_data: req as usize as u64,
        resp_data: resp as usize as u64,
        exitinfo2: 0,
    }
}

/// `SNP_GET_REPORT` on an open `/dev/sev-guest`.
pub fn get_report(
    fd: BorrowedFd<'_>,
    msg_version: u8,
    req: &SnpReportReq,
    resp: &mut SnpReportResp,
) -> IoctlOutcome {
    let mut arg = request(msg_version, req, resp);
    // SAFETY: `arg` is a live, aligned SnpGuestRequestIoctl; `req_data` points to a borrowed
    // SnpReportReq (the kernel reads exactly sizeof(snp_report_req) = 96 bytes) and `resp_data`
    // to an exclusively borrowed SnpReportResp (the kernel writes at most 4000 bytes); all three
    // outlive the synchronous call, and `fd` is a valid open descriptor.
    let ret = unsafe { raw::snp_get_report(fd.as_raw_fd(), &mut arg) };
    IoctlOutcome {
        ret,
        exitinfo2: arg.exitinfo2,
    }
}

/// `SNP_GET_DERIVED_KEY` on an open `/dev/sev-guest`.
pub fn get_derived_key(
    fd: BorrowedFd<'_>,
    msg_version: u8,
    req: &SnpDerivedKeyReq,
    resp: &mut SnpDerivedKeyResp,
) -> IoctlOutcome {
    let mut arg = request(msg_version, req, resp);
    // SAFETY: as in `get_report`: `req_data` points to a borrowed 32-byte SnpDerivedKeyReq and
    // `resp_data` to an exclusively borrowed 64-byte SnpDerivedKeyResp, both live for the call.
    let ret = unsafe { raw::snp_get_derived_key(fd.as_raw_fd(), &mut arg) };
    IoctlOutcome {
        ret,
        exitinfo2: arg.exitinfo2,
    }
}

/// `SNP_GET_EXT_REPORT` on an open `/dev/sev-guest`. `certs` (if any) becomes
/// `certs_address`/`certs_len` in `req`; on INVALID_LEN the kernel writes the needed length back
/// into `req.certs_len`. A `certs` buffer longer than `u32::MAX` fails with EINVAL without a call.
pub fn get_ext_report(
    fd: BorrowedFd<'_>,
    msg_version: u8,
    req: &mut SnpExtReportReq,
    certs: Option<&mut [u8]>,
    resp: &mut SnpReportResp,
) -> IoctlOutcome {
    match certs {
        Some(buf) => {
            let Ok(len) = u32::try_from(buf.len()) else {
                return IoctlOutcome {
                    ret: Err(Errno::EINVAL),
                    exitinfo2: 0,
                };
            };
            req.certs_address = buf.as_mut_ptr() as usize as u64;
            req.certs_len = len;
        }
        None => {
            req.certs_address = 0;
            req.certs_len = 0;
        }
    }
    let mut arg = request(msg_version, &*req, resp);
    // SAFETY: `arg` is a live, aligned SnpGuestRequestIoctl. `req_data` points to `req`, which we
    // borrow exclusively (the kernel reads the 112-byte snp_ext_report_req and may write
    // `certs_len` back). `certs_address`/`certs_len` were just set from an exclusively borrowed
    // slice of exactly that length (or 0/0 = no buffer), so the kernel's copy of at most
    // `certs_len` bytes stays inside it. `resp_data` points to an exclusively borrowed 4000-byte
    // SnpReportResp. Everything outlives the synchronous call; `fd` is a valid open descriptor.
    let ret = unsafe { raw::snp_get_ext_report(fd.as_raw_fd(), &mut arg) };
    IoctlOutcome {
        ret,
        exitinfo2: arg.exitinfo2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn ioctl_numbers_match_the_documented_values() {
        assert_eq!(SNP_GET_REPORT, 0xC020_5300);
        assert_eq!(SNP_GET_DERIVED_KEY, 0xC020_5301);
        assert_eq!(SNP_GET_EXT_REPORT, 0xC020_5302);
    }

    #[test]
    fn layouts_match_abi_facts() {
        assert_eq!(size_of::<SnpGuestRequestIoctl>(), 32);
        assert_eq!(offset_of!(SnpGuestRequestIoctl, exitinfo2), 0x18);
        assert_eq!(size_of::<SnpReportReq>(), 96);
        assert_eq!(offset_of!(SnpReportReq, vmpl), 0x40);
        assert_eq!(offset_of!(SnpReportReq, rsvd), 0x44);
        assert_eq!(size_of::<SnpReportResp>(), 4000);
        assert_eq!(size_of::<SnpExtReportReq>(), 112);
        assert_eq!(offset_of!(SnpExtReportReq, certs_address), 0x60);
        assert_eq!(offset_of!(SnpExtReportReq, certs_len), 0x68);
        assert_eq!(size_of::<SnpDerivedKeyReq>(), 32);
        assert_eq!(size_of::<SnpDerivedKeyResp>(), 64);
    }

    #[test]
    fn exitinfo2_halves() {
        let r = SnpGuestRequestIoctl {
            exitinfo2: snp_guest_vmm_err(SNP_GUEST_VMM_ERR_INVALID_LEN) | 0x16,
            ..Default::default()
        };
        assert_eq!((r.vmm_error(), r.fw_error()), (1, 0x16));
        assert_eq!(
            snp_guest_vmm_err(SNP_GUEST_VMM_ERR_BUSY),
            0x0000_0002_0000_0000
        );
        assert_eq!(
            snp_guest_vmm_err(SNP_GUEST_VMM_ERR_GENERIC),
            0xFFFF_FFFF_0000_0000
        );
        let o = IoctlOutcome {
            ret: Err(Errno::EIO),
            exitinfo2: SEV_RET_NO_FW_CALL,
        };
        assert_eq!((o.vmm_error(), o.fw_error()), (u32::MAX, u32::MAX));
    }

    #[test]
    fn wrappers_pass_errors_through_on_a_non_sev_device() {
        // /dev/null does not implement these ioctls: the kernel answers ENOTTY, and exitinfo2
        // stays as we zeroed it.
        let f = std::fs::File::open("/dev/null").unwrap();
        let mut resp = SnpReportResp::default();
        let o = get_report(
            std::os::fd::AsFd::as_fd(&f),
            1,
            &SnpReportReq::default(),
            &mut resp,
        );
        assert_eq!(o.ret, Err(Errno::ENOTTY));
        assert_eq!(o.exitinfo2, 0);

        let mut req = SnpExtReportReq::default();
        let mut certs = vec![0u8; SEV_FW_BLOB_MAX_SIZE];
        let o = get_ext_report(
            std::os::fd::AsFd::as_fd(&f),
            1,
            &mut req,
            Some(&mut certs),
            &mut resp,
        );
        assert_eq!(o.ret, Err(Errno::ENOTTY));
        assert_eq!(req.certs_len as usize, SEV_FW_BLOB_MAX_SIZE);
        assert_eq!(req.certs_address, certs.as_ptr() as usize as u64);

        let o = get_ext_report(std::os::fd::AsFd::as_fd(&f), 1, &mut req, None, &mut resp);
        assert_eq!(o.ret, Err(Errno::ENOTTY));
        assert_eq!((req.certs_address, req.certs_len), (0, 0));

        let mut key = SnpDerivedKeyResp::default();
        let o = get_derived_key(
            std::os::fd::AsFd::as_fd(&f),
            1,
            &SnpDerivedKeyReq::default(),
            &mut key,
        );
        assert_eq!(o.ret, Err(Errno::ENOTTY));
    }
}
