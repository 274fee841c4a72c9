//! Replays every fuzz corpus file (`fuzz/corpus/<target>/*`) through the same harness functions
//! the fuzz targets call, on stable and without libFuzzer, so crashers found once stay fixed and
//! the seeds keep exercising the parsers in every `cargo test`.
//!
//! Hand-made seeds follow a naming convention that is checked too: `bad_*` must be rejected
//! (by the parser, or by `der()` on some entry), `valid_*`/`real_*`/`empty_*` must parse, and
//! `empty_*` must have no entries. Files the fuzzer adds (hash names) only go through the harness.

#[path = "../../fuzz/src/certs.rs"]
mod harness;

use std::path::{Path, PathBuf};

use snp_certs::table::CertTable;

/// Corpus directories whose targets exercise another crate and are replayed by that crate's own
/// test (name, where). Everything else must have an arm in `replay_dir`.
const REPLAYED_ELSEWHERE: &[(&str, &str)] = &[];

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// The seed-name convention for the certificate table corpus.
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
    } else if ["valid_", "real_", "empty_"]
        .iter()
        .any(|p| name.starts_with(p))
    {
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

/// Replay one corpus directory; returns how many files it ran.
fn replay_dir(target: &str, dir: &Path) -> usize {
    // Decide the harness from the directory name before looking at files, so that even an empty
    // directory for an unknown target is flagged.
    let run: fn(&str, &[u8]) = match target {
        "cert_table" => |name, data| {
            harness::cert_table(data);
            check_table_seed(name, data);
        },
        other if REPLAYED_ELSEWHERE.iter().any(|(n, _)| *n == other) => return 0,
        other => panic!(
            "fuzz/corpus/{other}/ has no replay arm: add its harness to \
             certs/tests/fuzz_corpus_replay.rs (or list it in REPLAYED_ELSEWHERE)"
        ),
    };
    let files = files(dir);
    for path in &files {
        let data = std::fs::read(path).expect("read corpus file");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        run(name, &data);
    }
    files.len()
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
    let mut table_files = 0;
    for dir in &dirs {
        let target = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let n = replay_dir(target, dir);
        if target == "cert_table" {
            table_files = n;
        }
        total += n;
    }
    // The test must not pass by finding nothing.
    assert!(
        table_files >= 12,
        "expected the cert_table seeds, found {table_files} files"
    );
    eprintln!(
        "replayed {total} corpus files from {} directories",
        dirs.len()
    );
}
