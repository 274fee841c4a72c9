//! Face (b): a device with exactly the Linux `/dev/sev-guest` semantics — the guest *kernel*
//! driver (`drivers/virt/coco/sev-guest`, `arch/x86/coco/sev/core.c`) plus the host behind it.
//!
//! The API is in bytes and values, not pointers: `snp_report_req` is byte-identical to the 96-byte
//! MSG_REPORT_REQ payload and `snp_report_resp` is the 4000-byte decrypted MSG_REPORT_RSP buffer.
//! The agent owns the `#[repr(C)]` ioctl structs and adapts them to these calls, so its real
//! ioctl marshalling runs against this device with only the syscall swapped.
//!
//! Modelled behaviour (abi-facts §1.3–1.5):
//! - `msg_version == 0` → `EINVAL` before anything (exitinfo2 not copied back);
//! - `certs_len` not page-aligned or above 16 KiB → `EINVAL` (exitinfo2 = 0xff);
//! - a disabled VMPCK → `ENOTTY`;
//! - the key and the sequence numbers live in the guest's secrets page (the platform's): request
//!   = OS-area count + 1, then `count += 2` after every host-visible send, success or not,
//!   written back to the page; disabling the VMPCK zeroes it in the page (`snp_disable_vmpck`);
//! - INVALID_LEN on the extended exit → the *same* message is re-sent as a plain request (the
//!   sequence number is burned without IV reuse), the call fails `EIO` with exitinfo2
//!   `0x1_0000_0000` and `certs_len = pages << 12`; the VMPCK is kept;
//! - BUSY → the same message is re-sent every 2 s; 60 s after the first send the call fails
//!   `ETIMEDOUT` and the VMPCK is disabled (the clock is injectable: tests never sleep);
//! - any other failure (firmware status, generic VMM error, bad response) disables the VMPCK;
//!   a GHCB-level rejection is a *positive* return value (2) with exitinfo2 all ones;
//! - a report-level status (0x16 bad VMPL, 0x27 bad key) comes back inside a successful call;
//! - exitinfo2 is written back only when non-zero.

use std::sync::Mutex;
use std::time::Duration;

use nix::errno::Errno;
use snp_ghcb::exit::{
    BUSY, INVALID_LEN, NO_FW_CALL, SNP_EXTENDED_GUEST_REQUEST, SNP_GUEST_REQUEST,
};
use snp_ghcb::message::{self, MsgMeta, MsgType, Vmpck, VmpckId, MAX_PAYLOAD};
use snp_ghcb::page::{Ghcb, PAGE_SIZE};

use crate::clock::ClockRef;
use crate::counters::Counters;
use crate::memory::Gpa;
use crate::platform::SimPlatform;

/// `SEV_FW_BLOB_MAX_SIZE`: the largest certificate buffer Linux passes to the host.
pub const SEV_FW_BLOB_MAX_SIZE: usize = 0x4000;
/// `sizeof(struct snp_report_req)`.
pub const REPORT_REQ_LEN: usize = 96;
/// `sizeof(struct snp_report_resp)`.
pub const REPORT_RESP_LEN: usize = 4000;
/// `SNP_REQ_RETRY_DELAY`.
pub const RETRY_DELAY: Duration = Duration::from_secs(2);
/// `SNP_REQ_MAX_RETRY_DURATION`.
pub const MAX_RETRY_DURATION: Duration = Duration::from_secs(60);
/// BUSY resends that fit into [`MAX_RETRY_DURATION`] at [`RETRY_DELAY`]. The kernel bounds its
/// loop by time only; with a working clock the deadline always ends the loop first, and this
/// count ends it when the injected clock does not advance (a frozen or saturated test clock).
const MAX_BUSY_RESENDS: u32 = 30;
const _: () =
    assert!(RETRY_DELAY.as_secs() * MAX_BUSY_RESENDS as u64 == MAX_RETRY_DURATION.as_secs());
/// What the driver presets exitinfo2 to before dispatch.
const EXITINFO2_PRESET: u64 = 0xff;
/// `ES_VMM_ERROR`: the positive return for a GHCB-level rejection.
pub const ES_VMM_ERROR: i32 = 2;
/// `ES_EXCEPTION`: the positive return when the host asks to inject an exception.
pub const ES_EXCEPTION: i32 = 4;

/// What an ioctl returned and wrote back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoctlOutcome {
    /// The ioctl's return value: 0, -1 (see `errno`), or a positive GHCB-level result.
    pub ret: i32,
    /// errno when `ret == -1`.
    pub errno: Option<Errno>,
    /// `exitinfo2` as copied back to the caller's struct (only when non-zero).
    pub exitinfo2: Option<u64>,
    /// `certs_len` as written back (INVALID_LEN only).
    pub certs_len: Option<u32>,
}

impl IoctlOutcome {
    fn ok() -> Self {
        Self {
            ret: 0,
            errno: None,
            exitinfo2: None,
            certs_len: None,
        }
    }
    fn err(errno: Errno, exitinfo2: u64) -> Self {
        Self {
            ret: -1,
            errno: Some(errno),
            exitinfo2: (exitinfo2 != 0).then_some(exitinfo2),
            certs_len: None,
        }
    }
}

#[derive(Debug)]
struct DevState {
    vmpck_id: VmpckId,
    vmpck: Option<Vmpck>,
    /// OS-area message counter (last sequence number used, the response's).
    count: u64,
    req_gpa: Gpa,
    resp_gpa: Gpa,
}

/// The simulated `/dev/sev-guest`. `Send + Sync`; calls are serialized like `snp_cmd_mutex`.
#[derive(Debug)]
pub struct SevGuestDevice {
    platform: SimPlatform,
    clock: ClockRef,
    state: Mutex<DevState>,
}

/// The device could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No such VMPCK / it is zero (the guest runs at a higher VMPL).
    #[error("VMPCK{0} is not available to this guest (vmpck_id out of range or key zeroed)")]
    NoKey(u8),
    /// Shared pages for the message buffers could not be allocated.
    #[error("cannot allocate shared pages for the guest message buffers: {0}")]
    Memory(#[from] snp_ghcb::driver::PlatformError),
}

enum Sent {
    /// Host-visible send completed with exitinfo2 = 0; the response is in the response page.
    Ok,
    /// Failed with this errno; exitinfo2 value; whether the VMPCK is kept.
    Err(Errno, u64, bool),
    /// GHCB-level rejection (positive return).
    Ghcb(i32),
}

impl SevGuestDevice {
    /// "Load the driver" with `vmpck_id` (module parameter): the key and the message counter come
    /// from the guest's secrets page, i.e. from the platform.
    pub fn open(platform: SimPlatform, vmpck_id: u8) -> Result<Self, DeviceError> {
        let id = VmpckId::new(vmpck_id).map_err(|_| DeviceError::NoKey(vmpck_id))?;
        let key = platform
            .guest_vmpck(vmpck_id)
            .filter(|k| k.iter().any(|&b| b != 0))
            .ok_or(DeviceError::NoKey(vmpck_id))?;
        let count = platform.secrets_message_count(vmpck_id).unwrap_or(0);
        let req_gpa = platform.alloc_shared(1)?;
        let resp_gpa = platform.alloc_shared(1)?;
        Ok(Self {
            clock: platform.clock(),
            platform,
            state: Mutex::new(DevState {
                vmpck_id: id,
                vmpck: Some(Vmpck::new(key)),
                count,
                req_gpa,
                resp_gpa,
            }),
        })
    }

    /// Whether the VMPCK has been disabled (every later call fails `ENOTTY`).
    pub fn vmpck_disabled(&self) -> bool {
        self.lock().vmpck.is_none()
    }

    /// The OS-area message counter.
    pub fn message_count(&self) -> u64 {
        self.lock().count
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DevState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `SNP_GET_REPORT`.
    pub fn ioctl_get_report(
        &self,
        msg_version: u8,
        req: &[u8; REPORT_REQ_LEN],
        resp: &mut [u8; REPORT_RESP_LEN],
    ) -> IoctlOutcome {
        if msg_version == 0 {
            return IoctlOutcome::err(Errno::EINVAL, 0);
        }
        let mut st = self.lock();
        self.request(&mut st, msg_version, req, resp, None).0
    }

    /// `SNP_GET_EXT_REPORT`. `certs` is the user buffer (`certs_len` = its length; `None` or an
    /// empty slice = the caller wants no certificates).
    pub fn ioctl_get_ext_report(
        &self,
        msg_version: u8,
        req: &[u8; REPORT_REQ_LEN],
        resp: &mut [u8; REPORT_RESP_LEN],
        certs: Option<&mut [u8]>,
    ) -> IoctlOutcome {
        if msg_version == 0 {
            return IoctlOutcome::err(Errno::EINVAL, 0);
        }
        let certs = certs.filter(|c| !c.is_empty());
        if let Some(c) = &certs {
            if c.len() > SEV_FW_BLOB_MAX_SIZE || !c.len().is_multiple_of(PAGE_SIZE) {
                return IoctlOutcome::err(Errno::EINVAL, EXITINFO2_PRESET);
            }
        }
        let mut st = self.lock();
        let npages = certs.as_ref().map_or(0, |c| c.len() / PAGE_SIZE);
        // A fresh zeroed shared buffer per request (newest driver); none when no certs wanted.
        let data_gpa = if npages > 0 {
            match self.platform.alloc_shared(npages) {
                Ok(g) => Some(g),
                Err(_) => return IoctlOutcome::err(Errno::ENOMEM, EXITINFO2_PRESET),
            }
        } else {
            None
        };
        let (mut out, host_npages) = self.request(
            &mut st,
            msg_version,
            req,
            resp,
            Some((data_gpa.unwrap_or(0), npages as u64)),
        );
        if out.exitinfo2.map(|x| x >> 32) == Some(1) {
            // certs_len = npages << PAGE_SHIFT, truncated to u32 like the kernel's field.
            out.certs_len = Some((host_npages << 12) as u32);
        } else if out.ret == 0 {
            if let (Some(gpa), Some(buf)) = (data_gpa, certs) {
                if self.platform.read_shared(gpa, buf).is_err() {
                    buf.fill(0);
                }
            }
        }
        if let Some(g) = data_gpa {
            self.platform.free_shared(g, npages);
        }
        out
    }

    fn disable(&self, st: &mut DevState, why: &str) {
        if st.vmpck.take().is_some() {
            self.platform.with_secrets(|s| {
                use snp_ghcb::driver::VmpckStore;
                s.wipe_key(st.vmpck_id)
            });
            tracing::warn!(
                vmpck = st.vmpck_id.get(),
                why,
                "simulated sev-guest disabled its VMPCK"
            );
            Counters::bump(&self.platform.live_counters().vmpck_disabled);
        }
    }

    /// `snp_send_guest_request` + `__handle_guest_request`. Returns the outcome and the RBX
    /// pages of an INVALID_LEN answer.
    fn request(
        &self,
        st: &mut DevState,
        msg_version: u8,
        payload: &[u8],
        resp: &mut [u8; REPORT_RESP_LEN],
        ext: Option<(Gpa, u64)>,
    ) -> (IoctlOutcome, u64) {
        let Some(key) = st.vmpck.clone() else {
            return (IoctlOutcome::err(Errno::ENOTTY, 0), 0);
        };
        let seqno = st.count + 1;
        if seqno >= u64::from(u32::MAX) {
            return (IoctlOutcome::err(Errno::EIO, 0), 0);
        }
        let meta = MsgMeta {
            seqno,
            msg_type: MsgType::ReportReq,
            msg_version,
            vmpck_id: st.vmpck_id,
        };
        let mut page = [0u8; PAGE_SIZE];
        if message::seal(&mut page, &meta, &key, payload).is_err()
            || self.platform.write_shared(st.req_gpa, &page).is_err()
            || self
                .platform
                .write_shared(st.resp_gpa, &[0u8; PAGE_SIZE])
                .is_err()
        {
            return (IoctlOutcome::err(Errno::EIO, 0), 0);
        }
        let (sent, npages) = self.issue(st, ext);
        // The host saw a message under this sequence number: never use it again.
        st.count += 2;
        let count = u32::try_from(st.count).unwrap_or(u32::MAX);
        self.platform
            .with_secrets(|s| s.set_msg_seqno(st.vmpck_id, count));
        let exitinfo2 = match sent {
            Sent::Ok => 0,
            Sent::Ghcb(r) => {
                self.disable(st, "GHCB-level rejection");
                return (
                    IoctlOutcome {
                        ret: r,
                        errno: None,
                        exitinfo2: Some(NO_FW_CALL),
                        certs_len: None,
                    },
                    0,
                );
            }
            Sent::Err(errno, x, keep) => {
                if !keep {
                    self.disable(st, "guest request failed");
                }
                return (IoctlOutcome::err(errno, x), npages);
            }
        };
        // Verify and decrypt the response (private copy first, as the kernel does).
        let mut rpage = [0u8; PAGE_SIZE];
        if self.platform.read_shared(st.resp_gpa, &mut rpage).is_err() {
            self.disable(st, "response unreadable");
            return (IoctlOutcome::err(Errno::EBADMSG, exitinfo2), 0);
        }
        let expect = MsgMeta {
            seqno: seqno + 1,
            msg_type: MsgType::ReportRsp,
            msg_version,
            vmpck_id: st.vmpck_id,
        };
        let mut plain = [0u8; MAX_PAYLOAD];
        match message::open(&rpage, &expect, &key, &mut plain) {
            Ok(n) if n <= REPORT_RESP_LEN => {
                resp.fill(0);
                resp[..n].copy_from_slice(&plain[..n]);
                (IoctlOutcome::ok(), 0)
            }
            Ok(_) | Err(_) => {
                self.disable(st, "response failed verification");
                (IoctlOutcome::err(Errno::EBADMSG, exitinfo2), 0)
            }
        }
    }

    /// The retry loop around `snp_issue_guest_request`.
    fn issue(&self, st: &DevState, ext: Option<(Gpa, u64)>) -> (Sent, u64) {
        let mut exit_code = if ext.is_some() {
            SNP_EXTENDED_GUEST_REQUEST
        } else {
            SNP_GUEST_REQUEST
        };
        let start = self.clock.now();
        let mut busy_resends = 0u32;
        let mut override_invalid_len: Option<u64> = None;
        loop {
            let mut ghcb = Ghcb::new();
            ghcb.set_protocol_version(2);
            ghcb.set_sw_exit_code(exit_code);
            ghcb.set_sw_exit_info_1(st.req_gpa);
            ghcb.set_sw_exit_info_2(st.resp_gpa);
            if exit_code == SNP_EXTENDED_GUEST_REQUEST {
                let (gpa, n) = ext.unwrap_or((0, 0));
                ghcb.set_rax(gpa);
                ghcb.set_rbx(n);
            }
            if self.platform.vmgexit(&mut ghcb).is_err() {
                return (Sent::Err(Errno::EIO, NO_FW_CALL, false), 0);
            }
            let es = es_result(ghcb.sw_exit_info_1(), ghcb.sw_exit_info_2());
            if es != 0 {
                return (Sent::Ghcb(es), 0);
            }
            let x = ghcb.sw_exit_info_2();
            match x {
                0 => {
                    if let Some(n) = override_invalid_len {
                        // The plain resend burned the sequence number; report INVALID_LEN.
                        return (Sent::Err(Errno::EIO, INVALID_LEN, true), n);
                    }
                    return (Sent::Ok, 0);
                }
                BUSY => {
                    if self.clock.now().saturating_sub(start) >= MAX_RETRY_DURATION
                        || busy_resends >= MAX_BUSY_RESENDS
                    {
                        return (Sent::Err(Errno::ETIMEDOUT, BUSY, false), 0);
                    }
                    busy_resends += 1;
                    self.clock.sleep(RETRY_DELAY);
                }
                INVALID_LEN if exit_code == SNP_EXTENDED_GUEST_REQUEST => {
                    override_invalid_len = Some(ghcb.rbx());
                    exit_code = SNP_GUEST_REQUEST;
                }
                other => {
                    if let Some(n) = override_invalid_len {
                        // Kernel quirk (abi-facts §1.4 c): the override keeps the key even
                        // though the plain resend failed.
                        return (Sent::Err(Errno::EIO, INVALID_LEN, true), n);
                    }
                    return (Sent::Err(Errno::EIO, other, false), 0);
                }
            }
        }
    }
}

/// `verify_exception_info` (L-core): the GHCB-level result of a VMGEXIT. 0 = handled; SW_EXITINFO1
/// = 1 with a sane exception event (valid, type exception, #GP or #UD) in SW_EXITINFO2 =
/// `ES_EXCEPTION`; anything else — including 1 with a bogus event — = `ES_VMM_ERROR`.
fn es_result(info1: u64, info2: u64) -> i32 {
    const EVTINJ_VALID: u64 = 1 << 31;
    const EVTINJ_VEC_MASK: u64 = 0xFF;
    const EVTINJ_TYPE_MASK: u64 = 7 << 8;
    const EVTINJ_TYPE_EXEPT: u64 = 3 << 8;
    const X86_TRAP_UD: u64 = 6;
    const X86_TRAP_GP: u64 = 13;
    match info1 & 0xFFFF_FFFF {
        0 => 0,
        1 if info2 & EVTINJ_VALID != 0
            && matches!(info2 & EVTINJ_VEC_MASK, X86_TRAP_GP | X86_TRAP_UD)
            && info2 & EVTINJ_TYPE_MASK == EVTINJ_TYPE_EXEPT =>
        {
            ES_EXCEPTION
        }
        _ => ES_VMM_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghcb_level_results_follow_verify_exception_info() {
        assert_eq!(es_result(0, 0x16), 0);
        // Only the low 32 bits of SW_EXITINFO1 count.
        assert_eq!(es_result(0x1_0000_0000, 5), 0);
        // A sane #GP / #UD injection request.
        assert_eq!(es_result(1, 0x8000_030D), ES_EXCEPTION);
        assert_eq!(es_result(1, 0x8000_0306), ES_EXCEPTION);
        // "Inject an exception" without a sane event is a VMM error.
        assert_eq!(es_result(1, 0), ES_VMM_ERROR);
        assert_eq!(es_result(1, 0x0000_030D), ES_VMM_ERROR, "not valid");
        assert_eq!(
            es_result(1, 0x8000_030E),
            ES_VMM_ERROR,
            "#PF is not accepted"
        );
        assert_eq!(
            es_result(1, 0x8000_000D),
            ES_VMM_ERROR,
            "type is not exception"
        );
        assert_eq!(es_result(2, 5), ES_VMM_ERROR);
        assert_eq!(es_result(7, 0), ES_VMM_ERROR);
    }
}
