//! The SEV-SNP guest<->host wire protocol, shared by the guest driver and the simulator.
//!
//! Everything here is `no_std` (with optional `alloc`): the same definitions serve a Linux
//! user-space agent, the in-process simulator, and firmware/SVSM-style code that talks to the
//! hypervisor through a raw GHCB. Every byte layout is decoded from and encoded to byte slices
//! explicitly (little-endian); nothing is transmuted from untrusted memory.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod driver;
pub mod exit;
pub mod message;
pub mod msr;
pub mod page;
pub mod payload;
pub mod retry;
