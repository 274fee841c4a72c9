//! The request paths: plain and extended reports, INVALID_LEN growth, BUSY, wipes, setup.

use super::*;

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
