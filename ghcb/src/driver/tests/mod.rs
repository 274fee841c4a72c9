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

mod requests;
mod restarts;
