//! `verify --format ear` (an EAR, optionally a signed JWT) and `verify TOKEN` for Trustee's EAR
//! tokens: the CLI side of [`snp_agent::ear`].

use std::path::{Path, PathBuf};

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

/// The policy's identifier in an EAR: the SHA-256 of the policy file, or the built-in default.
pub fn policy_id(policy: Option<&PathBuf>) -> Result<String, CliError> {
    use sha2::{Digest, Sha256};
    match policy {
        None => Ok("snp-agent/default-policy".into()),
        Some(p) => {
            let bytes = std::fs::read(p)
                .map_err(|e| CliError::new(exit_code::USAGE, format!("{}: {e}", p.display())))?;
            Ok(format!("sha256:{}", hex::encode(Sha256::digest(&bytes))))
        }
    }
}

/// Write the appraisal as an EAR: JSON claims, or a compact JWT signed with `key`.
pub fn write_ear(
    a: &Appraisal,
    ev: &Evidence,
    subject: &str,
    policy_id: String,
    key: Option<&Path>,
    now: u64,
) -> Result<(), CliError> {
    let rd_checks: Vec<bool> = a
        .policy
        .iter()
        .flat_map(|p| p.checks.iter())
        .filter(|c| c.name.starts_with("report_data."))
        .map(|c| c.passed)
        .collect();
    let outcome = Outcome {
        verified: a.verification.result.is_ok(),
        report_data_matched: (!rd_checks.is_empty()).then(|| rd_checks.iter().all(|p| *p)),
        policy_holds: a.policy.as_ref().map(|p| {
            p.checks
                .iter()
                .filter(|c| !c.name.starts_with("report_data."))
                .all(|c| c.passed)
        }),
        policy_id,
        attester_claims: a
            .verification
            .result
            .as_ref()
            .map(render::claims)
            .unwrap_or_else(|_| json!({})),
        verifier_claims: {
            let full = render::appraisal_json(a, subject, now);
            let sub = &full["submods"]["SEV-SNP"];
            json!({
                "evidence": subject,
                "trust-anchors": a.roots.label(),
                "endorsement-source": a.vek_source.to_string(),
                "checks": sub["snp-agent.checks"],
                "error": sub["snp-agent.error"],
            })
        },
        iat: i64::try_from(now).unwrap_or(i64::MAX),
    };
    let fail = |e: ear::EarError| CliError::new(exit_code::OTHER, e.to_string());
    let built = ear::build(&outcome, ev).map_err(fail)?;
    match key {
        None => stdout_write(&ear::to_json(&built).map_err(fail)?),
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                CliError::new(
                    exit_code::USAGE,
                    format!("--ear-key {}: {e}", path.display()),
                )
            })?;
            let (token, alg) = ear::sign_jwt(&built, &pem)
                .map_err(|e| CliError::new(exit_code::USAGE, format!("--ear-key: {e}")))?;
            tracing::info!(alg, "EAR signed");
            stdout_write(format!("{token}\n").as_bytes())
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
