//! Binding profiles: the conventions other relying-party ecosystems use to put a challenge into
//! REPORT_DATA, by name, so that evidence made here verifies where those parties already are
//! (and their evidence verifies here) without anyone re-deriving byte layouts.
//!
//! | profile | REPORT_DATA (64 bytes) | defined by |
//! |---|---|---|
//! | `snp-agent` | SHA-512 of the domain-separated nonce (‖ key) encoding ([`crate::policy::binding`]) | this project |
//! | `trustee` | SHA-384 of the RFC 8785 (JCS) canonical runtime-data JSON, then 16 zero bytes | Confidential Containers Trustee / KBS |
//! | `veraison` | the 64-byte nonce, verbatim | Veraison (ratsd / configfs-tsm `inblob`) |
//! | `maa` | SHA-256 of the runtime data in bytes 0..32, then 32 zero bytes | Microsoft Azure Attestation |
//! | `raw` | the given bytes (at most 64), zero-padded | go-sev-guest `-inblob` style |
//!
//! What each profile takes as input differs: `snp-agent`, `veraison` and `raw` take a nonce
//! (bytes); `trustee` takes the runtime-data JSON document the KBS protocol defines
//! (`{"nonce": …, "tee-pubkey": {…}}`); `maa` takes the runtime data as opaque bytes.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256, Sha384};

/// The largest runtime-data document accepted (Trustee and MAA); a JWK and a nonce are well
/// under 2 KiB, an RSA-4096 JWK about 1 KiB.
pub const MAX_RUNTIME_DATA: usize = 64 * 1024;

/// A named REPORT_DATA convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// snp-agent's own domain-separated SHA-512 (the default).
    #[default]
    SnpAgent,
    /// Trustee: SHA-384 over JCS-canonical runtime data, zero-padded.
    Trustee,
    /// Veraison: the 64-byte nonce verbatim.
    Veraison,
    /// Microsoft Azure Attestation: SHA-256 of the runtime data in bytes 0..32.
    Maa,
    /// The bytes as given, zero-padded.
    Raw,
}

/// What a profile needs as input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A nonce, as bytes (`--nonce HEX`).
    Nonce,
    /// A runtime-data document (`--runtime-data TEXT|@FILE`).
    RuntimeData,
}

/// Why a profile could not bind its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The input has the wrong length for the profile.
    #[error("the {profile} binding takes {expected}; {len} bytes given")]
    Length {
        /// The profile.
        profile: Profile,
        /// What it expects, in words.
        expected: &'static str,
        /// The length given.
        len: usize,
    },
    /// Trustee runtime data is not a JSON document.
    #[error("the trustee binding hashes a runtime-data JSON document (e.g. {{\"nonce\": \"…\", \"tee-pubkey\": {{…}}}}): {0}")]
    Json(String),
    /// A public key was given to a profile that has no place for one.
    #[error("the {0} binding has no place for a separate public key (trustee puts it inside the runtime data as \"tee-pubkey\")")]
    NoKeySlot(Profile),
    /// An unknown profile name.
    #[error("unknown binding profile {0:?}: expected snp-agent, trustee, veraison, maa or raw")]
    Unknown(String),
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 5] = [
        Profile::SnpAgent,
        Profile::Trustee,
        Profile::Veraison,
        Profile::Maa,
        Profile::Raw,
    ];

    /// The name used on the command line and in check names (`report_data.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::SnpAgent => "snp-agent",
            Profile::Trustee => "trustee",
            Profile::Veraison => "veraison",
            Profile::Maa => "maa",
            Profile::Raw => "raw",
        }
    }

    /// What the profile binds.
    pub fn input_kind(self) -> InputKind {
        match self {
            Profile::Trustee | Profile::Maa => InputKind::RuntimeData,
            Profile::SnpAgent | Profile::Veraison | Profile::Raw => InputKind::Nonce,
        }
    }

    /// The REPORT_DATA this profile puts into a report for `input` (and, for `snp-agent` only,
    /// a public key).
    pub fn report_data(
        self,
        input: &[u8],
        public_key: Option<&[u8]>,
    ) -> Result<[u8; 64], ProfileError> {
        if public_key.is_some() && self != Profile::SnpAgent {
            return Err(ProfileError::NoKeySlot(self));
        }
        let mut out = [0u8; 64];
        match self {
            Profile::SnpAgent => {
                if input.is_empty() || input.len() > crate::binding::MAX_NONCE_LEN {
                    return Err(ProfileError::Length {
                        profile: self,
                        expected: "a nonce of 1 to 1024 bytes",
                        len: input.len(),
                    });
                }
                out = crate::policy::binding::report_data(input, public_key);
            }
            Profile::Trustee => {
                check_runtime_len(self, input)?;
                out[..48].copy_from_slice(&trustee_digest(input)?);
            }
            Profile::Veraison => {
                if input.len() != 64 {
                    return Err(ProfileError::Length {
                        profile: self,
                        expected: "exactly 64 bytes of nonce",
                        len: input.len(),
                    });
                }
                out.copy_from_slice(input);
            }
            Profile::Maa => {
                check_runtime_len(self, input)?;
                out[..32].copy_from_slice(&Sha256::digest(input));
            }
            Profile::Raw => {
                if input.len() > 64 {
                    return Err(ProfileError::Length {
                        profile: self,
                        expected: "at most 64 bytes",
                        len: input.len(),
                    });
                }
                out[..input.len()].copy_from_slice(input);
            }
        }
        Ok(out)
    }
}

fn check_runtime_len(profile: Profile, input: &[u8]) -> Result<(), ProfileError> {
    if input.len() > MAX_RUNTIME_DATA {
        return Err(ProfileError::Length {
            profile,
            expected: "runtime data of at most 64 KiB",
            len: input.len(),
        });
    }
    Ok(())
}

/// RFC 8785 (JCS) canonical form of a JSON document: object keys sorted, no insignificant
/// whitespace, numbers and strings in their canonical spelling. Trustee hashes exactly this
/// (`attestation-service/src/lib.rs`, `serialize_canon_json`, with the same `canon-json` crate).
pub fn jcs(json: &[u8]) -> Result<Vec<u8>, ProfileError> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| ProfileError::Json(e.to_string()))?;
    canonical(&value)
}

/// JCS of an already-parsed value.
pub fn canonical(value: &impl Serialize) -> Result<Vec<u8>, ProfileError> {
    let mut buf = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut buf, canon_json::CanonicalFormatter::new());
    value
        .serialize(&mut ser)
        .map_err(|e| ProfileError::Json(e.to_string()))?;
    Ok(buf)
}

/// SHA-384 of the JCS form of the runtime data: what Trustee expects in REPORT_DATA[0..48] of an
/// SNP report (the rest zero: `regularize_data` pads to 64 bytes).
pub fn trustee_digest(runtime_data: &[u8]) -> Result<[u8; 48], ProfileError> {
    Ok(Sha384::digest(jcs(runtime_data)?).into())
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = ProfileError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| ProfileError::Unknown(s.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::test_data::real;

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.as_str().parse::<Profile>(), Ok(p));
        }
        assert!(matches!(
            "azure".parse::<Profile>(),
            Err(ProfileError::Unknown(_))
        ));
        assert_eq!(Profile::default(), Profile::SnpAgent);
    }

    /// Trustee's own vector: `attestation-service/src/lib.rs`, test
    /// `parse_runtimedata_json_binding` (confidential-containers/trustee), which hashes
    /// `{"b": 1, "a": "test", "c": {"d": "e"}}` with SHA-384 after canonicalisation.
    #[test]
    fn trustee_vector_from_trustee() {
        let rd = br#"{"b": 1, "a": "test", "c": {"d": "e"}}"#;
        assert_eq!(jcs(rd).unwrap(), br#"{"a":"test","b":1,"c":{"d":"e"}}"#);
        let want = "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca941da78870c3";
        assert_eq!(hex::encode(trustee_digest(rd).unwrap()), want);
        let full = Profile::Trustee.report_data(rd, None).unwrap();
        assert_eq!(hex::encode(&full[..48]), want);
        assert_eq!(full[48..], [0u8; 16], "zero padded to 64 bytes");
        // Key order and whitespace do not matter; values do.
        let same = br#"{ "c" : {"d":"e"}, "a":"test", "b":1 }"#;
        assert_eq!(Profile::Trustee.report_data(same, None).unwrap(), full);
        let other = br#"{"b": 2, "a": "test", "c": {"d": "e"}}"#;
        assert_ne!(Profile::Trustee.report_data(other, None).unwrap(), full);
        assert!(matches!(
            Profile::Trustee.report_data(b"{not json", None),
            Err(ProfileError::Json(_))
        ));
    }

    /// JCS (RFC 8785) details beyond key order: number spelling and string escapes
    /// (RFC 8785 §3.2.2.2–3 examples).
    #[test]
    fn jcs_canonical_spelling() {
        assert_eq!(
            jcs(br#"{"n": 1.0E2, "m": -0}"#).unwrap(),
            br#"{"m":0,"n":100}"#
        );
        assert_eq!(
            jcs(b"{\"s\": \"\\u00e9\\/\\u000f\"}").unwrap(),
            "{\"s\":\"\u{e9}/\\u000f\"}".as_bytes()
        );
    }

    /// Veraison: the nonce goes into REPORT_DATA verbatim. Vector: Veraison's SEV-SNP test
    /// evidence (`scheme/sevsnp/test/evidence/sevsnp-tsm-report.json` in veraison/services,
    /// our `tests/data/real/veraison/sevsnp-tsm-report_8d8bfb3e.bin`), produced through ratsd
    /// with its test nonce `MIDBNH28iioisjPy` padded with `x` to 32 bytes, twice.
    #[test]
    fn veraison_vector_from_veraison() {
        let report = real("veraison/sevsnp-tsm-report_8d8bfb3e.bin");
        let nonce = b"MIDBNH28iioisjPyxxxxxxxxxxxxxxxxMIDBNH28iioisjPyxxxxxxxxxxxxxxxx";
        let rd = Profile::Veraison.report_data(nonce, None).unwrap();
        assert_eq!(&report[0x50..0x90], &rd[..]);
        assert!(matches!(
            Profile::Veraison.report_data(&nonce[..32], None),
            Err(ProfileError::Length { len: 32, .. })
        ));
    }

    /// MAA: `GenerateMAAReportData` in microsoft/confidential-sidecar-containers
    /// `pkg/attest/attest.go` copies SHA-256(runtime data) into bytes 0..32. Its nil input gives
    /// SHA-256 of nothing; the second vector was computed with Python's hashlib.
    #[test]
    fn maa_vectors() {
        let rd = Profile::Maa.report_data(b"", None).unwrap();
        assert_eq!(
            hex::encode(&rd[..32]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(rd[32..], [0u8; 32]);
        let rd = Profile::Maa.report_data(b"{\"keys\":[]}", None).unwrap();
        assert_eq!(
            hex::encode(&rd[..32]),
            "9638d11914735d0072002dd4d67c734a94ee7a0cd845e6dcbc984ee7581860a7"
        );
    }

    #[test]
    fn snp_agent_is_the_documented_binding_and_raw_pads() {
        let nonce = [7u8; 32];
        assert_eq!(
            Profile::SnpAgent.report_data(&nonce, Some(b"k")).unwrap(),
            crate::policy::binding::report_data(&nonce, Some(b"k"))
        );
        let rd = Profile::Raw.report_data(&[1, 2, 3], None).unwrap();
        assert_eq!(&rd[..3], &[1, 2, 3]);
        assert_eq!(rd[3..], [0u8; 61]);
        assert!(Profile::Raw.report_data(&[0; 65], None).is_err());
        assert_eq!(
            Profile::Veraison.report_data(&[0; 64], Some(b"k")),
            Err(ProfileError::NoKeySlot(Profile::Veraison))
        );
    }

    proptest! {
        #[test]
        fn profiles_never_panic(input in proptest::collection::vec(any::<u8>(), 0..200), p in 0usize..5) {
            let _ = Profile::ALL[p].report_data(&input, None);
        }

        /// Profiles are separated: one input never gives the same REPORT_DATA in two profiles.
        #[test]
        fn profiles_disagree(nonce in proptest::collection::vec(any::<u8>(), 64)) {
            let a = Profile::SnpAgent.report_data(&nonce, None).unwrap();
            let v = Profile::Veraison.report_data(&nonce, None).unwrap();
            let m = Profile::Maa.report_data(&nonce, None).unwrap();
            prop_assert_ne!(a, v);
            prop_assert_ne!(a, m);
            prop_assert_ne!(v, m);
        }
    }
}
