//! `cmw`: the evidence as a Conceptual Message Wrapper (draft-ietf-rats-msg-wrap) record, the
//! form Veraison and ratsd take, built and parsed with the `cmw` crate.
//!
//! The record's media type is Veraison's SEV-SNP evidence type
//! `application/vnd.veraison.configfs-tsm+json` (`scheme/sevsnp/scheme.go` in veraison/services),
//! its value the configfs-tsm report JSON that type names: `outblob` is the report and `auxblob`
//! the certificate table, both base64url without padding, exactly as the kernel produced them, so
//! nothing is re-encoded; the indicator says "evidence":
//!
//! ```json
//! ["application/vnd.veraison.configfs-tsm+json", "<base64url of {\"outblob\": …, \"auxblob\": …, \"provider\": \"sev_guest\\n\"}>", 4]
//! ```

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use cmw::{Indicator, Mime, Monad, CMW};
use serde::{Deserialize, Serialize};

use super::{Evidence, EvidenceError, MAX_CERT_TABLE};

/// Veraison's media type for SEV-SNP configfs-tsm evidence in JSON.
pub const MEDIA_TYPE: &str = "application/vnd.veraison.configfs-tsm+json";

/// What configfs-tsm's `provider` attribute reads for SEV-SNP (with the newline sysfs adds).
const PROVIDER: &str = "sev_guest\n";

/// The tsm-report JSON (ratsd's `tokens.TSMReport`).
#[derive(Serialize, Deserialize)]
struct TsmReport {
    outblob: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auxblob: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inblob: Option<String>,
}

fn err(reason: impl std::fmt::Display) -> EvidenceError {
    EvidenceError::Json {
        format: "CMW evidence",
        reason: reason.to_string(),
    }
}

/// The evidence as a `cmw` record (for embedding, e.g. as an EAR's `ear_raw_evidence`).
pub fn record(ev: &Evidence) -> Result<CMW, EvidenceError> {
    let tsm = TsmReport {
        outblob: URL_SAFE_NO_PAD.encode(&ev.report),
        auxblob: (!ev.cert_table.is_empty()).then(|| URL_SAFE_NO_PAD.encode(&ev.cert_table)),
        provider: Some(PROVIDER.to_string()),
        inblob: None,
    };
    let value = serde_json::to_vec(&tsm).map_err(err)?;
    let mime: Mime = MEDIA_TYPE.parse().map_err(err)?;
    let monad = Monad::new_media_type(mime, value, Some(Indicator::EVIDENCE)).map_err(err)?;
    Ok(CMW::Monad(monad))
}

/// Encode as a JSON CMW record with a trailing newline.
pub fn write(ev: &Evidence) -> Result<Vec<u8>, EvidenceError> {
    let mut out = record(ev)?.marshal_json().map_err(err)?;
    out.push(b'\n');
    Ok(out)
}

fn b64(field: &'static str, s: &str) -> Result<Vec<u8>, EvidenceError> {
    let t = s.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(t)
        .or_else(|_| URL_SAFE.decode(s))
        .map_err(|e| EvidenceError::Base64 {
            field,
            reason: e.to_string(),
        })
}

/// Evidence from a parsed CMW record of [`MEDIA_TYPE`].
pub fn from_record(cmw: &CMW) -> Result<Evidence, EvidenceError> {
    let CMW::Monad(m) = cmw else {
        return Err(err(
            "a CMW collection, not a record: give the SEV-SNP evidence record itself",
        ));
    };
    let typ = m.type_();
    let base = typ.split(';').next().unwrap_or("").trim();
    if !base.eq_ignore_ascii_case(MEDIA_TYPE) {
        return Err(err(format!(
            "media type {:?} is not SEV-SNP configfs-tsm evidence ({MEDIA_TYPE})",
            typ.chars().take(100).collect::<String>()
        )));
    }
    let tsm: TsmReport = serde_json::from_slice(&m.value()).map_err(err)?;
    let report = b64("outblob", &tsm.outblob)?;
    let cert_table = match &tsm.auxblob {
        Some(a) => b64("auxblob", a)?,
        None => Vec::new(),
    };
    if cert_table.len() > MAX_CERT_TABLE {
        return Err(EvidenceError::TooLarge {
            what: "certificate table",
            len: cert_table.len() as u64,
            max: MAX_CERT_TABLE as u64,
        });
    }
    Ok(Evidence::new(report, cert_table))
}

/// Decode a JSON CMW record.
pub fn read(bytes: &[u8]) -> Result<Evidence, EvidenceError> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let cmw = CMW::unmarshal_json(&bytes[start..]).map_err(err)?;
    from_record(&cmw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::report::REPORT_SIZE;

    use crate::test_data::real;

    #[test]
    fn round_trip_and_shape() {
        let ev = Evidence::new(
            real("veraison/sevsnp-tsm-report_8d8bfb3e.bin"),
            real("veraison/sevsnp-tsm-report_9e37aaf8.certtable.bin"),
        );
        let bytes = write(&ev).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v[0], MEDIA_TYPE);
        assert_eq!(v[2], 4, "indicator: evidence");
        assert_eq!(read(&bytes).unwrap(), ev);
        // No table: no auxblob.
        let bare = Evidence::new(ev.report.clone(), Vec::new());
        assert_eq!(read(&write(&bare).unwrap()).unwrap(), bare);
    }

    /// Veraison's own test evidence (`scheme/sevsnp/test/evidence/sevsnp-tsm-report.json`),
    /// wrapped the way ratsd wraps it, reads as the report in our data set.
    #[test]
    fn reads_veraison_tsm_json() {
        let report = real("veraison/sevsnp-tsm-report_8d8bfb3e.bin");
        let tsm = format!(
            "{{\"outblob\":\"{}\",\"provider\":\"sev_guest\\n\"}}",
            URL_SAFE_NO_PAD.encode(&report)
        );
        let rec = serde_json::json!([MEDIA_TYPE, URL_SAFE_NO_PAD.encode(tsm.as_bytes())]);
        let ev = read(&serde_json::to_vec(&rec).unwrap()).unwrap();
        assert_eq!(ev.report, report);
        assert!(ev.cert_table.is_empty());
    }

    #[test]
    fn refuses_other_media_types_and_collections() {
        let rec = serde_json::json!(["application/eat+jwt", "AAAA"]);
        assert!(read(&serde_json::to_vec(&rec).unwrap()).is_err());
        let coll = serde_json::json!({"a": ["application/vnd.x", "AAAA"]});
        assert!(read(&serde_json::to_vec(&coll).unwrap()).is_err());
        assert!(read(b"[").is_err());
        assert!(read(b"").is_err());
        let _ = REPORT_SIZE;
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = read(&bytes);
        }
    }
}
