//! Replays the `guest_message` fuzz corpus (`fuzz/corpus/guest_message/*`) through the harness
//! its fuzz target calls (guest messages, their payloads, SW_EXITINFO2 and the GHCB MSR
//! protocol), on stable and without libFuzzer, so crashers found once stay fixed and the seeds
//! keep exercising the decoders in every `cargo test`.
//! (`certs/tests/fuzz_corpus_replay.rs` owns the corpus layout and refuses directories nobody
//! replays.)
//!
//! A `crash_*` file is a reproducer of a bug found by fuzzing: it replays like any other file,
//! so this test fails until the bug is fixed. Every failing file is named in the failure message.

#[path = "../../fuzz/src/ghcb.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

const TARGET: &str = "guest_message";
/// Fewest files the corpus must hold, so the test cannot pass by finding nothing.
const MIN_FILES: usize = 8;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(TARGET)
}

#[test]
fn every_corpus_file_replays_cleanly() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("read corpus file");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| harness::guest_message(&data))) {
            let why = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("fuzz/corpus/{TARGET}/{name}: {why}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} corpus file(s) fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(
        files.len() >= MIN_FILES,
        "expected at least {MIN_FILES} files in fuzz/corpus/{TARGET}, found {}",
        files.len()
    );
    eprintln!("replayed {} {TARGET} corpus files", files.len());
}
