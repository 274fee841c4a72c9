//! Converting evidence between forms (`snp-agent convert`) without losing anything silently.
//!
//! Every form carries the report bytes; they differ in how they carry the certificate table:
//! `json`, `bin` and `cmw` keep the table's bytes exactly as the host served them; `coco`
//! keeps each certificate (as DER) in the host's order but rebuilds the table around them;
//! `snpguest-dir` keeps each certificate as a file, one per kind, in no order. A conversion
//! is done by writing the target form and reading it back: if what comes back is not what went in
//! (as far as the target can carry it) the conversion is refused with [`ConvertError::Lossy`]
//! rather than producing evidence that says something else.

use std::path::Path;

use snp_certs::table::{CertTable, EntryKind};

use crate::evidence::{Evidence, EvidenceError, Format};

/// Why a conversion was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The target form's writer refused the input (e.g. a report the `sev` crate cannot
    /// represent, for `coco`).
    #[error("cannot write {format}: {source}")]
    Write {
        /// The target form.
        format: Format,
        /// Why.
        source: EvidenceError,
    },
    /// The target form would not carry the evidence faithfully.
    #[error(
        "{format} cannot carry this evidence: {what} would change; keep it as json, bin or cmw"
    )]
    Lossy {
        /// The target form.
        format: Format,
        /// What would be lost or altered.
        what: String,
    },
}

/// How faithfully a form carries the certificate table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFidelity {
    /// The table's bytes, exactly.
    Bytes,
    /// Each entry (kind and certificate) in the host's order.
    OrderedEntries,
    /// Each entry, in no particular order.
    Entries,
}

/// What `format` preserves of a certificate table.
pub fn table_fidelity(format: Format) -> TableFidelity {
    match format {
        Format::Json | Format::Bin | Format::Cmw => TableFidelity::Bytes,
        Format::Coco => TableFidelity::OrderedEntries,
        Format::SnpguestDir => TableFidelity::Entries,
    }
}

/// The entries of a table as (kind, certificate bytes): DER for certificates and CRLs (a PEM
/// entry and its DER are the same certificate), raw bytes for entries of unknown kind.
fn entries(table: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    if table.is_empty() {
        return Ok(Vec::new());
    }
    let t = CertTable::parse(table).map_err(|e| format!("the certificate table ({e})"))?;
    t.entries()
        .iter()
        .map(|e| {
            let bytes = match e.kind {
                EntryKind::Unknown(_) => e.bytes.to_vec(),
                _ => e
                    .der()
                    .map_err(|err| format!("the {} entry ({err})", e.kind.name()))?
                    .into_owned(),
            };
            Ok((e.kind.guid().to_string(), bytes))
        })
        .collect()
}

/// Does `back` (read from `format`) carry what `orig` carries, as far as `format` can?
pub fn check_faithful(
    orig: &Evidence,
    back: &Evidence,
    format: Format,
) -> Result<(), ConvertError> {
    let lossy = |what: String| ConvertError::Lossy { format, what };
    if orig.report != back.report {
        return Err(lossy("the report bytes".into()));
    }
    match table_fidelity(format) {
        TableFidelity::Bytes => {
            if orig.cert_table != back.cert_table {
                return Err(lossy("the certificate table bytes".into()));
            }
        }
        fidelity => {
            let mut a = entries(&orig.cert_table).map_err(lossy)?;
            let mut b = entries(&back.cert_table).map_err(lossy)?;
            if fidelity == TableFidelity::Entries {
                a.sort();
                b.sort();
            }
            if a != b {
                return Err(lossy(format!(
                    "the certificate entries ({} served, {} carried)",
                    a.len(),
                    b.len()
                )));
            }
        }
    }
    Ok(())
}

/// `ev` in a byte form, refused unless it reads back faithfully.
pub fn to_bytes(ev: &Evidence, format: Format) -> Result<Vec<u8>, ConvertError> {
    let write = |source| ConvertError::Write { format, source };
    let bytes = ev.to_bytes(format).map_err(write)?;
    let (back, _) = Evidence::from_bytes(&bytes, Some(format)).map_err(write)?;
    check_faithful(ev, &back, format)?;
    Ok(bytes)
}

/// Write `ev` to `path` in `format` (a directory for `snpguest-dir`), refused unless what is
/// written reads back faithfully. A byte form is checked before anything is written; a
/// directory is checked after writing, and removed again if it was created here and is lossy.
pub fn write_path(ev: &Evidence, format: Format, path: &Path) -> Result<(), ConvertError> {
    let write = |source| ConvertError::Write { format, source };
    if format != Format::SnpguestDir {
        let bytes = to_bytes(ev, format)?;
        return crate::evidence::write_atomic(path, &bytes).map_err(write);
    }
    // Refuse before writing what a directory evidently cannot hold: two entries of one kind.
    let table = entries(&ev.cert_table).map_err(|what| ConvertError::Lossy { format, what })?;
    let mut kinds: Vec<&String> = table.iter().map(|(k, _)| k).collect();
    kinds.sort();
    if kinds.windows(2).any(|w| w[0] == w[1]) {
        return Err(ConvertError::Lossy {
            format,
            what: "two certificates of one kind (a directory holds one file per kind)".into(),
        });
    }
    let existed = path.exists();
    ev.write_path(path, format).map_err(write)?;
    let (back, _) = Evidence::read_path(path, Some(format)).map_err(write)?;
    if let Err(e) = check_faithful(ev, &back, format) {
        if !existed {
            let _ = std::fs::remove_dir_all(path);
        }
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::report::REPORT_SIZE;
    use snp_certs::table::{CertTableBuilder, Guid};

    #[test]
    fn duplicate_kinds_cannot_go_to_a_directory() {
        let table = CertTableBuilder::new()
            .with(Guid([7; 16]), b"first".to_vec())
            .with(Guid([7; 16]), b"second".to_vec())
            .build()
            .unwrap();
        let mut report = vec![0u8; REPORT_SIZE];
        report[0] = 2;
        let ev = Evidence::new(report, table);
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("dir");
        assert!(matches!(
            write_path(&ev, Format::SnpguestDir, &out),
            Err(ConvertError::Lossy { .. })
        ));
        assert!(!out.exists());
        // The byte forms carry it.
        for f in [Format::Json, Format::Bin, Format::Cmw] {
            to_bytes(&ev, f).unwrap();
        }
    }

    #[test]
    fn reordering_is_loss_for_coco_not_for_a_directory() {
        let mut report = vec![0u8; REPORT_SIZE];
        report[0] = 2;
        let a = CertTableBuilder::new()
            .with(Guid::VCEK, vec![0x30, 0x00])
            .with(Guid::ARK, vec![0x30, 0x01, 0x00])
            .build()
            .unwrap();
        let b = CertTableBuilder::new()
            .with(Guid::ARK, vec![0x30, 0x01, 0x00])
            .with(Guid::VCEK, vec![0x30, 0x00])
            .build()
            .unwrap();
        let (ea, eb) = (Evidence::new(report.clone(), a), Evidence::new(report, b));
        assert!(check_faithful(&ea, &eb, Format::SnpguestDir).is_ok());
        assert!(check_faithful(&ea, &eb, Format::Coco).is_err());
        assert!(check_faithful(&ea, &eb, Format::Bin).is_err());
    }
}
