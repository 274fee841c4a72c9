//! `snp-agent verify --kds-url` against a mock KDS on 127.0.0.1: evidence whose host served no
//! certificates is verified with a VCEK fetched once, cached, and then found in the cache with
//! the server gone (issue 6's must-show, through the CLI).

#[path = "cli_support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use support::*;

/// A one-route KDS: any `/vcek/v1/...` GET answers `body`; everything else 404.
struct MockKds {
    url: String,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl MockKds {
    fn start(body: Vec<u8>) -> MockKds {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("");
                let (status, payload): (&str, &[u8]) = if path.starts_with("/vcek/v1/") {
                    h.fetch_add(1, Ordering::SeqCst);
                    ("200 OK", &body)
                } else {
                    ("404 Not Found", b"")
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    payload.len()
                );
                let _ = conn.write_all(payload);
            }
        });
        MockKds {
            url: format!("http://{addr}"),
            hits,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for MockKds {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[test]
fn verify_fetches_once_caches_and_then_works_without_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let path = write(
        &Evidence::new(read_real(TURIN.report), Vec::new()),
        Format::Json,
        dir.path(),
        "bare",
    );
    let mut kds = MockKds::start(read_real(TURIN.vek));

    let (code, out, err) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .args(["--kds-url", &kds.url]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&kds.url), "the VCEK's source is named: {out}");
    assert_eq!(kds.hits.load(Ordering::SeqCst), 1);

    // Again: from the disk cache, no request.
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .args(["--kds-url", &kds.url]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("disk cache"), "{out}");
    assert_eq!(kds.hits.load(Ordering::SeqCst), 1);

    // Server gone: still verifies, from the cache, also with the URL from the environment.
    let url = kds.url.clone();
    kds.shutdown();
    let (code, out, err) = run(snp_agent(cache.path())
        .env("SNP_AGENT_KDS_URL", &url)
        .arg("verify")
        .arg(&path));
    assert_eq!(code, 0, "{out}\n{err}");

    // A fresh cache with the server gone: no certificate (exit 3).
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(snp_agent(empty.path()).arg("verify").arg(&path).args([
        "--kds-url",
        &url,
        "--kds-timeout",
        "2",
    ]));
    assert_eq!(code, i32::from(exit_code::CERTIFICATE_UNAVAILABLE), "{err}");
}

#[test]
fn a_vcek_for_another_chip_is_rejected_and_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let path = write(
        &Evidence::new(read_real(MILAN.report), Vec::new()),
        Format::Bin,
        dir.path(),
        "bare",
    );
    // Serve the Genoa VCEK for a Milan report.
    let kds = MockKds::start(read_real(GENOA.vek));
    let (code, _, err) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--product",
        "milan",
        "--kds-url",
        &kds.url,
    ]));
    assert_eq!(code, i32::from(exit_code::CERTIFICATE_UNAVAILABLE), "{err}");
    let cached = walk(cache.path());
    assert!(cached.is_empty(), "nothing cached: {cached:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
