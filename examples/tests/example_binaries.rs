//! The example programs as a user runs them: their output and exit codes.
//!
//! Cargo builds the examples before it runs these tests (`cargo test` compiles every example),
//! into `target/<profile>/examples/`, next to this test's own `deps/` directory.

use std::path::PathBuf;
use std::process::Command;

use p384::ecdsa::signature::Verifier as _;
use p384::ecdsa::{Signature, VerifyingKey};
use snp_agent::backend::BackendKind;
use snp_agent::binding::Challenge;
use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use snp_agent::serve::{self, ServeConfig};

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} not built: run through `cargo test -p snp-agent-examples`, which builds the examples",
        path.display()
    );
    path
}

#[test]
fn relying_party_exit_codes_against_serve_with_the_simulator() {
    let handle = serve::spawn(ServeConfig::new("127.0.0.1:0", BackendKind::Sim)).unwrap();
    let url = handle.url();
    let rp = example("relying_party");

    let out = Command::new(&rp)
        .args([
            "--url",
            &url,
            "--sim-roots",
            "--offline",
            "--public-key",
            "04aabb",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("verdict: AFFIRMED"), "{stdout}");
    assert!(
        stdout.contains("REPORT_DATA binds the nonce and public key"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIMULATOR"));

    // A policy the simulated guest violates: exit 5, the failing check named.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!("measurements = [\"{}\"]\n", "ab".repeat(48)),
    )
    .unwrap();
    let out = Command::new(&rp)
        .args(["--url", &url, "--sim-roots", "--offline", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit_code::POLICY_FAILED)),
        "{stdout}"
    );
    assert!(stdout.contains("failed: policy.measurement"), "{stdout}");

    // Simulator evidence under AMD's roots: verification fails (exit 2).
    let out = Command::new(&rp)
        .args(["--url", &url, "--offline"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit_code::VERIFICATION_FAILED)),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A policy file with an unknown key is a usage error (exit 1).
    std::fs::write(&policy, "measurment = []\n").unwrap();
    let out = Command::new(&rp)
        .args(["--url", &url, "--sim-roots", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(i32::from(exit_code::USAGE)));

    // Nobody listening any more: exit 8 with the reason on stderr.
    handle.shutdown().unwrap();
    let out = Command::new(&rp)
        .args(["--url", &url, "--sim-roots", "--offline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(i32::from(exit_code::OTHER)));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}

#[test]
fn guest_workload_binds_its_key_and_proves_possession() {
    let nonce = "00112233445566778899aabbccddeeff0011223344556677";
    let out = Command::new(example("guest_workload"))
        .args(["--nonce", nonce])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("USING THE SIMULATED SEV-SNP PLATFORM"),
        "{stderr}"
    );
    assert!(stderr.contains("verdict: AFFIRMED"), "{stderr}");

    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["simulated"], true);
    assert_eq!(doc["nonce"], nonce);
    let public_key = hex::decode(doc["public_key_sec1"].as_str().unwrap()).unwrap();
    let evidence_json = serde_json::to_vec(&doc["evidence"]).unwrap();
    let (evidence, _) = Evidence::from_bytes(&evidence_json, Some(Format::Json)).unwrap();

    // The report binds exactly (nonce, this public key)...
    let challenge = Challenge::new(hex::decode(nonce).unwrap(), Some(public_key.clone())).unwrap();
    challenge.verify(&evidence.report[0x50..0x90]).unwrap();
    // ...and the workload holds the private half.
    let key = VerifyingKey::from_sec1_bytes(&public_key).unwrap();
    let sig =
        Signature::from_der(&hex::decode(doc["greeting_signature_der"].as_str().unwrap()).unwrap())
            .unwrap();
    key.verify(doc["greeting"].as_str().unwrap().as_bytes(), &sig)
        .unwrap();

    // A nonce below the minimum is refused before any report is requested.
    let out = Command::new(example("guest_workload"))
        .args(["--nonce", "0011"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(i32::from(exit_code::USAGE)));
}
