//! Replays the `snp-agent` fuzz corpora (`fuzz/corpus/<target>/*` for the evidence readers of
//! every format, the snpguest directory as a tar, the policy TOML compiler and the KDS response
//! handling) through the harnesses their fuzz targets call, on stable and without libFuzzer, so
//! crashers found once stay fixed and the seeds keep exercising the readers in every
//! `cargo test`. (`certs/tests/fuzz_corpus_replay.rs` owns the corpus layout and refuses
//! directories nobody replays; `fuzz/src/replay.rs` is the shared replay loop.)

#[path = "../../fuzz/src/agent.rs"]
mod harness;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn every_corpus_file_replays_cleanly() {
    replay::replay_target(DIR, "evidence", 8, &|_, d| harness::evidence(d));
}

#[test]
fn evidence_json_corpus_replays_cleanly() {
    replay::replay_target(DIR, "evidence_json", 2, &|_, d| harness::evidence_json(d));
}

#[test]
fn evidence_bin_corpus_replays_cleanly() {
    replay::replay_target(DIR, "evidence_bin", 2, &|_, d| harness::evidence_bin(d));
}

#[test]
fn evidence_coco_corpus_replays_cleanly() {
    replay::replay_target(DIR, "evidence_coco", 2, &|_, d| harness::evidence_coco(d));
}

#[test]
fn evidence_snpguest_tar_corpus_replays_cleanly() {
    replay::replay_target(DIR, "evidence_snpguest_tar", 2, &|name, d| {
        check_seed(name, harness::evidence_snpguest_tar(d))
    });
}

#[test]
fn policy_corpus_replays_cleanly() {
    replay::replay_target(DIR, "policy", 2, &|_, d| harness::policy_toml(d));
}

#[test]
fn kds_response_corpus_replays_cleanly() {
    replay::replay_target(DIR, "kds_response", 4, &|name, d| {
        check_seed(name, harness::kds_response(d))
    });
}

/// Seed names carry their outcome: `valid_*` must be accepted, `bad_*` refused (fuzzer finds
/// have hash names and only go through the harness).
fn check_seed(name: &str, accepted: bool) {
    if name.starts_with("valid_") {
        assert!(accepted, "seed {name} should be accepted");
    } else if name.starts_with("bad_") {
        assert!(!accepted, "seed {name} should be refused");
    }
}
