//! `coco`: the SNP evidence JSON of Confidential Containers / Trustee
//! (`deps/verifier/src/snp`: `struct SnpEvidence { attestation_report: AttestationReport,
//! cert_chain: Option<Vec<CertTableEntry>> }`, both types from the `sev` crate, serialised with
//! serde).
//!
//! The report in this format is the `sev` crate's *parsed* struct, not the signed bytes, so
//! reading it re-encodes the report with the `sev` 8 encoder (`ByteParser::to_bytes`). That is safe only in
//! one direction, which is the one used here: the writer refuses to emit CoCo evidence unless the
//! re-encoding reproduces the received bytes exactly (a report with non-zero reserved bytes or a
//! layout the crate does not know cannot be carried), and the reader's re-encoded bytes are then
//! verified like any other report — if anything was lost the signature check fails; nothing
//! is accepted that the firmware did not sign.

use serde::{Deserialize, Serialize};
use sev::firmware::guest::AttestationReport;
use sev::firmware::host::{CertTableEntry, CertType};
use sev::parser::ByteParser;
use snp_certs::report::REPORT_SIZE;
use snp_certs::table::{CertTable, CertTableBuilder, EntryKind, Guid};

use super::{Evidence, EvidenceError};

/// Trustee's evidence struct, field for field.
#[derive(Serialize, Deserialize)]
struct SnpEvidence {
    attestation_report: AttestationReport,
    cert_chain: Option<Vec<CertTableEntry>>,
}

fn cert_type(kind: EntryKind) -> CertType {
    match kind {
        EntryKind::Vcek => CertType::VCEK,
        EntryKind::Vlek => CertType::VLEK,
        EntryKind::Ask => CertType::ASK,
        EntryKind::Ark => CertType::ARK,
        EntryKind::Crl => CertType::CRL,
        EntryKind::Unknown(g) => CertType::OTHER(uuid::Uuid::from_bytes(g.0)),
    }
}

fn guid(t: &CertType) -> Option<Guid> {
    match t {
        CertType::Empty => None,
        CertType::ARK => Some(Guid::ARK),
        CertType::ASK => Some(Guid::ASK),
        CertType::VCEK => Some(Guid::VCEK),
        CertType::VLEK => Some(Guid::VLEK),
        CertType::CRL => Some(Guid::CRL),
        CertType::OTHER(u) => Some(Guid(*u.as_bytes())),
    }
}

/// Parse the raw report with the `sev` crate and check it re-encodes to the same bytes.
fn faithful_report(raw: &[u8]) -> Result<AttestationReport, EvidenceError> {
    let parsed = AttestationReport::from_bytes(raw).map_err(|e| {
        EvidenceError::Coco(format!(
            "the sev crate cannot parse this report ({e}); use --format json or bin"
        ))
    })?;
    let again = encode_report(parsed)?;
    if again != raw {
        let first = again.iter().zip(raw).position(|(a, b)| a != b).unwrap_or(0);
        return Err(EvidenceError::Coco(format!(
            "the sev crate's form of this report loses bytes (first difference at offset {first:#x}), so a CoCo verifier could not check its signature; use --format json or bin"
        )));
    }
    Ok(parsed)
}

fn encode_report(report: AttestationReport) -> Result<Vec<u8>, EvidenceError> {
    let out = report
        .to_bytes()
        .map_err(|e| EvidenceError::Coco(format!("cannot encode the report: {e}")))?
        .to_vec();
    if out.len() != REPORT_SIZE {
        return Err(EvidenceError::Coco(format!(
            "the sev crate encoded {} bytes, expected {REPORT_SIZE}",
            out.len()
        )));
    }
    Ok(out)
}

/// Encode as Trustee `SnpEvidence` JSON. Certificates are written as DER (PEM entries the host
/// served are converted), in the host's order; an empty table gives `"cert_chain": null`.
pub fn write(ev: &Evidence) -> Result<Vec<u8>, EvidenceError> {
    let attestation_report = faithful_report(&ev.report)?;
    let cert_chain = if ev.cert_table.is_empty() {
        None
    } else {
        let table = CertTable::parse(&ev.cert_table)?;
        if table.is_empty() {
            None
        } else {
            let mut entries = Vec::with_capacity(table.len());
            for e in table.entries() {
                let data = match e.kind {
                    EntryKind::Unknown(_) => e.bytes.to_vec(),
                    _ => e.der()?.into_owned(),
                };
                entries.push(CertTableEntry::new(cert_type(e.kind), data));
            }
            Some(entries)
        }
    };
    let mut out = serde_json::to_vec(&SnpEvidence {
        attestation_report,
        cert_chain,
    })
    .map_err(|e| EvidenceError::Coco(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

/// Decode Trustee `SnpEvidence` JSON, re-encoding the report and rebuilding a certificate table
/// from the chain in its order.
pub fn read(bytes: &[u8]) -> Result<Evidence, EvidenceError> {
    let input: SnpEvidence = serde_json::from_slice(bytes).map_err(|e| EvidenceError::Json {
        format: "CoCo SNP evidence",
        reason: e.to_string(),
    })?;
    let report = encode_report(input.attestation_report)?;
    let mut builder = CertTableBuilder::new();
    let mut any = false;
    for entry in input.cert_chain.unwrap_or_default() {
        if let Some(g) = guid(&entry.cert_type) {
            builder.push(g, entry.data);
            any = true;
        }
    }
    let cert_table = if any { builder.build()? } else { Vec::new() };
    Ok(Evidence::new(report, cert_table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::report::offset;

    fn milan_v3() -> Vec<u8> {
        let mut b = vec![0u8; REPORT_SIZE];
        b[offset::VERSION] = 3;
        b[offset::POLICY + 2] = 0x03;
        b[offset::SIGNATURE_ALGO] = 1;
        b[offset::CPUID_FAM_ID] = 0x19;
        b[offset::CPUID_MOD_ID] = 0x01;
        b[offset::CHIP_ID] = 0xaa;
        b[offset::REPORTED_TCB] = 3;
        b[offset::REPORTED_TCB + 6] = 20;
        b[offset::REPORTED_TCB + 7] = 209;
        b[offset::MEASUREMENT] = 0x42;
        b[offset::SIGNATURE_R] = 0x11;
        b
    }

    #[test]
    fn round_trip_with_chain() {
        let table = CertTableBuilder::new()
            .with(Guid::VCEK, vec![0x30, 0x00])
            .with(Guid::CRL, vec![0x30, 0x00])
            .with(Guid([9; 16]), b"opaque".to_vec())
            .build()
            .unwrap();
        let ev = Evidence::new(milan_v3(), table);
        let json = write(&ev).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["attestation_report"]["version"], 3);
        assert_eq!(v["cert_chain"][0]["cert_type"], "VCEK");
        let back = read(&json).unwrap();
        assert_eq!(back.report, ev.report);
        assert_eq!(back.cert_table, ev.cert_table);
    }

    #[test]
    fn empty_table_is_null_chain() {
        let ev = Evidence::new(milan_v3(), Vec::new());
        let json = write(&ev).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert!(v["cert_chain"].is_null());
        assert_eq!(read(&json).unwrap(), ev);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Whatever the sev crate can parse, our reader decodes without panicking, and the
        /// writer either refuses or produces JSON that reads back to the same bytes.
        #[test]
        fn sev_forms_never_panic_and_round_trip(
            mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), REPORT_SIZE),
            version in proptest::prop_oneof![proptest::prelude::Just(2u8), proptest::prelude::Just(3u8), proptest::prelude::Just(5u8), proptest::prelude::any::<u8>()],
            part in 0usize..4,
        ) {
            bytes[offset::VERSION..offset::VERSION + 4].copy_from_slice(&[version, 0, 0, 0]);
            let (fam, model) = [(0x19, 0x01), (0x19, 0x11), (0x1a, 0x02), (0x17, 0x31)][part];
            bytes[offset::CPUID_FAM_ID] = fam;
            bytes[offset::CPUID_MOD_ID] = model;
            let ev = Evidence::new(bytes.clone(), Vec::new());
            if let Ok(json) = write(&ev) {
                let back = read(&json).expect("what we write reads back");
                proptest::prop_assert_eq!(&back.report, &bytes);
            }
            if let Ok(parsed) = AttestationReport::from_bytes(&bytes) {
                let json = serde_json::to_vec(&SnpEvidence { attestation_report: parsed, cert_chain: None }).unwrap();
                let _ = read(&json);
            }
        }
    }

    /// Every real report the sev crate can carry round-trips byte for byte; the others are
    /// refused with a typed error. Most real reports must be carriable.
    #[test]
    fn real_reports_round_trip_or_are_refused() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/real");
        let (mut carried, mut refused) = (0, Vec::new());
        for dir in std::fs::read_dir(&root).unwrap().flatten() {
            let Ok(files) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for f in files.flatten() {
                let p = f.path();
                let bytes = std::fs::read(&p).unwrap();
                if bytes.len() != REPORT_SIZE || p.extension().is_none_or(|e| e != "bin") {
                    continue;
                }
                match write(&Evidence::new(bytes.clone(), Vec::new())) {
                    Ok(json) => {
                        assert_eq!(read(&json).unwrap().report, bytes, "{}", p.display());
                        carried += 1;
                    }
                    Err(EvidenceError::Coco(_)) => refused.push(p),
                    Err(e) => panic!("{}: unexpected {e}", p.display()),
                }
            }
        }
        eprintln!("coco: {carried} real reports carried, refused: {refused:?}");
        assert!(carried >= 40, "only {carried} carried; refused {refused:?}");
    }

    /// CoCo evidence written by the `sev` 6 crate (what snp-agent wrote before moving to sev 8,
    /// and what older CoCo attesters write) reads under sev 8 to the exact signed bytes. The
    /// fixtures in `agent/tests/data/coco-sev6/` were produced by serialising Trustee's
    /// `SnpEvidence` struct with sev 6.3.1 from the real Milan (v2), Genoa (v3) and Turin (v5)
    /// reports and their VCEKs.
    #[test]
    fn sev6_coco_json_reads_under_sev8() {
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let real = here.join("../tests/data/real");
        for (fixture, report, vcek) in [
            (
                "milan",
                "virtee-sev/report_milan.bin",
                "virtee-sev/vcek_milan.der",
            ),
            (
                "genoa",
                "veraison/sevsnp-tsm-report_8d8bfb3e.bin",
                "veraison/sevsnp-tsm-report_vcek_ab5a6bc8.der",
            ),
            (
                "turin",
                "oak/turin_oc_evidence_report_3f44a09b.bin",
                "oak/turin_oc_endorsements_vcek_14889815.der",
            ),
        ] {
            let json =
                std::fs::read(here.join(format!("tests/data/coco-sev6/{fixture}.json"))).unwrap();
            let ev = read(&json).unwrap_or_else(|e| panic!("{fixture}: {e}"));
            assert_eq!(
                ev.report,
                std::fs::read(real.join(report)).unwrap(),
                "{fixture}"
            );
            let table = CertTable::parse(&ev.cert_table).unwrap();
            assert_eq!(
                table.vcek().unwrap().bytes,
                &std::fs::read(real.join(vcek)).unwrap()[..]
            );
            // And what sev 8 writes for the same evidence is the same JSON value.
            let ours: serde_json::Value = serde_json::from_slice(&write(&ev).unwrap()).unwrap();
            let theirs: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(
                ours, theirs,
                "{fixture}: sev 6 and sev 8 serde forms differ"
            );
        }
    }

    #[test]
    fn refuses_reports_it_cannot_carry() {
        // Non-zero reserved byte: the sev struct has no place for it.
        let mut r = milan_v3();
        r[offset::RESERVED_18B] = 1;
        assert!(matches!(
            write(&Evidence::new(r, Vec::new())),
            Err(EvidenceError::Coco(_))
        ));
        // Unknown part.
        let mut r = milan_v3();
        r[offset::CPUID_FAM_ID] = 0x17;
        assert!(matches!(
            write(&Evidence::new(r, Vec::new())),
            Err(EvidenceError::Coco(_))
        ));
    }
}
