//! SEV-SNP certificates and verification: the GHCB certificate table, the attestation report
//! view, AMD's PKI (pinned roots, chain, VCEK/VLEK extensions, CRL), the binding checks between
//! a report and its certificate, KDS URLs, and the host's certificate-blob file.
#![forbid(unsafe_code)]

pub mod blob;
pub mod cache;
pub mod chain;
pub mod crl;
pub mod crypto;
pub mod error;
pub mod extensions;
pub mod kds;
pub mod product;
pub mod report;
pub mod roots;
pub mod table;
pub mod tcb;
pub mod verify;
