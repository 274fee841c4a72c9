//! How guests reach the simulated platform: (a) an in-process GHCB ([`ghcb::GhcbFace`], the
//! `snp_ghcb::driver::Vmgexit` implementation), (b) a device with Linux `/dev/sev-guest` semantics
//! ([`sev_guest::SevGuestDevice`]), (c) a FUSE-mounted configfs-tsm tree ([`tsm_fuse`]).

pub mod ghcb;
pub mod sev_guest;
pub mod tsm_fuse;
