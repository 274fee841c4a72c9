//! The request-path matrix (issue 4, "Must show"): every backend × every host behaviour, end to
//! end on the simulator.
//!
//! Backends:
//! - `ghcb`: `snp_agent::backend::sim::SimBackend` — the no_std `snp-ghcb` driver and its retry
//!   policy over the simulator's in-process GHCB, with a wiretap on every VMGEXIT;
//! - `sev_guest`: `SevGuestBackend`'s real marshalling over the simulator's model of the Linux
//!   `/dev/sev-guest` driver (only the syscall is swapped);
//! - `tsm`: `TsmBackend` doing real filesystem calls on the simulator's FUSE-mounted
//!   configfs-tsm tree (skipped, visibly, without FUSE unless `SNP_AGENT_REQUIRE_FUSE=1`).
//!
//! Host behaviours: plain, INVALID_LEN once, INVALID_LEN twice with a growing blob, BUSY k times,
//! BUSY forever, a throttling host, no certificates, a VMPCK wiped by an earlier failure — and,
//! in `host_failures`, a GHCB-level rejection, a tampered response, a generic VMM error and an
//! absurd page count; in `lying_hosts` (issue 16), a host that forwards the request to the
//! firmware and then answers BUSY, INVALID_LEN or an error, followed by the backend being dropped
//! and re-created on the same guest. Everything runs against both KVM host-interface generations
//! (the seed's `KVM_EXIT_VMGEXIT` and the merged `KVM_EXIT_SNP_REQ_CERTS`): the guest sees the
//! same kinds of answer from both, and classifies the seed's own encodings (`1 << 31` generic,
//! `GENERIC << 32 | fw_err`) the same way.
//! Every successful steady-state report is verified against the VCEK the host served, chained to
//! the simulator's roots.
//!
//! Every case asserts the firmware request count (and that the steady state afterwards costs
//! exactly one), that no (VMPCK, sequence number) pair was reused (the platform's record of every
//! message it was handed, on every path; the simulated firmware's counters; on the GHCB path also
//! a wiretap comparing the bytes of every message sent under each pair), and the exact error
//! type. Where Linux's own semantics make a case end
//! differently (the kernel offers at most 16 KiB of certificate buffer; it disables the VMPCK
//! after 60 s of BUSY), the test asserts that documented behaviour.
//!
//! All time is a `ManualClock` shared by host and guest: backoffs and the kernel's 2 s / 60 s BUSY
//! loop take no real time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use snp_agent::backend::sim::{sev_guest_on, SimBackend};
use snp_agent::backend::tsm::TsmBackend;
use snp_agent::backend::{
    Backend, BackendError, BackendKind, ExtendedReport, ReportRequest, RetryPolicy,
};
use snp_certs::product::Product;
use snp_certs::roots::TrustAnchors;
use snp_certs::table::CertTable;
use snp_certs::verify::{Endorsements, Verifier};
use snp_ghcb::driver::{Gpa, PlatformError, Vmgexit};
use snp_ghcb::exit::{FwStatus, GENERIC, SEED_GENERIC};
use snp_ghcb::page::{Ghcb, PAGE_SIZE};
use snp_sim::clock::ManualClock;
use snp_sim::counters::CountersSnapshot;
use snp_sim::face::ghcb::GhcbFace;
use snp_sim::face::sev_guest::SevGuestDevice;
use snp_sim::face::tsm_fuse::{fuse_available, TsmMount};
use snp_sim::faults::{Faults, NoCerts, Repeat, Throttle};
use snp_sim::kvm::Generation;
use snp_sim::platform::SimPlatform;

/// Which request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Ghcb,
    SevGuest,
    Tsm,
}

/// A request path on a VM with one KVM host-interface generation (the seed's
/// `KVM_EXIT_VMGEXIT` or the merged `KVM_EXIT_SNP_REQ_CERTS`): the guest must see the same
/// answers from both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Via {
    path: Path,
    gen: Generation,
}

/// Every message the guest put on the wire, by (VMPCK, sequence number): re-sending identical
/// bytes is fine (BUSY), different bytes under one pair would reuse an AES-GCM IV.
type Wire = Arc<Mutex<HashMap<(u8, u64), Vec<u8>>>>;

/// A `Vmgexit` that records the request page of every guest-request exit, then forwards.
struct Tap {
    inner: GhcbFace,
    wire: Wire,
    violations: Arc<Mutex<Vec<(u8, u64)>>>,
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
        let vmpck = page[0x3C];
        let mut wire = self.wire.lock().unwrap();
        match wire.get(&(vmpck, seqno)) {
            Some(prev) if *prev != page => self.violations.lock().unwrap().push((vmpck, seqno)),
            Some(_) => {}
            None => {
                wire.insert((vmpck, seqno), page);
            }
        }
        drop(wire);
        self.inner.vmgexit(ghcb)
    }
    fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError> {
        self.inner.msr_exchange(value)
    }
}

/// One backend on one simulated platform.
struct Rig {
    via: Via,
    platform: SimPlatform,
    clock: ManualClock,
    backend: Box<dyn Backend>,
    violations: Arc<Mutex<Vec<(u8, u64)>>>,
    wire: Wire,
    dev: Option<Arc<SevGuestDevice>>,
    // Dropped last: the backend must be gone before the tree is unmounted.
    mount: Option<(TsmMount, tempfile::TempDir)>,
    requests: u8,
    /// A lying host makes the firmware refuse identical re-sends as wrong sequence numbers;
    /// that is not reuse (the wire record still must show none).
    lying: bool,
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Unmount after the backend is dropped (fields drop in declaration order, but make the
        // intent explicit).
        let _ = self.mount.take();
    }
}

fn require_fuse() -> bool {
    std::env::var("SNP_AGENT_REQUIRE_FUSE").is_ok_and(|v| v == "1")
}

fn skip(why: &str) -> Option<Rig> {
    if require_fuse() {
        panic!("SNP_AGENT_REQUIRE_FUSE=1 but the configfs-tsm tests cannot run: {why}");
    }
    eprintln!("SKIPPED (tsm backend over FUSE): {why}");
    None
}

impl Rig {
    /// A platform with `faults` and the backend `via`; `None` (printed) when FUSE is missing.
    fn new(via: Via, faults: Faults) -> Option<Rig> {
        let clock = ManualClock::new();
        let platform = SimPlatform::builder(Product::Genoa)
            .clock(Arc::new(clock.clone()))
            .generation(via.gen)
            .faults(faults)
            .build()
            .expect("simulated platform");
        let violations = Arc::new(Mutex::new(Vec::new()));
        let wire: Wire = Arc::default();
        let mut dev = None;
        let mut mount = None;
        let backend: Box<dyn Backend> = match via.path {
            Path::Ghcb => {
                let tap = Tap {
                    inner: GhcbFace::new(platform.clone()),
                    wire: wire.clone(),
                    violations: violations.clone(),
                };
                Box::new(
                    SimBackend::on_face(tap, platform.clone(), 0, RetryPolicy::default())
                        .expect("guest driver"),
                )
            }
            Path::SevGuest => {
                let (b, d) = sev_guest_on(platform.clone(), 0, 1).expect("sim device");
                dev = Some(d);
                Box::new(b)
            }
            Path::Tsm => {
                if let Err(why) = fuse_available() {
                    return skip(&why);
                }
                let dir = tempfile::tempdir().expect("mount point");
                let m = match TsmMount::mount(platform.clone(), dir.path(), 0) {
                    Ok(m) => m,
                    Err(e) => return skip(&e.to_string()),
                };
                let b = TsmBackend::open(&m.report_dir(), 3).expect("tsm backend on FUSE");
                mount = Some((m, dir));
                Box::new(b)
            }
        };
        let expected = match via.path {
            Path::Ghcb => BackendKind::Sim,
            Path::SevGuest => BackendKind::SevGuest,
            Path::Tsm => BackendKind::Tsm,
        };
        assert_eq!(backend.kind(), expected);
        Some(Rig {
            via,
            platform,
            clock,
            backend,
            violations,
            wire,
            dev,
            mount,
            requests: 0,
            lying: false,
        })
    }

    /// Drop the backend and build a new one of the same kind on the same guest (a restarted
    /// agent; for `sev_guest` a reloaded driver). The tsm path re-opens the mounted tree (the
    /// kernel driver behind it stays). Returns the error a new backend reports, if any.
    fn recreate(&mut self) -> Result<(), BackendError> {
        self.backend = Box::new(Unavailable);
        let backend: Box<dyn Backend> = match self.via.path {
            Path::Ghcb => {
                let tap = Tap {
                    inner: GhcbFace::new(self.platform.clone()),
                    wire: self.wire.clone(),
                    violations: self.violations.clone(),
                };
                Box::new(SimBackend::on_face(
                    tap,
                    self.platform.clone(),
                    0,
                    RetryPolicy::default(),
                )?)
            }
            Path::SevGuest => {
                let (b, d) = sev_guest_on(self.platform.clone(), 0, 1)?;
                self.dev = Some(d);
                Box::new(b)
            }
            Path::Tsm => {
                let dir = self.mount.as_ref().expect("mounted").0.report_dir();
                Box::new(TsmBackend::open(&dir, 3)?)
            }
        };
        self.backend = backend;
        Ok(())
    }

    /// One request; returns the result and what the platform did meanwhile.
    fn request(&mut self) -> (Result<ExtendedReport, BackendError>, CountersSnapshot) {
        self.requests = self.requests.wrapping_add(1);
        let req = ReportRequest {
            report_data: [self.requests; 64],
            vmpl: 0,
        };
        let before = self.platform.counters();
        let r = self.backend.get_ext_report(&req);
        let after = self.platform.counters();
        if let Ok(ext) = &r {
            assert_eq!(ext.report.len(), 0x4A0, "{:?}: report size", self.via);
            assert_eq!(
                &ext.report[0x50..0x90],
                &[self.requests; 64],
                "{:?}: REPORT_DATA is what was asked for",
                self.via
            );
        }
        self.check_invariants();
        (r, after.since(&before))
    }

    /// A successful request that reaches the firmware exactly once, serving the full chain.
    fn steady_state(&mut self) {
        let seen = self.wire.lock().unwrap().len();
        let (r, d) = self.request();
        if self.via.path == Path::Ghcb {
            // The wiretap saw exactly one new (VMPCK, seqno) go out.
            assert_eq!(self.wire.lock().unwrap().len(), seen + 1);
        }
        let ext = r.unwrap_or_else(|e| panic!("{:?}: steady state failed: {e}", self.via));
        assert_eq!(
            d.fw_requests, 1,
            "{:?}: steady state costs one firmware request",
            self.via
        );
        assert_eq!(d.invalid_len_answers + d.busy_answers, 0);
        assert_eq!(ext.cert_table, self.platform.expected_blob().unwrap());
        let table = CertTable::parse(&ext.cert_table).expect("served table parses");
        assert!(table.vcek().is_some() && table.ask().is_some() && table.ark().is_some());
        self.verify(&ext, &table);
    }

    /// The report verifies against the VCEK the host served, chained to the simulator's roots
    /// (given explicitly: they never verify against AMD's pinned roots).
    fn verify(&self, ext: &ExtendedReport, table: &CertTable<'_>) {
        let vcek = table.vcek().unwrap().der().expect("VCEK DER");
        let roots = self.platform.roots().unwrap();
        let anchors = TrustAnchors::explicit()
            .with_chain(
                self.platform.product(),
                &roots.ark_der,
                Some(&roots.ask_der),
                Some(&roots.asvk_der),
            )
            .unwrap();
        let ev = Endorsements::new(vcek.to_vec());
        let verified = Verifier::new(anchors)
            .verify(&ext.report, &ev)
            .unwrap_or_else(|e| panic!("{:?}: evidence does not verify: {e}", self.via));
        assert_eq!(&verified.report_bytes()[..], &ext.report[..]);
        assert!(Verifier::new(TrustAnchors::amd())
            .verify(&ext.report, &ev)
            .is_err());
    }

    /// No (VMPCK, seqno) pair was reused, no response failed authentication, and (tsm) no report
    /// entry was left behind.
    fn check_invariants(&self) {
        let c = self.platform.counters();
        assert_eq!(
            self.platform.seqno_reuses(),
            vec![],
            "{:?}: the host saw two different messages under one (VMPCK, seqno)",
            self.via
        );
        if !self.lying {
            assert_eq!(
                c.seqno_violations, 0,
                "{:?}: firmware saw a reused/skipped seqno",
                self.via
            );
        }
        assert_eq!(c.auth_failures, 0, "{:?}: firmware saw a bad tag", self.via);
        assert!(
            self.violations.lock().unwrap().is_empty(),
            "{:?}: different messages under one (VMPCK, seqno): {:?}",
            self.via,
            self.violations.lock().unwrap()
        );
        if let Some((m, _)) = &self.mount {
            let left: Vec<_> = std::fs::read_dir(m.report_dir())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert!(left.is_empty(), "report entries left behind: {left:?}");
        }
    }

    fn vmpck_disabled(&self) -> Option<bool> {
        self.dev.as_ref().map(|d| d.vmpck_disabled())
    }
}

/// The backend slot while a rig has none.
struct Unavailable;

impl Backend for Unavailable {
    fn kind(&self) -> BackendKind {
        BackendKind::Sim
    }
    fn get_ext_report(&mut self, _: &ReportRequest) -> Result<ExtendedReport, BackendError> {
        Err(BackendError::SimSetup(
            "no backend (re-creation failed)".into(),
        ))
    }
}

// ----- the cases -------------------------------------------------------------------------------

fn plain(via: Via) {
    let Some(mut rig) = Rig::new(via, Faults::default()) else {
        return;
    };
    rig.steady_state();
    rig.steady_state();
    assert_eq!(rig.platform.counters().fw_requests, 2);
}

/// What an INVALID_LEN asking for more than Linux's 16 KiB looks like on a kernel path.
fn assert_kernel_certs_too_large(rig: &Rig, r: Result<ExtendedReport, BackendError>) {
    let e = r.expect_err("a kernel path cannot offer more than 16 KiB");
    match rig.via.path {
        Path::SevGuest => match &e {
            BackendError::CertsTooLarge {
                backend: BackendKind::SevGuest,
                needed,
                max,
                status: Some(st),
            } => {
                // The host asked for one page more than the 4 Linux offered.
                assert_eq!(*needed, 5 * 4096);
                assert_eq!(*max, 16384);
                assert_eq!(st.errno, Some(nix::errno::Errno::EIO));
                assert_eq!(st.exitinfo2, Some(1 << 32));
            }
            other => panic!("sev-guest: expected CertsTooLarge, got {other:?}"),
        },
        Path::Tsm => assert!(
            matches!(&e, BackendError::ProviderFailed { status } if status.errno == Some(nix::errno::Errno::EIO)),
            "tsm: expected ProviderFailed(EIO), got {e:?}"
        ),
        Path::Ghcb => unreachable!(),
    }
    // INVALID_LEN does not disable the key: the kernel burned the sequence number properly.
    assert!(!e.is_key_disabled(), "{e}");
}

fn invalid_len_once(via: Via) {
    let Some(mut rig) = Rig::new(
        via,
        Faults {
            invalid_len_storm: 1,
            ..Faults::default()
        },
    ) else {
        return;
    };
    let (r, d) = rig.request();
    assert_eq!(d.invalid_len_answers, 1);
    match via.path {
        Path::Ghcb => {
            r.expect("the driver grows the buffer and asks again");
            // The burnt message (re-sent as a plain request) and the new extended one.
            assert_eq!(d.plain_requests, 1);
            assert_eq!(d.fw_requests, 2);
        }
        Path::SevGuest | Path::Tsm => {
            // Linux burns the sequence number with a plain re-send and gives up.
            assert_eq!(d.plain_requests, 1);
            assert_eq!(d.fw_requests, 1);
            assert_kernel_certs_too_large(&rig, r);
            assert_ne!(rig.vmpck_disabled(), Some(true));
        }
    }
    rig.steady_state();
}

fn invalid_len_twice_growing(via: Via) {
    let Some(mut rig) = Rig::new(
        via,
        Faults {
            invalid_len_storm: 2,
            ..Faults::default()
        },
    ) else {
        return;
    };
    match via.path {
        Path::Ghcb => {
            let (r, d) = rig.request();
            r.expect("two growths stay within the policy");
            assert_eq!(d.invalid_len_answers, 2);
            assert_eq!(d.plain_requests, 2);
            assert_eq!(d.fw_requests, 3);
        }
        Path::SevGuest | Path::Tsm => {
            // Each call offers 16 KiB and is told the blob needs more: two typed errors.
            for _ in 0..2 {
                let (r, d) = rig.request();
                assert_eq!(d.invalid_len_answers, 1);
                assert_eq!(d.fw_requests, 1);
                assert_kernel_certs_too_large(&rig, r);
            }
        }
    }
    rig.steady_state();
}

fn busy_k_times(via: Via) {
    const K: u32 = 3;
    let Some(mut rig) = Rig::new(
        via,
        Faults {
            busy: Repeat::Times(K),
            ..Faults::default()
        },
    ) else {
        return;
    };
    let t0 = rig.clock.elapsed();
    let (r, d) = rig.request();
    r.unwrap_or_else(|e| panic!("{via:?}: BUSY {K} times then success: {e}"));
    assert_eq!(d.busy_answers, u64::from(K));
    assert_eq!(d.fw_requests, 1, "BUSY re-sends never reach the firmware");
    let waited = rig.clock.elapsed() - t0;
    match via.path {
        // 100 + 200 + 400 ms of exponential backoff.
        Path::Ghcb => assert_eq!(waited, Duration::from_millis(700)),
        // The kernel waits 2 s between re-sends.
        Path::SevGuest | Path::Tsm => assert_eq!(waited, Duration::from_secs(2 * u64::from(K))),
    }
    rig.steady_state();
}

fn busy_forever(via: Via) {
    let Some(mut rig) = Rig::new(
        via,
        Faults {
            busy: Repeat::Always,
            ..Faults::default()
        },
    ) else {
        return;
    };
    let t0 = rig.clock.elapsed();
    let (r, d) = rig.request();
    let e = r.expect_err("BUSY forever must end in an error");
    assert_eq!(d.fw_requests, 0);
    assert!(d.busy_answers > 1);
    let waited = rig.clock.elapsed() - t0;
    assert!(
        waited <= Duration::from_secs(62),
        "bounded by the deadline: {waited:?}"
    );
    // Every path now ends the same way: the key is gone (issue 16, option (a) for the GHCB
    // driver; Linux's own rule for the kernel paths), in the driver and in the secrets page.
    match via.path {
        Path::Ghcb => {
            assert!(
                matches!(
                    &e,
                    BackendError::BusyTimeout {
                        backend: BackendKind::Sim,
                        status: None,
                        ..
                    }
                ),
                "{e:?}"
            );
            assert!(waited <= RetryPolicy::default().deadline);
        }
        Path::SevGuest | Path::Tsm => {
            assert!(
                matches!(&e, BackendError::BusyTimeout { status: Some(st), .. }
                    if st.errno == Some(nix::errno::Errno::ETIMEDOUT)),
                "{e:?}"
            );
            if via.path == Path::SevGuest {
                assert_eq!(rig.vmpck_disabled(), Some(true));
            }
        }
    }
    assert!(e.is_key_disabled());
    let msg = e.to_string();
    assert!(msg.contains("do NOT retry"), "{msg}");
    assert_eq!(
        rig.platform.guest_vmpck(0),
        Some([0; 32]),
        "key zeroed in the secrets page"
    );
    // The key is gone until reboot, even once the host recovers.
    rig.platform.set_faults(Faults::default());
    let (r, d) = rig.request();
    let e = r.expect_err("the VMPCK is disabled");
    assert!(matches!(e, BackendError::VmpckDisabled { .. }), "{e:?}");
    assert_eq!(
        d.fw_requests + d.busy_answers,
        0,
        "nothing reaches the host"
    );
    if via.path == Path::Ghcb {
        // The scenario of issue 16: a second SimBackend on the shared SimPlatform. Before, it
        // started from the firmware's count (0), while the host held seqno 1 of the abandoned
        // message, and sealed a different plaintext under 1. Now the secrets page has no key.
        let second = SimBackend::on(rig.platform.clone(), 0, RetryPolicy::default());
        assert!(
            matches!(
                &second,
                Err(BackendError::VmpckDisabled {
                    backend: BackendKind::Sim,
                    ..
                })
            ),
            "{second:?}"
        );
    }
    rig.check_invariants();
}

fn throttled_host(via: Via) {
    let window = Duration::from_secs(10);
    let Some(mut rig) = Rig::new(
        via,
        Faults {
            throttle: Some(Throttle {
                max_requests: 1,
                window,
            }),
            ..Faults::default()
        },
    ) else {
        return;
    };
    rig.steady_state();
    // Immediately again: the host refuses (BUSY) until its window has passed.
    let t0 = rig.clock.elapsed();
    let (r, d) = rig.request();
    r.unwrap_or_else(|e| panic!("{via:?}: a throttling host is waited out: {e}"));
    assert_eq!(d.fw_requests, 1);
    assert!(d.throttled >= 1 && d.busy_answers == d.throttled, "{d:?}");
    assert!(rig.clock.elapsed() - t0 >= window);
    // Waiting out the window, the steady state is one request again.
    rig.clock.advance(window);
    rig.steady_state();
}

fn no_certificates(via: Via) {
    for how in [NoCerts::EmptyTable, NoCerts::ZeroBuffer] {
        let Some(mut rig) = Rig::new(
            via,
            Faults {
                no_certs: Some(how),
                ..Faults::default()
            },
        ) else {
            return;
        };
        let (r, d) = rig.request();
        let ext = r.unwrap_or_else(|e| panic!("{via:?}/{how:?}: {e}"));
        assert_eq!(d.fw_requests, 1);
        assert!(
            ext.cert_table.is_empty(),
            "{via:?}/{how:?}: no certificates served, got {} bytes",
            ext.cert_table.len()
        );
        rig.platform.set_faults(Faults::default());
        rig.steady_state();
    }
}

/// SW_EXITINFO2 of a firmware failure per generation: merged KVM passes `fw_err`; the seed
/// puts its generic error (`1 << 31`) in front (`GENERIC << 32 | fw_err`).
fn fw_failure(gen: Generation, status: FwStatus) -> u64 {
    match gen {
        Generation::Seed => SEED_GENERIC | u64::from(status.to_u32()),
        Generation::Merged => u64::from(status.to_u32()),
    }
}

/// SW_EXITINFO2 of the VMM's generic error per generation.
fn generic(gen: Generation) -> u64 {
    match gen {
        Generation::Seed => SEED_GENERIC,
        Generation::Merged => GENERIC,
    }
}

fn vmpck_wiped(via: Via) {
    let status = FwStatus::HwErrorPlatform;
    let Some(mut rig) = Rig::new(
        via,
        Faults {
            fw_error: Some((status.to_u32(), Repeat::Times(1))),
            ..Faults::default()
        },
    ) else {
        return;
    };
    // The failure that wipes the key.
    let (r, d) = rig.request();
    assert_eq!(d.fw_requests, 1);
    let e = r.expect_err("a firmware error");
    match via.path {
        Path::Ghcb => assert!(
            matches!(&e, BackendError::Firmware { backend: BackendKind::Sim, fw, status: None } if *fw == status),
            "{e:?}"
        ),
        Path::SevGuest => assert!(
            matches!(&e, BackendError::Firmware { backend: BackendKind::SevGuest, fw, status: Some(st) }
                if *fw == status && st.errno == Some(nix::errno::Errno::EIO)
                    && st.exitinfo2 == Some(fw_failure(via.gen, status))),
            "{e:?}"
        ),
        Path::Tsm => assert!(
            matches!(&e, BackendError::ProviderFailed { status: st } if st.errno == Some(nix::errno::Errno::EIO)),
            "{e:?}"
        ),
    }
    // Every later request is refused without reaching the host, whatever the host does now.
    for _ in 0..2 {
        let (r, d) = rig.request();
        let e = r.expect_err("the VMPCK is wiped");
        let want = match via.path {
            Path::Ghcb => BackendKind::Sim,
            Path::SevGuest => BackendKind::SevGuest,
            Path::Tsm => BackendKind::Tsm,
        };
        assert!(
            matches!(&e, BackendError::VmpckDisabled { backend, .. } if *backend == want),
            "{e:?}"
        );
        assert!(e.is_key_disabled());
        assert_eq!(d.fw_requests + d.ext_requests + d.plain_requests, 0);
    }
    if via.path == Path::SevGuest {
        assert_eq!(rig.vmpck_disabled(), Some(true));
    }
    assert_eq!(
        rig.platform.guest_vmpck(0),
        Some([0; 32]),
        "{via:?}: the key is zeroed in the secrets page"
    );
}

macro_rules! matrix {
    ($($case:ident),* $(,)?) => {
        matrix!(@gen merged, Merged; $($case),*);
        matrix!(@gen seed, Seed; $($case),*);
    };
    (@gen $m:ident, $g:ident; $($case:ident),*) => {
        /// The matrix against one KVM host-interface generation.
        mod $m {
            use super::{Generation, Path, Via};
            const fn via(path: Path) -> Via {
                Via { path, gen: Generation::$g }
            }
            mod ghcb {
                $( #[test] fn $case() { super::super::$case(super::via(super::Path::Ghcb)) } )*
            }
            mod sev_guest {
                $( #[test] fn $case() { super::super::$case(super::via(super::Path::SevGuest)) } )*
            }
            mod tsm {
                $( #[test] fn $case() { super::super::$case(super::via(super::Path::Tsm)) } )*
            }
        }
    };
}

matrix!(
    plain,
    invalid_len_once,
    invalid_len_twice_growing,
    busy_k_times,
    busy_forever,
    throttled_host,
    no_certificates,
    vmpck_wiped,
);

/// The GHCB path remembers the size the host served: after a growth (INVALID_LEN storm to 6
/// pages) the hint decays to the real table's size, not below the 4-page cold start, and the
/// steady state is one firmware request with no INVALID_LEN.
#[test]
fn ghcb_size_hint_decays_to_the_served_table() {
    let clock = ManualClock::new();
    let platform = SimPlatform::builder(Product::Milan)
        .clock(Arc::new(clock))
        .faults(Faults {
            invalid_len_storm: 2,
            ..Faults::default()
        })
        .build()
        .unwrap();
    let mut b = SimBackend::on(platform.clone(), 0, RetryPolicy::default()).unwrap();
    assert_eq!(b.size_hint_pages(), 4);
    let blob_pages = platform.expected_blob().unwrap().len().div_ceil(PAGE_SIZE);
    assert!(
        blob_pages < 4,
        "the simulated chain fits the cold-start buffer"
    );
    b.get_ext_report(&ReportRequest::default()).unwrap();
    assert_eq!(b.size_hint_pages(), 4, "6 pages asked for, decayed");
    let before = platform.counters();
    b.get_ext_report(&ReportRequest::default()).unwrap();
    let d = platform.counters().since(&before);
    assert_eq!((d.fw_requests, d.invalid_len_answers), (1, 0));
}

/// The wiretap itself catches IV reuse (so its silence in the matrix means something).
#[test]
fn wiretap_detects_different_bytes_under_one_seqno() {
    let platform = SimPlatform::builder(Product::Genoa).build().unwrap();
    let violations = Arc::new(Mutex::new(Vec::new()));
    let mut tap = Tap {
        inner: GhcbFace::new(platform.clone()),
        wire: Arc::default(),
        violations: violations.clone(),
    };
    let gpa = tap.alloc_shared(2).unwrap();
    let mut page = vec![0u8; PAGE_SIZE];
    page[0x20] = 7; // seqno 7
    for fill in [1u8, 1, 2] {
        page[0x60] = fill;
        tap.write_shared(gpa, &page).unwrap();
        let mut ghcb = Ghcb::new();
        ghcb.set_sw_exit_info_1(gpa);
        ghcb.set_sw_exit_info_2(gpa + PAGE_SIZE as u64);
        let _ = tap.vmgexit(&mut ghcb);
    }
    assert_eq!(*violations.lock().unwrap(), vec![(0u8, 7u64)]);
}

#[path = "backend_matrix/host_failures.rs"]
mod host_failures;
#[path = "backend_matrix/lying_hosts.rs"]
mod lying_hosts;

/// `auto` picks configfs-tsm where it works, `/dev/sev-guest` where only the device exists, and
/// otherwise fails saying how to use `--backend sim` — it never picks the simulator itself.
#[test]
fn auto_prefers_tsm_then_sev_guest_and_never_the_simulator() {
    use snp_agent::backend::{open, BackendOptions};
    let dir = tempfile::tempdir().unwrap();
    let missing = BackendOptions {
        device: dir.path().join("sev-guest"),
        tsm_root: dir.path().join("tsm"),
        ..BackendOptions::default()
    };
    let e = open(BackendKind::Auto, &missing)
        .err()
        .expect("nothing to use");
    assert!(
        matches!(e, BackendError::NoPlatform { .. }) && e.is_unavailable(),
        "{e:?}"
    );
    assert!(e.to_string().contains("--backend sim"));

    // Only a device node: auto opens it (no request is made by opening).
    std::fs::write(&missing.device, b"").unwrap();
    let b = open(BackendKind::Auto, &missing).expect("sev-guest");
    assert_eq!(b.kind(), BackendKind::SevGuest);
    drop(b);

    // A working configfs-tsm tree wins over the device.
    let Some(rig) = Rig::new(
        Via {
            path: Path::Tsm,
            gen: Generation::Merged,
        },
        Faults::default(),
    ) else {
        return;
    };
    let opts = BackendOptions {
        tsm_root: rig.mount.as_ref().unwrap().0.report_dir(),
        ..missing
    };
    let mut b = open(BackendKind::Auto, &opts).expect("tsm");
    assert_eq!(b.kind(), BackendKind::Tsm);
    let before = rig.platform.counters();
    b.get_ext_report(&ReportRequest::default())
        .expect("report via auto");
    assert_eq!(rig.platform.counters().fw_requests - before.fw_requests, 1);
    drop(b);
    rig.check_invariants();
}
