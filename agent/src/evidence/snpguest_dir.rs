//! `snpguest-dir`: the files snpguest users already have.
//!
//! snpguest writes the report wherever its first argument says (its README uses
//! `attestation-report.bin`) and certificates into a directory as `ark`, `ask` (`asvk` beside a
//! VLEK), `vcek` or `vlek`, `crl` and `other-<guid>` with a `.pem` or `.der` extension
//! (`snpguest certificates pem ./certs`, `snpguest fetch ca …`). We write
//!
//! ```text
//! DIR/attestation-report.bin
//! DIR/certs/ark.pem  DIR/certs/ask.pem|asvk.pem  DIR/certs/vcek.pem|vlek.pem  [DIR/certs/crl.pem]
//! ```
//!
//! so `snpguest verify certs DIR/certs` and `snpguest verify attestation DIR/certs
//! DIR/attestation-report.bin` work unchanged. Entries snpguest has no name for keep their GUID
//! (`other-<guid>.bin`, raw bytes). The host's *order* is not representable in files: reading a
//! directory rebuilds a table in the order ARK, ASK/ASVK, VCEK, VLEK, CRL, others.
//!
//! The reader accepts `attestation-report.bin`, `report.bin` or `guest_report.bin`, and the
//! certificates either in `DIR/certs/` or directly in `DIR`, PEM or DER.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use snp_certs::report::REPORT_SIZE;
use snp_certs::table::{CertTable, CertTableBuilder, EntryKind, Guid};

use super::{read_file_capped, write_atomic, Evidence, EvidenceError};

/// Report file names tried, in order.
pub const REPORT_NAMES: [&str; 3] = ["attestation-report.bin", "report.bin", "guest_report.bin"];

/// The largest certificate file read (real AMD certificates are under 3 KB as PEM).
const MAX_CERT_FILE: u64 = 64 * 1024;

/// The most directory entries looked at; a certificates directory has a handful.
const MAX_DIR_ENTRIES: usize = 256;

fn dir_err(dir: &Path, reason: impl Into<String>) -> EvidenceError {
    EvidenceError::SnpguestDir {
        dir: dir.to_path_buf(),
        reason: reason.into(),
    }
}

fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

/// Write `ev` into `dir` (created if missing).
pub fn write(ev: &Evidence, dir: &Path) -> Result<(), EvidenceError> {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).map_err(|e| EvidenceError::Io {
        path: certs.clone(),
        source: e,
    })?;
    write_atomic(&dir.join(REPORT_NAMES[0]), &ev.report)?;
    if ev.cert_table.is_empty() {
        tracing::info!("the host served no certificates: only the report was written");
        return Ok(());
    }
    let table = CertTable::parse(&ev.cert_table)?;
    let has_vlek = table.vlek().is_some();
    for e in table.entries() {
        let (name, bytes) = match e.kind {
            EntryKind::Ark => ("ark.pem".to_string(), pem("CERTIFICATE", &e.der()?)),
            EntryKind::Ask if has_vlek => ("asvk.pem".into(), pem("CERTIFICATE", &e.der()?)),
            EntryKind::Ask => ("ask.pem".into(), pem("CERTIFICATE", &e.der()?)),
            EntryKind::Vcek => ("vcek.pem".into(), pem("CERTIFICATE", &e.der()?)),
            EntryKind::Vlek => ("vlek.pem".into(), pem("CERTIFICATE", &e.der()?)),
            EntryKind::Crl => ("crl.pem".into(), pem("X509 CRL", &e.der()?)),
            EntryKind::Unknown(g) => (format!("other-{g}.bin"), e.bytes.to_vec()),
        };
        write_atomic(&certs.join(name), &bytes)?;
    }
    Ok(())
}

/// What a file name in a certificates directory denotes.
fn classify(name: &str) -> Option<(String, Guid)> {
    let (stem, ext) = name.rsplit_once('.')?;
    if !matches!(ext, "pem" | "der" | "bin" | "crt" | "cert") {
        return None;
    }
    let guid = match stem {
        "ark" => Guid::ARK,
        "ask" | "asvk" => Guid::ASK,
        "vcek" => Guid::VCEK,
        "vlek" => Guid::VLEK,
        "crl" => Guid::CRL,
        other => other.strip_prefix("other-")?.parse::<Guid>().ok()?,
    };
    Some((stem.to_string(), guid))
}

/// Read a snpguest-style directory.
pub fn read(dir: &Path) -> Result<Evidence, EvidenceError> {
    let report_path = REPORT_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            dir_err(
                dir,
                format!("no report file (looked for {})", REPORT_NAMES.join(", ")),
            )
        })?;
    let report = read_file_capped(&report_path, REPORT_SIZE as u64)?;
    let certs_dir = if dir.join("certs").is_dir() {
        dir.join("certs")
    } else {
        dir.to_path_buf()
    };

    let mut found: Vec<(String, Guid, PathBuf)> = Vec::new();
    let rd = std::fs::read_dir(&certs_dir).map_err(|e| EvidenceError::Io {
        path: certs_dir.clone(),
        source: e,
    })?;
    for (i, entry) in rd.enumerate() {
        if i >= MAX_DIR_ENTRIES {
            return Err(dir_err(
                &certs_dir,
                format!("more than {MAX_DIR_ENTRIES} entries: not a certificates directory"),
            ));
        }
        let entry = entry.map_err(|e| EvidenceError::Io {
            path: certs_dir.clone(),
            source: e,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((stem, guid)) = classify(&name) {
            if entry.path().is_file() {
                found.push((stem, guid, entry.path()));
            }
        }
    }
    // One file per stem: prefer PEM like snpguest does, and refuse two different files otherwise.
    found.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
    let mut chosen: Vec<(String, Guid, PathBuf)> = Vec::new();
    for item in found {
        match chosen.iter_mut().find(|c| c.0 == item.0) {
            Some(c) if item.2.extension().is_some_and(|e| e == "pem") => *c = item,
            Some(_) => {}
            None => chosen.push(item),
        }
    }
    let has = |s: &str| chosen.iter().any(|c| c.0 == s);
    if has("ask") && has("asvk") {
        // Keep the intermediate that matches the endorsement key present.
        let drop = if has("vlek") && !has("vcek") {
            "ask"
        } else {
            "asvk"
        };
        chosen.retain(|c| c.0 != drop);
    }
    let rank = |g: &Guid| match EntryKind::from_guid(*g) {
        EntryKind::Ark => 0,
        EntryKind::Ask => 1,
        EntryKind::Vcek => 2,
        EntryKind::Vlek => 3,
        EntryKind::Crl => 4,
        EntryKind::Unknown(_) => 5,
    };
    chosen.sort_by_key(|c| rank(&c.1));

    let mut builder = CertTableBuilder::new();
    for (_, guid, path) in &chosen {
        builder.push(*guid, read_file_capped(path, MAX_CERT_FILE)?);
    }
    let cert_table = if chosen.is_empty() {
        tracing::info!(dir = %certs_dir.display(), "no certificate files found");
        Vec::new()
    } else {
        builder.build()?
    };
    Ok(Evidence::new(report, cert_table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_names() {
        assert_eq!(classify("vcek.pem").unwrap().1, Guid::VCEK);
        assert_eq!(classify("asvk.der").unwrap().1, Guid::ASK);
        assert_eq!(classify("crl.der").unwrap().1, Guid::CRL);
        let g = classify("other-01020304-0506-0708-090a-0b0c0d0e0f10.bin").unwrap();
        assert_eq!(g.1 .0[0], 1);
        assert!(classify("attestation-report.bin").is_none());
        assert!(classify("vcek").is_none());
        assert!(classify("notes.txt").is_none());
    }

    #[test]
    fn pem_wraps_at_64() {
        let p = String::from_utf8(pem("CERTIFICATE", &[0u8; 100])).unwrap();
        assert!(p.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(p.lines().all(|l| l.len() <= 64));
        assert!(p.ends_with("-----END CERTIFICATE-----\n"));
    }

    #[test]
    fn missing_report_is_a_typed_error() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            read(d.path()),
            Err(EvidenceError::SnpguestDir { .. })
        ));
    }

    #[test]
    fn directory_round_trip_with_unknown_entry() {
        let d = tempfile::tempdir().unwrap();
        // DER-looking payloads (one SEQUENCE each) so der() accepts them.
        let table = CertTableBuilder::new()
            .with(Guid::ARK, vec![0x30, 0x01, 0x01])
            .with(Guid::ASK, vec![0x30, 0x01, 0x02])
            .with(Guid::VCEK, vec![0x30, 0x01, 0x03])
            .with(Guid([7; 16]), b"vendor".to_vec())
            .build()
            .unwrap();
        let ev = Evidence::new(vec![1u8; REPORT_SIZE], table.clone());
        write(&ev, d.path()).unwrap();
        assert!(d.path().join("certs/vcek.pem").is_file());
        let back = read(d.path()).unwrap();
        assert_eq!(back.report, ev.report);
        // Entries come back PEM-encoded (as snpguest stores them), same kinds, same order.
        let t = CertTable::parse(&back.cert_table).unwrap();
        let kinds: Vec<_> = t.entries().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                EntryKind::Ark,
                EntryKind::Ask,
                EntryKind::Vcek,
                EntryKind::Unknown(Guid([7; 16]))
            ]
        );
        assert_eq!(
            t.vcek().unwrap().der().unwrap().as_ref(),
            &[0x30, 0x01, 0x03]
        );
    }
}
