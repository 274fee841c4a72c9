//! A minimal raw guest for host-side tests: seals requests with sequence numbers the test
//! chooses and performs the VMGEXIT itself, so tests can also misbehave (replay, skip).
#![allow(dead_code)]

use std::sync::Arc;

use snp_certs::product::Product;
use snp_ghcb::message::{self, MessageError, MsgMeta, MsgType, Vmpck, VmpckId, MAX_PAYLOAD};
use snp_ghcb::page::{Ghcb, PAGE_SIZE};
use snp_ghcb::payload::{ReportReq, ReportRsp};
use snp_sim::clock::ManualClock;
use snp_sim::kvm::Generation;
use snp_sim::platform::SimPlatform;

pub struct RawGuest {
    pub p: SimPlatform,
    pub req_gpa: u64,
    pub resp_gpa: u64,
    pub key: Vmpck,
    pub vmpck: u8,
}

/// What the guest saw for one exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub info1: u64,
    pub info2: u64,
    pub rbx: u64,
    pub resp_page: Vec<u8>,
    pub certs: Vec<u8>,
}

pub fn platform(product: Product, generation: Generation) -> SimPlatform {
    SimPlatform::builder(product)
        .generation(generation)
        .build()
        .unwrap()
}

pub fn platform_with_clock(product: Product, generation: Generation) -> (SimPlatform, ManualClock) {
    let clock = ManualClock::new();
    let p = SimPlatform::builder(product)
        .generation(generation)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    (p, clock)
}

pub fn report_req(vmpl: u32, key_sel: u8) -> [u8; 96] {
    ReportReq {
        report_data: [0xD7; 64],
        vmpl,
        key_sel,
    }
    .to_bytes()
    .unwrap()
}

impl RawGuest {
    pub fn new(p: &SimPlatform, vmpck: u8) -> Self {
        let req_gpa = p.alloc_shared(1).unwrap();
        let resp_gpa = p.alloc_shared(1).unwrap();
        let key = Vmpck::new(p.guest_vmpck(vmpck).unwrap());
        Self {
            p: p.clone(),
            req_gpa,
            resp_gpa,
            key,
            vmpck,
        }
    }

    pub fn seal(&self, seqno: u64, payload: &[u8]) -> [u8; PAGE_SIZE] {
        let mut page = [0u8; PAGE_SIZE];
        let meta = MsgMeta {
            seqno,
            msg_type: MsgType::ReportReq,
            msg_version: 1,
            vmpck_id: VmpckId::new(self.vmpck).unwrap(),
        };
        message::seal(&mut page, &meta, &self.key, payload).unwrap();
        page
    }

    /// Send `page`; `certs` = Some((gpa, npages)) for an extended request.
    pub fn send(&self, page: &[u8; PAGE_SIZE], certs: Option<(u64, u64)>) -> Answer {
        self.p.write_shared(self.req_gpa, page).unwrap();
        self.p
            .write_shared(self.resp_gpa, &[0u8; PAGE_SIZE])
            .unwrap();
        let mut g = Ghcb::new();
        g.set_sw_exit_code(if certs.is_some() {
            snp_ghcb::exit::SNP_EXTENDED_GUEST_REQUEST
        } else {
            snp_ghcb::exit::SNP_GUEST_REQUEST
        });
        g.set_sw_exit_info_1(self.req_gpa);
        g.set_sw_exit_info_2(self.resp_gpa);
        if let Some((gpa, n)) = certs {
            g.set_rax(gpa);
            g.set_rbx(n);
            if n > 0 {
                self.p
                    .write_shared(gpa, &vec![0u8; n as usize * PAGE_SIZE])
                    .unwrap();
            }
        }
        self.p.vmgexit(&mut g).unwrap();
        let mut resp_page = vec![0u8; PAGE_SIZE];
        self.p.read_shared(self.resp_gpa, &mut resp_page).unwrap();
        let certs = match certs {
            Some((gpa, n)) if n > 0 => {
                let mut b = vec![0u8; n as usize * PAGE_SIZE];
                self.p.read_shared(gpa, &mut b).unwrap();
                b
            }
            _ => Vec::new(),
        };
        Answer {
            info1: g.sw_exit_info_1(),
            info2: g.sw_exit_info_2(),
            rbx: g.rbx(),
            resp_page,
            certs,
        }
    }

    pub fn open(&self, seqno: u64, page: &[u8]) -> Result<ReportRsp, MessageError> {
        let meta = MsgMeta {
            seqno,
            msg_type: MsgType::ReportRsp,
            msg_version: 1,
            vmpck_id: VmpckId::new(self.vmpck).unwrap(),
        };
        let mut out = [0u8; MAX_PAYLOAD];
        let n = message::open(page, &meta, &self.key, &mut out)?;
        ReportRsp::decode(&out[..n]).map_err(|_| MessageError::SizeOutOfBounds {
            msg_size: n as u16,
            available: n,
        })
    }
}
