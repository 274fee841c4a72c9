//! Crypto providers behind a trait: pure Rust (default) and aws-lc-rs.
