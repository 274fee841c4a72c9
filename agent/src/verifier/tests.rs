//! Service tests over real sockets with a scripted verification function (the real one, with
//! real evidence, is exercised through the binary in `agent/tests/cli_verifier.rs`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// Answer every request from its query: policy `bad` → contraindicated, otherwise affirming;
/// echo what arrived.
fn echo() -> VerifyFn {
    Arc::new(|req: VerifyRequest| {
        let affirmed = req.policy.as_deref() != Some("bad");
        VerifyAnswer {
            status: 200,
            verdict: if affirmed {
                Verdict::Affirming
            } else {
                Verdict::Contraindicated
            },
            exit_code: if affirmed { 0 } else { 5 },
            body: serde_json::to_vec(&serde_json::json!({
                "len": req.body.len(),
                "nonce": req.nonce.map(hex::encode),
                "policy": req.policy,
                "format": req.format,
            }))
            .unwrap(),
        }
    })
}

/// [`echo`], counting the calls.
fn counting_echo() -> (VerifyFn, Arc<Mutex<u32>>) {
    let calls = Arc::new(Mutex::new(0u32));
    let c = Arc::clone(&calls);
    let inner = echo();
    let counting: VerifyFn = Arc::new(move |r| {
        *c.lock().unwrap() += 1;
        inner(r)
    });
    (counting, calls)
}

fn start(verify: VerifyFn, limits: Limits) -> VerifierHandle {
    spawn(VerifierConfig {
        listen: "127.0.0.1:0".into(),
        limits,
        verify,
        results: ResultForm::EarJson,
        info: serde_json::json!({"test": true}),
    })
    .unwrap()
}

fn small_limits() -> Limits {
    Limits {
        workers: 1,
        queue: 1,
        max_body: 4096,
        ..default_limits()
    }
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
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One request on its own connection (`Connection: close`), read to the end.
fn request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> Answer {
    request_with(addr, method, target, "", body)
}

/// [`request`] with extra header lines (each ending in CRLF).
fn request_with(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &str,
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

#[test]
fn verify_passes_the_query_and_body_through() {
    let h = start(echo(), small_limits());
    let a = request(
        h.local_addr(),
        "POST",
        "/verify?nonce=00ff&policy=prod&format=bin",
        b"evidence",
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-snp-agent-exit-code").as_deref(), Some("0"));
    let v = a.json();
    assert_eq!(v["len"], 8);
    assert_eq!(v["nonce"], "00ff");
    assert_eq!(v["policy"], "prod");
    assert_eq!(v["format"], "bin");
    let a = request(h.local_addr(), "POST", "/verify?policy=bad", b"x");
    assert_eq!(a.header("x-snp-agent-exit-code").as_deref(), Some("5"));
    assert_eq!(h.metrics().verdicts(Verdict::Affirming), 1);
    assert_eq!(h.metrics().verdicts(Verdict::Contraindicated), 1);
    h.shutdown().unwrap();
}

/// A 200 carries the configured result media type; a client whose Accept excludes it gets 406
/// before any verification, with the error as JSON.
#[test]
fn results_are_negotiated_against_accept() {
    let (counting, calls) = counting_echo();
    let h = spawn(VerifierConfig {
        listen: "127.0.0.1:0".into(),
        limits: small_limits(),
        verify: counting,
        results: ResultForm::EarJwt,
        info: serde_json::json!({}),
    })
    .unwrap();
    let addr = h.local_addr();
    let a = request_with(
        addr,
        "POST",
        "/verify",
        "Accept: application/eat+jwt\r\n",
        b"x",
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some(crate::ear::jwt_media_type()));
    let a = request_with(
        addr,
        "POST",
        "/verify",
        "Accept: application/json\r\n",
        b"x",
    );
    assert_eq!(a.status, 406);
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(a.json()["error"], "not_acceptable");
    let a = request_with(addr, "POST", "/verify", "Accept: \u{e9}\r\n", b"x");
    assert_eq!(a.status, 400);
    assert_eq!(*calls.lock().unwrap(), 1, "refused before verification");
    h.shutdown().unwrap();
}

#[test]
fn bad_requests_are_refused_before_verification() {
    let (counting, calls) = counting_echo();
    let h = start(counting, small_limits());
    let addr = h.local_addr();
    for (method, target, body, status, allow) in [
        ("GET", "/verify", &b""[..], 405, Some("POST")),
        ("POST", "/healthz", b"", 405, Some("GET, HEAD")),
        ("GET", "/nope", b"", 404, None),
        ("POST", "/verify", b"", 400, None),
        ("POST", "/verify?nonce=zz", b"x", 400, None),
        ("POST", "/verify?nonce=", b"x", 400, None),
        ("POST", "/verify?nonce=00&nonce=01", b"x", 400, None),
        ("POST", "/verify?polcy=prod", b"x", 400, None),
        ("POST", "/verify?policy=a%20b", b"x", 400, None),
        ("POST", "/verify", &[0u8; 5000][..], 413, None),
    ] {
        let a = request(addr, method, target, body);
        assert_eq!(a.status, status, "{method} {target}: {}", a.head);
        assert_eq!(a.header("allow").as_deref(), allow, "{method} {target}");
        let e: ErrorBody = serde_json::from_slice(&a.body).unwrap();
        assert!(!e.message.is_empty());
    }
    let long_nonce = format!("/verify?nonce={}", "00".repeat(1025));
    assert_eq!(request(addr, "POST", &long_nonce, b"x").status, 400);
    assert_eq!(*calls.lock().unwrap(), 0, "nothing reached the verifier");
    h.shutdown().unwrap();
}

#[test]
fn healthz_and_metrics() {
    let h = start(echo(), small_limits());
    let addr = h.local_addr();
    let a = request(addr, "GET", "/healthz", b"");
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["status"], "ok");
    assert_eq!(a.json()["service"]["test"], true);
    request(addr, "POST", "/verify", b"x");
    let m = request(addr, "GET", "/metrics", b"");
    assert_eq!(m.status, 200);
    let text = String::from_utf8(m.body).unwrap();
    for needle in [
        "snp_verifier_verifications_total{verdict=\"affirming\"} 1",
        "snp_verifier_http_requests_total{path=\"/verify\",status=\"200\"} 1",
        "snp_verifier_http_requests_total{path=\"/healthz\",status=\"200\"} 1",
        "snp_verifier_verification_seconds_count 1",
        "snp_verifier_request_seconds_count 1",
        "snp_verifier_queued 0",
        "snp_verifier_chain_cache_misses",
        "# EOF",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    h.shutdown().unwrap();
}

#[test]
fn full_queue_is_refused_with_retry_after() {
    // One worker held inside the verification function, one queue place taken: the third
    // request must get 503 at once.
    let (entered_tx, entered_rx): (Sender<()>, Receiver<()>) = channel();
    let (gate_tx, gate_rx) = channel::<()>();
    let gate = Arc::new(Mutex::new(gate_rx));
    let entered = Arc::new(Mutex::new(entered_tx));
    let inner = echo();
    let gated: VerifyFn = Arc::new(move |r| {
        entered.lock().unwrap().send(()).unwrap();
        gate.lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30))
            .unwrap();
        inner(r)
    });
    let h = start(gated, small_limits());
    let addr = h.local_addr();
    let first = std::thread::spawn(move || request(addr, "POST", "/verify", b"1"));
    entered_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let second = std::thread::spawn(move || request(addr, "POST", "/verify", b"2"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while h.metrics().queued.get() < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "second request never queued"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let third = request(addr, "POST", "/verify", b"3");
    assert_eq!(third.status, 503);
    assert_eq!(third.header("retry-after").as_deref(), Some("1"));
    gate_tx.send(()).unwrap();
    gate_tx.send(()).unwrap();
    assert_eq!(first.join().unwrap().status, 200);
    assert_eq!(second.join().unwrap().status, 200);
    h.shutdown().unwrap();
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let h = start(echo(), small_limits());
    let mut s = TcpStream::connect(h.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    for i in 0..3 {
        write!(
            s,
            "POST /verify HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n{i}"
        )
        .unwrap();
        // Read one response: head, then Content-Length bytes.
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            buf.push(byte[0]);
        }
        let head = String::from_utf8(buf).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap();
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).unwrap();
    }
    h.shutdown().unwrap();
}

#[test]
fn limits_are_validated() {
    for bad in [
        Limits {
            workers: 0,
            ..default_limits()
        },
        Limits {
            queue: 0,
            ..default_limits()
        },
        Limits {
            max_body: 10,
            ..default_limits()
        },
        Limits {
            max_body: 2 << 20,
            ..default_limits()
        },
    ] {
        assert!(matches!(validate(&bad), Err(VerifierError::Config(_))));
    }
    assert!(validate(&default_limits()).is_ok());
}
