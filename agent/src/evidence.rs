//! Evidence: the raw report plus the raw certificate table the host served, and the file formats
//! that carry them between the guest and a relying party.
//!
//! Every format keeps the report bytes exactly as the firmware signed them except `coco`, whose
//! JSON is the `sev` crate's *parsed* form: reading it re-encodes the report (see [`coco`]), so the
//! signature is checked over the re-encoding and fails closed if anything was lost.
//!
//! | format | what it is | written by |
//! |---|---|---|
//! | `json` | `{"format": "snp-agent-evidence/v1", "report": b64, "cert_table": b64, …}` plus a parsed view that readers ignore | snp-agent |
//! | `bin` | report ‖ certificate table (go-sev-guest `attest -extended -outform bin`) | go-sev-guest, snp-agent |
//! | `snpguest-dir` | `attestation-report.bin` + `certs/{ark,ask,vcek\|vlek}.pem` | snpguest (`report` + `certificates pem`) |
//! | `coco` | Trustee's `SnpEvidence` JSON: `{"attestation_report": …, "cert_chain": [{cert_type, data}]}` | CoCo attesters |
//! | `cmw` | a JSON CMW record of Veraison's `application/vnd.veraison.configfs-tsm+json` (see [`cmw`]) | ratsd, snp-agent |
//!
//! Readers treat every input as hostile: sizes are capped before anything is allocated for it,
//! and every failure is a typed [`EvidenceError`].

pub mod bin;
pub mod cmw;
pub mod coco;
pub mod json;
pub mod snpguest_dir;
pub mod view;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use snp_certs::report::{ReportView, SigningKey, REPORT_SIZE};
use snp_certs::table::{CertTable, EntryKind};
use snp_certs::verify::Endorsements;

use crate::backend::ExtendedReport;

/// The largest evidence file (or directory member) a reader accepts. A report with a 16 KiB
/// certificate table is about 23 KiB as JSON; the `coco` form writes bytes as JSON number arrays
/// (up to four characters per byte). 1 MiB leaves room for both while bounding allocation.
pub const MAX_EVIDENCE_FILE: u64 = 1024 * 1024;

/// The largest certificate table accepted inside evidence. Linux hands the guest at most 16 KiB
/// (`SEV_FW_BLOB_MAX_SIZE`); the raw GHCB path and the simulator can carry more, so allow 256 KiB.
pub const MAX_CERT_TABLE: usize = 256 * 1024;

/// The version tag of snp-agent's JSON evidence.
pub const JSON_FORMAT_V1: &str = "snp-agent-evidence/v1";

/// An extended report as the platform produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The ATTESTATION_REPORT bytes as received (normally exactly 0x4A0 bytes).
    pub report: Vec<u8>,
    /// The certificate table as the host served it; empty when the host served none.
    pub cert_table: Vec<u8>,
    /// Which backend produced it, when known. Informational only: nothing signs it.
    pub backend: Option<String>,
}

impl Evidence {
    /// Evidence from raw bytes.
    pub fn new(report: Vec<u8>, cert_table: Vec<u8>) -> Evidence {
        Evidence {
            report,
            cert_table,
            backend: None,
        }
    }

    /// Evidence from a backend's answer, remembering the backend's name.
    pub fn from_extended(ext: ExtendedReport, backend: &str) -> Evidence {
        Evidence {
            report: ext.report,
            cert_table: ext.cert_table,
            backend: Some(backend.to_string()),
        }
    }

    /// The endorsements the host served, for [`snp_certs::verify::Verifier::verify`]: the
    /// VCEK or VLEK (the one the report's signer field names; the other if only that one is
    /// there, so the verifier's `signer_binding` check reports the mismatch), the host's ASK/ASVK
    /// and ARK as hints, and a CRL if one was served (as [`Endorsements::host_crl`]: the
    /// verifier enforces its revocations but only warns when it is stale, unless the relying party
    /// asked for CRL checking). `None` when the host served no VCEK/VLEK (fetch one from KDS).
    /// PEM entries are converted to DER.
    pub fn endorsements(&self) -> Result<Option<Endorsements>, EvidenceError> {
        if self.cert_table.is_empty() {
            return Ok(None);
        }
        let table = CertTable::parse(&self.cert_table)?;
        let wants_vlek = ReportView::new(&self.report)
            .map(|v| v.signing_key() == SigningKey::Vlek)
            .unwrap_or(false);
        let (first, second) = if wants_vlek {
            (table.vlek(), table.vcek())
        } else {
            (table.vcek(), table.vlek())
        };
        let Some(vek) = first.or(second) else {
            return Ok(None);
        };
        let der = |e: Option<&snp_certs::table::Entry<'_>>| {
            e.map(|e| e.der().map(|d| d.into_owned())).transpose()
        };
        let mut endorsements = Endorsements::new(vek.der()?.into_owned())
            .with_host_chain(der(table.ask())?, der(table.ark())?);
        if let Some(crl) = der(table.get(EntryKind::Crl))? {
            endorsements = endorsements.with_host_crl(crl);
        }
        Ok(Some(endorsements))
    }

    /// Check the sizes every reader and writer relies on.
    pub fn check_sizes(&self) -> Result<(), EvidenceError> {
        if self.report.len() != REPORT_SIZE {
            return Err(EvidenceError::ReportLength {
                len: self.report.len(),
            });
        }
        if self.cert_table.len() > MAX_CERT_TABLE {
            return Err(EvidenceError::TooLarge {
                what: "certificate table",
                len: self.cert_table.len() as u64,
                max: MAX_CERT_TABLE as u64,
            });
        }
        Ok(())
    }

    /// Encode in a byte format (`json`, `bin`, `coco`). `snpguest-dir` is a directory: use
    /// [`Evidence::write_path`].
    pub fn to_bytes(&self, format: Format) -> Result<Vec<u8>, EvidenceError> {
        self.check_sizes()?;
        match format {
            Format::Json => json::write(self),
            Format::Bin => Ok(bin::write(self)),
            Format::Coco => coco::write(self),
            Format::Cmw => cmw::write(self),
            Format::SnpguestDir => Err(EvidenceError::NeedsDirectory),
        }
    }

    /// Decode bytes in `format`, or detect the format when `None`. Returns the format read.
    pub fn from_bytes(
        bytes: &[u8],
        format: Option<Format>,
    ) -> Result<(Evidence, Format), EvidenceError> {
        if bytes.len() as u64 > MAX_EVIDENCE_FILE {
            return Err(EvidenceError::TooLarge {
                what: "evidence",
                len: bytes.len() as u64,
                max: MAX_EVIDENCE_FILE,
            });
        }
        let format = match format {
            Some(f) => f,
            None => detect_bytes(bytes)?,
        };
        let ev = match format {
            Format::Json => json::read(bytes)?,
            Format::Bin => bin::read(bytes)?,
            Format::Coco => coco::read(bytes)?,
            Format::Cmw => cmw::read(bytes)?,
            Format::SnpguestDir => return Err(EvidenceError::NeedsDirectory),
        };
        ev.check_sizes()?;
        Ok((ev, format))
    }

    /// Read evidence from a file or (snpguest layout) a directory, detecting the format unless
    /// one is given. `-` reads standard input.
    pub fn read_path(
        path: &Path,
        format: Option<Format>,
    ) -> Result<(Evidence, Format), EvidenceError> {
        if path == Path::new("-") {
            let bytes = read_capped(std::io::stdin().lock(), MAX_EVIDENCE_FILE, path)?;
            return Evidence::from_bytes(&bytes, format);
        }
        let meta = std::fs::metadata(path).map_err(|e| EvidenceError::io(path, e))?;
        if meta.is_dir() || format == Some(Format::SnpguestDir) {
            if !meta.is_dir() {
                return Err(EvidenceError::NotADirectory(path.to_path_buf()));
            }
            if let Some(f) = format {
                if f != Format::SnpguestDir {
                    return Err(EvidenceError::IsADirectory {
                        path: path.to_path_buf(),
                        format: f,
                    });
                }
            }
            let ev = snpguest_dir::read(path)?;
            ev.check_sizes()?;
            return Ok((ev, Format::SnpguestDir));
        }
        let bytes = read_file_capped(path, MAX_EVIDENCE_FILE)?;
        Evidence::from_bytes(&bytes, format)
    }

    /// Write evidence to `path` in `format` (a directory for `snpguest-dir`, created if missing).
    /// Files are written through a randomly named new file and renamed, so a reader never sees
    /// half and a planted symbolic link is never followed (see `write_atomic`).
    pub fn write_path(&self, path: &Path, format: Format) -> Result<(), EvidenceError> {
        self.check_sizes()?;
        if format == Format::SnpguestDir {
            return snpguest_dir::write(self, path);
        }
        let bytes = self.to_bytes(format)?;
        write_atomic(path, &bytes)
    }
}

/// The evidence formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// snp-agent's JSON.
    Json,
    /// report ‖ certificate table.
    Bin,
    /// snpguest's directory layout.
    SnpguestDir,
    /// CoCo/Trustee `SnpEvidence` JSON.
    Coco,
    /// A CMW record (Veraison / ratsd).
    Cmw,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Format::Json,
        Format::Bin,
        Format::SnpguestDir,
        Format::Coco,
        Format::Cmw,
    ];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Bin => "bin",
            Format::SnpguestDir => "snpguest-dir",
            Format::Coco => "coco",
            Format::Cmw => "cmw",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown evidence format {s:?}: expected json, bin, snpguest-dir, coco or cmw"
                )
            })
    }
}

/// Tell the byte formats apart: JSON objects by their keys, anything else as `bin`.
pub fn detect_bytes(bytes: &[u8]) -> Result<Format, EvidenceError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        None => Err(EvidenceError::Empty),
        Some(b'{') => {
            // Only the top-level keys matter; values are skipped without being kept.
            #[derive(serde::Deserialize)]
            struct Probe {
                format: Option<serde::de::IgnoredAny>,
                attestation_report: Option<serde::de::IgnoredAny>,
            }
            let probe: Probe = serde_json::from_slice(bytes).map_err(|e| EvidenceError::Json {
                format: "JSON evidence",
                reason: e.to_string(),
            })?;
            match (probe.format.is_some(), probe.attestation_report.is_some()) {
                (true, _) => Ok(Format::Json),
                (false, true) => Ok(Format::Coco),
                (false, false) => Err(EvidenceError::UnknownJson),
            }
        }
        // A report starts with its little-endian version (2, 3, 5): never '['.
        Some(b'[') => Ok(Format::Cmw),
        Some(_) if bytes.len() >= REPORT_SIZE => Ok(Format::Bin),
        Some(_) => Err(EvidenceError::UnknownFormat { len: bytes.len() }),
    }
}

/// Why evidence could not be read or written. Messages name the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// A file system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Input over a size cap.
    #[error("{what} is {len} bytes, more than the {max}-byte limit: not SEV-SNP evidence")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: u64,
        /// The cap.
        max: u64,
    },
    /// Empty input.
    #[error("evidence is empty")]
    Empty,
    /// Neither JSON nor long enough to hold a report.
    #[error("cannot tell the evidence format of {len} bytes: not JSON and shorter than a {REPORT_SIZE}-byte report (use --in-format)")]
    UnknownFormat {
        /// Input length.
        len: usize,
    },
    /// JSON without the keys of either JSON format.
    #[error("JSON has neither a \"format\" key (snp-agent evidence) nor an \"attestation_report\" key (CoCo evidence)")]
    UnknownJson,
    /// Malformed JSON of a known format.
    #[error("malformed {format}: {reason}")]
    Json {
        /// Which format was being read.
        format: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// A version tag this build does not read.
    #[error("unsupported evidence format {0:?}: this snp-agent reads {JSON_FORMAT_V1:?}")]
    UnsupportedVersion(String),
    /// Bad base64 in a JSON field.
    #[error("field {field:?} is not valid base64: {reason}")]
    Base64 {
        /// The field.
        field: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// A report of the wrong length.
    #[error("attestation report is {len} bytes, expected exactly {REPORT_SIZE}")]
    ReportLength {
        /// Length found.
        len: usize,
    },
    /// The certificate table could not be parsed (for formats that split it into files).
    #[error("certificate table: {0}")]
    Table(#[from] snp_certs::table::TableError),
    /// A table entry's payload is not a usable certificate encoding.
    #[error("certificate table entry: {0}")]
    Payload(#[from] snp_certs::table::PayloadError),
    /// A table could not be built from separate certificates.
    #[error("cannot build a certificate table: {0}")]
    Build(#[from] snp_certs::table::BuildError),
    /// The `sev` crate could not represent the report (CoCo format).
    #[error("CoCo evidence: {0}")]
    Coco(String),
    /// The snpguest directory is incomplete or ambiguous.
    #[error("snpguest directory {}: {reason}", dir.display())]
    SnpguestDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `snpguest-dir` asked for where only a byte stream is possible.
    #[error("the snpguest-dir format is a directory: give a directory path (--out DIR)")]
    NeedsDirectory,
    /// `--in-format snpguest-dir` on a file.
    #[error("{} is not a directory (the snpguest-dir format is a directory)", .0.display())]
    NotADirectory(PathBuf),
    /// A directory given with a byte format.
    #[error("{} is a directory, but --in-format {format} is a file format", path.display())]
    IsADirectory {
        /// The path.
        path: PathBuf,
        /// The format requested.
        format: Format,
    },
}

impl EvidenceError {
    fn io(path: &Path, source: std::io::Error) -> EvidenceError {
        EvidenceError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Read at most `max` bytes from `r`; more is an error rather than a truncation.
pub(crate) fn read_capped(r: impl Read, max: u64, path: &Path) -> Result<Vec<u8>, EvidenceError> {
    let mut buf = Vec::new();
    r.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| EvidenceError::io(path, e))?;
    if buf.len() as u64 > max {
        return Err(EvidenceError::TooLarge {
            what: "evidence file",
            len: buf.len() as u64,
            max,
        });
    }
    Ok(buf)
}

/// Open and read a file with a size cap.
pub(crate) fn read_file_capped(path: &Path, max: u64) -> Result<Vec<u8>, EvidenceError> {
    let f = std::fs::File::open(path).map_err(|e| EvidenceError::io(path, e))?;
    read_capped(f, max, path)
}

/// Write `bytes` to `path` atomically without following links: a new file with a random name is
/// created in the target's directory with `O_CREAT | O_EXCL` (so a symbolic link planted under
/// any name is never opened, let alone truncated — `attest` often runs as root in a shared
/// directory), filled, flushed to disk and renamed over `path`. The rename replaces a link at
/// `path` itself rather than writing through it. A reader sees the old file or the whole new
/// one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EvidenceError> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "evidence".into());
    // 0644 before the umask, as `std::fs::write` would create it: evidence is not secret.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| EvidenceError::io(dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| EvidenceError::io(tmp.path(), e))?;
    // On failure the temporary file is removed when the error drops it.
    tmp.persist(path)
        .map(drop)
        .map_err(|e| EvidenceError::io(path, e.error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
        }
        assert!("yaml".parse::<Format>().is_err());
    }

    #[test]
    fn detection() {
        assert!(matches!(detect_bytes(b""), Err(EvidenceError::Empty)));
        assert!(matches!(detect_bytes(b"  \n"), Err(EvidenceError::Empty)));
        assert_eq!(detect_bytes(b" {\"format\": 1}").unwrap(), Format::Json);
        assert_eq!(
            detect_bytes(b"{\"attestation_report\": {}, \"cert_chain\": null}").unwrap(),
            Format::Coco
        );
        assert!(matches!(
            detect_bytes(b"{\"x\": 1}"),
            Err(EvidenceError::UnknownJson)
        ));
        assert!(matches!(
            detect_bytes(&[1u8; 100]),
            Err(EvidenceError::UnknownFormat { len: 100 })
        ));
        assert_eq!(detect_bytes(&[0u8; REPORT_SIZE]).unwrap(), Format::Bin);
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = vec![b' '; MAX_EVIDENCE_FILE as usize + 1];
        assert!(matches!(
            Evidence::from_bytes(&big, None),
            Err(EvidenceError::TooLarge { .. })
        ));
    }

    #[test]
    fn read_capped_refuses_more() {
        let data = [7u8; 10];
        assert_eq!(
            read_capped(&data[..], 10, Path::new("x")).unwrap().len(),
            10
        );
        assert!(matches!(
            read_capped(&data[..], 9, Path::new("x")),
            Err(EvidenceError::TooLarge {
                len: 10,
                max: 9,
                ..
            })
        ));
    }

    use crate::test_data::real;

    #[test]
    fn endorsements_from_real_tables() {
        // veraison configfs-tsm auxblob: ARK, ASK, VCEK as PEM (Genoa).
        let ev = Evidence::new(
            real("veraison/sevsnp-tsm-report_8d8bfb3e.bin"),
            real("veraison/sevsnp-tsm-report_9e37aaf8.certtable.bin"),
        );
        let e = ev.endorsements().unwrap().unwrap();
        assert_eq!(e.vek, real("veraison/sevsnp-tsm-report_vcek_ab5a6bc8.der"));
        assert!(e.ask.as_ref().is_some_and(|d| d[0] == 0x30));
        assert!(e.ark.as_ref().is_some_and(|d| d[0] == 0x30));
        assert!(e.crl.is_none() && e.host_crl.is_none());
        // A CRL in the host's table is the host's, never the relying party's.
        let crl = real("cyntrisec-cml-transport/crl_886a378d.crl");
        let table = CertTable::parse(&ev.cert_table).unwrap();
        let mut b = snp_certs::table::CertTableBuilder::new();
        for entry in table.entries() {
            b.push(entry.guid, entry.bytes.to_vec());
        }
        b.push_kind(EntryKind::Crl, crl.clone());
        let with_crl = Evidence::new(ev.report.clone(), b.build().unwrap());
        let e = with_crl.endorsements().unwrap().unwrap();
        assert_eq!((e.host_crl, e.crl), (Some(crl), None));
        // AWS: a VLEK only (DER) in a 4 KiB buffer.
        let ev = Evidence::new(
            real("constellation/aws_report_valid_5e8e4390.bin")[..REPORT_SIZE].to_vec(),
            real("constellation/aws_certs_valid_4c676382.certtable.bin"),
        );
        let e = ev.endorsements().unwrap().unwrap();
        assert_eq!(e.vek, real("constellation/certs_valid_vlek_f8b8421b.der"));
        assert!(e.ask.is_none() && e.ark.is_none());
        // Nothing served.
        let ev = Evidence::new(ev.report, Vec::new());
        assert!(ev.endorsements().unwrap().is_none());
        let ev = Evidence::new(ev.report, vec![0u8; 24]);
        assert!(ev.endorsements().unwrap().is_none());
    }

    #[test]
    fn write_atomic_leaves_a_planted_symlink_untouched() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("evidence.json");
        // Links at the names the old writer used (`.NAME.tmp.PID.N`), which it opened with
        // `std::fs::write` and so truncated the victim through; and one at the target itself.
        for n in 0..16 {
            let name = format!(".evidence.json.tmp.{}.{n}", std::process::id());
            std::os::unix::fs::symlink(&victim, d.path().join(name)).unwrap();
        }
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        let ev = Evidence::new(vec![7u8; REPORT_SIZE], Vec::new());
        ev.write_path(&target, Format::Bin).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(
            meta.file_type().is_file(),
            "the link was replaced, not written through"
        );
        assert_eq!(std::fs::read(&target).unwrap(), ev.report);
        // Readable like a file `std::fs::write` creates (0644 under the umask), and nothing
        // left behind but the planted links and the target.
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o600, 0o600);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 17);
        // A failed write (no such directory) leaves no file either.
        assert!(ev
            .write_path(&d.path().join("missing/evidence.bin"), Format::Bin)
            .is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let _ = Evidence::from_bytes(&bytes, None);
            for f in [Format::Json, Format::Bin, Format::Coco, Format::Cmw] {
                let _ = Evidence::from_bytes(&bytes, Some(f));
            }
        }

        #[test]
        fn json_readers_never_panic_on_jsonish_input(
            s in "\\{(\"(format|report|cert_table|attestation_report|cert_chain|backend)\": ?(\"[A-Za-z0-9+/=.-]{0,40}\"|\\[[0-9, ]{0,40}\\]|null|\\{\\}|[0-9]{1,5}), ?){0,5}\"x\": 0\\}"
        ) {
            let _ = Evidence::from_bytes(s.as_bytes(), None);
            let _ = Evidence::from_bytes(s.as_bytes(), Some(Format::Coco));
            let _ = Evidence::from_bytes(s.as_bytes(), Some(Format::Json));
        }
    }
}
