//! [`VerifyError`]: why evidence did not verify, named by the check that failed.

use thiserror::Error;

use super::check;
use crate::chain::CertKind;
use crate::error::{CertError, CrlError, ReportError};
use crate::product::Product;

/// Why evidence did not verify: the first failing check.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The bytes are not a report.
    #[error("report: {0}")]
    Report(#[from] ReportError),
    /// A report version whose layout this verifier does not know.
    #[error("unsupported report version {0} (versions 2 to 5 are supported)")]
    UnsupportedVersion(u32),
    /// A signature algorithm other than ECDSA P-384/SHA-384.
    #[error("unsupported report signature algorithm {0} (1 = ECDSA P-384 with SHA-384)")]
    UnsupportedSignatureAlgo(u32),
    /// No VCEK/VLEK was supplied.
    #[error("no VCEK/VLEK certificate supplied: fetch the VCEK from AMD KDS or ask the host for its certificate table")]
    NoCertificate,
    /// The VCEK/VLEK is malformed or outside AMD's profile.
    #[error("VCEK/VLEK certificate: {0}")]
    Certificate(CertError),
    /// The product could not be determined, or the report and certificate disagree.
    #[error("product: {0}")]
    Product(String),
    /// A host-served CA certificate is not the anchor's (by public key).
    #[error("host-supplied {role} is not the trusted one: {detail}")]
    HostCertificate {
        /// ARK, ASK or ASVK.
        role: &'static str,
        /// What differs.
        detail: String,
    },
    /// A signature or CA profile in the chain failed.
    #[error("certificate chain ({check}): {detail}")]
    Chain {
        /// Which chain check.
        check: &'static str,
        /// What failed.
        detail: String,
    },
    /// A certificate is outside its validity period at the verification time.
    #[error("certificate not valid at the verification time: {0}")]
    Validity(String),
    /// The CRL failed or revokes part of the chain.
    #[error("CRL: {0}")]
    Crl(CrlError),
    /// No CRL was supplied but the verifier requires one.
    #[error(
        "CRL required but none supplied: fetch /vcek/v1/{{product}}/crl (or /vlek/…) from AMD KDS"
    )]
    CrlMissing,
    /// The report signature does not verify or is malformed.
    #[error("report signature: {0}")]
    ReportSignature(String),
    /// The certificate's TCB differs from the report's REPORTED_TCB.
    #[error("TCB mismatch: report REPORTED_TCB is {report} but the {kind} is for {cert} ({product}); the host may have changed the TCB — fetch the certificate for the report's TCB or request a new report")]
    TcbMismatch {
        /// Product whose layout was used.
        product: Product,
        /// Certificate kind.
        kind: CertKind,
        /// The report's REPORTED_TCB (decoded, or raw hex if it does not decode).
        report: String,
        /// The certificate's TCB.
        cert: String,
    },
    /// The VCEK's hwID is not the report's CHIP_ID.
    #[error("chip ID mismatch: report CHIP_ID {report}… but VCEK hwID {cert}…: this VCEK belongs to another chip")]
    ChipIdMismatch {
        /// First bytes of CHIP_ID, hex.
        report: String,
        /// First bytes of hwID, hex.
        cert: String,
    },
    /// The report's signing-key field does not name the certificate's kind.
    #[error("signer mismatch: report signer info says {report}, but the certificate is a {cert}")]
    SignerMismatch {
        /// Signing key named by the report.
        report: String,
        /// Kind of the supplied certificate.
        cert: CertKind,
    },
}

impl VerifyError {
    /// The name of the check that produced this error.
    pub fn check(&self) -> &'static str {
        match self {
            VerifyError::Report(_)
            | VerifyError::UnsupportedVersion(_)
            | VerifyError::UnsupportedSignatureAlgo(_) => check::REPORT_FORMAT,
            VerifyError::NoCertificate | VerifyError::Certificate(_) => check::VEK_CERTIFICATE,
            VerifyError::Product(_) => check::PRODUCT,
            VerifyError::HostCertificate { .. } => check::HOST_CERTIFICATES,
            VerifyError::Chain { check, .. } => check,
            VerifyError::Validity(_) => check::VALIDITY,
            VerifyError::Crl(_) | VerifyError::CrlMissing => check::CRL,
            VerifyError::ReportSignature(_) => check::REPORT_SIGNATURE,
            VerifyError::TcbMismatch { .. } => check::TCB_BINDING,
            VerifyError::ChipIdMismatch { .. } => check::CHIP_ID_BINDING,
            VerifyError::SignerMismatch { .. } => check::SIGNER_BINDING,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_check_names_are_known() {
        let errs = [
            VerifyError::Report(ReportError::Truncated {
                len: 0,
                expected: 1,
            }),
            VerifyError::NoCertificate,
            VerifyError::Product(String::new()),
            VerifyError::CrlMissing,
            VerifyError::ReportSignature(String::new()),
            VerifyError::Validity(String::new()),
        ];
        for e in errs {
            assert!(check::ALL.contains(&e.check()));
        }
    }
}
