//! The SEV-SNP guest<->host wire protocol, shared by the guest driver and the simulator.
//!
//! Everything here is `no_std` (with optional `alloc`): the same definitions serve a Linux
//! user-space agent, the in-process simulator, and firmware/SVSM-style code that talks to the
//! hypervisor through a raw GHCB. Every byte layout is decoded from and encoded to byte slices
//! explicitly (little-endian); nothing is transmuted from untrusted memory.
//!
//! | module | holds |
//! |---|---|
//! | [`page`] | the GHCB page: save-area fields, valid bitmap, shared buffer, version/usage |
//! | [`msr`] | GHCB MSR protocol: SEV information, GHCB GPA registration, termination |
//! | [`exit`] | NAE exit codes, typed `SW_EXITINFO2` ([`exit::ExitInfo2`]), firmware status codes |
//! | [`message`] | the SNP guest message: header, AES-256-GCM [`message::seal`]/[`message::open`] |
//! | [`payload`] | MSG_REPORT_REQ/RSP and MSG_KEY_REQ/RSP |
//! | [`retry`] | the one retry policy (sans-I/O [`retry::RetryState`], injected [`retry::Clock`]) |
//! | [`secrets`] | the secrets page layout (VMPCKs, OS-area message counts) |
//! | [`driver`] | the [`driver::Vmgexit`] platform trait, the [`driver::VmpckStore`] key home and the [`driver::GuestDriver`] |
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
pub mod secrets;
