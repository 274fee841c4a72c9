//! The report signature: strict decoding of the 72-byte little-endian R and S and the ECDSA
//! P-384/SHA-384 check over the received signed bytes.

use crate::chain::{AmdCert, PublicKey};
use crate::report::ReportView;

use super::error::VerifyError;
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

impl Verifier {
    pub(super) fn check_report_signature(
        &self,
        view: &ReportView<'_>,
        vek: &AmdCert,
    ) -> Result<String, VerifyError> {
        let PublicKey::P384 { sec1 } = vek.public_key() else {
            return Err(VerifyError::ReportSignature(
                "certificate key is not P-384".into(),
            ));
        };
        let r = scalar_from_le("R", view.signature_r()).map_err(VerifyError::ReportSignature)?;
        let s = scalar_from_le("S", view.signature_s()).map_err(VerifyError::ReportSignature)?;
        self.provider
            .verify_ecdsa_p384_sha384(sec1, view.signed_bytes(), &r, &s)
            .map(|()| "ECDSA P-384/SHA-384 over bytes 0x000..0x2A0 verifies".to_string())
            .map_err(|err| VerifyError::ReportSignature(err.to_string()))
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
    fn p384_order_matches_the_curve() {
        use p384::elliptic_curve::bigint::Encoding;
        use p384::elliptic_curve::Curve;
        let n = p384::NistP384::ORDER.to_be_bytes();
        assert_eq!(n.as_slice(), P384_ORDER.as_slice());
    }
}
