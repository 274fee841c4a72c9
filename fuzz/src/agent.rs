//! Harnesses for `snp-agent` readers of untrusted files: evidence in every byte format and
//! policy TOML. Uses only `snp_agent`, `snp_certs`, `serde_json` and `std` (all dependencies of
//! snp-agent), because `agent/tests/fuzz_corpus_replay.rs` includes this file as a module.
//!
//! A harness must never panic on any input; where it asserts, the assertion states an invariant
//! of the reader (a panic found by the fuzzer is a bug in the reader, not in the input).

use std::sync::OnceLock;

use snp_agent::evidence::view::{product_hint, ReportSummary};
use snp_agent::evidence::{detect_bytes, Evidence, Format, MAX_CERT_TABLE};
use snp_agent::policy::{Expectations, Policy};
use snp_certs::report::{ReportView, REPORT_SIZE};
use snp_certs::roots::TrustAnchors;
use snp_certs::verify::{Endorsements, VerifiedEvidence, Verifier};

/// Real Milan evidence (go-sev-guest's test report and its VCEK) that verifies against AMD's
/// pinned roots: fuzzed policies are evaluated on it.
const REPORT: &[u8] = include_bytes!("../../tests/data/real/go-sev-guest/attestation.bin");
const VCEK: &[u8] = include_bytes!("../../tests/data/real/go-sev-guest/vcek.der");
/// 2026-11-25, inside the VCEK's validity window (2022-09-24 .. 2029-09-24).
const VERIFY_AT: u64 = 1_795_564_800;

fn verified() -> &'static VerifiedEvidence {
    static EV: OnceLock<VerifiedEvidence> = OnceLock::new();
    EV.get_or_init(|| {
        Verifier::new(TrustAnchors::amd())
            .at_unix(VERIFY_AT)
            .verify(REPORT, &Endorsements::new(VCEK.to_vec()))
            .expect("the go-sev-guest test evidence verifies")
    })
}

/// The first byte picks the reader: with bit 7 set the rest is a policy file (TOML, UTF-8);
/// otherwise the rest is an evidence file read with the format named by bits 0–1
/// (detect, `json`, `bin`, `coco`).
pub fn evidence(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel & 0x80 != 0 {
        policy(rest);
        return;
    }
    let hint = [
        None,
        Some(Format::Json),
        Some(Format::Bin),
        Some(Format::Coco),
    ][usize::from(sel & 0x03)];
    let detected = detect_bytes(rest);
    let (ev, format) = match Evidence::from_bytes(rest, hint) {
        Ok(ok) => ok,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    match hint {
        Some(f) => assert_eq!(format, f, "read in another format than asked"),
        None => assert_eq!(detected.ok(), Some(format), "detection disagrees"),
    }
    assert_eq!(
        ev.report.len(),
        REPORT_SIZE,
        "accepted a report of the wrong size"
    );
    assert!(ev.cert_table.len() <= MAX_CERT_TABLE);
    ev.check_sizes().expect("accepted evidence has valid sizes");

    match ev.endorsements() {
        Ok(Some(e)) => assert!(!e.vek.is_empty()),
        Ok(None) => {}
        Err(err) => {
            let _ = err.to_string();
        }
    }
    let view = ReportView::new(&ev.report).expect("size checked above");
    let summary = ReportSummary::new(&view, product_hint(&view));
    let _ = serde_json::to_string(&summary).expect("a summary serialises");

    // What was read writes back and reads again to the same evidence.
    let json = ev
        .to_bytes(Format::Json)
        .expect("evidence that was read writes as json");
    let (again, f) = Evidence::from_bytes(&json, None).expect("written json reads back");
    assert_eq!(f, Format::Json);
    assert_eq!(again, ev, "json round trip");
    let bin = ev
        .to_bytes(Format::Bin)
        .expect("evidence that was read writes as bin");
    let (again, _) = Evidence::from_bytes(&bin, Some(Format::Bin)).expect("bin reads back");
    assert_eq!(
        (&again.report, &again.cert_table),
        (&ev.report, &ev.cert_table)
    );
    if let Ok(coco) = ev.to_bytes(Format::Coco) {
        let (again, _) =
            Evidence::from_bytes(&coco, Some(Format::Coco)).expect("written coco reads back");
        assert_eq!(again.report, ev.report, "coco changed the report bytes");
    }
}

/// `policy` target: the whole input is a policy file (lossy UTF-8). A compiled policy is
/// evaluated, deterministically, on real verified Milan evidence.
pub fn policy_toml(data: &[u8]) {
    policy(data);
}

/// The per-format evidence targets: the whole input is one file in that format, read with the
/// format given (as `--in-format` does), with the same invariants as [`evidence`].
pub fn evidence_json(data: &[u8]) {
    evidence_as(0x01, data);
}

/// See [`evidence_json`].
pub fn evidence_bin(data: &[u8]) {
    evidence_as(0x02, data);
}

/// See [`evidence_json`].
pub fn evidence_coco(data: &[u8]) {
    evidence_as(0x03, data);
}

fn evidence_as(sel: u8, data: &[u8]) {
    let mut input = Vec::with_capacity(data.len() + 1);
    input.push(sel);
    input.extend_from_slice(data);
    evidence(&input);
}

fn policy(text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let p = match Policy::from_toml(&text) {
        Ok(p) => p,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let ev = verified();
    for expected in [
        Expectations::default(),
        Expectations::nonce(text.as_bytes()),
        Expectations::exact(*ev.report().report_data()),
    ] {
        let out = p.evaluate(ev, &expected);
        assert_eq!(out.passed(), out.failures().next().is_none());
        for c in &out.checks {
            assert!(!c.name.is_empty(), "unnamed check");
        }
        assert_eq!(
            p.evaluate(ev, &expected),
            out,
            "evaluation is not deterministic"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// evidence_snpguest_tar: a snpguest directory, as a tar of files
// ---------------------------------------------------------------------------------------------

use std::path::{Path, PathBuf};

/// Most files unpacked from one input, and the largest one (the reader's own caps are 256
/// directory entries and 64 KiB per certificate: the harness stays just past them so inputs
/// can reach those refusals).
const TAR_MAX_FILES: usize = 300;
const TAR_MAX_FILE: usize = 80 * 1024;

/// One member of a ustar archive: its path and bytes. Only what the harness needs: regular
/// files (type `0` or NUL) and directories (`5`), POSIX `prefix` joined to `name`, sizes in
/// octal. Anything else ends the archive.
fn tar_members(mut data: &[u8]) -> Vec<(String, Option<&[u8]>)> {
    let mut out = Vec::new();
    while data.len() >= 512 && out.len() < TAR_MAX_FILES {
        let (h, rest) = data.split_at(512);
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let field = |r: std::ops::Range<usize>| {
            let f = &h[r];
            let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).into_owned()
        };
        let size = usize::from_str_radix(field(124..136).trim(), 8).unwrap_or(0);
        let (name, prefix) = (field(0..100), field(345..500));
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let body_len = size.min(rest.len()).min(TAR_MAX_FILE);
        let padded = size.div_ceil(512).saturating_mul(512).min(rest.len());
        match h[156] {
            0 | b'0' => out.push((path, Some(&rest[..body_len]))),
            b'5' => out.push((path, None)),
            _ => break,
        }
        data = &rest[padded..];
    }
    out
}

/// A relative path made only of normal components (no `..`, no root): where it is safe to
/// unpack inside the scratch directory.
fn safe_relative(p: &str) -> Option<PathBuf> {
    let path = Path::new(p);
    let ok = !p.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    ok.then(|| path.to_path_buf())
}

/// A fresh scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Option<Scratch> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "snp-fuzz-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).ok()?;
        Some(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `snpguest-dir` evidence: the input is a ustar archive whose members are unpacked into a
/// scratch directory, which is then read as `--in-format snpguest-dir` (report file under one
/// of its three names, certificates in `certs/` or beside it, PEM or DER, known and
/// `other-<guid>` names). Accepted evidence has a 0x4A0 report, a table within the cap, and
/// writes back to a directory that reads again to the same report and entries.
pub fn evidence_snpguest_tar(data: &[u8]) -> bool {
    use snp_agent::evidence::snpguest_dir;
    let Some(dir) = Scratch::new() else {
        return false;
    };
    for (name, body) in tar_members(data) {
        let Some(rel) = safe_relative(&name) else {
            continue;
        };
        let path = dir.0.join(rel);
        match body {
            None => {
                let _ = std::fs::create_dir_all(&path);
            }
            Some(bytes) => {
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::fs::write(&path, bytes);
            }
        }
    }
    let ev = match Evidence::read_path(&dir.0, Some(Format::SnpguestDir)) {
        Ok((ev, f)) => {
            assert_eq!(f, Format::SnpguestDir);
            ev
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return false;
        }
    };
    assert_eq!(
        ev.report.len(),
        REPORT_SIZE,
        "accepted a report of the wrong size"
    );
    assert!(ev.cert_table.len() <= MAX_CERT_TABLE);
    ev.check_sizes().expect("accepted evidence has valid sizes");
    if let Ok(Some(e)) = ev.endorsements() {
        assert!(!e.vek.is_empty());
    }
    // What was read writes back as a directory and reads again to the same report and the
    // same entries (the directory fixes the order, so compare as sets).
    let Some(out) = Scratch::new() else {
        return true;
    };
    // The reader keeps certificate files as bytes (like the host's table in json/bin); the
    // writer needs DER, so a file that is not one is refused there, with a typed error.
    let decodes = ev.cert_table.is_empty()
        || snp_certs::table::CertTable::parse(&ev.cert_table).is_ok_and(|t| {
            t.entries().iter().all(|e| {
                // Unknown entries are written as raw bytes; the others as PEM of their DER.
                matches!(e.kind, snp_certs::table::EntryKind::Unknown(_)) || e.der().is_ok()
            })
        });
    if !decodes {
        let e = snpguest_dir::write(&ev, &out.0).expect_err("undecodable entry written");
        assert!(!e.to_string().is_empty());
        return true;
    }
    snpguest_dir::write(&ev, &out.0).expect("evidence that was read writes as a directory");
    let again = snpguest_dir::read(&out.0).expect("a written directory reads back");
    assert_eq!(
        again.report, ev.report,
        "report changed in a directory round trip"
    );
    let entries = |t: &[u8]| {
        let mut v: Vec<(String, Vec<u8>)> = snp_certs::table::CertTable::parse(t)
            .map(|t| {
                t.entries()
                    .iter()
                    .map(|e| {
                        (
                            e.guid.to_string(),
                            e.der().map(|d| d.to_vec()).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(
        entries(&again.cert_table),
        entries(&ev.cert_table),
        "entries changed in a directory round trip"
    );
    true
}

// ---------------------------------------------------------------------------------------------
// kds_response
// ---------------------------------------------------------------------------------------------

use snp_agent::kds::transport::{HttpResponse, Transport, TransportError};
use snp_agent::kds::{DiskCache, FakeClock, Kds, KdsClient, KdsError};
use snp_certs::kds::{Endorser, HwId, KdsUrls};
use snp_certs::product::Product;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

/// Most scripted answers per input; after them the transport says "connection refused".
const KDS_MAX_ANSWERS: usize = 12;

/// A KDS that answers from the fuzzer's script, counting the requests.
struct Scripted {
    answers: Mutex<Vec<Result<HttpResponse, TransportError>>>,
    calls: Mutex<usize>,
}

impl Transport for Scripted {
    fn get(
        &self,
        _url: &str,
        timeout: Duration,
        max_body: usize,
    ) -> Result<HttpResponse, TransportError> {
        *self.calls.lock().expect("lock") += 1;
        let next = {
            let mut a = self.answers.lock().expect("lock");
            if a.is_empty() {
                None
            } else {
                Some(a.remove(0))
            }
        };
        match next {
            None => Err(TransportError::Connect("connection refused".into())),
            Some(Ok(r)) if r.body.len() > max_body => {
                Err(TransportError::BodyTooLarge { limit: max_body })
            }
            Some(Err(TransportError::Timeout(_))) => Err(TransportError::Timeout(timeout)),
            Some(other) => other,
        }
    }
}

/// HTTP statuses a KDS, a mirror or a proxy in front of it answers with.
const STATUSES: [u16; 16] = [
    200, 200, 200, 404, 429, 500, 502, 503, 504, 301, 302, 400, 401, 403, 418, 0,
];

/// Parse the fuzzer's script: `[status index | flags][len: u16 LE][body][ra_len][retry-after]`
/// records. Flags (high nibble): bit 4 a transport timeout instead, bit 5 a reset, bit 6 a
/// `Retry-After` header follows the body.
fn kds_script(mut d: &[u8]) -> Vec<Result<HttpResponse, TransportError>> {
    let mut out = Vec::new();
    while let [sel, a, b, rest @ ..] = d {
        if out.len() >= KDS_MAX_ANSWERS {
            break;
        }
        let n = usize::from(u16::from_le_bytes([*a, *b])).min(rest.len());
        let (body, rest) = rest.split_at(n);
        d = rest;
        let mut retry_after = None;
        if sel & 0x40 != 0 {
            if let [ra_len, rest @ ..] = d {
                let n = usize::from(*ra_len).min(rest.len());
                retry_after = Some(String::from_utf8_lossy(&rest[..n]).into_owned());
                d = &rest[n..];
            }
        }
        out.push(if sel & 0x10 != 0 {
            Err(TransportError::Timeout(Duration::ZERO))
        } else if sel & 0x20 != 0 {
            Err(TransportError::Other("connection reset by peer".into()))
        } else {
            let status = STATUSES[usize::from(sel & 0x0F)];
            let status = if status == 0 {
                u16::from_le_bytes([*a, *b])
            } else {
                status
            };
            Ok(HttpResponse {
                status,
                retry_after,
                body: body.to_vec(),
            })
        });
    }
    out
}

/// The KDS client's handling of hostile responses, end to end through `Kds` (retry policy,
/// `Retry-After`, status mapping, body parsing as DER/PEM, verification against AMD's pinned
/// roots, request binding) with a fake clock and a scratch cache. The first byte picks the
/// request by its value mod 5 (0: the VCEK of the go-sev-guest Milan chip, 1–2: a CA chain,
/// 3–4: a CRL; bits 3–6 the product, bit 7 VLEK instead of VCEK); the rest scripts the answers (see `kds_script`). Whatever the
/// answers, the call ends with a value or a typed error, within the client's attempt bound and
/// its deadline; nothing that does not verify is cached.
pub fn kds_response(data: &[u8]) -> bool {
    let Some((&sel, rest)) = data.split_first() else {
        return false;
    };
    let script = kds_script(rest);
    for a in script.iter().flatten() {
        if let Some(ra) = &a.retry_after {
            let _ = snp_agent::kds::retry_after::RetryAfter::parse(ra)
                .map(|r| r.delay_from(UNIX_EPOCH + Duration::from_secs(VERIFY_AT)));
        }
    }
    let Some(cache_dir) = Scratch::new() else {
        return false;
    };
    let transport = Arc::new(Scripted {
        answers: Mutex::new(script),
        calls: Mutex::new(0),
    });
    let clock = Arc::new(FakeClock::new(UNIX_EPOCH + Duration::from_secs(VERIFY_AT)));
    let client = KdsClient::with_parts(KdsUrls::amd(), transport.clone()).with_clock(clock.clone());
    let max_attempts = client.policy().max_attempts as usize;
    let deadline = Duration::from_secs(120);
    let kds = Kds::new(client, DiskCache::new(&cache_dir.0)).with_deadline(deadline);
    let product = Product::ALL[usize::from((sel >> 3) & 0x0F) % Product::ALL.len()];
    let endorser = if sel & 0x80 == 0 {
        Endorser::Vcek
    } else {
        Endorser::Vlek
    };
    let outcome: Result<Vec<u8>, KdsError> = match sel % 5 {
        0 => {
            let view = ReportView::new(REPORT).expect("real report");
            let hwid = HwId::from_chip_id(Product::Milan, view.chip_id()).expect("Milan hwID");
            let tcb = view.reported_tcb(Product::Milan).expect("real TCB");
            kds.vcek_for(&hwid, &tcb).map(|v| v.der)
        }
        1 | 2 => kds
            .ca_chain(product, endorser)
            .map(|c| format!("{c:?}").into_bytes()),
        _ => kds.crl(product, endorser).map(|c| c.der),
    };
    let calls = *transport.calls.lock().expect("lock");
    assert!(
        calls <= max_attempts,
        "{calls} requests, more than the {max_attempts} allowed"
    );
    assert!(
        clock.elapsed() <= deadline,
        "waited {:?}, past the deadline",
        clock.elapsed()
    );
    match outcome {
        Ok(body) => {
            assert!(!body.is_empty());
            true
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty());
            // Nothing was cached from a failed fetch.
            let cached = walk_files(&cache_dir.0);
            assert!(
                cached.is_empty(),
                "cached after an error ({msg}): {cached:?}"
            );
            false
        }
    }
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
