//! Shared helpers for the CLI tests: real AMD evidence turned into every format, and a command
//! builder that isolates the binary from the user's cache and KDS settings.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use base64::Engine as _;
use snp_agent::evidence::{Evidence, Format};
use snp_certs::table::{CertTableBuilder, Guid};

/// A path in the repository's copy of the real test data.
pub fn real(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/real")
        .join(rel)
}

pub fn read_real(rel: &str) -> Vec<u8> {
    let p = real(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The DER certificates of a PEM bundle, in order.
pub fn pem_blocks(text: &[u8]) -> Vec<Vec<u8>> {
    let text = std::str::from_utf8(text).expect("PEM is text");
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN") {
            cur = Some(String::new());
        } else if line.starts_with("-----END") {
            let b64 = cur.take().expect("END without BEGIN");
            out.push(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("PEM base64"),
            );
        } else if let Some(c) = cur.as_mut() {
            c.push_str(line);
        }
    }
    out
}

/// A real pair: report, endorsement key, and the KDS chain file (intermediate then ARK).
pub struct Pair {
    pub report: &'static str,
    pub vek: &'static str,
    pub chain: &'static str,
    pub vlek: bool,
}

/// Milan v2 VCEK (virtee/sev), valid until 2030.
pub const MILAN: Pair = Pair {
    report: "virtee-sev/report_milan.bin",
    vek: "virtee-sev/vcek_milan.der",
    chain: "go-sev-guest/ask_ark_milan.pem",
    vlek: false,
};

/// Turin v5 VCEK (oak), 8-byte hwID, FMC in the TCB.
pub const TURIN: Pair = Pair {
    report: "oak/turin_oc_evidence_report_3f44a09b.bin",
    vek: "oak/turin_oc_endorsements_vcek_14889815.der",
    chain: "go-sev-guest/ask_ark_turin_vcek.pem",
    vlek: false,
};

/// Genoa v3 VCEK (veraison).
pub const GENOA: Pair = Pair {
    report: "veraison/sevsnp-tsm-report_8d8bfb3e.bin",
    vek: "veraison/sevsnp-tsm-report_vcek_ab5a6bc8.der",
    chain: "go-sev-guest/ask_ark_genoa.pem",
    vlek: false,
};

/// Milan v5 VLEK (reclaim), valid 2026-03-09 .. 2027-03-09.
pub const VLEK: Pair = Pair {
    report: "reclaim-js-sdk/verify_proof.test_report_f16dddb3.bin",
    vek: "reclaim-js-sdk/verify_proof.test_vlek_660274b7.der",
    chain: "go-sev-guest/ask_ark_milan_vlek.pem",
    vlek: true,
};

/// A certificate table as a host would serve it: ARK, ASK/ASVK, then the VCEK/VLEK, as DER.
pub fn table_for(p: &Pair) -> Vec<u8> {
    let chain = pem_blocks(&read_real(p.chain));
    assert_eq!(chain.len(), 2, "{}", p.chain);
    CertTableBuilder::new()
        .with(Guid::ARK, chain[1].clone())
        .with(Guid::ASK, chain[0].clone())
        .with(
            if p.vlek { Guid::VLEK } else { Guid::VCEK },
            read_real(p.vek),
        )
        .build()
        .expect("table builds")
}

/// Evidence for a real pair.
pub fn evidence(p: &Pair) -> Evidence {
    Evidence::new(read_real(p.report), table_for(p))
}

/// Write `ev` in `format` under `dir`, returning the path to pass to the CLI.
pub fn write(ev: &Evidence, format: Format, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.{}", format.as_str()));
    ev.write_path(&path, format).expect("evidence writes");
    path
}

/// The binary, isolated: its own empty cache, no KDS URL from the environment.
pub fn snp_agent(cache: &Path) -> Command {
    let mut c = Command::cargo_bin("snp-agent").expect("binary built");
    c.env("SNP_AGENT_CACHE_DIR", cache)
        .env_remove("SNP_AGENT_KDS_URL")
        .env_remove("RUST_LOG");
    c
}

/// Run and return (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("binary runs");
    (
        out.status.code().expect("exited normally"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
