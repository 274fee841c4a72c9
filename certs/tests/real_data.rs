//! Real AMD evidence from `tests/data/real` (see MANIFEST.md there): every line of the
//! manifest's ground-truth tables, plus negatives built from real bytes. Every test runs on
//! every crypto provider compiled in (`--features aws-lc` adds aws-lc-rs).

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

/// (report, VEK, chain, chip, TCB, window start, window end) — every ACCEPT line of MANIFEST.md.
const ACCEPT: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
    (
        "atakit/report_023584c7.bin",
        "atakit/vcek_89da33ca.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 29, ucode: 222}",
        "2026-05-31",
        "2033-05-31",
    ),
    (
        "automata-sev-sdk/output_report_597d1fae.bin",
        "automata-sev-sdk/output_vcek_63cb5ea9.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 22, ucode: 209}",
        "2024-11-19",
        "2031-11-19",
    ),
    (
        "automata-sev-sdk/output_report_b1ed960a.bin",
        "automata-sev-sdk/output_vcek_0c20cb68.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 22, ucode: 209}",
        "2024-10-17",
        "2031-10-17",
    ),
    (
        "constellation/aws_report_valid_5e8e4390.bin",
        "constellation/certs_valid_vlek_f8b8421b.der",
        "ask_ark_milan_vlek.pem",
        "n/a",
        "{bl: 3, tee: 0, snp: 10, ucode: 115}",
        "2023-04-20",
        "2024-04-20",
    ),
    (
        "constellation/aws_vlek_report_const_77632336.bin",
        "constellation/certs_valid_vlek_f8b8421b.der",
        "ask_ark_milan_vlek.pem",
        "n/a",
        "{bl: 3, tee: 0, snp: 10, ucode: 115}",
        "2023-04-20",
        "2024-04-20",
    ),
    (
        "constellation/azure_success_report_2ca0fafb.bin",
        "constellation/azure_vcek_2f52d3cf.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 2, tee: 0, snp: 6, ucode: 93}",
        "2023-08-28",
        "2030-08-28",
    ),
    (
        "constellation/report_0216f1ce.bin",
        "constellation/vlek_b8cd9a6c.der",
        "ask_ark_milan_vlek.pem",
        "n/a",
        "{bl: 4, tee: 0, snp: 24, ucode: 217}",
        "2024-12-10",
        "2025-12-10",
    ),
    (
        "constellation/report_93e5d7e7.bin",
        "constellation/vlek_a827485f.der",
        "ask_ark_milan_vlek.pem",
        "n/a",
        "{bl: 3, tee: 0, snp: 21, ucode: 209}",
        "2024-05-05",
        "2025-05-05",
    ),
    (
        "constellation/report_b73ee124.bin",
        "constellation/vlek_43001bb9.der",
        "ask_ark_milan_vlek.pem",
        "n/a",
        "{bl: 3, tee: 0, snp: 10, ucode: 115}",
        "2023-07-19",
        "2024-07-19",
    ),
    (
        "constellation/snp_attestation_report_cd6f311a.bin",
        "constellation/vcek_b68af9a5.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 2, tee: 0, snp: 6, ucode: 93}",
        "2023-08-30",
        "2030-08-30",
    ),
    (
        "constellation/snp_attestation_report_cd6f311a.bin",
        "constellation/azure_default_vcek_82079a36.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 2, tee: 0, snp: 6, ucode: 93}",
        "2022-06-29",
        "2029-06-29",
    ),
    (
        "go-sev-guest/attestation.bin",
        "go-sev-guest/vcek.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 2, tee: 0, snp: 5, ucode: 68}",
        "2022-09-24",
        "2029-09-24",
    ),
    (
        "ms-confidential-sidecar/platform_cert_fetcher_test_report_49d19193.bin",
        "ms-confidential-sidecar/platform_cert_fetcher_test_vcek_d63fc253.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 24, ucode: 219}",
        "2025-01-23",
        "2032-01-23",
    ),
    (
        "ms-confidential-sidecar/snp_report_8aa04429.bin",
        "ms-confidential-sidecar/uvm_host_amd_certificate_vcek_914363d8.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 8, ucode: 115}",
        "2022-11-29",
        "2029-11-29",
    ),
    (
        "ms-ravl/sev_snp_report_bc787e8f.bin",
        "ms-ravl/sev_snp_vcek_262c2206.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 2, tee: 0, snp: 6, ucode: 93}",
        "2022-05-18",
        "2029-05-18",
    ),
    (
        "oak/cb_evidence_20250124_report_6920e058.bin",
        "oak/cb_endorsements_20250124_vcek_a3b31e97.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 22, ucode: 209}",
        "2024-09-17",
        "2031-09-17",
    ),
    (
        "oak/cb_evidence_report_8af4ab55.bin",
        "oak/cb_endorsements_vcek_b9060d95.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 24, ucode: 219}",
        "2025-02-03",
        "2032-02-03",
    ),
    (
        "oak/cb_evidence_report_f6b2146f.bin",
        "oak/cb_endorsement_vcek_a4bcf427.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 20, ucode: 209}",
        "2024-05-20",
        "2031-05-20",
    ),
    (
        "oak/evidence_report_2050186d.bin",
        "oak/vcek_milan_411b580e.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 14, ucode: 209}",
        "2024-02-04",
        "2031-02-04",
    ),
    (
        "oak/evidence_report_420f4d65.bin",
        "oak/vcek_milan_9ca34a2a.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 8, ucode: 168}",
        "2024-01-22",
        "2031-01-22",
    ),
    (
        "oak/evidence_report_420f4d65.bin",
        "oak/vcek_milan_11fa87ef.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 8, ucode: 168}",
        "2024-01-18",
        "2031-01-18",
    ),
    (
        "oak/genoa_oc_evidence_report_6d1ceffa.bin",
        "oak/genoa_oc_endorsements_vcek_b6563a6c.der",
        "ask_ark_genoa.pem",
        "ok",
        "{bl: 10, tee: 0, snp: 25, ucode: 84}",
        "2025-08-07",
        "2032-08-07",
    ),
    (
        "oak/genoa_oc_evidence_report_a95b044f.bin",
        "oak/vcek_genoa_814b37a9.der",
        "ask_ark_genoa.pem",
        "ok",
        "{bl: 7, tee: 0, snp: 15, ucode: 62}",
        "2024-06-25",
        "2031-06-25",
    ),
    (
        "oak/milan_oc_evidence_report_8e517e1f.bin",
        "oak/milan_oc_endorsements_vcek_008fed0d.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 20, ucode: 209}",
        "2024-02-29",
        "2031-02-28",
    ),
    (
        "oak/milan_oc_release_evidence_report_40a2778d.bin",
        "oak/milan_oc_release_endorsements_vcek_176f84a0.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 24, ucode: 219}",
        "2025-01-15",
        "2032-01-15",
    ),
    (
        "oak/milan_oc_staging_evidence_report_810ea610.bin",
        "oak/milan_oc_release_endorsements_vcek_176f84a0.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 24, ucode: 219}",
        "2025-01-15",
        "2032-01-15",
    ),
    (
        "oak/milan_rk_evidence_report_199bc107.bin",
        "oak/milan_rk_endorsements_vcek_0c95ed68.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 20, ucode: 209}",
        "2024-02-29",
        "2031-02-28",
    ),
    (
        "oak/milan_rk_release_evidence_report_8a73d9be.bin",
        "oak/milan_rk_release_endorsements_vcek_5dddf7d1.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 24, ucode: 219}",
        "2025-01-15",
        "2032-01-15",
    ),
    (
        "oak/milan_rk_staging_evidence_report_c51f6f70.bin",
        "oak/milan_rk_release_endorsements_vcek_5dddf7d1.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 24, ucode: 219}",
        "2025-01-15",
        "2032-01-15",
    ),
    (
        "oak/oc_evidence_20241205_report_18fba71c.bin",
        "oak/oc_endorsements_20241205_vcek_6b0d144b.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 22, ucode: 209}",
        "2024-07-26",
        "2031-07-26",
    ),
    (
        "oak/oc_evidence_20241205_report_43bf5354.bin",
        "oak/milan_rk_release_endorsements_vcek_5dddf7d1.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 24, ucode: 219}",
        "2025-01-15",
        "2032-01-15",
    ),
    (
        "oak/oc_evidence_20241205_report_4f6c96dd.bin",
        "oak/oc_endorsements_20241205_vcek_e61d06d2.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 22, ucode: 209}",
        "2024-07-26",
        "2031-07-26",
    ),
    (
        "oak/oc_evidence_20241205_report_5d69e59e.bin",
        "oak/oc_endorsements_20241205_vcek_e89cf138.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 24, ucode: 219}",
        "2025-01-16",
        "2032-01-16",
    ),
    (
        "oak/oc_evidence_report_3058ae3d.bin",
        "oak/milan_oc_endorsements_vcek_008fed0d.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 20, ucode: 209}",
        "2024-02-29",
        "2031-02-28",
    ),
    (
        "oak/oc_evidence_report_5ee07398.bin",
        "oak/milan_oc_endorsements_vcek_008fed0d.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 20, ucode: 209}",
        "2024-02-29",
        "2031-02-28",
    ),
    (
        "oak/oc_evidence_report_c43a6ea8.bin",
        "oak/oc_vcek_milan_8af5c11c.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 8, ucode: 168}",
        "2024-02-23",
        "2031-02-23",
    ),
    (
        "oak/oc_evidence_report_e4a7eaff.bin",
        "oak/oc_vcek_milan_c9dfd65a.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 20, ucode: 209}",
        "2024-03-21",
        "2031-03-21",
    ),
    (
        "oak/rk_evidence_20240312_report_910984e4.bin",
        "oak/milan_rk_endorsements_vcek_0c95ed68.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 20, ucode: 209}",
        "2024-02-29",
        "2031-02-28",
    ),
    (
        "oak/rk_evidence_20241205_report_4141070a.bin",
        "oak/rk_endorsements_20241205_vcek_d78e4d56.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 22, ucode: 209}",
        "2024-07-26",
        "2031-07-26",
    ),
    (
        "oak/rk_evidence_20241205_report_4bf52cb2.bin",
        "oak/rk_endorsements_20241205_vcek_14a27f0d.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 24, ucode: 219}",
        "2025-01-15",
        "2032-01-15",
    ),
    (
        "oak/rk_evidence_20241205_report_c23c5618.bin",
        "oak/rk_endorsements_20241205_vcek_a882f430.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 22, ucode: 209}",
        "2024-07-26",
        "2031-07-26",
    ),
    (
        "oak/rk_evidence_report_071c9784.bin",
        "oak/rk_vcek_milan_5d3c38a7.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 20, ucode: 209}",
        "2024-02-29",
        "2031-03-01",
    ),
    (
        "oak/rk_evidence_report_e6e1d1de.bin",
        "oak/rk_vcek_milan_d32692ca.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 20, ucode: 209}",
        "2024-02-29",
        "2031-02-28",
    ),
    (
        "oak/turin_oc_evidence_report_3f44a09b.bin",
        "oak/turin_oc_endorsements_vcek_14889815.der",
        "ask_ark_turin_vcek.pem",
        "ok (8 B)",
        "{fmc: 0, bl: 1, tee: 0, snp: 2, ucode: 71}",
        "2025-07-17",
        "2032-07-17",
    ),
    (
        "reclaim-js-sdk/verify_proof.test_report_e5ce94e2.bin",
        "reclaim-js-sdk/verify_proof.test_vlek_65d4e1f2.der",
        "ask_ark_milan_vlek.pem",
        "n/a",
        "{bl: 4, tee: 0, snp: 27, ucode: 222}",
        "2025-12-15",
        "2026-12-15",
    ),
    (
        "reclaim-js-sdk/verify_proof.test_report_f16dddb3.bin",
        "reclaim-js-sdk/verify_proof.test_vlek_660274b7.der",
        "ask_ark_milan_vlek.pem",
        "n/a",
        "{bl: 4, tee: 0, snp: 29, ucode: 222}",
        "2026-03-09",
        "2027-03-09",
    ),
    (
        "reclaim-js-sdk/verify_proof_test_report_d7a644df.bin",
        "reclaim-js-sdk/verify_proof.test_vlek_660274b7.der",
        "ask_ark_milan_vlek.pem",
        "n/a",
        "{bl: 4, tee: 0, snp: 29, ucode: 222}",
        "2026-03-09",
        "2027-03-09",
    ),
    (
        "routex-client-lua/attestation_spec_report_64356573.bin",
        "routex-client-lua/vcek-chain-genoa-v5_e38ccf0f.der",
        "ask_ark_genoa.pem",
        "ok",
        "{bl: 10, tee: 0, snp: 27, ucode: 88}",
        "2025-11-11",
        "2032-11-11",
    ),
    (
        "routex-client-lua/attestation_spec_report_dc5d431d.bin",
        "routex-client-lua/vcek-chain-genoa_5636775e.der",
        "ask_ark_genoa.pem",
        "ok",
        "{bl: 9, tee: 0, snp: 23, ucode: 72}",
        "2025-07-20",
        "2032-07-20",
    ),
    (
        "signal-svr2/sev_report_a77b63bc.bin",
        "signal-svr2/sev_vcek_693dc019.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 8, ucode: 168}",
        "2023-06-13",
        "2030-06-13",
    ),
    (
        "signal-svr2/tpm2snp_report_c91c1da9.bin",
        "signal-svr2/tpm2snp_vcek_4f1fde69.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 8, ucode: 115}",
        "2022-11-23",
        "2029-11-23",
    ),
    (
        "teekit/sev-gcp-reportdata_9afca715.bin",
        "teekit/sev-gcp-vcek_7fd64e5d.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 27, ucode: 222}",
        "2025-12-05",
        "2032-12-05",
    ),
    (
        "teekit/sev-gcp-reportdata_9afca715.bin",
        "teekit/sev-gcp-x25519-vcek_10149bad.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 27, ucode: 222}",
        "2025-12-05",
        "2032-12-05",
    ),
    (
        "teekit/sev-gcp-x25519-bound_report_19a94fdb.bin",
        "teekit/sev-gcp-vcek_7fd64e5d.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 27, ucode: 222}",
        "2025-12-05",
        "2032-12-05",
    ),
    (
        "teekit/sev-gcp-x25519-bound_report_19a94fdb.bin",
        "teekit/sev-gcp-x25519-vcek_10149bad.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 27, ucode: 222}",
        "2025-12-05",
        "2032-12-05",
    ),
    (
        "teekit/sev-gcp_report_bcc3fbc5.bin",
        "teekit/sev-gcp-vcek_7fd64e5d.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 27, ucode: 222}",
        "2025-12-05",
        "2032-12-05",
    ),
    (
        "teekit/sev-gcp_report_bcc3fbc5.bin",
        "teekit/sev-gcp-x25519-vcek_10149bad.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 27, ucode: 222}",
        "2025-12-05",
        "2032-12-05",
    ),
    (
        "veraison/sevsnp-token_report_11b7048a.bin",
        "veraison/ta-endorsement-bad_vcek_19dcd4d6.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 4, tee: 0, snp: 24, ucode: 219}",
        "2025-01-27",
        "2032-01-27",
    ),
    (
        "veraison/sevsnp-tsm-report_8d8bfb3e.bin",
        "veraison/sevsnp-tsm-report_vcek_ab5a6bc8.der",
        "ask_ark_genoa.pem",
        "ok",
        "{bl: 10, tee: 0, snp: 23, ucode: 84}",
        "2025-04-20",
        "2032-04-20",
    ),
    (
        "virtee-sev/report_milan.bin",
        "virtee-sev/vcek_milan.der",
        "ask_ark_milan.pem",
        "ok",
        "{bl: 3, tee: 0, snp: 8, ucode: 115}",
        "2023-04-03",
        "2030-04-03",
    ),
];
/// (report, VEK, chain, what fails) — every REJECT line of MANIFEST.md.
const REJECT: &[(&str, &str, &str, &str)] = &[
    ("constellation/azure_success_report_2ca0fafb.bin", "constellation/azure_neg_invalid_vcek_77143119.der", "ask_ark_milan.pem", "chain: vek_by_ask FAIL(InvalidSignature)"),
    ("routex-client-lua/attestation_spec_report_dc5d431d.bin", "routex-client-lua/vcek_genoa_with_turin_product_TAMPERED_7d146c38.der", "ask_ark_genoa.pem", "chain: vek_by_ask FAIL(InvalidSignature); TCB MISMATCH(fmc,bl,snp); CPUID says Genoa, certificate says Turin"),
    ("constellation/aws_report_invalid_51302c81.bin", "constellation/certs_valid_vlek_f8b8421b.der", "ask_ark_milan_vlek.pem", "signature FAIL(does not verify)"),
    ("constellation/aws_neg_reportInvalid_a09c3b1a.bin", "constellation/certs_valid_vlek_f8b8421b.der", "ask_ark_milan_vlek.pem", "signature FAIL(does not verify)"),
    ("constellation/azure_neg_invalid_report_signature_69a9eb13.bin", "constellation/azure_default_vcek_82079a36.der", "ask_ark_milan.pem", "signature FAIL(does not verify)"),
    ("constellation/azure_neg_unsupported_microcode_version_report_a1a571b9.bin", "constellation/azure_default_vcek_82079a36.der", "ask_ark_milan.pem", "signature FAIL(does not verify)"),
    ("constellation/azure_neg_current_tcb_older_than_committed_report_e3058598.bin", "constellation/azure_default_vcek_82079a36.der", "ask_ark_milan.pem", "signature FAIL(does not verify)"),
    ("constellation/azure_neg_launch_tcb_ne_committed_report_49f62c8d.bin", "constellation/azure_default_vcek_82079a36.der", "ask_ark_milan.pem", "signature FAIL(does not verify)"),
    ("constellation/azure_neg_debugging_allowed_report_c83bed8e.bin", "constellation/azure_default_vcek_82079a36.der", "ask_ark_milan.pem", "signature FAIL(does not verify)"),
    ("constellation/azure_wip_attestation_altered_report_966db06c.bin", "constellation/azure_vcek_2f52d3cf.der", "ask_ark_milan.pem", "signature FAIL(does not verify)"),
    ("go-sev-guest/attestation.bin", "virtee-sev/vcek_milan.der", "ask_ark_milan.pem", "signature FAIL(does not verify); chip MISMATCH; TCB MISMATCH(bl,snp,ucode)"),
    ("azure-cvm-tooling/hcl-report-snp_fc4e6560.bin", "azure-cvm-tooling/certs_vcek_210f4180.der", "ask_ark_milan.pem", "signature FAIL(does not verify); chip MISMATCH"),
    ("virtee-sev/report_milan.bin", "virtee-sev/vcek_milan.der", "ask_ark_genoa.pem", "chain: vek_by_ask FAIL(ValueError)"),
    ("oak/turin_oc_evidence_report_3f44a09b.bin", "oak/turin_oc_endorsements_vcek_14889815.der", "ask_ark_milan.pem", "chain: vek_by_ask FAIL(ValueError)"),
    ("constellation/aws_report_valid_5e8e4390.bin", "constellation/certs_valid_vlek_f8b8421b.der", "ask_ark_milan.pem", "chain: vek_by_ask FAIL(ValueError)"),
    ("oak/genoa_oc_evidence_report_6d1ceffa.bin", "oak/genoa_oc_endorsements_vcek_b6563a6c.der", "ask_ark_turin_vcek.pem", "chain: vek_by_ask FAIL(ValueError)"),
    ("oak/milan_oc_release_evidence_report_40a2778d.bin", "oak/milan_rk_endorsements_vcek_0c95ed68.der", "ask_ark_milan.pem", "signature FAIL(does not verify); chip MISMATCH; TCB MISMATCH(bl,snp,ucode)"),
];
/// Reports whose certificate is not public.
const NO_CERT: &[&str] = &[
    "lit-sev-snp-utils/guest_report_94739f63.bin",
    "ms-confidential-sidecar/attest_test_report_62213a90.bin",
    "ms-confidential-sidecar/attest_test_report_c51d10d1.bin",
    "routex-client-lua/report_spec_99b12aca.bin",
];
/// (VEK, chain) — certificate-only lines.
const CERT_ONLY: &[(&str, &str)] = &[
    ("virtee-sev/vcek_turin.der", "ask_ark_turin_vcek.pem"),
    (
        "ms-confidential-sidecar/platform_cert_fetcher_test_vcek_9d4e552d.der",
        "ask_ark_milan.pem",
    ),
];

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

fn verify_mutated(v: &Verifier, report: &[u8], e: &Endorsements, what: &str) {
    let out = v.verify_detailed(report, e);
    assert!(out.result.is_err(), "{what} must not verify");
    // If the signature check ran it failed; it is skipped only when the report format (version,
    // algorithm) is unusable.
    let sig = out.check(check::REPORT_SIGNATURE).expect("always listed");
    match sig.status {
        CheckStatus::Fail => {}
        CheckStatus::Skipped => assert!(
            out.failed().contains(&check::REPORT_FORMAT) || out.failed().contains(&check::PRODUCT),
            "{what}: {:?}",
            out.checks
        ),
        CheckStatus::Pass | CheckStatus::Warn => panic!("{what}: signature passed"),
    }
}

#[test]
fn every_single_signed_byte_changed_is_rejected() {
    // Milan (v2) and Turin (v5, where TCB reserved bytes sit at other offsets).
    let cases = [(MILAN_REPORT, MILAN_VCEK), (TURIN_REPORT, TURIN_VCEK)];
    for p in providers() {
        // One verifier for the loop: the anchor checks are cached per verifier.
        let v = Verifier::with_provider(TrustAnchors::amd(), p.clone()).at_unix(NOW);
        for (report, vek) in cases {
            let bytes = read(report);
            let e = Endorsements::new(read(vek));
            assert!(v.verify(&bytes, &e).is_ok(), "{report} unmodified verifies");
            for i in 0..SIGNED_LEN {
                let mut m = bytes.clone();
                m[i] ^= 0x01;
                verify_mutated(&v, &m, &e, &format!("{report} byte {i:#05x} ^ 1"));
                let mut m = bytes.clone();
                m[i] = m[i].wrapping_add(0x80);
                verify_mutated(&v, &m, &e, &format!("{report} byte {i:#05x} + 0x80"));
            }
        }
    }
}

#[test]
fn reserved_tcb_bytes_changed_are_rejected_with_the_tcb_reason() {
    // Turin reserved bytes 4..7 of each TCB field; Milan 2..6.
    for p in providers() {
        for (report, vek, reserved) in [
            (TURIN_REPORT, TURIN_VCEK, 4..7),
            (MILAN_REPORT, MILAN_VCEK, 2..6),
        ] {
            for i in reserved {
                let mut m = read(report);
                m[offset::REPORTED_TCB + i] = 1;
                let out = run(
                    &TrustAnchors::amd(),
                    &p,
                    NOW,
                    &m,
                    &Endorsements::new(read(vek)),
                );
                assert!(out.failed().contains(&check::REPORT_SIGNATURE));
                assert!(
                    out.failed().contains(&check::TCB_BINDING),
                    "{report} reserved byte {i}"
                );
            }
        }
    }
}

#[test]
fn signature_encoding_is_strict() {
    let bytes = read(MILAN_REPORT);
    let vek = read(MILAN_VCEK);
    for p in providers() {
        // Junk in the upper 24 bytes of R or S.
        for base in [offset::SIGNATURE_R, offset::SIGNATURE_S] {
            for i in 48..72 {
                let mut m = bytes.clone();
                m[base + i] = 0x01;
                let out = run(
                    &TrustAnchors::amd(),
                    &p,
                    NOW,
                    &m,
                    &Endorsements::new(vek.clone()),
                );
                assert_eq!(out.failed(), [check::REPORT_SIGNATURE]);
                assert!(out
                    .check(check::REPORT_SIGNATURE)
                    .expect("listed")
                    .detail
                    .contains("upper 24 bytes"));
            }
        }
        // Non-canonical R: r + n (same value mod n) must be rejected, not reduced.
        let mut r_be: Vec<u8> = bytes[offset::SIGNATURE_R..offset::SIGNATURE_R + 48]
            .iter()
            .rev()
            .copied()
            .collect();
        let n: [u8; 48] = [
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81,
            0xF4, 0x37, 0x2D, 0xDF, 0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC,
            0x19, 0x6A, 0xCC, 0xC5, 0x29, 0x73,
        ];
        let mut carry = 0u16;
        for i in (0..48).rev() {
            let s = u16::from(r_be[i]) + u16::from(n[i]) + carry;
            r_be[i] = s as u8;
            carry = s >> 8;
        }
        if carry == 0 {
            let mut m = bytes.clone();
            for (i, b) in r_be.iter().rev().enumerate() {
                m[offset::SIGNATURE_R + i] = *b;
            }
            let out = run(
                &TrustAnchors::amd(),
                &p,
                NOW,
                &m,
                &Endorsements::new(vek.clone()),
            );
            assert_eq!(out.failed(), [check::REPORT_SIGNATURE], "r + n");
        } else {
            eprintln!(
                "r + n overflows 384 bits for this report; non-canonical R covered by S = n below"
            );
        }
        // S = n and S = 0.
        for s_be in [n, [0u8; 48]] {
            let mut m = bytes.clone();
            for (i, b) in s_be.iter().rev().enumerate() {
                m[offset::SIGNATURE_S + i] = *b;
            }
            let out = run(
                &TrustAnchors::amd(),
                &p,
                NOW,
                &m,
                &Endorsements::new(vek.clone()),
            );
            assert_eq!(out.failed(), [check::REPORT_SIGNATURE]);
        }
        // Bytes after the signature (0x330..0x4A0) are not signed: junk there would give one
        // genuine report many byte forms, so anything but zero is refused (issue 17).
        for i in [offset::SIGNATURE_RESERVED, 0x400, REPORT_SIZE - 1] {
            let mut m = bytes.clone();
            m[i] = 0x01;
            let out = run(
                &TrustAnchors::amd(),
                &p,
                NOW,
                &m,
                &Endorsements::new(vek.clone()),
            );
            assert_eq!(out.failed(), [check::REPORT_SIGNATURE], "byte {i:#x}");
            let detail = &out.check(check::REPORT_SIGNATURE).expect("listed").detail;
            assert!(
                detail.contains("reserved signature area") && detail.contains(&format!("{i:#05x}")),
                "{detail}"
            );
        }
    }
}

/// n − s for the 72-byte little-endian S of a report, written back in place.
fn negate_s(report: &mut [u8]) {
    use p384::elliptic_curve::PrimeField;
    let field = &mut report[offset::SIGNATURE_S..offset::SIGNATURE_S + 48];
    let mut be = [0u8; 48];
    for (d, b) in be.iter_mut().zip(field.iter().rev()) {
        *d = *b;
    }
    let s = Option::<p384::Scalar>::from(p384::Scalar::from_repr(be.into())).expect("S < n");
    let neg = (-s).to_repr();
    for (d, b) in field.iter_mut().zip(neg.iter().rev()) {
        *d = *b;
    }
}

#[test]
fn both_s_twins_verify_with_one_identity() {
    // AMD firmware does not normalise S: both (r, s) and (r, n - s) verify and both are
    // accepted, but they are one report, so the documented identity must be equal (issue 17).
    for p in providers() {
        let v = Verifier::with_provider(TrustAnchors::amd(), p.clone()).at_unix(NOW);
        let mut ids = Vec::new();
        for (report, vek) in [(MILAN_REPORT, MILAN_VCEK), (TURIN_REPORT, TURIN_VCEK)] {
            let e = Endorsements::new(read(vek));
            let bytes = read(report);
            let mut twin = bytes.clone();
            negate_s(&mut twin);
            assert_ne!(bytes, twin);
            let a = v.verify(&bytes, &e).expect("as received");
            let b = v.verify(&twin, &e).expect("the S twin verifies too");
            assert_ne!(a.report_bytes(), b.report_bytes(), "two byte forms");
            assert_eq!(a.id(), b.id(), "{report}: one identity");
            // Negating twice gives the received bytes back.
            negate_s(&mut twin);
            assert_eq!(twin, bytes);
            ids.push(a.id());
        }
        assert_ne!(ids[0], ids[1], "different reports, different identities");
        // The identity is the documented hash: label, 0x00, signed bytes, r, min(s, n - s).
        use sha2::Digest;
        let bytes = read(MILAN_REPORT);
        let mut twin = bytes.clone();
        negate_s(&mut twin);
        let be = |b: &[u8]| b.iter().rev().copied().collect::<Vec<u8>>();
        let s1 = be(&bytes[offset::SIGNATURE_S..offset::SIGNATURE_S + 48]);
        let s2 = be(&twin[offset::SIGNATURE_S..offset::SIGNATURE_S + 48]);
        let mut h = sha2::Sha384::new();
        h.update(snp_certs::verify::EVIDENCE_ID_LABEL);
        h.update([0u8]);
        h.update(&bytes[..SIGNED_LEN]);
        h.update(be(&bytes[offset::SIGNATURE_R..offset::SIGNATURE_R + 48]));
        h.update(s1.min(s2));
        assert_eq!(ids[0].as_bytes()[..], h.finalize()[..]);
    }
}

#[test]
fn truncated_and_oversized_reports() {
    let bytes = read(MILAN_REPORT);
    let e = Endorsements::new(read(MILAN_VCEK));
    for p in providers() {
        for len in [0, 1, SIGNED_LEN, REPORT_SIZE - 1] {
            let out = run(&TrustAnchors::amd(), &p, NOW, &bytes[..len], &e);
            assert!(
                matches!(out.result, Err(VerifyError::Report(_))),
                "len {len}"
            );
        }
        let mut long = bytes.clone();
        long.extend_from_slice(&[0; 20]); // like the constellation 1204-byte containers
        let out = run(&TrustAnchors::amd(), &p, NOW, &long, &e);
        assert!(matches!(out.result, Err(VerifyError::Report(_))));
        assert!(out
            .checks
            .iter()
            .skip(1)
            .all(|c| c.status == CheckStatus::Skipped));
    }
}

#[test]
fn tampered_ask_is_rejected_as_anchor_and_as_host_hint() {
    let tampered = read("constellation/azure_neg_malformed_ask_0903a395.der");
    let pem = String::from_utf8(read("go-sev-guest/ask_ark_milan.pem")).expect("utf-8");
    let ders = snp_certs::chain::pem_certificates(pem.as_bytes()).expect("pem");
    let report = read("constellation/azure_success_report_2ca0fafb.bin");
    let vek = read("constellation/azure_vcek_2f52d3cf.der");
    for p in providers() {
        // As an (explicit) anchor: the ARK→ASK signature fails.
        match TrustAnchors::explicit().with_chain(Product::Milan, &ders[1], Some(&tampered), None) {
            Ok(anchors) => {
                let out = run(&anchors, &p, NOW, &report, &Endorsements::new(vek.clone()));
                assert!(
                    out.failed().contains(&check::ASK_SIGNED_BY_ARK),
                    "{:?}",
                    out.checks
                );
                assert!(out.result.is_err());
            }
            Err(e) => eprintln!("tampered ASK does not even parse as an anchor: {e}"),
        }
        // As a host-served hint beside the real chain: reported, evidence rejected.
        let e = Endorsements::new(vek.clone())
            .with_host_chain(Some(tampered.clone()), Some(ders[1].clone()));
        let out = run(&TrustAnchors::amd(), &p, NOW, &report, &e);
        assert_eq!(out.failed(), [check::HOST_CERTIFICATES], "{:?}", out.checks);
        // The genuine host chain passes as a hint.
        let e = Endorsements::new(vek.clone())
            .with_host_chain(Some(ders[0].clone()), Some(ders[1].clone()));
        let out = run(&TrustAnchors::amd(), &p, NOW, &report, &e);
        assert!(out.result.is_ok(), "{:?}", out.checks);
        assert_eq!(
            out.check(check::HOST_CERTIFICATES).map(|c| c.status),
            Some(CheckStatus::Pass)
        );
        // Another product's chain served by the host is not AMD's Milan chain.
        let genoa = snp_certs::chain::pem_certificates(&read("go-sev-guest/ask_ark_genoa.pem"))
            .expect("pem");
        let e = Endorsements::new(vek.clone())
            .with_host_chain(Some(genoa[0].clone()), Some(genoa[1].clone()));
        assert_eq!(
            run(&TrustAnchors::amd(), &p, NOW, &report, &e).failed(),
            [check::HOST_CERTIFICATES]
        );
    }
}

#[test]
fn crl_inside_verification() {
    let report = read("oak/genoa_oc_evidence_report_6d1ceffa.bin");
    let vek = read("oak/genoa_oc_endorsements_vcek_b6563a6c.der");
    let crl = read("cyntrisec-cml-transport/crl_886a378d.crl");
    let milan_crl = read("atakit/milan.crl_53b18266.crl");
    for p in providers() {
        let e = Endorsements::new(vek.clone()).with_crl(crl.clone());
        // Inside the CRL's window (2025-10-24..2026-10-31) and the VCEK's (from 2025-08-07).
        let out = run(&TrustAnchors::amd(), &p, day("2026-01-15"), &report, &e);
        assert!(out.result.is_ok(), "{:?}", out.checks);
        assert_eq!(
            out.check(check::CRL).map(|c| c.status),
            Some(CheckStatus::Pass)
        );
        // Stale at the manifest's now.
        let out = run(&TrustAnchors::amd(), &p, NOW, &report, &e);
        assert_eq!(out.failed(), [check::CRL]);
        assert!(matches!(
            out.result,
            Err(VerifyError::Crl(snp_certs::error::CrlError::Stale { .. }))
        ));
        // The Milan CRL is not signed by ARK-Genoa.
        let e = Endorsements::new(vek.clone()).with_crl(milan_crl.clone());
        let out = run(&TrustAnchors::amd(), &p, day("2026-07-01"), &report, &e);
        assert_eq!(out.failed(), [check::CRL]);
        // Required but missing.
        let v = Verifier::with_provider(TrustAnchors::amd(), p.clone())
            .at_unix(day("2026-01-15"))
            .crl_policy(snp_certs::verify::CrlPolicy::Required);
        assert!(matches!(
            v.verify(&report, &Endorsements::new(vek.clone())),
            Err(VerifyError::CrlMissing)
        ));
    }
}

#[test]
fn masked_chip_id_is_visible_not_silent() {
    // Zeroing CHIP_ID breaks the signature (it is signed), but the check list must say the
    // chip binding was skipped because of the mask, not pass it.
    let mut m = read(MILAN_REPORT);
    m[offset::CHIP_ID..offset::CHIP_ID + 64].fill(0);
    let out = run(
        &TrustAnchors::amd(),
        &providers()[0],
        NOW,
        &m,
        &Endorsements::new(read(MILAN_VCEK)),
    );
    let c = out.check(check::CHIP_ID_BINDING).expect("listed");
    assert_eq!(c.status, CheckStatus::Skipped);
    assert!(c.detail.contains("masked"));
    assert!(out.result.is_err());
}

#[test]
fn report_view_on_real_reports() {
    let mut versions = std::collections::BTreeMap::new();
    for &(report, _, chain, ..) in ACCEPT {
        let bytes = read(report);
        let v = ReportView::new(&bytes).expect("1184 bytes");
        *versions.entry(v.version()).or_insert(0) += 1;
        if v.version() >= 3 {
            assert_eq!(
                v.product_from_cpuid(),
                Some(Ok(chain_product(chain))),
                "{report}"
            );
        } else {
            assert_eq!(v.cpuid(), None);
        }
        let expected_key = if chain_kind(chain) == CertKind::Vlek {
            SigningKey::Vlek
        } else {
            SigningKey::Vcek
        };
        assert_eq!(v.signing_key(), expected_key, "{report}");
        assert_eq!(
            v.chip_id_masked(),
            chain_kind(chain) == CertKind::Vlek,
            "{report}"
        );
    }
    assert!(
        versions.contains_key(&2) && versions.contains_key(&3) && versions.contains_key(&5),
        "{versions:?}"
    );
}

#[test]
fn kds_side_checks_without_a_report() {
    for p in providers() {
        let v = Verifier::with_provider(TrustAnchors::amd(), p.clone()).at_unix(NOW);
        for (chain, product, kind) in [
            ("ask_ark_milan.pem", Product::Milan, CertKind::Vcek),
            ("ask_ark_milan_vlek.pem", Product::Milan, CertKind::Vlek),
            ("ask_ark_genoa.pem", Product::Genoa, CertKind::Vcek),
            ("ask_ark_genoa_vlek.pem", Product::Genoa, CertKind::Vlek),
            ("ask_ark_turin_vcek.pem", Product::Turin, CertKind::Vcek),
            ("ask_ark_turin_vlek.pem", Product::Turin, CertKind::Vlek),
        ] {
            let ders = snp_certs::chain::pem_certificates(&read(&format!("go-sev-guest/{chain}")))
                .expect("pem");
            v.verify_ca_chain(product, kind, &ders[0], &ders[1])
                .unwrap_or_else(|e| panic!("{chain}: {e}"));
            // The other kind's slot, or another product, is refused.
            let other = if kind == CertKind::Vcek {
                CertKind::Vlek
            } else {
                CertKind::Vcek
            };
            assert!(
                v.verify_ca_chain(product, other, &ders[0], &ders[1])
                    .is_err(),
                "{chain}"
            );
            let other_product = if product == Product::Milan {
                Product::Genoa
            } else {
                Product::Milan
            };
            assert!(
                v.verify_ca_chain(other_product, kind, &ders[0], &ders[1])
                    .is_err(),
                "{chain}"
            );
        }
        let milan = snp_certs::chain::pem_certificates(&read("go-sev-guest/ask_ark_milan.pem"))
            .expect("pem");
        let tampered = read("constellation/azure_neg_malformed_ask_0903a395.der");
        assert!(v
            .verify_ca_chain(Product::Milan, CertKind::Vcek, &tampered, &milan[1])
            .is_err());
        // A VCEK with its served ASK as a hint.
        let got = v
            .verify_vek_with_hint(&read(MILAN_VCEK), Product::Milan, Some(&milan[0]))
            .expect("verifies");
        assert_eq!(got.tcb(), Tcb::new(3, 0, 8, 115));
        assert!(v
            .verify_vek_with_hint(&read(MILAN_VCEK), Product::Milan, Some(&tampered))
            .is_err());
        // CRLs: signature checked, freshness reported.
        let crl = read("cyntrisec-cml-transport/crl_886a378d.crl");
        let c = v
            .verify_crl(Product::Genoa, &crl)
            .expect("ARK-Genoa signed");
        assert!(!c.is_current(), "stale at 2026-11-25");
        assert_eq!(c.crl().revoked_serials(), ["020001"]);
        let c = v
            .clone()
            .at_unix(day("2026-01-15"))
            .verify_crl(Product::Genoa, &crl)
            .expect("verifies");
        assert!(c.is_current());
        assert!(
            v.verify_crl(Product::Milan, &crl).is_err(),
            "not ARK-Milan's"
        );
        assert!(v
            .verify_crl(Product::Milan, &read("atakit/milan.crl_53b18266.crl"))
            .is_ok());
    }
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Arbitrary mutations of a real report and its VCEK never panic the verifier.
        #[test]
        fn verify_on_mutated_inputs(
            rpos in 0usize..REPORT_SIZE, rval in any::<u8>(),
            cpos in 0usize..1500, cval in any::<u8>(), ccut in 1usize..1500,
            rlen in prop_oneof![Just(REPORT_SIZE), 0usize..1300],
        ) {
            let v = Verifier::new(TrustAnchors::amd()).at_unix(NOW);
            let mut report = read(MILAN_REPORT);
            report[rpos] = rval;
            report.resize(rlen, 0);
            let mut vek = read(MILAN_VCEK);
            if let Some(b) = vek.get_mut(cpos) { *b = cval; }
            vek.truncate(ccut.min(vek.len()));
            let out = v.verify_detailed(&report, &Endorsements::new(vek.clone()).with_host_chain(Some(vek.clone()), Some(vek)));
            let names: Vec<&str> = out.checks.iter().map(|c| c.name).collect();
            prop_assert_eq!(names, check::ALL.to_vec());
        }

        /// Arbitrary bytes as a VCEK.
        #[test]
        fn verify_on_junk_certificate(cert in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let v = Verifier::new(TrustAnchors::amd()).at_unix(NOW);
            prop_assert!(v.verify(&read(MILAN_REPORT), &Endorsements::new(cert.clone())).is_err());
            prop_assert!(v.verify_vek(&cert, Product::Milan).is_err());
        }
    }
}
