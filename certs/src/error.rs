//! Typed errors for certificate and verification failures.
//!
//! Each error says what was wrong with which input so that an operator can act on it (fetch
//! another certificate, pick another time, report a tampered host answer) without reading code.

use thiserror::Error;

use crate::product::Product;

/// The product line could not be determined.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProductError {
    /// CPUID family/model of a part this crate does not know (e.g. a newer generation).
    #[error("unknown SEV-SNP part: CPUID family {family:#04x} model {model:#04x} (supported: Milan, Genoa, Turin)")]
    UnknownCpuid {
        /// CPUID family (incl. extended family).
        family: u8,
        /// CPUID model (incl. extended model).
        model: u8,
    },
    /// A product name that is not Milan, Genoa or Turin (with an optional stepping suffix).
    #[error("unknown product name {0:?} (expected Milan, Genoa or Turin, optionally with a stepping like Milan-B0)")]
    UnknownName(String),
}

/// A TCB_VERSION could not be decoded or encoded for the product.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TcbError {
    /// Bytes that are reserved in the product's layout were not zero.
    #[error("TCB {bytes:02x?} has non-zero reserved bytes for {product}: not a {product} TCB_VERSION (wrong product or tampered)")]
    ReservedNonZero {
        /// The product whose layout was applied.
        product: Product,
        /// The raw TCB bytes.
        bytes: [u8; 8],
    },
    /// An FMC level was given for a product without one, or missing for one that has it.
    #[error("TCB {} an FMC SPL but {product} {}", if *has_fmc { "has" } else { "lacks" }, if product.has_fmc() { "requires one" } else { "has none" })]
    FmcMismatch {
        /// The product the TCB was to be encoded for.
        product: Product,
        /// Whether the TCB carried an FMC level.
        has_fmc: bool,
    },
}

/// Received report bytes cannot be viewed as an ATTESTATION_REPORT.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReportError {
    /// Fewer bytes than a report.
    #[error("attestation report truncated: {len} bytes, expected exactly {expected}")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Bytes a report has (0x4A0).
        expected: usize,
    },
    /// More bytes than a report (a container, or trailing data that a verifier must not ignore).
    #[error("attestation report oversized: {len} bytes, expected exactly {expected} (strip any container first)")]
    Oversized {
        /// Bytes received.
        len: usize,
        /// Bytes a report has (0x4A0).
        expected: usize,
    },
}
