//! `show`, `certs`, `fetch`, `completions`, `serve` argument handling, help texts and usage
//! errors of the built binary.

#[path = "cli_support/mod.rs"]
mod support;

use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use support::*;

#[test]
fn show_breaks_the_tcb_down_per_product() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    // Turin v5: product from CPUID, FMC shown, mitigation vectors present.
    let (code, out, _) = run(snp_agent(cache.path()).arg("show").arg(real(TURIN.report)));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("NOT verified"), "{out}");
    assert!(out.contains("product         Turin"), "{out}");
    assert!(
        out.contains("reported_tcb    0001000200000047  Turin: fmc=0 bl=1 tee=0 snp=2 ucode=71"),
        "{out}"
    );
    assert!(out.contains("[ ] debug"), "{out}");
    assert!(out.contains("signer          VCEK"), "{out}");
    // Milan v2: no CPUID, so both layouts unless --product says which.
    let (code, out, _) = run(snp_agent(cache.path()).arg("show").arg(real(MILAN.report)));
    assert_eq!(code, 0);
    assert!(
        out.contains("as Milan/Genoa: bl=3 tee=0 snp=8 ucode=115"),
        "{out}"
    );
    assert!(out.contains("as Turin:"), "{out}");
    let (_, out, _) = run(snp_agent(cache.path())
        .arg("show")
        .arg(real(MILAN.report))
        .args(["--product", "milan", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["product"], "Milan");
    assert_eq!(v["reported_tcb"]["decoded"]["snp"], 8);
    assert_eq!(v["signer"]["signing_key"], "VCEK");
    // VLEK evidence in JSON form: signer and masked chip ID.
    let path = write(&evidence(&VLEK), Format::Json, dir.path(), "vlek");
    let (_, out, _) = run(snp_agent(cache.path()).arg("show").arg(&path));
    assert!(out.contains("signer          VLEK"), "{out}");
    assert!(out.contains("chip_id         masked"), "{out}");
}

#[test]
fn certs_lists_the_hosts_table_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ev = Evidence::new(
        read_real(GENOA.report),
        read_real("veraison/sevsnp-tsm-report_9e37aaf8.certtable.bin"),
    );
    let path = write(&ev, Format::Json, dir.path(), "veraison");
    let (code, out, _) = run(snp_agent(cache.path()).arg("certs").arg(&path));
    assert_eq!(code, 0, "{out}");
    let ark = out.find("[0] ARK").expect(&out);
    let ask = out.find("[1] ASK").expect(&out);
    let vcek = out.find("[2] VCEK").expect(&out);
    assert!(ark < ask && ask < vcek);
    assert!(
        out.contains("c0b406a4-a803-4952-9743-3fb6014cd0ae offset 96 length 2277 PEM"),
        "{out}"
    );
    assert!(out.contains("subject CN ARK-Genoa"), "{out}");
    assert!(
        out.contains("product Genoa, TCB bl=10 tee=0 snp=23 microcode=84"),
        "{out}"
    );
    assert!(out.contains("hwID "), "{out}");
    let (_, out, _) = run(snp_agent(cache.path())
        .arg("certs")
        .arg(&path)
        .args(["--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["entries"][2]["kind"], "VCEK");
    assert_eq!(v["entries"][2]["spl"]["snp"], 23);

    // AWS: one DER VLEK with its cspId, in a page-padded buffer.
    let ev = Evidence::new(
        read_real("constellation/aws_report_valid_5e8e4390.bin"),
        read_real("constellation/aws_certs_valid_4c676382.certtable.bin"),
    );
    let path = write(&ev, Format::Bin, dir.path(), "aws");
    let (_, out, _) = run(snp_agent(cache.path()).arg("certs").arg(&path));
    assert!(out.contains("4096 bytes"), "{out}");
    assert!(out.contains("[0] VLEK"), "{out}");
    assert!(out.contains("cspId"), "{out}");

    // No table, and a broken one.
    let path = write(
        &Evidence::new(read_real(GENOA.report), Vec::new()),
        Format::Bin,
        dir.path(),
        "none",
    );
    let (code, out, _) = run(snp_agent(cache.path()).arg("certs").arg(&path));
    assert_eq!(code, 0);
    assert!(out.contains("served no certificate table"), "{out}");
    let mut broken = table_for(&GENOA);
    broken[16] = 0xff; // first entry's offset now points past the end
    let path = write(
        &Evidence::new(read_real(GENOA.report), broken),
        Format::Bin,
        dir.path(),
        "broken",
    );
    let (code, _, err) = run(snp_agent(cache.path()).arg("certs").arg(&path));
    assert_eq!(code, i32::from(exit_code::EVIDENCE_INVALID), "{err}");
}

#[test]
fn fetch_offline_without_a_cache_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let path = write(
        &Evidence::new(read_real(TURIN.report), Vec::new()),
        Format::Bin,
        dir.path(),
        "bare",
    );
    let (code, _, err) = run(snp_agent(cache.path())
        .args(["fetch", "--offline"])
        .arg(&path));
    assert_eq!(code, i32::from(exit_code::CERTIFICATE_UNAVAILABLE), "{err}");
    let (code, _, err) = run(snp_agent(cache.path()).args(["fetch", "--offline"]));
    assert_eq!(code, i32::from(exit_code::USAGE), "{err}");
    assert!(err.contains("--product"), "{err}");
}

#[test]
fn fetch_writes_the_chain_from_the_store_in_snpguest_names() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    // Fill the store from an snpguest directory, then fetch (offline) into another directory.
    let certs = dir.path().join("in");
    std::fs::create_dir(&certs).unwrap();
    let chain = pem_blocks(&read_real(MILAN.chain));
    std::fs::write(certs.join("ask.der"), &chain[0]).unwrap();
    std::fs::write(certs.join("ark.der"), &chain[1]).unwrap();
    std::fs::write(certs.join("vcek.der"), read_real(MILAN.vek)).unwrap();
    let (code, _, err) = run(snp_agent(cache.path())
        .args(["fetch", "--offline", "--import"])
        .arg(&certs));
    assert_eq!(code, 0, "{err}");
    let out = dir.path().join("out");
    let path = write(
        &Evidence::new(read_real(MILAN.report), Vec::new()),
        Format::Bin,
        dir.path(),
        "bare",
    );
    let (code, stdout, err) = run(snp_agent(cache.path())
        .args(["fetch", "--offline", "--product", "milan", "--out"])
        .arg(&out)
        .arg(&path));
    assert_eq!(code, 0, "{stdout}\n{err}");
    for f in ["vcek.pem", "ask.pem", "ark.pem"] {
        assert!(out.join(f).is_file(), "{f}: {stdout}");
    }
    // The written directory plus the report is a snpguest directory that verifies.
    std::fs::copy(real(MILAN.report), out.join("attestation-report.bin")).unwrap();
    let (code, text, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&out)
        .arg("--offline"));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("(snpguest-dir)"), "{text}");
}

#[test]
fn every_subcommand_has_help_with_examples() {
    let cache = tempfile::tempdir().unwrap();
    for sub in [
        "attest",
        "verify",
        "show",
        "certs",
        "fetch",
        "serve",
        "completions",
    ] {
        let (code, out, _) = run(snp_agent(cache.path()).args([sub, "--help"]));
        // A command whose 0 means "verified" never exits 0 for help (issue 17).
        let want = if ["verify", "attest"].contains(&sub) {
            i32::from(exit_code::USAGE)
        } else {
            0
        };
        assert_eq!(code, want, "{sub}");
        assert!(out.contains("Example"), "{sub}: {out}");
    }
    let (code, out, _) = run(snp_agent(cache.path()).arg("--help"));
    assert_eq!(code, 0);
    assert!(out.contains("Exit codes:"), "{out}");
    for (code, name, _) in exit_code::TABLE {
        assert!(out.contains(&format!("{code}  {name}")), "{name}: {out}");
    }
    let (code, out, _) = run(snp_agent(cache.path()).arg("--version"));
    assert_eq!(code, 0);
    assert!(out.starts_with("snp-agent "));
}

#[test]
fn completions_are_generated() {
    let cache = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, _) = run(snp_agent(cache.path()).args(["completions", shell]));
        assert_eq!(code, 0, "{shell}");
        assert!(out.contains("snp-agent"), "{shell}");
        assert!(out.contains("attest") && out.contains("verify"), "{shell}");
    }
    let (code, _, _) = run(snp_agent(cache.path()).args(["completions", "tcsh"]));
    assert_eq!(code, i32::from(exit_code::USAGE));
}

#[test]
fn usage_errors_exit_1() {
    let cache = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["verify"][..],
        &["verify", "x", "--at", "yesterday"][..],
        &["verify", "x", "--in-format", "yaml"][..],
        &["verify", "x", "--require-crl"][..],
        &["show", "x", "--product", "rome"][..],
        &["serve"][..],
    ] {
        let (code, _, err) = run(snp_agent(cache.path()).args(args));
        assert_eq!(code, i32::from(exit_code::USAGE), "{args:?}: {err}");
    }
}

#[test]
fn serve_rejects_a_bad_listen_address() {
    let cache = tempfile::tempdir().unwrap();
    let (code, _, err) = run(snp_agent(cache.path()).args([
        "serve",
        "--listen",
        "not-an-address",
        "--backend",
        "sim",
    ]));
    assert_eq!(code, i32::from(exit_code::USAGE), "{err}");
    assert!(err.contains("not-an-address"), "{err}");
    assert!(err.contains("SIMULATED"), "{err}");
}

#[test]
fn the_example_policy_accepts_its_guest_and_names_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let policy =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/example-policy.toml");
    let path = write(&evidence(&TURIN), Format::Json, dir.path(), "turin");
    let (code, out, err) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--offline")
        .arg("--policy")
        .arg(&policy));
    assert_eq!(code, 0, "{out}\n{err}");
    for check in [
        "policy.products",
        "policy.signers",
        "policy.measurement",
        "policy.host_data",
        "policy.vmpl",
        "policy.guest_svn",
        "policy.firmware_version",
        "policy.min_tcb.reported",
        "policy.min_tcb.current",
        "policy.min_tcb.committed",
        "policy.min_launch_tcb",
        "policy.guest_policy.debug",
        "policy.guest_policy.migrate_ma",
        "policy.guest_policy.cxl",
        "policy.guest_policy.min_abi",
        "policy.mitigation.launch",
        "policy.mitigation.current",
    ] {
        assert!(out.contains(&format!("PASS  {check}")), "{check}: {out}");
    }
    // The same policy on Milan evidence: wrong product, and its Milan TCB minimum is too high.
    let path = write(&evidence(&MILAN), Format::Json, dir.path(), "milan");
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .arg("--offline")
        .arg("--policy")
        .arg(&policy));
    assert_eq!(code, i32::from(exit_code::POLICY_FAILED), "{out}");
    assert!(out.contains("FAIL  policy.products"), "{out}");
    assert!(out.contains("FAIL  policy.min_tcb.reported"), "{out}");
    assert!(
        out.contains("FAIL  policy.mitigation.launch"),
        "v2 has no vectors: {out}"
    );
}

#[test]
fn show_reads_stdin() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = evidence(&TURIN).to_bytes(Format::Coco).unwrap();
    let out = snp_agent(cache.path())
        .args(["show", "-"])
        .write_stdin(bytes)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(coco)"), "{text}");
    assert!(text.contains("product         Turin"), "{text}");
}

#[test]
fn serve_announces_its_port_and_answers() {
    use std::io::{BufRead, BufReader, Read, Write};
    let cache = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("snp-agent"))
        .args(["serve", "--listen", "127.0.0.1:0", "--backend", "sim"])
        .env("SNP_AGENT_CACHE_DIR", cache.path())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    for _ in 0..20 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(a) = line.trim().strip_prefix("snp-agent: listening on http://") {
            addr = Some(a.to_string());
            break;
        }
    }
    let addr = addr.expect("serve announced its address");
    // Any HTTP answer proves the endpoint is up; the protocol is tested with serve itself.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 "), "{resp}");
    child.kill().unwrap();
    let _ = child.wait();
}
