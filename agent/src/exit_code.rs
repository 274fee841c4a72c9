//! Process exit codes of the `snp-agent` binary, a stable interface for scripts.
//!
//! Codes 0–5 mean what they mean for go-sev-guest's `check` tool (0 success, 1 tool misuse,
//! 2 verification failure, 3 certificate fetch failure, 4 CRL failure, 5 policy failure), so
//! scripts written for it keep working; 6–8 cover what that tool does not do.

/// Success: for `verify`, the evidence verified and the policy holds.
pub const SUCCESS: u8 = 0;
/// Tool misuse: invalid arguments, an unreadable or invalid policy file.
pub const USAGE: u8 = 1;
/// The evidence did not verify (report signature, certificate chain, validity, TCB, chip ID or
/// signer binding).
pub const VERIFICATION_FAILED: u8 = 2;
/// No VCEK/VLEK could be obtained: the host served none and it is not cached, or KDS could not
/// be reached (or `--offline` forbade it).
pub const CERTIFICATE_UNAVAILABLE: u8 = 3;
/// A CRL was required and missing, stale, badly signed, or revokes part of the chain.
pub const CRL_FAILED: u8 = 4;
/// The evidence verified but the policy (or `--nonce`/`--report-data`) does not hold.
pub const POLICY_FAILED: u8 = 5;
/// The evidence could not be read: unknown format, malformed, truncated or too large.
pub const EVIDENCE_INVALID: u8 = 6;
/// The attestation backend failed (no SEV-SNP device, firmware or host error).
pub const BACKEND_FAILED: u8 = 7;
/// Any other runtime failure (an output file could not be written, an internal error).
pub const OTHER: u8 = 8;

/// Every code with its name and meaning, in order (for `--help` and the README).
pub const TABLE: [(u8, &str, &str); 9] = [
    (
        SUCCESS,
        "success",
        "verified and the policy holds / command completed",
    ),
    (USAGE, "usage", "invalid arguments or policy file"),
    (
        VERIFICATION_FAILED,
        "verification-failed",
        "signature, chain, validity or binding check failed",
    ),
    (
        CERTIFICATE_UNAVAILABLE,
        "certificate-unavailable",
        "no VCEK/VLEK: not served, not cached, KDS unreachable or --offline",
    ),
    (
        CRL_FAILED,
        "crl-failed",
        "CRL missing, stale, invalid or revoking",
    ),
    (
        POLICY_FAILED,
        "policy-failed",
        "verified, but the policy or nonce does not hold",
    ),
    (
        EVIDENCE_INVALID,
        "evidence-invalid",
        "evidence unreadable, malformed or of unknown format",
    ),
    (
        BACKEND_FAILED,
        "backend-failed",
        "the attestation device or host failed",
    ),
    (
        OTHER,
        "other",
        "any other runtime failure (e.g. writing output)",
    ),
];

/// The table rendered for a `--help` epilogue.
pub fn help_text() -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, name, meaning) in TABLE {
        s.push_str(&format!("  {code}  {name:<24} {meaning}\n"));
    }
    s
}

/// The exit code for a failed verification, by the check that failed.
pub fn for_verify_error(err: &snp_certs::verify::VerifyError) -> u8 {
    use snp_certs::verify::VerifyError;
    match err {
        VerifyError::NoCertificate => CERTIFICATE_UNAVAILABLE,
        VerifyError::Crl(_) | VerifyError::CrlMissing => CRL_FAILED,
        _ => VERIFICATION_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_ordered_and_unique() {
        for (i, (code, _, _)) in TABLE.iter().enumerate() {
            assert_eq!(usize::from(*code), i);
        }
        let text = help_text();
        for (_, name, _) in TABLE {
            assert!(text.contains(name));
        }
    }
}
