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

/// A certificate (or CRL) is malformed or outside the profile AMD's PKI uses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertError {
    /// Not a DER X.509 structure.
    #[error("{role}: not a DER X.509 certificate: {detail}")]
    Malformed {
        /// Which certificate (ARK, ASK, ASVK, VCEK, VLEK, …).
        role: &'static str,
        /// Parser message.
        detail: String,
    },
    /// Not RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48, trailer 1.
    #[error("{role}: signature algorithm is not AMD's RSASSA-PSS/SHA-384/MGF1-SHA-384/salt 48: {detail}")]
    SignatureAlgorithm {
        /// Which certificate.
        role: &'static str,
        /// What differs.
        detail: String,
    },
    /// The subject public key is not of the expected type.
    #[error("{role}: unsupported public key: {detail}")]
    PublicKey {
        /// Which certificate.
        role: &'static str,
        /// What differs.
        detail: String,
    },
    /// A critical extension this verifier does not understand (RFC 5280 §4.2: must reject).
    #[error("{role}: unknown critical extension {oid}")]
    UnknownCriticalExtension {
        /// Which certificate.
        role: &'static str,
        /// The extension OID.
        oid: String,
    },
    /// An extension is malformed, duplicated, missing or has an impossible value.
    #[error("{role}: extension {name} ({oid}): {detail}")]
    Extension {
        /// Which certificate.
        role: &'static str,
        /// Extension name (e.g. `hwID`).
        name: &'static str,
        /// Extension OID.
        oid: String,
        /// What is wrong.
        detail: String,
    },
    /// Outside AMD's certificate profile (version, key usage, basic constraints, names).
    #[error("{role}: {detail}")]
    Profile {
        /// Which certificate.
        role: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// PEM text could not be decoded.
    #[error("PEM: {0}")]
    Pem(String),
}

/// A CRL failed to parse, verify or apply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CrlError {
    /// Not a DER CRL.
    #[error("CRL is not a DER X.509 CRL: {0}")]
    Malformed(String),
    /// Not signed by the expected ARK.
    #[error("CRL is not signed by {ark}: {detail}")]
    Signature {
        /// ARK common name.
        ark: String,
        /// What failed.
        detail: String,
    },
    /// Outside thisUpdate..nextUpdate at the verification time.
    #[error("CRL not current at the verification time ({time} s since the epoch): thisUpdate {this_update}, nextUpdate {next_update:?} — fetch a fresh CRL from KDS")]
    Stale {
        /// Verification time (UNIX seconds).
        time: u64,
        /// thisUpdate (UNIX seconds).
        this_update: u64,
        /// nextUpdate (UNIX seconds), if present.
        next_update: Option<u64>,
    },
    /// A certificate in the chain is listed as revoked.
    #[error("{role} serial {serial} is revoked by the CRL")]
    Revoked {
        /// Which certificate.
        role: &'static str,
        /// Its serial number (hex).
        serial: String,
    },
}
