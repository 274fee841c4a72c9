//! `serve` under load (issue 12): 200 concurrent challenges and 50 slow clients against one
//! endpoint on the simulator, on the loopback interface, bounded in count and time.
//!
//! Asserted:
//! - every challenge is answered with evidence (200) or refused with 503 `busy` — nothing else,
//!   no connection dropped without an answer;
//! - every evidence verifies for the relying party that issued *that* challenge (REPORT_DATA
//!   binds its nonce), and no nonce is accepted twice: a second appraisal of the same answer, or
//!   the answer offered for another client's challenge, is refused;
//! - the 50 slow clients (headers trickled one byte at a time) are cut off by the header timeout
//!   and do not starve the others;
//! - memory stays bounded: peak RSS (VmHWM) is printed, and the resident set grows by less than
//!   a fixed bound over the run.
//!
//! This file holds one test so the process's RSS is this test's alone.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use snp_agent::backend::BackendKind;
use snp_agent::evidence::Evidence;
use snp_agent::policy::Policy;
use snp_agent::serve::{self, Limits, ServeConfig};
use snp_agent_examples::{simulator_anchors, RelyingParty};

const CHALLENGES: usize = 200;
const SLOW: usize = 50;
/// Largest growth of the resident set over the run that still counts as bounded: the endpoint
/// holds at most `max_connections` bodies of `max_body` and `queue` jobs; 250 client threads
/// with their stacks are the test's own.
const RSS_GROWTH_BOUND_KIB: u64 = 256 * 1024;

fn proc_status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One HTTP/1.1 exchange on a fresh connection: (status, body). `None` if the server closed
/// the connection without an answer.
fn post(addr: SocketAddr, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    let head = format!(
        "POST /attest HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut resp = Vec::new();
    s.take(4 << 20).read_to_end(&mut resp).ok()?;
    let text_end = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&resp[..text_end]).ok()?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = resp[text_end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body)?;
    }
    Some((status, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n")?;
        let n = usize::from_str_radix(std::str::from_utf8(&b[..line]).ok()?.trim(), 16).ok()?;
        b = &b[line + 2..];
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..n)?);
        b = b.get(n + 2..)?;
    }
}

/// A client that sends its request headers one byte every `gap` and reports how the server
/// ended the exchange (status, or 0 for a closed connection).
fn slow_client(addr: SocketAddr, gap: Duration, deadline: Instant) -> u16 {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let head = b"POST /attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
    let mut buf = [0u8; 512];
    for &byte in head.iter().cycle() {
        if Instant::now() > deadline || s.write_all(&[byte]).is_err() {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                return text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
            Err(_) => {}
        }
        std::thread::sleep(gap);
    }
    0
}

#[test]
fn serve_under_200_challenges_and_50_slow_clients() {
    let limits = Limits {
        workers: 2,
        queue: 16,
        max_connections: 64,
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut config = ServeConfig::new("127.0.0.1:0", BackendKind::Sim);
    config.limits = limits;
    let handle = serve::spawn(config).expect("serve starts");
    let addr = handle.local_addr();
    let rp = Arc::new(
        RelyingParty::new(simulator_anchors().unwrap(), Policy::default_policy()).offline(true),
    );
    let rss0 = proc_status_kib("VmRSS:");
    let t0 = Instant::now();

    // The slow clients go first, so they hold connection slots while the challenges arrive.
    let slow_deadline = Instant::now() + Duration::from_secs(30);
    let slow: Vec<_> = (0..SLOW)
        .map(|_| {
            std::thread::spawn(move || slow_client(addr, Duration::from_millis(100), slow_deadline))
        })
        .collect();

    let ok = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(CHALLENGES));
    let clients: Vec<_> = (0..CHALLENGES)
        .map(|_| {
            let (rp, ok, busy, start) = (rp.clone(), ok.clone(), busy.clone(), start.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let challenge = rp.challenge(None).map_err(|e| e.to_string())?;
                let body =
                    serde_json::to_vec(&snp_agent::serve::AttestRequest::for_challenge(&challenge))
                        .unwrap();
                start.wait();
                let (status, body) =
                    post(addr, &body).ok_or("connection closed without an answer")?;
                match status {
                    200 => {
                        let (ev, _) =
                            Evidence::from_bytes(&body, None).map_err(|e| e.to_string())?;
                        let v = rp.appraise(&challenge, &ev);
                        if !v.affirmed() {
                            return Err(format!("evidence not accepted: {v}"));
                        }
                        // The same answer again: the nonce is used up and the report was
                        // already presented (its evidence id is remembered).
                        let again = rp.appraise(&challenge, &ev);
                        let mut failed = again.failed();
                        failed.sort_unstable();
                        if again.affirmed()
                            || failed != vec!["freshness.evidence", "freshness.nonce"]
                        {
                            return Err(format!("nonce accepted twice: {again}"));
                        }
                        // Offered for a fresh challenge: REPORT_DATA binds another nonce.
                        let other = rp.challenge(None).map_err(|e| e.to_string())?;
                        if rp.appraise(&other, &ev).affirmed() {
                            return Err("evidence accepted for another challenge".into());
                        }
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    503 => {
                        let text = String::from_utf8_lossy(&body);
                        if !text.contains("busy") {
                            return Err(format!("503 without the busy code: {text}"));
                        }
                        busy.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        return Err(format!(
                            "answered {other}: {}",
                            String::from_utf8_lossy(&body)
                        ))
                    }
                }
                Ok(())
            })
        })
        .collect();

    let mut failures = Vec::new();
    for c in clients {
        if let Err(e) = c.join().expect("client thread") {
            failures.push(e);
        }
    }
    let challenges_done = t0.elapsed();
    let slow_statuses: Vec<u16> = slow.into_iter().map(|h| h.join().unwrap()).collect();
    let stats = handle.stats();
    let rss1 = proc_status_kib("VmRSS:");
    let hwm = proc_status_kib("VmHWM:");
    handle.shutdown().expect("clean shutdown");

    let (ok, busy) = (ok.load(Ordering::Relaxed), busy.load(Ordering::Relaxed));
    let cut_off = slow_statuses
        .iter()
        .filter(|&&s| s == 408 || s == 0)
        .count();
    eprintln!(
        "serve load: {CHALLENGES} challenges -> {ok} evidence (each verified once, replays \
         refused), {busy} refused 503, {} failures, in {challenges_done:?}; {SLOW} slow clients: \
         {cut_off} cut off (statuses {:?}); server stats {stats:?}; RSS {rss0} -> {rss1} KiB, \
         peak RSS (VmHWM) {hwm} KiB",
        failures.len(),
        {
            let mut s = slow_statuses.clone();
            s.sort();
            s.dedup();
            s
        }
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        ok + busy,
        CHALLENGES,
        "every challenge answered or refused with 503"
    );
    assert!(ok > 0, "some challenges got evidence");
    assert_eq!(stats.attested as usize, ok);
    assert_eq!(stats.busy as usize, busy);
    assert_eq!(cut_off, SLOW, "slow clients are cut off: {slow_statuses:?}");
    assert!(
        rss1.saturating_sub(rss0) < RSS_GROWTH_BOUND_KIB,
        "resident set grew by {} KiB",
        rss1.saturating_sub(rss0)
    );
}
