//! `snp-agent verify` under hostile evidence (issue 12): every error path exits with its
//! documented code (`agent/src/exit_code.rs`) and a message naming the failed check or the
//! broken part of the input; no input makes it panic (exit 101), hang (every run has a
//! timeout), or read more than the documented size cap (1 MiB of evidence: checked with inputs
//! that never end — `/dev/zero` as a file, as standard input, and as a certificate in a
//! snpguest directory).

#[path = "cli_support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use snp_agent::evidence::{Evidence, Format, MAX_EVIDENCE_FILE};
use snp_agent::exit_code;
use snp_certs::table::{CertTableBuilder, Guid};
use support::*;

/// No single `verify` may take longer (a hang fails the test instead of CI).
const TIMEOUT: Duration = Duration::from_secs(60);

fn verify(cache: &Path, path: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = snp_agent(cache);
    cmd.arg("verify").arg(path).arg("--offline").args(extra);
    cmd.timeout(TIMEOUT);
    let out = cmd.output().expect("binary runs");
    let code = out
        .status
        .code()
        .expect("exited normally (not killed by the timeout)");
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One hostile case: the evidence to write, how, the expected exit code and the text that must
/// appear in the output (the failed check's name, or what is wrong with the input).
struct Case {
    name: &'static str,
    evidence: Evidence,
    format: Format,
    extra: &'static [&'static str],
    code: u8,
    names: &'static str,
}

fn milan() -> Evidence {
    evidence(&MILAN)
}

fn with_report(f: impl FnOnce(&mut Vec<u8>)) -> Evidence {
    let mut ev = milan();
    f(&mut ev.report);
    ev
}

fn with_table(entries: Vec<(Guid, Vec<u8>)>) -> Evidence {
    let mut b = CertTableBuilder::new();
    for (g, d) in entries {
        b = b.with(g, d);
    }
    Evidence::new(read_real(MILAN.report), b.build().expect("table"))
}

fn chain(p: &Pair) -> Vec<Vec<u8>> {
    pem_blocks(&read_real(p.chain))
}

fn cases() -> Vec<Case> {
    let milan_chain = chain(&MILAN);
    let genoa_chain = chain(&GENOA);
    let vcek = read_real(MILAN.vek);
    let cases = vec![
        Case {
            name: "report_data byte flipped",
            evidence: with_report(|r| r[0x50] ^= 1),
            format: Format::Json,
            extra: &[],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  report_signature",
        },
        Case {
            name: "signature R zeroed",
            evidence: with_report(|r| r[0x2A0..0x2E8].fill(0)),
            format: Format::Bin,
            extra: &[],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  report_signature",
        },
        Case {
            name: "signature S all ones",
            evidence: with_report(|r| r[0x2E8..0x318].fill(0xFF)),
            format: Format::Json,
            extra: &[],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  report_signature",
        },
        Case {
            name: "version 1",
            evidence: with_report(|r| r[0..4].copy_from_slice(&1u32.to_le_bytes())),
            format: Format::Bin,
            extra: &[],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  report_format",
        },
        Case {
            name: "version 0xFFFFFFFF",
            evidence: with_report(|r| r[0..4].fill(0xFF)),
            format: Format::Json,
            extra: &[],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  report_format",
        },
        Case {
            name: "signature algorithm 2",
            evidence: with_report(|r| r[0x34..0x38].copy_from_slice(&2u32.to_le_bytes())),
            format: Format::Bin,
            extra: &[],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  report_format",
        },
        Case {
            name: "VCEK is another product's (Genoa) certificate",
            evidence: with_table(vec![
                (Guid::ARK, milan_chain[1].clone()),
                (Guid::ASK, milan_chain[0].clone()),
                (Guid::VCEK, read_real(GENOA.vek)),
            ]),
            format: Format::Json,
            extra: &[],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  ",
        },
        Case {
            name: "VCEK entry holds the ASK",
            evidence: with_table(vec![
                (Guid::ARK, milan_chain[1].clone()),
                (Guid::ASK, milan_chain[0].clone()),
                (Guid::VCEK, milan_chain[0].clone()),
            ]),
            format: Format::Bin,
            extra: &[],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  vek_certificate",
        },
        Case {
            name: "host serves another product's ARK",
            evidence: with_table(vec![
                (Guid::ARK, genoa_chain[1].clone()),
                (Guid::ASK, milan_chain[0].clone()),
                (Guid::VCEK, vcek.clone()),
            ]),
            format: Format::Json,
            extra: &[],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  host_certificates",
        },
        // The host's GUID is a label, not a claim the verifier trusts: a real VCEK under the
        // VLEK GUID is still judged as the VCEK it is (its extensions and issuer say so), and
        // the report it signed verifies.
        Case {
            name: "VCEK served as a VLEK",
            evidence: with_table(vec![(Guid::VLEK, vcek.clone())]),
            format: Format::Bin,
            extra: &[],
            code: exit_code::SUCCESS,
            names: "PASS  signer_binding",
        },
        Case {
            name: "VCEK expired at the verification time",
            evidence: milan(),
            format: Format::Json,
            extra: &["--at", "2040-01-01T00:00:00Z"],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  validity",
        },
        Case {
            name: "before the VCEK was issued",
            evidence: milan(),
            format: Format::Json,
            extra: &["--at", "2001-01-01T00:00:00Z"],
            code: exit_code::VERIFICATION_FAILED,
            names: "FAIL  validity",
        },
        Case {
            name: "nonce does not match",
            evidence: milan(),
            format: Format::Json,
            extra: &["--nonce", "00112233445566778899aabbccddeeff"],
            code: exit_code::POLICY_FAILED,
            names: "report_data",
        },
        Case {
            name: "no certificate and offline",
            evidence: Evidence::new(read_real(MILAN.report), Vec::new()),
            format: Format::Bin,
            extra: &[],
            code: exit_code::CERTIFICATE_UNAVAILABLE,
            names: "no VCEK",
        },
        Case {
            name: "CRL required, none available offline",
            evidence: milan(),
            format: Format::Json,
            extra: &["--check-crl", "--product", "milan"],
            code: exit_code::CRL_FAILED,
            names: "crl",
        },
    ];
    cases
}

/// Files no writer of ours would produce: (name, bytes, exit code, text that must appear).
fn raw_cases() -> Vec<(&'static str, Vec<u8>, u8, String)> {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let ev = milan();
    let json = |report: &[u8], table: &[u8]| {
        format!(
            r#"{{"format": "snp-agent-evidence/v1", "report": "{}", "cert_table": "{}"}}"#,
            b64(report),
            b64(table)
        )
        .into_bytes()
    };
    let mut overlapping = Vec::new();
    for (guid, off, len) in [
        (Guid::VCEK, 96u32, 200u32),
        (Guid::ASK, 150, 200),
        (Guid::ARK, 400, 50),
    ] {
        overlapping.extend_from_slice(&guid.0);
        overlapping.extend_from_slice(&off.to_le_bytes());
        overlapping.extend_from_slice(&len.to_le_bytes());
    }
    overlapping.extend_from_slice(&[0; 24]);
    overlapping.resize(450, 0x30);
    let mut bin_overlap = ev.report.clone();
    bin_overlap.extend_from_slice(&overlapping);
    let invalid = exit_code::EVIDENCE_INVALID;
    vec![
        (
            "report one byte short",
            json(&ev.report[..0x49F], &ev.cert_table),
            invalid,
            "1183".to_string(),
        ),
        (
            "report one byte long",
            json(&[&ev.report[..], &[0]].concat(), &ev.cert_table),
            invalid,
            "1185".to_string(),
        ),
        (
            "certificate table past its cap",
            json(
                &ev.report,
                &vec![0x41; snp_agent::evidence::MAX_CERT_TABLE + 1],
            ),
            invalid,
            snp_agent::evidence::MAX_CERT_TABLE.to_string(),
        ),
        (
            "certificate table entries overlap (json)",
            json(&ev.report, &overlapping),
            invalid,
            "overlap".to_string(),
        ),
        (
            "certificate table entries overlap (bin)",
            bin_overlap,
            invalid,
            "overlap".to_string(),
        ),
        (
            "empty file",
            Vec::new(),
            invalid,
            "cannot read evidence".to_string(),
        ),
        (
            // Not JSON-shaped (no `{`): read as bin, whose "table" is 64+ bogus entries.
            "20000 brackets",
            [vec![b'['; 10_000], vec![b']'; 10_000]].concat(),
            invalid,
            // A leading '[' is read as a CMW record (issue 13), whose JSON parser stops at
            // its recursion limit.
            "recursion limit".to_string(),
        ),
        (
            "JSON objects nested 5000 deep",
            [
                br#"{"format": "snp-agent-evidence/v1", "x": "#.to_vec(),
                br#"{"a": "#.repeat(5000),
                b"1".to_vec(),
                b"}".repeat(5001),
            ]
            .concat(),
            invalid,
            "cannot read evidence".to_string(),
        ),
        (
            "CoCo evidence with a report of the wrong type",
            br#"{"attestation_report": 7, "cert_chain": null}"#.to_vec(),
            invalid,
            "cannot read evidence".to_string(),
        ),
    ]
}

#[test]
fn every_error_path_exits_with_its_code_and_names_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let all = cases();
    for (i, c) in all.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.{}", c.format.as_str()));
        c.evidence
            .write_path(&path, c.format)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let (code, out, err) = verify(cache.path(), &path, c.extra);
        let text = format!("{out}\n{err}");
        if code != i32::from(c.code) || !text.contains(c.names) || text.contains("panicked") {
            failures.push(format!(
                "{}: exit {code} (want {}), looking for {:?}:\n{text}",
                c.name, c.code, c.names
            ));
        }
    }
    let raw = raw_cases();
    for (i, (name, bytes, want, names)) in raw.iter().enumerate() {
        let path = dir.path().join(format!("raw{i}"));
        std::fs::write(&path, bytes).unwrap();
        let (code, out, err) = verify(cache.path(), &path, &[]);
        let text = format!("{out}\n{err}");
        if code != i32::from(*want) || !text.contains(names.as_str()) || text.contains("panicked") {
            failures.push(format!(
                "{name}: exit {code} (want {want}), looking for {names:?}:\n{text}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
    eprintln!(
        "{} hostile evidence cases exit with their documented code",
        all.len() + raw.len()
    );
}

/// Files that never end, or are just past the cap: refused with exit 6, quickly, after reading
/// at most the cap.
#[test]
fn inputs_past_the_size_cap_are_refused_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();

    // A regular file one byte past the cap.
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; MAX_EVIDENCE_FILE as usize + 1]).unwrap();
    let (code, _, err) = verify(cache.path(), &big, &[]);
    assert_eq!(code, i32::from(exit_code::EVIDENCE_INVALID), "{err}");
    assert!(
        err.contains(&MAX_EVIDENCE_FILE.to_string()),
        "names the cap: {err}"
    );

    // A file that never ends.
    let (code, _, err) = verify(cache.path(), Path::new("/dev/zero"), &[]);
    assert_eq!(code, i32::from(exit_code::EVIDENCE_INVALID), "{err}");
    assert!(
        err.contains(&MAX_EVIDENCE_FILE.to_string()),
        "names the cap: {err}"
    );

    // Standard input that never ends.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("snp-agent"))
        .env("SNP_AGENT_CACHE_DIR", cache.path())
        .env_remove("SNP_AGENT_KDS_URL")
        .env_remove("RUST_LOG")
        .args(["verify", "-", "--offline"])
        .stdin(Stdio::from(std::fs::File::open("/dev/zero").unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("verify - on an endless stdin did not stop within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit_code::EVIDENCE_INVALID)),
        "{err}"
    );
    assert!(
        err.contains(&MAX_EVIDENCE_FILE.to_string()),
        "names the cap: {err}"
    );

    // A snpguest directory whose certificate is past the 64 KiB per-file cap: refused.
    let sg = dir.path().join("sg");
    let ev = evidence(&MILAN);
    ev.write_path(&sg, Format::SnpguestDir).unwrap();
    let vcek = find(&sg, "vcek");
    std::fs::write(&vcek, vec![0x30; 64 * 1024 + 1]).unwrap();
    let (code, _, err) = verify(cache.path(), &sg, &[]);
    assert_eq!(code, i32::from(exit_code::EVIDENCE_INVALID), "{err}");
    assert!(err.contains("65536"), "names the cap: {err}");
    // ... and one whose certificate never ends (a link to a device): the reader follows no
    // links, so it is refused by name (exit 6) instead of hanging.
    std::fs::remove_file(&vcek).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &vcek).unwrap();
    let (code, _, err) = verify(cache.path(), &sg, &[]);
    assert_eq!(code, i32::from(exit_code::EVIDENCE_INVALID), "{err}");
    assert!(err.contains("symbolic link"), "names the link: {err}");
    // ... and whose report never ends.
    let report = sg.join("attestation-report.bin");
    std::fs::remove_file(&report).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &report).unwrap();
    let (code, _, err) = verify(cache.path(), &sg, &[]);
    assert_eq!(code, i32::from(exit_code::EVIDENCE_INVALID), "{err}");
}

fn find(dir: &Path, stem: &str) -> PathBuf {
    for sub in [dir.join("certs"), dir.to_path_buf()] {
        for e in std::fs::read_dir(&sub).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(stem) {
                return e.path();
            }
        }
    }
    panic!("no {stem} file in {}", dir.display());
}

/// Mutations of real evidence in every format (a deterministic generator: byte flips, cuts,
/// splices): whatever comes in, `verify` ends with a documented code, never 101 and never a
/// panic message.
#[test]
fn mutated_evidence_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let documented: Vec<i32> = exit_code::TABLE
        .iter()
        .map(|(c, _, _)| i32::from(*c))
        .collect();
    let mut seed: u64 = 0x5EED_1234_ABCD_0001;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let ev = milan();
    let mut runs = 0;
    for format in [Format::Json, Format::Bin, Format::Coco] {
        let base = ev.to_bytes(format).expect("writes");
        for i in 0..12 {
            let mut m = base.clone();
            match next() % 3 {
                0 => {
                    for _ in 0..1 + next() % 8 {
                        let at = (next() as usize) % m.len();
                        m[at] ^= 1 << (next() % 8);
                    }
                }
                1 => m.truncate((next() as usize) % m.len()),
                _ => {
                    let at = (next() as usize) % m.len();
                    let len = (next() as usize) % 64;
                    let junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    m.splice(at..at, junk);
                }
            }
            let path = dir.path().join(format!("m{i}.{}", format.as_str()));
            std::fs::write(&path, &m).unwrap();
            let (code, out, err) = verify(cache.path(), &path, &[]);
            assert!(
                documented.contains(&code) && code != 101 && !err.contains("panicked"),
                "{format} mutation {i}: exit {code}\n{out}\n{err}"
            );
            runs += 1;
        }
    }
    eprintln!("{runs} mutated evidence files: every exit code documented, no panic");
}
