//! Fuzz harnesses: one function per target, each taking the raw input bytes.
//!
//! The functions live in per-crate modules so that each crate's corpus-replay test can include
//! just the module for its crate (`#[path = ".../fuzz/src/certs.rs"] mod harness;`) and replay
//! the corpus on stable without libFuzzer. Add a target: write `pub fn NAME(data: &[u8])` in the
//! module of the crate it exercises, a `fuzz_targets/NAME.rs` calling it, a `[[bin]]` in
//! Cargo.toml, seeds in `corpus/NAME/`, and an arm for `NAME` in that crate's replay test.

pub mod agent;
pub mod certs;
pub mod ghcb;
pub mod sev_diff;
