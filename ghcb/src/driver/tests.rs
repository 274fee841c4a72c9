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
use crate::secrets::SecretsPage;
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
    ExitNotDelivered,
    /// The host clears the valid bitmap: no SW_EXITINFO1/2 come back.
    NoExitInfo,
    /// INVALID_LEN asking for this many pages, without forwarding.
    AskPages(u64),
    /// Lying host: forward to the firmware (consumed, response written), then answer BUSY.
    ForwardThenBusy,
    /// Lying host: forward, then answer INVALID_LEN (RBX = offered + 1).
    ForwardThenInvalidLen,
    /// Lying host: forward, then answer the generic VMM error.
    ForwardThenGeneric,
    /// Forward, then the guest "crashes" (the platform call panics) before hearing back.
    ForwardThenCrash,
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
    /// The count the guest's store holds, checked against every message before it is
    /// shown to the host.
    persisted: Option<Rc<Cell<u64>>>,
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
            persisted: None,
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
        let mut page = vec![0u8; PAGE_SIZE];
        self.read(req, &mut page);
        let h = MsgHeader::decode(&page).unwrap();
        if let Some(p) = &self.persisted {
            assert!(
                p.get() > h.seqno,
                "seqno {} reached the host before its count was persisted (store holds {})",
                h.seqno,
                p.get()
            );
        }
        if fault == Fault::ExitNotDelivered {
            return Err(PlatformError::ExitNotDelivered("scripted"));
        }
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
            Fault::NoExitInfo => {
                ghcb.clear();
                return Ok(());
            }
            Fault::AskPages(n) => {
                ghcb.set_rbx(n);
                return answer(ghcb, INVALID_LEN);
            }
            Fault::ForwardThenBusy
            | Fault::ForwardThenInvalidLen
            | Fault::ForwardThenGeneric
            | Fault::ForwardThenCrash => {
                if exit_code == SNP_EXTENDED_GUEST_REQUEST {
                    let blob = self.blob.clone();
                    let n = (ghcb.rbx() as usize * PAGE_SIZE).min(blob.len());
                    self.write(ghcb.rax(), &blob[..n]);
                }
                self.firmware(req, resp, false);
                assert!(fault != Fault::ForwardThenCrash, "guest crashed (scripted)");
                return match fault {
                    Fault::ForwardThenBusy => answer(ghcb, BUSY),
                    Fault::ForwardThenInvalidLen => {
                        ghcb.set_rbx(ghcb.rbx() + 1);
                        answer(ghcb, INVALID_LEN)
                    }
                    _ => answer(ghcb, GENERIC),
                };
            }
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

/// A secrets page holding [`KEY`] as VMPCK0 with message count `count`.
fn secrets_page_with_key(count: u32) -> [u8; PAGE_SIZE] {
    let mut page = [0u8; PAGE_SIZE];
    let mut s = SecretsPage(&mut page);
    s.set_vmpck(VmpckId::ZERO, &KEY);
    s.set_msg_seqno(VmpckId::ZERO, count);
    page
}

/// A secrets page whose persisted count the fake host can read at every exit.
struct TrackedStore<'a> {
    page: SecretsPage<'a>,
    persisted: Rc<Cell<u64>>,
}

impl VmpckStore for TrackedStore<'_> {
    fn load(&mut self, id: VmpckId) -> Option<(Vmpck, u64)> {
        self.page.load(id)
    }
    fn persist_count(&mut self, id: VmpckId, count: u64) -> Result<(), StoreError> {
        self.page.persist_count(id, count)?;
        self.persisted
            .set(u64::from(self.page.msg_seqno(VmpckId::ZERO)));
        Ok(())
    }
    fn wipe_key(&mut self, id: VmpckId) {
        self.page.wipe_key(id)
    }
}

type Tracked<'a> = GuestDriver<&'a mut Host, TestClock, TrackedStore<'a>>;

fn tracked<'a>(
    host: &'a mut Host,
    page: &'a mut [u8; PAGE_SIZE],
    policy: RetryPolicy,
) -> Result<Tracked<'a>, DriverError> {
    let persisted = Rc::new(Cell::new(u64::from(
        SecretsPage(&mut *page).msg_seqno(VmpckId::ZERO),
    )));
    host.persisted = Some(persisted.clone());
    GuestDriver::open(
        host,
        TrackedStore {
            page: SecretsPage(page),
            persisted,
        },
        TestClock::default(),
        policy,
        VmpckId::ZERO,
    )
}

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
    // The sequence number was burnt, the key still works.
    assert_eq!(d.platform().seqnos(), vec![(X, 1), (G, 1)]);
    assert_eq!(d.wipe_reason(VmpckId::ZERO), None);
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

/// Option (a) of issue 16: BUSY past the deadline wipes the key — in the driver and in its home
/// (the secrets page) — instead of keeping the message for a later call.
#[test]
fn busy_past_the_deadline_wipes_the_key_and_its_home() {
    let mut host = Host::new(100).with_script(&[Fault::Busy; 200]);
    let mut page = secrets_page_with_key(0);
    let clock = TestClock::default();
    let mut d = GuestDriver::open(
        &mut host,
        SecretsPage(&mut page),
        clock.clone(),
        RetryPolicy::default(),
        VmpckId::ZERO,
    )
    .unwrap();
    let e = d.get_report(&req(11)).unwrap_err();
    assert!(
        matches!(
            e,
            DriverError::Wiped {
                id: 0,
                reason: WipeReason::HostStayedBusy(RetryError::DeadlineExceeded {
                    deadline_ms: 60_000,
                    ..
                })
            }
        ),
        "{e:?}"
    );
    assert!(clock.now.get() <= Duration::from_secs(60));
    assert_eq!(d.platform().sent.len(), 34, "first send + 33 resends");
    assert_eq!(d.platform().fw_requests, 0);
    // Nothing more goes out under this key.
    let n = d.platform().sent.len();
    d.platform_mut().script.clear();
    assert!(matches!(
        d.get_report(&req(12)),
        Err(DriverError::KeyDisabled { id: 0, .. })
    ));
    assert_eq!(d.platform().sent.len(), n);
    drop(d);
    // The home copy is zeroed and the count skips the exposed seqno 1.
    let mut s = SecretsPage(&mut page);
    assert_eq!(s.vmpck(VmpckId::ZERO), [0; 32]);
    assert_eq!(s.msg_seqno(VmpckId::ZERO), 2);
    assert!(s.load(VmpckId::ZERO).is_none());
    // A driver re-created on the same guest cannot pick the key up again.
    let r = GuestDriver::open(
        &mut host,
        SecretsPage(&mut page),
        TestClock::default(),
        RetryPolicy::default(),
        VmpckId::ZERO,
    );
    assert!(matches!(r, Err(DriverError::NoKey { id: 0 })));
    drop(r);
    host.assert_no_seqno_reuse();
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
        DriverError::Wiped {
            id: 0,
            reason: WipeReason::HostStayedBusy(RetryError::BusyRetriesExhausted { count: 6 })
        }
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

/// An exit that never reached the host still left the request in host-shared memory: the call
/// cannot account for it, so the key goes.
#[test]
fn exit_not_delivered_wipes_the_key() {
    let (mut d, _) = driver(Host::new(0).with_script(&[Fault::ExitNotDelivered]));
    assert_eq!(
        d.get_report(&req(1)).unwrap_err(),
        DriverError::Wiped {
            id: 0,
            reason: WipeReason::PlatformLost(PlatformError::ExitNotDelivered("scripted"))
        }
    );
    assert_eq!(d.message_count(VmpckId::ZERO), 2, "seqno 1 is skipped");
    assert!(d.platform().sent.is_empty());
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
    // BUSY until the deadline: seqno 1 was shown to the host, the key is wiped.
    let (mut d, _) = driver(Host::new(0).with_script(&[Fault::Busy; 200]));
    d.get_report(&req(1)).unwrap_err();
    assert!(d.wipe_reason(VmpckId::ZERO).is_some());
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

/// Every way a key can be wiped zeroes it in its home (the secrets page) too, and leaves a count
/// there that skips every sequence number the host saw.
#[test]
fn every_wipe_cause_zeroes_the_key_in_its_home() {
    let cases: &[(&str, &[Fault], bool)] = &[
        ("generic VMM error", &[Fault::Generic], false),
        ("bad response", &[Fault::BadRespSeqno], false),
        ("GHCB-level rejection", &[Fault::GhcbMalformed], false),
        ("no SW_EXITINFO", &[Fault::NoExitInfo], false),
        ("exit not delivered", &[Fault::ExitNotDelivered], false),
        ("BUSY past the deadline", &[Fault::Busy; 200], false),
        ("forwarded, then BUSY", &[Fault::ForwardThenBusy], false),
        (
            "forwarded, then INVALID_LEN",
            &[Fault::ForwardThenInvalidLen],
            true,
        ),
        (
            "forwarded, then an error",
            &[Fault::ForwardThenGeneric],
            true,
        ),
    ];
    for &(what, script, ext) in cases {
        let mut host = Host::new(100).with_script(script);
        let mut page = secrets_page_with_key(0);
        {
            let mut d = tracked(&mut host, &mut page, RetryPolicy::default()).unwrap();
            let r = if ext {
                let mut certs: Vec<u8> = Vec::new();
                d.get_ext_report(&req(1), &mut certs).map(|r| r.response)
            } else {
                d.get_report(&req(1))
            };
            assert!(
                matches!(r, Err(DriverError::Wiped { id: 0, .. })),
                "{what}: {r:?}"
            );
        }
        let s = SecretsPage(&mut page);
        assert_eq!(
            s.vmpck(VmpckId::ZERO),
            [0; 32],
            "{what}: key left in its home"
        );
        let count = u64::from(s.msg_seqno(VmpckId::ZERO));
        assert!(
            host.sent.iter().all(|m| m.seqno < count),
            "{what}: count {count} does not skip every exposed seqno"
        );
        host.assert_no_seqno_reuse();
    }
}

/// The count is persisted before a message can reach the host, so a guest that dies mid-request
/// (no wipe, no `Drop`) is continued by the next driver past the number the host saw — the
/// firmware consumed it, and a second plaintext under it would reuse the IV.
#[test]
fn a_driver_recreated_after_a_crash_never_reuses_the_exposed_seqno() {
    let mut host = Host::new(0).with_script(&[Fault::ForwardThenCrash]);
    let mut page = secrets_page_with_key(0);
    {
        let mut d = tracked(&mut host, &mut page, RetryPolicy::default()).unwrap();
        let crashed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.get_report(&req(1))));
        assert!(crashed.is_err());
        // A dead process runs no destructor.
        core::mem::forget(d);
    }
    assert_eq!(host.fw_count, 2, "the firmware consumed seqno 1");
    assert_eq!(SecretsPage(&mut page).msg_seqno(VmpckId::ZERO), 2);
    let mut d = tracked(&mut host, &mut page, RetryPolicy::default()).unwrap();
    check_report(&d.get_report(&req(2)).unwrap(), 2);
    assert_eq!(d.platform().seqnos(), vec![(G, 1), (G, 3)]);
    d.platform().assert_no_seqno_reuse();
}

/// One fake host shared by several drivers (several agents on one guest).
#[derive(Clone)]
struct SharedHost(Rc<core::cell::RefCell<Host>>);

impl Vmgexit for SharedHost {
    fn alloc_shared(&mut self, npages: usize) -> Result<Gpa, PlatformError> {
        self.0.borrow_mut().alloc_shared(npages)
    }
    fn free_shared(&mut self, gpa: Gpa, npages: usize) {
        self.0.borrow_mut().free_shared(gpa, npages)
    }
    fn write_shared(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), PlatformError> {
        self.0.borrow_mut().write_shared(gpa, data)
    }
    fn read_shared(&mut self, gpa: Gpa, out: &mut [u8]) -> Result<(), PlatformError> {
        self.0.borrow_mut().read_shared(gpa, out)
    }
    fn vmgexit(&mut self, ghcb: &mut Ghcb) -> Result<(), PlatformError> {
        self.0.borrow_mut().vmgexit(ghcb)
    }
    fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError> {
        self.0.borrow_mut().msr_exchange(value)
    }
}

/// One secrets page shared by several drivers.
#[derive(Clone)]
struct SharedPage(Rc<core::cell::RefCell<[u8; PAGE_SIZE]>>);

impl VmpckStore for SharedPage {
    fn load(&mut self, id: VmpckId) -> Option<(Vmpck, u64)> {
        SecretsPage(&mut self.0.borrow_mut()).load(id)
    }
    fn persist_count(&mut self, id: VmpckId, count: u64) -> Result<(), StoreError> {
        SecretsPage(&mut self.0.borrow_mut()).persist_count(id, count)
    }
    fn wipe_key(&mut self, id: VmpckId) {
        SecretsPage(&mut self.0.borrow_mut()).wipe_key(id)
    }
}

/// Two live drivers on one guest (one secrets page): each continues from the count the other
/// left in the page instead of its own stale one, and a key one of them wiped stops the other
/// before it sends anything.
#[test]
fn two_drivers_on_one_secrets_page_share_the_count_and_the_wipe() {
    let host = SharedHost(Rc::new(core::cell::RefCell::new(Host::new(0))));
    let page = SharedPage(Rc::new(core::cell::RefCell::new(secrets_page_with_key(0))));
    let open = || {
        GuestDriver::open(
            host.clone(),
            page.clone(),
            TestClock::default(),
            RetryPolicy::default(),
            VmpckId::ZERO,
        )
        .unwrap()
    };
    let (mut a, mut b) = (open(), open());
    check_report(&a.get_report(&req(1)).unwrap(), 1);
    check_report(&b.get_report(&req(2)).unwrap(), 2);
    check_report(&a.get_report(&req(3)).unwrap(), 3);
    assert_eq!(host.0.borrow().seqnos(), vec![(G, 1), (G, 3), (G, 5)]);
    // B's key is wiped (a generic error); A must not send under it any more.
    host.0.borrow_mut().script.push_back(Fault::Generic);
    assert!(matches!(
        b.get_report(&req(4)),
        Err(DriverError::Wiped { .. })
    ));
    let sent = host.0.borrow().sent.len();
    assert_eq!(
        a.get_report(&req(5)).unwrap_err(),
        DriverError::Wiped {
            id: 0,
            reason: WipeReason::KeyGoneFromStore
        }
    );
    assert_eq!(
        host.0.borrow().sent.len(),
        sent,
        "nothing sent under a wiped key"
    );
    drop((a, b));
    host.0.borrow().assert_no_seqno_reuse();
}

/// A host that once asked for a huge buffer does not keep every later request at that size: the
/// hint decays to the table the host actually served (here 1 page), but not below the policy's
/// cold-start size (4 pages by default; 1 here).
#[test]
fn size_hint_decays_to_the_last_tables_real_size() {
    let mut host = Host::new(0).with_script(&[Fault::AskPages(60)]);
    // A real table: one 100-byte entry after the header and its terminator.
    let mut blob = vec![0x11u8; 16];
    blob.extend_from_slice(&48u32.to_le_bytes());
    blob.extend_from_slice(&100u32.to_le_bytes());
    blob.extend_from_slice(&[0u8; 24]);
    blob.extend_from_slice(&[0xAB; 100]);
    host.blob = blob;
    let policy = RetryPolicy {
        initial_cert_pages: 1,
        ..RetryPolicy::default()
    };
    let (mut d, _) = driver_with(host, policy);
    let mut certs: Vec<u8> = Vec::new();
    let r = d.get_ext_report(&req(1), &mut certs).unwrap();
    assert_eq!(
        r.certs_len,
        60 * PAGE_SIZE,
        "served into the 60 pages asked for"
    );
    assert_eq!(d.size_hint_pages(), 1, "decayed to the table's real size");
    let before = d.platform().fw_requests;
    let r = d.get_ext_report(&req(2), &mut certs).unwrap();
    assert_eq!(r.certs_len, PAGE_SIZE);
    assert_eq!(d.platform().fw_requests, before + 1);
    assert_eq!(d.platform().seqnos().last(), Some(&(X, 5)));
    d.platform().assert_no_seqno_reuse();
    // With the default policy the floor is the cold-start size.
    let mut host = Host::new(0).with_script(&[Fault::AskPages(60)]);
    host.blob = d.platform().blob.clone();
    let (mut d, _) = driver(host);
    d.get_ext_report(&req(1), &mut certs).unwrap();
    assert_eq!(d.size_hint_pages(), 4);
}

fn fault_strategy() -> impl proptest::strategy::Strategy<Value = Fault> {
    use proptest::prelude::*;
    prop_oneof![
        4 => Just(Fault::Normal),
        3 => Just(Fault::Busy),
        1 => Just(Fault::Generic),
        1 => Just(Fault::BadRespSeqno),
        1 => Just(Fault::GhcbMalformed),
        1 => Just(Fault::ExitNotDelivered),
        1 => Just(Fault::NoExitInfo),
        1 => Just(Fault::ForwardThenBusy),
        1 => Just(Fault::ForwardThenInvalidLen),
        1 => Just(Fault::ForwardThenGeneric),
        1 => (1u64..80).prop_map(Fault::AskPages),
        2 => (0usize..12 * PAGE_SIZE).prop_map(Fault::GrowBlob),
    ]
}

proptest::proptest! {
    /// Whatever a host does — lying hosts included — the driver never panics, never puts two
    /// messages under one sequence number, persists every count before the host sees the
    /// message, returns only reports answering the current call's request, stays in step with
    /// the firmware while its key lives, sends nothing once the key is wiped and zeroes it in its
    /// home; and all of that holds across the driver being dropped and re-created on the same
    /// secrets page.
    #[test]
    fn hostile_host_never_breaks_the_invariants(
        script in proptest::collection::vec(fault_strategy(), 0..40),
        blob in 0usize..8 * PAGE_SIZE,
        calls in proptest::collection::vec((proptest::bool::ANY, proptest::bool::ANY), 1..10),
    ) {
        let policy = RetryPolicy { max_busy_retries: 3, max_cert_pages: 10, ..RetryPolicy::default() };
        let mut host = Host::new(blob).with_script(&script);
        let mut page = secrets_page_with_key(0);
        let mut calls = calls.into_iter().enumerate().peekable();
        let mut refused = None;
        while calls.peek().is_some() {
            // (Re-)create the driver from the secrets page.
            let mut d = match tracked(&mut host, &mut page, policy) {
                Ok(d) => d,
                Err(e) => {
                    // Only a wiped key refuses a new driver (checked below).
                    refused = Some(e);
                    break;
                }
            };
            proptest::prop_assert_eq!(d.message_count(VmpckId::ZERO), d.platform().fw_count);
            for (i, (ext, restart)) in calls.by_ref() {
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
                if d.wipe_reason(VmpckId::ZERO).is_none() {
                    proptest::prop_assert_eq!(d.message_count(VmpckId::ZERO), d.platform().fw_count);
                } else {
                    proptest::prop_assert_eq!(d.store().page.vmpck(VmpckId::ZERO), [0; 32]);
                }
                d.platform().assert_no_seqno_reuse();
                if restart {
                    break;
                }
            }
        }
        if let Some(e) = refused {
            proptest::prop_assert_eq!(e, DriverError::NoKey { id: 0 });
            proptest::prop_assert_eq!(SecretsPage(&mut page).vmpck(VmpckId::ZERO), [0; 32]);
        }
        host.assert_no_seqno_reuse();
    }
}
