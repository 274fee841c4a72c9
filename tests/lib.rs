//! Cross-crate end-to-end tests live in `tests/*.rs` beside this file.
