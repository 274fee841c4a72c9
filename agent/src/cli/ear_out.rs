//! `verify --format ear` (an EAR, optionally a signed JWT) and `verify TOKEN` for Trustee's EAR
//! tokens: the CLI side of [`snp_agent::ear`].

use std::path::Path;

use serde_json::json;
use snp_agent::ear::{self, trustee, Outcome};
use snp_agent::evidence::Evidence;
use snp_agent::exit_code;

use super::appraise::Appraisal;
use super::{render, stdout_write, CliError};

/// `verify --format`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyFormat {
    /// One line per check, for people.
    #[default]
    Text,
    /// snp-agent's JSON result: every check and the verified claims.
    Json,
    /// An EAT Attestation Result (draft-ietf-rats-ear) as JSON claims, or a signed JWT with
    /// --ear-key.
    Ear,
}

/// The identifier of the built-in policy (debug forbidden, nothing else checked).
pub const DEFAULT_POLICY_ID: &str = "snp-agent/default-policy";

/// The identifier of a policy file's bytes: `sha256:` and the hex digest, so a relying party can
/// tell which exact file a result was appraised under.
pub fn policy_id_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The largest signing key file read (a PKCS#8 PEM RSA-4096 key is about 3.3 KB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Read `--ear-key` and find its algorithm (a usage error if it is not a key the `ear` crate signs
/// with), once, before anything is appraised.
pub fn load_signer(path: &Path) -> Result<ear::EarSigner, CliError> {
    use std::io::Read;
    let usage = |why: String| {
        CliError::new(
            exit_code::USAGE,
            format!("--ear-key {}: {why}", path.display()),
        )
    };
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_end(&mut pem))
        .map_err(|e| usage(e.to_string()))?;
    if pem.len() as u64 > MAX_KEY_FILE {
        return Err(usage(format!(
            "larger than {MAX_KEY_FILE} bytes: not a PEM private key"
        )));
    }
    let signer = ear::EarSigner::from_pem(pem).map_err(|e| usage(e.to_string()))?;
    tracing::info!(alg = signer.alg(), "EAR signing key loaded");
    Ok(signer)
}

/// What an appraisal concluded, in the terms of [`ear::Outcome`].
fn outcome(a: &Appraisal, subject: &str, policy_id: &str, now: u64) -> Outcome {
    let rd_checks: Vec<bool> = a
        .policy
        .iter()
        .flat_map(|p| p.checks.iter())
        .filter(|c| c.name.starts_with("report_data."))
        .map(|c| c.passed)
        .collect();
    Outcome {
        verified: a.verification.result.is_ok(),
        report_data_matched: (!rd_checks.is_empty()).then(|| rd_checks.iter().all(|p| *p)),
        policy_holds: a.policy.as_ref().map(|p| {
            p.checks
                .iter()
                .filter(|c| !c.name.starts_with("report_data."))
                .all(|c| c.passed)
        }),
        policy_id: policy_id.to_string(),
        attester_claims: a
            .verification
            .result
            .as_ref()
            .map(render::claims)
            .unwrap_or_else(|_| json!({})),
        // The checks and error of `verify --format json`, rendered by the same functions
        // (not by rendering that whole result, claims included, to take two fields of it).
        verifier_claims: json!({
            "evidence": subject,
            "trust-anchors": a.roots.label(),
            "endorsement-source": a.vek_source.to_string(),
            "checks": render::checks_json(a),
            "error": a.verification.result.as_ref().err().map(|e| e.to_string()),
        }),
        warnings: a
            .verification
            .warnings()
            .into_iter()
            .map(str::to_string)
            .collect(),
        iat: i64::try_from(now).unwrap_or(i64::MAX),
    }
}

/// How an issued EAR is laid out; the claims are the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarShape {
    /// Carry the evidence as `ear_raw_evidence` (a CMW record). A file written by `verify` keeps
    /// it, so the result travels with what it judged; a service answering the party that just
    /// sent the evidence leaves it out unless asked: it would more than double the answer, and
    /// the verified `evidence_id` claim already names the evidence the verdict is about.
    pub raw_evidence: bool,
    /// Pretty JSON (for people) or one line (for programs). Ignored for a signed JWT.
    pub pretty: bool,
}

/// The one place an EAR is made from an appraisal: `verify --format ear` prints what this
/// returns and the `verifier` service answers it. The claims set is built (and validated) by
/// the `ear` crate; with a signer it is signed as a JWT, otherwise serialised as JSON claims.
///
/// `subject` names where the evidence came from (a path, or "request body") and `now` is the
/// issued-at time: the only two inputs that differ between two appraisals of the same evidence
/// under the same policy. `shape` says whether the evidence rides along and how JSON is laid
/// out. Returns the bytes, newline-terminated: JSON claims ([`ear::json_media_type`]) or the
/// compact JWT ([`ear::jwt_media_type`]).
pub fn issue(
    a: &Appraisal,
    ev: &Evidence,
    subject: &str,
    policy_id: &str,
    signer: Option<&ear::EarSigner>,
    now: u64,
    shape: EarShape,
) -> Result<Vec<u8>, ear::EarError> {
    let raw = shape.raw_evidence.then_some(ev);
    let built = ear::build(outcome(a, subject, policy_id, now), raw)?;
    match signer {
        None => ear::to_json(&built, shape.pretty),
        Some(key) => {
            let mut token = key.sign(&built)?.into_bytes();
            token.push(b'\n');
            Ok(token)
        }
    }
}

/// If `path` holds a JWT, read it as an EAR token (Trustee's, or ours) and report its claims;
/// `None` when it is not a token (then it is evidence).
pub fn maybe_token(
    path: &Path,
    token_key: Option<&Path>,
    as_json: bool,
) -> Result<Option<u8>, CliError> {
    if path == Path::new("-") || path.is_dir() {
        return Ok(None);
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    // Only a regular file can be a token: a device (/dev/zero) or a FIFO reports length 0
    // and would be read without end, so it is left to the evidence reader and its size cap.
    if !meta.is_file() || meta.len() > trustee::MAX_TOKEN as u64 {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| {
        use std::io::Read;
        f.take(trustee::MAX_TOKEN as u64 + 1)
            .read_to_end(&mut bytes)
    });
    if read.is_err() || bytes.len() > trustee::MAX_TOKEN {
        return Ok(None);
    }
    if !trustee::looks_like_jwt(&bytes) {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let token = trustee::decode(&text).map_err(|e| {
        CliError::new(
            exit_code::EVIDENCE_INVALID,
            format!("{}: {e}", path.display()),
        )
    })?;
    let signature = match token_key {
        None => Err("not checked: give --token-key JWK (the key in the token's header proves nothing by itself)".to_string()),
        Some(k) => {
            let jwk = std::fs::read(k).map_err(|e| {
                CliError::new(exit_code::USAGE, format!("--token-key {}: {e}", k.display()))
            })?;
            trustee::verify_signature(&text, &jwk).map_err(|e| e.to_string())
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let expired = token.exp.is_some_and(|e| e <= now);
    if as_json {
        let mut out = serde_json::to_vec_pretty(&json!({
            "token": token,
            "signature": match &signature { Ok(alg) => json!({"verified": true, "alg": alg}), Err(why) => json!({"verified": false, "reason": why}) },
            "expired": expired,
        }))
        .map_err(|e| CliError::new(exit_code::OTHER, e.to_string()))?;
        out.push(b'\n');
        stdout_write(&out)?;
    } else {
        let mut s = format!(
            "token: {} EAR ({} claim names)\n",
            path.display(),
            match token.naming {
                trustee::Naming::Dotted => "dotted, older-draft",
                trustee::Naming::Current => "current",
            }
        );
        if let Some(p) = &token.profile {
            s.push_str(&format!("profile: {p}\n"));
        }
        if let Some((dev, build)) = &token.verifier {
            s.push_str(&format!("verifier: {dev} ({build})\n"));
        }
        match (&token.iat, &token.exp) {
            (Some(i), Some(e)) => s.push_str(&format!(
                "issued: {i}, expires: {e}{}\n",
                if expired { " (EXPIRED)" } else { "" }
            )),
            (Some(i), None) => s.push_str(&format!("issued: {i}\n")),
            _ => {}
        }
        match &signature {
            Ok(alg) => s.push_str(&format!("signature: verified ({alg})\n")),
            Err(why) => s.push_str(&format!("signature: NOT verified: {why}\n")),
        }
        for sm in &token.submods {
            s.push_str(&format!("submod {}: {}\n", sm.name, sm.status));
            if !sm.trust_vector.is_empty() {
                let tv: Vec<String> = sm
                    .trust_vector
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                s.push_str(&format!("  trustworthiness: {}\n", tv.join(" ")));
            }
            if !sm.policy_ids.is_empty() {
                s.push_str(&format!("  policy: {}\n", sm.policy_ids.join(", ")));
            }
            if !sm.evidence_claims.is_null() {
                s.push_str(&format!("  claims: {}\n", sm.evidence_claims));
            }
        }
        stdout_write(s.as_bytes())?;
    }
    Ok(Some(match signature {
        Err(_) => exit_code::VERIFICATION_FAILED,
        Ok(_) if expired => exit_code::VERIFICATION_FAILED,
        Ok(_) if token.affirming() => exit_code::SUCCESS,
        Ok(_) => exit_code::POLICY_FAILED,
    }))
}
