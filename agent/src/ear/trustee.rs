//! Reading the EAR tokens Trustee's attestation service issues.
//!
//! Trustee (`attestation-service/src/token/ear_broker.rs`, confidential-containers/trustee)
//! signs an EAR as an ES256 JWT whose header carries the signer's public key (`jwk`). Released
//! Trustee versions build it with an older `ear` crate that still writes the dotted claim names
//! of earlier EAR drafts — `ear.verifier-id`, and per submodule (`cpu0`, `gpu0`, …)
//! `ear.status`, `ear.trustworthiness-vector`, `ear.appraisal-policy-id` and
//! `ear.veraison.annotated-evidence` — which the current crate no longer reads. Newer Trustee
//! writes the current names (`ear_status`, `ear_trustworthiness_vector`,
//! `ear_appraisal_policy_ids`, `ear_attester_claims`). This reader accepts both and says which
//! it saw.
//!
//! The header's `jwk` proves nothing by itself (anyone can sign with a key and enclose it), so
//! the signature is only reported as verified against a key the caller supplies.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use super::EarError;

/// The largest token accepted.
pub const MAX_TOKEN: usize = 1024 * 1024;

/// Which claim names the token used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Naming {
    /// `ear.status`, `ear.trustworthiness-vector`, … (released Trustee).
    Dotted,
    /// `ear_status`, `ear_trustworthiness_vector`, … (draft-ietf-rats-ear-04 and later).
    Current,
}

/// One submodule's appraisal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Submod {
    /// The submodule (`cpu0`, …).
    pub name: String,
    /// `affirming`, `warning`, `contraindicated` or `none`.
    pub status: String,
    /// AR4SI claims by name.
    pub trust_vector: BTreeMap<String, i64>,
    /// The appraisal policies.
    pub policy_ids: Vec<String>,
    /// What the verifier extracted from the evidence (`ear.veraison.annotated-evidence` or
    /// `ear_attester_claims`).
    pub evidence_claims: Value,
}

/// A decoded token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Token {
    /// The JOSE header.
    pub header: Value,
    /// Claim naming seen.
    pub naming: Naming,
    /// `eat_profile`.
    pub profile: Option<String>,
    /// `iat`.
    pub iat: Option<i64>,
    /// `exp`.
    pub exp: Option<i64>,
    /// Verifier developer and build.
    pub verifier: Option<(String, String)>,
    /// Appraisals, by submodule name.
    pub submods: Vec<Submod>,
}

impl Token {
    /// Every submodule affirming (and at least one).
    pub fn affirming(&self) -> bool {
        !self.submods.is_empty() && self.submods.iter().all(|s| s.status == "affirming")
    }
}

fn tok(msg: impl Into<String>) -> EarError {
    EarError::Token(msg.into())
}

/// Does `text` look like a compact JWS (three base64url parts, a JSON header)?
pub fn looks_like_jwt(text: &[u8]) -> bool {
    let Ok(t) = std::str::from_utf8(text) else {
        return false;
    };
    let t = t.trim();
    let parts: Vec<&str> = t.split('.').collect();
    parts.len() == 3
        && t.starts_with("eyJ")
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn part(p: &str, what: &str) -> Result<Value, EarError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|e| tok(format!("{what} is not base64url: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| tok(format!("{what} is not JSON: {e}")))
}

/// Decode a token's header and claims (no signature check: see [`verify_signature`]).
pub fn decode(token: &str) -> Result<Token, EarError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN {
        return Err(tok(format!("longer than {MAX_TOKEN} bytes")));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(tok("not a compact JWT (header.claims.signature)"));
    }
    let header = part(parts[0], "the header")?;
    let claims = part(parts[1], "the claims")?;
    let obj = claims
        .as_object()
        .ok_or_else(|| tok("the claims are not a JSON object"))?;
    let naming = if obj.contains_key("ear.verifier-id")
        || submod_values(obj).any(|s| s.contains_key("ear.status"))
    {
        Naming::Dotted
    } else {
        Naming::Current
    };
    let (vid, status, tv, policy, evidence) = match naming {
        Naming::Dotted => (
            "ear.verifier-id",
            "ear.status",
            "ear.trustworthiness-vector",
            "ear.appraisal-policy-id",
            "ear.veraison.annotated-evidence",
        ),
        Naming::Current => (
            "ear_verifier_id",
            "ear_status",
            "ear_trustworthiness_vector",
            "ear_appraisal_policy_ids",
            "ear_attester_claims",
        ),
    };
    let verifier = obj.get(vid).and_then(|v| {
        Some((
            v.get("developer")?.as_str()?.to_string(),
            v.get("build")?.as_str()?.to_string(),
        ))
    });
    let submods_obj = obj
        .get("submods")
        .and_then(Value::as_object)
        .ok_or_else(|| tok("no \"submods\" object: not an EAR"))?;
    let mut submods = Vec::new();
    for (name, s) in submods_obj {
        let s = s
            .as_object()
            .ok_or_else(|| tok(format!("submod {name:?} is not an object")))?;
        let status = s
            .get(status)
            .and_then(Value::as_str)
            .ok_or_else(|| tok(format!("submod {name:?} has no {status:?}")))?
            .to_string();
        let trust_vector = s
            .get(tv)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_i64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let policy_ids = match s.get(policy) {
            Some(Value::String(p)) => vec![p.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        submods.push(Submod {
            name: name.clone(),
            status,
            trust_vector,
            policy_ids,
            evidence_claims: s.get(evidence).cloned().unwrap_or(Value::Null),
        });
    }
    Ok(Token {
        header,
        naming,
        profile: obj
            .get("eat_profile")
            .and_then(Value::as_str)
            .map(str::to_string),
        iat: obj.get("iat").and_then(Value::as_i64),
        exp: obj.get("exp").and_then(Value::as_i64),
        verifier,
        submods,
    })
}

fn submod_values(
    obj: &serde_json::Map<String, Value>,
) -> impl Iterator<Item = &serde_json::Map<String, Value>> {
    obj.get("submods")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_object)
}

/// Check the token's signature with a public key given as a JWK (the algorithm is the
/// header's, and must suit the key). Expiry is not checked here: the caller reports `exp`.
#[cfg(feature = "aws-lc")]
pub fn verify_signature(token: &str, jwk: &[u8]) -> Result<String, EarError> {
    use jsonwebtoken as jwt;
    let token = token.trim();
    let header = jwt::decode_header(token).map_err(|e| tok(e.to_string()))?;
    let jwk: jwt::jwk::Jwk =
        serde_json::from_slice(jwk).map_err(|e| EarError::Key(format!("not a JWK: {e}")))?;
    let key = jwt::DecodingKey::from_jwk(&jwk).map_err(|e| EarError::Key(e.to_string()))?;
    let mut v = jwt::Validation::new(header.alg);
    v.set_required_spec_claims::<&str>(&[]);
    v.validate_exp = false;
    v.validate_aud = false;
    jwt::decode::<serde_json::Value>(token, &key, &v)
        .map_err(|e| tok(format!("signature does not verify: {e}")))?;
    Ok(format!("{:?}", header.alg))
}

/// Without the `aws-lc` feature there is no JWT backend.
#[cfg(not(feature = "aws-lc"))]
pub fn verify_signature(_token: &str, _jwk: &[u8]) -> Result<String, EarError> {
    Err(EarError::NoJwt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claims shaped exactly as released Trustee's `ear_broker.rs` issues them (profile,
    /// developer and submodule naming from that file; values from its default CPU policy).
    fn trustee_claims() -> Value {
        serde_json::json!({
            "eat_profile": "tag:github.com,2024:confidential-containers/Trustee",
            "iat": 1_760_426_134,
            "ear.verifier-id": {
                "developer": "https://confidentialcontainers.org",
                "build": "attestation-service 0.1.0"
            },
            "submods": {
                "cpu0": {
                    "ear.status": "affirming",
                    "ear.trustworthiness-vector": {
                        "instance-identity": 0, "configuration": 2, "executables": 3,
                        "file-system": 0, "hardware": 2, "runtime-opaque": 0,
                        "storage-opaque": 0, "sourced-data": 0
                    },
                    "ear.appraisal-policy-id": "default",
                    "ear.veraison.annotated-evidence": {
                        "snp": {"measurement": "abcd", "reported_tcb_snp": "8"},
                        "report_data": "00",
                        "runtime_data_claims": {"nonce": "n"}
                    }
                }
            },
            "exp": 1_760_426_434
        })
    }

    fn unsigned(claims: &Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
        format!("{h}.{c}.c2ln")
    }

    #[test]
    fn reads_dotted_trustee_claims() {
        let t = decode(&unsigned(&trustee_claims())).unwrap();
        assert_eq!(t.naming, Naming::Dotted);
        assert_eq!(
            t.profile.as_deref(),
            Some("tag:github.com,2024:confidential-containers/Trustee")
        );
        assert_eq!(t.exp, Some(1_760_426_434));
        assert_eq!(
            t.verifier,
            Some((
                "https://confidentialcontainers.org".into(),
                "attestation-service 0.1.0".into()
            ))
        );
        assert_eq!(t.submods.len(), 1);
        let s = &t.submods[0];
        assert_eq!((s.name.as_str(), s.status.as_str()), ("cpu0", "affirming"));
        assert_eq!(s.trust_vector["hardware"], 2);
        assert_eq!(s.policy_ids, vec!["default".to_string()]);
        assert_eq!(s.evidence_claims["snp"]["measurement"], "abcd");
        assert!(t.affirming());
        // The current ear crate does not read these names: that is why this reader exists.
        assert!(crate::ear::from_json(&serde_json::to_vec(&trustee_claims()).unwrap()).is_err());
    }

    /// Newer Trustee (`attestation-service/docs/example.token.json`) uses the current names.
    #[test]
    fn reads_current_names_too() {
        let claims = serde_json::json!({
            "eat_profile": "tag:github.com,2024:confidential-containers/Trustee",
            "iat": 1_760_426_134,
            "ear_verifier_id": {"developer": "https://confidentialcontainers.org", "build": "attestation-service 0.1.0"},
            "submods": {"cpu0": {
                "ear_status": "contraindicated",
                "ear_trustworthiness_vector": {"hardware": 97, "configuration": 36},
                "ear_appraisal_policy_ids": ["default"],
                "ear_attester_claims": {"tee": "sgx"}
            }},
            "exp": 1_760_426_434
        });
        let t = decode(&unsigned(&claims)).unwrap();
        assert_eq!(t.naming, Naming::Current);
        assert_eq!(t.submods[0].status, "contraindicated");
        assert_eq!(t.submods[0].evidence_claims["tee"], "sgx");
        assert!(!t.affirming());
    }

    #[test]
    fn malformed_tokens_are_typed_errors() {
        assert!(decode("a.b").is_err());
        assert!(decode("!!!.e30.sig").is_err());
        let no_submods = unsigned(&serde_json::json!({"iat": 1}));
        assert!(decode(&no_submods).is_err());
        assert!(looks_like_jwt(unsigned(&trustee_claims()).as_bytes()));
        assert!(!looks_like_jwt(b"{\"format\": 1}"));
        assert!(!looks_like_jwt(&[0u8; 100]));
    }

    proptest::proptest! {
        /// Arbitrary text, and arbitrary JSON-ish parts in JWT shape, never panic the reader.
        #[test]
        fn decode_never_panics(s in "\\PC{0,200}",
                               claims in "\\{(\"(submods|iat|exp|ear\\.status|eat_profile)\": ?(\\{\\}|[0-9]{1,3}|\"x\"|\\{\"a\": ?\\{\\}\\}), ?){0,4}\"z\": 0\\}") {
            let _ = decode(&s);
            let _ = looks_like_jwt(s.as_bytes());
            let _ = decode(&format!("eyJ.{}.x", URL_SAFE_NO_PAD.encode(claims.as_bytes())));
        }
    }

    #[cfg(feature = "aws-lc")]
    #[test]
    fn signature_checked_against_the_given_key_only() {
        // The ear crate's test P-256 key pair (its README).
        const KEY: &str = include_str!("../../tests/data/ear-test-key.pem");
        const JWK: &str = include_str!("../../tests/data/ear-test-key.jwk");
        use jsonwebtoken as jwt;
        let token = jwt::encode(
            &jwt::Header::new(jwt::Algorithm::ES256),
            &trustee_claims(),
            &jwt::EncodingKey::from_ec_pem(KEY.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(verify_signature(&token, JWK.as_bytes()).unwrap(), "ES256");
        assert!(verify_signature(&unsigned(&trustee_claims()), JWK.as_bytes()).is_err());
        let other = r#"{"kty":"EC","crv":"P-256","x":"usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8","y":"IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4"}"#;
        assert!(verify_signature(&token, other.as_bytes()).is_err());
    }
}
