//! A protocol-faithful software SEV-SNP platform: AMD-SP firmware, KVM's extended guest request
//! exit (both host-interface generations), and a VMM serving the certificate blob under a lock.
//! It is the other side of `snp-ghcb` and defines no wire layout of its own.
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
pub mod vmm;
