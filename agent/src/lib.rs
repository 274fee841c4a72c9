//! The snp-agent library: backends that obtain an extended SEV-SNP report (configfs-tsm,
//! `/dev/sev-guest`, the simulator), KDS access, evidence formats and policy.

pub mod backend;
pub mod binding;
pub mod evidence;
pub mod exit_code;
pub mod ioctl;
pub mod kds;
pub mod policy;
pub mod serve;
