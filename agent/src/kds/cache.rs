//! The on-disk certificate cache, which doubles as an air-gapped store.
//!
//! # Layout
//!
//! ```text
//! <cache dir>/                        $SNP_AGENT_CACHE_DIR, else $XDG_CACHE_HOME/snp-agent,
//! │                                   else $HOME/.cache/snp-agent
//! ├── Milan/                          one directory per product line: Milan, Genoa, Turin
//! │   ├── cert_chain.pem              VCEK CA chain as KDS serves it: ASK then ARK (PEM)
//! │   ├── vlek_cert_chain.pem         VLEK CA chain: ASVK then ARK (PEM)
//! │   ├── crl.der                     VCEK CRL (DER, signed by the ARK)
//! │   ├── vlek_crl.der                VLEK CRL (DER)
//! │   └── vcek/
//! │       └── <hwid>/                 hwID in lower-case hex: the 64-byte CHIP_ID (128 digits)
//! │           └── bl3-tee0-snp8-ucode115.der     the VCEK for that TCB (DER)
//! └── Turin/
//!     └── vcek/
//!         └── <hwid>/                 Turin: the first 8 bytes of CHIP_ID (16 digits)
//!             └── fmc0-bl1-tee0-snp2-ucode71.der
//! ```
//!
//! The key of a VCEK is (product, hwID, full TCB including FMC), which is exactly what KDS
//! issues one certificate for. SPLs are decimal. A VCEK may also be stored as `.pem` (one
//! `CERTIFICATE` block) under the same name; `.der` is read first.
//!
//! To fill a store for a machine without network access, copy files into this layout — e.g.
//! `curl -o Milan/vcek/<hwid>/bl3-tee0-snp8-ucode115.der '<KDS VCEK URL>'` — or import an
//! snpguest certificate directory (`ark.pem`, `ask.pem`, `vcek.pem` or `.der`). Nothing read
//! from here is trusted as is: every certificate is verified against the trust anchors (AMD's
//! pinned roots by default) each time it is loaded, so a hand-filled or tampered store cannot
//! slip in a certificate the network path would have rejected.
//!
//! Writes are atomic: a temporary file in the same directory, flushed, then renamed over the
//! target, so a concurrent reader sees the old file or the new one, never half of one.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use snp_certs::kds::{Endorser, HwId};
use snp_certs::product::Product;
use snp_certs::tcb::Tcb;

use super::error::KdsError;

/// Environment variable overriding the cache directory.
pub const CACHE_DIR_ENV: &str = "SNP_AGENT_CACHE_DIR";

/// Largest file read from the cache (certificates are ~1.4 KiB, chains ~4.5 KiB, CRLs a few
/// KiB); a bigger file is not one of ours.
pub const MAX_CACHE_FILE: u64 = 256 * 1024;

/// A cache directory with the documented layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCache {
    root: PathBuf,
}

/// The default cache directory: `$SNP_AGENT_CACHE_DIR`, else `$XDG_CACHE_HOME/snp-agent`,
/// else `$HOME/.cache/snp-agent`. Empty variables count as unset; a relative
/// `XDG_CACHE_HOME` is ignored, as the XDG spec says.
pub fn default_cache_dir() -> Option<PathBuf> {
    cache_dir_from(|k| std::env::var_os(k))
}

/// [`default_cache_dir`] over any variable lookup (testable without touching the process
/// environment).
fn cache_dir_from(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let var = |k: &str| lookup(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = var(CACHE_DIR_ENV) {
        return Some(d);
    }
    if let Some(x) = var("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Some(x.join("snp-agent"));
    }
    var("HOME").map(|h| h.join(".cache").join("snp-agent"))
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl DiskCache {
    /// A cache rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> DiskCache {
        DiskCache { root: root.into() }
    }

    /// `dir` if given, else [`default_cache_dir`].
    pub fn from_env_or(dir: Option<&Path>) -> Result<DiskCache, KdsError> {
        dir.map(Path::to_path_buf)
            .or_else(default_cache_dir)
            .map(DiskCache::new)
            .ok_or(KdsError::NoCacheDir)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn product_dir(&self, product: Product) -> PathBuf {
        self.root.join(product.kds_name())
    }

    /// Where the VCEK for (hwID, TCB) lives (the `.der` name).
    pub fn vcek_path(&self, hwid: &HwId, tcb: &Tcb) -> PathBuf {
        self.product_dir(hwid.product())
            .join("vcek")
            .join(hwid.to_hex())
            .join(format!("{}.der", tcb_file_stem(tcb)))
    }

    /// Where a CA chain lives.
    pub fn chain_path(&self, product: Product, endorser: Endorser) -> PathBuf {
        self.product_dir(product).join(match endorser {
            Endorser::Vcek => "cert_chain.pem",
            Endorser::Vlek => "vlek_cert_chain.pem",
        })
    }

    /// Where a CRL lives.
    pub fn crl_path(&self, product: Product, endorser: Endorser) -> PathBuf {
        self.product_dir(product).join(match endorser {
            Endorser::Vcek => "crl.der",
            Endorser::Vlek => "vlek_crl.der",
        })
    }

    /// Read a VCEK: the `.der` file, else a `.pem` file of the same stem. Returns the path
    /// that was read and its bytes.
    pub fn read_vcek(
        &self,
        hwid: &HwId,
        tcb: &Tcb,
    ) -> Result<Option<(PathBuf, Vec<u8>)>, KdsError> {
        let der = self.vcek_path(hwid, tcb);
        if let Some(b) = read_bounded(&der)? {
            return Ok(Some((der, b)));
        }
        let pem = der.with_extension("pem");
        Ok(read_bounded(&pem)?.map(|b| (pem, b)))
    }

    /// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), KdsError> {
        let dir = path.parent().ok_or_else(|| KdsError::BadFile {
            path: path.to_path_buf(),
            detail: "has no parent directory".into(),
        })?;
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| KdsError::Cache { path: p, source }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(io(&tmp))?;
            f.write_all(bytes).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
            drop(f);
            fs::rename(&tmp, path).map_err(io(path))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        // Make the rename itself durable; failure here only risks losing a cache entry.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// The file-name stem of a TCB in the cache: `bl3-tee0-snp8-ucode115`, with `fmc0-` first on
/// Turin.
pub fn tcb_file_stem(tcb: &Tcb) -> String {
    let base = format!(
        "bl{}-tee{}-snp{}-ucode{}",
        tcb.bl, tcb.tee, tcb.snp, tcb.microcode
    );
    match tcb.fmc {
        Some(f) => format!("fmc{f}-{base}"),
        None => base,
    }
}

/// Read a whole file of at most [`MAX_CACHE_FILE`] bytes; `None` if it does not exist.
pub fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, KdsError> {
    let f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KdsError::Cache {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut buf = Vec::new();
    f.take(MAX_CACHE_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|source| KdsError::Cache {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > MAX_CACHE_FILE {
        return Err(KdsError::BadFile {
            path: path.to_path_buf(),
            detail: format!("larger than {MAX_CACHE_FILE} bytes: not a certificate or CRL"),
        });
    }
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_precedence() {
        use std::collections::HashMap;
        use std::ffi::OsString;
        let env = |pairs: &[(&str, &str)]| {
            let m: HashMap<String, OsString> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), OsString::from(v)))
                .collect();
            cache_dir_from(move |k| m.get(k).cloned())
        };
        let all = [
            ("SNP_AGENT_CACHE_DIR", "/explicit"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(env(&all), Some(PathBuf::from("/explicit")));
        assert_eq!(env(&all[1..]), Some(PathBuf::from("/xdg/snp-agent")));
        assert_eq!(
            env(&all[2..]),
            Some(PathBuf::from("/home/u/.cache/snp-agent"))
        );
        // Empty and relative values are ignored.
        assert_eq!(
            env(&[
                ("SNP_AGENT_CACHE_DIR", ""),
                ("XDG_CACHE_HOME", "rel"),
                ("HOME", "/h")
            ]),
            Some(PathBuf::from("/h/.cache/snp-agent"))
        );
        assert_eq!(env(&[]), None);
    }

    #[test]
    fn layout() {
        let c = DiskCache::new("/c");
        let m = HwId::from_chip_id(Product::Milan, &[0xAB; 64]).unwrap();
        assert_eq!(
            c.vcek_path(&m, &Tcb::new(3, 0, 8, 115)),
            PathBuf::from(format!(
                "/c/Milan/vcek/{}/bl3-tee0-snp8-ucode115.der",
                "ab".repeat(64)
            ))
        );
        let mut chip = [0u8; 64];
        chip[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let t = HwId::from_chip_id(Product::Turin, &chip).unwrap();
        assert_eq!(
            c.vcek_path(&t, &Tcb::with_fmc(0, 1, 0, 2, 71)),
            PathBuf::from("/c/Turin/vcek/0102030405060708/fmc0-bl1-tee0-snp2-ucode71.der")
        );
        assert_eq!(
            c.chain_path(Product::Genoa, Endorser::Vcek),
            PathBuf::from("/c/Genoa/cert_chain.pem")
        );
        assert_eq!(
            c.chain_path(Product::Genoa, Endorser::Vlek),
            PathBuf::from("/c/Genoa/vlek_cert_chain.pem")
        );
        assert_eq!(
            c.crl_path(Product::Milan, Endorser::Vcek),
            PathBuf::from("/c/Milan/crl.der")
        );
        assert_eq!(
            c.crl_path(Product::Milan, Endorser::Vlek),
            PathBuf::from("/c/Milan/vlek_crl.der")
        );
    }

    #[test]
    fn atomic_write_and_bounded_read() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::new(dir.path());
        let p = dir.path().join("a/b/file.der");
        assert_eq!(read_bounded(&p).unwrap(), None);
        c.write_atomic(&p, b"one").unwrap();
        c.write_atomic(&p, b"two").unwrap();
        assert_eq!(read_bounded(&p).unwrap(), Some(b"two".to_vec()));
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("file.der")]);
        // Oversized files are refused.
        let big = dir.path().join("big");
        fs::write(&big, vec![0u8; MAX_CACHE_FILE as usize + 1]).unwrap();
        assert!(matches!(read_bounded(&big), Err(KdsError::BadFile { .. })));
    }

    #[test]
    fn pem_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::new(dir.path());
        let h = HwId::from_chip_id(Product::Milan, &[1; 64]).unwrap();
        let tcb = Tcb::new(1, 2, 3, 4);
        assert!(c.read_vcek(&h, &tcb).unwrap().is_none());
        let pem = c.vcek_path(&h, &tcb).with_extension("pem");
        c.write_atomic(&pem, b"PEM").unwrap();
        assert_eq!(c.read_vcek(&h, &tcb).unwrap(), Some((pem, b"PEM".to_vec())));
        let der = c.vcek_path(&h, &tcb);
        c.write_atomic(&der, b"DER").unwrap();
        assert_eq!(c.read_vcek(&h, &tcb).unwrap(), Some((der, b"DER".to_vec())));
    }
}
