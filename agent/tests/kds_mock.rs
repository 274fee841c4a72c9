//! The KDS client and cache against a mock KDS that each test starts on 127.0.0.1 (a tiny
//! HTTP/1.1 server on std::net, one response per connection), serving real AMD certificates
//! from tests/data/real. Waits (Retry-After, backoff) run on a fake clock: no test sleeps for
//! them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use snp_agent::kds::{
    DiskCache, FakeClock, Kds, KdsClient, KdsError, Progress, RetryPolicy, Source,
};
use snp_certs::kds::{Endorser, HwId, KdsUrlError};
use snp_certs::product::Product;
use snp_certs::tcb::Tcb;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/real");

fn data(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(DATA).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Mock KDS
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
}

impl Reply {
    fn ok(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            headers: vec![],
            body,
            delay: Duration::ZERO,
        }
    }
    fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: format!("status {status}").into_bytes(),
            delay: Duration::ZERO,
        }
    }
    fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    fn delayed(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

type Handler = dyn Fn(&str, usize) -> Reply + Send + Sync;

/// A mock KDS: `handler(path_and_query, n)` answers the n-th request (0-based).
struct MockKds {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<thread::JoinHandle<()>>,
}

impl MockKds {
    fn start(handler: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> MockKds {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (reqs, stop2) = (requests.clone(), stop.clone());
        let accept_thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (reqs, handler) = (reqs.clone(), handler.clone());
                thread::spawn(move || serve(conn, &reqs, &*handler));
            }
        });
        MockKds {
            addr,
            requests,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Stop accepting: later connections are refused.
    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(t) = self.accept_thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for MockKds {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn serve(conn: TcpStream, reqs: &Mutex<Vec<String>>, handler: &Handler) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return; // the shut-down wake-up connection
    }
    // Drain the headers (bounded: the client sends a handful).
    for _ in 0..100 {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let n = {
        let mut r = reqs.lock().unwrap();
        r.push(path.clone());
        r.len() - 1
    };
    let reply = handler(&path, n);
    thread::sleep(reply.delay);
    let mut head = format!(
        "HTTP/1.1 {} Mock\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut w = conn;
    let _ = w.write_all(head.as_bytes());
    let _ = w.write_all(&reply.body);
    let _ = w.flush();
    // Let the client read before the socket closes.
    let _ = w.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 64];
    let _ = reader.get_mut().read(&mut sink);
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

struct Request {
    product: Product,
    chip_id: [u8; 64],
    tcb: Tcb,
}

/// Chip ID and REPORTED_TCB from a real report.
fn from_report(rel: &str, product: Product) -> Request {
    let r = data(rel);
    let chip_id: [u8; 64] = r[0x1A0..0x1E0].try_into().unwrap();
    let tcb = Tcb::decode(r[0x180..0x188].try_into().unwrap(), product).unwrap();
    Request {
        product,
        chip_id,
        tcb,
    }
}

fn milan() -> Request {
    from_report("virtee-sev/report_milan.bin", Product::Milan)
}

fn milan_vcek() -> Vec<u8> {
    data("virtee-sev/vcek_milan.der")
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        jitter: false,
        request_timeout: Duration::from_secs(10),
        ..RetryPolicy::default()
    }
}

struct Setup {
    kds: Kds,
    clock: Arc<FakeClock>,
    events: Arc<Mutex<Vec<Progress>>>,
}

fn kds_at(url: &str, cache: &Path, clock_start: SystemTime) -> Setup {
    let clock = Arc::new(FakeClock::new(clock_start));
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let client = KdsClient::new(url)
        .unwrap()
        .with_clock(clock.clone())
        .with_policy(policy())
        .with_progress(Arc::new(move |p: &Progress| {
            ev.lock().unwrap().push(p.clone())
        }));
    Setup {
        kds: Kds::new(client, DiskCache::new(cache)),
        clock,
        events,
    }
}

fn kds(url: &str, cache: &Path) -> Setup {
    kds_at(url, cache, SystemTime::now())
}

fn vcek_path(cache: &Path, r: &Request) -> PathBuf {
    let hwid = HwId::from_chip_id(r.product, &r.chip_id).unwrap();
    DiskCache::new(cache).vcek_path(&hwid, &r.tcb)
}

/// A server that answers VCEK requests with `vcek` and anything else with 404.
fn vcek_server(vcek: Vec<u8>) -> MockKds {
    MockKds::start(move |path, _| {
        if path.starts_with("/vcek/v1/") && path.contains("?blSPL=") {
            Reply::ok(vcek.clone())
        } else {
            Reply::status(404)
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

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

#[test]
fn cache_hit_while_the_server_is_down() {
    let mut server = vcek_server(milan_vcek());
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let url = server.url();
    kds(&url, dir.path())
        .kds
        .vcek(r.product, &r.chip_id, &r.tcb)
        .unwrap();
    server.shut_down();
    assert!(TcpStream::connect(server.addr).is_err(), "server still up");
    // A new process (fresh memory) with the same cache: verified from disk, no network.
    let s = kds(&url, dir.path());
    let v = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(v.source, Source::Disk(vcek_path(dir.path(), &r)));
    assert_eq!(v.der, milan_vcek());
    assert_eq!(server.requests().len(), 1);
    // Something not cached cannot be had: the refused connections exhaust the retries
    // (fake clock, so no real waiting).
    let mut other = milan();
    other.tcb.snp += 1;
    let e = s
        .kds
        .vcek(other.product, &other.chip_id, &other.tcb)
        .unwrap_err();
    assert!(e.is_network(), "{e}");
    assert!(!s.clock.sleeps().is_empty());
}

#[test]
fn offline_serves_the_cache_and_names_what_is_missing() {
    let server = vcek_server(milan_vcek());
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    // Without a cached entry: a typed error naming the entry and the cache path; no request.
    let s = kds(&server.url(), dir.path());
    let off = s.kds.offline(true);
    let e = off.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    match &e {
        KdsError::NotCached { what, path, url } => {
            assert!(what.contains("Milan VCEK"), "{e}");
            assert_eq!(path, &vcek_path(dir.path(), &r));
            assert!(url.contains("snpSPL=8"));
        }
        other => panic!("{other}"),
    }
    assert!(e
        .to_string()
        .contains(&vcek_path(dir.path(), &r).display().to_string()));
    assert!(server.requests().is_empty());
    // Fill the cache online, then offline succeeds without the network.
    kds(&server.url(), dir.path())
        .kds
        .vcek(r.product, &r.chip_id, &r.tcb)
        .unwrap();
    assert_eq!(server.requests().len(), 1);
    let off = kds(&server.url(), dir.path()).kds.offline(true);
    let v = off.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert!(matches!(v.source, Source::Disk(_)));
    assert_eq!(server.requests().len(), 1);
    // Offline chain and CRL lookups also stay off the network.
    assert!(matches!(
        off.ca_chain(Product::Milan, Endorser::Vcek),
        Err(KdsError::NotCached { .. })
    ));
    assert!(matches!(
        off.crl(Product::Milan, Endorser::Vcek),
        Err(KdsError::NotCached { .. })
    ));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn masked_chip_id_makes_no_request() {
    let server = vcek_server(milan_vcek());
    let dir = tempfile::tempdir().unwrap();
    let s = kds(&server.url(), dir.path());
    for product in Product::ALL {
        let tcb = if product.has_fmc() {
            Tcb::with_fmc(0, 1, 0, 2, 71)
        } else {
            Tcb::new(3, 0, 8, 115)
        };
        let e = s.kds.vcek(product, &[0u8; 64], &tcb).unwrap_err();
        assert!(
            matches!(e, KdsError::Url(KdsUrlError::ChipIdMasked { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("masked"));
    }
    assert_eq!(server.requests().len(), 0, "the server saw a request");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn tampered_cache_entry_is_rejected() {
    // The store is not trusted: a VCEK for another chip placed under this chip's name fails.
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let path = vcek_path(dir.path(), &r);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, data("go-sev-guest/vcek.der")).unwrap();
    let s = kds("http://127.0.0.1:9", dir.path());
    let e = s
        .kds
        .offline(true)
        .vcek(r.product, &r.chip_id, &r.tcb)
        .unwrap_err();
    assert!(matches!(e, KdsError::Rejected { .. }), "{e}");
    // Online, the bad entry is replaced by a fetched, verified one.
    let server = vcek_server(milan_vcek());
    let s = kds(&server.url(), dir.path());
    let v = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert!(matches!(v.source, Source::Network(_)));
    assert_eq!(std::fs::read(&path).unwrap(), milan_vcek());
    // Same for a damaged chain file.
    let chain_path = DiskCache::new(dir.path()).chain_path(Product::Milan, Endorser::Vcek);
    std::fs::write(
        &chain_path,
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let off = kds(&server.url(), dir.path()).kds.offline(true);
    assert!(off.ca_chain(Product::Milan, Endorser::Vcek).is_err());
}

#[test]
fn turin_vcek_url_and_verification() {
    let vcek = data("oak/turin_oc_endorsements_vcek_14889815.der");
    let server = vcek_server(vcek.clone());
    let dir = tempfile::tempdir().unwrap();
    let r = from_report("oak/turin_oc_evidence_report_3f44a09b.bin", Product::Turin);
    let s = kds(&server.url(), dir.path());
    let v = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(v.der, vcek);
    let hex: String = r.chip_id[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        server.requests(),
        vec![format!(
            "/vcek/v1/Turin/{hex}?blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=71&fmcSPL=0"
        )]
    );
    assert!(vcek_path(dir.path(), &r)
        .to_string_lossy()
        .ends_with(&format!("Turin/vcek/{hex}/fmc0-bl1-tee0-snp2-ucode71.der")));
}

#[test]
fn cert_chain_fetched_checked_and_cached() {
    let milan_chain = data("virtee-sev/cert_chain_milan");
    let turin_chain = data("virtee-sev/cert_chain_turin");
    let server = MockKds::start(move |path, _| match path {
        "/vcek/v1/Milan/cert_chain" => Reply::ok(milan_chain.clone()),
        // A mirror serving the wrong product's chain.
        "/vcek/v1/Genoa/cert_chain" => Reply::ok(turin_chain.clone()),
        _ => Reply::status(404),
    });
    let dir = tempfile::tempdir().unwrap();
    let s = kds(&server.url(), dir.path());
    let c = s.kds.ca_chain(Product::Milan, Endorser::Vcek).unwrap();
    assert!(matches!(c.source, Source::Network(_)));
    let cached = DiskCache::new(dir.path()).chain_path(Product::Milan, Endorser::Vcek);
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        data("virtee-sev/cert_chain_milan")
    );
    assert_eq!(
        s.kds
            .ca_chain(Product::Milan, Endorser::Vcek)
            .unwrap()
            .source,
        Source::Memory
    );
    let e = s.kds.ca_chain(Product::Genoa, Endorser::Vcek).unwrap_err();
    assert!(matches!(e, KdsError::Rejected { .. }), "{e}");
    assert!(!DiskCache::new(dir.path())
        .chain_path(Product::Genoa, Endorser::Vcek)
        .exists());
    assert_eq!(
        server.requests(),
        vec!["/vcek/v1/Milan/cert_chain", "/vcek/v1/Genoa/cert_chain"]
    );
}

#[test]
fn vlek_and_other_product_chains() {
    let server = MockKds::start(|path, _| {
        let file = match path {
            "/vlek/v1/Milan/cert_chain" => "go-sev-guest/ask_ark_milan_vlek.pem",
            "/vcek/v1/Genoa/cert_chain" => "go-sev-guest/ask_ark_genoa.pem",
            "/vlek/v1/Turin/cert_chain" => "go-sev-guest/ask_ark_turin_vlek.pem",
            // A VCEK chain served where the VLEK chain belongs.
            "/vlek/v1/Genoa/cert_chain" => "go-sev-guest/ask_ark_genoa.pem",
            _ => return Reply::status(404),
        };
        Reply::ok(data(file))
    });
    let dir = tempfile::tempdir().unwrap();
    let s = kds(&server.url(), dir.path());
    for (p, e) in [
        (Product::Milan, Endorser::Vlek),
        (Product::Genoa, Endorser::Vcek),
        (Product::Turin, Endorser::Vlek),
    ] {
        let c = s.kds.ca_chain(p, e).unwrap();
        assert_eq!((c.product, c.endorser), (p, e));
        assert!(DiskCache::new(dir.path()).chain_path(p, e).exists());
    }
    let e = s.kds.ca_chain(Product::Genoa, Endorser::Vlek).unwrap_err();
    assert!(matches!(e, KdsError::Rejected { .. }), "{e}");
    let e = s.kds.ca_chain(Product::Turin, Endorser::Vcek).unwrap_err();
    assert!(matches!(e, KdsError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("product line"), "{e}");
}

#[test]
fn kds_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Kds>();
    assert_send_sync::<KdsClient>();
}

#[test]
fn crl_fetched_checked_cached_and_refreshed_when_stale() {
    // The real Milan CRL: thisUpdate 2026-06-22, nextUpdate 2026-08-08.
    let crl = data("atakit/milan.crl_53b18266.crl");
    let genoa_crl = data("cyntrisec-cml-transport/crl_886a378d.crl");
    let c2 = crl.clone();
    let server = MockKds::start(move |path, _| match path {
        "/vcek/v1/Milan/crl" => Reply::ok(c2.clone()),
        "/vcek/v1/Turin/crl" => Reply::ok(genoa_crl.clone()),
        _ => Reply::status(404),
    });
    let dir = tempfile::tempdir().unwrap();
    let july = UNIX_EPOCH + Duration::from_secs(1_782_864_000); // 2026-07-01
    let s = kds_at(&server.url(), dir.path(), july);
    let got = s.kds.crl(Product::Milan, Endorser::Vcek).unwrap();
    assert_eq!(got.der, crl);
    assert_eq!(
        s.kds.crl(Product::Milan, Endorser::Vcek).unwrap().source,
        Source::Memory
    );
    assert_eq!(server.requests().len(), 1);
    // Another process in July: current on disk, no request.
    let s2 = kds_at(&server.url(), dir.path(), july);
    assert!(matches!(
        s2.kds.crl(Product::Milan, Endorser::Vcek).unwrap().source,
        Source::Disk(_)
    ));
    assert_eq!(server.requests().len(), 1);
    // In November the cached CRL is past nextUpdate: online, it is fetched again.
    let s3 = kds(&server.url(), dir.path());
    assert!(matches!(
        s3.kds.crl(Product::Milan, Endorser::Vcek).unwrap().source,
        Source::Network(_)
    ));
    assert_eq!(server.requests().len(), 2);
    // Offline, the stale one is handed out (the verifier reports it as stale).
    let s4 = kds(&server.url(), dir.path());
    assert!(matches!(
        s4.kds
            .offline(true)
            .crl(Product::Milan, Endorser::Vcek)
            .unwrap()
            .source,
        Source::Disk(_)
    ));
    // Another product's CRL (signed by another ARK) is rejected.
    let e = s.kds.crl(Product::Turin, Endorser::Vcek).unwrap_err();
    assert!(matches!(e, KdsError::Rejected { .. }), "{e}");
}

#[test]
fn snpguest_directory_import_then_offline() {
    // snpguest layout: ark.pem + ask.pem (from the KDS chain) and vcek.der.
    let chain = String::from_utf8(data("virtee-sev/cert_chain_milan")).unwrap();
    let blocks: Vec<&str> = chain
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|b| b.contains("BEGIN"))
        .collect();
    assert_eq!(blocks.len(), 2);
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(certs.path().join("ask.pem"), blocks[0].trim_start()).unwrap();
    std::fs::write(certs.path().join("ark.pem"), blocks[1].trim_start()).unwrap();
    std::fs::write(certs.path().join("vcek.der"), milan_vcek()).unwrap();

    let cache = tempfile::tempdir().unwrap();
    let s = kds("http://127.0.0.1:9", cache.path());
    let off = s.kds.offline(true);
    let rep = off.import_snpguest_dir(certs.path()).unwrap();
    let r = milan();
    assert!(rep.stored.contains(&vcek_path(cache.path(), &r)), "{rep:?}");
    assert!(rep
        .stored
        .contains(&DiskCache::new(cache.path()).chain_path(Product::Milan, Endorser::Vcek)));
    let v = off.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(v.der, milan_vcek());
    let c = off.ca_chain(Product::Milan, Endorser::Vcek).unwrap();
    assert!(matches!(c.source, Source::Disk(_)));

    // A directory whose ARK is not AMD's is refused.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("ark.der"), milan_vcek()).unwrap();
    assert!(off.import_snpguest_dir(bad.path()).is_err());
    // An empty directory says what it expected.
    let empty = tempfile::tempdir().unwrap();
    let e = off.import_snpguest_dir(empty.path()).unwrap_err();
    assert!(e.to_string().contains("ark.pem"), "{e}");
}

#[test]
fn kds_url_from_environment() {
    // --kds-url wins over SNP_AGENT_KDS_URL, which wins over AMD's KDS. (Only this test in
    // this binary touches the variable.)
    std::env::set_var("SNP_AGENT_KDS_URL", "http://127.0.0.1:1234/");
    let c = KdsClient::from_env_or(None).unwrap();
    assert_eq!(c.urls().base(), "http://127.0.0.1:1234");
    let c = KdsClient::from_env_or(Some("https://mirror.example")).unwrap();
    assert_eq!(c.urls().base(), "https://mirror.example");
    std::env::set_var("SNP_AGENT_KDS_URL", "");
    let c = KdsClient::from_env_or(None).unwrap();
    assert!(c.urls().is_amd());
    std::env::set_var("SNP_AGENT_KDS_URL", "not a url");
    assert!(KdsClient::from_env_or(None).is_err());
    std::env::remove_var("SNP_AGENT_KDS_URL");
}

#[test]
fn vcek_for_report_derives_the_request() {
    use snp_certs::report::ReportView;
    let turin_vcek = data("oak/turin_oc_endorsements_vcek_14889815.der");
    let milan = milan_vcek();
    let server = MockKds::start(move |path, _| {
        if path.starts_with("/vcek/v1/Turin/") {
            Reply::ok(turin_vcek.clone())
        } else if path.starts_with("/vcek/v1/Milan/") {
            Reply::ok(milan.clone())
        } else {
            Reply::status(404)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let s = kds(&server.url(), dir.path());
    // v5 Turin report: the product comes from its CPUID fields.
    let turin = data("oak/turin_oc_evidence_report_3f44a09b.bin");
    let v = s
        .kds
        .vcek_for_report(&ReportView::new(&turin).unwrap(), None)
        .unwrap();
    assert_eq!(v.hwid.product(), Product::Turin);
    assert_eq!(v.tcb, Tcb::with_fmc(0, 1, 0, 2, 71));
    // v2 Milan report: no CPUID, so the product must be given…
    let m = data("virtee-sev/report_milan.bin");
    let view = ReportView::new(&m).unwrap();
    let e = s.kds.vcek_for_report(&view, None).unwrap_err();
    assert!(
        matches!(e, KdsError::Report(_)) && e.to_string().contains("product"),
        "{e}"
    );
    let v = s.kds.vcek_for_report(&view, Some(Product::Milan)).unwrap();
    assert_eq!(v.der, milan_vcek());
    // …and a given product must agree with the CPUID one.
    let e = s
        .kds
        .vcek_for_report(&ReportView::new(&turin).unwrap(), Some(Product::Genoa))
        .unwrap_err();
    assert!(matches!(e, KdsError::Report(_)), "{e}");
    assert_eq!(server.requests().len(), 2);
    // A VLEK-signed report has no VCEK to fetch: no request.
    let vlek_report = data("constellation/report_0216f1ce.bin");
    let e = s
        .kds
        .vcek_for_report(&ReportView::new(&vlek_report).unwrap(), None)
        .unwrap_err();
    assert!(e.to_string().contains("VLEK"), "{e}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn from_options_applies_flags() {
    use snp_agent::kds::KdsOptions;
    let server = vcek_server(milan_vcek());
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(0usize));
    let s2 = seen.clone();
    let kds = Kds::from_options(KdsOptions {
        kds_url: Some(server.url()),
        cache_dir: Some(dir.path().to_path_buf()),
        offline: false,
        deadline: Some(Duration::from_secs(30)),
        progress: Some(Arc::new(move |_: &Progress| *s2.lock().unwrap() += 1)),
        anchors: None,
    })
    .unwrap();
    assert_eq!(kds.cache().root(), dir.path());
    assert!(!kds.is_offline());
    let r = milan();
    kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert!(*seen.lock().unwrap() >= 3);
    assert!(vcek_path(dir.path(), &r).exists());
    let off = Kds::from_options(KdsOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        offline: true,
        ..KdsOptions::default()
    })
    .unwrap();
    assert!(off.is_offline());
    off.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(server.requests().len(), 1);
}
