//! The faces: the real guest driver (`snp_ghcb::driver::GuestDriver`) over the in-process GHCB,
//! and the Linux `/dev/sev-guest` device model.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::report_req;
use nix::errno::Errno;
use snp_certs::product::Product;
use snp_certs::table::CertTable;
use snp_ghcb::driver::GuestDriver;
use snp_ghcb::exit::{FwStatus, BUSY, GENERIC, INVALID_LEN, NO_FW_CALL};
use snp_ghcb::message::{Vmpck, VmpckId};
use snp_ghcb::payload::{ReportReq, ReportRsp, KEY_SEL_VLEK};
use snp_ghcb::retry::{Clock, RetryPolicy};
use snp_sim::clock::{ManualClock, SimClock};
use snp_sim::face::ghcb::GhcbFace;
use snp_sim::face::sev_guest::{SevGuestDevice, REPORT_RESP_LEN};
use snp_sim::faults::{Faults, Repeat};
use snp_sim::kvm::Generation;
use snp_sim::platform::SimPlatform;

/// The guest driver's clock over the simulator's manual clock.
struct TestClock(ManualClock);
impl Clock for TestClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
    fn sleep(&mut self, d: Duration) {
        self.0.advance(d)
    }
}

fn sim(product: Product, gen: Generation) -> (SimPlatform, ManualClock) {
    let clock = ManualClock::new();
    let p = SimPlatform::builder(product)
        .generation(gen)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    (p, clock)
}

fn driver(p: &SimPlatform, clock: &ManualClock) -> GuestDriver<GhcbFace, TestClock> {
    GuestDriver::new(
        GhcbFace::new(p.clone()),
        TestClock(clock.clone()),
        RetryPolicy::default(),
        VmpckId::ZERO,
        Vmpck::new(p.guest_vmpck(0).unwrap()),
        0,
    )
    .unwrap()
}

#[test]
fn guest_driver_over_ghcb_face_steady_state_is_one_firmware_request() {
    for gen in [Generation::Seed, Generation::Merged] {
        let (p, clock) = sim(Product::Milan, gen);
        let mut d = driver(&p, &clock);
        let req = ReportReq {
            report_data: [1; 64],
            vmpl: 0,
            key_sel: 0,
        };
        let mut certs = Vec::new();
        let r = d.get_ext_report(&req, &mut certs).unwrap();
        assert_eq!(r.response.status(), FwStatus::Success);
        let table = CertTable::parse(&certs).unwrap();
        assert_eq!(table.vcek().unwrap().bytes, &p.vcek_der()[..]);
        assert_eq!(p.counters().fw_requests, 1, "{gen:?}");
        // Driver and firmware agree on the count.
        assert_eq!(
            p.firmware_message_count(0),
            Some(d.message_count(VmpckId::ZERO))
        );
    }
}

#[test]
fn guest_driver_handles_busy_and_invalid_len_storm() {
    let (p, clock) = sim(Product::Genoa, Generation::Merged);
    let mut d = driver(&p, &clock);
    p.set_faults(Faults {
        busy: Repeat::Times(3),
        invalid_len_storm: 1,
        ..Default::default()
    });
    let req = ReportReq {
        report_data: [2; 64],
        vmpl: 0,
        key_sel: 0,
    };
    let mut certs = Vec::new();
    let r = d.get_ext_report(&req, &mut certs).unwrap();
    assert_eq!(r.response.status(), FwStatus::Success);
    let c = p.counters();
    assert_eq!(c.busy_answers, 3);
    assert_eq!(c.invalid_len_answers, 1);
    assert_eq!(
        c.seqno_violations, 0,
        "the driver never reused a sequence number"
    );
    assert_eq!(
        p.firmware_message_count(0),
        Some(d.message_count(VmpckId::ZERO))
    );
}

fn dev(p: &SimPlatform) -> SevGuestDevice {
    SevGuestDevice::open(p.clone(), 0).unwrap()
}

#[test]
fn sev_guest_success_writes_report_and_certs_and_no_exitinfo2() {
    let (p, _) = sim(Product::Turin, Generation::Merged);
    let d = dev(&p);
    let mut resp = [0u8; REPORT_RESP_LEN];
    let mut certs = vec![0u8; 0x4000];
    let o = d.ioctl_get_ext_report(1, &report_req(0, 0), &mut resp, Some(&mut certs));
    assert_eq!(
        (o.ret, o.errno, o.exitinfo2, o.certs_len),
        (0, None, None, None)
    );
    let rsp = ReportRsp::decode(&resp).unwrap();
    assert_eq!(rsp.status, FwStatus::Success);
    assert_eq!(
        CertTable::parse(&certs).unwrap().vcek().unwrap().bytes,
        &p.vcek_der()[..]
    );
    assert_eq!(d.message_count(), 2);
    let o = d.ioctl_get_report(1, &report_req(0, 0), &mut resp);
    assert_eq!(o.ret, 0);
    assert_eq!(p.counters().fw_requests, 2);
}

#[test]
fn sev_guest_argument_checks() {
    let (p, _) = sim(Product::Milan, Generation::Seed);
    let d = dev(&p);
    let mut resp = [0u8; REPORT_RESP_LEN];
    let o = d.ioctl_get_report(0, &report_req(0, 0), &mut resp);
    assert_eq!(
        (o.ret, o.errno, o.exitinfo2),
        (-1, Some(Errno::EINVAL), None)
    );
    for len in [5000usize, 0x5000] {
        let mut certs = vec![0u8; len];
        let o = d.ioctl_get_ext_report(1, &report_req(0, 0), &mut resp, Some(&mut certs));
        assert_eq!(
            (o.errno, o.exitinfo2),
            (Some(Errno::EINVAL), Some(0xff)),
            "len {len}"
        );
    }
    assert_eq!(p.counters().fw_requests, 0);
    assert!(!d.vmpck_disabled());
}

#[test]
fn sev_guest_invalid_len_burns_seqno_keeps_key() {
    let (p, _) = sim(Product::Milan, Generation::Seed);
    let d = dev(&p);
    let mut resp = [0u8; REPORT_RESP_LEN];
    let mut certs = vec![0u8; 4096];
    let o = d.ioctl_get_ext_report(1, &report_req(0, 0), &mut resp, Some(&mut certs));
    let need = (p.expected_blob().unwrap().len() as u64).div_ceil(4096);
    assert_eq!(o.errno, Some(Errno::EIO));
    assert_eq!(o.exitinfo2, Some(INVALID_LEN));
    assert_eq!(o.certs_len, Some((need * 4096) as u32));
    // The plain resend reached the firmware: kernel and firmware counts agree, key kept.
    assert_eq!(d.message_count(), 2);
    assert_eq!(p.firmware_message_count(0), Some(2));
    assert!(!d.vmpck_disabled());
    let mut certs = vec![0u8; (need * 4096) as usize];
    let o = d.ioctl_get_ext_report(1, &report_req(0, 0), &mut resp, Some(&mut certs));
    assert_eq!(o.ret, 0);
    assert_eq!(p.counters().seqno_violations, 0);
}

#[test]
fn sev_guest_busy_retried_kernel_style_then_etimedout_disables_key() {
    let (p, clock) = sim(Product::Genoa, Generation::Merged);
    let d = dev(&p);
    let mut resp = [0u8; REPORT_RESP_LEN];
    let mut certs = vec![0u8; 0x4000];
    p.update_faults(|f| f.busy = Repeat::Times(3));
    let o = d.ioctl_get_ext_report(1, &report_req(0, 0), &mut resp, Some(&mut certs));
    assert_eq!(o.ret, 0);
    assert_eq!(clock.elapsed(), Duration::from_secs(6), "three 2 s retries");
    p.update_faults(|f| f.busy = Repeat::Always);
    let o = d.ioctl_get_ext_report(1, &report_req(0, 0), &mut resp, Some(&mut certs));
    assert_eq!((o.errno, o.exitinfo2), (Some(Errno::ETIMEDOUT), Some(BUSY)));
    assert!(clock.elapsed() >= Duration::from_secs(66));
    assert!(d.vmpck_disabled());
    p.set_faults(Faults::default());
    let o = d.ioctl_get_report(1, &report_req(0, 0), &mut resp);
    assert_eq!(o.errno, Some(Errno::ENOTTY));
    assert_eq!(p.counters().vmpck_disabled, 1);
}

/// A clock that never moves (as a saturated test clock behaves).
#[derive(Debug)]
struct FrozenClock;

impl SimClock for FrozenClock {
    fn now(&self) -> Duration {
        Duration::ZERO
    }
    fn sleep(&self, _: Duration) {}
}

#[test]
fn sev_guest_busy_loop_is_bounded_even_when_the_clock_stands_still() {
    let p = SimPlatform::builder(Product::Milan)
        .clock(Arc::new(FrozenClock))
        .build()
        .unwrap();
    p.update_faults(|f| f.busy = Repeat::Always);
    let d = dev(&p);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut resp = [0u8; REPORT_RESP_LEN];
        let mut certs = vec![0u8; 0x4000];
        let o = d.ioctl_get_ext_report(1, &report_req(0, 0), &mut resp, Some(&mut certs));
        let _ = tx.send((o.errno, o.exitinfo2));
    });
    let got = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the BUSY loop did not end");
    assert_eq!(got, (Some(Errno::ETIMEDOUT), Some(BUSY)));
    // First send + one resend per 2 s of the 60 s budget, as with a running clock.
    assert_eq!(p.counters().busy_answers, 31);
}

#[test]
fn sev_guest_failures_disable_vmpck() {
    type Setup = fn(&mut Faults);
    let cases: [(&str, Setup, Errno, Option<u64>); 4] = [
        (
            "firmware error",
            |f| f.fw_error = Some((0x13, Repeat::Times(1))),
            Errno::EIO,
            Some(0x13),
        ),
        (
            "generic VMM error",
            |f| f.generic_vmm_error = Repeat::Times(1),
            Errno::EIO,
            Some(GENERIC),
        ),
        (
            "tampered tag",
            |f| f.tamper_tag = Repeat::Times(1),
            Errno::EBADMSG,
            None,
        ),
        (
            "truncated response",
            |f| f.truncate_response = Repeat::Times(1),
            Errno::EBADMSG,
            None,
        ),
    ];
    for (name, setup, errno, x2) in cases {
        let (p, _) = sim(Product::Milan, Generation::Merged);
        let d = dev(&p);
        p.update_faults(setup);
        let mut resp = [0u8; REPORT_RESP_LEN];
        let mut certs = vec![0u8; 0x4000];
        let o = d.ioctl_get_ext_report(1, &report_req(0, 0), &mut resp, Some(&mut certs));
        if name == "truncated response" {
            // A validly sealed short response decrypts and the ioctl succeeds (the kernel does
            // not check REPORT_SIZE); the report's tail, signature included, is missing (zero),
            // so only verification catches it.
            assert_eq!(o.ret, 0, "{name}");
            assert!(resp[0x120..].iter().all(|&b| b == 0));
            continue;
        }
        assert_eq!(
            (o.ret, o.errno, o.exitinfo2),
            (-1, Some(errno), x2),
            "{name}"
        );
        assert!(d.vmpck_disabled(), "{name}");
        let o = d.ioctl_get_report(1, &report_req(0, 0), &mut resp);
        assert_eq!(o.errno, Some(Errno::ENOTTY), "{name}");
    }
}

#[test]
fn sev_guest_ghcb_rejection_is_positive_return() {
    let (p, _) = sim(Product::Milan, Generation::Seed);
    let d = dev(&p);
    p.update_faults(|f| f.ghcb_reject = Repeat::Times(1));
    let mut resp = [0u8; REPORT_RESP_LEN];
    let o = d.ioctl_get_report(1, &report_req(0, 0), &mut resp);
    assert_eq!((o.ret, o.errno, o.exitinfo2), (2, None, Some(NO_FW_CALL)));
    assert!(d.vmpck_disabled());
}

#[test]
fn sev_guest_report_status_inside_successful_call() {
    let (p, _) = sim(Product::Milan, Generation::Merged);
    // VMPCK1 (a VMPL1 guest) asking for a VMPL0 report: status 0x16.
    let d1 = SevGuestDevice::open(p.clone(), 1).unwrap();
    let mut resp = [0u8; REPORT_RESP_LEN];
    let o = d1.ioctl_get_report(1, &report_req(0, 0), &mut resp);
    assert_eq!((o.ret, o.exitinfo2), (0, None));
    assert_eq!(u32::from_le_bytes(resp[..4].try_into().unwrap()), 0x16);
    // No VLEK loaded: key_sel VLEK gives 0x27.
    let d0 = dev(&p);
    let o = d0.ioctl_get_report(1, &report_req(0, KEY_SEL_VLEK), &mut resp);
    assert_eq!(o.ret, 0);
    assert_eq!(u32::from_le_bytes(resp[..4].try_into().unwrap()), 0x27);
    assert!(!d0.vmpck_disabled() && !d1.vmpck_disabled());
}
