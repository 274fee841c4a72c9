//! A protocol-faithful software SEV-SNP platform: AMD-SP firmware, KVM's extended guest request
//! exit (both host-interface generations), and a VMM serving the certificate blob under a lock.
//! It is the other side of `snp-ghcb` and defines no wire layout of its own.
//!
//! Start with [`platform::SimPlatform::builder`]: pick a product, a KVM [`kvm::Generation`]
//! (the seed's `KVM_EXIT_VMGEXIT` REQ_CERTS or the merged `KVM_EXIT_SNP_REQ_CERTS`), optionally a
//! clock ([`clock::ManualClock`] so nothing sleeps), a blob location and [`faults::Faults`]. Then
//! reach it through a face:
//! - [`face::ghcb::GhcbFace`] implements `snp_ghcb::driver::Vmgexit` for the no_std guest driver;
//! - [`face::sev_guest::SevGuestDevice`] behaves like Linux `/dev/sev-guest` (errno, exitinfo2,
//!   certs_len, kernel BUSY loop, VMPCK disabling) in bytes-and-values form;
//! - [`face::tsm_fuse::TsmMount`] mounts a configfs-tsm tree with FUSE.
//!
//! Read what happened with [`platform::SimPlatform::counters`] / `events`; change the host at
//! runtime with `set_faults`, `raise_tcb`, `begin_update` (the exclusive-lock updater) and
//! `load_vlek`. The simulator's roots ([`pki::SimRoots`]) must be given to a verifier explicitly:
//! they never verify against AMD's pinned roots.
#![forbid(unsafe_code)]

pub mod clock;
pub mod counters;
pub mod face;
pub mod faults;
pub mod firmware;
pub mod kvm;
pub mod memory;
pub mod pki;
pub mod platform;
pub mod secrets;
pub mod updater;
pub mod vmm;
pub mod wirelog;
