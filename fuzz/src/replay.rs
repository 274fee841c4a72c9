//! Corpus replay on stable, shared by every crate's `fuzz_corpus_replay` test (each includes
//! this file with `#[path]`, so it uses only `std`).
//!
//! Every file of `fuzz/corpus/<target>/` runs through the target's harness under
//! `catch_unwind`; every failing file is named with the panic message. A `crash_*` file is a
//! reproducer of a bug the fuzzer found: it replays like any other file, so the test fails until
//! the bug is fixed.

#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// `fuzz/corpus` seen from a crate directory (`CARGO_MANIFEST_DIR`).
pub fn corpus_root(manifest_dir: &str) -> PathBuf {
    Path::new(manifest_dir).join("../fuzz/corpus")
}

/// The regular files of `dir`, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Run `run(file name, bytes)` on every file of `corpus/<target>`; returns how many files ran
/// and a line per failing file.
pub fn replay_dir(root: &Path, target: &str, run: &dyn Fn(&str, &[u8])) -> (usize, Vec<String>) {
    let files = files(&root.join(target));
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("read corpus file");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| run(name, &data))) {
            let why = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("fuzz/corpus/{target}/{name}: {why}"));
        }
    }
    (files.len(), failed)
}

/// Replay `target` and fail on any failing file or on fewer than `min_files` files (so the
/// test cannot pass by finding nothing).
pub fn replay_target(
    manifest_dir: &str,
    target: &str,
    min_files: usize,
    run: &dyn Fn(&str, &[u8]),
) {
    let (n, failed) = replay_dir(&corpus_root(manifest_dir), target, run);
    assert!(
        failed.is_empty(),
        "{} corpus file(s) fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(
        n >= min_files,
        "expected at least {min_files} files in fuzz/corpus/{target}, found {n}"
    );
    eprintln!("replayed {n} {target} corpus files");
}
