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
//!
//! The directory is untrusted input, and `attest` often runs as root, so neither side follows a
//! symbolic link inside it: the writer creates every file under a random name with `O_EXCL`
//! and renames it into place (`write_atomic` in the parent module), and refuses a `certs` that
//! is a link; the reader opens members with `O_NOFOLLOW`, reads only regular files, and refuses
//! a link (copy the file in instead). Two files for one certificate (`vcek.pem` beside `vcek.der`) must hold the
//! same certificate, or the reader refuses the directory rather than pick one.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use snp_certs::report::REPORT_SIZE;
use snp_certs::table::{CertTable, CertTableBuilder, EntryKind, Guid};

use snp_certs::table::Entry;

use super::{read_capped, write_atomic, Evidence, EvidenceError};

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

/// Write `ev` into `dir` (created if missing). `DIR/certs` must be a real directory, not a link.
pub fn write(ev: &Evidence, dir: &Path) -> Result<(), EvidenceError> {
    let certs = dir.join("certs");
    if kind_of(&certs).is_some_and(|t| t.is_symlink()) {
        return Err(link_refused(dir, &certs));
    }
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

/// What a directory entry is, judged without following links.
fn kind_of(path: &Path) -> Option<std::fs::FileType> {
    std::fs::symlink_metadata(path).ok().map(|m| m.file_type())
}

/// Read a member of the directory: never through a symbolic link (`O_NOFOLLOW`), only a regular
/// file (a FIFO or device could block or never end; `O_NONBLOCK` keeps the open itself from
/// waiting on a FIFO), at most `max` bytes.
fn read_member(dir: &Path, path: &Path, max: u64) -> Result<Vec<u8>, EvidenceError> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(nix::libc::ELOOP) {
                link_refused(dir, path)
            } else {
                EvidenceError::io(path, e)
            }
        })?;
    let meta = f.metadata().map_err(|e| EvidenceError::io(path, e))?;
    if !meta.is_file() {
        return Err(dir_err(
            dir,
            format!("{} is not a regular file", path.display()),
        ));
    }
    read_capped(f, max, path)
}

fn link_refused(dir: &Path, path: &Path) -> EvidenceError {
    dir_err(
        dir,
        format!(
            "{} is a symbolic link; evidence directories are read without following links \
             (copy the file into the directory instead)",
            path.display()
        ),
    )
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
    // The first report name present (as any kind of entry: a link is refused, not skipped).
    let report_path = REPORT_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| kind_of(p).is_some())
        .ok_or_else(|| {
            dir_err(
                dir,
                format!("no report file (looked for {})", REPORT_NAMES.join(", ")),
            )
        })?;
    let report = read_member(dir, &report_path, REPORT_SIZE as u64)?;
    let sub = dir.join("certs");
    let certs_dir = match kind_of(&sub) {
        Some(t) if t.is_symlink() => return Err(link_refused(dir, &sub)),
        Some(t) if t.is_dir() => sub,
        _ => dir.to_path_buf(),
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
            let file_type = entry.file_type().map_err(|e| EvidenceError::Io {
                path: entry.path(),
                source: e,
            })?;
            if file_type.is_symlink() {
                return Err(link_refused(&certs_dir, &entry.path()));
            }
            if file_type.is_file() {
                found.push((stem, guid, entry.path()));
            }
        }
    }
    // One certificate per stem. snpguest keeps PEM; a second file for the same stem (say
    // vcek.der beside vcek.pem) is accepted only if it holds the same certificate — otherwise
    // which one is meant cannot be told, and picking one would verify something else than the
    // other tool sees.
    found.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
    let mut chosen: Vec<Member> = Vec::new();
    for (stem, guid, path) in found {
        let bytes = read_member(&certs_dir, &path, MAX_CERT_FILE)?;
        let member = Member {
            stem,
            guid,
            path,
            bytes,
        };
        match chosen.iter_mut().find(|c| c.stem == member.stem) {
            None => chosen.push(member),
            Some(c) => {
                if c.content() != member.content() {
                    return Err(dir_err(
                        &certs_dir,
                        format!(
                            "{} and {} hold different certificates for {:?}: remove the one \
                             that is not meant",
                            c.path.display(),
                            member.path.display(),
                            c.stem
                        ),
                    ));
                }
                if member.path.extension().is_some_and(|e| e == "pem") {
                    *c = member;
                }
            }
        }
    }
    let has = |s: &str| chosen.iter().any(|c| c.stem == s);
    if has("ask") && has("asvk") {
        // Keep the intermediate that matches the endorsement key present.
        let drop = if has("vlek") && !has("vcek") {
            "ask"
        } else {
            "asvk"
        };
        chosen.retain(|c| c.stem != drop);
    }
    let rank = |g: &Guid| match EntryKind::from_guid(*g) {
        EntryKind::Ark => 0,
        EntryKind::Ask => 1,
        EntryKind::Vcek => 2,
        EntryKind::Vlek => 3,
        EntryKind::Crl => 4,
        EntryKind::Unknown(_) => 5,
    };
    chosen.sort_by_key(|c| rank(&c.guid));

    let mut builder = CertTableBuilder::new();
    for m in &chosen {
        builder.push(m.guid, m.bytes.clone());
    }
    let cert_table = if chosen.is_empty() {
        tracing::info!(dir = %certs_dir.display(), "no certificate files found");
        Vec::new()
    } else {
        builder.build()?
    };
    Ok(Evidence::new(report, cert_table))
}

/// A certificate file read from the directory.
struct Member {
    stem: String,
    guid: Guid,
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Member {
    /// What the file holds, independent of its encoding: the DER of a certificate or CRL in
    /// PEM or DER, else (unknown entries, undecodable files) the bytes as they are.
    fn content(&self) -> std::borrow::Cow<'_, [u8]> {
        let entry = Entry {
            kind: EntryKind::from_guid(self.guid),
            guid: self.guid,
            offset: 0,
            bytes: &self.bytes,
        };
        entry
            .der()
            .unwrap_or(std::borrow::Cow::Borrowed(&self.bytes))
    }
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

    fn pem_of(der: &[u8]) -> Vec<u8> {
        pem("CERTIFICATE", der)
    }

    /// A directory with a report and `certs/`.
    fn skeleton() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(REPORT_NAMES[0]), [1u8; REPORT_SIZE]).unwrap();
        std::fs::create_dir(d.path().join("certs")).unwrap();
        d
    }

    #[test]
    fn two_different_files_for_one_certificate_are_refused() {
        let d = skeleton();
        let certs = d.path().join("certs");
        std::fs::write(certs.join("vcek.pem"), pem_of(&[0x30, 0x01, 0x03])).unwrap();
        std::fs::write(certs.join("vcek.der"), [0x30, 0x01, 0x04]).unwrap();
        let err = read(d.path()).expect_err("ambiguous").to_string();
        assert!(
            err.contains("vcek.der") && err.contains("vcek.pem") && err.contains("different"),
            "{err}"
        );
        // The same certificate in both encodings is one certificate: accepted, PEM kept.
        std::fs::write(certs.join("vcek.der"), [0x30, 0x01, 0x03]).unwrap();
        let ev = read(d.path()).unwrap();
        let t = CertTable::parse(&ev.cert_table).unwrap();
        assert_eq!(t.len(), 1);
        assert!(t.vcek().unwrap().is_pem());
        // Raw unknown entries are compared byte for byte.
        let g = "other-01020304-0506-0708-090a-0b0c0d0e0f10";
        std::fs::write(certs.join(format!("{g}.bin")), b"one").unwrap();
        std::fs::write(certs.join(format!("{g}.der")), b"two").unwrap();
        assert!(read(d.path()).is_err());
    }

    #[test]
    fn links_are_not_followed_out_of_the_directory() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.pem");
        std::fs::write(&secret, pem_of(&[0x30, 0x01, 0x09])).unwrap();

        // A certificate that is a link.
        let d = skeleton();
        std::os::unix::fs::symlink(&secret, d.path().join("certs/vcek.pem")).unwrap();
        let err = read(d.path()).expect_err("link").to_string();
        assert!(err.contains("symbolic link"), "{err}");

        // The report is a link.
        let d = tempfile::tempdir().unwrap();
        let report = outside.path().join("report");
        std::fs::write(&report, [1u8; REPORT_SIZE]).unwrap();
        std::os::unix::fs::symlink(&report, d.path().join(REPORT_NAMES[0])).unwrap();
        let err = read(d.path()).expect_err("link").to_string();
        assert!(err.contains("symbolic link"), "{err}");

        // `certs` is a link: refused by the reader and the writer (which would write into it).
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(REPORT_NAMES[0]), [1u8; REPORT_SIZE]).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("certs")).unwrap();
        let err = read(d.path()).expect_err("link").to_string();
        assert!(err.contains("symbolic link"), "{err}");
        let table = CertTableBuilder::new()
            .with(Guid::VCEK, vec![0x30, 0x01, 0x03])
            .build()
            .unwrap();
        let ev = Evidence::new(vec![1u8; REPORT_SIZE], table);
        assert!(write(&ev, d.path()).is_err());
        assert!(!outside.path().join("vcek.pem").exists());
    }

    #[test]
    fn a_fifo_report_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(
            &d.path().join(REPORT_NAMES[0]),
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .unwrap();
        let err = read(d.path()).expect_err("fifo").to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn writer_leaves_planted_links_alone() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("certs")).unwrap();
        // Links planted where the files go: the rename replaces the link, never writes through.
        std::os::unix::fs::symlink(&victim, d.path().join(REPORT_NAMES[0])).unwrap();
        std::os::unix::fs::symlink(&victim, d.path().join("certs/vcek.pem")).unwrap();
        let table = CertTableBuilder::new()
            .with(Guid::VCEK, vec![0x30, 0x01, 0x03])
            .build()
            .unwrap();
        let ev = Evidence::new(vec![1u8; REPORT_SIZE], table);
        write(&ev, d.path()).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let back = read(d.path()).unwrap();
        assert_eq!(back.report, ev.report);
    }
}
