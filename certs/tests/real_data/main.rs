//! Real AMD evidence from `tests/data/real` (see MANIFEST.md there): every line of the
//! manifest's ground-truth tables, plus negatives built from real bytes. Every test runs on
//! every crypto provider compiled in (`--features aws-lc` adds aws-lc-rs).

mod manifest;
mod mutations;
mod never_panics;

use std::path::PathBuf;
use std::sync::Arc;

use snp_certs::chain::CertKind;
use snp_certs::crypto::{available_providers, CryptoProvider};
use snp_certs::product::Product;
use snp_certs::report::{offset, ReportView, SigningKey, REPORT_SIZE, SIGNED_LEN};
use snp_certs::roots::TrustAnchors;
use snp_certs::tcb::Tcb;
use snp_certs::verify::{
    check, CheckStatus, Endorsements, VerificationOutcome, Verifier, VerifyError,
};

/// "now" in MANIFEST.md: 2026-11-25T00:00:00Z. Fixed so that results do not drift with the clock.
const NOW: u64 = 1_795_564_800;
const DAY: u64 = 86_400;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/real")
}

fn read(rel: &str) -> Vec<u8> {
    let p = data_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// UNIX seconds of a `YYYY-MM-DD` date (UTC midnight).
fn day(date: &str) -> u64 {
    let parts: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().expect("number"))
        .collect();
    let (y, m, d) = (parts[0], parts[1], parts[2]);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400).expect("after 1970")
}

fn chain_product(chain: &str) -> Product {
    if chain.contains("milan") {
        Product::Milan
    } else if chain.contains("genoa") {
        Product::Genoa
    } else {
        Product::Turin
    }
}

fn chain_kind(chain: &str) -> CertKind {
    if chain.contains("_vlek") {
        CertKind::Vlek
    } else {
        CertKind::Vcek
    }
}

/// Anchors holding exactly the chain file the manifest names (not the pinned set), so that
/// cross-chain lines test what the manifest states.
fn chain_anchors(chain: &str) -> TrustAnchors {
    let pem = String::from_utf8(read(&format!("go-sev-guest/{chain}"))).expect("utf-8");
    TrustAnchors::explicit()
        .with_kds_chain_pem(chain_product(chain), chain_kind(chain), &pem)
        .expect("chain parses")
}

fn providers() -> Vec<Arc<dyn CryptoProvider>> {
    available_providers()
}

fn run(
    anchors: &TrustAnchors,
    p: &Arc<dyn CryptoProvider>,
    time: u64,
    report: &[u8],
    e: &Endorsements,
) -> VerificationOutcome {
    Verifier::with_provider(anchors.clone(), p.clone())
        .at_unix(time)
        .verify_detailed(report, e)
}

fn parse_tcb(s: &str) -> Tcb {
    let mut t = Tcb::default();
    for kv in s.trim_matches(|c| c == '{' || c == '}').split(',') {
        let (k, v) = kv.split_once(':').expect("k: v");
        let v: u8 = v.trim().parse().expect("u8");
        match k.trim() {
            "fmc" => t.fmc = Some(v),
            "bl" => t.bl = v,
            "tee" => t.tee = v,
            "snp" => t.snp = v,
            "ucode" => t.microcode = v,
            other => panic!("unknown TCB key {other}"),
        }
    }
    t
}

/// A time inside the line's validity window: the manifest's "now" when the window includes it,
/// else one day after the window opened.
fn time_for(start: &str, end: &str) -> u64 {
    let (s, e) = (day(start), day(end));
    if (s..e).contains(&NOW) {
        NOW
    } else {
        s + 2 * DAY
    }
}

/// Expected failing checks for a REJECT line's "what fails" text.
fn expected_failures(what: &str) -> Vec<&'static str> {
    let mut v = Vec::new();
    if what.contains("vek_by_ask FAIL") {
        v.push(check::VEK_SIGNED_BY_ASK);
    }
    if what.contains("signature FAIL") {
        v.push(check::REPORT_SIGNATURE);
    }
    if what.contains("chip MISMATCH") {
        v.push(check::CHIP_ID_BINDING);
    }
    // The manifest judges REPORTED_TCB in the layout of the certificate's productName. We judge
    // it in the layout of the product the *signed* CPUID fields name (DESIGN.md: product from
    // the report, not the certificate); when the two disagree the `product` check fails instead
    // (and `manifest_reject_pairs_fail_for_the_stated_reason` shows the manifest's TCB mismatch
    // holds in its own terms).
    if what.contains("TCB MISMATCH") && !what.contains("CPUID says") {
        v.push(check::TCB_BINDING);
    }
    if what.contains("CPUID says") {
        v.push(check::PRODUCT);
    }
    assert!(!v.is_empty(), "unmapped reason {what}");
    v
}

use manifest::{ACCEPT, CERT_ONLY, NO_CERT, REJECT};

#[test]
fn manifest_accept_pairs_verify() {
    assert_eq!(ACCEPT.len(), 60, "MANIFEST lists 60 ACCEPT pairs");
    let amd = TrustAnchors::amd();
    for p in providers() {
        for &(report, vek, chain, chip, tcb, start, end) in ACCEPT {
            let time = time_for(start, end);
            let bytes = read(report);
            let e = Endorsements::new(read(vek));
            for (label, anchors) in [
                ("manifest chain", chain_anchors(chain)),
                ("pinned", amd.clone()),
            ] {
                let out = run(&anchors, &p, time, &bytes, &e);
                let ev = match &out.result {
                    Ok(ev) => ev,
                    Err(err) => panic!(
                        "[{}] {report} + {vek} ({label}): {err}\n{:#?}",
                        p.name(),
                        out.checks
                    ),
                };
                assert_eq!(ev.product(), chain_product(chain), "{report}");
                assert_eq!(ev.cert_kind(), chain_kind(chain), "{report}");
                assert_eq!(ev.tcb(), parse_tcb(tcb), "{report}");
                assert_eq!(ev.provider_name(), p.name());
                assert_eq!(ev.report().as_bytes().as_slice(), bytes.as_slice());
                match chip {
                    "ok" => assert_eq!(ev.chip_id().map(<[u8]>::len), Some(64), "{report}"),
                    "ok (8 B)" => assert_eq!(ev.chip_id().map(<[u8]>::len), Some(8), "{report}"),
                    "n/a" => {
                        assert_eq!(ev.chip_id(), None, "{report}");
                        assert!(
                            ev.csp_id().is_some_and(|c| c.contains("amazonaws.com")),
                            "{report}"
                        );
                    }
                    other => panic!("chip column {other}"),
                }
                for c in ev.checks() {
                    let may_skip = c.name == check::CRL
                        || c.name == check::HOST_CERTIFICATES
                        || (chip == "n/a" && c.name == check::CHIP_ID_BINDING);
                    let ok = c.status == CheckStatus::Pass
                        || (may_skip && c.status == CheckStatus::Skipped);
                    assert!(ok, "{report}: {c:?}");
                }
                let names: Vec<&str> = ev.checks().iter().map(|c| c.name).collect();
                assert_eq!(names, check::ALL);
            }
        }
    }
}

#[test]
fn accepted_pairs_cover_both_pss_encodings_and_serial_zero() {
    // The 67-byte (trailerField omitted) and 72-byte (explicit trailerField) RSASSA-PSS
    // AlgorithmIdentifiers both occur among the accepted VEKs, and every VEK has serial 0.
    let mut lens = std::collections::BTreeSet::new();
    for &(_, vek, ..) in ACCEPT {
        let cert = snp_certs::chain::AmdCert::from_der("VEK", &read(vek)).expect("parses");
        use der::Encode;
        let alg = cert
            .certificate()
            .signature_algorithm
            .to_der()
            .expect("encodes");
        lens.insert(alg.len());
        assert_eq!(cert.serial_hex(), "0", "{vek}");
    }
    assert!(lens.contains(&67) && lens.contains(&72), "{lens:?}");
}

#[test]
fn manifest_expired_vleks_fail_validity_at_now() {
    let mut n = 0;
    for p in providers() {
        for &(report, vek, chain, _, _, _, end) in ACCEPT {
            if day(end) > NOW {
                continue;
            }
            n += 1;
            let out = run(
                &TrustAnchors::amd(),
                &p,
                NOW,
                &read(report),
                &Endorsements::new(read(vek)),
            );
            assert_eq!(out.failed(), [check::VALIDITY], "{report} ({chain})");
            assert!(matches!(out.result, Err(VerifyError::Validity(_))));
        }
    }
    assert!(
        n >= 5 * providers().len(),
        "the five expired AWS VLEK lines are covered"
    );
}

#[test]
fn manifest_reject_pairs_fail_for_the_stated_reason() {
    assert_eq!(REJECT.len(), 17, "MANIFEST lists 17 REJECT pairs");
    let amd = TrustAnchors::amd();
    for p in providers() {
        for &(report, vek, chain, what) in REJECT {
            let expected = expected_failures(what);
            let bytes = read(report);
            let e = Endorsements::new(read(vek));
            // Manifest chain, at a time inside the VEK's validity (validity is not the reason).
            let cert = snp_certs::chain::AmdCert::from_der("VEK", &e.vek).expect("parses");
            let t = cert.not_before() + 2 * DAY;
            let out = run(&chain_anchors(chain), &p, t, &bytes, &e);
            let failed = out.failed();
            assert!(
                out.result.is_err(),
                "{report} + {vek} against {chain} must be rejected"
            );
            for f in &expected {
                assert!(
                    failed.contains(f),
                    "[{}] {report} + {vek}: expected {f} to fail; failed {failed:?}",
                    p.name()
                );
            }
            let cross_chain = what.contains("ValueError");
            // Nothing else fails, except that a cross-product chain has no anchors at all for the
            // report's product, so the anchor checks fail with it.
            let allowed_extra: &[&str] = if cross_chain {
                &[check::ARK_SELF_SIGNATURE, check::ASK_SIGNED_BY_ARK]
            } else {
                &[]
            };
            for f in &failed {
                assert!(
                    expected.contains(f) || allowed_extra.contains(f),
                    "[{}] {report} + {vek}: unexpected failure {f}: {:?}",
                    p.name(),
                    out.check(f)
                );
            }
            if what.contains("CPUID says") && what.contains("TCB MISMATCH") {
                // In the certificate's (Turin) layout the report TCB and the certificate's SPLs
                // disagree, as the manifest states.
                let cert = snp_certs::chain::AmdCert::from_der("VEK", &e.vek).expect("parses");
                let named = cert.amd_extensions().product("VEK").expect("productName");
                let view = ReportView::new(&bytes).expect("view");
                let in_cert_layout = Tcb::decode_lenient(view.reported_tcb_raw(), named);
                assert_ne!(
                    cert.amd_extensions().tcb("VEK", named).ok(),
                    Some(in_cert_layout),
                    "{report}"
                );
            }
            let names: Vec<&str> = out.checks.iter().map(|c| c.name).collect();
            assert_eq!(names, check::ALL, "{report}");
            let first = out.result.as_ref().err().map(VerifyError::check);
            assert!(first.is_some_and(|c| failed.contains(&c)));
            // With AMD's pinned roots the same pairs are rejected too — except the cross-chain
            // lines, whose report and VEK are a genuine pair (only the chain file was wrong).
            if !cross_chain {
                let out = run(&amd, &p, t, &bytes, &e);
                assert!(
                    out.result.is_err(),
                    "{report} + {vek} must be rejected with pinned roots"
                );
                for f in &expected {
                    assert!(out.failed().contains(f), "{report} pinned: {f}");
                }
            }
        }
    }
}

/// The report and certificate of each cross-chain REJECT line are themselves a valid pair.
#[test]
fn cross_chain_lines_are_genuine_pairs_under_pinned_roots() {
    let p = &providers()[0];
    for &(report, vek, _, what) in REJECT {
        if !what.contains("ValueError") {
            continue;
        }
        let cert = snp_certs::chain::AmdCert::from_der("VEK", &read(vek)).expect("parses");
        let t = cert.not_before() + 2 * DAY;
        let out = run(
            &TrustAnchors::amd(),
            p,
            t,
            &read(report),
            &Endorsements::new(read(vek)),
        );
        assert!(out.result.is_ok(), "{report}: {:?}", out.failed());
    }
}

/// A VLEK checked by the ASK (the VCEK intermediate) instead of the ASVK fails on the chain.
#[test]
fn vlek_signed_by_ask_slot_is_rejected() {
    let pem = String::from_utf8(read("go-sev-guest/ask_ark_milan.pem")).expect("utf-8");
    let ders = snp_certs::chain::pem_certificates(pem.as_bytes()).expect("pem");
    // The Milan ASK placed in the ASVK slot.
    let anchors = TrustAnchors::explicit()
        .with_chain(Product::Milan, &ders[1], None, Some(&ders[0]))
        .expect("anchors");
    for p in providers() {
        let out = run(
            &anchors,
            &p,
            day("2023-05-01"),
            &read("constellation/aws_report_valid_5e8e4390.bin"),
            &Endorsements::new(read("constellation/certs_valid_vlek_f8b8421b.der")),
        );
        assert_eq!(out.failed(), [check::VEK_SIGNED_BY_ASK], "{:?}", out.checks);
    }
}

fn all_vek_files() -> Vec<String> {
    let mut v = Vec::new();
    for dir in std::fs::read_dir(data_dir()).expect("data dir") {
        let dir = dir.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).expect("dir") {
            let f = f.expect("entry").path();
            let name = f
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if name.ends_with(".der") && !name.contains("malformed_ask") {
                let d = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                v.push(format!("{d}/{name}"));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn manifest_no_certificate_reports_cannot_verify() {
    let veks = all_vek_files();
    assert_eq!(veks.len(), 53, "53 VCEK/VLEK certificate files");
    let p = &providers()[0];
    for report in NO_CERT {
        let bytes = read(report);
        let out = run(
            &TrustAnchors::amd(),
            p,
            NOW,
            &bytes,
            &Endorsements::default(),
        );
        assert!(
            matches!(out.result, Err(VerifyError::NoCertificate)),
            "{report}"
        );
        // No certificate in the whole data set verifies it, at any time in its window.
        for vek in &veks {
            let der = read(vek);
            let cert = snp_certs::chain::AmdCert::from_der("VEK", &der).expect("parses");
            let t = cert.not_before() + DAY;
            let out = run(&TrustAnchors::amd(), p, t, &bytes, &Endorsements::new(der));
            assert!(out.result.is_err(), "{report} must not verify with {vek}");
            assert!(
                out.failed().contains(&check::REPORT_SIGNATURE),
                "{report} + {vek}"
            );
        }
    }
}

#[test]
fn manifest_certificate_only_checks() {
    for p in providers() {
        for &(vek, chain) in CERT_ONLY {
            let product = chain_product(chain);
            for anchors in [chain_anchors(chain), TrustAnchors::amd()] {
                let v = Verifier::with_provider(anchors, p.clone()).at_unix(NOW);
                let got = v
                    .verify_vek(&read(vek), product)
                    .unwrap_or_else(|e| panic!("{vek}: {e}"));
                assert_eq!(got.kind(), CertKind::Vcek);
                assert_eq!(got.hw_id().map(<[u8]>::len), Some(product.hwid_len()));
            }
        }
        // Turin VCEK: structVersion 1, fmcSPL present, 8-byte hwID.
        let turin = Verifier::with_provider(TrustAnchors::amd(), p.clone())
            .at_unix(NOW)
            .verify_vek(&read("virtee-sev/vcek_turin.der"), Product::Turin)
            .expect("verifies");
        assert_eq!(turin.tcb(), Tcb::with_fmc(0, 0, 0, 0, 9));
        // Asking for the wrong product is refused.
        assert!(Verifier::with_provider(TrustAnchors::amd(), p.clone())
            .at_unix(NOW)
            .verify_vek(&read("virtee-sev/vcek_turin.der"), Product::Genoa)
            .is_err());
    }
}

/// Every VEK file in the data set parses and chains to AMD's pinned roots (except the two
/// tampered ones the manifest names), each inside its own validity period.
#[test]
fn every_real_vek_chains_to_pinned_roots() {
    let v = Verifier::new(TrustAnchors::amd());
    for vek in all_vek_files() {
        let der = read(vek.as_str());
        let cert = snp_certs::chain::AmdCert::from_der("VEK", &der)
            .unwrap_or_else(|e| panic!("{vek}: {e}"));
        let product = cert.amd_extensions().product("VEK").expect("productName");
        let r = v
            .clone()
            .at_unix(cert.not_before() + DAY)
            .verify_vek(&der, product);
        if vek.contains("TAMPERED") || vek.contains("neg_invalid_vcek") {
            assert!(
                matches!(
                    r,
                    Err(VerifyError::Chain {
                        check: "vek_signed_by_ask",
                        ..
                    })
                ),
                "{vek}: {r:?}"
            );
        } else {
            r.unwrap_or_else(|e| panic!("{vek}: {e}"));
        }
    }
}

const MILAN_REPORT: &str = "virtee-sev/report_milan.bin";
const MILAN_VCEK: &str = "virtee-sev/vcek_milan.der";
const TURIN_REPORT: &str = "oak/turin_oc_evidence_report_3f44a09b.bin";
const TURIN_VCEK: &str = "oak/turin_oc_endorsements_vcek_14889815.der";
const VLEK_REPORT: &str = "reclaim-js-sdk/verify_proof.test_report_f16dddb3.bin";
const VLEK: &str = "reclaim-js-sdk/verify_proof.test_vlek_660274b7.der";

#[test]
fn wrong_chip_another_chips_real_vcek() {
    for p in providers() {
        // go-sev-guest's report with virtee's Milan VCEK (another chip).
        let out = run(
            &TrustAnchors::amd(),
            &p,
            NOW,
            &read("go-sev-guest/attestation.bin"),
            &Endorsements::new(read(MILAN_VCEK)),
        );
        assert!(out.failed().contains(&check::CHIP_ID_BINDING));
        assert!(out.failed().contains(&check::REPORT_SIGNATURE));
        assert!(out.result.is_err());
    }
}

#[test]
fn vlek_report_with_vcek_and_vcek_report_with_vlek() {
    let t = day("2026-06-01");
    for p in providers() {
        // A VLEK-signed report presented with a (Milan) VCEK.
        let out = run(
            &TrustAnchors::amd(),
            &p,
            t,
            &read(VLEK_REPORT),
            &Endorsements::new(read(MILAN_VCEK)),
        );
        assert!(
            out.failed().contains(&check::SIGNER_BINDING),
            "{:?}",
            out.checks
        );
        assert!(out.failed().contains(&check::REPORT_SIGNATURE));
        assert!(out.result.is_err());
        // A VCEK-signed report presented with a VLEK.
        let out = run(
            &TrustAnchors::amd(),
            &p,
            t,
            &read(MILAN_REPORT),
            &Endorsements::new(read(VLEK)),
        );
        assert!(
            out.failed().contains(&check::SIGNER_BINDING),
            "{:?}",
            out.checks
        );
        assert!(out.failed().contains(&check::REPORT_SIGNATURE));
        assert!(out.result.is_err());
    }
}

#[test]
fn wrong_tcb_is_reported() {
    // A real report whose REPORTED_TCB byte (snp SPL) is changed: the TCB binding fails as well
    // as the signature. (An isolated TCB mismatch with a valid signature is in forged_chain.rs.)
    let mut bytes = read(MILAN_REPORT);
    bytes[offset::REPORTED_TCB + 6] += 1;
    for p in providers() {
        let out = run(
            &TrustAnchors::amd(),
            &p,
            NOW,
            &bytes,
            &Endorsements::new(read(MILAN_VCEK)),
        );
        assert_eq!(out.failed(), [check::REPORT_SIGNATURE, check::TCB_BINDING]);
        assert!(matches!(out.result, Err(VerifyError::ReportSignature(_))));
    }
}

#[test]
fn expired_certificate_at_now_and_before_validity() {
    for p in providers() {
        // The VLEK expired 2024-04-20.
        let out = run(
            &TrustAnchors::amd(),
            &p,
            NOW,
            &read("constellation/aws_report_valid_5e8e4390.bin"),
            &Endorsements::new(read("constellation/certs_valid_vlek_f8b8421b.der")),
        );
        assert_eq!(out.failed(), [check::VALIDITY]);
        // A VCEK before its notBefore.
        let out = run(
            &TrustAnchors::amd(),
            &p,
            day("2023-04-01"),
            &read(MILAN_REPORT),
            &Endorsements::new(read(MILAN_VCEK)),
        );
        assert_eq!(out.failed(), [check::VALIDITY]);
    }
    // The default time is the system clock: the atakit VCEK is valid until 2033.
    let v = Verifier::new(TrustAnchors::amd());
    let r = v.verify(
        &read("atakit/report_023584c7.bin"),
        &Endorsements::new(read("atakit/vcek_89da33ca.der")),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    if (day("2026-05-31")..day("2033-05-31")).contains(&now) {
        r.expect("verifies at the system time");
    } else {
        assert!(matches!(r, Err(VerifyError::Validity(_))));
    }
}
