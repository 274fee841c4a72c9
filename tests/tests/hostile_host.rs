//! The hostile-host battery (issue 12): the host is the adversary the agent exists to check.
//!
//! Every scenario runs the agent's GHCB request path (`SimBackend`: the `snp-ghcb` guest driver
//! and its one retry policy) on the simulator, through [`Hostile`] — a `Vmgexit` that sits where
//! the hypervisor sits and can do anything a hypervisor can: answer without forwarding, forward
//! and then rewrite the answer, rewrite the shared pages before or after the guest reads them,
//! re-seal a response under the right key but with a wrong header (a firmware bug or a key leak:
//! the tag alone must not be all the guest checks), lose the exit. The simulator's own fault
//! knobs (`snp_sim::faults::Faults`) are used where they already model the behaviour.
//!
//! Time is a `ManualClock` shared by host and guest: backoffs and deadlines take no real time, and
//! no test sleeps. Every scenario asserts
//! - the exact typed error (`BackendError` variant and its fields) or the correct recovery (the
//!   report verifies against the VCEK the host served, chained to the simulator's roots);
//! - a bound on host exits and on (simulated) time for the call;
//! - no (VMPCK, sequence number) pair reused: the wiretap compares the bytes of every message
//!   sent under each pair, and the simulated firmware counts sequence-number violations;
//! - no panic (each scenario is its own `#[test]`).
//!
//! `battery_has_thirty_named_scenarios` counts the scenarios and lists each one's expected
//! outcome, so the battery cannot shrink silently.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use snp_agent::backend::sim::SimBackend;
use snp_agent::backend::{Backend, BackendError, BackendKind, ExtendedReport, ReportRequest};
use snp_agent::evidence::Evidence;
use snp_certs::product::Product;
use snp_certs::roots::TrustAnchors;
use snp_certs::table::{CertTable, TableError, PAGE_SIZE as TABLE_PAGE};
use snp_certs::verify::{CheckStatus, Endorsements, VerificationOutcome, Verifier};
use snp_ghcb::driver::{Gpa, PlatformError, Vmgexit};
use snp_ghcb::exit::{FwStatus, BUSY, INVALID_LEN, SNP_EXTENDED_GUEST_REQUEST};
use snp_ghcb::message::{open, seal, MsgMeta, MsgType, Vmpck, VmpckId, MAX_PAYLOAD, MSG_HDR_SIZE};
use snp_ghcb::page::{Field, Ghcb, PAGE_SIZE};
use snp_ghcb::retry::RetryPolicy;
use snp_sim::clock::ManualClock;
use snp_sim::counters::CountersSnapshot;
use snp_sim::face::ghcb::GhcbFace;
use snp_sim::faults::{Faults, NoCerts, Repeat, Throttle};
use snp_sim::platform::SimPlatform;

// ----- the hostile hypervisor --------------------------------------------------------------------

/// What the host does with one guest-request exit, decided before it is forwarded.
enum Before {
    /// Forward it to KVM/firmware as a well-behaved host would.
    Forward,
    /// Answer without forwarding: SW_EXITINFO2 = `exit_info_2`, RBX = `rbx` (if `Some`).
    Answer { exit_info_2: u64, rbx: Option<u64> },
    /// The exit is lost (the platform reports it could not be completed).
    Lose(PlatformError),
}

/// Everything one exit hands the host: the platform (shared memory), the GHCB, and which
/// guest-request exit of the test this is (0-based).
struct Exit<'a> {
    platform: &'a SimPlatform,
    ghcb: &'a mut Ghcb,
    index: usize,
    /// SW_EXITINFO1/2 and RAX as the guest set them (the host overwrites the first two with
    /// its answer).
    req: Gpa,
    resp: Gpa,
    certs: Gpa,
}

impl Exit<'_> {
    fn is_extended(&self) -> bool {
        self.ghcb.sw_exit_code() == SNP_EXTENDED_GUEST_REQUEST
    }
    fn req_gpa(&self) -> Gpa {
        self.req
    }
    fn resp_gpa(&self) -> Gpa {
        self.resp
    }
    fn cert_gpa(&self) -> Gpa {
        self.certs
    }
    fn read(&self, gpa: Gpa, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.platform
            .read_shared(gpa, &mut v)
            .expect("host reads shared memory");
        v
    }
    fn write(&self, gpa: Gpa, data: &[u8]) {
        self.platform
            .write_shared(gpa, data)
            .expect("host writes shared memory");
    }
}

type BeforeHook = Box<dyn FnMut(&mut Exit<'_>) -> Before + Send>;
type AfterHook = Box<dyn FnMut(&mut Exit<'_>) + Send>;
/// Called on every guest read of shared memory *after* the data was copied out, with the GPA
/// and length: the host may then change the page (a second read would see the change).
type ReadHook = Box<dyn FnMut(&SimPlatform, Gpa, usize) + Send>;

#[derive(Default)]
struct Script {
    before: Option<BeforeHook>,
    after: Option<AfterHook>,
    on_read: Option<ReadHook>,
}

/// What the host saw.
#[derive(Default)]
struct Log {
    /// Guest-request exits seen (forwarded or not).
    exits: usize,
    /// Every message by (VMPCK, seqno): the request page bytes.
    wire: HashMap<(u8, u64), Vec<u8>>,
    /// (VMPCK, seqno) pairs that carried two different messages.
    reuse: Vec<(u8, u64)>,
    /// Every (VMPCK, seqno) in the order sent.
    sent: Vec<(u8, u64)>,
    /// Reads of each GPA the guest made.
    reads: HashMap<Gpa, usize>,
}

struct Hostile {
    inner: GhcbFace,
    platform: SimPlatform,
    script: Arc<Mutex<Script>>,
    log: Arc<Mutex<Log>>,
}

impl Vmgexit for Hostile {
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
        self.inner.read_shared(gpa, out)?;
        *self.log.lock().unwrap().reads.entry(gpa).or_default() += 1;
        if let Some(hook) = self.script.lock().unwrap().on_read.as_mut() {
            hook(&self.platform, gpa, out.len());
        }
        Ok(())
    }
    fn vmgexit(&mut self, ghcb: &mut Ghcb) -> Result<(), PlatformError> {
        let mut page = vec![0u8; PAGE_SIZE];
        self.inner.read_shared(ghcb.sw_exit_info_1(), &mut page)?;
        let seqno = u64::from_le_bytes(page[0x20..0x28].try_into().unwrap());
        let vmpck = page[0x3C];
        let index = {
            let mut log = self.log.lock().unwrap();
            match log.wire.get(&(vmpck, seqno)) {
                Some(prev) if *prev != page => log.reuse.push((vmpck, seqno)),
                Some(_) => {}
                None => {
                    log.wire.insert((vmpck, seqno), page);
                }
            }
            log.sent.push((vmpck, seqno));
            log.exits += 1;
            log.exits - 1
        };
        let mut script = self.script.lock().unwrap();
        let (req, resp, certs) = (ghcb.sw_exit_info_1(), ghcb.sw_exit_info_2(), ghcb.rax());
        let mut exit = Exit {
            platform: &self.platform,
            ghcb,
            index,
            req,
            resp,
            certs,
        };
        let before = match script.before.as_mut() {
            Some(h) => h(&mut exit),
            None => Before::Forward,
        };
        match before {
            Before::Forward => {}
            Before::Answer { exit_info_2, rbx } => {
                exit.ghcb.set_sw_exit_info_1(0);
                exit.ghcb.set_sw_exit_info_2(exit_info_2);
                if let Some(r) = rbx {
                    exit.ghcb.set_rbx(r);
                } else {
                    exit.ghcb.mark_invalid(Field::Rbx);
                }
                return Ok(());
            }
            Before::Lose(e) => return Err(e),
        }
        self.inner.vmgexit(exit.ghcb)?;
        if let Some(h) = script.after.as_mut() {
            h(&mut exit);
        }
        Ok(())
    }
    fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError> {
        self.inner.msr_exchange(value)
    }
}

// ----- the rig -----------------------------------------------------------------------------------

/// Exits one call may make at most, whatever the host does: the retry policy's bounds
/// (40 BUSY resends, 3 INVALID_LEN rounds each with a burn) with room for a pending resend.
const MAX_EXITS_PER_CALL: usize = 2 * (40 + 1) + 2 * (3 + 1) + 2;

struct Rig {
    platform: SimPlatform,
    clock: ManualClock,
    backend: SimBackend<Hostile>,
    script: Arc<Mutex<Script>>,
    log: Arc<Mutex<Log>>,
    n: u8,
}

/// One call's outcome and what it cost.
struct Call {
    result: Result<ExtendedReport, BackendError>,
    counters: CountersSnapshot,
    exits: usize,
    elapsed: Duration,
}

impl Rig {
    fn new(faults: Faults) -> Rig {
        Rig::with_product(Product::Genoa, faults)
    }

    fn with_product(product: Product, faults: Faults) -> Rig {
        let clock = ManualClock::new();
        let platform = SimPlatform::builder(product)
            .clock(Arc::new(clock.clone()))
            .faults(faults)
            .build()
            .expect("simulated platform");
        let script: Arc<Mutex<Script>> = Arc::default();
        let log: Arc<Mutex<Log>> = Arc::default();
        let face = Hostile {
            inner: GhcbFace::new(platform.clone()),
            platform: platform.clone(),
            script: script.clone(),
            log: log.clone(),
        };
        let backend = SimBackend::on_face(face, platform.clone(), 0, RetryPolicy::default())
            .expect("guest driver");
        Rig {
            platform,
            clock,
            backend,
            script,
            log,
            n: 0,
        }
    }

    fn before(&self, h: impl FnMut(&mut Exit<'_>) -> Before + Send + 'static) {
        self.script.lock().unwrap().before = Some(Box::new(h));
    }
    fn after(&self, h: impl FnMut(&mut Exit<'_>) + Send + 'static) {
        self.script.lock().unwrap().after = Some(Box::new(h));
    }
    fn on_read(&self, h: impl FnMut(&SimPlatform, Gpa, usize) + Send + 'static) {
        self.script.lock().unwrap().on_read = Some(Box::new(h));
    }
    /// The host behaves again.
    fn behave(&self) {
        *self.script.lock().unwrap() = Script::default();
        self.platform.set_faults(Faults::default());
    }

    /// One extended-report call, with its bounds and the no-reuse invariant checked.
    fn call(&mut self) -> Call {
        self.n = self.n.wrapping_add(1);
        let req = ReportRequest {
            report_data: [self.n; 64],
            vmpl: 0,
        };
        let before = self.platform.counters();
        let exits0 = self.log.lock().unwrap().exits;
        let t0 = self.clock.elapsed();
        let result = self.backend.get_ext_report(&req);
        let elapsed = self.clock.elapsed() - t0;
        let exits = self.log.lock().unwrap().exits - exits0;
        let counters = delta(&before, &self.platform.counters());
        if let Ok(ext) = &result {
            assert_eq!(ext.report.len(), 0x4A0, "report size");
            assert_eq!(&ext.report[0x50..0x90], &[self.n; 64], "REPORT_DATA");
        }
        assert!(exits <= MAX_EXITS_PER_CALL, "{exits} exits in one call");
        assert!(
            elapsed <= RetryPolicy::default().deadline + RetryPolicy::default().max_backoff,
            "one call took {elapsed:?} of (simulated) time"
        );
        self.assert_no_reuse();
        Call {
            result,
            counters,
            exits,
            elapsed,
        }
    }

    fn assert_no_reuse(&self) {
        let log = self.log.lock().unwrap();
        assert!(
            log.reuse.is_empty(),
            "different messages under one (VMPCK, seqno): {:?}",
            log.reuse
        );
        assert_eq!(
            self.platform.counters().seqno_violations,
            0,
            "the firmware saw a reused or skipped sequence number"
        );
    }

    /// A call that must succeed with the full chain in one firmware request, and verify.
    fn steady_state(&mut self) -> ExtendedReport {
        let c = self.call();
        let ext = c
            .result
            .unwrap_or_else(|e| panic!("the steady state after recovery failed: {e}"));
        assert_eq!(
            c.counters.fw_requests, 1,
            "steady state: one firmware request"
        );
        assert_eq!(ext.cert_table, self.platform.expected_blob().unwrap());
        self.verify(&ext).expect("steady-state evidence verifies");
        ext
    }

    fn verify(&self, ext: &ExtendedReport) -> Result<(), snp_certs::verify::VerifyError> {
        self.verify_detailed(ext).result.map(drop)
    }

    /// Verify evidence against the VCEK in its table, chained to the simulator's roots.
    fn verify_detailed(&self, ext: &ExtendedReport) -> VerificationOutcome {
        let table = CertTable::parse(&ext.cert_table).expect("table parses");
        let vcek = table
            .vcek()
            .expect("a VCEK is served")
            .der()
            .expect("VCEK DER");
        let roots = self.platform.roots().unwrap();
        let anchors = TrustAnchors::explicit()
            .with_chain(
                self.platform.product(),
                &roots.ark_der,
                Some(&roots.ask_der),
                Some(&roots.asvk_der),
            )
            .unwrap();
        Verifier::new(anchors).verify_detailed(&ext.report, &Endorsements::new(vcek.to_vec()))
    }

    /// The report verifies against the platform's own VCEK (when the table did not carry one).
    fn verify_report_only(&self, ext: &ExtendedReport) {
        let roots = self.platform.roots().unwrap();
        let anchors = TrustAnchors::explicit()
            .with_chain(
                self.platform.product(),
                &roots.ark_der,
                Some(&roots.ask_der),
                Some(&roots.asvk_der),
            )
            .unwrap();
        Verifier::new(anchors)
            .verify(&ext.report, &Endorsements::new(self.platform.vcek_der()))
            .expect("the report verifies against the platform's VCEK");
    }

    fn key(&self) -> Vmpck {
        Vmpck::new(self.platform.guest_vmpck(0).expect("VMPCK0"))
    }

    fn exits(&self) -> usize {
        self.log.lock().unwrap().exits
    }
}

fn delta(a: &CountersSnapshot, b: &CountersSnapshot) -> CountersSnapshot {
    CountersSnapshot {
        fw_requests: b.fw_requests - a.fw_requests,
        fw_responses: b.fw_responses - a.fw_responses,
        plain_requests: b.plain_requests - a.plain_requests,
        ext_requests: b.ext_requests - a.ext_requests,
        invalid_len_answers: b.invalid_len_answers - a.invalid_len_answers,
        busy_answers: b.busy_answers - a.busy_answers,
        throttled: b.throttled - a.throttled,
        certs_served: b.certs_served - a.certs_served,
        auth_failures: b.auth_failures - a.auth_failures,
        fw_errors: b.fw_errors - a.fw_errors,
        ..CountersSnapshot::default()
    }
}

fn expect_err(mut c: Call) -> (BackendError, Call) {
    let taken = std::mem::replace(&mut c.result, Err(BackendError::Internal(String::new())));
    match taken {
        Ok(_) => panic!("the hostile host was not detected"),
        Err(e) => (e, c),
    }
}

/// The key is gone: the next call is refused without any exit.
fn assert_key_disabled_now(rig: &mut Rig) {
    rig.behave();
    let exits0 = rig.exits();
    let c = rig.call();
    let (e, c) = expect_err(c);
    assert!(
        matches!(
            e,
            BackendError::VmpckDisabled {
                backend: BackendKind::Sim,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_key_disabled());
    assert_eq!(c.exits, 0);
    assert_eq!(rig.exits(), exits0);
}

fn invalid_len(pages: u64) -> Before {
    Before::Answer {
        exit_info_2: INVALID_LEN,
        rbx: Some(pages),
    }
}

/// Re-seal the response on the response page with `meta` changed by `f` (the host, or a
/// firmware bug, producing a response that authenticates but is not the one expected).
fn reseal_response(x: &mut Exit<'_>, key: &Vmpck, f: impl FnOnce(&mut MsgMeta)) {
    let page = x.read(x.resp_gpa(), PAGE_SIZE);
    let req = x.read(x.req_gpa(), PAGE_SIZE);
    let seqno = u64::from_le_bytes(req[0x20..0x28].try_into().unwrap());
    let meta = MsgMeta {
        seqno: seqno + 1,
        msg_type: MsgType::ReportRsp,
        msg_version: 1,
        vmpck_id: VmpckId::ZERO,
    };
    let mut plain = vec![0u8; MAX_PAYLOAD];
    let n = open(&page, &meta, key, &mut plain).expect("the firmware's response opens");
    let mut bad = meta;
    f(&mut bad);
    let mut out = vec![0u8; PAGE_SIZE];
    let len = seal(&mut out, &bad, key, &plain[..n]).expect("reseal");
    assert!(len <= PAGE_SIZE);
    x.write(x.resp_gpa(), &out);
}

fn response_rejected(e: &BackendError) -> bool {
    matches!(
        e,
        BackendError::ResponseRejected {
            backend: BackendKind::Sim,
            ..
        }
    )
}

// ----- the scenarios -----------------------------------------------------------------------------

/// Expected outcome of each scenario, as listed in the closing note of the issue.
const SCENARIOS: &[(&str, &str)] = &[
    ("well_behaved_host", "success; one firmware request; evidence verifies"),
    ("busy_then_invalid_len_then_stale_blob", "success after 1 BUSY + 1 INVALID_LEN; verification fails at report_signature, tcb_binding fails too (stale VCEK)"),
    ("invalid_len_asking_for_zero_pages", "HostMisbehaved (InvalidLenNoGrowth); seqno burnt; key kept; recovers"),
    ("invalid_len_asking_for_2_pow_20_pages", "CertsTooLarge{needed: 2^32 bytes, max: 256 KiB}; key kept; recovers"),
    ("invalid_len_forever_growing", "HostMisbehaved (TooManyInvalidLen) after 4 rounds; key kept; recovers"),
    ("invalid_len_asking_for_what_was_given", "HostMisbehaved (InvalidLenNoGrowth); key kept"),
    ("invalid_len_without_page_count", "HostMisbehaved (InvalidLenWithoutSize); key kept"),
    ("invalid_len_on_the_burn", "HostError; key wiped (plain request cannot be INVALID_LEN)"),
    ("response_with_wrong_sequence_number", "ResponseRejected; key wiped; next call VmpckDisabled with no exit"),
    ("response_with_wrong_message_type", "ResponseRejected; key wiped"),
    ("response_with_wrong_message_version", "ResponseRejected; key wiped"),
    ("response_for_another_vmpck", "ResponseRejected; key wiped"),
    ("response_length_past_the_page", "ResponseRejected; key wiped"),
    ("response_with_bad_tag", "ResponseRejected; key wiped"),
    ("response_replayed_from_earlier_request", "ResponseRejected; key wiped"),
    ("response_page_zeroed", "ResponseRejected; key wiped"),
    ("response_changed_between_two_reads", "success: the guest reads the response page once; the later change is never seen"),
    ("cert_pages_changed_after_the_guest_read_them", "success with the table as first read"),
    ("cert_table_entries_overlap", "report returned; TableError::Overlap; evidence has no endorsements"),
    ("cert_table_entry_points_past_the_buffer", "TableError::PayloadPastEnd / OffsetPastEnd"),
    ("cert_table_without_terminator", "TableError::MissingTerminator or TooManyEntries"),
    ("cert_table_duplicate_vcek", "TableError::DuplicateKnown"),
    ("host_tampers_with_the_request", "firmware auth failure -> Firmware{status}; key wiped"),
    ("exit_info_not_marked_valid", "HostError (outcome unknown); key wiped"),
    ("exit_lost_after_forwarding", "HostError (platform lost the exit); key wiped"),
    ("exit_failed_before_the_host_saw_it", "HostError naming the lost exit; key wiped (the request page was host-shared: issue 16)"),
    ("busy_forever", "BusyTimeout within the 60 s deadline; the identical message re-sent; key wiped (a BUSY host may have forwarded it: issue 16)"),
    ("busy_then_invalid_len_forever", "HostMisbehaved (INVALID_LEN 4 times) after 2 BUSY; recovers"),
    ("invalid_len_then_busy_forever_on_the_burn", "BusyTimeout; key wiped, the burn is never re-sealed under another seqno"),
    ("throttling_host", "success after waiting out the window"),
    ("wrong_vcek_served", "report returned; verification fails at report_signature, chip_id_binding fails too"),
    ("no_certificates_served", "success with an empty table"),
    ("ghcb_rejected", "HostError; key wiped"),
    ("generic_vmm_error", "HostError; key wiped"),
    ("firmware_refuses", "Firmware{status}; key wiped"),
    ("truncated_firmware_response", "MalformedResponse (need 1216 bytes)"),
    ("host_rewrites_the_ghcb_exit_code", "success with an empty table; the report verifies; no reuse"),
];

#[test]
fn battery_has_thirty_named_scenarios() {
    assert!(SCENARIOS.len() >= 30, "{} scenarios", SCENARIOS.len());
    let mut names: Vec<_> = SCENARIOS.iter().map(|(n, _)| *n).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), SCENARIOS.len(), "scenario names are unique");
    for (name, outcome) in SCENARIOS {
        eprintln!("{name}: {outcome}");
    }
}

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

/// A response that authenticates but whose header is not the expected one: refused, key wiped.
fn resealed(f: fn(&mut MsgMeta)) {
    let mut rig = Rig::new(Faults::default());
    let key = rig.key();
    rig.after(move |x| reseal_response(x, &key, f));
    let (e, c) = expect_err(rig.call());
    assert!(response_rejected(&e), "{e:?}");
    assert!(e.is_key_disabled());
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn response_with_wrong_sequence_number() {
    resealed(|m| m.seqno += 2);
}

#[test]
fn response_with_wrong_message_type() {
    resealed(|m| m.msg_type = MsgType::KeyRsp);
}

#[test]
fn response_with_wrong_message_version() {
    resealed(|m| m.msg_version = 2);
}

#[test]
fn response_for_another_vmpck() {
    resealed(|m| m.vmpck_id = VmpckId::new(1).unwrap());
}

/// The host rewrites bytes of the response page after the firmware wrote it.
fn response_edited(edit: fn(&mut Vec<u8>)) {
    let mut rig = Rig::new(Faults::default());
    rig.after(move |x| {
        let mut page = x.read(x.resp_gpa(), PAGE_SIZE);
        edit(&mut page);
        x.write(x.resp_gpa(), &page);
    });
    let (e, c) = expect_err(rig.call());
    assert!(response_rejected(&e), "{e:?}");
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn response_length_past_the_page() {
    // MSG_SIZE (0x3E..0x40) claims more than a page can hold.
    response_edited(|p| p[0x3E..0x40].copy_from_slice(&0xFFFFu16.to_le_bytes()));
}

#[test]
fn response_with_bad_tag() {
    response_edited(|p| p[0x05] ^= 0x80);
}

#[test]
fn response_page_zeroed() {
    response_edited(|p| p.fill(0));
}

#[test]
fn response_replayed_from_earlier_request() {
    let mut rig = Rig::new(Faults::default());
    rig.steady_state();
    rig.platform.set_faults(Faults {
        replay_response: Repeat::Times(1),
        ..Faults::default()
    });
    let (e, c) = expect_err(rig.call());
    assert!(response_rejected(&e), "{e:?}");
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn response_changed_between_two_reads() {
    // After the guest's first read of the response page, the host replaces it with garbage. A
    // guest that read the page twice (check, then use) would see different bytes the second
    // time; ours reads it once into private memory.
    let mut rig = Rig::new(Faults::default());
    let resp: Arc<Mutex<Option<Gpa>>> = Arc::default();
    let r = resp.clone();
    rig.after(move |x| *r.lock().unwrap() = Some(x.resp_gpa()));
    let r = resp.clone();
    rig.on_read(move |p, gpa, _| {
        if Some(gpa) == *r.lock().unwrap() {
            p.write_shared(gpa, &[0x5A; PAGE_SIZE]).unwrap();
        }
    });
    let c = rig.call();
    let ext = c.result.expect("the first read is what counts");
    rig.verify(&ext)
        .expect("evidence from the first read verifies");
    let gpa = resp.lock().unwrap().expect("response GPA");
    assert_eq!(
        rig.log.lock().unwrap().reads.get(&gpa),
        Some(&1),
        "read once"
    );
    rig.behave();
    rig.steady_state();
}

#[test]
fn cert_pages_changed_after_the_guest_read_them() {
    let mut rig = Rig::new(Faults::default());
    let certs: Arc<Mutex<Option<Gpa>>> = Arc::default();
    let cg = certs.clone();
    rig.after(move |x| *cg.lock().unwrap() = Some(x.cert_gpa()));
    let cg = certs.clone();
    rig.on_read(move |p, gpa, len| {
        if Some(gpa) == *cg.lock().unwrap() {
            p.write_shared(gpa, &vec![0xEE; len]).unwrap();
        }
    });
    let ext = rig.call().result.expect("success");
    assert_eq!(ext.cert_table, rig.platform.expected_blob().unwrap());
    rig.verify(&ext).expect("verifies");
}

/// The host serves `table` (a whole cert buffer) instead of its blob; returns what the guest got.
fn served_table(table: Vec<u8>) -> (Rig, ExtendedReport) {
    let mut rig = Rig::new(Faults::default());
    rig.after(move |x| {
        if x.is_extended() && x.ghcb.sw_exit_info_2() == 0 {
            let pages = x.ghcb.rbx() as usize;
            let mut buf = table.clone();
            buf.resize(pages * PAGE_SIZE, 0);
            x.write(x.cert_gpa(), &buf);
        }
    });
    let c = rig.call();
    let ext = c.result.expect("the report itself is fine");
    assert_eq!(c.counters.fw_requests, 1);
    (rig, ext)
}

fn entry(guid: [u8; 16], offset: u32, len: u32) -> Vec<u8> {
    let mut e = guid.to_vec();
    e.extend_from_slice(&offset.to_le_bytes());
    e.extend_from_slice(&len.to_le_bytes());
    e
}

/// GUIDs as stored in the table.
fn guid_bytes(kind: &str) -> [u8; 16] {
    use snp_certs::table::Guid;
    match kind {
        "vcek" => Guid::VCEK.0,
        "ask" => Guid::ASK.0,
        _ => Guid::ARK.0,
    }
}

fn table_error_of(ext: &ExtendedReport) -> TableError {
    let e = CertTable::parse(&ext.cert_table).expect_err("hostile table refused");
    // The evidence built from it says why instead of verifying anything.
    let ev = Evidence::new(ext.report.clone(), ext.cert_table.clone());
    let msg = ev
        .endorsements()
        .expect_err("no endorsements from a bad table")
        .to_string();
    assert!(msg.contains(&e.to_string()), "{msg}");
    e
}

#[test]
fn cert_table_entries_overlap() {
    let mut t = entry(guid_bytes("vcek"), 96, 200);
    t.extend(entry(guid_bytes("ask"), 150, 200));
    t.extend(entry(guid_bytes("ark"), 400, 100));
    t.extend([0u8; 24]);
    t.resize(600, 0x30);
    let (_rig, ext) = served_table(t);
    let e = table_error_of(&ext);
    assert!(
        matches!(
            e,
            TableError::Overlap {
                first: 0,
                second: 1,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn cert_table_entry_points_past_the_buffer() {
    let mut t = entry(guid_bytes("vcek"), 72, 0x7FFF_0000);
    t.extend(entry(guid_bytes("ark"), 4096 * 64, 16));
    t.extend([0u8; 24]);
    let (_rig, ext) = served_table(t);
    let e = table_error_of(&ext);
    assert!(
        matches!(
            e,
            TableError::PayloadPastEnd { index: 0, .. }
                | TableError::OffsetPastEnd { index: 0, .. }
        ),
        "{e:?}"
    );
    // The simulator's own corrupt-table fault is refused the same way.
    let mut rig = Rig::new(Faults {
        corrupt_table: true,
        ..Faults::default()
    });
    let ext = rig.call().result.expect("report");
    let e = table_error_of(&ext);
    assert!(
        matches!(
            e,
            TableError::PayloadPastEnd { .. } | TableError::OffsetPastEnd { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn cert_table_without_terminator() {
    // Every 24-byte slot of the 4 pages is a (valid-looking) entry: no terminator anywhere.
    let mut t = Vec::new();
    while t.len() + 24 <= 4 * PAGE_SIZE {
        t.extend(entry([0xA5; 16], 4 * PAGE_SIZE as u32 - 8, 8));
    }
    let (_rig, ext) = served_table(t);
    let e = table_error_of(&ext);
    assert!(
        matches!(
            e,
            TableError::TooManyEntries { .. } | TableError::MissingTerminator { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn cert_table_duplicate_vcek() {
    let mut t = entry(guid_bytes("vcek"), 96, 16);
    t.extend(entry(guid_bytes("vcek"), 112, 16));
    t.extend(entry(guid_bytes("ark"), 128, 16));
    t.extend([0u8; 24]);
    t.resize(144, 0x30);
    let (_rig, ext) = served_table(t);
    let e = table_error_of(&ext);
    assert!(matches!(e, TableError::DuplicateKnown { .. }), "{e:?}");
}

#[test]
fn host_tampers_with_the_request() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| {
        let mut req = x.read(x.req_gpa(), PAGE_SIZE);
        req[0x60] ^= 0x01; // first ciphertext byte
        x.write(x.req_gpa(), &req);
        Before::Forward
    });
    let (e, c) = expect_err(rig.call());
    assert_eq!(
        c.counters.auth_failures, 1,
        "the firmware caught the tampering"
    );
    assert!(
        matches!(
            &e,
            BackendError::Firmware {
                backend: BackendKind::Sim,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_key_disabled());
    // The wiretap saw the bytes before the host changed them: no reuse by the guest.
    assert_key_disabled_now(&mut rig);
}

#[test]
fn exit_info_not_marked_valid() {
    let mut rig = Rig::new(Faults::default());
    rig.after(|x| x.ghcb.mark_invalid(Field::SwExitInfo2));
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::HostError { detail, .. } if detail.contains("outcome unknown")),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn exit_lost_after_forwarding() {
    // The host forwarded the request (the firmware consumed the sequence number) and then the
    // exit never came back.
    let mut rig = Rig::new(Faults::default());
    let platform = rig.platform.clone();
    rig.before(move |x| {
        let mut ghcb = x.ghcb.clone();
        platform.vmgexit(&mut ghcb).expect("forwarded");
        Before::Lose(PlatformError::Terminated)
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::HostError { detail, .. } if detail.contains("lost the exit")),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn exit_failed_before_the_host_saw_it() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| {
        if x.index == 0 {
            Before::Lose(PlatformError::ExitNotDelivered("VM is being torn down"))
        } else {
            Before::Forward
        }
    });
    let (e, c) = expect_err(rig.call());
    // The sealed message sat in host-shared memory: whether or not the exit was delivered, the
    // host may hold it, so the key is retired rather than the message kept (issue 16).
    assert!(
        matches!(&e, BackendError::HostError { detail, .. } if detail.contains("never reached the host")),
        "{e:?}"
    );
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

#[test]
fn wrong_vcek_served() {
    let mut rig = Rig::new(Faults {
        wrong_vcek: true,
        ..Faults::default()
    });
    let ext = rig.call().result.expect("report");
    let e = rig.verify(&ext).expect_err("another chip's VCEK");
    // Another chip's key: the signature fails first, and the hwID does not match CHIP_ID.
    assert_eq!(e.check(), "report_signature", "{e}");
    let outcome = rig.verify_detailed(&ext);
    let chip = outcome
        .checks
        .iter()
        .find(|c| c.name == "chip_id_binding")
        .expect("ran");
    assert_eq!(chip.status, CheckStatus::Fail, "{}", chip.detail);
}

#[test]
fn no_certificates_served() {
    for how in [NoCerts::EmptyTable, NoCerts::ZeroBuffer] {
        let mut rig = Rig::new(Faults {
            no_certs: Some(how),
            ..Faults::default()
        });
        let ext = rig.call().result.expect("report without certificates");
        assert!(ext.cert_table.is_empty(), "{how:?}");
        let ev = Evidence::new(ext.report, ext.cert_table);
        assert!(matches!(ev.endorsements(), Ok(None)), "{how:?}");
    }
}

#[test]
fn ghcb_rejected() {
    let mut rig = Rig::new(Faults {
        ghcb_reject: Repeat::Times(1),
        ..Faults::default()
    });
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
    assert_eq!(c.counters.fw_requests, 0);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn generic_vmm_error() {
    let mut rig = Rig::new(Faults {
        generic_vmm_error: Repeat::Times(1),
        ..Faults::default()
    });
    let (e, _) = expect_err(rig.call());
    assert!(matches!(&e, BackendError::HostError { .. }), "{e:?}");
    assert_key_disabled_now(&mut rig);
}

#[test]
fn firmware_refuses() {
    let status = FwStatus::HwErrorPlatform;
    let mut rig = Rig::new(Faults {
        fw_error: Some((status.to_u32(), Repeat::Times(1))),
        ..Faults::default()
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::Firmware { backend: BackendKind::Sim, fw, status: None } if *fw == status),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn truncated_firmware_response() {
    let mut rig = Rig::new(Faults {
        truncate_response: Repeat::Times(1),
        ..Faults::default()
    });
    let (e, c) = expect_err(rig.call());
    // Authenticated (the firmware sealed it) but shorter than MSG_REPORT_RSP: 0x20 + 0x4A0.
    assert!(
        matches!(&e, BackendError::MalformedResponse(m) if m.contains("need 1216 bytes")),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 1);
}

#[test]
fn host_rewrites_the_ghcb_exit_code() {
    // The host answers the extended request as if it were a plain one (RBX not marked valid)
    // and wipes the certificate pages: the guest gets a verifiable report and an empty table,
    // never a crash or a reuse.
    let mut rig = Rig::new(Faults::default());
    rig.after(|x| {
        if x.is_extended() {
            x.ghcb.set_rbx(0);
            x.ghcb.mark_invalid(Field::Rbx);
            let pages = x.read(x.cert_gpa(), PAGE_SIZE).len();
            x.write(x.cert_gpa(), &vec![0u8; pages]);
        }
    });
    let c = rig.call();
    let ext = c.result.expect("a report without certificates");
    assert!(ext.cert_table.is_empty());
    rig.verify_report_only(&ext);
    rig.assert_no_reuse();
}

/// Every scenario above is in the list (so its expected outcome is reported), and every listed
/// scenario exists (this file's `#[test]` functions).
#[test]
fn scenario_list_matches_the_tests() {
    let src = include_str!("hostile_host.rs");
    for (name, _) in SCENARIOS {
        assert!(
            src.contains(&format!("fn {name}()")),
            "scenario {name} has no test"
        );
    }
    let _ = (TABLE_PAGE, MSG_HDR_SIZE);
}
