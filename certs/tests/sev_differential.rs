//! Differential test: the `sev` crate's (version 8) `AttestationReport` parser and our zero-copy
//! `ReportView` agree on every field both expose, for every real report in the data set.
//!
//! The comparison itself is the `report_sev_diff` fuzz harness (`fuzz/src/sev_diff.rs`), included
//! here as the corpus replay includes it: one comparator, one list of documented divergences.
//! On real, firmware-signed reports the only divergence allowed is the masked chip ID of a v2
//! (VLEK) report, which `sev` cannot parse.

use std::path::PathBuf;

// The harness names the `sev` crate `sev8`; here it is this crate's `sev` dev-dependency (8).
extern crate sev as sev8;

#[path = "../../fuzz/src/sev_diff.rs"]
mod sev_diff;

use sev_diff::{report_sev_diff, Divergence};
use snp_certs::report::REPORT_SIZE;

fn real_reports() -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/real");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).expect("data dir") {
        let dir = dir.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).expect("dir") {
            let f = f.expect("entry").path();
            let name = f.display().to_string();
            if name.ends_with(".bin") && !name.contains("certtable") {
                out.push((name, std::fs::read(&f).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn report_fields_agree_with_sev_crate() {
    let reports = real_reports();
    assert_eq!(reports.len(), 68, "68 real report files");
    let (mut agreed, mut masked) = (0, 0);
    for (name, bytes) in &reports {
        assert_eq!(bytes.len(), REPORT_SIZE, "{name}");
        // The harness panics, naming the field, on any disagreement it does not document.
        match std::panic::catch_unwind(|| report_sev_diff(bytes)) {
            Ok(None) => agreed += 1,
            Ok(Some(Divergence::MaskedChipIdV2)) => masked += 1,
            Ok(Some(other)) => panic!("{name}: a real report hit divergence {other:?}"),
            Err(_) => panic!("{name}: our report view and sev 8 disagree (message above)"),
        }
    }
    eprintln!("{agreed} real reports agree field by field; {masked} masked-chip v2 reports sev cannot parse");
    assert!(agreed >= 60, "compared {agreed} reports");
    assert_eq!(agreed + masked, reports.len());
}
