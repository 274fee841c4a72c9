//! A documented identity for verified evidence, the same for every byte form a genuine report can
//! arrive in.
//!
//! Why the report bytes themselves are not an identity: ECDSA is malleable — if (r, s) verifies,
//! so does (r, n − s) — and AMD firmware does not normalise S (38 of the 68 distinct real reports
//! in `tests/data/real` carry the high S), so both forms of one report verify and rejecting a
//! high S would reject genuine reports. A relying party that deduplicates evidence or detects
//! replays by hashing the received bytes would count one report twice. (The 368 bytes after S,
//! 0x330..0x4A0, are outside the signed range as well; the verifier requires them to be zero, so
//! they add no further forms.)
//!
//! The identity is
//!
//! ```text
//! SHA-384( "snp-agent/evidence-id/v1" ‖ 0x00 ‖ report[0x000..0x2A0] ‖ r ‖ min(s, n − s) )
//! ```
//!
//! with r and s as 48-byte big-endian integers and n the order of the P-384 group. Everything
//! the signature covers goes in unchanged; only the S twin is folded onto its low member. The
//! label keeps this hash apart from any other SHA-384 over report bytes. A second signature over
//! the same signed bytes (the firmware signs with a fresh nonce k every time) is a different
//! report and gets a different identity.

use std::fmt;

use p384::ecdsa::Signature;
use sha2::{Digest, Sha384};

/// The domain-separation label hashed first (followed by one zero byte).
pub const EVIDENCE_ID_LABEL: &[u8] = b"snp-agent/evidence-id/v1";

/// The identity of verified evidence (see the module documentation). Only the verifier computes
/// it, from a report whose signature verified; `Display` gives 96 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EvidenceId([u8; 48]);

impl EvidenceId {
    /// Compute the identity from the signed bytes and the big-endian scalars r and s (each
    /// already checked to lie in 1..n). `None` only if they do not (which the verifier rules out
    /// before calling).
    pub(super) fn compute(signed: &[u8], r: &[u8; 48], s: &[u8; 48]) -> Option<EvidenceId> {
        let sig = Signature::from_scalars(*r, *s).ok()?;
        // normalize_s gives (r, n − s) when s is high and None when s is already low.
        let low = sig.normalize_s().unwrap_or(sig);
        let mut h = Sha384::new();
        h.update(EVIDENCE_ID_LABEL);
        h.update([0u8]);
        h.update(signed);
        h.update(low.to_bytes());
        let mut id = [0u8; 48];
        id.copy_from_slice(&h.finalize());
        Some(EvidenceId(id))
    }

    /// The 48 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 48] {
        &self.0
    }
}

impl fmt::Display for EvidenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for EvidenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EvidenceId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// n − x for a big-endian x < n.
    fn neg(x: &[u8; 48]) -> [u8; 48] {
        use p384::elliptic_curve::PrimeField;
        let s =
            Option::<p384::Scalar>::from(p384::Scalar::from_repr((*x).into())).expect("below n");
        let mut out = [0u8; 48];
        out.copy_from_slice(&(-s).to_repr());
        out
    }

    #[test]
    fn twins_share_an_identity_and_the_hash_covers_everything_else() {
        let signed = [7u8; 0x2A0];
        let r = [0x11u8; 48];
        let s = [0x22u8; 48];
        let id = EvidenceId::compute(&signed, &r, &s).expect("valid");
        assert_eq!(EvidenceId::compute(&signed, &r, &neg(&s)), Some(id));
        let mut other = signed;
        other[0] ^= 1;
        assert_ne!(EvidenceId::compute(&other, &r, &s), Some(id));
        assert_ne!(EvidenceId::compute(&signed, &s, &r), Some(id));
        assert_eq!(id.to_string().len(), 96);
        assert!(EvidenceId::compute(&signed, &[0; 48], &s).is_none());
    }

    proptest::proptest! {
        #[test]
        fn every_valid_signature_and_its_twin_agree(
            r in proptest::array::uniform32(1u8..),
            s in proptest::array::uniform32(proptest::num::u8::ANY),
            signed in proptest::collection::vec(proptest::num::u8::ANY, 0x2A0),
        ) {
            // 32 random low-order bytes under a zero prefix: always in 1..n for S != 0.
            let widen = |x: [u8; 32]| {
                let mut b = [0u8; 48];
                b[16..].copy_from_slice(&x);
                b
            };
            let (r, s) = (widen(r), widen(s));
            proptest::prop_assume!(s.iter().any(|&b| b != 0));
            let id = EvidenceId::compute(&signed, &r, &s);
            proptest::prop_assert!(id.is_some());
            proptest::prop_assert_eq!(EvidenceId::compute(&signed, &r, &neg(&s)), id);
        }
    }
}
