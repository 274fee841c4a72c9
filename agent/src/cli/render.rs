//! Rendering of results for people (text) and programs (JSON).

use serde_json::{json, Value};
use snp_agent::evidence::view::ReportSummary;
use snp_certs::chain::fmt_time;
use snp_certs::verify::{CheckStatus, VerifiedEvidence};

use super::appraise::Appraisal;

/// EAR's profile tag; our JSON follows its shape (status, per-submodule appraisal) without
/// being a signed EAR token.
pub const EAR_PROFILE: &str = "tag:github.com,2023:veraison/ear";

fn status_word(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "PASS",
        CheckStatus::Fail => "FAIL",
        CheckStatus::Skipped => "SKIP",
        CheckStatus::Warn => "WARN",
    }
}

/// One line per check (verification, then policy), then the verdict.
pub fn appraisal_text(a: &Appraisal, subject: &str) -> String {
    let mut s = format!(
        "evidence: {subject}\nendorsement: {} (roots: {})\n",
        a.vek_source,
        a.roots.label()
    );
    let width = a
        .verification
        .checks
        .iter()
        .map(|c| c.name.len())
        .chain(
            a.policy
                .iter()
                .flat_map(|p| p.checks.iter().map(|c| c.name.len())),
        )
        .max()
        .unwrap_or(0);
    for c in &a.verification.checks {
        s.push_str(&format!(
            "  {}  {:<width$}  {}\n",
            status_word(c.status),
            c.name,
            c.detail
        ));
    }
    if let Some(p) = &a.policy {
        for c in &p.checks {
            s.push_str(&format!(
                "  {}  {:<width$}  {}\n",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.detail
            ));
        }
    }
    let warnings = a.verification.warnings();
    let warned = if warnings.is_empty() {
        String::new()
    } else {
        format!(" (warning: {})", warnings.join(", "))
    };
    let verdict = match (&a.verification.result, &a.policy) {
        (Err(e), _) => format!("NOT VERIFIED ({}): {e}", e.check()),
        (Ok(_), Some(p)) if p.passed() => format!("VERIFIED; policy holds{warned}"),
        (Ok(_), Some(p)) => format!(
            "VERIFIED, but the policy does not hold: {}",
            p.failures()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (Ok(_), None) => format!("VERIFIED{warned}"),
    };
    if let Ok(v) = &a.verification.result {
        s.push_str(&format!("evidence id: {}\n", v.id()));
    }
    s.push_str(&format!("result: {verdict}\n"));
    s
}

/// The claims a verified result vouches for. `evidence_id` is [`VerifiedEvidence::id`]: one
/// value for every byte form of a genuine report, for deduplication and replay detection (the
/// report bytes are not unique: the ECDSA twin (r, n − s) verifies too).
pub fn claims(v: &VerifiedEvidence) -> Value {
    let report = v.report();
    json!({
        "evidence_id": v.id().to_string(),
        "product": v.product().to_string(),
        "endorsement_key": v.cert_kind().to_string(),
        "tcb": v.tcb().to_string(),
        "chip_id": v.chip_id().map(hex::encode),
        "csp_id": v.csp_id(),
        "verified_at": fmt_time(v.verified_at()),
        "crypto_provider": v.provider_name(),
        "report": ReportSummary::new(&report, Some(v.product())),
    })
}

/// Every check of an appraisal, verification then policy: `{name, status, detail}` each.
pub fn checks_json(a: &Appraisal) -> Vec<Value> {
    let mut checks: Vec<Value> = a
        .verification
        .checks
        .iter()
        .map(|c| json!({"name": c.name, "status": c.status.to_string(), "detail": c.detail}))
        .collect();
    if let Some(p) = &a.policy {
        checks.extend(p.checks.iter().map(|c| {
            json!({
                "name": c.name,
                "status": if c.passed { "pass" } else { "fail" },
                "detail": c.detail,
            })
        }));
    }
    checks
}

/// EAR-style JSON: overall status ([`Appraisal::tier`]), every check, and the verified claims.
pub fn appraisal_json(a: &Appraisal, subject: &str, now: u64) -> Value {
    let warnings = a.verification.warnings();
    let status = a.tier();
    let checks = checks_json(a);
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c["status"] == "fail")
        .filter_map(|c| c["name"].as_str())
        .collect();
    let verified = a.verification.result.as_ref().ok();
    json!({
        "eat_profile": EAR_PROFILE,
        "iat": now,
        "ear.verifier-id": {
            "developer": "snp-agent",
            "build": concat!("snp-agent ", env!("CARGO_PKG_VERSION")),
        },
        "submods": {
            "SEV-SNP": {
                "ear.status": status,
                "snp-agent.evidence": subject,
                "snp-agent.trust-anchors": a.roots.label(),
                "snp-agent.endorsement-source": a.vek_source.to_string(),
                "snp-agent.verified": verified.is_some(),
                "snp-agent.policy-holds": a.policy.as_ref().map(|p| p.passed()),
                "snp-agent.failed": failed,
                "snp-agent.warnings": warnings,
                "snp-agent.error": a.verification.result.as_ref().err().map(|e| e.to_string()),
                "snp-agent.checks": checks,
                "snp-agent.claims": verified.map(claims),
            }
        }
    })
}
