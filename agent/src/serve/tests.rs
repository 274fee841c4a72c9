//! Endpoint tests over real sockets with a scripted backend.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::backend::{ExtendedReport, ReportRequest};
use crate::binding::Challenge;
use crate::evidence::{Evidence, Format};
use snp_certs::report::REPORT_SIZE;

/// What the scripted backend does on each call.
enum Script {
    /// Answer at once with a report carrying the requested REPORT_DATA.
    Answer,
    /// Tell the test it was entered, then wait for the gate before answering.
    Gated {
        entered: Sender<()>,
        gate: Receiver<()>,
    },
    /// Fail with this error.
    Fail(fn() -> BackendError),
}

struct Scripted {
    script: Script,
    calls: Arc<Mutex<Vec<ReportRequest>>>,
}

impl Backend for Scripted {
    fn kind(&self) -> BackendKind {
        BackendKind::Sim
    }
    fn get_ext_report(&mut self, req: &ReportRequest) -> Result<ExtendedReport, BackendError> {
        self.calls.lock().unwrap().push(req.clone());
        match &self.script {
            Script::Answer => {}
            Script::Gated { entered, gate } => {
                entered.send(()).unwrap();
                gate.recv_timeout(Duration::from_secs(30)).unwrap();
            }
            Script::Fail(e) => return Err(e()),
        }
        let mut report = vec![0u8; REPORT_SIZE];
        report[0x50..0x90].copy_from_slice(&req.report_data);
        Ok(ExtendedReport {
            report,
            cert_table: vec![],
        })
    }
}

fn start(script: Script, limits: Limits) -> (ServeHandle, Arc<Mutex<Vec<ReportRequest>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let backend = Box::new(Scripted {
        script,
        calls: calls.clone(),
    });
    let h = spawn_with_backend("127.0.0.1:0", backend, 0, limits).unwrap();
    (h, calls)
}

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
    fn error_code(&self) -> String {
        let b: ErrorBody = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("error body {:?}: {e}", String::from_utf8_lossy(&self.body))
        });
        assert!(!b.message.is_empty());
        b.error
    }
}

/// Send raw bytes, read until the server closes (it never keeps connections alive).
fn raw(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    Answer {
        status,
        head,
        body: buf[split + 4..].to_vec(),
    }
}

fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Answer {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(addr, &req)
}

fn attest_body(c: &Challenge) -> Vec<u8> {
    serde_json::to_vec(&AttestRequest::for_challenge(c)).unwrap()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn attest_returns_evidence_bound_to_the_challenge() {
    let (h, calls) = start(Script::Answer, Limits::default());
    let c = Challenge::random(Some(vec![4; 97])).unwrap();
    let a = post(h.local_addr(), "/attest", &attest_body(&c));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(a.header("cache-control").as_deref(), Some("no-store"));
    let (ev, fmt) = Evidence::from_bytes(&a.body, None).unwrap();
    assert_eq!(fmt, Format::Json);
    assert_eq!(ev.backend.as_deref(), Some("sim"));
    c.verify(&ev.report[0x50..0x90]).unwrap();
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].report_data, c.report_data());
    assert_eq!(calls[0].vmpl, 0);
    drop(calls);
    let s = h.stats();
    assert_eq!((s.requests, s.attested, s.client_errors), (1, 1, 0));
    h.shutdown().unwrap();
}

#[test]
fn bad_input_is_400_and_never_reaches_the_backend() {
    let (h, calls) = start(Script::Answer, Limits::default());
    let addr = h.local_addr();
    for body in [
        &b"not json"[..],
        br#"{"nonce": "00"}"#,
        br#"{"nonce": "xyz"}"#,
        br#"{"nonce": "000102030405060708090a0b0c0d0e0f", "vmpl": 1}"#,
    ] {
        let a = post(addr, "/attest", body);
        assert_eq!(a.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(a.error_code(), "bad_request");
    }
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(h.stats().client_errors, 4);
}

#[test]
fn routing_errors() {
    let (h, _) = start(Script::Answer, Limits::default());
    let addr = h.local_addr();
    let a = raw(addr, b"GET /attest HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow").as_deref(), Some("POST"));
    assert_eq!(a.error_code(), "method_not_allowed");
    let a = post(addr, "/healthz", b"{}");
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow").as_deref(), Some("GET, HEAD"));
    let a = raw(addr, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(a.status, 404);
    assert_eq!(a.error_code(), "not_found");
    let a = raw(
        addr,
        b"POST /attest HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(a.status, 415);
    assert_eq!(a.error_code(), "unsupported_media_type");
    let a = raw(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(a.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["backend"], "sim");
    let a = raw(addr, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(a.status, 200);
    assert!(a.body.is_empty(), "HEAD must not carry a body");
}

#[test]
fn oversized_bodies_are_413() {
    let limits = Limits {
        max_body: 512,
        ..Limits::default()
    };
    let (h, calls) = start(Script::Answer, limits);
    let addr = h.local_addr();
    // A declared length far beyond the limit (and beyond memory) is refused before reading:
    // the server answers without waiting for a body that never comes.
    let a = raw(
        addr,
        b"POST /attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n",
    );
    assert_eq!(a.status, 413);
    assert_eq!(a.error_code(), "payload_too_large");
    // Just over the limit, declared.
    let a = post(addr, "/attest", &vec![b' '; 513]);
    assert_eq!(a.status, 413);
    // Chunked, no declared length: cut off while streaming.
    let mut req =
        b"POST /attest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        req.extend_from_slice(b"100\r\n");
        req.extend_from_slice(&[b' '; 256]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let a = raw(addr, &req);
    assert_eq!(a.status, 413);
    // At the limit is fine (the JSON is padded with spaces).
    let c = Challenge::random(None).unwrap();
    let mut body = attest_body(&c);
    body.resize(512, b' ');
    assert_eq!(post(addr, "/attest", &body).status, 200);
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[test]
fn slow_body_is_408() {
    let limits = Limits {
        body_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (h, calls) = start(Script::Answer, limits);
    // Declares 40 bytes, sends 2, then stalls.
    let a = raw(
        h.local_addr(),
        b"POST /attest HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{\"",
    );
    assert_eq!(a.status, 408);
    assert_eq!(a.error_code(), "request_timeout");
    assert!(calls.lock().unwrap().is_empty());
}

#[test]
fn full_queue_is_503_and_the_device_sees_one_request_at_a_time() {
    let (entered_tx, entered) = channel();
    let (gate_tx, gate) = channel();
    let limits = Limits {
        workers: 1,
        queue: 1,
        ..Limits::default()
    };
    let (h, calls) = start(
        Script::Gated {
            entered: entered_tx,
            gate,
        },
        limits,
    );
    let addr = h.local_addr();
    let c1 = Challenge::random(None).unwrap();
    let c2 = Challenge::random(None).unwrap();
    let b1 = attest_body(&c1);
    let b2 = attest_body(&c2);
    let t1 = std::thread::spawn(move || post(addr, "/attest", &b1));
    entered.recv_timeout(Duration::from_secs(20)).unwrap();
    let t2 = std::thread::spawn(move || post(addr, "/attest", &b2));
    wait_for("the second request to be queued", || h.stats().queued == 1);

    // Worker busy, queue full: refused at once.
    let c3 = Challenge::random(None).unwrap();
    let a = post(addr, "/attest", &attest_body(&c3));
    assert_eq!(a.status, 503);
    assert_eq!(a.error_code(), "busy");
    assert_eq!(a.header("retry-after").as_deref(), Some("1"));
    // Health stays reachable while the device is busy.
    assert_eq!(
        raw(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );

    gate_tx.send(()).unwrap();
    entered.recv_timeout(Duration::from_secs(20)).unwrap();
    gate_tx.send(()).unwrap();
    let a1 = t1.join().unwrap();
    let a2 = t2.join().unwrap();
    assert_eq!((a1.status, a2.status), (200, 200));
    let calls = calls.lock().unwrap();
    assert_eq!(
        calls.len(),
        2,
        "the refused request must not reach the device"
    );
    assert_eq!(calls[0].report_data, c1.report_data());
    assert_eq!(calls[1].report_data, c2.report_data());
    drop(calls);
    let s = h.stats();
    assert_eq!((s.attested, s.busy, s.queued, s.in_flight), (2, 1, 0, 0));
    h.shutdown().unwrap();
}

#[test]
fn backend_failure_is_500_with_its_message_and_disables_health_when_fatal() {
    let (h, _) = start(
        Script::Fail(|| BackendError::SimSetup("the simulated VM has no VMPCK 0".into())),
        Limits::default(),
    );
    let c = Challenge::random(None).unwrap();
    let a = post(h.local_addr(), "/attest", &attest_body(&c));
    assert_eq!(a.status, 500);
    let b: ErrorBody = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(b.error, "backend_error");
    assert!(b.message.contains("no VMPCK 0"), "{}", b.message);
    // A transient-looking failure keeps the endpoint healthy.
    assert_eq!(
        raw(h.local_addr(), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
    h.shutdown().unwrap();

    let (h, _) = start(
        Script::Fail(|| BackendError::VmpckDisabled {
            backend: BackendKind::Sim,
            status: None,
            detail: None,
        }),
        Limits::default(),
    );
    let a = post(h.local_addr(), "/attest", &attest_body(&c));
    assert_eq!(a.status, 500);
    let a = raw(h.local_addr(), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(a.status, 503);
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["status"], "unusable");
    assert!(v["reason"].as_str().unwrap().contains("VMPCK"), "{v}");
}

#[test]
fn shutdown_stops_listening_and_joins() {
    let (h, _) = start(Script::Answer, Limits::default());
    let addr = h.local_addr();
    assert_eq!(
        raw(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
    h.shutdown().unwrap();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after shutdown"
    );
}

#[test]
fn configuration_is_validated() {
    let bad = |l: Limits| {
        let b = Box::new(Scripted {
            script: Script::Answer,
            calls: Arc::default(),
        });
        match spawn_with_backend("127.0.0.1:0", b, 0, l) {
            Err(e @ ServeError::Config(_)) => assert_eq!(e.exit_code(), exit_code::USAGE),
            other => panic!("{other:?}"),
        }
    };
    bad(Limits {
        workers: 0,
        ..Limits::default()
    });
    bad(Limits {
        max_body: 10,
        ..Limits::default()
    });
    bad(Limits {
        max_connections: 0,
        ..Limits::default()
    });
    let b = Box::new(Scripted {
        script: Script::Answer,
        calls: Arc::default(),
    });
    assert!(matches!(
        spawn_with_backend("127.0.0.1:0", b, 4, Limits::default()),
        Err(ServeError::Config(_))
    ));
    let b = Box::new(Scripted {
        script: Script::Answer,
        calls: Arc::default(),
    });
    match spawn_with_backend("not an address", b, 0, Limits::default()) {
        Err(e @ ServeError::Address { .. }) => assert_eq!(e.exit_code(), exit_code::USAGE),
        other => panic!("{other:?}"),
    }
    // A port already in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = Box::new(Scripted {
        script: Script::Answer,
        calls: Arc::default(),
    });
    match spawn_with_backend(
        &taken.local_addr().unwrap().to_string(),
        b,
        0,
        Limits::default(),
    ) {
        Err(e @ ServeError::Bind { .. }) => assert_eq!(e.exit_code(), exit_code::OTHER),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_queued_job_whose_client_left_never_reaches_the_device() {
    let (entered_tx, entered) = channel();
    let (gate_tx, gate) = channel();
    let limits = Limits {
        workers: 1,
        queue: 4,
        ..Limits::default()
    };
    let (h, calls) = start(
        Script::Gated {
            entered: entered_tx,
            gate,
        },
        limits,
    );
    let addr = h.local_addr();
    let b1 = attest_body(&Challenge::random(None).unwrap());
    let t1 = std::thread::spawn(move || post(addr, "/attest", &b1));
    entered.recv_timeout(Duration::from_secs(20)).unwrap();

    // A second client sends its request, waits until it is queued, and hangs up.
    let body = attest_body(&Challenge::random(None).unwrap());
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "POST /attest HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    s.write_all(&req).unwrap();
    wait_for("the second request to be queued", || h.stats().queued == 1);
    drop(s);
    // hyper notices the closed connection and drops the waiting handler (and with it the
    // job's reply channel) while the job is still queued.
    std::thread::sleep(Duration::from_millis(500));

    gate_tx.send(()).unwrap();
    assert_eq!(t1.join().unwrap().status, 200);
    wait_for("the abandoned job to be skipped", || {
        h.stats().abandoned == 1
    });
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "the abandoned job reached the device"
    );
    h.shutdown().unwrap();
}

/// Many clients at once against the simulated platform: every answer verifies against the
/// simulator's roots and binds its own client's challenge (no cross-talk between concurrent
/// requests), and the firmware saw exactly one request per answer with no sequence-number
/// reuse — the serialization through one backend holds on the real request path.
#[cfg(feature = "sim")]
#[test]
fn concurrent_clients_on_the_simulator_each_get_their_own_verified_evidence() {
    use snp_certs::product::Product;
    use snp_certs::roots::TrustAnchors;
    use snp_certs::verify::Verifier;

    const CLIENTS: usize = 12;
    let platform = snp_sim::platform::SimPlatform::builder(Product::Genoa)
        .build()
        .unwrap();
    let mut config = ServeConfig::new("127.0.0.1:0", BackendKind::Sim);
    config.backend_options.sim.platform = Some(platform.clone());
    config.limits = Limits {
        workers: 3,
        queue: CLIENTS,
        ..Limits::default()
    };
    let h = spawn(config).unwrap();
    let addr = h.local_addr();
    let before = platform.counters();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            std::thread::spawn(move || {
                let c = Challenge::random(Some(vec![i as u8; 65])).unwrap();
                let a = post(addr, "/attest", &attest_body(&c));
                (c, a)
            })
        })
        .collect();
    let roots = platform.roots().unwrap();
    let anchors = TrustAnchors::explicit()
        .with_chain(
            Product::Genoa,
            &roots.ark_der,
            Some(&roots.ask_der),
            Some(&roots.asvk_der),
        )
        .unwrap();
    let verifier = Verifier::new(anchors);
    for t in clients {
        let (c, a) = t.join().unwrap();
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        let (ev, _) = Evidence::from_bytes(&a.body, Some(Format::Json)).unwrap();
        let endorsements = ev
            .endorsements()
            .unwrap()
            .expect("the simulated host serves a VCEK");
        let verified = verifier.verify(&ev.report, &endorsements).unwrap();
        c.verify(verified.report().report_data()).unwrap();
    }
    let after = platform.counters();
    assert_eq!(after.fw_requests - before.fw_requests, CLIENTS as u64);
    assert_eq!(after.reports_signed - before.reports_signed, CLIENTS as u64);
    assert_eq!(after.seqno_violations, 0);
    assert_eq!(after.auth_failures, 0);
    assert_eq!(h.stats().attested, CLIENTS as u64);
    h.shutdown().unwrap();
}

#[test]
fn slow_headers_are_cut_off() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (h, calls) = start(Script::Answer, limits);
    let mut s = TcpStream::connect(h.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    s.write_all(b"POST /attest HTTP/1.1\r\nHost: x\r\n")
        .unwrap(); // never finishes
    let mut buf = Vec::new();
    // The server closes the connection (possibly after a 408) instead of waiting forever.
    let _ = s.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "connection held for {:?}",
        started.elapsed()
    );
    assert!(calls.lock().unwrap().is_empty());
    // The endpoint still serves.
    assert_eq!(
        raw(h.local_addr(), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Arbitrary bytes (and arbitrary bodies behind a valid head) never take the endpoint
        /// down or reach the device with anything but a valid challenge.
        #[test]
        fn arbitrary_bytes_never_break_the_endpoint(
            junk in proptest::collection::vec(any::<u8>(), 0..1500),
            as_body in any::<bool>(),
        ) {
            static SERVER: std::sync::OnceLock<(ServeHandle, Arc<Mutex<Vec<ReportRequest>>>)> =
                std::sync::OnceLock::new();
            let (h, calls) = SERVER.get_or_init(|| {
                start(
                    Script::Answer,
                    Limits {
                        header_timeout: Duration::from_millis(200),
                        body_timeout: Duration::from_millis(200),
                        ..Limits::default()
                    },
                )
            });
            let mut s = TcpStream::connect(h.local_addr()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut req = Vec::new();
            if as_body {
                req.extend_from_slice(
                    format!("POST /attest HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", junk.len())
                        .as_bytes(),
                );
            }
            req.extend_from_slice(&junk);
            let _ = s.write_all(&req);
            if !as_body {
                // Let the server see the end at once instead of waiting for the head timeout.
                // (Not after a complete request: a half-closing client counts as gone.)
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            if as_body {
                // A complete request with a junk body: a JSON error, never a 5xx.
                let text = String::from_utf8_lossy(&answer);
                let status: u16 = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                prop_assert!(status == 400 || status == 200, "{}", text);
            }
            prop_assert_eq!(
                raw(h.local_addr(), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status,
                200
            );
            for c in calls.lock().unwrap().iter() {
                prop_assert_eq!(c.vmpl, 0);
            }
        }
    }
}
