//! `snp-agent doctor` names each injected host misconfiguration (one test each) and passes a
//! healthy host (issue 15). Every test runs the real binary against the simulator with
//! `--sim-fault`, reads the JSON diagnosis, and checks that the right check — and only checks
//! that follow from it — did not pass.
#![cfg(feature = "sim")]

mod cli_support;

use serde_json::Value;

use cli_support::{run, snp_agent};

struct Diagnosis {
    code: i32,
    json: Value,
}

impl Diagnosis {
    fn status(&self, id: &str) -> String {
        self.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no check {id}: {}", self.json))["status"]
            .as_str()
            .unwrap()
            .to_string()
    }
    fn summary(&self, id: &str) -> String {
        self.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["summary"]
            .as_str()
            .unwrap()
            .to_string()
    }
    fn remedy(&self, id: &str) -> Option<String> {
        self.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["remedy"]
            .as_str()
            .map(str::to_owned)
    }
    fn verdict(&self) -> String {
        self.json["verdict"].as_str().unwrap().to_string()
    }
    /// Checks that did not pass (and were checked).
    fn not_passing(&self) -> Vec<String> {
        self.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "warn" || c["status"] == "fail")
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }
}

fn doctor(extra: &[&str]) -> Diagnosis {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = snp_agent(cache.path());
    cmd.args(["doctor", "--backend", "sim", "--format", "json"])
        .args(extra);
    let (code, out, err) = run(&mut cmd);
    let json: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {err}"));
    Diagnosis { code, json }
}

/// `fault` makes check `id` end in `status` (with a remedy) and the verdict follow.
fn names(fault: &[&str], id: &str, status: &str, needle: &str) -> Diagnosis {
    let d = doctor(fault);
    assert_eq!(d.status(id), status, "{fault:?}: {}", d.json);
    let summary = d.summary(id);
    assert!(
        summary.contains(needle),
        "{fault:?}: {id} summary {summary:?} lacks {needle:?}"
    );
    assert!(d.remedy(id).is_some(), "{fault:?}: {id} has no remedy");
    assert_eq!(d.verdict(), status, "{fault:?}");
    assert_eq!(d.code, if status == "fail" { 7 } else { 0 }, "{fault:?}");
    d
}

#[test]
fn healthy_host_passes_every_check() {
    let d = doctor(&[]);
    assert_eq!(d.verdict(), "pass", "{}", d.json);
    assert_eq!(d.code, 0);
    assert!(d.not_passing().is_empty(), "{:?}", d.not_passing());
    for id in [
        "vek-chip",
        "vek-tcb",
        "ca-chain",
        "chain-verifies",
        "tcb-race",
    ] {
        assert_eq!(d.status(id), "pass", "{id}");
    }
    assert_eq!(d.status("not-checkable"), "not-checked");
}

#[test]
fn healthy_vlek_host_and_seed_kvm_pass() {
    let d = doctor(&[
        "--sim-fault",
        "vlek",
        "--sim-kvm",
        "seed",
        "--expect",
        "vlek",
    ]);
    assert_eq!(d.verdict(), "pass", "{}", d.json);
    assert!(d.summary("signer-kind").contains("VLEK"));
}

#[test]
fn no_certificates_served() {
    let d = names(
        &["--sim-fault", "no-certs"],
        "certs-served",
        "warn",
        "no certificates",
    );
    assert_eq!(d.not_passing(), ["certs-served"]);
    assert_eq!(d.status("vek-tcb"), "not-checked");
    // --strict turns the warning into a failing exit code.
    let cache = tempfile::tempdir().unwrap();
    let (code, _, _) = run(snp_agent(cache.path()).args([
        "doctor",
        "--backend",
        "sim",
        "--sim-fault",
        "no-certs",
        "--strict",
    ]));
    assert_eq!(code, 7);
}

#[test]
fn vcek_for_another_chip() {
    let d = names(
        &["--sim-fault", "wrong-vcek"],
        "vek-chip",
        "fail",
        "another chip",
    );
    assert_eq!(d.status("vek-tcb"), "pass");
}

#[test]
fn vcek_for_another_tcb_is_a_stale_blob() {
    let d = names(
        &["--sim-fault", "stale-blob"],
        "vek-tcb",
        "fail",
        "stale blob",
    );
    assert_eq!(d.status("vek-chip"), "pass");
}

#[test]
fn ask_and_ark_not_amds() {
    names(
        &["--sim-fault", "not-amd-ca"],
        "ca-chain",
        "fail",
        "not AMD's",
    );
}

#[test]
fn another_products_chain() {
    names(
        &["--sim-fault", "foreign-chain"],
        "ca-chain",
        "fail",
        "another product's chain",
    );
}

#[test]
fn vlek_expected_but_vcek_served() {
    names(
        &["--sim-fault", "vcek-for-vlek"],
        "signer-kind",
        "fail",
        "VLEK expected",
    );
}

#[test]
fn vcek_expected_but_vlek_served() {
    names(
        &["--sim-fault", "vlek-for-vcek"],
        "signer-kind",
        "fail",
        "VCEK expected",
    );
}

#[test]
fn operator_expects_a_vlek_but_the_host_signs_with_its_vcek() {
    names(
        &["--expect", "vlek"],
        "signer-kind",
        "fail",
        "VLEK expected",
    );
}

#[test]
fn blob_larger_than_the_kernel_passes() {
    let d = names(
        &["--sim-fault", "oversized-blob"],
        "blob-size",
        "fail",
        "16384",
    );
    assert_eq!(d.not_passing(), ["blob-size"]);
}

#[test]
fn malformed_table() {
    names(
        &["--sim-fault", "corrupt-table"],
        "table-format",
        "fail",
        "malformed",
    );
}

#[test]
fn duplicate_entries() {
    names(
        &["--sim-fault", "duplicate-entries"],
        "table-duplicates",
        "fail",
        "duplicate",
    );
}

#[test]
fn extended_requests_unsupported() {
    let d = names(
        &["--sim-fault", "ghcb-reject"],
        "extended-request",
        "fail",
        "unsupported",
    );
    assert_eq!(d.status("certs-served"), "not-checked");
}

#[test]
fn busy_host() {
    names(&["--sim-fault", "busy"], "busy", "fail", "BUSY");
}

#[test]
fn throttling_host() {
    let d = names(&["--sim-fault", "throttle=1"], "busy", "fail", "BUSY");
    assert!(d.json["answered"].as_u64().unwrap() >= 1);
}

#[test]
fn tcb_update_racing_the_requests() {
    let d = names(&["--sim-fault", "tcb-race"], "tcb-race", "warn", "raced");
    // The later answers matched: the blob itself is fine now.
    assert_eq!(d.status("vek-tcb"), "pass");
    assert_eq!(d.status("chain-verifies"), "pass");
}

#[test]
fn text_output_has_one_line_per_check_and_the_help_lists_faults() {
    let cache = tempfile::tempdir().unwrap();
    let (code, out, _) = run(snp_agent(cache.path()).args([
        "doctor",
        "--backend",
        "sim",
        "--sim-fault",
        "stale-blob",
    ]));
    assert_eq!(code, 7);
    assert!(out.lines().any(|l| l.starts_with("FAIL  vek-tcb")), "{out}");
    assert!(out.contains("remedy:"), "{out}");
    assert!(
        out.trim_end().ends_with("(3 of 3 requests answered)"),
        "{out}"
    );
    let (code, out, _) =
        run(snp_agent(cache.path()).args(["doctor", "--backend", "sim", "--sim-fault", "help"]));
    assert_eq!(code, 0);
    for name in [
        "stale-blob",
        "tcb-race[=N]",
        "duplicate-entries",
        "oversized-blob[=KIB]",
    ] {
        assert!(out.contains(name), "{name}: {out}");
    }
    let (code, _, err) = run(snp_agent(cache.path()).args(["doctor", "--sim-fault", "busy"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--backend sim"), "{err}");
}
