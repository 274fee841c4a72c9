//! A scripted fake host + firmware. The fake firmware keeps its own message counter and
//! accepts only `count + 1`, like the AMD-SP; every message the host ever saw is recorded so
//! each test can assert that no (VMPCK, seqno) pair carried two different messages.
extern crate std;

use super::*;
use crate::exit::{ExitInfo2, HvResponse, SNP_EXTENDED_GUEST_REQUEST, SNP_GUEST_REQUEST};
use crate::exit::{BUSY, GENERIC, INVALID_LEN};
use crate::message::MsgHeader;
use crate::message::{self, MessageError, MsgMeta};
use crate::msr::MsrError;
use crate::page::{Field, Ghcb, PAGE_SIZE};
use crate::payload::ReportRsp;
use crate::payload::{KEY_SEL_VCEK, REPORT_SIZE};
use crate::retry::RetryError;
use core::time::Duration;
use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

const KEY: [u8; 32] = [0x42; 32];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answer BUSY, firmware not called.
    Busy,
    /// Answer the generic VMM error without calling the firmware.
    Generic,
    /// Call the firmware but seal the response with a wrong sequence number.
    BadRespSeqno,
    /// Grow the served blob to this many bytes, then behave normally.
    GrowBlob(usize),
    /// Reject at the GHCB level (SW_EXITINFO1 = 2, missing input).
    GhcbMalformed,
    /// The exit never reaches the host.
    ExitFailed,
    /// Behave normally.
    Normal,
}

#[derive(Debug, Clone)]
struct Sent {
    exit_code: u64,
    vmpck: u8,
    seqno: u64,
    page: Vec<u8>,
}

struct Host {
    mem: BTreeMap<u64, [u8; PAGE_SIZE]>,
    next_gpa: u64,
    fw_count: u64,
    blob: Vec<u8>,
    script: VecDeque<Fault>,
    sent: Vec<Sent>,
    fw_requests: u32,
    refuse_registration: bool,
    live_pages: Rc<Cell<i64>>,
}

impl Host {
    fn new(blob_len: usize) -> Self {
        Self {
            mem: BTreeMap::new(),
            next_gpa: 0x10_0000,
            fw_count: 0,
            blob: (0..blob_len).map(|i| (i % 251) as u8 + 1).collect(),
            script: VecDeque::new(),
            sent: Vec::new(),
            fw_requests: 0,
            refuse_registration: false,
            live_pages: Rc::new(Cell::new(0)),
        }
    }

    fn with_script(mut self, s: &[Fault]) -> Self {
        self.script = s.iter().copied().collect();
        self
    }

    fn read(&self, gpa: u64, out: &mut [u8]) {
        for (i, b) in out.iter_mut().enumerate() {
            let a = gpa + i as u64;
            *b = self.mem.get(&(a & !0xFFF)).expect("unmapped")[(a & 0xFFF) as usize];
        }
    }

    fn write(&mut self, gpa: u64, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            let a = gpa + i as u64;
            self.mem.get_mut(&(a & !0xFFF)).expect("unmapped")[(a & 0xFFF) as usize] = *b;
        }
    }

    /// The firmware: check the request against its own counter, answer a report.
    fn firmware(&mut self, req_gpa: u64, resp_gpa: u64, bad_seqno: bool) -> u64 {
        self.fw_requests += 1;
        let mut page = [0u8; PAGE_SIZE];
        self.read(req_gpa, &mut page);
        let h = MsgHeader::decode(&page).unwrap();
        let expect = MsgMeta {
            seqno: self.fw_count + 1,
            msg_type: h.msg_type,
            msg_version: 1,
            vmpck_id: VmpckId::ZERO,
        };
        let mut pt = [0u8; MAX_PAYLOAD];
        let Ok(n) = message::open(&page, &expect, &Vmpck::new(KEY), &mut pt) else {
            return FwStatus::InvalidParam.to_u32() as u64; // counter untouched
        };
        self.fw_count += 2;
        let mut body = [0u8; MAX_PAYLOAD];
        let len = match h.msg_type {
            MsgType::ReportReq => {
                let req = ReportReq::decode(&pt[..n]).unwrap();
                let rsp = if req.vmpl > 3 {
                    ReportRsp::failure(FwStatus::InvalidParam)
                } else {
                    let mut report = [0u8; REPORT_SIZE];
                    report[0] = 5;
                    report[0x50..0x90].copy_from_slice(&req.report_data);
                    ReportRsp::success(report)
                };
                rsp.encode(&mut body).unwrap()
            }
            MsgType::KeyReq => KeyRsp {
                status: FwStatus::Success,
                derived_key: [0x77; 32],
            }
            .encode(&mut body)
            .unwrap(),
            _ => panic!("unexpected type"),
        };
        let meta = MsgMeta {
            seqno: h.seqno + if bad_seqno { 3 } else { 1 },
            msg_type: h.msg_type.response().unwrap(),
            msg_version: 1,
            vmpck_id: VmpckId::ZERO,
        };
        let mut out = [0u8; PAGE_SIZE];
        message::seal(&mut out, &meta, &Vmpck::new(KEY), &body[..len]).unwrap();
        self.write(resp_gpa, &out);
        0
    }

    /// No (VMPCK, seqno) ever carried two different messages.
    fn assert_no_seqno_reuse(&self) {
        let mut seen: BTreeMap<(u8, u64), &Vec<u8>> = BTreeMap::new();
        for s in &self.sent {
            if let Some(prev) = seen.insert((s.vmpck, s.seqno), &s.page) {
                assert_eq!(
                    prev, &s.page,
                    "seqno {} reused with another message",
                    s.seqno
                );
            }
        }
    }

    fn seqnos(&self) -> Vec<(u64, u64)> {
        self.sent.iter().map(|s| (s.exit_code, s.seqno)).collect()
    }
}

impl Vmgexit for Host {
    fn alloc_shared(&mut self, npages: usize) -> Result<Gpa, PlatformError> {
        let gpa = self.next_gpa;
        for i in 0..npages {
            self.mem
                .insert(gpa + (i * PAGE_SIZE) as u64, [0xCC; PAGE_SIZE]);
        }
        self.next_gpa += (npages as u64 + 1) * PAGE_SIZE as u64;
        self.live_pages.set(self.live_pages.get() + npages as i64);
        Ok(gpa)
    }
    fn free_shared(&mut self, gpa: Gpa, npages: usize) {
        for i in 0..npages {
            self.mem
                .remove(&(gpa + (i * PAGE_SIZE) as u64))
                .expect("double free");
        }
        self.live_pages.set(self.live_pages.get() - npages as i64);
    }
    fn write_shared(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), PlatformError> {
        self.write(gpa, data);
        Ok(())
    }
    fn read_shared(&mut self, gpa: Gpa, out: &mut [u8]) -> Result<(), PlatformError> {
        self.read(gpa, out);
        Ok(())
    }
    fn vmgexit(&mut self, ghcb: &mut Ghcb) -> Result<(), PlatformError> {
        assert_eq!(ghcb.protocol_version(), 2);
        let exit_code = ghcb.get_valid(Field::SwExitCode).unwrap();
        let req = ghcb.get_valid(Field::SwExitInfo1).unwrap();
        let resp = ghcb.get_valid(Field::SwExitInfo2).unwrap();
        let fault = self.script.pop_front().unwrap_or(Fault::Normal);
        if fault == Fault::ExitFailed {
            return Err(PlatformError::ExitFailed("scripted"));
        }
        let mut page = vec![0u8; PAGE_SIZE];
        self.read(req, &mut page);
        let h = MsgHeader::decode(&page).unwrap();
        self.sent.push(Sent {
            exit_code,
            vmpck: h.vmpck,
            seqno: h.seqno,
            page,
        });
        let answer = |g: &mut Ghcb, info2: u64| -> Result<(), PlatformError> {
            g.set_sw_exit_info_1(0);
            g.set_sw_exit_info_2(info2);
            Ok(())
        };
        match fault {
            Fault::Busy => return answer(ghcb, BUSY),
            Fault::Generic => return answer(ghcb, GENERIC),
            Fault::GhcbMalformed => {
                ghcb.set_sw_exit_info_1(2);
                ghcb.set_sw_exit_info_2(4);
                return Ok(());
            }
            Fault::GrowBlob(n) => self.blob = (0..n).map(|i| (i % 251) as u8 + 1).collect(),
            _ => {}
        }
        if exit_code == SNP_EXTENDED_GUEST_REQUEST {
            assert!(ghcb.is_valid(Field::Rax) && ghcb.is_valid(Field::Rbx));
            let npages = ghcb.rbx() as usize;
            let need = self.blob.len().div_ceil(PAGE_SIZE);
            if need > npages {
                ghcb.set_rbx(need as u64);
                return answer(ghcb, INVALID_LEN);
            }
            let blob = self.blob.clone();
            self.write(ghcb.rax(), &blob);
        } else {
            assert_eq!(exit_code, SNP_GUEST_REQUEST);
        }
        let info2 = self.firmware(req, resp, fault == Fault::BadRespSeqno);
        answer(ghcb, info2)
    }
    fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError> {
        Ok(match msr::MsrRequest::decode(value) {
            msr::MsrRequest::SevInfo => SevInfo {
                max_protocol: 2,
                min_protocol: 1,
                c_bit: 51,
            }
            .encode(),
            msr::MsrRequest::RegisterGpa(gpa) if !self.refuse_registration => {
                msr::register_gpa_response(gpa >> 12)
            }
            msr::MsrRequest::RegisterGpa(_) => {
                msr::register_gpa_response(msr::REGISTER_GPA_REFUSED_GFN)
            }
            _ => 0,
        })
    }
}

#[derive(Clone, Default)]
struct TestClock {
    now: Rc<Cell<Duration>>,
    sleeps: Rc<Cell<u32>>,
}

impl Clock for TestClock {
    fn now(&self) -> Duration {
        self.now.get()
    }
    fn sleep(&mut self, d: Duration) {
        self.now.set(self.now.get() + d);
        self.sleeps.set(self.sleeps.get() + 1);
    }
}

type Drv = GuestDriver<Host, TestClock>;

fn driver_with(host: Host, policy: RetryPolicy) -> (Drv, TestClock) {
    let clock = TestClock::default();
    let d = GuestDriver::new(
        host,
        clock.clone(),
        policy,
        VmpckId::ZERO,
        Vmpck::new(KEY),
        0,
    )
    .unwrap();
    (d, clock)
}

fn driver(host: Host) -> (Drv, TestClock) {
    driver_with(host, RetryPolicy::default())
}

fn req(tag: u8) -> ReportReq {
    ReportReq {
        report_data: [tag; 64],
        vmpl: 0,
        key_sel: KEY_SEL_VCEK,
    }
}

const G: u64 = SNP_GUEST_REQUEST;
const X: u64 = SNP_EXTENDED_GUEST_REQUEST;

fn check_report(r: &ReportResponse, tag: u8) {
    let report = r.report().unwrap();
    assert_eq!(report.len(), REPORT_SIZE);
    assert_eq!(&report[0x50..0x90], &[tag; 64]);
    assert_eq!(r.parse().unwrap().status, FwStatus::Success);
}

#[test]
fn plain_report() {
    let (mut d, _) = driver(Host::new(0));
    let r = d.get_report(&req(1)).unwrap();
    check_report(&r, 1);
    assert_eq!(d.message_count(VmpckId::ZERO), 2);
    let r = d.get_report(&req(2)).unwrap();
    check_report(&r, 2);
    assert_eq!(d.platform().seqnos(), vec![(G, 1), (G, 3)]);
    assert_eq!(d.platform().fw_requests, 2);
    assert_eq!(d.platform().fw_count, d.message_count(VmpckId::ZERO));
    d.platform().assert_no_seqno_reuse();
}

#[test]
fn ext_steady_state_is_one_firmware_request() {
    let (mut d, _) = driver(Host::new(5000));
    let mut buf = [0u8; 16 * PAGE_SIZE];
    let r = d.get_ext_report(&req(3), &mut buf[..]).unwrap();
    check_report(&r.response, 3);
    assert_eq!(r.certs_len, 4 * PAGE_SIZE);
    assert_eq!(&buf[..5000], &d.platform().blob[..]);
    assert!(
        buf[5000..r.certs_len].iter().all(|&b| b == 0),
        "area zeroed"
    );
    assert_eq!(d.platform().seqnos(), vec![(X, 1)]);
    assert_eq!(d.platform().fw_requests, 1);
    d.platform().assert_no_seqno_reuse();
}

#[test]
fn invalid_len_once_then_hint_makes_it_one_request() {
    let (mut d, _) = driver(Host::new(5 * PAGE_SIZE - 10));
    let mut certs: Vec<u8> = Vec::new();
    let r = d.get_ext_report(&req(4), &mut certs).unwrap();
    check_report(&r.response, 4);
    assert_eq!(certs.len(), 5 * PAGE_SIZE);
    assert_eq!(&certs[..5 * PAGE_SIZE - 10], &d.platform().blob[..]);
    // ext(4 pages) → INVALID_LEN; same bytes as plain request (burn); new ext with 5 pages.
    assert_eq!(d.platform().seqnos(), vec![(X, 1), (G, 1), (X, 3)]);
    assert_eq!(d.platform().sent[0].page, d.platform().sent[1].page);
    assert_eq!(d.platform().fw_requests, 2);
    assert_eq!(d.size_hint_pages(), 5);
    // Steady state: the hint avoids the round trip.
    let r = d.get_ext_report(&req(5), &mut certs).unwrap();
    check_report(&r.response, 5);
    assert_eq!(d.platform().fw_requests, 3);
    assert_eq!(d.platform().seqnos().last(), Some(&(X, 5)));
    assert_eq!(d.message_count(VmpckId::ZERO), d.platform().fw_count);
    d.platform().assert_no_seqno_reuse();
}

#[test]
fn invalid_len_twice_with_a_growing_blob() {
    let host = Host::new(5 * PAGE_SIZE).with_script(&[
        Fault::Normal,                      // ext 4 pages → INVALID_LEN (5)
        Fault::Normal,                      // burn
        Fault::GrowBlob(8 * PAGE_SIZE - 1), // ext 5 pages → INVALID_LEN (8)
    ]);
    let (mut d, _) = driver(host);
    let mut certs: Vec<u8> = Vec::new();
    let r = d.get_ext_report(&req(6), &mut certs).unwrap();
    check_report(&r.response, 6);
    assert_eq!(
        d.platform().seqnos(),
        vec![(X, 1), (G, 1), (X, 3), (G, 3), (X, 5)]
    );
    assert_eq!(d.platform().fw_requests, 3);
    assert_eq!(certs.len(), 8 * PAGE_SIZE);
    assert_eq!(d.size_hint_pages(), 8);
    d.platform().assert_no_seqno_reuse();
}

#[test]
fn invalid_len_beyond_the_cap_is_a_typed_error_and_keeps_the_key() {
    let policy = RetryPolicy {
        max_cert_pages: 8,
        ..RetryPolicy::default()
    };
    let (mut d, _) = driver_with(Host::new(10 * PAGE_SIZE), policy);
    let mut certs: Vec<u8> = Vec::new();
    let e = d.get_ext_report(&req(7), &mut certs).unwrap_err();
    assert_eq!(
        e,
        DriverError::Retry(RetryError::CertBufferTooLarge {
            needed_pages: 10,
            max_pages: 8
        })
    );
    // The sequence number was burnt, nothing is pending, the key still works.
    assert_eq!(d.platform().seqnos(), vec![(X, 1), (G, 1)]);
    assert!(!d.has_pending_message());
    check_report(&d.get_report(&req(8)).unwrap(), 8);
    assert_eq!(d.platform().seqnos().last(), Some(&(G, 3)));
    d.platform().assert_no_seqno_reuse();
}

#[test]
fn fixed_buffer_too_small() {
    let (mut d, _) = driver(Host::new(3 * PAGE_SIZE));
    let mut buf = [0u8; 2 * PAGE_SIZE];
    let e = d.get_ext_report(&req(9), &mut buf[..]).unwrap_err();
    assert_eq!(
        e,
        DriverError::CertBufferTooSmall {
            needed_pages: 3,
            capacity_pages: 2
        }
    );
    assert_eq!(d.platform().seqnos(), vec![(X, 1), (G, 1)]);
    d.platform().assert_no_seqno_reuse();
    let mut tiny = [0u8; 100];
    assert!(matches!(
        d.get_ext_report(&req(9), &mut tiny[..]),
        Err(DriverError::CertBufferTooSmall {
            capacity_pages: 0,
            ..
        })
    ));
}

#[test]
fn busy_k_times_then_success_resends_identical_bytes() {
    let host = Host::new(100).with_script(&[Fault::Busy, Fault::Busy, Fault::Busy]);
    let (mut d, clock) = driver(host);
    let mut certs: Vec<u8> = Vec::new();
    let r = d.get_ext_report(&req(10), &mut certs).unwrap();
    check_report(&r.response, 10);
    let sent = &d.platform().sent;
    assert_eq!(sent.len(), 4);
    assert!(sent
        .iter()
        .all(|s| s.page == sent[0].page && s.exit_code == X));
    assert_eq!(d.platform().fw_requests, 1);
    assert_eq!(clock.sleeps.get(), 3);
    assert_eq!(clock.now.get(), Duration::from_millis(100 + 200 + 400));
    d.platform().assert_no_seqno_reuse();
}

#[test]
fn busy_forever_hits_the_deadline_and_the_message_is_resent_next_time() {
    let host = Host::new(100).with_script(&[Fault::Busy; 200]);
    let (mut d, clock) = driver(host);
    let e = d.get_report(&req(11)).unwrap_err();
    assert!(
        matches!(
            e,
            DriverError::Retry(RetryError::DeadlineExceeded {
                deadline_ms: 60_000,
                ..
            })
        ),
        "{e:?}"
    );
    assert!(clock.now.get() <= Duration::from_secs(60));
    assert_eq!(d.platform().sent.len(), 34, "first send + 33 resends");
    assert_eq!(d.platform().fw_requests, 0);
    assert!(d.has_pending_message());
    assert_eq!(d.wipe_reason(VmpckId::ZERO), None);
    // The host recovers: the stale message goes first, unchanged, then the new one.
    let n = d.platform().sent.len();
    d.platform_mut().script.clear();
    check_report(&d.get_report(&req(12)).unwrap(), 12);
    let sent = &d.platform().sent;
    assert_eq!(
        sent[n].page, sent[0].page,
        "pending message re-sent unchanged"
    );
    assert_eq!(sent[n + 1].seqno, 3);
    assert_eq!(d.platform().fw_requests, 2);
    d.platform().assert_no_seqno_reuse();
}

#[test]
fn busy_count_bound() {
    let policy = RetryPolicy {
        max_busy_retries: 5,
        ..RetryPolicy::default()
    };
    let (mut d, _) = driver_with(Host::new(0).with_script(&[Fault::Busy; 10]), policy);
    assert_eq!(
        d.get_report(&req(1)).unwrap_err(),
        DriverError::Retry(RetryError::BusyRetriesExhausted { count: 6 })
    );
    assert_eq!(d.platform().sent.len(), 6);
    d.platform().assert_no_seqno_reuse();
}

#[test]
fn generic_error_wipes_the_key_for_good() {
    let (mut d, _) = driver(Host::new(0).with_script(&[Fault::Generic]));
    let reason = WipeReason::HostError(ExitInfo2::from_u64(GENERIC));
    assert_eq!(
        d.get_report(&req(1)).unwrap_err(),
        DriverError::Wiped { id: 0, reason }
    );
    let sent = d.platform().sent.len();
    let mut certs: Vec<u8> = Vec::new();
    assert_eq!(
        d.get_ext_report(&req(2), &mut certs).unwrap_err(),
        DriverError::KeyDisabled { id: 0, reason }
    );
    assert_eq!(d.platform().sent.len(), sent, "nothing sent after the wipe");
    assert!(!d.has_pending_message());
    assert_eq!(
        d.add_vmpck(VmpckId::ZERO, Vmpck::new(KEY), 100),
        Err(DriverError::KeyDisabled { id: 0, reason })
    );
}

#[test]
fn bad_response_seqno_wipes_the_key() {
    let (mut d, _) = driver(Host::new(0).with_script(&[Fault::BadRespSeqno]));
    let e = d.get_report(&req(1)).unwrap_err();
    assert_eq!(
        e,
        DriverError::Wiped {
            id: 0,
            reason: WipeReason::BadResponse(MessageError::SeqnoMismatch {
                expected: 2,
                got: 4
            })
        }
    );
    assert!(matches!(
        d.get_report(&req(2)),
        Err(DriverError::KeyDisabled { id: 0, .. })
    ));
    d.platform().assert_no_seqno_reuse();
}

#[test]
fn ghcb_level_rejection_wipes_the_key() {
    let (mut d, _) = driver(Host::new(0).with_script(&[Fault::GhcbMalformed]));
    assert_eq!(
        d.get_report(&req(1)).unwrap_err(),
        DriverError::Wiped {
            id: 0,
            reason: WipeReason::GhcbError(HvResponse::MalformedInput(
                crate::exit::GhcbErr::MissingInput
            ))
        }
    );
}

#[test]
fn exit_failure_keeps_key_and_resends_pending() {
    let (mut d, _) = driver(Host::new(0).with_script(&[Fault::ExitFailed]));
    assert_eq!(
        d.get_report(&req(1)).unwrap_err(),
        DriverError::Platform(PlatformError::ExitFailed("scripted"))
    );
    assert!(d.has_pending_message());
    check_report(&d.get_report(&req(2)).unwrap(), 2);
    assert_eq!(d.platform().seqnos(), vec![(G, 1), (G, 3)]);
    d.platform().assert_no_seqno_reuse();
}

#[test]
fn firmware_status_is_an_error_but_not_a_wipe() {
    let (mut d, _) = driver(Host::new(0));
    let bad = ReportReq { vmpl: 7, ..req(1) };
    assert_eq!(
        d.get_report(&bad).unwrap_err(),
        DriverError::FirmwareRefused {
            status: FwStatus::InvalidParam
        }
    );
    assert_eq!(d.message_count(VmpckId::ZERO), 2);
    check_report(&d.get_report(&req(2)).unwrap(), 2);
}

#[test]
fn derived_key() {
    let (mut d, _) = driver(Host::new(0));
    let k = d
        .get_derived_key(&KeyReq {
            root_key_select: 0,
            guest_field_select: 0,
            vmpl: 0,
            guest_svn: 0,
            tcb_version: 0,
        })
        .unwrap();
    assert_eq!(k.derived_key, [0x77; 32]);
}

#[test]
fn setup_errors() {
    let mut host = Host::new(0);
    host.refuse_registration = true;
    let r = GuestDriver::new(
        host,
        TestClock::default(),
        RetryPolicy::default(),
        VmpckId::ZERO,
        Vmpck::new(KEY),
        0,
    );
    assert!(matches!(
        r,
        Err(DriverError::Msr(MsrError::GpaNotRegistered { .. }))
    ));
    let r = GuestDriver::new(
        Host::new(0),
        TestClock::default(),
        RetryPolicy::default(),
        VmpckId::ZERO,
        Vmpck::new([0; 32]),
        0,
    );
    assert!(matches!(r, Err(DriverError::NoKey { id: 0 })));
    let (mut d, _) = driver(Host::new(0));
    assert_eq!(
        d.use_vmpck(VmpckId::new(2).unwrap()),
        Err(DriverError::NoKey { id: 2 })
    );
}

#[test]
fn seqno_space_is_bounded() {
    let r = GuestDriver::new(
        Host::new(0),
        TestClock::default(),
        RetryPolicy::default(),
        VmpckId::ZERO,
        Vmpck::new(KEY),
        MAX_SEQNO,
    );
    let mut d = r.unwrap();
    assert_eq!(
        d.get_report(&req(1)).unwrap_err(),
        DriverError::SeqnoExhausted { id: 0 }
    );
    assert!(d.platform().sent.is_empty());
}

#[test]
fn message_count_never_hands_out_an_exposed_seqno() {
    // BUSY until the deadline: seqno 1 was shown to the host and is pending.
    let (mut d, _) = driver(Host::new(0).with_script(&[Fault::Busy; 200]));
    d.get_report(&req(1)).unwrap_err();
    assert!(d.has_pending_message());
    let count = d.message_count(VmpckId::ZERO);
    assert!(
        d.platform().sent.iter().all(|s| s.seqno <= count),
        "a later OS continuing from {count} would reuse an exposed seqno"
    );
    // A wipe after the host saw seqno 1 (the firmware may or may not have consumed it).
    let (mut d, _) = driver(Host::new(0).with_script(&[Fault::Generic]));
    d.get_report(&req(1)).unwrap_err();
    assert!(d.wipe_reason(VmpckId::ZERO).is_some());
    let count = d.message_count(VmpckId::ZERO);
    assert!(
        d.platform().sent.iter().all(|s| s.seqno <= count),
        "a later OS continuing from {count} would reuse an exposed seqno"
    );
    // In step with the firmware, the count is exactly the firmware's.
    let (mut d, _) = driver(Host::new(0));
    d.get_report(&req(1)).unwrap();
    assert_eq!(d.message_count(VmpckId::ZERO), d.platform().fw_count);
}

#[test]
fn re_adding_a_key_keeps_an_unused_count() {
    let mut host = Host::new(0);
    host.fw_count = 10;
    let mut d = GuestDriver::new(
        host,
        TestClock::default(),
        RetryPolicy::default(),
        VmpckId::ZERO,
        Vmpck::new(KEY),
        10,
    )
    .unwrap();
    d.add_vmpck(VmpckId::ZERO, Vmpck::new(KEY), 10).unwrap();
    assert_eq!(d.message_count(VmpckId::ZERO), 10);
    check_report(&d.get_report(&req(1)).unwrap(), 1);
    assert_eq!(d.platform().seqnos(), vec![(G, 11)]);
}

#[test]
fn an_absurd_message_count_is_exhaustion_not_a_panic() {
    let mut d = GuestDriver::new(
        Host::new(0),
        TestClock::default(),
        RetryPolicy::default(),
        VmpckId::ZERO,
        Vmpck::new(KEY),
        u64::MAX,
    )
    .unwrap();
    assert_eq!(
        d.get_report(&req(1)).unwrap_err(),
        DriverError::SeqnoExhausted { id: 0 }
    );
    assert!(d.platform().sent.is_empty());
}

#[test]
fn shared_pages_are_bounded_and_freed_on_drop() {
    let host = Host::new(5 * PAGE_SIZE).with_script(&[
        Fault::Normal,
        Fault::Normal,
        Fault::GrowBlob(9 * PAGE_SIZE),
    ]);
    let live = host.live_pages.clone();
    let (mut d, _) = driver(host);
    let mut certs: Vec<u8> = Vec::new();
    d.get_ext_report(&req(1), &mut certs).unwrap();
    // GHCB + 2 message pages + one cert area of the final size (older areas were freed).
    assert_eq!(live.get(), 1 + 2 + 9);
    drop(d);
    // The registered GHCB page stays with the platform; everything else is returned.
    assert_eq!(live.get(), 1);
}

fn fault_strategy() -> impl proptest::strategy::Strategy<Value = Fault> {
    use proptest::prelude::*;
    prop_oneof![
        4 => Just(Fault::Normal),
        3 => Just(Fault::Busy),
        1 => Just(Fault::Generic),
        1 => Just(Fault::BadRespSeqno),
        1 => Just(Fault::GhcbMalformed),
        1 => Just(Fault::ExitFailed),
        2 => (0usize..12 * PAGE_SIZE).prop_map(Fault::GrowBlob),
    ]
}

proptest::proptest! {
    /// Whatever a host does, the driver never panics, never puts two messages under one
    /// sequence number, returns only reports answering the current call's request, stays in
    /// step with the firmware while its key lives, and sends nothing once the key is wiped.
    #[test]
    fn hostile_host_never_breaks_the_invariants(
        script in proptest::collection::vec(fault_strategy(), 0..40),
        blob in 0usize..8 * PAGE_SIZE,
        calls in proptest::collection::vec(proptest::bool::ANY, 1..8),
    ) {
        let policy = RetryPolicy { max_busy_retries: 3, max_cert_pages: 10, ..RetryPolicy::default() };
        let (mut d, _) = driver_with(Host::new(blob).with_script(&script), policy);
        for (i, ext) in calls.into_iter().enumerate() {
            let tag = i as u8 + 1;
            let sent_before = d.platform().sent.len();
            let was_wiped = d.wipe_reason(VmpckId::ZERO).is_some();
            let r = if ext {
                let mut certs: Vec<u8> = Vec::new();
                d.get_ext_report(&req(tag), &mut certs).map(|r| r.response)
            } else {
                d.get_report(&req(tag))
            };
            if let Ok(rsp) = &r {
                check_report(rsp, tag);
            }
            if was_wiped {
                let disabled = matches!(r, Err(DriverError::KeyDisabled { .. }));
                proptest::prop_assert!(disabled, "wiped key answered {:?}", r);
                proptest::prop_assert_eq!(d.platform().sent.len(), sent_before);
            }
            if d.wipe_reason(VmpckId::ZERO).is_none() && !d.has_pending_message() {
                proptest::prop_assert_eq!(d.message_count(VmpckId::ZERO), d.platform().fw_count);
            }
            d.platform().assert_no_seqno_reuse();
        }
    }
}
