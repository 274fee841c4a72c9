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

mod cache;
mod chains;
mod fetch;
mod mock;
mod setup;

use mock::*;

// ---- fixtures ----

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
