//! The `/dev/sev-guest` backend: `SNP_GET_EXT_REPORT` through the Linux ioctl.
//!
//! The syscall sits behind the tiny [`GuestIoctl`] trait so that everything around it — building
//! `snp_ext_report_req`, zeroing `exitinfo2` before every call, reading `certs_len` back, decoding
//! errno + `exitinfo2`, checking `status` inside `snp_report_resp`, bounding `report_size` — is
//! one piece of code, run unchanged against the real device and against the simulator's model of
//! the Linux driver (feature `sim`). Only the syscall is swapped.
//!
//! Linux semantics this code relies on (abi-facts §1.4–1.5):
//! - the kernel retries BUSY itself (2 s apart, 60 s in total), then fails with `ETIMEDOUT` and
//!   disables the VMPCK: such an error must never advise a retry;
//! - INVALID_LEN costs the kernel a plain re-send (sequence number burnt), then `EIO` with
//!   `exitinfo2 = 1 << 32` and `certs_len` = the bytes the host wants. We always offer the largest
//!   buffer Linux accepts (16 KiB, page-aligned), so INVALID_LEN means the host needs more than the
//!   ioctl can ever pass: it is reported, not retried;
//! - `exitinfo2` is copied back only when non-zero, so it is zeroed before every call;
//! - a GHCB-level rejection is a *positive* return without errno;
//! - a bad VMPL / key selection is `status` 0x16 / 0x27 inside a successful response.

use nix::errno::Errno;
use snp_ghcb::exit::{ExitInfo2, FwStatus};
use snp_ghcb::payload::{ReportReq, KEY_SEL_DEFAULT, REPORT_REQ_SIZE};
use tracing::{debug, warn};

use super::error::{BackendError, KernelStatus};
use super::{cert_table_extent, Backend, BackendKind, ExtendedReport, ReportRequest};
use crate::ioctl::{SnpExtReportReq, SnpReportReq, SnpReportResp};

/// `SEV_FW_BLOB_MAX_SIZE`: the largest certificate buffer Linux accepts (include/linux/psp-sev.h).
pub const CERTS_MAX: usize = crate::ioctl::SEV_FW_BLOB_MAX_SIZE;
/// Size of `struct snp_report_resp` (4096 minus the 96-byte message header).
pub const REPORT_RESP_SIZE: usize = 4000;
/// Offset of the report inside `snp_report_resp` (status u32, report_size u32, 24 reserved).
const REPORT_OFFSET: usize = 0x20;
/// The message version Linux's own callers (configfs-tsm) use for MSG_REPORT_REQ.
pub const DEFAULT_MSG_VERSION: u8 = 1;

/// One `SNP_GET_EXT_REPORT` call, as bytes and values. The fields that the kernel writes back
/// (`certs_len`, `exitinfo2`) are in/out here exactly as in the uapi structs.
#[derive(Debug)]
pub struct ExtReportCall<'a> {
    /// `snp_guest_request_ioctl.msg_version` (non-zero).
    pub msg_version: u8,
    /// `snp_report_req` (byte-identical to the MSG_REPORT_REQ payload).
    pub req: &'a [u8; REPORT_REQ_SIZE],
    /// `snp_report_resp`: receives the decrypted MSG_REPORT_RSP payload.
    pub resp: &'a mut [u8; REPORT_RESP_SIZE],
    /// The certificate buffer (`certs_address`); at least `certs_len` bytes.
    pub certs: &'a mut [u8],
    /// `snp_ext_report_req.certs_len`: in = bytes offered, out = bytes needed on INVALID_LEN.
    pub certs_len: u32,
    /// `snp_guest_request_ioctl.exitinfo2`: written back by the kernel only when non-zero.
    pub exitinfo2: u64,
}

/// What the syscall returned: `ret` (0, -1 or a positive GHCB-level code) and the errno of a -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoctlReturn {
    /// The return value.
    pub ret: i32,
    /// The errno when `ret == -1`.
    pub errno: Option<Errno>,
}

/// The syscall, and nothing else. The real implementation fills the pointers of
/// `snp_guest_request_ioctl` and issues the ioctl; the simulator's implementation hands the same
/// buffers to its model of the Linux driver.
pub trait GuestIoctl: Send {
    /// Issue `SNP_GET_EXT_REPORT`, updating `call.certs_len` / `call.exitinfo2` the way the kernel
    /// copies them back.
    fn get_ext_report(&mut self, call: &mut ExtReportCall<'_>) -> IoctlReturn;
}

/// The real `/dev/sev-guest`, through the safe wrappers of [`crate::ioctl`].
#[derive(Debug)]
pub struct DeviceIoctl {
    file: std::fs::File,
}

impl DeviceIoctl {
    /// Open the device read-write (the driver requires it).
    pub fn open(path: &std::path::Path) -> Result<Self, BackendError> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(|file| DeviceIoctl { file })
            .map_err(|source| BackendError::DeviceUnavailable {
                path: path.to_path_buf(),
                source,
            })
    }
}

impl GuestIoctl for DeviceIoctl {
    fn get_ext_report(&mut self, call: &mut ExtReportCall<'_>) -> IoctlReturn {
        use std::os::fd::AsFd;
        let mut user_data = [0u8; 64];
        user_data.copy_from_slice(&call.req[..64]);
        let mut vmpl = [0u8; 4];
        vmpl.copy_from_slice(&call.req[0x40..0x44]);
        let mut rsvd = [0u8; 28];
        rsvd.copy_from_slice(&call.req[0x44..]);
        let mut req = SnpExtReportReq {
            data: SnpReportReq {
                user_data,
                vmpl: u32::from_le_bytes(vmpl),
                rsvd,
            },
            certs_address: 0,
            certs_len: 0,
        };
        let len = (call.certs_len as usize).min(call.certs.len());
        let mut resp = SnpReportResp::default();
        let out = crate::ioctl::get_ext_report(
            self.file.as_fd(),
            call.msg_version,
            &mut req,
            Some(&mut call.certs[..len]),
            &mut resp,
        );
        call.resp.copy_from_slice(&resp.data);
        call.certs_len = req.certs_len;
        if out.exitinfo2 != 0 {
            call.exitinfo2 = out.exitinfo2;
        }
        match out.ret {
            Ok(ret) => IoctlReturn { ret, errno: None },
            Err(errno) => IoctlReturn {
                ret: -1,
                errno: Some(errno),
            },
        }
    }
}

/// The 16 KiB certificate buffer, page-aligned like the kernel's own allocations (the kernel
/// copies into it, so alignment is not required, but a page-aligned buffer never straddles more
/// pages than it must and matches what the ABI documents).
#[repr(C, align(4096))]
struct CertPages([u8; CERTS_MAX]);

/// `/dev/sev-guest` (or the simulator's model of it).
pub struct SevGuestBackend {
    io: Box<dyn GuestIoctl>,
    msg_version: u8,
    certs: Box<CertPages>,
    resp: Box<[u8; REPORT_RESP_SIZE]>,
}

impl std::fmt::Debug for SevGuestBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SevGuestBackend")
            .field("msg_version", &self.msg_version)
            .finish_non_exhaustive()
    }
}

impl SevGuestBackend {
    /// `/dev/sev-guest` (or another path naming the device).
    pub fn open(device: &std::path::Path, msg_version: u8) -> Result<Self, BackendError> {
        Ok(Self::with_ioctl(
            Box::new(DeviceIoctl::open(device)?),
            msg_version,
        ))
    }

    /// A backend over any [`GuestIoctl`] (the real device or the simulator's).
    pub fn with_ioctl(io: Box<dyn GuestIoctl>, msg_version: u8) -> Self {
        SevGuestBackend {
            io,
            msg_version,
            certs: Box::new(CertPages([0; CERTS_MAX])),
            resp: Box::new([0; REPORT_RESP_SIZE]),
        }
    }

    /// One request: marshal, call, decode.
    fn request(&mut self, req: &ReportRequest) -> Result<ExtendedReport, BackendError> {
        let req_bytes = encode_request(req)?;
        self.resp.fill(0);
        self.certs.0.fill(0);
        let mut call = ExtReportCall {
            msg_version: self.msg_version,
            req: &req_bytes,
            resp: &mut self.resp,
            certs: &mut self.certs.0,
            certs_len: CERTS_MAX as u32,
            // Linux copies exitinfo2 back only when non-zero: a stale value must not survive.
            exitinfo2: 0,
        };
        let r = self.io.get_ext_report(&mut call);
        let status = KernelStatus {
            ret: r.ret,
            errno: r.errno,
            exitinfo2: Some(call.exitinfo2),
        };
        let certs_len = call.certs_len;
        debug!(%status, certs_len, "SNP_GET_EXT_REPORT returned");
        check_ioctl(r, status, certs_len)?;
        let report = decode_response(&self.resp)?;
        let extent = cert_table_extent(&self.certs.0);
        Ok(ExtendedReport {
            report,
            cert_table: self.certs.0[..extent].to_vec(),
        })
    }
}

impl Backend for SevGuestBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::SevGuest
    }

    fn get_ext_report(&mut self, req: &ReportRequest) -> Result<ExtendedReport, BackendError> {
        self.request(req)
    }
}

/// `snp_report_req` for a request: user data, VMPL, KEY_SEL 0 (the firmware's default key).
pub(crate) fn encode_request(req: &ReportRequest) -> Result<[u8; REPORT_REQ_SIZE], BackendError> {
    if req.vmpl > 3 {
        return Err(BackendError::BadVmpl { vmpl: req.vmpl });
    }
    ReportReq {
        report_data: req.report_data,
        vmpl: req.vmpl,
        key_sel: KEY_SEL_DEFAULT,
    }
    .to_bytes()
    // KEY_SEL 0 and a VMPL of at most 3 always encode; an error here is a bug.
    .map_err(|e| BackendError::Internal(format!("cannot encode MSG_REPORT_REQ: {e}")))
}

/// Map the syscall's outcome to success or the error that says what happened and what to do.
fn check_ioctl(r: IoctlReturn, status: KernelStatus, certs_len: u32) -> Result<(), BackendError> {
    let backend = BackendKind::SevGuest;
    let exitinfo2 = status.exitinfo2.unwrap_or(0);
    match (r.ret, r.errno) {
        (0, None) => Ok(()),
        (ret, None) if ret > 0 => Err(BackendError::GhcbRejected { ret, status }),
        (_, Some(Errno::EIO)) if exitinfo2 == snp_ghcb::exit::INVALID_LEN => {
            let needed = u64::from(certs_len);
            if needed > CERTS_MAX as u64 {
                Err(BackendError::CertsTooLarge {
                    backend,
                    needed,
                    max: CERTS_MAX as u64,
                    status: Some(status),
                })
            } else {
                Err(BackendError::InconsistentInvalidLen {
                    offered: CERTS_MAX as u64,
                    needed,
                    status,
                })
            }
        }
        (_, Some(Errno::ETIMEDOUT)) => Err(BackendError::BusyTimeout {
            backend,
            status: Some(status),
            detail: Some("the kernel retried BUSY every 2 s for 60 s".into()),
        }),
        (_, Some(Errno::ENOTTY)) => Err(BackendError::VmpckDisabled {
            backend,
            status: Some(status),
            detail: None,
        }),
        (_, Some(Errno::EINVAL)) => Err(BackendError::InvalidRequest { status }),
        (_, Some(Errno::EBADMSG)) => Err(BackendError::ResponseRejected {
            backend,
            detail: format!("kernel: {status}"),
        }),
        (_, Some(Errno::EIO)) => {
            let e = ExitInfo2::from_u64(exitinfo2);
            // Both KVM generations: merged returns a firmware failure as `fw_err`, the seed as
            // `GENERIC(1 << 31) << 32 | fw_err`; a VMM half with no firmware code is the host's.
            match e.firmware_error() {
                _ if e.is_success() => Err(BackendError::Ioctl { status }),
                Some(fw) => Err(BackendError::Firmware {
                    backend,
                    fw,
                    status: Some(status),
                }),
                None => Err(BackendError::HostError {
                    backend,
                    detail: format!("VMM error {}", e.vmm),
                    status: Some(status),
                }),
            }
        }
        _ => Err(BackendError::Ioctl { status }),
    }
}

/// Check `status` and bound `report_size` inside `snp_report_resp`; return the raw report bytes.
/// The report itself is not parsed here: an unparsable report is still returned (and saved).
pub(crate) fn decode_response(resp: &[u8; REPORT_RESP_SIZE]) -> Result<Vec<u8>, BackendError> {
    let word = |at: usize| {
        resp.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0)
    };
    let st = FwStatus::from_u32(word(0));
    if st != FwStatus::Success {
        return Err(BackendError::ReportRefused { status: st });
    }
    let size = word(4) as usize;
    let max = REPORT_RESP_SIZE - REPORT_OFFSET;
    if size == 0 || size > max {
        warn!(size, max, "report_size out of bounds");
        return Err(BackendError::MalformedResponse(format!(
            "report_size {size} is outside 1..={max}"
        )));
    }
    resp.get(REPORT_OFFSET..REPORT_OFFSET + size)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| BackendError::MalformedResponse("report_size past the buffer".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A predicate on the error a case must produce.
    type Check = fn(&BackendError) -> bool;
    use std::sync::{Arc, Mutex};

    /// What the fake kernel does on each call.
    #[derive(Clone)]
    enum Answer {
        Ok {
            status: u32,
            report_size: u32,
            certs: Vec<u8>,
        },
        Fail {
            errno: Errno,
            exitinfo2: u64,
            certs_len: Option<u32>,
        },
        Positive(i32, u64),
    }

    #[derive(Default)]
    struct Seen {
        exitinfo2_in: Vec<u64>,
        certs_len_in: Vec<u32>,
        msg_version: Vec<u8>,
        req: Vec<[u8; REPORT_REQ_SIZE]>,
    }

    struct Fake {
        answers: Vec<Answer>,
        seen: Arc<Mutex<Seen>>,
    }

    impl GuestIoctl for Fake {
        fn get_ext_report(&mut self, call: &mut ExtReportCall<'_>) -> IoctlReturn {
            let mut seen = self.seen.lock().unwrap();
            seen.exitinfo2_in.push(call.exitinfo2);
            seen.certs_len_in.push(call.certs_len);
            seen.msg_version.push(call.msg_version);
            seen.req.push(*call.req);
            match self.answers.remove(0) {
                Answer::Ok {
                    status,
                    report_size,
                    certs,
                } => {
                    call.resp[..4].copy_from_slice(&status.to_le_bytes());
                    call.resp[4..8].copy_from_slice(&report_size.to_le_bytes());
                    for (i, b) in call.resp[0x20..].iter_mut().enumerate() {
                        *b = (i % 251) as u8;
                    }
                    call.certs[..certs.len()].copy_from_slice(&certs);
                    IoctlReturn {
                        ret: 0,
                        errno: None,
                    }
                }
                Answer::Fail {
                    errno,
                    exitinfo2,
                    certs_len,
                } => {
                    if exitinfo2 != 0 {
                        call.exitinfo2 = exitinfo2;
                    }
                    if let Some(l) = certs_len {
                        call.certs_len = l;
                    }
                    IoctlReturn {
                        ret: -1,
                        errno: Some(errno),
                    }
                }
                Answer::Positive(ret, e2) => {
                    call.exitinfo2 = e2;
                    IoctlReturn { ret, errno: None }
                }
            }
        }
    }

    fn backend(answers: Vec<Answer>) -> (SevGuestBackend, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let fake = Fake {
            answers,
            seen: seen.clone(),
        };
        (
            SevGuestBackend::with_ioctl(Box::new(fake), DEFAULT_MSG_VERSION),
            seen,
        )
    }

    fn table_with_one_entry() -> Vec<u8> {
        // one entry (VCEK GUID) at offset 48, length 10, then the terminator, then the payload
        let mut t = vec![0u8; 58];
        t[..16].copy_from_slice(&[
            0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8,
            0xac, 0xcd,
        ]);
        t[16..20].copy_from_slice(&48u32.to_le_bytes());
        t[20..24].copy_from_slice(&10u32.to_le_bytes());
        t[48..58].copy_from_slice(&[0xAB; 10]);
        t
    }

    #[test]
    fn success_returns_report_and_trimmed_table_and_asks_with_16k() {
        let table = table_with_one_entry();
        let (mut b, seen) = backend(vec![Answer::Ok {
            status: 0,
            report_size: 0x4A0,
            certs: table.clone(),
        }]);
        let req = ReportRequest {
            report_data: [7; 64],
            vmpl: 2,
        };
        let out = b.get_ext_report(&req).unwrap();
        assert_eq!(out.report.len(), 0x4A0);
        assert_eq!(out.report[1], 1);
        assert_eq!(out.cert_table, table);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.certs_len_in, vec![CERTS_MAX as u32]);
        assert_eq!(seen.exitinfo2_in, vec![0]);
        assert_eq!(seen.msg_version, vec![1]);
        assert_eq!(&seen.req[0][..64], &[7; 64]);
        assert_eq!(seen.req[0][0x40..0x44], 2u32.to_le_bytes());
        assert!(seen.req[0][0x44..].iter().all(|&x| x == 0));
    }

    #[test]
    fn no_certificates_gives_an_empty_table() {
        let (mut b, _) = backend(vec![Answer::Ok {
            status: 0,
            report_size: 0x4A0,
            certs: vec![],
        }]);
        let out = b.get_ext_report(&ReportRequest::default()).unwrap();
        assert!(out.cert_table.is_empty());
    }

    #[test]
    fn exitinfo2_is_zeroed_before_every_call() {
        // The first call fails and leaves exitinfo2 set; the second must start from zero again.
        let (mut b, seen) = backend(vec![
            Answer::Fail {
                errno: Errno::EIO,
                exitinfo2: 0x1234,
                certs_len: None,
            },
            Answer::Ok {
                status: 0,
                report_size: 0x4A0,
                certs: vec![],
            },
        ]);
        assert!(b.get_ext_report(&ReportRequest::default()).is_err());
        b.get_ext_report(&ReportRequest::default()).unwrap();
        assert_eq!(seen.lock().unwrap().exitinfo2_in, vec![0, 0]);
    }

    #[test]
    fn invalid_len_names_the_size_the_host_wanted() {
        let (mut b, _) = backend(vec![Answer::Fail {
            errno: Errno::EIO,
            exitinfo2: 1 << 32,
            certs_len: Some(0x5000),
        }]);
        let e = b.get_ext_report(&ReportRequest::default()).unwrap_err();
        match &e {
            BackendError::CertsTooLarge {
                needed,
                max,
                status: Some(st),
                ..
            } => {
                assert_eq!(*needed, 0x5000);
                assert_eq!(*max, 0x4000);
                assert_eq!(st.errno, Some(Errno::EIO));
                assert_eq!(st.exitinfo2, Some(1 << 32));
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains("20480") && msg.contains("16384"), "{msg}");
    }

    #[test]
    fn invalid_len_within_the_offer_is_a_host_bug() {
        let (mut b, _) = backend(vec![Answer::Fail {
            errno: Errno::EIO,
            exitinfo2: 1 << 32,
            certs_len: Some(0x1000),
        }]);
        let e = b.get_ext_report(&ReportRequest::default()).unwrap_err();
        assert!(matches!(
            e,
            BackendError::InconsistentInvalidLen { needed: 0x1000, .. }
        ));
    }

    #[test]
    fn etimedout_is_fatal_and_says_do_not_retry() {
        let (mut b, _) = backend(vec![Answer::Fail {
            errno: Errno::ETIMEDOUT,
            exitinfo2: 2 << 32,
            certs_len: None,
        }]);
        let e = b.get_ext_report(&ReportRequest::default()).unwrap_err();
        assert!(matches!(e, BackendError::BusyTimeout { .. }));
        assert!(e.is_key_disabled());
        let msg = e.to_string();
        assert!(
            msg.contains("do NOT retry") && msg.contains("reboot"),
            "{msg}"
        );
    }

    #[test]
    fn errnos_are_decoded() {
        let cases: Vec<(Answer, Check)> = vec![
            (
                Answer::Fail {
                    errno: Errno::ENOTTY,
                    exitinfo2: 0,
                    certs_len: None,
                },
                |e| matches!(e, BackendError::VmpckDisabled { .. }),
            ),
            (
                Answer::Fail {
                    errno: Errno::EINVAL,
                    exitinfo2: 0xff,
                    certs_len: None,
                },
                |e| matches!(e, BackendError::InvalidRequest { status } if status.exitinfo2 == Some(0xff)),
            ),
            (
                Answer::Fail {
                    errno: Errno::EIO,
                    exitinfo2: 0x13,
                    certs_len: None,
                },
                |e| {
                    matches!(
                        e,
                        BackendError::Firmware {
                            fw: FwStatus::HwErrorPlatform,
                            ..
                        }
                    )
                },
            ),
            (
                Answer::Fail {
                    errno: Errno::EIO,
                    exitinfo2: snp_ghcb::exit::GENERIC,
                    certs_len: None,
                },
                |e| matches!(e, BackendError::HostError { .. }),
            ),
            (
                Answer::Fail {
                    errno: Errno::EBADMSG,
                    exitinfo2: 0,
                    certs_len: None,
                },
                |e| matches!(e, BackendError::ResponseRejected { .. }),
            ),
            (
                Answer::Fail {
                    errno: Errno::EFAULT,
                    exitinfo2: 0xff,
                    certs_len: None,
                },
                |e| matches!(e, BackendError::Ioctl { .. }),
            ),
            (
                Answer::Positive(2, u64::MAX),
                |e| matches!(e, BackendError::GhcbRejected { ret: 2, status } if status.exitinfo2 == Some(u64::MAX)),
            ),
        ];
        for (answer, check) in cases {
            let (mut b, _) = backend(vec![answer]);
            let e = b.get_ext_report(&ReportRequest::default()).unwrap_err();
            assert!(check(&e), "unexpected {e:?}");
        }
    }

    #[test]
    fn status_inside_the_response_is_checked() {
        for (st, want) in [(0x16, FwStatus::InvalidParam), (0x27, FwStatus::InvalidKey)] {
            let (mut b, _) = backend(vec![Answer::Ok {
                status: st,
                report_size: 0x4A0,
                certs: vec![],
            }]);
            let e = b.get_ext_report(&ReportRequest::default()).unwrap_err();
            assert!(
                matches!(e, BackendError::ReportRefused { status } if status == want),
                "{e:?}"
            );
        }
    }

    #[test]
    fn report_size_is_bounded() {
        for size in [0u32, 4000 - 0x20 + 1, u32::MAX] {
            let (mut b, _) = backend(vec![Answer::Ok {
                status: 0,
                report_size: size,
                certs: vec![],
            }]);
            let e = b.get_ext_report(&ReportRequest::default()).unwrap_err();
            assert!(matches!(e, BackendError::MalformedResponse(_)), "{e:?}");
        }
        let (mut b, _) = backend(vec![Answer::Ok {
            status: 0,
            report_size: 4000 - 0x20,
            certs: vec![],
        }]);
        assert_eq!(
            b.get_ext_report(&ReportRequest::default())
                .unwrap()
                .report
                .len(),
            4000 - 0x20
        );
    }

    #[test]
    fn vmpl_above_three_is_refused_before_any_call() {
        let (mut b, seen) = backend(vec![]);
        let e = b
            .get_ext_report(&ReportRequest {
                report_data: [0; 64],
                vmpl: 4,
            })
            .unwrap_err();
        assert!(matches!(e, BackendError::BadVmpl { vmpl: 4 }));
        assert!(seen.lock().unwrap().req.is_empty());
    }

    /// The real syscall path (the nix ioctl) on something that is not the SEV-SNP device: the
    /// kernel answers ENOTTY, decoded like a disabled VMPCK / missing driver, errno kept.
    #[test]
    fn real_ioctl_on_a_regular_file_is_enotty() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = SevGuestBackend::open(f.path(), DEFAULT_MSG_VERSION).unwrap();
        let e = b.get_ext_report(&ReportRequest::default()).unwrap_err();
        match e {
            BackendError::VmpckDisabled {
                backend: BackendKind::SevGuest,
                status: Some(st),
                ..
            } => {
                assert_eq!(st.errno, Some(Errno::ENOTTY));
                assert_eq!(st.ret, -1);
                assert_eq!(st.exitinfo2, Some(0));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_device_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let e = SevGuestBackend::open(&dir.path().join("sev-guest"), 1).unwrap_err();
        assert!(matches!(e, BackendError::DeviceUnavailable { .. }) && e.is_unavailable());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever the (untrusted) response buffer holds, decoding never panics and a
            /// returned report lies inside the buffer.
            #[test]
            fn decode_response_never_panics(
                head in proptest::collection::vec(any::<u8>(), 8..64),
                fill in any::<u8>(),
                size in prop_oneof![0u32..5000, any::<u32>()],
            ) {
                let mut resp = [fill; REPORT_RESP_SIZE];
                resp[..head.len()].copy_from_slice(&head);
                resp[4..8].copy_from_slice(&size.to_le_bytes());
                if let Ok(r) = decode_response(&resp) {
                    prop_assert_eq!(r.len(), size as usize);
                    prop_assert!(r.len() <= REPORT_RESP_SIZE - REPORT_OFFSET);
                }
            }

            /// Every kernel answer maps to success only when it is a clean success, and never
            /// panics.
            #[test]
            fn check_ioctl_is_total(
                ret in -2i32..6,
                errno in proptest::option::of(1i32..140),
                exitinfo2 in prop_oneof![Just(0u64), Just(1u64 << 32), Just(2u64 << 32), any::<u64>()],
                certs_len in any::<u32>(),
            ) {
                let errno = errno.map(Errno::from_raw);
                let r = IoctlReturn { ret, errno };
                let status = KernelStatus { ret, errno, exitinfo2: Some(exitinfo2) };
                let out = check_ioctl(r, status, certs_len);
                prop_assert_eq!(out.is_ok(), ret == 0 && errno.is_none());
            }
        }
    }

    #[test]
    fn cert_buffer_is_page_aligned() {
        let b = SevGuestBackend::with_ioctl(
            Box::new(Fake {
                answers: vec![],
                seen: Default::default(),
            }),
            1,
        );
        assert_eq!(b.certs.0.as_ptr() as usize % 4096, 0);
    }
}
