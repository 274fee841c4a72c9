//! `--sim-fault` / `--sim-kvm` on `attest` and `serve` (issue 15): the stale-blob re-ask seen
//! through the CLI, and the flags' argument checks.
#![cfg(feature = "sim")]

mod cli_support;

use cli_support::{run, snp_agent};

#[test]
fn attest_re_asks_through_a_racing_update_and_names_a_persistent_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for kvm in ["merged", "seed"] {
        let (code, _, err) = run(snp_agent(d)
            .args([
                "attest",
                "--backend",
                "sim",
                "--nonce",
                "00",
                "--sim-kvm",
                kvm,
            ])
            .args(["--sim-fault", "tcb-race=2", "--out"])
            .arg(d.join(format!("{kvm}.json"))));
        assert_eq!(code, 0, "{kvm}: {err}");
        assert!(err.contains("asking again"), "{err}");
        assert!(err.contains("report verified"), "{err}");
    }
    // More racing updates than re-asks: the named host error, exit 7, nothing written.
    let out = d.join("never.json");
    let (code, _, err) = run(snp_agent(d)
        .args([
            "attest",
            "--backend",
            "sim",
            "--sim-fault",
            "tcb-race=4",
            "--out",
        ])
        .arg(&out));
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("stale certificate blob"), "{err}");
    assert!(!out.exists());
}

#[test]
fn sim_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = run(snp_agent(d).args(["attest", "--sim-kvm", "seed"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--backend sim"), "{err}");
    let (code, _, err) =
        run(snp_agent(d).args(["attest", "--backend", "sim", "--sim-fault", "nope"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--sim-fault help"), "{err}");
    let (code, _, err) = run(snp_agent(d).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--backend",
        "sim",
        "--sim-fault",
        "tcb-race",
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not serve"), "{err}");
    let (code, out, _) = run(snp_agent(d).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--backend",
        "sim",
        "--sim-fault",
        "help",
    ]));
    assert_eq!(code, 0);
    assert!(out.contains("wrong-vcek"), "{out}");
}

/// A stale blob served by `attest`: never written as verified evidence.
#[test]
fn attest_refuses_a_persistently_stale_blob() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = run(snp_agent(d)
        .args([
            "attest",
            "--backend",
            "sim",
            "--sim-fault",
            "stale-blob",
            "--out",
        ])
        .arg(d.join("x.json")));
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("after 4 requests"), "{err}");
}
