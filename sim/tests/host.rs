//! Host-side behaviour through a raw GHCB guest: KVM generations, the VMM lock protocol, the
//! sequence-number rule, and every fault knob.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{platform, platform_with_clock, report_req, Answer, RawGuest};
use snp_certs::product::Product;
use snp_certs::report::{offset, ReportView};
use snp_certs::roots::TrustAnchors;
use snp_certs::table::CertTable;
use snp_certs::tcb::Tcb;
use snp_certs::verify::{Endorsements, Verifier};
use snp_ghcb::driver::PlatformError;
use snp_ghcb::exit::{ExitInfo2, FwStatus, BUSY, GENERIC, INVALID_LEN, SEED_GENERIC};
use snp_ghcb::message::MessageError;
use snp_sim::faults::{Faults, NoCerts, Repeat, Throttle};
use snp_sim::kvm::Generation;
use snp_sim::platform::{HostEvent, SimPlatform};

const GENS: [Generation; 2] = [Generation::Seed, Generation::Merged];

fn blob_pages(p: &SimPlatform) -> u64 {
    (p.expected_blob().unwrap().len() as u64).div_ceil(4096)
}

/// One extended request with `npages` of certificate buffer and sequence number `seqno`.
fn ext(g: &RawGuest, seqno: u64, npages: u64) -> Answer {
    let gpa = g.p.alloc_shared(npages.max(1) as usize).unwrap();
    let page = g.seal(seqno, &report_req(0, 0));
    g.send(&page, Some((gpa, npages)))
}

fn verify_with_sim_roots(p: &SimPlatform, report: &[u8], certs: &[u8]) {
    let table = CertTable::parse(certs).unwrap();
    let vek = table.vcek().or(table.vlek()).unwrap().der().unwrap();
    let roots = p.roots().unwrap();
    let anchors = TrustAnchors::explicit()
        .with_chain(
            p.product(),
            &roots.ark_der,
            Some(&roots.ask_der),
            Some(&roots.asvk_der),
        )
        .unwrap();
    let ev = Endorsements::new(vek.to_vec());
    Verifier::new(anchors)
        .verify(report, &ev)
        .expect("simulated evidence verifies with the simulator's roots");
    // ...and never with AMD's pinned roots.
    assert!(Verifier::new(TrustAnchors::amd())
        .verify(report, &ev)
        .is_err());
}

#[test]
fn extended_request_serves_certs_and_report_verifies_with_sim_roots() {
    for product in Product::ALL {
        for gen in GENS {
            let p = platform(product, gen);
            let g = RawGuest::new(&p, 0);
            let a = ext(&g, 1, 4);
            assert_eq!((a.info1, a.info2), (0, 0), "{product:?} {gen:?}");
            let rsp = g.open(2, &a.resp_page).unwrap();
            assert_eq!(rsp.status, FwStatus::Success);
            let table = CertTable::parse(&a.certs).unwrap();
            assert_eq!(table.vcek().unwrap().bytes, &p.vcek_der()[..]);
            verify_with_sim_roots(&p, &rsp.report, &a.certs);
            let c = p.counters();
            assert_eq!((c.fw_requests, c.certs_served, c.ext_requests), (1, 1, 1));
        }
    }
}

/// The guest sees the same kinds of answer from both generations; the bits differ only where the
/// seed's own encodings do (`seed_generation_encodings_exactly`).
#[test]
fn seed_and_merged_give_identical_guest_answers() {
    let scenarios: Vec<(&str, u64, Faults)> = vec![
        ("proceed", 4, Faults::default()),
        ("buffer too small", 1, Faults::default()),
        ("no buffer", 0, Faults::default()),
        (
            "busy",
            4,
            Faults {
                busy: Repeat::Always,
                ..Default::default()
            },
        ),
        (
            "storm",
            2,
            Faults {
                invalid_len_storm: 1,
                ..Default::default()
            },
        ),
        (
            "no certs",
            2,
            Faults {
                no_certs: Some(NoCerts::EmptyTable),
                ..Default::default()
            },
        ),
    ];
    for (name, npages, faults) in scenarios {
        let answers: Vec<Answer> = GENS
            .iter()
            .map(|&gen| {
                let p = platform(Product::Genoa, gen);
                p.set_faults(faults.clone());
                let g = RawGuest::new(&p, 0);
                ext(&g, 1, npages)
            })
            .collect();
        assert_eq!(
            answers[0], answers[1],
            "scenario {name}: seed and merged differ"
        );
    }
}

#[test]
fn seed_invalid_len_round_trip_writes_pages_and_skips_firmware() {
    let p = platform(Product::Milan, Generation::Seed);
    let g = RawGuest::new(&p, 0);
    let need = blob_pages(&p);
    assert!(need >= 2, "the blob should not fit one page");
    let a = ext(&g, 1, 1);
    assert_eq!(a.info2, INVALID_LEN);
    assert_eq!(a.rbx, need);
    let c = p.counters();
    assert_eq!(c.fw_requests, 0, "INVALID_LEN must not reach the firmware");
    assert_eq!(c.invalid_len_answers, 1);
    assert_eq!(p.firmware_message_count(0), Some(0));
    // The same message (same seqno) with the buffer the host asked for now succeeds.
    let a = ext(&g, 1, need);
    assert_eq!(a.info2, 0);
    assert_eq!(p.counters().fw_requests, 1);
}

#[test]
fn lock_released_only_after_firmware_request() {
    for gen in GENS {
        let p = platform(Product::Turin, gen);
        let g = RawGuest::new(&p, 0);
        p.clear_events();
        let a = ext(&g, 1, 4);
        assert_eq!(a.info2, 0);
        assert_eq!(
            p.events(),
            vec![
                HostEvent::VmmAnswered { holds_lock: true },
                HostEvent::FirmwareRequest { under_lock: true },
                HostEvent::CompletionDelivered,
            ],
            "{gen:?}"
        );
        assert!(!p.vmm_holds_lock());
        let c = p.counters();
        match gen {
            Generation::Seed => assert_eq!(
                (c.notify_done_completions, c.immediate_exit_completions),
                (1, 0)
            ),
            Generation::Merged => assert_eq!(
                (c.notify_done_completions, c.immediate_exit_completions),
                (0, 1)
            ),
        }
        assert_eq!(c.vmm_lock_releases, 1);
    }
}

#[test]
fn reused_replayed_or_skipped_seqno_is_refused() {
    let p = platform(Product::Milan, Generation::Merged);
    let g = RawGuest::new(&p, 0);
    let page = g.seal(1, &report_req(0, 0));
    assert_eq!(g.send(&page, None).info2, 0);
    // Replay of the same request (reused seqno 1).
    assert_eq!(
        g.send(&page, None).info2,
        u64::from(FwStatus::InvalidParam.to_u32())
    );
    // A different plaintext under the used seqno 1.
    let reuse = g.seal(1, &report_req(1, 0));
    assert_eq!(g.send(&reuse, None).info2, 0x16);
    // Skipped seqno (5 instead of 3).
    assert_eq!(g.send(&g.seal(5, &report_req(0, 0)), None).info2, 0x16);
    assert_eq!(p.counters().seqno_violations, 3);
    assert_eq!(g.send(&g.seal(3, &report_req(0, 0)), None).info2, 0);
    assert_eq!(p.firmware_message_count(0), Some(4));
}

#[test]
fn exclusive_updater_blocks_serving_until_done() {
    let p = SimPlatform::builder(Product::Milan)
        .certs_timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    let g = RawGuest::new(&p, 0);
    let old_vcek = p.vcek_der();
    let new_tcb = Tcb::new(4, 0, 9, 0x74);
    {
        let mut up = p.begin_update(Duration::from_secs(1)).unwrap();
        // While the updater holds the lock, the VMM waits its timeout and answers BUSY.
        assert_eq!(ext(&g, 1, 4).info2, BUSY);
        up.raise_tcb(new_tcb).unwrap();
        assert_eq!(ext(&g, 1, 4).info2, BUSY);
        assert_eq!(p.counters().fw_requests, 0);
    }
    let a = ext(&g, 1, 4);
    assert_eq!(a.info2, 0);
    let table = CertTable::parse(&a.certs).unwrap();
    assert_ne!(table.vcek().unwrap().bytes, &old_vcek[..]);
    assert_eq!(table.vcek().unwrap().bytes, &p.vcek_der()[..]);
    let rsp = g.open(2, &a.resp_page).unwrap();
    let view = ReportView::new(&rsp.report).unwrap();
    assert_eq!(
        &view.as_bytes()[offset::REPORTED_TCB..offset::REPORTED_TCB + 8],
        &new_tcb.encode(Product::Milan)
    );
    verify_with_sim_roots(&p, &rsp.report, &a.certs);
    let c = p.counters();
    assert_eq!((c.vmm_lock_timeouts, c.tcb_updates), (2, 1));
}

#[test]
fn vmm_waits_for_an_updater_within_its_timeout() {
    let p = SimPlatform::builder(Product::Genoa)
        .certs_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let g = RawGuest::new(&p, 0);
    let (tx, rx) = mpsc::channel();
    let up_p = p.clone();
    let t = std::thread::spawn(move || {
        let mut up = up_p.begin_update(Duration::from_secs(1)).unwrap();
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        up.raise_tcb(Tcb::new(11, 0, 26, 85)).unwrap();
    });
    rx.recv().unwrap();
    let start = Instant::now();
    let a = ext(&g, 1, 4);
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "serving did not wait for the updater"
    );
    assert_eq!(a.info2, 0);
    t.join().unwrap();
    assert_eq!(
        CertTable::parse(&a.certs).unwrap().vcek().unwrap().bytes,
        &p.vcek_der()[..]
    );
    assert_eq!(p.counters().vmm_lock_waits, 1);
}

#[test]
fn fault_busy_times_and_always() {
    let p = platform(Product::Milan, Generation::Merged);
    let g = RawGuest::new(&p, 0);
    p.update_faults(|f| f.busy = Repeat::Times(2));
    assert_eq!(ext(&g, 1, 4).info2, BUSY);
    assert_eq!(ext(&g, 1, 4).info2, BUSY);
    assert_eq!(ext(&g, 1, 4).info2, 0);
    p.update_faults(|f| f.busy = Repeat::Always);
    for _ in 0..5 {
        assert_eq!(ext(&g, 3, 4).info2, BUSY);
    }
    assert_eq!(p.counters().busy_answers, 7);
    assert_eq!(p.counters().fw_requests, 1);
}

#[test]
fn fault_generic_vmm_error() {
    for (gen, want) in [
        (Generation::Seed, SEED_GENERIC),
        (Generation::Merged, GENERIC),
    ] {
        let p = platform(Product::Milan, gen);
        let g = RawGuest::new(&p, 0);
        p.update_faults(|f| f.generic_vmm_error = Repeat::Times(1));
        assert_eq!(ext(&g, 1, 4).info2, want, "{gen:?}");
        assert!(ExitInfo2::from_u64(want).is_host_error());
        assert_eq!(ext(&g, 1, 4).info2, 0);
    }
}

/// Issue 16: the seed's exact encodings. The VMM's `ret` reaches the guest unchanged in the upper
/// 32 bits (its generic `1 << 31` as `0x8000_0000_0000_0000`, a buggy 22 as `22 << 32`); a
/// firmware failure is `GENERIC(1 << 31) << 32 | fw_err`; merged answers KVM's generic and the
/// bare `fw_err`. Both classify the same way (host error vs firmware error).
#[test]
fn seed_generation_encodings_exactly() {
    let fw = FwStatus::HwErrorPlatform.to_u32();
    for (gen, generic, fw_failure) in [
        (
            Generation::Seed,
            0x8000_0000_0000_0000u64,
            0x8000_0000_0000_0000 | u64::from(fw),
        ),
        (Generation::Merged, 0xFFFF_FFFF_0000_0000, u64::from(fw)),
    ] {
        let p = platform(Product::Genoa, gen);
        let g = RawGuest::new(&p, 0);
        p.update_faults(|f| f.generic_vmm_error = Repeat::Times(1));
        let a = ext(&g, 1, 4);
        assert_eq!(a.info2, generic, "{gen:?}: generic VMM error");
        assert!(ExitInfo2::from_u64(a.info2).is_host_error());
        // A firmware failure, on the extended and on the plain path.
        for certs in [Some(4), None] {
            p.update_faults(|f| f.fw_error = Some((fw, Repeat::Times(1))));
            let page = g.seal(1, &report_req(0, 0));
            let a = match certs {
                Some(n) => g.send(&page, Some((g.p.alloc_shared(n as usize).unwrap(), n))),
                None => g.send(&page, None),
            };
            assert_eq!(a.info2, fw_failure, "{gen:?}: firmware failure ({certs:?})");
            assert_eq!(
                ExitInfo2::from_u64(a.info2).firmware_error(),
                Some(FwStatus::HwErrorPlatform)
            );
        }
    }
}

/// The seed exits to the VMM for every extended request; what merged reads MSG_TYPE first and
/// exits only for MSG_REPORT_REQ.
#[test]
fn seed_exits_to_the_vmm_for_every_extended_request() {
    for (gen, served) in [(Generation::Seed, 1), (Generation::Merged, 0)] {
        let p = platform(Product::Milan, gen);
        let g = RawGuest::new(&p, 0);
        let mut page = g.seal(1, &report_req(0, 0));
        page[0x34] = snp_ghcb::message::MsgType::KeyReq.to_u8();
        let gpa = p.alloc_shared(4).unwrap();
        let a = g.send(&page, Some((gpa, 4)));
        assert_eq!(p.counters().certs_served, served, "{gen:?}");
        assert_eq!(
            CertTable::parse(&a.certs).is_ok_and(|t| t.vcek().is_some()),
            served == 1,
            "{gen:?}"
        );
    }
}

#[test]
fn fault_invalid_len_storm_grows_each_time() {
    let p = platform(Product::Milan, Generation::Seed);
    let g = RawGuest::new(&p, 0);
    p.update_faults(|f| f.invalid_len_storm = 3);
    let mut pages = blob_pages(&p);
    for _ in 0..3 {
        let a = ext(&g, 1, pages);
        assert_eq!(a.info2, INVALID_LEN);
        assert_eq!(a.rbx, pages + 1);
        pages = a.rbx;
    }
    assert_eq!(ext(&g, 1, pages).info2, 0);
    assert_eq!(p.counters().fw_requests, 1);
}

#[test]
fn fault_absurd_page_count() {
    let p = platform(Product::Genoa, Generation::Merged);
    let g = RawGuest::new(&p, 0);
    p.update_faults(|f| f.absurd_pages = Some(u64::from(u32::MAX)));
    let a = ext(&g, 1, 4);
    assert_eq!((a.info2, a.rbx), (INVALID_LEN, u64::from(u32::MAX)));
}

#[test]
fn fault_stale_blob_serves_old_vcek_after_tcb_change() {
    let p = platform(Product::Milan, Generation::Merged);
    let g = RawGuest::new(&p, 0);
    let old = p.vcek_der();
    p.update_faults(|f| f.stale_blob = true);
    p.raise_tcb(Tcb::new(3, 0, 9, 0x74)).unwrap();
    let a = ext(&g, 1, 4);
    assert_eq!(a.info2, 0);
    let table = CertTable::parse(&a.certs).unwrap();
    assert_eq!(table.vcek().unwrap().bytes, &old[..]);
    assert_ne!(old, p.vcek_der());
    // The report is signed under the new TCB, so it does not verify with the stale VCEK.
    let rsp = g.open(2, &a.resp_page).unwrap();
    let roots = p.roots().unwrap();
    let anchors = TrustAnchors::explicit()
        .with_chain(p.product(), &roots.ark_der, Some(&roots.ask_der), None)
        .unwrap();
    assert!(Verifier::new(anchors)
        .verify(&rsp.report, &Endorsements::new(old))
        .is_err());
}

#[test]
fn fault_corrupt_table_wrong_vcek_and_no_certs() {
    let p = platform(Product::Turin, Generation::Merged);
    let g = RawGuest::new(&p, 0);
    p.update_faults(|f| f.corrupt_table = true);
    let a = ext(&g, 1, 4);
    assert_eq!(a.info2, 0);
    assert!(CertTable::parse(&a.certs).is_err());

    p.set_faults(Faults {
        wrong_vcek: true,
        ..Default::default()
    });
    let a = ext(&g, 3, 4);
    let table = CertTable::parse(&a.certs).unwrap();
    let served = table.vcek().unwrap().bytes.to_vec();
    assert_ne!(served, p.vcek_der());
    let rsp = g.open(4, &a.resp_page).unwrap();
    let roots = p.roots().unwrap();
    let anchors = TrustAnchors::explicit()
        .with_chain(p.product(), &roots.ark_der, Some(&roots.ask_der), None)
        .unwrap();
    assert!(Verifier::new(anchors)
        .verify(&rsp.report, &Endorsements::new(served))
        .is_err());

    p.set_faults(Faults {
        no_certs: Some(NoCerts::EmptyTable),
        ..Default::default()
    });
    let a = ext(&g, 5, 4);
    assert!(CertTable::parse(&a.certs).unwrap().is_empty());
    p.set_faults(Faults {
        no_certs: Some(NoCerts::ZeroBuffer),
        ..Default::default()
    });
    let a = ext(&g, 7, 4);
    assert!(a.certs.iter().all(|&b| b == 0));
    assert!(CertTable::parse(&a.certs).unwrap().is_empty());
}

#[test]
fn fault_tampered_replayed_and_truncated_responses() {
    let p = platform(Product::Milan, Generation::Merged);
    let g = RawGuest::new(&p, 0);
    assert_eq!(ext(&g, 1, 4).info2, 0);
    p.update_faults(|f| f.tamper_tag = Repeat::Times(1));
    let a = ext(&g, 3, 4);
    assert_eq!(
        g.open(4, &a.resp_page).unwrap_err(),
        MessageError::AuthenticationFailed
    );
    p.update_faults(|f| f.replay_response = Repeat::Times(1));
    let a = ext(&g, 5, 4);
    assert!(matches!(
        g.open(6, &a.resp_page),
        Err(MessageError::SeqnoMismatch {
            expected: 6,
            got: 4
        })
    ));
    p.update_faults(|f| f.truncate_response = Repeat::Times(1));
    let a = ext(&g, 7, 4);
    assert!(
        g.open(8, &a.resp_page).is_err(),
        "truncated MSG_REPORT_RSP must not decode"
    );
    // Each of these consumed the message: the firmware count moved on.
    assert_eq!(p.firmware_message_count(0), Some(8));
}

#[test]
fn fault_each_firmware_error_status() {
    let p = platform(Product::Genoa, Generation::Merged);
    let g = RawGuest::new(&p, 0);
    for status in (0x01u32..=0x27).filter(|&s| s != 0x1E) {
        p.update_faults(|f| f.fw_error = Some((status, Repeat::Times(1))));
        let a = ext(&g, 1, 4);
        assert_eq!(
            (a.info1, a.info2),
            (0, u64::from(status)),
            "status {status:#x}"
        );
        assert_ne!(FwStatus::from_u32(status), FwStatus::Unknown(status));
    }
    assert_eq!(p.firmware_message_count(0), Some(0));
    assert_eq!(ext(&g, 1, 4).info2, 0);
}

#[test]
fn fault_throttle_with_injected_clock() {
    let (p, clock) = platform_with_clock(Product::Milan, Generation::Seed);
    let g = RawGuest::new(&p, 0);
    p.update_faults(|f| {
        f.throttle = Some(Throttle {
            max_requests: 2,
            window: Duration::from_secs(10),
        })
    });
    assert_eq!(ext(&g, 1, 4).info2, 0);
    assert_eq!(ext(&g, 3, 4).info2, 0);
    assert_eq!(ext(&g, 5, 4).info2, BUSY);
    clock.advance(Duration::from_secs(10));
    assert_eq!(ext(&g, 5, 4).info2, 0);
    assert_eq!(p.counters().throttled, 1);
}

#[test]
fn ghcb_level_rejections() {
    let p = platform(Product::Milan, Generation::Seed);
    let g = RawGuest::new(&p, 0);
    p.update_faults(|f| f.ghcb_reject = Repeat::Times(1));
    let a = ext(&g, 1, 4);
    assert_eq!((a.info1, a.info2), (2, 5));
    // Misaligned certificate GPA: malformed input, no VMM exit, no firmware request.
    let gpa = p.alloc_shared(2).unwrap();
    let page = g.seal(1, &report_req(0, 0));
    let a = g.send(&page, Some((gpa + 8, 1)));
    assert_eq!((a.info1, a.info2), (2, 5));
    assert_eq!(p.counters().fw_requests, 0);
    assert_eq!(p.counters().ghcb_rejections, 2);
}

#[test]
fn bogus_vmm_completion_refused_by_merged_kvm_generic_on_seed() {
    let p = platform(Product::Milan, Generation::Merged);
    let g = RawGuest::new(&p, 0);
    p.update_faults(|f| f.bogus_completion = Repeat::Times(1));
    let gpa = p.alloc_shared(4).unwrap();
    p.write_shared(g.req_gpa, &g.seal(1, &report_req(0, 0)))
        .unwrap();
    let mut gh = snp_ghcb::page::Ghcb::new();
    gh.set_sw_exit_code(snp_ghcb::exit::SNP_EXTENDED_GUEST_REQUEST);
    gh.set_sw_exit_info_1(g.req_gpa);
    gh.set_sw_exit_info_2(g.resp_gpa);
    gh.set_rax(gpa);
    gh.set_rbx(4);
    // The VMM handled the exit; KVM refused its completion: not "the host never saw it".
    assert!(
        matches!(p.vmgexit(&mut gh), Err(PlatformError::HostRunFailed(_))),
        "KVM_RUN must fail on an invalid completion"
    );
    assert!(!p.vmm_holds_lock());
    assert_eq!(p.counters().fw_requests, 0);

    let p = platform(Product::Milan, Generation::Seed);
    let g = RawGuest::new(&p, 0);
    p.update_faults(|f| f.bogus_completion = Repeat::Times(1));
    // The seed hands the VMM's ret to the guest verbatim.
    assert_eq!(ext(&g, 1, 4).info2, 22 << 32);
    assert_eq!(p.counters().fw_requests, 0);
}
