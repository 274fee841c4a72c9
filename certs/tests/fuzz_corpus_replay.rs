//! Replays every fuzz corpus file (`fuzz/corpus/<target>/*`) through the same harness functions
//! the fuzz targets call, on stable and without libFuzzer, so crashers found once stay fixed and
//! the seeds keep exercising the parsers in every `cargo test`.
//!
//! This test owns the corpus layout: a directory whose target has neither an arm here nor an
//! entry in `REPLAYED_ELSEWHERE` fails it, so a new target cannot be added without a replay.
//!
//! Hand-made seeds follow naming conventions that are checked too (see `check_*_seed`). Files
//! the fuzzer adds (hash names) only go through the harness. A `crash_*` file is a reproducer of
//! a bug found by fuzzing: it replays like any other file, so the test fails until the bug is
//! fixed. Every failing file is named in the failure message.

// The differential harness names the `sev` crate `sev8` (the fuzz crate's name for it); here it
// is this crate's `sev` dev-dependency, the same version 8.
extern crate sev as sev8;

#[path = "../../fuzz/src/certs.rs"]
mod harness;
#[path = "../../fuzz/src/replay.rs"]
mod replay;
#[path = "../../fuzz/src/sev_diff.rs"]
mod sev_diff;

use std::path::{Path, PathBuf};

use snp_certs::chain::AmdCert;
use snp_certs::crl::Crl;
use snp_certs::report::ReportView;
use snp_certs::table::CertTable;

/// Corpus directories whose targets exercise another crate and are replayed by that crate's own
/// test (name, where).
const REPLAYED_ELSEWHERE: &[(&str, &str)] = &[
    ("guest_message", "ghcb/tests/fuzz_corpus_replay.rs"),
    ("report_rsp", "ghcb/tests/fuzz_corpus_replay.rs"),
    ("evidence", "agent/tests/fuzz_corpus_replay.rs"),
    ("evidence_json", "agent/tests/fuzz_corpus_replay.rs"),
    ("evidence_bin", "agent/tests/fuzz_corpus_replay.rs"),
    ("evidence_coco", "agent/tests/fuzz_corpus_replay.rs"),
    ("evidence_snpguest_tar", "agent/tests/fuzz_corpus_replay.rs"),
    ("policy", "agent/tests/fuzz_corpus_replay.rs"),
    ("kds_response", "agent/tests/fuzz_corpus_replay.rs"),
];

/// Fewest files each of this crate's corpora must hold, so the test cannot pass by finding
/// nothing.
const MIN_FILES: &[(&str, usize)] = &[
    ("cert_table", 12),
    ("report_view", 6),
    ("vek_cert", 8),
    ("verify", 6),
    ("crl", 2),
    ("report_sev_diff", 4),
];

fn corpus_root() -> PathBuf {
    replay::corpus_root(env!("CARGO_MANIFEST_DIR"))
}

use replay::files;

fn is_valid_name(name: &str) -> bool {
    ["valid_", "real_", "empty_"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// The seed-name convention for the certificate table corpus: `bad_*` must be rejected (by the
/// parser, or by `der()` on some entry), `valid_*`/`real_*`/`empty_*` must parse, `empty_*`
/// must have no entries, and every entry of a `real_*` table must yield DER.
fn check_table_seed(name: &str, data: &[u8]) {
    let parsed = CertTable::parse(data);
    if name.starts_with("bad_") {
        let rejected = match &parsed {
            Err(_) => true,
            Ok(t) => t.entries().iter().any(|e| e.der().is_err()),
        };
        assert!(
            rejected,
            "seed {name} should be rejected but parsed: {parsed:?}"
        );
    } else if is_valid_name(name) {
        let t = parsed.unwrap_or_else(|e| panic!("seed {name} should parse: {e}"));
        if name.starts_with("empty_") {
            assert!(t.is_empty(), "seed {name} should have no entries");
        }
        if name.starts_with("real_") {
            assert!(!t.is_empty(), "real table {name} has entries");
            for e in t.entries() {
                e.der()
                    .unwrap_or_else(|err| panic!("real table {name}: {err}"));
            }
        }
    }
}

/// `real_*`/`valid_*` reports must be viewable (exactly 0x4A0 bytes); `bad_*` must not be.
fn check_report_seed(name: &str, data: &[u8]) {
    let ok = ReportView::new(data).is_ok();
    if name.starts_with("bad_") {
        assert!(!ok, "seed {name} should be refused");
    } else if is_valid_name(name) {
        assert!(ok, "seed {name} should be a report");
    }
}

/// `vek_cert` seeds start with the selector byte: `0..=4` certificate roles, `5` CRL, `6` PEM,
/// `7` extension list. `real_*`/`valid_*` certificates and CRLs must parse; `bad_*` must not.
fn check_cert_seed(name: &str, data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let parsed = match sel & 0x07 {
        0..=4 => AmdCert::from_der("VEK", rest)
            .map(drop)
            .map_err(|e| e.to_string()),
        5 => Crl::from_der(rest).map(drop).map_err(|e| e.to_string()),
        _ => return,
    };
    if name.starts_with("bad_") {
        assert!(parsed.is_err(), "seed {name} should be refused");
    } else if is_valid_name(name) {
        parsed.unwrap_or_else(|e| panic!("seed {name} should parse: {e}"));
    }
}

/// Replay one corpus directory; returns how many files it ran and which failed (with why).
fn replay_dir(target: &str, dir: &Path) -> (usize, Vec<String>) {
    // Decide the harness from the directory name before looking at files, so that even an empty
    // directory for an unknown target is flagged.
    let run: fn(&str, &[u8]) = match target {
        "cert_table" => |name, data| {
            harness::cert_table(data);
            check_table_seed(name, data);
        },
        "report_view" => |name, data| {
            harness::report_view(data);
            check_report_seed(name, data);
        },
        "vek_cert" => |name, data| {
            harness::vek_cert(data);
            check_cert_seed(name, data);
        },
        // The verify seeds' conventions (`valid_*` verifies, `bad_*` does not) are checked by
        // the harness's own tamper assertion and by `verify_seeds_have_their_outcome` below.
        "verify" => |_, data| harness::verify(data),
        "crl" => |name, data| {
            harness::crl_der(data);
            let mut sel = vec![5u8];
            sel.extend_from_slice(data);
            check_cert_seed(name, &sel);
        },
        // Both parsers agree on every field, or disagree only in a documented way.
        "report_sev_diff" => |name, data| {
            let d = sev_diff::report_sev_diff(data);
            if name.starts_with("real_") || name.starts_with("valid_") {
                assert!(
                    d.is_none() || d == Some(sev_diff::Divergence::MaskedChipIdV2),
                    "{name}: {d:?}"
                );
            }
        },
        other if REPLAYED_ELSEWHERE.iter().any(|(n, _)| *n == other) => return (0, Vec::new()),
        other => panic!(
            "fuzz/corpus/{other}/ has no replay arm: add its harness to \
             certs/tests/fuzz_corpus_replay.rs (or list it in REPLAYED_ELSEWHERE)"
        ),
    };
    let root = dir.parent().expect("corpus root");
    replay::replay_dir(root, target, &run)
}

#[test]
fn every_corpus_file_replays_cleanly() {
    let root = corpus_root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut total = 0;
    let mut failed = Vec::new();
    let mut counts = Vec::new();
    for dir in &dirs {
        let target = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let (n, f) = replay_dir(target, dir);
        counts.push((target.to_string(), n));
        total += n;
        failed.extend(f);
    }
    assert!(
        failed.is_empty(),
        "{} corpus file(s) fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
    for (target, min) in MIN_FILES {
        let n = counts
            .iter()
            .find(|(t, _)| t == target)
            .map_or(0, |(_, n)| *n);
        assert!(
            n >= *min,
            "expected at least {min} files in fuzz/corpus/{target}, found {n}"
        );
    }
    eprintln!(
        "replayed {total} corpus files from {} directories",
        dirs.len()
    );
}

/// The hand-made `verify` seeds carry their expected outcome in their name: `valid_*` pairs
/// (real reports with their real VCEK/VLEK) verify, `bad_*` ones do not. Seed layout:
/// `[flags][report_len u16][report][vek_len u16][vek][extra]` (see the harness).
#[test]
fn verify_seeds_have_their_outcome() {
    use snp_certs::roots::TrustAnchors;
    use snp_certs::verify::{Endorsements, Verifier};
    let dir = corpus_root().join("verify");
    let mut checked = 0;
    for path in files(&dir) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let expect_ok = if name.starts_with("valid_") {
            true
        } else if name.starts_with("bad_") {
            false
        } else {
            continue;
        };
        let data = std::fs::read(&path).expect("read seed");
        let flags = data[0];
        assert_eq!(
            flags & 0x31,
            0,
            "{name}: named seeds use AMD anchors and no extra"
        );
        let split = |d: &[u8]| -> (Vec<u8>, Vec<u8>) {
            let n = usize::from(u16::from_le_bytes([d[0], d[1]])).min(d.len() - 2);
            (d[2..2 + n].to_vec(), d[2 + n..].to_vec())
        };
        let (report, rest) = split(&data[1..]);
        let (vek, _) = split(&rest);
        let time = [1_735_689_600, 1_782_864_000, 1_795_564_800, 2_051_222_400]
            [usize::from((flags >> 2) & 3)];
        let r = Verifier::new(TrustAnchors::amd())
            .at_unix(time)
            .verify(&report, &Endorsements::new(vek));
        assert_eq!(r.is_ok(), expect_ok, "{name}: {:?}", r.err());
        checked += 1;
    }
    assert!(checked >= 3, "expected named verify seeds, found {checked}");
}
