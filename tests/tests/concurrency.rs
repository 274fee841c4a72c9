//! Concurrency (issue 12): many threads attesting through one agent instance.
//!
//! "One agent instance" is what `serve` runs: one backend behind one mutex, shared by every
//! thread (`Arc<Mutex<Box<dyn Backend>>>`). Here 32 threads each attest several times through
//! it, on the simulator, with a wiretap on the GHCB recording every (VMPCK, sequence number) the
//! guest sends in the order the host sees them. Asserted:
//! - every attestation succeeds and answers *its* caller (REPORT_DATA is the caller's);
//! - sequence numbers are strictly increasing per VMPCK (each new message +2: request and
//!   response each take one), with no pair ever carrying two messages, and the firmware saw no
//!   violation;
//! - no deadlock: the whole run finishes (a watchdog fails the test instead of hanging CI).
//!
//! The same with two agent instances on one platform, each with its own VMPCK (a VMPL-0 and a
//! VMPL-1 component of one guest), and with a host answering BUSY now and then.

use std::collections::{BTreeMap, HashSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use snp_agent::backend::sim::SimBackend;
use snp_agent::backend::{Backend, ReportRequest};
use snp_certs::product::Product;
use snp_certs::roots::TrustAnchors;
use snp_certs::table::CertTable;
use snp_certs::verify::{Endorsements, Verifier};
use snp_ghcb::driver::{Gpa, PlatformError, Vmgexit};
use snp_ghcb::page::{Ghcb, PAGE_SIZE};
use snp_ghcb::retry::RetryPolicy;
use snp_sim::clock::ManualClock;
use snp_sim::face::ghcb::GhcbFace;
use snp_sim::faults::{Faults, Repeat, Throttle};
use snp_sim::platform::SimPlatform;

const THREADS: usize = 32;
const PER_THREAD: usize = 4;
/// Generous: the run takes a few seconds; only a deadlock gets near this.
const WATCHDOG: Duration = Duration::from_secs(300);

/// Every message on the wire, in order: (VMPCK, seqno, request bytes).
type Wire = Arc<Mutex<Vec<(u8, u64, Vec<u8>)>>>;

struct Tap {
    inner: GhcbFace,
    wire: Wire,
}

impl Vmgexit for Tap {
    fn alloc_shared(&mut self, npages: usize) -> Result<Gpa, PlatformError> {
        self.inner.alloc_shared(npages)
    }
    fn free_shared(&mut self, gpa: Gpa, npages: usize) {
        self.inner.free_shared(gpa, npages)
    }
    fn write_shared(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), PlatformError> {
        self.inner.write_shared(gpa, data)
    }
    fn read_shared(&mut self, gpa: Gpa, out: &mut [u8]) -> Result<(), PlatformError> {
        self.inner.read_shared(gpa, out)
    }
    fn vmgexit(&mut self, ghcb: &mut Ghcb) -> Result<(), PlatformError> {
        let mut page = vec![0u8; PAGE_SIZE];
        self.inner.read_shared(ghcb.sw_exit_info_1(), &mut page)?;
        let seqno = u64::from_le_bytes(page[0x20..0x28].try_into().unwrap());
        self.wire.lock().unwrap().push((page[0x3C], seqno, page));
        self.inner.vmgexit(ghcb)
    }
    fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError> {
        self.inner.msr_exchange(value)
    }
}

type Shared = Arc<Mutex<Box<dyn Backend>>>;

fn agent(platform: &SimPlatform, vmpck: u8, wire: &Wire) -> Shared {
    let tap = Tap {
        inner: GhcbFace::new(platform.clone()),
        wire: wire.clone(),
    };
    let b = SimBackend::on_face(tap, platform.clone(), vmpck, RetryPolicy::default())
        .expect("guest driver");
    Arc::new(Mutex::new(Box::new(b)))
}

fn anchors(platform: &SimPlatform) -> TrustAnchors {
    let roots = platform.roots().unwrap();
    TrustAnchors::explicit()
        .with_chain(
            platform.product(),
            &roots.ark_der,
            Some(&roots.ask_der),
            Some(&roots.asvk_der),
        )
        .unwrap()
}

/// Run `THREADS` threads, thread `t` using `agents[t % agents.len()]`, each attesting
/// `PER_THREAD` times with REPORT_DATA naming (thread, i); verify every answer. Fails (rather
/// than hangs) if the threads do not finish within the watchdog.
/// Each agent comes with the VMPL its callers request (a VMPCK`n` holder runs at VMPL `n`).
fn hammer(platform: &SimPlatform, agents: Vec<(Shared, u32)>) -> usize {
    let verifier = Arc::new(Verifier::new(anchors(platform)));
    let (done_tx, done_rx) = mpsc::channel();
    let mut handles = Vec::new();
    for t in 0..THREADS {
        let (agent, vmpl) = agents[t % agents.len()].clone();
        let verifier = verifier.clone();
        let done = done_tx.clone();
        handles.push(std::thread::spawn(move || {
            let mut ok = 0;
            for i in 0..PER_THREAD {
                let mut report_data = [0u8; 64];
                report_data[..8].copy_from_slice(&(t as u64).to_le_bytes());
                report_data[8..16].copy_from_slice(&(i as u64).to_le_bytes());
                let req = ReportRequest { report_data, vmpl };
                let ext = agent
                    .lock()
                    .unwrap()
                    .get_ext_report(&req)
                    .unwrap_or_else(|e| panic!("thread {t} request {i}: {e}"));
                assert_eq!(
                    &ext.report[0x50..0x90],
                    &report_data,
                    "answered someone else"
                );
                let table = CertTable::parse(&ext.cert_table).expect("table");
                let vcek = table.vcek().expect("VCEK").der().expect("DER").to_vec();
                verifier
                    .verify(&ext.report, &Endorsements::new(vcek))
                    .unwrap_or_else(|e| panic!("thread {t} request {i}: {e}"));
                ok += 1;
            }
            let _ = done.send(ok);
        }));
    }
    drop(done_tx);
    let mut total = 0;
    for _ in 0..THREADS {
        total += done_rx
            .recv_timeout(WATCHDOG)
            .expect("a thread panicked or the agent deadlocked (watchdog)");
    }
    for h in handles {
        h.join().expect("thread");
    }
    total
}

/// Sequence numbers strictly increasing per VMPCK in wire order (BUSY resends repeat the
/// identical message and are skipped), each new one +2, no pair with two messages.
fn assert_seqnos(wire: &Wire) -> BTreeMap<u8, usize> {
    let wire = wire.lock().unwrap();
    let mut last: BTreeMap<u8, (u64, &Vec<u8>)> = BTreeMap::new();
    let mut per_key: BTreeMap<u8, usize> = BTreeMap::new();
    let mut seen = HashSet::new();
    for (vmpck, seqno, bytes) in wire.iter() {
        if let Some((prev, prev_bytes)) = last.get(vmpck) {
            if seqno == prev {
                assert_eq!(
                    bytes, *prev_bytes,
                    "VMPCK{vmpck} seqno {seqno} carried two messages"
                );
                continue;
            }
            assert_eq!(*seqno, prev + 2, "VMPCK{vmpck}: {prev} then {seqno}");
        }
        assert!(
            seen.insert((*vmpck, *seqno)),
            "VMPCK{vmpck} seqno {seqno} reused"
        );
        last.insert(*vmpck, (*seqno, bytes));
        *per_key.entry(*vmpck).or_default() += 1;
    }
    per_key
}

#[test]
fn thirty_two_threads_through_one_agent() {
    let platform = SimPlatform::builder(Product::Genoa)
        .clock(Arc::new(ManualClock::new()))
        .build()
        .unwrap();
    let wire: Wire = Arc::default();
    let a = agent(&platform, 0, &wire);
    let t0 = std::time::Instant::now();
    let total = hammer(&platform, vec![(a, 0)]);
    assert_eq!(total, THREADS * PER_THREAD);
    let per_key = assert_seqnos(&wire);
    assert_eq!(per_key.get(&0), Some(&(THREADS * PER_THREAD)));
    let c = platform.counters();
    assert_eq!(c.fw_requests as usize, THREADS * PER_THREAD);
    assert_eq!((c.seqno_violations, c.auth_failures), (0, 0));
    eprintln!(
        "concurrency: {THREADS} threads x {PER_THREAD} attestations through one agent: {total} \
         verified, {} firmware requests, seqnos strictly increasing on VMPCK0, {:?} wall",
        c.fw_requests,
        t0.elapsed()
    );
}

#[test]
fn two_agents_with_their_own_vmpck_on_one_platform() {
    let platform = SimPlatform::builder(Product::Milan)
        .clock(Arc::new(ManualClock::new()))
        .build()
        .unwrap();
    let wire: Wire = Arc::default();
    let agents = vec![
        (agent(&platform, 0, &wire), 0),
        (agent(&platform, 1, &wire), 1),
    ];
    let total = hammer(&platform, agents);
    assert_eq!(total, THREADS * PER_THREAD);
    let per_key = assert_seqnos(&wire);
    let half = THREADS / 2 * PER_THREAD;
    assert_eq!(per_key.get(&0), Some(&half));
    assert_eq!(per_key.get(&1), Some(&half));
    assert_eq!(platform.counters().seqno_violations, 0);
}

#[test]
fn thirty_two_threads_while_the_host_is_busy_now_and_then() {
    let platform = SimPlatform::builder(Product::Turin)
        .clock(Arc::new(ManualClock::new()))
        .faults(Faults {
            busy: Repeat::Times(5),
            invalid_len_storm: 2,
            // At most 8 requests per simulated second: the host answers BUSY now and then.
            throttle: Some(Throttle {
                max_requests: 8,
                window: Duration::from_secs(1),
            }),
            ..Faults::default()
        })
        .build()
        .unwrap();
    let wire: Wire = Arc::default();
    let a = agent(&platform, 0, &wire);
    let total = hammer(&platform, vec![(a, 0)]);
    assert_eq!(total, THREADS * PER_THREAD);
    assert_seqnos(&wire);
    let c = platform.counters();
    assert!(c.busy_answers >= 5 + c.throttled, "{c:?}");
    assert!(c.throttled > 0, "the throttle fired: {c:?}");
    assert_eq!(c.invalid_len_answers, 2);
    eprintln!(
        "concurrency with a busy host: {total} verified, {} BUSY answers ({} throttled), 2 INVALID_LEN",
        c.busy_answers, c.throttled
    );
    assert_eq!(c.seqno_violations, 0);
    // Every request, the two burns and nothing else reached the firmware.
    assert_eq!(c.fw_requests as usize, THREADS * PER_THREAD + 2);
}
