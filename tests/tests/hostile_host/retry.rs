//! Scenarios on the retry paths: BUSY, INVALID_LEN (zero, huge, growing, absent page
//! counts, on the burn) and their combinations, throttling.

use super::*;

#[test]
fn well_behaved_host() {
    let mut rig = Rig::new(Faults::default());
    rig.steady_state();
    rig.steady_state();
    assert_eq!(rig.platform.counters().fw_requests, 2);
}

#[test]
fn busy_then_invalid_len_then_stale_blob() {
    let mut rig = Rig::new(Faults {
        busy: Repeat::Times(1),
        invalid_len_storm: 1,
        stale_blob: true,
        ..Faults::default()
    });
    // The operator raises the TCB but the blob keeps the VCEK for the old one.
    let mut tcb = rig.platform.reported_tcb();
    tcb.snp = tcb.snp.saturating_add(1);
    rig.platform.raise_tcb(tcb).expect("raise TCB");
    let c = rig.call();
    assert_eq!(c.counters.busy_answers, 1);
    assert_eq!(c.counters.invalid_len_answers, 1);
    // One burn (plain re-send) and the new extended request.
    assert_eq!((c.counters.plain_requests, c.counters.fw_requests), (1, 2));
    assert_eq!(c.elapsed, RetryPolicy::default().initial_backoff);
    let ext = c.result.expect("BUSY then INVALID_LEN are recovered from");
    // The VCEK is derived from the TCB: the stale one is another key, so the signature fails
    // first, and its TCB does not match REPORTED_TCB either.
    let err = rig
        .verify(&ext)
        .expect_err("a stale VCEK must not verify the report");
    assert_eq!(err.check(), "report_signature", "{err}");
    let outcome = rig.verify_detailed(&ext);
    let tcb = outcome
        .checks
        .iter()
        .find(|c| c.name == "tcb_binding")
        .expect("tcb_binding ran");
    assert_eq!(tcb.status, CheckStatus::Fail, "{}", tcb.detail);
}

#[test]
fn invalid_len_asking_for_zero_pages() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| {
        if x.is_extended() {
            invalid_len(0)
        } else {
            Before::Forward
        }
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::HostMisbehaved { backend: BackendKind::Sim, detail } if detail.contains("asking for 0 pages")),
        "{e:?}"
    );
    assert!(!e.is_key_disabled());
    // The sequence number was burnt with one plain request that reached the firmware.
    assert_eq!(
        (c.exits, c.counters.plain_requests, c.counters.fw_requests),
        (2, 1, 1)
    );
    rig.behave();
    rig.steady_state();
}

#[test]
fn invalid_len_asking_for_2_pow_20_pages() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| {
        if x.is_extended() {
            invalid_len(1 << 20)
        } else {
            Before::Forward
        }
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::CertsTooLarge { backend: BackendKind::Sim, needed, max, status: None }
            if *needed == (1u64 << 20) * 4096 && *max == 64 * 4096),
        "{e:?}"
    );
    assert!(!e.is_key_disabled());
    assert_eq!((c.exits, c.counters.fw_requests), (2, 1));
    rig.behave();
    rig.steady_state();
}

#[test]
fn invalid_len_forever_growing() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| {
        if x.is_extended() {
            let offered = x.ghcb.rbx();
            invalid_len(offered + 1)
        } else {
            Before::Forward
        }
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::HostMisbehaved { detail, .. } if detail.contains("INVALID_LEN 4 times")),
        "{e:?}"
    );
    // max_invalid_len_retries = 3: four extended requests, each burnt with a plain one.
    assert_eq!(c.exits, 8);
    assert_eq!((c.counters.plain_requests, c.counters.fw_requests), (4, 4));
    assert!(!e.is_key_disabled());
    rig.behave();
    rig.steady_state();
}

#[test]
fn invalid_len_asking_for_what_was_given() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| {
        if x.is_extended() {
            let offered = x.ghcb.rbx();
            invalid_len(offered)
        } else {
            Before::Forward
        }
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::HostMisbehaved { detail, .. } if detail.contains("were provided")),
        "{e:?}"
    );
    assert_eq!(c.exits, 2);
    rig.behave();
    rig.steady_state();
}

#[test]
fn invalid_len_without_page_count() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| {
        if x.is_extended() {
            Before::Answer {
                exit_info_2: INVALID_LEN,
                rbx: None,
            }
        } else {
            Before::Forward
        }
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::HostMisbehaved { detail, .. } if detail.contains("RBX not set")),
        "{e:?}"
    );
    assert_eq!(c.exits, 2);
    rig.behave();
    rig.steady_state();
}

#[test]
fn invalid_len_on_the_burn() {
    // INVALID_LEN to the plain re-send that burns the sequence number: a plain request has no
    // certificate buffer, so this answer is nonsense; the firmware may or may not have seen the
    // message, so the only IV-safe continuation is to stop using the key.
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| invalid_len(if x.is_extended() { 8 } else { 9 }));
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(
            &e,
            BackendError::HostError {
                backend: BackendKind::Sim,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_key_disabled(), "{e}");
    assert_eq!(c.exits, 2);
    assert_eq!(c.counters.fw_requests, 0);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn busy_forever() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|_| Before::Answer {
        exit_info_2: BUSY,
        rbx: None,
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(
            &e,
            BackendError::BusyTimeout {
                backend: BackendKind::Sim,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 0);
    assert!(
        c.elapsed <= RetryPolicy::default().deadline,
        "{:?}",
        c.elapsed
    );
    // All resends carried the identical message.
    let log = rig.log.lock().unwrap();
    assert!(log.sent.iter().all(|s| *s == log.sent[0]));
    assert_eq!(log.wire.len(), 1);
    drop(log);
    // A host answering BUSY may have forwarded the message and kept the reply: the key is
    // retired at the deadline, as Linux and coconut-svsm do (issue 16).
    assert_key_disabled_now(&mut rig);
}

#[test]
fn busy_then_invalid_len_forever() {
    let mut rig = Rig::new(Faults {
        busy: Repeat::Times(2),
        ..Faults::default()
    });
    let platform = rig.platform.clone();
    rig.before(move |x| {
        // Let the simulator answer BUSY first (its fault), then INVALID_LEN for ever.
        if platform.faults().busy.armed() || !x.is_extended() {
            Before::Forward
        } else {
            let offered = x.ghcb.rbx();
            invalid_len(offered * 2)
        }
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::HostMisbehaved { detail, .. } if detail.contains("INVALID_LEN 4 times")),
        "{e:?}"
    );
    assert_eq!(c.counters.busy_answers, 2);
    assert!(!e.is_key_disabled());
    rig.behave();
    rig.steady_state();
}

#[test]
fn invalid_len_then_busy_forever_on_the_burn() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| {
        if x.is_extended() {
            invalid_len(6)
        } else {
            Before::Answer {
                exit_info_2: BUSY,
                rbx: None,
            }
        }
    });
    let (e, c) = expect_err(rig.call());
    assert!(matches!(&e, BackendError::BusyTimeout { .. }), "{e:?}");
    assert_eq!(c.counters.fw_requests, 0);
    // The burn message is never re-sealed under another sequence number: the key is gone.
    assert_key_disabled_now(&mut rig);
}

#[test]
fn throttling_host() {
    let window = Duration::from_secs(10);
    let mut rig = Rig::new(Faults {
        throttle: Some(Throttle {
            max_requests: 1,
            window,
        }),
        ..Faults::default()
    });
    rig.steady_state();
    let c = rig.call();
    c.result.expect("the window is waited out");
    assert!(c.elapsed >= window, "{:?}", c.elapsed);
    assert_eq!(c.counters.fw_requests, 1);
}
