//! The snp-agent library: backends that obtain an extended SEV-SNP report (configfs-tsm,
//! `/dev/sev-guest`, the simulator), KDS access, evidence formats and policy.
//!
//! `unsafe` is denied crate-wide and allowed only in [`ioctl`], where the three `/dev/sev-guest`
//! syscalls need it (each block carries a `// SAFETY:` line).
#![deny(unsafe_code)]

pub mod backend;
pub mod binding;
pub mod convert;
pub mod doctor;
pub mod ear;
pub mod evidence;
pub mod exit_code;
pub mod host;
#[allow(unsafe_code)]
pub mod ioctl;
pub mod kbs;
pub mod kds;
pub mod policy;
pub mod serve;
pub(crate) mod server;
pub mod verifier;

/// Test helpers shared by the unit tests of several modules.
#[cfg(test)]
pub(crate) mod test_data {
    /// A file of the real AMD data set (`tests/data/real/`, see its MANIFEST.md).
    pub(crate) fn real(path: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/real")
            .join(path);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
}
