//! `snp-agent verify` on real AMD evidence in every format, with policies, nonces, and every
//! exit code the relying party can meet.

#[path = "cli_support/mod.rs"]
mod support;

use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use snp_certs::report::REPORT_SIZE;
use support::*;

const VERIFY_CHECKS: [&str; 6] = [
    "report_signature",
    "vek_signed_by_ask",
    "ask_signed_by_ark",
    "tcb_binding",
    "chip_id_binding",
    "signer_binding",
];

#[test]
fn real_evidence_verifies_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    for (name, pair) in [("milan", &MILAN), ("turin", &TURIN), ("genoa", &GENOA)] {
        let ev = evidence(pair);
        for format in Format::ALL {
            let path = write(&ev, format, dir.path(), name);
            let (code, out, err) = run(snp_agent(cache.path())
                .arg("verify")
                .arg(&path)
                .arg("--offline"));
            assert_eq!(code, 0, "{name} {format}: {out}\n{err}");
            assert!(out.contains("result: VERIFIED; policy holds"), "{out}");
            assert!(out.contains(&format!("({format})")), "{out}");
            for check in VERIFY_CHECKS {
                assert!(
                    out.contains(&format!("PASS  {check}")),
                    "{name} {format} {check}: {out}"
                );
            }
            // The explicit --in-format reads the same thing.
            let (code, _, err) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
                "--offline",
                "--in-format",
                format.as_str(),
            ]));
            assert_eq!(code, 0, "{name} {format} --in-format: {err}");
        }
    }
}

#[test]
fn real_pem_table_from_a_configfs_host_verifies() {
    // veraison's auxblob: the host served ARK, ASK and VCEK as PEM.
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ev = Evidence::new(
        read_real(GENOA.report),
        read_real("veraison/sevsnp-tsm-report_9e37aaf8.certtable.bin"),
    );
    let path = write(&ev, Format::Bin, dir.path(), "veraison");
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--offline"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS  host_certificates"), "{out}");
}

#[test]
fn vlek_evidence_and_the_verification_time() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    // reclaim's VLEK is valid 2026-03-09 .. 2027-03-09.
    let path = write(&evidence(&VLEK), Format::Json, dir.path(), "vlek");
    let (code, out, _) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--offline",
        "--at",
        "2026-06-01T00:00:00Z",
    ]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("VLEK"), "{out}");
    // AWS: the host's real table holds only the (since expired) VLEK.
    let ev = Evidence::new(
        read_real("constellation/aws_report_valid_5e8e4390.bin"),
        read_real("constellation/aws_certs_valid_4c676382.certtable.bin"),
    );
    let path = write(&ev, Format::Bin, dir.path(), "aws");
    let (code, out, _) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--offline",
        "--at",
        "2026-11-25",
    ]));
    assert_eq!(code, i32::from(exit_code::VERIFICATION_FAILED), "{out}");
    assert!(out.contains("FAIL  validity"), "{out}");
    let (code, out, _) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--offline",
        "--at",
        "2024-01-01",
    ]));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn another_chips_vcek_is_rejected_by_check_name() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut ev = evidence(&MILAN);
    ev.report = read_real("go-sev-guest/attestation.bin");
    let path = write(&ev, Format::Json, dir.path(), "wrongchip");
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--offline"));
    assert_eq!(code, i32::from(exit_code::VERIFICATION_FAILED), "{out}");
    assert!(out.contains("FAIL  report_signature"), "{out}");
    assert!(out.contains("FAIL  chip_id_binding"), "{out}");
    assert!(out.contains("NOT VERIFIED"), "{out}");
    // No policy check runs on unverified evidence.
    assert!(!out.contains("policy."), "{out}");
}

#[test]
fn a_tampered_report_byte_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut ev = evidence(&TURIN);
    ev.report[0x90] ^= 1; // measurement
    let path = write(&ev, Format::Bin, dir.path(), "tampered");
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--offline"));
    assert_eq!(code, i32::from(exit_code::VERIFICATION_FAILED), "{out}");
    assert!(out.contains("FAIL  report_signature"), "{out}");
}

#[test]
fn policy_and_nonce_failures_exit_5_with_the_check_named() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ev = evidence(&TURIN);
    let path = write(&ev, Format::Json, dir.path(), "turin");
    let measurement = hex::encode(&ev.report[0x90..0xC0]);

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "products = [\"turin\"]\nsigners = [\"vcek\"]\nmeasurements = [\"{measurement}\"]\nvmpls = [0]\n\
             [min_tcb.turin]\nfmc = 0\nbl = 1\ntee = 0\nsnp = 2\nmicrocode = 71\n"
        ),
    )
    .unwrap();
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--offline")
        .arg("--policy")
        .arg(&good));
    assert_eq!(code, 0, "{out}");
    for name in [
        "policy.products",
        "policy.signers",
        "policy.measurement",
        "policy.vmpl",
        "policy.min_tcb.reported",
    ] {
        assert!(out.contains(&format!("PASS  {name}")), "{name}: {out}");
    }

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "measurements = [\"{}\"]\n[min_tcb.turin]\nfmc = 0\nbl = 1\ntee = 0\nsnp = 3\nmicrocode = 71\n",
            "00".repeat(48)
        ),
    )
    .unwrap();
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--offline")
        .arg("--policy")
        .arg(&bad));
    assert_eq!(code, i32::from(exit_code::POLICY_FAILED), "{out}");
    assert!(out.contains("FAIL  policy.measurement"), "{out}");
    assert!(out.contains("FAIL  policy.min_tcb.reported"), "{out}");
    assert!(out.contains("snp 2 < 3"), "{out}");
    assert!(
        out.contains("policy does not hold: policy.measurement"),
        "{out}"
    );

    // A nonce the report does not bind.
    let (code, out, _) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--offline",
        "--nonce",
        "00112233",
    ]));
    assert_eq!(code, i32::from(exit_code::POLICY_FAILED), "{out}");
    assert!(out.contains("FAIL  report_data.nonce"), "{out}");
    // The exact REPORT_DATA the report carries.
    let rd = hex::encode(&ev.report[0x50..0x90]);
    let (code, out, _) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--offline",
        "--report-data",
        &rd,
    ]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS  report_data.report_data"), "{out}");
}

#[test]
fn invalid_policy_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let path = write(&evidence(&MILAN), Format::Json, dir.path(), "m");
    let p = dir.path().join("typo.toml");
    std::fs::write(&p, "measurement = []\n").unwrap();
    let (code, _, err) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--policy")
        .arg(&p));
    assert_eq!(code, i32::from(exit_code::USAGE), "{err}");
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn json_output_is_ear_style() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let path = write(&evidence(&TURIN), Format::Coco, dir.path(), "t");
    let (code, out, _) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--offline",
        "--format",
        "json",
    ]));
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sub = &v["submods"]["SEV-SNP"];
    assert_eq!(sub["ear.status"], "affirming");
    assert_eq!(sub["snp-agent.trust-anchors"], "amd-pinned");
    assert_eq!(sub["snp-agent.claims"]["product"], "Turin");
    assert_eq!(sub["snp-agent.claims"]["endorsement_key"], "VCEK");
    assert_eq!(
        sub["snp-agent.claims"]["report"]["reported_tcb"]["decoded"]["fmc"],
        0
    );
    let names: Vec<&str> = sub["snp-agent.checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for c in VERIFY_CHECKS {
        assert!(names.contains(&c), "{c}: {names:?}");
    }
    assert!(names.contains(&"policy.guest_policy.debug"));

    // A failing one: contraindicated, failed checks listed, no claims.
    let mut ev = evidence(&TURIN);
    ev.report[0x50] ^= 1;
    let path = write(&ev, Format::Json, dir.path(), "bad");
    let (code, out, _) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--offline",
        "--format",
        "json",
    ]));
    assert_eq!(code, i32::from(exit_code::VERIFICATION_FAILED));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sub = &v["submods"]["SEV-SNP"];
    assert_eq!(sub["ear.status"], "contraindicated");
    assert!(sub["snp-agent.claims"].is_null());
    assert!(sub["snp-agent.failed"]
        .as_array()
        .unwrap()
        .contains(&"report_signature".into()));
}

#[test]
fn unreadable_evidence_exits_6() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"not evidence").unwrap();
    let missing = dir.path().join("missing.json");
    let bad_json = dir.path().join("bad.json");
    std::fs::write(
        &bad_json,
        br#"{"format": "snp-agent-evidence/v9", "report": ""}"#,
    )
    .unwrap();
    let truncated = dir.path().join("short.bin");
    std::fs::write(&truncated, vec![0u8; REPORT_SIZE - 1]).unwrap();
    for p in [&garbage, &missing, &bad_json, &truncated] {
        let (code, _, err) = run(snp_agent(cache.path())
            .arg("verify")
            .arg(p)
            .arg("--offline"));
        assert_eq!(
            code,
            i32::from(exit_code::EVIDENCE_INVALID),
            "{}: {err}",
            p.display()
        );
        assert!(err.contains("cannot read evidence"), "{err}");
    }
}

#[test]
fn no_certificate_offline_exits_3_and_names_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ev = Evidence::new(read_real(TURIN.report), Vec::new());
    let path = write(&ev, Format::Bin, dir.path(), "bare");
    let (code, _, err) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--offline"));
    assert_eq!(code, i32::from(exit_code::CERTIFICATE_UNAVAILABLE), "{err}");
    assert!(err.contains("no VCEK"), "{err}");
    assert!(err.contains(&cache.path().display().to_string()), "{err}");
}

#[test]
fn a_cached_vcek_is_used_when_the_host_served_none() {
    // The cache doubles as an air-gapped store: import an snpguest directory, then verify a bare
    // report offline.
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::write(certs.join("vcek.der"), read_real(TURIN.vek)).unwrap();
    let chain = pem_blocks(&read_real(TURIN.chain));
    std::fs::write(certs.join("ask.der"), &chain[0]).unwrap();
    std::fs::write(certs.join("ark.der"), &chain[1]).unwrap();
    let (code, out, err) = run(snp_agent(cache.path())
        .args(["fetch", "--offline", "--import"])
        .arg(&certs));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("stored"), "{out}");

    let ev = Evidence::new(read_real(TURIN.report), Vec::new());
    let path = write(&ev, Format::Bin, dir.path(), "bare");
    let (code, out, err) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--offline"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("disk cache"), "{out}");
}

#[test]
fn crl_checks_exit_4_when_the_crl_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let path = write(&evidence(&MILAN), Format::Json, dir.path(), "milan");
    let crl = real("atakit/milan.crl_53b18266.crl");
    // AMD's real Milan CRL: current between 2026-06-22 and 2026-08-08, revoking nothing.
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .args(["--offline", "--require-crl", "--at", "2026-07-01", "--crl"])
        .arg(&crl));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS  crl"), "{out}");
    // The same CRL after its nextUpdate is stale.
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .args(["--offline", "--at", "2026-11-25", "--crl"])
        .arg(&crl));
    assert_eq!(code, i32::from(exit_code::CRL_FAILED), "{out}");
    assert!(out.contains("FAIL  crl"), "{out}");
    // Genoa's CRL does not belong to a Milan chain.
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .args(["--offline", "--at", "2026-07-01", "--crl"])
        .arg(real("cyntrisec-cml-transport/crl_886a378d.crl")));
    assert_eq!(code, i32::from(exit_code::CRL_FAILED), "{out}");
}

#[test]
fn check_crl_uses_the_cached_crl_offline() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let path = write(&evidence(&MILAN), Format::Bin, dir.path(), "milan");
    // Nothing cached, offline: no CRL.
    let (code, _, err) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .args(["--offline", "--check-crl"]));
    assert_eq!(code, i32::from(exit_code::CRL_FAILED), "{err}");
    // The store's documented place for the Milan VCEK CRL.
    let crl_path = snp_agent::kds::DiskCache::new(cache.path()).crl_path(
        snp_certs::product::Product::Milan,
        snp_certs::kds::Endorser::Vcek,
    );
    std::fs::create_dir_all(crl_path.parent().unwrap()).unwrap();
    std::fs::copy(real("atakit/milan.crl_53b18266.crl"), &crl_path).unwrap();
    let (code, out, err) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--offline",
        "--check-crl",
        "--at",
        "2026-07-01",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("PASS  crl"), "{out}");
    // Offline, a stale cached CRL is handed to the verifier, which refuses it.
    let (code, out, _) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--offline",
        "--check-crl",
        "--at",
        "2026-11-25",
    ]));
    assert_eq!(code, i32::from(exit_code::CRL_FAILED), "{out}");
}

/// Replace S (72 bytes little-endian at 0x2E8; 48 significant) by n - S: the other ECDSA
/// signature over the same bytes, which verifies too.
fn negate_s(report: &mut [u8]) {
    const N: [u8; 48] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81, 0xF4, 0x37,
        0x2D, 0xDF, 0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC, 0x19, 0x6A, 0xCC,
        0xC5, 0x29, 0x73,
    ];
    let s = &mut report[snp_certs::report::offset::SIGNATURE_S..][..48];
    let mut borrow = 0i16;
    for (i, b) in s.iter_mut().enumerate() {
        let d = i16::from(N[47 - i]) - i16::from(*b) - borrow;
        borrow = i16::from(d < 0);
        *b = d.rem_euclid(256) as u8;
    }
    assert_eq!(borrow, 0, "S < n");
}

#[test]
fn evidence_id_is_one_for_both_s_twins_and_junk_in_the_tail_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ev = evidence(&GENOA);
    let mut twin = ev.clone();
    negate_s(&mut twin.report);
    let mut ids = Vec::new();
    for (name, e) in [("received", &ev), ("twin", &twin)] {
        let path = write(e, Format::Json, dir.path(), name);
        let (code, out, err) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
            "--offline",
            "--format",
            "json",
        ]));
        assert_eq!(code, 0, "{name}: {out}\n{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let id = v["submods"]["SEV-SNP"]["snp-agent.claims"]["evidence_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(id.len(), 96, "{id}");
        let (code, text, _) = run(snp_agent(cache.path())
            .arg("verify")
            .arg(&path)
            .arg("--offline"));
        assert_eq!(code, 0);
        assert!(text.contains(&format!("evidence id: {id}\n")), "{text}");
        ids.push(id);
    }
    assert_eq!(
        ids[0], ids[1],
        "both byte forms of one report have one identity"
    );

    // Junk in the unsigned rest of the signature area is refused.
    let mut junk = ev.clone();
    junk.report[0x400] = 0xAA;
    let path = write(&junk, Format::Bin, dir.path(), "junk");
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--offline"));
    assert_eq!(code, i32::from(exit_code::VERIFICATION_FAILED), "{out}");
    assert!(out.contains("FAIL  report_signature"), "{out}");
    assert!(!out.contains("evidence id:"), "{out}");
}

#[test]
fn verify_help_exits_non_zero_and_dash_dash_reads_a_file_named_dash_h() {
    // A script running `snp-agent verify "$NAME"` must not take a file named -h as verified.
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let src = write(&evidence(&MILAN), Format::Bin, dir.path(), "milan");
    std::fs::rename(&src, dir.path().join("-h")).unwrap();
    for flag in ["-h", "--help"] {
        let (code, out, _) = run(snp_agent(cache.path())
            .current_dir(dir.path())
            .args(["verify", flag]));
        assert_eq!(code, i32::from(exit_code::USAGE), "verify {flag}");
        assert!(out.contains("Usage:") && out.contains("--"), "{out}");
        assert!(!out.contains("VERIFIED"), "{out}");
    }
    // With `--` the name is evidence, whatever it looks like.
    let (code, out, err) = run(snp_agent(cache.path()).current_dir(dir.path()).args([
        "verify",
        "--offline",
        "--",
        "-h",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("result: VERIFIED"), "{out}");
}

#[test]
fn a_stale_host_crl_warns_unless_crl_checking_was_asked_for() {
    // Genoa evidence whose host also served AMD's Genoa CRL (current 2025-10-24..2026-10-31).
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let crl = read_real("cyntrisec-cml-transport/crl_886a378d.crl");
    let mut ev = evidence(&GENOA);
    let table = snp_certs::table::CertTable::parse(&ev.cert_table).unwrap();
    let mut b = snp_certs::table::CertTableBuilder::new();
    for e in table.entries() {
        b.push(e.guid, e.bytes.to_vec());
    }
    b.push(snp_certs::table::Guid::CRL, crl.clone());
    ev.cert_table = b.build().unwrap();
    let path = write(&ev, Format::Json, dir.path(), "genoa-crl");
    let verify = |args: &[&str]| {
        run(snp_agent(cache.path())
            .arg("verify")
            .arg(&path)
            .arg("--offline")
            .args(args))
    };

    // Inside the CRL's window: checked and passed.
    let (code, out, _) = verify(&["--at", "2026-07-01"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS  crl"), "{out}");
    assert!(out.contains("host-served CRL"), "{out}");

    // Past its nextUpdate: still verified (exit 0), with a warning on stdout and stderr.
    let (code, out, err) = verify(&["--at", "2026-11-25"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("WARN  crl"), "{out}");
    assert!(
        out.contains("result: VERIFIED; policy holds (warning: crl)"),
        "{out}"
    );
    assert!(err.contains("not current"), "{err}");
    let (code, out, _) = verify(&["--at", "2026-11-25", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sub = &v["submods"]["SEV-SNP"];
    assert_eq!(sub["ear.status"], "warning");
    assert_eq!(sub["snp-agent.warnings"], serde_json::json!(["crl"]));
    // The real EAR says the same: `warning` in the submodule and overall, the trust vector
    // unchanged (the hardware is still genuine), and the check named among the verifier claims.
    let (code, out, _) = verify(&["--at", "2026-11-25", "--format", "ear"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ear_status"], "warning", "{out}");
    let sub = &v["submods"]["SEV-SNP"];
    assert_eq!(sub["ear_status"], "warning", "{out}");
    assert_eq!(sub["ear_trustworthiness_vector"]["hardware"], 2, "{out}");
    let crl_check = sub["ear_verifier_claims"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "crl")
        .cloned()
        .unwrap();
    assert_eq!(crl_check["status"], "warn", "{out}");
    // And the batch line (the directory holds only this evidence so far).
    let (code, out, _) = run(snp_agent(cache.path())
        .args(["verify", "--batch"])
        .arg(dir.path())
        .args(["--offline", "--at", "2026-11-25"]));
    assert_eq!(code, 0, "{out}");
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["verdict"], "warning", "{out}");

    // The relying party asked for CRL checking: stale fails (exit 4), whichever CRL is stale.
    let crl_path = dir.path().join("genoa.crl");
    std::fs::write(&crl_path, &crl).unwrap();
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .args(["--offline", "--at", "2026-11-25", "--require-crl", "--crl"])
        .arg(&crl_path));
    assert_eq!(code, i32::from(exit_code::CRL_FAILED), "{out}");
    assert!(out.contains("FAIL  crl"), "{out}");
}
