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
