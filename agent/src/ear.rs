//! Attestation results as an EAR (EAT Attestation Results, draft-ietf-rats-ear), built,
//! serialised, signed and parsed by the `ear` crate, and reading of the EAR tokens Trustee issues
//! (which still use the older dotted claim names, see [`trustee`]).
//!
//! The mapping from a verification to AR4SI trustworthiness claims:
//!
//! | claim | value | when |
//! |---|---|---|
//! | `hardware` | 2 genuine | chain to AMD's roots, report signature and the TCB/chip/signer bindings all pass |
//! | `hardware` | 99 cryptographic validation failed | any of those fails |
//! | `runtime-opaque` | 2 encrypted memory | verified SEV-SNP evidence (memory encrypted and integrity-protected) |
//! | `instance-identity` | 2 trustworthy / 96 untrustworthy | REPORT_DATA does / does not bind the expected challenge (unset without one) |
//! | `configuration` | 2 approved / 96 unsupportable | the policy holds / fails (unset when nothing was verified) |
//!
//! The submodule (`SEV-SNP`) status is derived from the vector by the crate, the overall
//! `ear_status` from the submodules. The evidence itself travels as `ear_raw_evidence`, a CMW
//! record ([`crate::evidence::cmw`]), when the caller asks for it (the draft makes it optional;
//! `verify --format ear` includes it, the `verifier` service on `?raw_evidence=1`); the verified claims as `ear_attester_claims`, every check as
//! `ear_verifier_claims`; the policy as `ear_appraisal_policy_ids`.

pub mod trustee;

use std::collections::BTreeMap;

use ear::{claim, Appraisal, Ear, RawValue, TrustTier, TrustVector, VerifierID, EAR_PROFILE};

use crate::evidence::Evidence;

/// The submodule name of the one attester an SEV-SNP report describes.
pub const SUBMOD: &str = "SEV-SNP";

/// The verifier's developer, as `ear_verifier_id.developer` names it.
pub const DEVELOPER: &str = "snp-agent";

/// Why an EAR could not be built, signed or read.
#[derive(Debug, thiserror::Error)]
pub enum EarError {
    /// The `ear` crate refused (validation, serialisation).
    #[error("EAR: {0}")]
    Ear(#[from] ear::Error),
    /// A claim could not be represented.
    #[error("EAR claims: {0}")]
    Claims(String),
    /// The evidence could not be wrapped as CMW.
    #[error("EAR raw evidence: {0}")]
    Evidence(#[from] crate::evidence::EvidenceError),
    /// The signing key is not one the crate signs with.
    #[error(
        "EAR signing key: {0} (give a PKCS#8 PEM private key: EC P-256 or P-384, RSA, or Ed25519)"
    )]
    Key(String),
    /// This build cannot sign.
    #[error("this snp-agent was built without JWT support (feature `aws-lc`): EARs can be written unsigned only")]
    NoJwt,
    /// A token is malformed.
    #[error("token: {0}")]
    Token(String),
}

/// What an appraisal concluded, in the terms an EAR needs.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Chain, signature and core bindings passed.
    pub verified: bool,
    /// The expected REPORT_DATA matched (`None`: nothing was expected).
    pub report_data_matched: Option<bool>,
    /// The policy held (`None`: not evaluated because verification failed).
    pub policy_holds: Option<bool>,
    /// The policy's identifier (`ear_appraisal_policy_ids`).
    pub policy_id: String,
    /// The verified claims (JSON; nulls are dropped, EAR has no null claims).
    pub attester_claims: serde_json::Value,
    /// What the verifier checked (JSON object).
    pub verifier_claims: serde_json::Value,
    /// Checks that passed with a warning (a host-served CRL past its nextUpdate). The AR4SI
    /// vector has no claim for "revocation data not fresh", so they lower the appraisal's
    /// status to `warning` directly, as draft-ietf-rats-ear lets a verifier do (a status no
    /// better than the worst claim); `verify --format json` says `warning` for the same result.
    pub warnings: Vec<String>,
    /// Issued-at, UNIX seconds.
    pub iat: i64,
}

/// The AR4SI trustworthiness vector for an outcome.
pub fn trust_vector(o: &Outcome) -> TrustVector {
    let mut tv = TrustVector::new();
    if o.verified {
        tv.hardware.set(claim::GENUINE_HARDWARE);
        tv.runtime_opaque.set(claim::ENCRYPTED_MEMORY_RUNTIME);
    } else {
        tv.hardware.set(claim::CRYPTO_VALIDATION_FAILED);
    }
    match o.report_data_matched {
        Some(true) => tv.instance_identity.set(claim::TRUSTWORTHY_INSTANCE),
        Some(false) => tv.instance_identity.set(claim::UNTRUSTWORTHY_INSTANCE),
        None => {}
    }
    match o.policy_holds {
        Some(true) => tv.configuration.set(claim::APPROVED_CONFIG),
        Some(false) => tv.configuration.set(claim::UNSUPPORTABLE_CONFIG),
        None => {}
    }
    tv
}

/// JSON → the crate's raw claim values, dropping nulls (which EAR cannot carry).
fn raw_map(mut v: serde_json::Value) -> Result<BTreeMap<String, RawValue>, EarError> {
    strip_nulls(&mut v);
    let serde_json::Value::Object(m) = v else {
        return Err(EarError::Claims("claims must be a JSON object".into()));
    };
    m.into_iter()
        .map(|(k, v)| {
            serde_json::from_value::<RawValue>(v)
                .map(|r| (k, r))
                .map_err(|e| EarError::Claims(e.to_string()))
        })
        .collect()
}

/// Drop nulls from objects and arrays, in place (the claims are built per result and consumed
/// here, so nothing is copied).
fn strip_nulls(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => {
            a.retain(|v| !v.is_null());
            a.iter_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

/// The EAR for an appraisal (consumed: its claims move into the EAR), carrying `raw_evidence`
/// when given.
pub fn build(o: Outcome, raw_evidence: Option<&Evidence>) -> Result<Ear, EarError> {
    let mut appraisal = Appraisal::new();
    appraisal.trust_vector = trust_vector(&o);
    appraisal.update_status_from_trust_vector();
    if !o.warnings.is_empty() && appraisal.status < TrustTier::Warning {
        appraisal.status = TrustTier::Warning;
    }
    appraisal.policy_ids = vec![o.policy_id];
    appraisal.attester_claims = raw_map(o.attester_claims)?;
    appraisal.verifier_claims = raw_map(o.verifier_claims)?;
    let mut ear = Ear::new();
    ear.profile = EAR_PROFILE.to_string();
    ear.iat = o.iat;
    ear.vid = VerifierID {
        build: concat!("snp-agent ", env!("CARGO_PKG_VERSION")).to_string(),
        developer: DEVELOPER.to_string(),
    };
    ear.raw_evidence = raw_evidence.map(crate::evidence::cmw::record).transpose()?;
    ear.submods.insert(SUBMOD.to_string(), appraisal);
    ear.update_status_from_trust_vector();
    ear.validate()?;
    Ok(ear)
}

/// The EAR as JSON claims, trailing newline: pretty for people (`verify --format ear`), compact
/// for programs (the `verifier` service, where whitespace is a third of the bytes on the wire).
pub fn to_json(ear: &Ear, pretty: bool) -> Result<Vec<u8>, EarError> {
    let out = if pretty {
        serde_json::to_vec_pretty(ear)
    } else {
        serde_json::to_vec(ear)
    };
    let mut out = out.map_err(|e| EarError::Claims(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

/// Parse (and validate, as the crate's deserialiser does) an EAR from JSON claims.
pub fn from_json(bytes: &[u8]) -> Result<Ear, EarError> {
    serde_json::from_slice(bytes).map_err(|e| EarError::Token(e.to_string()))
}

/// The media type of an EAR as an unsigned JSON claims set: RFC 9782's "EAT UJCS"
/// (`application/eat-ucs+json`, an EAT claims set with no JOSE protection) with the
/// `eat_profile` parameter naming the EAR profile, as draft-ietf-rats-ear §5 ("Media Types")
/// derives EAR media types from the base EAT ones with the profile string of its §3. The profile
/// is the `ear` crate's [`EAR_PROFILE`], the same string as the `eat_profile` claim we write.
pub fn json_media_type() -> String {
    format!("{UJCS_MEDIA_TYPE}; eat_profile=\"{EAR_PROFILE}\"")
}

/// The media type of an EAR signed as a JWT: RFC 9782's "EAT JWT" (`application/eat+jwt`, as
/// IANA registered it) with the EAR profile, per draft-ietf-rats-ear §5. (The draft's own example
/// spells the base type `eat-jwt`; the registered name is `eat+jwt`.)
pub fn jwt_media_type() -> String {
    format!("{JWT_MEDIA_TYPE}; eat_profile=\"{EAR_PROFILE}\"")
}

/// RFC 9782 "EAT UJCS": an unprotected JSON claims set.
pub const UJCS_MEDIA_TYPE: &str = "application/eat-ucs+json";

/// RFC 9782 "EAT JWT".
pub const JWT_MEDIA_TYPE: &str = "application/eat+jwt";

/// The JWS algorithms an EAR is signed with, in the order a key is tried against them. The key's
/// type decides: P-256 → ES256, P-384 → ES384, RSA → PS256, Ed25519 → EdDSA.
#[cfg(feature = "aws-lc")]
const ALGORITHMS: [&str; 4] = ["ES256", "ES384", "PS256", "EdDSA"];

#[cfg(feature = "aws-lc")]
fn algorithm(name: &str) -> Option<ear::Algorithm> {
    use ear::Algorithm;
    Some(match name {
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "PS256" => Algorithm::PS256,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// A signing key for EAR JWTs, checked once: the algorithm is found when the key is loaded (a
/// service loads it at start and then never guesses again; a bad key fails there, not on the
/// first request).
#[derive(Clone)]
pub struct EarSigner {
    #[cfg_attr(not(feature = "aws-lc"), allow(dead_code))]
    pem: Vec<u8>,
    alg: &'static str,
}

impl std::fmt::Debug for EarSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("EarSigner")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl EarSigner {
    /// Load a PKCS#8 PEM private key (EC P-256 or P-384, RSA, Ed25519) and find its algorithm by
    /// signing a minimal EAR with each candidate.
    #[cfg(feature = "aws-lc")]
    pub fn from_pem(pem: Vec<u8>) -> Result<EarSigner, EarError> {
        let mut probe = Ear::new();
        probe.profile = EAR_PROFILE.to_string();
        probe.vid = VerifierID {
            build: "probe".into(),
            developer: DEVELOPER.into(),
        };
        probe.submods.insert(SUBMOD.into(), Appraisal::new());
        let mut last = String::new();
        for name in ALGORITHMS {
            let Some(alg) = algorithm(name) else { continue };
            match probe.sign_jwt_pem(alg, &pem) {
                Ok(_) => return Ok(EarSigner { pem, alg: name }),
                Err(e) => last = e.to_string(),
            }
        }
        Err(EarError::Key(last))
    }

    /// Without the `aws-lc` feature there is no JWT backend.
    #[cfg(not(feature = "aws-lc"))]
    pub fn from_pem(_pem: Vec<u8>) -> Result<EarSigner, EarError> {
        Err(EarError::NoJwt)
    }

    /// The JWS algorithm (`alg`) this key signs with.
    pub fn alg(&self) -> &'static str {
        self.alg
    }

    /// Sign `ear` as a compact JWT.
    #[cfg(feature = "aws-lc")]
    pub fn sign(&self, ear: &Ear) -> Result<String, EarError> {
        let alg = algorithm(self.alg).ok_or(EarError::NoJwt)?;
        Ok(ear.sign_jwt_pem(alg, &self.pem)?)
    }

    /// Without the `aws-lc` feature there is no JWT backend (and no signer can be made).
    #[cfg(not(feature = "aws-lc"))]
    pub fn sign(&self, _ear: &Ear) -> Result<String, EarError> {
        Err(EarError::NoJwt)
    }
}

/// Sign as a JWT with a PKCS#8 PEM private key; the algorithm follows the key (ES256 for P-256,
/// ES384 for P-384, PS256 for RSA, EdDSA for Ed25519). Returns the compact token and the
/// algorithm used.
pub fn sign_jwt(ear: &Ear, key_pem: &[u8]) -> Result<(String, &'static str), EarError> {
    let signer = EarSigner::from_pem(key_pem.to_vec())?;
    Ok((signer.sign(ear)?, signer.alg()))
}

/// Verify a JWT EAR with a public JWK and parse it (the crate's own verification and parsing).
#[cfg(feature = "aws-lc")]
pub fn verify_jwt(token: &str, alg: &str, jwk: &[u8]) -> Result<Ear, EarError> {
    use ear::Algorithm;
    let alg = match alg {
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "PS256" => Algorithm::PS256,
        "EdDSA" => Algorithm::EdDSA,
        other => return Err(EarError::Token(format!("unsupported algorithm {other:?}"))),
    };
    Ok(Ear::from_jwt_jwk(token.trim(), alg, jwk)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::report::REPORT_SIZE;

    fn outcome(verified: bool, policy: Option<bool>) -> Outcome {
        Outcome {
            verified,
            report_data_matched: Some(true),
            policy_holds: policy,
            policy_id: "snp-agent/default".into(),
            attester_claims: serde_json::json!({"product": "Milan", "chip_id": null, "tcb": {"snp": 8}}),
            verifier_claims: serde_json::json!({"checks": [{"name": "report_signature", "status": "pass"}]}),
            warnings: Vec::new(),
            iat: 1_795_564_800,
        }
    }

    fn evidence() -> Evidence {
        let mut r = vec![0u8; REPORT_SIZE];
        r[0] = 3;
        Evidence::new(r, vec![0u8; 24])
    }

    /// Compact and without the raw evidence (the service's default shape): the same claims, no
    /// `ear_raw_evidence`, still valid for the crate's parser.
    #[test]
    fn compact_ear_without_raw_evidence_parses_to_the_same_claims() {
        let ev = evidence();
        let full = build(outcome(true, Some(true)), Some(&ev)).unwrap();
        let lean = build(outcome(true, Some(true)), None).unwrap();
        let json = to_json(&lean, false).unwrap();
        assert!(!json[..json.len() - 1].contains(&b'\n'), "one line");
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert!(v.get("ear_raw_evidence").is_none());
        let back = from_json(&json).unwrap();
        assert!(back.raw_evidence.is_none());
        let (mut a, b) = (
            serde_json::to_value(&full).unwrap(),
            serde_json::to_value(&back).unwrap(),
        );
        a.as_object_mut().unwrap().remove("ear_raw_evidence");
        assert_eq!(a, b);
    }

    /// What we write, the crate's own parser reads back (and validates) to the same EAR.
    #[test]
    fn built_ear_parses_with_the_crates_parser() {
        let ev = evidence();
        let ear = build(outcome(true, Some(true)), Some(&ev)).unwrap();
        let json = to_json(&ear, true).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["eat_profile"], EAR_PROFILE);
        assert_eq!(v["ear_status"], "affirming");
        assert_eq!(v["ear_verifier_id"]["developer"], DEVELOPER);
        let sub = &v["submods"][SUBMOD];
        assert_eq!(sub["ear_status"], "affirming");
        assert_eq!(sub["ear_trustworthiness_vector"]["hardware"], 2);
        assert_eq!(sub["ear_trustworthiness_vector"]["instance-identity"], 2);
        assert_eq!(sub["ear_appraisal_policy_ids"][0], "snp-agent/default");
        assert!(
            sub["ear_attester_claims"].get("chip_id").is_none(),
            "nulls dropped"
        );
        assert_eq!(v["ear_raw_evidence"][0], crate::evidence::cmw::MEDIA_TYPE);
        let back = from_json(&json).unwrap();
        assert_eq!(back, ear);
        // The raw evidence inside is the evidence.
        let got = crate::evidence::cmw::from_record(back.raw_evidence.as_ref().unwrap()).unwrap();
        assert_eq!(got, ev);
    }

    #[test]
    fn status_follows_the_outcome() {
        let ev = evidence();
        let tier = |o: &Outcome| build(o.clone(), Some(&ev)).unwrap().status.unwrap();
        assert_eq!(tier(&outcome(true, Some(true))), TrustTier::Affirming);
        assert_eq!(
            tier(&outcome(true, Some(false))),
            TrustTier::Contraindicated
        );
        assert_eq!(tier(&outcome(false, None)), TrustTier::Contraindicated);
        let mut o = outcome(true, Some(true));
        o.report_data_matched = Some(false);
        assert_eq!(tier(&o), TrustTier::Contraindicated);
        // A pass with a warning is `warning`, in the submodule and overall; a warning never
        // makes a failure look better.
        let mut o = outcome(true, Some(true));
        o.warnings = vec!["crl".into()];
        let ear = build(o.clone(), None).unwrap();
        assert_eq!(ear.status, Some(TrustTier::Warning));
        assert_eq!(ear.submods[SUBMOD].status, TrustTier::Warning);
        assert_eq!(
            ear.submods[SUBMOD].trust_vector.hardware.tier(),
            TrustTier::Affirming
        );
        o.policy_holds = Some(false);
        assert_eq!(tier(&o), TrustTier::Contraindicated);
        // It survives the crate's own parser.
        let o = Outcome {
            warnings: vec!["crl".into()],
            ..outcome(true, Some(true))
        };
        let back = from_json(&to_json(&build(o, None).unwrap(), false).unwrap()).unwrap();
        assert_eq!(back.status, Some(TrustTier::Warning));
    }

    #[cfg(feature = "aws-lc")]
    #[test]
    fn signed_jwt_verifies_with_the_crate() {
        // The ear crate's own test key pair (P-256), from its README.
        const KEY: &str = include_str!("../tests/data/ear-test-key.pem");
        const JWK: &str = include_str!("../tests/data/ear-test-key.jwk");
        let ear = build(outcome(true, Some(true)), Some(&evidence())).unwrap();
        let (token, alg) = sign_jwt(&ear, KEY.as_bytes()).unwrap();
        assert_eq!(alg, "ES256");
        assert_eq!(token.split('.').count(), 3);
        let back = verify_jwt(&token, alg, JWK.as_bytes()).unwrap();
        assert_eq!(back, ear);
        // A flipped payload character fails verification.
        let mut bad: Vec<char> = token.chars().collect();
        let i = token.find('.').unwrap() + 5;
        bad[i] = if bad[i] == 'A' { 'B' } else { 'A' };
        assert!(verify_jwt(&bad.into_iter().collect::<String>(), alg, JWK.as_bytes()).is_err());
        assert!(matches!(
            sign_jwt(&ear, b"not a key"),
            Err(EarError::Key(_))
        ));
    }
}
