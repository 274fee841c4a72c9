//! Binding a relying party's challenge into REPORT_DATA, for both sides of the exchange.
//!
//! A relying party that wants fresh evidence sends a *nonce* it has never used before and,
//! optionally, a *public key* of its own (or of the workload, see `examples/guest_workload.rs`) so
//! that the evidence also vouches for that key: whoever holds the private half is talking from
//! inside the attested guest. The guest cannot put both into the 64 bytes of REPORT_DATA as they
//! are, so it puts a digest of an unambiguous encoding there:
//!
//! ```text
//! REPORT_DATA = SHA-512( "snp-agent/report-data/v1" ‖ 0x00
//!                        ‖ u64be(len(nonce)) ‖ nonce
//!                        ‖ 0x00                               (no public key)
//!                        | 0x01 ‖ u64be(len(key)) ‖ key )    (with a public key)
//! ```
//!
//! * SHA-512 because REPORT_DATA is exactly 64 bytes: the digest fills it, and nonces and keys
//!   of any length fit.
//! * The label with its terminating zero separates this use from every other protocol that
//!   hashes into REPORT_DATA: a digest made for something else never matches.
//! * Length prefixes and the presence byte make the encoding injective: bytes cannot move
//!   between nonce and key, and "no key" differs from "an empty key".
//! * Key bytes are hashed exactly as sent (for the examples: a SEC1 uncompressed P-384 point);
//!   the two sides must agree on the key's encoding, the binding does not reinterpret it.
//!
//! The encoding itself is defined once, in [`crate::policy::binding::report_data`], which
//! `snp-agent verify --nonce` uses too; this module adds what the two live parties need around
//! it: bounds on what a guest accepts ([`Challenge::new`]), fresh random nonces for the relying
//! party ([`Challenge::random`]) and a constant-time comparison for the relying party's check
//! ([`Challenge::verify`]). A nonce is only as good as the relying party's refusal to accept it
//! twice; that bookkeeping lives with the relying party (see `examples/lib.rs`).

pub mod profile;

use rand::RngCore;
use subtle::ConstantTimeEq;

pub use profile::{InputKind, Profile, ProfileError};

pub use crate::policy::binding::DOMAIN;

/// The shortest nonce accepted: 16 bytes (128 bits) make a guessed or repeated random nonce
/// implausible. Shorter "nonces" (a counter, a timestamp) would let a recorded answer be
/// replayed when the value comes round again.
pub const MIN_NONCE_LEN: usize = 16;

/// The longest nonce accepted. Anything longer buys no freshness and only costs hashing; the
/// bound also caps what a request to `serve` can make the guest allocate.
pub const MAX_NONCE_LEN: usize = 1024;

/// The longest public key accepted: enough for an RSA-8192 SubjectPublicKeyInfo (about 1.1 KiB)
/// or a post-quantum key (ML-DSA-87's is 2592 bytes), with room to spare, while a maximal
/// request to `serve` (both in hex) stays within its default 16 KiB body limit.
pub const MAX_PUBLIC_KEY_LEN: usize = 4096;

/// The length of the nonces [`Challenge::random`] draws: 32 bytes.
pub const RANDOM_NONCE_LEN: usize = 32;

/// Why a challenge was refused or did not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The nonce is too short or too long.
    #[error(
        "nonce is {len} bytes; it must be between {MIN_NONCE_LEN} and {MAX_NONCE_LEN} bytes \
         (use at least {MIN_NONCE_LEN} fresh random bytes)"
    )]
    NonceLength {
        /// The length given.
        len: usize,
    },
    /// The public key is empty or too long.
    #[error("public key is {len} bytes; it must be between 1 and {MAX_PUBLIC_KEY_LEN} bytes")]
    PublicKeyLength {
        /// The length given.
        len: usize,
    },
    /// REPORT_DATA is not 64 bytes.
    #[error("REPORT_DATA is {len} bytes, expected 64")]
    ReportDataLength {
        /// The length given.
        len: usize,
    },
    /// REPORT_DATA is not the binding of this challenge.
    #[error(
        "REPORT_DATA does not bind this nonce{}: the evidence was made for another challenge \
         (a replay, or a guest using another binding)",
        if *.with_key { " and public key" } else { "" }
    )]
    Mismatch {
        /// Whether the challenge carried a public key.
        with_key: bool,
    },
    /// The challenge does not fit the binding profile asked for.
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

/// A relying party's challenge: a nonce and optionally a public key to bind.
///
/// Constructed only through [`Challenge::new`] or [`Challenge::random`], so a `Challenge` always
/// satisfies the length bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    nonce: Vec<u8>,
    public_key: Option<Vec<u8>>,
    profile: Profile,
    report_data: [u8; 64],
}

impl Challenge {
    /// A challenge from its parts, refusing nonces outside
    /// [`MIN_NONCE_LEN`]..=[`MAX_NONCE_LEN`] and empty or oversized keys.
    pub fn new(nonce: Vec<u8>, public_key: Option<Vec<u8>>) -> Result<Challenge, BindingError> {
        if !(MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len()) {
            return Err(BindingError::NonceLength { len: nonce.len() });
        }
        if let Some(k) = &public_key {
            if k.is_empty() || k.len() > MAX_PUBLIC_KEY_LEN {
                return Err(BindingError::PublicKeyLength { len: k.len() });
            }
        }
        let report_data = crate::policy::binding::report_data(&nonce, public_key.as_deref());
        Ok(Challenge {
            nonce,
            public_key,
            profile: Profile::SnpAgent,
            report_data,
        })
    }

    /// The same challenge bound under another [`Profile`] (`serve --binding`): for `veraison`
    /// the nonce must be 64 bytes, for `raw` at most 64, for `trustee` and `maa` the nonce
    /// bytes are the runtime data; only `snp-agent` has a place for a public key.
    pub fn with_profile(mut self, profile: Profile) -> Result<Challenge, BindingError> {
        self.report_data = profile.report_data(&self.nonce, self.public_key.as_deref())?;
        self.profile = profile;
        Ok(self)
    }

    /// The profile the challenge is bound under.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// A challenge with a fresh [`RANDOM_NONCE_LEN`]-byte nonce from the operating system's
    /// CSPRNG, binding `public_key` if given.
    pub fn random(public_key: Option<Vec<u8>>) -> Result<Challenge, BindingError> {
        let mut nonce = vec![0u8; RANDOM_NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        Challenge::new(nonce, public_key)
    }

    /// The nonce.
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    /// The public key, if one is bound.
    pub fn public_key(&self) -> Option<&[u8]> {
        self.public_key.as_deref()
    }

    /// The REPORT_DATA a guest puts into its report for this challenge.
    pub fn report_data(&self) -> [u8; 64] {
        self.report_data
    }

    /// The relying party's check: does `report_data` (from a *verified* report) bind this
    /// challenge? Compared in constant time, so that timing does not tell an attacker how many
    /// leading bytes of a forged value were right.
    pub fn verify(&self, report_data: &[u8]) -> Result<(), BindingError> {
        if report_data.len() != 64 {
            return Err(BindingError::ReportDataLength {
                len: report_data.len(),
            });
        }
        let want = self.report_data();
        if bool::from(want.as_slice().ct_eq(report_data)) {
            Ok(())
        } else {
            Err(BindingError::Mismatch {
                with_key: self.public_key.is_some(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha2::{Digest, Sha512};

    /// The documented encoding, written out independently of the implementation.
    fn by_hand(nonce: &[u8], key: Option<&[u8]>) -> [u8; 64] {
        let mut input = b"snp-agent/report-data/v1\0".to_vec();
        input.extend_from_slice(&(nonce.len() as u64).to_be_bytes());
        input.extend_from_slice(nonce);
        match key {
            None => input.push(0),
            Some(k) => {
                input.push(1);
                input.extend_from_slice(&(k.len() as u64).to_be_bytes());
                input.extend_from_slice(k);
            }
        }
        Sha512::digest(&input).into()
    }

    #[test]
    fn matches_the_documented_encoding() {
        let nonce = [0x5Au8; 16];
        let key = b"relying party key".to_vec();
        let c = Challenge::new(nonce.to_vec(), None).unwrap();
        assert_eq!(c.report_data(), by_hand(&nonce, None));
        let c = Challenge::new(nonce.to_vec(), Some(key.clone())).unwrap();
        assert_eq!(c.report_data(), by_hand(&nonce, Some(&key)));
        assert_eq!(DOMAIN, b"snp-agent/report-data/v1");
    }

    #[test]
    fn bounds() {
        assert_eq!(
            Challenge::new(vec![0; MIN_NONCE_LEN - 1], None),
            Err(BindingError::NonceLength {
                len: MIN_NONCE_LEN - 1
            })
        );
        assert!(Challenge::new(vec![0; MIN_NONCE_LEN], None).is_ok());
        assert!(Challenge::new(vec![0; MAX_NONCE_LEN], None).is_ok());
        assert!(matches!(
            Challenge::new(vec![0; MAX_NONCE_LEN + 1], None),
            Err(BindingError::NonceLength { .. })
        ));
        assert_eq!(
            Challenge::new(vec![0; 16], Some(vec![])),
            Err(BindingError::PublicKeyLength { len: 0 })
        );
        assert!(Challenge::new(vec![0; 16], Some(vec![1; MAX_PUBLIC_KEY_LEN])).is_ok());
        assert!(matches!(
            Challenge::new(vec![0; 16], Some(vec![1; MAX_PUBLIC_KEY_LEN + 1])),
            Err(BindingError::PublicKeyLength { .. })
        ));
        let msg = BindingError::NonceLength { len: 3 }.to_string();
        assert!(msg.contains("16") && msg.contains("1024"), "{msg}");
    }

    #[test]
    fn verify_accepts_only_its_own_binding() {
        let c = Challenge::random(Some(vec![4; 97])).unwrap();
        assert_eq!(c.nonce().len(), RANDOM_NONCE_LEN);
        assert!(c.verify(&c.report_data()).is_ok());

        let other = Challenge::random(Some(vec![4; 97])).unwrap();
        assert_ne!(c.nonce(), other.nonce(), "two random nonces collided");
        assert_eq!(
            c.verify(&other.report_data()),
            Err(BindingError::Mismatch { with_key: true })
        );
        // Same nonce, no key / another key.
        let no_key = Challenge::new(c.nonce().to_vec(), None).unwrap();
        assert!(c.verify(&no_key.report_data()).is_err());
        assert_eq!(
            no_key.verify(&c.report_data()),
            Err(BindingError::Mismatch { with_key: false })
        );
        // A raw nonce copied into REPORT_DATA (another tool's convention) is not our binding.
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(c.nonce());
        assert!(no_key.verify(&raw).is_err());
        assert_eq!(
            c.verify(&[0u8; 63]),
            Err(BindingError::ReportDataLength { len: 63 })
        );
    }

    #[test]
    fn challenges_under_other_profiles() {
        let nonce = vec![0x4d; 64];
        let c = Challenge::new(nonce.clone(), None)
            .unwrap()
            .with_profile(Profile::Veraison)
            .unwrap();
        assert_eq!(c.report_data().to_vec(), nonce);
        assert_eq!(c.profile(), Profile::Veraison);
        assert!(c.verify(&nonce).is_ok());
        let rd = br#"{"nonce":"abc","tee-pubkey":{}}"#.to_vec();
        let c = Challenge::new(rd.clone(), None)
            .unwrap()
            .with_profile(Profile::Trustee)
            .unwrap();
        assert_eq!(
            c.report_data(),
            Profile::Trustee.report_data(&rd, None).unwrap()
        );
        assert!(matches!(
            Challenge::new(vec![1; 32], None)
                .unwrap()
                .with_profile(Profile::Veraison),
            Err(BindingError::Profile(_))
        ));
        assert!(matches!(
            Challenge::new(vec![1; 64], Some(vec![1]))
                .unwrap()
                .with_profile(Profile::Veraison),
            Err(BindingError::Profile(ProfileError::NoKeySlot(_)))
        ));
    }

    proptest! {
        #[test]
        fn every_single_bit_flip_is_rejected(nonce in proptest::collection::vec(any::<u8>(), 16..64),
                                             bit in 0usize..512) {
            let c = Challenge::new(nonce, None).unwrap();
            let mut rd = c.report_data();
            rd[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(c.verify(&rd).is_err());
        }

        #[test]
        fn nonce_and_key_boundaries_do_not_collide(bytes in proptest::collection::vec(any::<u8>(), 33..80),
                                                   split in 16usize..32) {
            let (a, b) = bytes.split_at(split);
            let (c, d) = bytes.split_at(split + 1);
            let x = Challenge::new(a.to_vec(), Some(b.to_vec())).unwrap();
            let y = Challenge::new(c.to_vec(), Some(d.to_vec())).unwrap();
            prop_assert_ne!(x.report_data(), y.report_data());
        }
    }
}
