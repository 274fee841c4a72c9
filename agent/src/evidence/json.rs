//! snp-agent's evidence JSON (`"format": "snp-agent-evidence/v1"`).
//!
//! ```json
//! {
//!   "format": "snp-agent-evidence/v1",
//!   "report": "<base64 of the 1184 report bytes>",
//!   "cert_table": "<base64 of the certificate table as served; empty string if none>",
//!   "backend": "sev-guest",
//!   "report_view": { … every field rendered, for humans and jq … }
//! }
//! ```
//!
//! Only `report` and `cert_table` are evidence. `report_view` is written for convenience and
//! ignored on reading (it is derived again from the bytes), `backend` is unauthenticated
//! provenance. Unknown keys are rejected so that a typo in a hand-built file is not silently
//! dropped.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use snp_certs::report::ReportView;

use super::view::ReportSummary;
use super::{Evidence, EvidenceError, JSON_FORMAT_V1, MAX_CERT_TABLE};

#[derive(Serialize)]
struct Out<'a> {
    format: &'static str,
    report: String,
    cert_table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report_view: Option<ReportSummary>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct In {
    format: String,
    report: String,
    #[serde(default)]
    cert_table: String,
    #[serde(default)]
    backend: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    report_view: Option<serde::de::IgnoredAny>,
}

/// Encode `ev` as pretty JSON with a trailing newline.
pub fn write(ev: &Evidence) -> Result<Vec<u8>, EvidenceError> {
    let view = ReportView::new(&ev.report).ok();
    let out = Out {
        format: JSON_FORMAT_V1,
        report: STANDARD.encode(&ev.report),
        cert_table: STANDARD.encode(&ev.cert_table),
        backend: ev.backend.as_deref(),
        report_view: view.map(|v| ReportSummary::new(&v, None)),
    };
    let mut bytes = serde_json::to_vec_pretty(&out).map_err(|e| EvidenceError::Json {
        format: "snp-agent evidence JSON",
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Decode snp-agent evidence JSON.
pub fn read(bytes: &[u8]) -> Result<Evidence, EvidenceError> {
    let input: In = serde_json::from_slice(bytes).map_err(|e| EvidenceError::Json {
        format: "snp-agent evidence JSON",
        reason: e.to_string(),
    })?;
    if input.format != JSON_FORMAT_V1 {
        return Err(EvidenceError::UnsupportedVersion(
            input.format.chars().take(64).collect(),
        ));
    }
    // Bound the decoded sizes by the encoded lengths before decoding (base64 is 4 chars per 3
    // bytes); the whole file is already capped, this keeps the limits meaningful per field.
    if input.cert_table.len() / 4 * 3 > MAX_CERT_TABLE + 3 {
        return Err(EvidenceError::TooLarge {
            what: "certificate table",
            len: (input.cert_table.len() / 4 * 3) as u64,
            max: MAX_CERT_TABLE as u64,
        });
    }
    let report = STANDARD
        .decode(input.report.trim())
        .map_err(|e| EvidenceError::Base64 {
            field: "report",
            reason: e.to_string(),
        })?;
    let cert_table =
        STANDARD
            .decode(input.cert_table.trim())
            .map_err(|e| EvidenceError::Base64 {
                field: "cert_table",
                reason: e.to_string(),
            })?;
    Ok(Evidence {
        report,
        cert_table,
        backend: input.backend,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::report::REPORT_SIZE;

    fn sample() -> Evidence {
        let mut report = vec![0u8; REPORT_SIZE];
        report[0] = 3;
        Evidence {
            report,
            cert_table: vec![0u8; 24],
            backend: Some("sim".into()),
        }
    }

    #[test]
    fn round_trip() {
        let ev = sample();
        let bytes = write(&ev).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["format"], JSON_FORMAT_V1);
        assert_eq!(v["report_view"]["version"], 3);
        assert_eq!(read(&bytes).unwrap(), ev);
    }

    #[test]
    fn parsed_view_is_not_evidence() {
        // Editing the view changes nothing that is read back.
        let ev = sample();
        let mut v: serde_json::Value = serde_json::from_slice(&write(&ev).unwrap()).unwrap();
        v["report_view"]["vmpl"] = 3.into();
        let back = read(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn rejects_other_versions_unknown_keys_and_bad_base64() {
        let ev = sample();
        let mut v: serde_json::Value = serde_json::from_slice(&write(&ev).unwrap()).unwrap();
        let mut v2 = v.clone();
        v2["format"] = "snp-agent-evidence/v2".into();
        assert!(matches!(
            read(&serde_json::to_vec(&v2).unwrap()),
            Err(EvidenceError::UnsupportedVersion(s)) if s == "snp-agent-evidence/v2"
        ));
        let mut v3 = v.clone();
        v3["reportt"] = "".into();
        assert!(matches!(
            read(&serde_json::to_vec(&v3).unwrap()),
            Err(EvidenceError::Json { .. })
        ));
        v["cert_table"] = "!!!".into();
        assert!(matches!(
            read(&serde_json::to_vec(&v).unwrap()),
            Err(EvidenceError::Base64 {
                field: "cert_table",
                ..
            })
        ));
    }
}
