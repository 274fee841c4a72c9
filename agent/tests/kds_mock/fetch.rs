//! Fetching a VCEK: success, HTTP errors, Retry-After in both forms, deadlines, timeouts, and
//! bodies that are garbage, too large, or a real certificate for another chip or TCB.

use super::*;

#[test]
fn success_fetches_once_verifies_and_caches() {
    let server = vcek_server(milan_vcek());
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let s = kds(&server.url(), dir.path());
    let v = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(v.der, milan_vcek());
    assert_eq!(v.tcb, Tcb::new(3, 0, 8, 115));
    assert!(matches!(&v.source, Source::Network(u) if u.starts_with(&server.url())));
    // The exact request: 128 lower-case hex digits, decimal SPLs.
    let hex: String = r.chip_id.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        server.requests(),
        vec![format!(
            "/vcek/v1/Milan/{hex}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115"
        )]
    );
    let path = vcek_path(dir.path(), &r);
    assert_eq!(std::fs::read(&path).unwrap(), milan_vcek());
    // Again: the memory layer answers.
    let v2 = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(v2.source, Source::Memory);
    // A fresh instance on the same cache: the disk answers.
    let s2 = kds(&server.url(), dir.path());
    let v3 = s2.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(v3.source, Source::Disk(path.clone()));
    assert_eq!(server.requests().len(), 1);
    // Progress was reported: fetching, received, stored.
    let ev: Vec<String> = s
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(ev[0].contains("fetching"), "{ev:?}");
    assert!(ev.iter().any(|e| e.contains("cached at")), "{ev:?}");
}

#[test]
fn not_found_fails_fast_with_reason() {
    let server = MockKds::start(|_, _| Reply::status(404));
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let s = kds(&server.url(), dir.path());
    let e = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    assert!(matches!(e, KdsError::NotFound { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("404") && msg.contains("product"), "{msg}");
    assert_eq!(server.requests().len(), 1);
    assert!(s.clock.sleeps().is_empty());
    assert!(!vcek_path(dir.path(), &r).exists());
}

#[test]
fn rate_limited_with_retry_after_then_success() {
    let vcek = milan_vcek();
    let server = MockKds::start(move |_, n| match n {
        0 => Reply::status(429).header("Retry-After", "7"),
        _ => Reply::ok(vcek.clone()),
    });
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let s = kds(&server.url(), dir.path());
    let started = Instant::now();
    let v = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(v.der, milan_vcek());
    assert_eq!(s.clock.sleeps(), vec![Duration::from_secs(7)]);
    assert!(started.elapsed() < Duration::from_secs(5), "slept for real");
    assert_eq!(server.requests().len(), 2);
    assert!(vcek_path(dir.path(), &r).exists());
    let waited = s.events.lock().unwrap().iter().any(|e| {
        matches!(e, Progress::Waiting { delay, reason, .. }
            if *delay == Duration::from_secs(7) && reason.contains("429"))
    });
    assert!(waited);
}

#[test]
fn retry_after_http_date_is_honoured() {
    let vcek = milan_vcek();
    // The fake clock starts at a fixed wall time; the server names a date 42 s later.
    let start = UNIX_EPOCH + Duration::from_secs(1_795_600_000); // 2026-11-25T09:46:40Z
    let server = MockKds::start(move |_, n| match n {
        0 => Reply::status(503).header("Retry-After", "Wed, 25 Nov 2026 09:47:22 GMT"),
        _ => Reply::ok(vcek.clone()),
    });
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let s = kds_at(&server.url(), dir.path(), start);
    s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(s.clock.sleeps(), vec![Duration::from_secs(42)]);
}

#[test]
fn server_error_then_success_backs_off() {
    let vcek = milan_vcek();
    let server = MockKds::start(move |_, n| match n {
        0 => Reply::status(500),
        1 => Reply::status(502),
        _ => Reply::ok(vcek.clone()),
    });
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let s = kds(&server.url(), dir.path());
    s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    // 1 s, then 2 s (jitter off in these tests).
    assert_eq!(
        s.clock.sleeps(),
        vec![Duration::from_secs(1), Duration::from_secs(2)]
    );
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn retry_after_past_the_deadline_fails_at_once() {
    let server = MockKds::start(|_, _| Reply::status(429).header("Retry-After", "600"));
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let s = kds(&server.url(), dir.path());
    let kds = s.kds.with_deadline(Duration::from_secs(60));
    let e = kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    assert!(
        matches!(e, KdsError::RetryAfterBeyondDeadline { status: 429, .. }),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1);
    assert!(s.clock.sleeps().is_empty());
}

#[test]
fn response_slower_than_the_deadline() {
    // The deadline also bounds the request's own timeout, so a server that stalls is given
    // up on when the deadline passes (this one costs ~0.4 s of real time, not the server's 5 s).
    let vcek = milan_vcek();
    let server =
        MockKds::start(move |_, _| Reply::ok(vcek.clone()).delayed(Duration::from_secs(5)));
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let s = kds(&server.url(), dir.path());
    let kds = s.kds.with_deadline(Duration::from_millis(400));
    let started = Instant::now();
    let e = kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    assert!(
        matches!(e, KdsError::DeadlineExceeded { attempts: 1, .. }),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!vcek_path(dir.path(), &r).exists());
}

#[test]
fn per_request_timeout_then_retry_succeeds() {
    // The first answer stalls past the per-request timeout (well inside the deadline): the
    // client gives up on that request, backs off and asks again.
    let vcek = milan_vcek();
    let server = MockKds::start(move |_, n| {
        let r = Reply::ok(vcek.clone());
        if n == 0 {
            r.delayed(Duration::from_secs(3))
        } else {
            r
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let clock = Arc::new(FakeClock::starting_now());
    let client = KdsClient::new(&server.url())
        .unwrap()
        .with_clock(clock.clone())
        .with_policy(RetryPolicy {
            request_timeout: Duration::from_millis(300),
            ..policy()
        });
    let kds = Kds::new(client, DiskCache::new(dir.path()));
    let started = Instant::now();
    kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 2);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1)]);
}

#[test]
fn garbage_body_is_rejected_and_not_cached() {
    let server =
        MockKds::start(|_, _| Reply::ok(b"<html><body>Service busy</body></html>".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let s = kds(&server.url(), dir.path());
    let e = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    assert!(matches!(e, KdsError::BadBody { .. }), "{e}");
    // DER-looking garbage too.
    let server2 = MockKds::start(|_, _| Reply::ok(vec![0x30, 0x82, 0x05, 0x00, 1, 2, 3]));
    let s2 = kds(&server2.url(), dir.path());
    let e = s2.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    assert!(matches!(e, KdsError::BadBody { .. }), "{e}");
    assert!(!vcek_path(dir.path(), &r).exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn oversized_body_is_refused() {
    let server = MockKds::start(|_, _| Reply::ok(vec![0x30; 300 * 1024]));
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let s = kds(&server.url(), dir.path());
    let e = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    assert!(matches!(e, KdsError::BodyTooLarge { .. }), "{e}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn valid_certificate_for_another_chip_is_rejected_and_not_cached() {
    // A real Milan VCEK, correctly signed by AMD, but for another chip.
    let server = vcek_server(data("go-sev-guest/vcek.der"));
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let s = kds(&server.url(), dir.path());
    let e = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    match &e {
        KdsError::Rejected { reason, .. } => assert!(reason.contains("another chip"), "{e}"),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("not cached"));
    assert!(!vcek_path(dir.path(), &r).exists());
    // And nothing in memory either: a second call asks again.
    let _ = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn valid_certificate_for_another_tcb_is_rejected_and_not_cached() {
    // The right chip's real VCEK, but the request is for a newer SNP SPL.
    let server = vcek_server(milan_vcek());
    let dir = tempfile::tempdir().unwrap();
    let mut r = milan();
    r.tcb.snp += 1;
    let s = kds(&server.url(), dir.path());
    let e = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    match &e {
        KdsError::Rejected { reason, .. } => assert!(reason.contains("TCB"), "{e}"),
        other => panic!("{other}"),
    }
    assert!(!vcek_path(dir.path(), &r).exists());
    assert!(server.requests()[0].contains("snpSPL=9"));
}
