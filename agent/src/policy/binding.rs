//! How a relying party's nonce (and optionally its public key) is bound into REPORT_DATA.
//!
//! REPORT_DATA is 64 bytes, exactly a SHA-512 digest. Hashing instead of copying lets nonces of
//! any length be bound, and the domain-separated, length-prefixed encoding below makes the
//! mapping injective: no (nonce, key) pair can be re-read as another pair, and a digest made for
//! another protocol (without this prefix) never matches. The encoding is part of the wire
//! contract between `snp-agent attest --nonce`, `snp-agent serve` and relying parties:
//!
//! ```text
//! REPORT_DATA = SHA-512( "snp-agent/report-data/v1" ‖ 0x00
//!                        ‖ u64be(len(nonce)) ‖ nonce
//!                        ‖ 0x00                                  (no public key)
//!                        | 0x01 ‖ u64be(len(key)) ‖ key )       (with a public key)
//! ```

use sha2::{Digest, Sha512};

/// The domain-separation label (followed by a 0x00 byte in the hash input).
pub const DOMAIN: &[u8] = b"snp-agent/report-data/v1";

/// REPORT_DATA binding `nonce` and, if given, the relying party's `public_key` (any encoding the
/// two sides agree on; the bytes are hashed as given).
pub fn report_data(nonce: &[u8], public_key: Option<&[u8]>) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(DOMAIN);
    h.update([0u8]);
    h.update((nonce.len() as u64).to_be_bytes());
    h.update(nonce);
    match public_key {
        None => h.update([0u8]),
        Some(k) => {
            h.update([1u8]);
            h.update((k.len() as u64).to_be_bytes());
            h.update(k);
        }
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_and_separation() {
        // The documented encoding written out byte by byte, hashed separately.
        let got = hex::encode(report_data(&[1, 2, 3, 4], None));
        let mut h = Sha512::new();
        h.update(
            b"snp-agent/report-data/v1\x00\x00\x00\x00\x00\x00\x00\x00\x04\x01\x02\x03\x04\x00",
        );
        assert_eq!(got, hex::encode(h.finalize()));
        // And the same value from Python's hashlib over the same bytes.
        assert_eq!(got, "98a85f165dabcca285aaf51107e9ab1d566c12343881069fe2cb18adcee88db21408fddc70e62375194867e24c1bf8a67c2adf5318f916b2d7f153e37b0d5436");
        // A key changes the result; an empty key differs from no key; moving bytes between
        // nonce and key changes the result.
        assert_ne!(report_data(b"n", None), report_data(b"n", Some(b"")));
        assert_ne!(
            report_data(b"ab", Some(b"c")),
            report_data(b"a", Some(b"bc"))
        );
        assert_eq!(report_data(b"n", Some(b"k")), report_data(b"n", Some(b"k")));
    }
}
