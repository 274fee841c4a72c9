//! A KBS attester client: fetch a secret from a Trustee Key Broker Service, speaking KBS
//! protocol 0.4.0 (`kbs/docs/kbs_attestation_protocol.md` in confidential-containers/trustee)
//! with the message types of the `kbs-types` crate.
//!
//! 1. **auth** — `POST /kbs/v0/auth` with a `Request` (`version` 0.4.0, `tee` snp); the KBS
//!    answers with a `Challenge` and sets the `kbs-session-id` cookie.
//! 2. **attest** — a fresh RSA-2048 key pair is made (the ephemeral TEE key; its private half
//!    never leaves this process). The runtime data `{"nonce": <challenge>, "tee-pubkey": <JWK>}`
//!    is bound into REPORT_DATA with the [`Trustee profile`](crate::binding::Profile::Trustee)
//!    (SHA-384 of its JCS form, zero-padded) — exactly what Trustee's SNP verifier recomputes —
//!    and the extended report goes out as Trustee's SNP evidence (the `coco` form) in
//!    `tee-evidence.primary_evidence`, with the cookie, to `POST /kbs/v0/attest`.
//! 3. **resource** — `GET /kbs/v0/resource/<repository>/<type>/<tag>` with the cookie returns a
//!    flattened JWE: the content key wrapped to the TEE key with `RSA-OAEP-256`, the resource
//!    encrypted with `A256GCM` under the protected header as AAD. It is decrypted here.
//!
//! Bounds: every request has a timeout, answers are read up to [`MAX_BODY`], the resource path
//! is validated before use, and anything unexpected is a typed [`KbsError`].

use std::io::Read;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kbs_types::{
    Attestation, Challenge, CompositeEvidence, Request, Response, RuntimeData, Tee, TeePubKey,
};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey};
use sha2::Sha256;

use crate::backend::{Backend, BackendError, ReportRequest};
use crate::binding::Profile;
use crate::evidence::Evidence;

/// The protocol version this client speaks.
pub const PROTOCOL_VERSION: &str = "0.4.0";

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "kbs-session-id";

/// The JWE key-management algorithm of the TEE key.
pub const TEE_KEY_ALG: &str = "RSA-OAEP-256";

/// The largest answer read from the KBS (a resource is typically a key; 1 MiB is generous).
pub const MAX_BODY: u64 = 1024 * 1024;

/// Why fetching a resource failed.
#[derive(Debug, thiserror::Error)]
pub enum KbsError {
    /// The URL or resource path is unusable.
    #[error("{0}")]
    Usage(String),
    /// The KBS could not be reached or the exchange broke off.
    #[error("KBS {step}: {reason}")]
    Http {
        /// Which step.
        step: &'static str,
        /// What happened.
        reason: String,
    },
    /// The KBS refused (its `ErrorInformation` when it sent one).
    #[error("KBS {step}: HTTP {status}: {detail}")]
    Refused {
        /// Which step.
        step: &'static str,
        /// HTTP status.
        status: u16,
        /// The KBS's explanation.
        detail: String,
    },
    /// The KBS answered something the protocol does not allow.
    #[error("KBS {step}: {reason}")]
    Protocol {
        /// Which step.
        step: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The platform could not produce evidence.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The resource could not be decrypted with the TEE key.
    #[error("cannot decrypt the resource: {0}")]
    Decrypt(String),
}

/// `REPO/TYPE/TAG`, each a non-empty path segment of safe characters.
pub fn resource_path(s: &str) -> Result<String, KbsError> {
    let parts: Vec<&str> = s.split('/').collect();
    let ok = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(KbsError::Usage(format!(
            "resource {s:?} is not REPOSITORY/TYPE/TAG (letters, digits, '-', '_', '.')"
        )))
    }
}

fn proto(step: &'static str, reason: impl Into<String>) -> KbsError {
    KbsError::Protocol {
        step,
        reason: reason.into(),
    }
}

struct Answer {
    status: u16,
    cookie: Option<String>,
    body: Vec<u8>,
}

fn send(step: &'static str, rb: reqwest::blocking::RequestBuilder) -> Result<Answer, KbsError> {
    let http = |e: &dyn std::fmt::Display| KbsError::Http {
        step,
        reason: e.to_string(),
    };
    let resp = rb.send().map_err(|e| http(&e))?;
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string());
    let mut body = Vec::new();
    resp.take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| http(&e))?;
    if body.len() as u64 > MAX_BODY {
        return Err(proto(step, format!("answer larger than {MAX_BODY} bytes")));
    }
    if !(200..300).contains(&status) {
        let detail = serde_json::from_slice::<kbs_types::ErrorInformation>(&body)
            .map(|e| format!("{} ({})", e.detail, e.error_type))
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(300).collect());
        return Err(KbsError::Refused {
            step,
            status,
            detail,
        });
    }
    Ok(Answer {
        status,
        cookie,
        body,
    })
}

/// A JSON request body.
fn json(
    rb: reqwest::blocking::RequestBuilder,
    body: &impl serde::Serialize,
) -> Result<reqwest::blocking::RequestBuilder, KbsError> {
    let bytes = serde_json::to_vec(body).map_err(|e| proto("request", e.to_string()))?;
    Ok(rb
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(bytes))
}

/// The runtime data for a challenge and TEE key, and the REPORT_DATA Trustee expects for it.
pub fn runtime_data(nonce: &str, key: &TeePubKey) -> Result<(RuntimeData, [u8; 64]), KbsError> {
    let rd = RuntimeData {
        nonce: nonce.to_string(),
        tee_pubkey: key.clone(),
    };
    let json = serde_json::to_vec(&rd).map_err(|e| proto("attest", e.to_string()))?;
    let report_data = Profile::Trustee
        .report_data(&json, None)
        .map_err(|e| proto("attest", e.to_string()))?;
    Ok((rd, report_data))
}

/// The TEE key as the JWK the protocol carries.
pub fn tee_pubkey(key: &RsaPrivateKey) -> TeePubKey {
    TeePubKey::RSA {
        alg: TEE_KEY_ALG.to_string(),
        k_mod: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        k_exp: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    }
}

/// Decrypt a resource `Response` (flattened JWE; `protected` as sent, for the AAD).
pub fn decrypt(body: &[u8], key: &RsaPrivateKey) -> Result<Vec<u8>, KbsError> {
    let raw: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| proto("resource", format!("not JSON: {e}")))?;
    let protected_b64 = raw
        .get("protected")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| proto("resource", "no \"protected\" header: not a JWE"))?
        .to_string();
    let resp: Response = serde_json::from_value(raw)
        .map_err(|e| proto("resource", format!("not a KBS JWE response: {e}")))?;
    if resp.protected.alg != TEE_KEY_ALG || resp.protected.enc != "A256GCM" {
        return Err(KbsError::Decrypt(format!(
            "the KBS used alg {:?} / enc {:?}; this client's TEE key needs {TEE_KEY_ALG} / A256GCM",
            resp.protected.alg, resp.protected.enc
        )));
    }
    let cek = key
        .decrypt(Oaep::new::<Sha256>(), &resp.encrypted_key)
        .map_err(|e| KbsError::Decrypt(format!("unwrapping the content key: {e}")))?;
    if cek.len() != 32 || resp.iv.len() != 12 || resp.tag.len() != 16 {
        return Err(KbsError::Decrypt(format!(
            "A256GCM needs a 32-byte key, 12-byte IV and 16-byte tag; got {}, {}, {}",
            cek.len(),
            resp.iv.len(),
            resp.tag.len()
        )));
    }
    let cipher = Aes256Gcm::new_from_slice(&cek).map_err(|e| KbsError::Decrypt(e.to_string()))?;
    let iv: [u8; 12] = resp
        .iv
        .as_slice()
        .try_into()
        .map_err(|_| KbsError::Decrypt("IV length".into()))?;
    let mut ct = resp.ciphertext.clone();
    ct.extend_from_slice(&resp.tag);
    cipher
        .decrypt(
            &Nonce::from(iv),
            Payload {
                msg: &ct,
                aad: protected_b64.as_bytes(),
            },
        )
        .map_err(|_| {
            KbsError::Decrypt("authentication failed (tampered, or not for this key)".into())
        })
}

/// Run auth → attest → resource against the KBS at `base_url` and return the decrypted
/// resource `path` (`REPO/TYPE/TAG`). Evidence comes from `backend` at `vmpl`.
pub fn get_resource(
    base_url: &str,
    path: &str,
    backend: &mut dyn Backend,
    vmpl: u32,
    timeout: Duration,
) -> Result<Vec<u8>, KbsError> {
    let path = resource_path(path)?;
    let base = base_url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(KbsError::Usage(format!(
            "KBS URL {base_url:?} must start with https:// (or http:// for a local test KBS)"
        )));
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| KbsError::Http {
            step: "auth",
            reason: e.to_string(),
        })?;

    // 1. auth
    let request = Request {
        version: PROTOCOL_VERSION.to_string(),
        tee: Tee::Snp,
        extra_params: serde_json::json!({}),
    };
    let a = send(
        "auth",
        json(client.post(format!("{base}/kbs/v0/auth")), &request)?,
    )?;
    let cookie = a.cookie.ok_or_else(|| {
        proto(
            "auth",
            format!("no {SESSION_COOKIE} cookie set (HTTP {})", a.status),
        )
    })?;
    let challenge: Challenge = serde_json::from_slice(&a.body)
        .map_err(|e| proto("auth", format!("not a KBS challenge: {e}")))?;
    if challenge.nonce.is_empty() || challenge.nonce.len() > 1024 {
        return Err(proto(
            "auth",
            "the challenge nonce is empty or over 1024 bytes",
        ));
    }

    // 2. attest
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
        .map_err(|e| KbsError::Decrypt(format!("cannot make the TEE key: {e}")))?;
    let (rd, report_data) = runtime_data(&challenge.nonce, &tee_pubkey(&key))?;
    let ext = backend.get_ext_report(&ReportRequest { report_data, vmpl })?;
    let ev = Evidence::from_extended(ext, backend.kind().as_str());
    let coco = ev.to_bytes(crate::evidence::Format::Coco).map_err(|e| {
        proto(
            "attest",
            format!("cannot express the report in Trustee's form: {e}"),
        )
    })?;
    let primary: serde_json::Value =
        serde_json::from_slice(&coco).map_err(|e| proto("attest", e.to_string()))?;
    let attestation = Attestation {
        init_data: None,
        runtime_data: rd,
        tee_evidence: CompositeEvidence {
            primary_evidence: primary,
            additional_evidence: "{}".to_string(),
        },
    };
    let cookie_header = format!("{SESSION_COOKIE}={cookie}");
    send(
        "attest",
        json(
            client
                .post(format!("{base}/kbs/v0/attest"))
                .header(reqwest::header::COOKIE, &cookie_header),
            &attestation,
        )?,
    )?;

    // 3. resource
    let r = send(
        "resource",
        client
            .get(format!("{base}/kbs/v0/resource/{path}"))
            .header(reqwest::header::COOKIE, &cookie_header),
    )?;
    decrypt(&r.body, &key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths() {
        assert!(resource_path("default/key/1").is_ok());
        assert!(resource_path("my-repo/tls_cert/v1.2").is_ok());
        for bad in [
            "a/b",
            "a/b/c/d",
            "a//c",
            "../b/c",
            "a/b/c?x=1",
            "a/b/%2e",
            "",
        ] {
            assert!(resource_path(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever a KBS answers for a resource, decryption fails cleanly (never panics).
        #[test]
        fn decrypt_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
                                iv in "[A-Za-z0-9_-]{0,24}", tag in "[A-Za-z0-9_-]{0,30}") {
            static KEY: std::sync::OnceLock<RsaPrivateKey> = std::sync::OnceLock::new();
            let key = KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).expect("test key"));
            let _ = decrypt(&body, key);
            let jwe = serde_json::json!({
                "protected": URL_SAFE_NO_PAD.encode(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM"}"#),
                "encrypted_key": "AAAA", "iv": iv, "ciphertext": "AAAA", "tag": tag,
            });
            proptest::prop_assert!(decrypt(&serde_json::to_vec(&jwe).unwrap(), key).is_err());
        }
    }

    #[test]
    fn runtime_data_binding_is_trustees() {
        // Independently: serde_json sorts keys (no preserve_order), compact = JCS for this data.
        let key = TeePubKey::RSA {
            alg: TEE_KEY_ALG.into(),
            k_mod: "AQAB".into(),
            k_exp: "AQAB".into(),
        };
        let (rd, report_data) = runtime_data("nonce-1", &key).unwrap();
        let canon = br#"{"nonce":"nonce-1","tee-pubkey":{"alg":"RSA-OAEP-256","e":"AQAB","kty":"RSA","n":"AQAB"}}"#;
        use sha2::Digest;
        assert_eq!(&report_data[..48], &sha2::Sha384::digest(canon)[..]);
        assert_eq!(report_data[48..], [0u8; 16]);
        assert_eq!(rd.nonce, "nonce-1");
    }
}
