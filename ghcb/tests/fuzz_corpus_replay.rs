//! Replays the `snp-ghcb` fuzz corpora (`fuzz/corpus/{guest_message,report_rsp}/*`) through the
//! harnesses their fuzz targets call (guest messages, their payloads, MSG_REPORT_RSP,
//! SW_EXITINFO2 and the GHCB MSR protocol), on stable and without libFuzzer, so crashers found
//! once stay fixed and the seeds keep exercising the decoders in every `cargo test`.
//! (`certs/tests/fuzz_corpus_replay.rs` owns the corpus layout and refuses directories nobody
//! replays; `fuzz/src/replay.rs` is the shared replay loop.)

#[path = "../../fuzz/src/ghcb.rs"]
mod harness;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn every_corpus_file_replays_cleanly() {
    replay::replay_target(DIR, "guest_message", 8, &|_, d| harness::guest_message(d));
}

#[test]
fn report_rsp_corpus_replays_cleanly() {
    replay::replay_target(DIR, "report_rsp", 4, &|_, d| harness::report_rsp(d));
}
