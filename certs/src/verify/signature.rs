//! The report signature: strict decoding of the 72-byte little-endian R and S, a zero rest of
//! the signature area, and the ECDSA P-384/SHA-384 check over the received signed bytes.
//!
//! Everything in the signature area that the signature does not cover must have exactly one
//! value, so that a genuine report has one byte form up to the ECDSA twin (r, n − s), which
//! [`EvidenceId`] folds.

use crate::chain::{AmdCert, PublicKey};
use crate::report::{offset, ReportView};

use super::error::VerifyError;
use super::identity::EvidenceId;
use super::Verifier;

/// The order n of the P-384 group, big-endian.
const P384_ORDER: [u8; 48] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81, 0xF4, 0x37, 0x2D, 0xDF,
    0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC, 0x19, 0x6A, 0xCC, 0xC5, 0x29, 0x73,
];

/// Convert a 72-byte little-endian signature component to a 48-byte big-endian scalar,
/// requiring the upper 24 bytes to be zero and the value to lie in 1..n.
fn scalar_from_le(name: &str, le: &[u8; 72]) -> Result<[u8; 48], String> {
    let (low, high) = le.split_at(48);
    if high.iter().any(|&b| b != 0) {
        return Err(format!(
            "{name}: upper 24 bytes of the 72-byte field are not zero"
        ));
    }
    let mut be = [0u8; 48];
    for (dst, src) in be.iter_mut().zip(low.iter().rev()) {
        *dst = *src;
    }
    if be.iter().all(|&b| b == 0) {
        return Err(format!("{name} is zero"));
    }
    if be >= P384_ORDER {
        return Err(format!(
            "{name} is not below the P-384 group order (non-canonical)"
        ));
    }
    Ok(be)
}

/// Require the unsigned rest of the signature area (0x330..0x4A0) to be zero.
fn check_reserved_zero(reserved: &[u8]) -> Result<(), String> {
    match reserved.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(i) => Err(format!(
            "the reserved signature area 0x330..0x4A0 is not zero (byte {:#05x} is {:#04x}): \
             those bytes are not signed, so a genuine report has them zero",
            offset::SIGNATURE_RESERVED + i,
            reserved.get(i).copied().unwrap_or_default()
        )),
    }
}

impl Verifier {
    /// Check the report signature; on success also return the evidence's identity.
    pub(super) fn check_report_signature(
        &self,
        view: &ReportView<'_>,
        vek: &AmdCert,
    ) -> Result<(String, EvidenceId), VerifyError> {
        let PublicKey::P384 { sec1 } = vek.public_key() else {
            return Err(VerifyError::ReportSignature(
                "certificate key is not P-384".into(),
            ));
        };
        let r = scalar_from_le("R", view.signature_r()).map_err(VerifyError::ReportSignature)?;
        let s = scalar_from_le("S", view.signature_s()).map_err(VerifyError::ReportSignature)?;
        check_reserved_zero(view.signature_reserved()).map_err(VerifyError::ReportSignature)?;
        self.provider
            .verify_ecdsa_p384_sha384(sec1, view.signed_bytes(), &r, &s)
            .map_err(|err| VerifyError::ReportSignature(err.to_string()))?;
        let id = EvidenceId::compute(view.signed_bytes(), &r, &s)
            .ok_or_else(|| VerifyError::ReportSignature("R or S is not a P-384 scalar".into()))?;
        Ok((
            "ECDSA P-384/SHA-384 over bytes 0x000..0x2A0 verifies; rest of the signature area zero"
                .to_string(),
            id,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_checks() {
        let mut le = [0u8; 72];
        assert!(scalar_from_le("R", &le).is_err(), "zero");
        le[0] = 1;
        assert_eq!(scalar_from_le("R", &le).map(|b| b[47]), Ok(1));
        le[48] = 1;
        assert!(scalar_from_le("R", &le).is_err(), "junk in upper bytes");
        let mut n_le = [0u8; 72];
        for (i, b) in P384_ORDER.iter().rev().enumerate() {
            n_le[i] = *b;
        }
        assert!(scalar_from_le("S", &n_le).is_err(), "n itself");
        n_le[0] -= 1;
        assert!(scalar_from_le("S", &n_le).is_ok(), "n - 1");
    }

    #[test]
    fn reserved_area_must_be_zero() {
        let mut tail = [0u8; 368];
        assert!(check_reserved_zero(&tail).is_ok());
        tail[0x400 - 0x330] = 0x5a;
        let err = check_reserved_zero(&tail).expect_err("junk");
        assert!(err.contains("0x400") && err.contains("0x5a"), "{err}");
    }

    #[test]
    fn p384_order_matches_the_curve() {
        use p384::elliptic_curve::bigint::Encoding;
        use p384::elliptic_curve::Curve;
        let n = p384::NistP384::ORDER.to_be_bytes();
        assert_eq!(n.as_slice(), P384_ORDER.as_slice());
    }
}
