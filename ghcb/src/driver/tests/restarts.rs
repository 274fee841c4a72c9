//! Issue 16: keys and counts that survive drivers — every wipe reaches the secrets page, the
//! count is persisted before a message is exposed, drivers sharing a guest stay in step, lying
//! hosts, and the property test across driver re-creation.

use super::*;

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
