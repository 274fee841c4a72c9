//! `snp-agent attest` on the simulator: every format it writes verifies with `verify
//! --sim-roots` (round trip), never with AMD's roots, and the simulator is announced on stderr.

#[path = "cli_support/mod.rs"]
mod support;

use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use snp_agent::policy::binding;
use support::*;

const NONCE: &str = "00112233445566778899aabbccddeeff";

#[test]
fn every_format_attest_writes_round_trips_through_verify() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    for product in ["milan", "genoa", "turin"] {
        for format in Format::ALL {
            let out = dir.path().join(format!("{product}-{format}"));
            let (code, stdout, err) = run(snp_agent(cache.path())
                .args(["attest", "--backend", "sim", "--sim-product", product])
                .args(["--nonce", NONCE, "--format", format.as_str(), "--out"])
                .arg(&out));
            assert_eq!(code, 0, "{product} {format}: {err}");
            assert!(stdout.is_empty(), "evidence went to the file: {stdout}");
            assert!(err.contains("SIMULATED"), "{err}");
            assert!(err.contains("report verified"), "{err}");

            // The evidence binds the nonce with the documented encoding.
            let (ev, read_as) = Evidence::read_path(&out, None).unwrap();
            assert_eq!(read_as, format);
            let nonce = hex::decode(NONCE).unwrap();
            assert_eq!(
                &ev.report[0x50..0x90],
                &binding::report_data(&nonce, None)[..]
            );

            let (code, text, err) = run(snp_agent(cache.path()).arg("verify").arg(&out).args([
                "--sim-roots",
                "--offline",
                "--nonce",
                NONCE,
            ]));
            assert_eq!(code, 0, "{product} {format}: {text}\n{err}");
            assert!(text.contains("roots: simulator"), "{text}");
            assert!(err.contains("SIMULATOR"), "{err}");

            // AMD's pinned roots never accept simulator evidence.
            let (code, text, _) = run(snp_agent(cache.path())
                .arg("verify")
                .arg(&out)
                .arg("--offline"));
            assert_eq!(
                code,
                i32::from(exit_code::VERIFICATION_FAILED),
                "{product} {format}: {text}"
            );
        }
    }
}

#[test]
fn attest_to_stdout_and_report_data() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let out = snp_agent(cache.path())
        .args(["attest", "--backend", "sim", "--report-data", "0xabcd"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (ev, format) = Evidence::from_bytes(&out.stdout, None).unwrap();
    assert_eq!(format, Format::Json);
    assert_eq!(&ev.report[0x50..0x53], &[0xab, 0xcd, 0x00]);
    assert_eq!(ev.backend.as_deref(), Some("sim"));
    let path = dir.path().join("ev.json");
    std::fs::write(&path, &out.stdout).unwrap();
    let rd = format!("abcd{}", "00".repeat(62));
    let (code, text, _) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--sim-roots",
        "--report-data",
        &rd,
    ]));
    assert_eq!(code, 0, "{text}");
    // A relying party's policy on simulator evidence: VMPL and a wrong measurement.
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        format!("vmpls = [0]\nmeasurements = [\"{}\"]\n", "11".repeat(48)),
    )
    .unwrap();
    let (code, text, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--sim-roots")
        .arg("--policy")
        .arg(&policy));
    assert_eq!(code, i32::from(exit_code::POLICY_FAILED), "{text}");
    assert!(text.contains("PASS  policy.vmpl"), "{text}");
    assert!(text.contains("FAIL  policy.measurement"), "{text}");
}

#[test]
fn attest_refuses_evidence_that_fails_its_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "products = [\"milan\"]\n").unwrap();
    let out = dir.path().join("ev.json");
    let (code, _, err) = run(snp_agent(cache.path())
        .args([
            "attest",
            "--backend",
            "sim",
            "--sim-product",
            "turin",
            "--policy",
        ])
        .arg(&policy)
        .arg("--out")
        .arg(&out));
    assert_eq!(code, i32::from(exit_code::POLICY_FAILED), "{err}");
    assert!(err.contains("FAIL  policy.products"), "{err}");
    assert!(!out.exists(), "no evidence may be written");
}

#[test]
fn attest_usage_and_backend_errors() {
    let cache = tempfile::tempdir().unwrap();
    // snpguest-dir needs a directory.
    let (code, _, err) = run(snp_agent(cache.path()).args([
        "attest",
        "--backend",
        "sim",
        "--format",
        "snpguest-dir",
    ]));
    assert_eq!(code, i32::from(exit_code::USAGE), "{err}");
    // Both --nonce and --report-data.
    let (code, _, _) = run(snp_agent(cache.path()).args([
        "attest",
        "--backend",
        "sim",
        "--nonce",
        "00",
        "--report-data",
        "00",
    ]));
    assert_eq!(code, i32::from(exit_code::USAGE));
    // VMPL out of range, bad hex, 65 bytes of report data.
    for bad in [
        &["--vmpl", "4"][..],
        &["--nonce", "xyz"][..],
        &["--report-data", &"00".repeat(65)][..],
        &["--backend", "kvm"][..],
    ] {
        let (code, _, err) = run(snp_agent(cache.path()).arg("attest").args(bad));
        assert_eq!(code, i32::from(exit_code::USAGE), "{bad:?}: {err}");
    }
    // The device backends on a machine without SEV-SNP: a backend failure, never the simulator.
    if !std::path::Path::new("/dev/sev-guest").exists()
        && !std::path::Path::new("/sys/kernel/config/tsm/report").exists()
    {
        for backend in ["auto", "sev-guest", "tsm"] {
            let (code, _, err) =
                run(snp_agent(cache.path()).args(["attest", "--backend", backend]));
            assert_eq!(
                code,
                i32::from(exit_code::BACKEND_FAILED),
                "{backend}: {err}"
            );
            assert!(!err.contains("SIMULATED"), "{err}");
        }
    } else {
        eprintln!("SKIPPED backend-absent checks: this machine has an SEV-SNP guest interface");
    }
}

#[test]
fn an_unwritable_output_exits_8() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("missing-dir/ev.json");
    let (code, _, err) = run(snp_agent(cache.path())
        .args(["attest", "--backend", "sim", "--out"])
        .arg(&out));
    assert_eq!(code, i32::from(exit_code::OTHER), "{err}");
    assert!(err.contains("missing-dir"), "{err}");
}
