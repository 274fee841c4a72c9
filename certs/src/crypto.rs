//! Crypto providers behind a trait: pure Rust (default) and aws-lc-rs.
//!
//! The verifier needs exactly four primitives: SHA-256 (fingerprints), SHA-384, RSASSA-PSS
//! verification with SHA-384/MGF1-SHA-384/salt 48 (AMD's CA signatures) and ECDSA P-384 with
//! SHA-384 (the report signature). Keeping them behind one trait lets a deployment that must use
//! a validated module (aws-lc) swap the implementation without touching the verification
//! logic, and lets the test suite run unchanged on both. Both providers can be compiled in at
//! once and chosen at run time ([`provider_by_name`]).
//!
//! Range and encoding checks that decide *what* is accepted (R and S in range, exact PSS
//! parameters) live in the verifier, not here, so both providers accept exactly the same inputs.

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

/// A signature did not verify, or a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// The public key bytes are not a key of the expected type.
    #[error("{provider}: invalid {what} public key")]
    InvalidKey {
        /// Provider that rejected the key.
        provider: &'static str,
        /// Key type ("RSA", "P-384").
        what: &'static str,
    },
    /// The signature is malformed or does not verify under the key.
    #[error("{provider}: {what} signature does not verify")]
    BadSignature {
        /// Provider that checked the signature.
        provider: &'static str,
        /// Algorithm ("RSASSA-PSS-SHA384", "ECDSA-P384-SHA384").
        what: &'static str,
    },
}

/// The primitives the verifier needs.
pub trait CryptoProvider: Send + Sync + fmt::Debug {
    /// Short stable name (`rustcrypto`, `aws-lc`), shown in verification output.
    fn name(&self) -> &'static str;

    /// SHA-256 of `data`.
    fn sha256(&self, data: &[u8]) -> [u8; 32];

    /// SHA-384 of `data`.
    fn sha384(&self, data: &[u8]) -> [u8; 48];

    /// Verify an RSASSA-PSS signature with SHA-384, MGF1-SHA-384 and a 48-byte salt.
    /// `public_key` is a DER `RSAPublicKey` (PKCS#1).
    fn verify_rsa_pss_sha384(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError>;

    /// Verify an ECDSA P-384 signature over a SHA-384 digest. `public_key` is a SEC1 point;
    /// `r` and `s` are big-endian scalars.
    fn verify_ecdsa_p384_sha384_prehash(
        &self,
        public_key: &[u8],
        digest: &[u8; 48],
        r: &[u8; 48],
        s: &[u8; 48],
    ) -> Result<(), CryptoError>;

    /// Verify an ECDSA P-384/SHA-384 signature over `message`.
    fn verify_ecdsa_p384_sha384(
        &self,
        public_key: &[u8],
        message: &[u8],
        r: &[u8; 48],
        s: &[u8; 48],
    ) -> Result<(), CryptoError> {
        self.verify_ecdsa_p384_sha384_prehash(public_key, &self.sha384(message), r, s)
    }
}

/// Smallest and largest RSA modulus a provider verifies with: aws-lc's
/// `RSA_PSS_2048_8192_SHA384` bounds, which the certificate parser also applies, so that every
/// provider refuses the same keys.
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

/// Pure-Rust provider (RustCrypto `rsa` 0.10, `p384` 0.14, `sha2`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoProvider;

impl CryptoProvider for RustCryptoProvider {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(data).into()
    }

    fn sha384(&self, data: &[u8]) -> [u8; 48] {
        use sha2::Digest;
        sha2::Sha384::digest(data).into()
    }

    fn verify_rsa_pss_sha384(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        use der::Decode;
        const SALT_LEN: usize = 48;
        let bad = || CryptoError::BadSignature {
            provider: "rustcrypto",
            what: "RSASSA-PSS-SHA384",
        };
        let invalid = || CryptoError::InvalidKey {
            provider: "rustcrypto",
            what: "RSA",
        };
        // Accept exactly the moduli aws-lc's RSA_PSS_2048_8192_SHA384 (and the certificate
        // parser) accept, so both providers agree (rsa 0.10 alone would take 1024 bits).
        let parts = rsa::pkcs1::RsaPublicKey::from_der(public_key).map_err(|_| invalid())?;
        let uint = |b: &[u8]| {
            let bits = u32::try_from(b.len() * 8).map_err(|_| invalid())?;
            rsa_v010::BoxedUint::from_be_slice(b, bits).map_err(|_| invalid())
        };
        let (n, e) = (
            uint(parts.modulus.as_bytes())?,
            uint(parts.public_exponent.as_bytes())?,
        );
        let key = rsa_v010::PublicKey::new_with_size_limits(n, e, MIN_RSA_BITS..=MAX_RSA_BITS)
            .map_err(|_| invalid())?;
        let vk =
            rsa_v010::pss::VerifyingKey::<rsa_v010::sha2::Sha384>::new_with_salt_len(key, SALT_LEN);
        let sig = rsa_v010::pss::Signature::try_from(signature).map_err(|_| bad())?;
        rsa_v010::signature::Verifier::verify(&vk, message, &sig).map_err(|_| bad())
    }

    fn verify_ecdsa_p384_sha384_prehash(
        &self,
        public_key: &[u8],
        digest: &[u8; 48],
        r: &[u8; 48],
        s: &[u8; 48],
    ) -> Result<(), CryptoError> {
        use p384_v014::ecdsa::signature::hazmat::PrehashVerifier;
        let bad = || CryptoError::BadSignature {
            provider: "rustcrypto",
            what: "ECDSA-P384-SHA384",
        };
        let vk = p384_v014::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| {
            CryptoError::InvalidKey {
                provider: "rustcrypto",
                what: "P-384",
            }
        })?;
        let sig = p384_v014::ecdsa::Signature::from_scalars(*r, *s).map_err(|_| bad())?;
        vk.verify_prehash(digest, &sig).map_err(|_| bad())
    }
}

/// aws-lc-rs provider.
#[cfg(feature = "aws-lc")]
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLcProvider;

#[cfg(feature = "aws-lc")]
impl CryptoProvider for AwsLcProvider {
    fn name(&self) -> &'static str {
        "aws-lc"
    }

    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    fn sha384(&self, data: &[u8]) -> [u8; 48] {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, data);
        let mut out = [0u8; 48];
        out.copy_from_slice(d.as_ref());
        out
    }

    fn verify_rsa_pss_sha384(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PSS_2048_8192_SHA384};
        // RSA_PSS_2048_8192_SHA384 fixes MGF1 to SHA-384 and the salt to the digest length (48).
        UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, public_key)
            .verify(message, signature)
            .map_err(|_| CryptoError::BadSignature {
                provider: "aws-lc",
                what: "RSASSA-PSS-SHA384",
            })
    }

    fn verify_ecdsa_p384_sha384_prehash(
        &self,
        public_key: &[u8],
        digest: &[u8; 48],
        r: &[u8; 48],
        s: &[u8; 48],
    ) -> Result<(), CryptoError> {
        use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};
        let bad = || CryptoError::BadSignature {
            provider: "aws-lc",
            what: "ECDSA-P384-SHA384",
        };
        let digest =
            aws_lc_rs::digest::Digest::import_less_safe(digest, &aws_lc_rs::digest::SHA384)
                .map_err(|_| bad())?;
        let mut sig = [0u8; 96];
        sig[..48].copy_from_slice(r);
        sig[48..].copy_from_slice(s);
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, public_key)
            .verify_digest(&digest, &sig)
            .map_err(|_| bad())
    }

    fn verify_ecdsa_p384_sha384(
        &self,
        public_key: &[u8],
        message: &[u8],
        r: &[u8; 48],
        s: &[u8; 48],
    ) -> Result<(), CryptoError> {
        use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};
        let mut sig = [0u8; 96];
        sig[..48].copy_from_slice(r);
        sig[48..].copy_from_slice(s);
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, public_key)
            .verify(message, &sig)
            .map_err(|_| CryptoError::BadSignature {
                provider: "aws-lc",
                what: "ECDSA-P384-SHA384",
            })
    }
}

/// The provider used when the caller does not choose one: aws-lc when the `aws-lc` feature is
/// enabled (a build asks for it precisely to use it), RustCrypto otherwise.
pub fn default_provider() -> Arc<dyn CryptoProvider> {
    #[cfg(feature = "aws-lc")]
    {
        Arc::new(AwsLcProvider)
    }
    #[cfg(not(feature = "aws-lc"))]
    {
        Arc::new(RustCryptoProvider)
    }
}

/// Every provider compiled into this build, default first.
pub fn available_providers() -> Vec<Arc<dyn CryptoProvider>> {
    let rust: Arc<dyn CryptoProvider> = Arc::new(RustCryptoProvider);
    #[cfg(feature = "aws-lc")]
    {
        let aws: Arc<dyn CryptoProvider> = Arc::new(AwsLcProvider);
        vec![aws, rust]
    }
    #[cfg(not(feature = "aws-lc"))]
    {
        vec![rust]
    }
}

/// Select a provider at run time by its [`CryptoProvider::name`]; `None` if it is not compiled in.
pub fn provider_by_name(name: &str) -> Option<Arc<dyn CryptoProvider>> {
    available_providers().into_iter().find(|p| p.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_agree_across_providers() {
        let providers = available_providers();
        assert!(!providers.is_empty());
        assert_eq!(default_provider().name(), providers[0].name());
        for p in &providers {
            // FIPS 180-2 "abc" test vectors (first bytes).
            assert_eq!(&p.sha256(b"abc")[..4], &[0xba, 0x78, 0x16, 0xbf]);
            assert_eq!(&p.sha384(b"abc")[..4], &[0xcb, 0x00, 0x75, 0x3f]);
            assert_eq!(provider_by_name(p.name()).map(|q| q.name()), Some(p.name()));
        }
        assert!(provider_by_name("nope").is_none());
    }

    #[test]
    fn providers_agree_on_rsa_keys_above_4096_bits() {
        // A 4200-bit public key (the certificate parser accepts 2048..=8192 bits): every
        // provider must get as far as checking the signature, not refuse the key.
        let mut n = vec![0xC5u8; 525];
        n[524] |= 1;
        let key = rsa::pkcs1::RsaPublicKey {
            modulus: der::asn1::UintRef::new(&n).expect("modulus"),
            public_exponent: der::asn1::UintRef::new(&[1, 0, 1]).expect("exponent"),
        };
        let der = der::Encode::to_der(&key).expect("encodes");
        for p in available_providers() {
            assert!(
                matches!(
                    p.verify_rsa_pss_sha384(&der, b"msg", &[0x55; 525]),
                    Err(CryptoError::BadSignature { .. })
                ),
                "{}",
                p.name()
            );
        }
    }

    #[test]
    fn degenerate_rsa_keys_are_refused_not_panicked_on() {
        // Zero, one-byte and even moduli, zero, one and even exponents: every provider refuses
        // them with a typed error, never a panic (the parser checks sizes, not these), and the
        // pure-Rust provider refuses the key itself rather than failing on the signature.
        let mut big = vec![0xC5u8; 512];
        big[511] |= 1;
        let mut even = big.clone();
        even[511] &= !1;
        let cases: [(&[u8], &[u8]); 6] = [
            (&[0], &[1, 0, 1]),
            (&[3], &[1, 0, 1]),
            (&big, &[0]),
            (&big, &[2]),
            (&even, &[1, 0, 1]),
            (&big, &[1]),
        ];
        for (n, e) in cases {
            let key = rsa::pkcs1::RsaPublicKey {
                modulus: der::asn1::UintRef::new(n).expect("modulus"),
                public_exponent: der::asn1::UintRef::new(e).expect("exponent"),
            };
            let der = der::Encode::to_der(&key).expect("encodes");
            for p in available_providers() {
                let r = p.verify_rsa_pss_sha384(&der, b"msg", &[0x55; 512]);
                assert!(r.is_err(), "{}: n {:02x?}.. e {e:02x?}", p.name(), &n[..1]);
            }
            assert!(
                matches!(
                    RustCryptoProvider.verify_rsa_pss_sha384(&der, b"msg", &[0x55; 512]),
                    Err(CryptoError::InvalidKey { .. })
                ),
                "n {:02x?}.. e {e:02x?}",
                &n[..1]
            );
        }
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_refused_by_every_provider() {
        // rsa 0.10 on its own verifies with 1024-bit keys; aws-lc does not. Both must refuse.
        for bytes in [128usize, 192, 255] {
            let mut n = vec![0xC5u8; bytes];
            n[bytes - 1] |= 1;
            let key = rsa::pkcs1::RsaPublicKey {
                modulus: der::asn1::UintRef::new(&n).expect("modulus"),
                public_exponent: der::asn1::UintRef::new(&[1, 0, 1]).expect("exponent"),
            };
            let der = der::Encode::to_der(&key).expect("encodes");
            for p in available_providers() {
                let r = p.verify_rsa_pss_sha384(&der, b"msg", &vec![0x55; bytes]);
                assert!(r.is_err(), "{}: {} bits", p.name(), bytes * 8);
            }
            assert!(matches!(
                RustCryptoProvider.verify_rsa_pss_sha384(&der, b"msg", &vec![0x55; bytes]),
                Err(CryptoError::InvalidKey { .. })
            ));
        }
    }

    #[test]
    fn ecdsa_round_trip_and_garbage() {
        use p384::ecdsa::signature::hazmat::PrehashSigner;
        let sk = p384::ecdsa::SigningKey::from_slice(&[7u8; 48]).expect("valid scalar");
        let pk = sk.verifying_key().to_encoded_point(false);
        let msg = b"report bytes";
        let digest = RustCryptoProvider.sha384(msg);
        let sig: p384::ecdsa::Signature = sk.sign_prehash(&digest).expect("sign");
        let (r, s) = sig.split_bytes();
        let (r, s): ([u8; 48], [u8; 48]) = (r.into(), s.into());
        for p in available_providers() {
            p.verify_ecdsa_p384_sha384(pk.as_bytes(), msg, &r, &s)
                .expect("verifies");
            p.verify_ecdsa_p384_sha384_prehash(pk.as_bytes(), &digest, &r, &s)
                .expect("verifies");
            assert!(p
                .verify_ecdsa_p384_sha384(pk.as_bytes(), b"other", &r, &s)
                .is_err());
            assert!(p.verify_ecdsa_p384_sha384(&[4u8; 97], msg, &r, &s).is_err());
            assert!(p
                .verify_ecdsa_p384_sha384(pk.as_bytes(), msg, &[0u8; 48], &s)
                .is_err());
            assert!(p
                .verify_rsa_pss_sha384(&[0x30, 0x00], msg, &[0u8; 512])
                .is_err());
        }
    }
}
