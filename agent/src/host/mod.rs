//! Host-side certificate blob tooling behind `snp-agent host blob build|show|install|fetch`:
//! what an operator needs to serve guests a correct blob (QEMU's `certs-filename`).
//!
//! **Entry order** of a built blob: ARK, ASK (or ASVK), VCEK, VLEK, CRL — each present only if
//! given — the order the simulator and the usual host tools use (roots first). Readers must not
//! depend on it (the GUIDs say what each entry is), but a fixed order keeps blobs comparable.
//! The table is padded with zeros to a whole number of 4 KiB pages: the guest's buffer is
//! counted in pages, so the host's INVALID_LEN answer then equals what the file occupies.
//!
//! **Install** replaces the file atomically under the lock scheme of [`snp_certs::blob`]: both
//! an OFD write lock and an exclusive `flock`, held from before the rename until the new file
//! is in place, so neither an OFD reader (QEMU) nor a `flock` reader sees a torn or half-updated
//! blob.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use snp_certs::blob::{BlobError, ExclusiveBlob, LockKind, SharedBlob};
use snp_certs::chain::{pem_certificates, AmdCert};
use snp_certs::product::Product;
use snp_certs::roots::TrustAnchors;
use snp_certs::table::{BuildError, CertTable, CertTableBuilder, EntryKind, TableError, PAGE_SIZE};
use snp_certs::verify::Verifier;

/// Why a blob could not be built, read or installed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// An input certificate file could not be read.
    #[error("cannot read {what} from {path}: {source}")]
    Read {
        /// Which input.
        what: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An input is not the one certificate it should be.
    #[error("{what} in {path}: {detail}")]
    BadInput {
        /// Which input.
        what: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// Neither a VCEK nor a VLEK was given.
    #[error("a blob needs a VCEK or a VLEK (--vcek / --vlek): guests verify against it")]
    NoVek,
    /// The table could not be encoded.
    #[error("cannot build the certificate table: {0}")]
    Build(#[from] BuildError),
    /// The blob is not a valid certificate table.
    #[error("not a valid certificate table: {0}")]
    Table(#[from] TableError),
    /// Locking, reading or replacing the blob file failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// The DER certificates to put in a blob (each optional; at least a VCEK or VLEK).
#[derive(Debug, Clone, Default)]
pub struct BlobInputs {
    /// ARK.
    pub ark: Option<Vec<u8>>,
    /// ASK (for a VCEK) or ASVK (for a VLEK).
    pub ask: Option<Vec<u8>>,
    /// VCEK.
    pub vcek: Option<Vec<u8>>,
    /// VLEK.
    pub vlek: Option<Vec<u8>>,
    /// CRL (DER), if the operator serves one.
    pub crl: Option<Vec<u8>>,
}

/// Read one certificate (PEM with exactly one block, or DER) from `path`.
pub fn read_cert_file(what: &'static str, path: &Path) -> Result<Vec<u8>, HostError> {
    let bytes = std::fs::read(path).map_err(|source| HostError::Read {
        what,
        path: path.display().to_string(),
        source,
    })?;
    let bad = |detail: String| HostError::BadInput {
        what,
        path: path.display().to_string(),
        detail,
    };
    if bytes.len() > snp_certs::table::MAX_PEM_LEN {
        return Err(bad(format!(
            "{} bytes is too large for one certificate",
            bytes.len()
        )));
    }
    let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let mut blocks = pem_certificates(&bytes).map_err(|e| bad(e.to_string()))?;
        if blocks.len() != 1 {
            return Err(bad(format!(
                "{} PEM certificates; give one certificate per option",
                blocks.len()
            )));
        }
        blocks.remove(0)
    } else {
        bytes
    };
    Ok(der)
}

/// Build the blob (see the module docs for the order and padding). Every certificate is parsed
/// first, so a swapped or garbled input is refused instead of served.
pub fn build_blob(inputs: &BlobInputs) -> Result<Vec<u8>, HostError> {
    if inputs.vcek.is_none() && inputs.vlek.is_none() {
        return Err(HostError::NoVek);
    }
    let check = |what: &'static str, der: &[u8]| -> Result<(), HostError> {
        AmdCert::from_der(what, der)
            .map(drop)
            .map_err(|e| HostError::BadInput {
                what,
                path: "the input".into(),
                detail: e.to_string(),
            })
    };
    let mut b = CertTableBuilder::new();
    for (kind, what, der) in [
        (EntryKind::Ark, "ARK", &inputs.ark),
        (EntryKind::Ask, "ASK", &inputs.ask),
        (EntryKind::Vcek, "VCEK", &inputs.vcek),
        (EntryKind::Vlek, "VLEK", &inputs.vlek),
    ] {
        if let Some(der) = der {
            check(what, der)?;
            b.push_kind(kind, der.clone());
        }
    }
    if let Some(crl) = &inputs.crl {
        b.push_kind(EntryKind::Crl, crl.clone());
    }
    Ok(b.build_padded(PAGE_SIZE)?)
}

/// One entry of a blob, as `host blob show` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryInfo {
    /// ARK, ASK, VCEK, VLEK, CRL or unknown.
    pub kind: String,
    /// The GUID.
    pub guid: String,
    /// Payload offset.
    pub offset: u32,
    /// Payload length.
    pub length: usize,
}

/// What the blob's VCEK or VLEK is for.
#[derive(Debug, Clone, Serialize)]
pub struct VekInfo {
    /// VCEK or VLEK.
    pub kind: String,
    /// Product line (from productName).
    pub product: Option<String>,
    /// The TCB it certifies.
    pub tcb: Option<String>,
    /// hwID (the chip, VCEK only), hex.
    pub hw_id: Option<String>,
    /// cspId (VLEK only).
    pub csp_id: Option<String>,
    /// Why any of the above is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `host blob show`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct BlobInfo {
    /// Bytes in the file.
    pub size: usize,
    /// Bytes the table uses (header and payloads).
    pub used: usize,
    /// Entries in table order.
    pub entries: Vec<EntryInfo>,
    /// The VCEK or VLEK (a VCEK first when both are present).
    pub vek: Option<VekInfo>,
    /// Whether the VEK chains to the trust anchors, and the served ASK/ARK are the anchors'.
    pub chain_verifies: bool,
    /// What the chain check found.
    pub chain_detail: String,
}

/// Describe `blob` and check its chain against `anchors` (AMD's pinned roots normally).
pub fn describe(blob: &[u8], anchors: &TrustAnchors) -> Result<BlobInfo, HostError> {
    let table = CertTable::parse(blob)?;
    let entries = table
        .entries()
        .iter()
        .map(|e| EntryInfo {
            kind: e.kind.name().to_string(),
            guid: e.guid.to_string(),
            offset: e.offset,
            length: e.bytes.len(),
        })
        .collect();
    let vek_entry = table
        .vcek()
        .map(|e| (EntryKind::Vcek, e))
        .or_else(|| table.vlek().map(|e| (EntryKind::Vlek, e)));
    let mut vek = None;
    let mut chain = (false, "no VCEK or VLEK in the blob".to_string());
    if let Some((kind, entry)) = vek_entry {
        let role = if kind == EntryKind::Vcek {
            "VCEK"
        } else {
            "VLEK"
        };
        let mut info = VekInfo {
            kind: role.into(),
            product: None,
            tcb: None,
            hw_id: None,
            csp_id: None,
            error: None,
        };
        match entry
            .der()
            .map_err(|e| e.to_string())
            .and_then(|d| AmdCert::from_der(role, &d).map_err(|e| e.to_string()))
        {
            Ok(cert) => {
                let x = cert.amd_extensions();
                info.hw_id = x.hw_id.as_deref().map(hex::encode);
                info.csp_id = x.csp_id.clone();
                match x.product(role) {
                    Ok(p) => {
                        info.product = Some(p.to_string());
                        match x.tcb(role, p) {
                            Ok(t) => info.tcb = Some(t.to_string()),
                            Err(e) => info.error = Some(e.to_string()),
                        }
                        chain = check_chain(&table, cert.der(), p, anchors);
                    }
                    Err(e) => info.error = Some(e.to_string()),
                }
            }
            Err(e) => info.error = Some(e),
        }
        vek = Some(info);
    }
    Ok(BlobInfo {
        size: blob.len(),
        used: table.used_len(),
        entries,
        vek,
        chain_verifies: chain.0,
        chain_detail: chain.1,
    })
}

fn check_chain(
    table: &CertTable<'_>,
    vek_der: &[u8],
    product: Product,
    anchors: &TrustAnchors,
) -> (bool, String) {
    let Some(set) = anchors.get(product) else {
        return (false, format!("no trust anchors for {product}"));
    };
    for (entry, want, anchor) in [
        (table.ark(), "ARK", Some(set.ark())),
        (table.ask(), "ASK/ASVK", None),
    ] {
        let Some(entry) = entry else { continue };
        let Ok(der) = entry.der() else {
            return (false, format!("the blob's {want} is not readable"));
        };
        let Ok(cert) = AmdCert::from_der(want, &der) else {
            return (false, format!("the blob's {want} is not a certificate"));
        };
        let matches = match anchor {
            Some(a) => a.spki_der() == cert.spki_der(),
            None => [set.ask(), set.asvk()]
                .into_iter()
                .flatten()
                .any(|a| a.spki_der() == cert.spki_der()),
        };
        if !matches {
            return (
                false,
                format!("the blob's {want} is not {product}'s pinned {want}"),
            );
        }
    }
    match Verifier::new(anchors.clone()).verify_vek(vek_der, product) {
        Ok(v) => (
            true,
            format!(
                "the {} chains to the {} {product} roots",
                v.kind(),
                if anchors.is_amd() {
                    "AMD pinned"
                } else {
                    "given"
                }
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// Validate `blob` and install it at `path`: atomic replace under the exclusive locks (OFD and
/// `flock`), waiting at most `timeout` for readers to let go.
pub fn install(blob: &[u8], path: &Path, timeout: Duration) -> Result<(), HostError> {
    CertTable::parse(blob)?;
    let mut ex = ExclusiveBlob::acquire(path, timeout)?;
    ex.replace(blob)?;
    Ok(())
}

/// Read an installed blob under a shared lock of `kind` (never a torn or mid-update read).
pub fn read_locked(path: &Path, kind: LockKind, timeout: Duration) -> Result<Vec<u8>, HostError> {
    Ok(SharedBlob::acquire_kind(path, kind, timeout)?
        .bytes()
        .to_vec())
}

#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use snp_sim::platform::SimPlatform;

    fn sim_inputs(p: &SimPlatform) -> BlobInputs {
        let r = p.roots().unwrap();
        BlobInputs {
            ark: Some(r.ark_der),
            ask: Some(r.ask_der),
            vcek: Some(p.vcek_der()),
            ..BlobInputs::default()
        }
    }

    fn sim_anchors(p: &SimPlatform) -> TrustAnchors {
        let r = p.roots().unwrap();
        TrustAnchors::explicit()
            .with_chain(p.product(), &r.ark_der, Some(&r.ask_der), Some(&r.asvk_der))
            .unwrap()
    }

    #[test]
    fn build_orders_pads_and_describes() {
        let p = SimPlatform::builder(Product::Milan).build().unwrap();
        let blob = build_blob(&sim_inputs(&p)).unwrap();
        assert_eq!(blob.len() % PAGE_SIZE, 0);
        let info = describe(&blob, &sim_anchors(&p)).unwrap();
        let kinds: Vec<_> = info.entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["ARK", "ASK", "VCEK"]);
        let vek = info.vek.unwrap();
        assert_eq!(vek.tcb.unwrap(), p.reported_tcb().to_string());
        assert_eq!(
            vek.hw_id.unwrap(),
            hex::encode(&p.chip_id()[..Product::Milan.hwid_len()])
        );
        assert!(info.chain_verifies, "{}", info.chain_detail);
        // AMD's pinned roots do not vouch for the simulator's chain.
        let amd = describe(&blob, &TrustAnchors::amd()).unwrap();
        assert!(!amd.chain_verifies);
    }

    #[test]
    fn swapped_or_missing_inputs_are_refused() {
        let p = SimPlatform::builder(Product::Milan).build().unwrap();
        assert!(matches!(
            build_blob(&BlobInputs::default()),
            Err(HostError::NoVek)
        ));
        let mut i = sim_inputs(&p);
        i.vcek = Some(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(matches!(build_blob(&i), Err(HostError::BadInput { .. })));
    }

    #[test]
    fn install_then_read_under_both_lock_kinds() {
        let p = SimPlatform::builder(Product::Milan).build().unwrap();
        let blob = build_blob(&sim_inputs(&p)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("certs.bin");
        install(&blob, &path, Duration::from_secs(1)).unwrap();
        for kind in [LockKind::Ofd, LockKind::Flock] {
            assert_eq!(
                read_locked(&path, kind, Duration::from_secs(1)).unwrap(),
                blob
            );
        }
        assert!(matches!(
            install(b"garbage", &path, Duration::from_secs(1)),
            Err(HostError::Table(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), blob);
    }

    /// Installs in a loop never let a reader of either kind see anything but a whole blob.
    #[test]
    fn concurrent_installs_are_never_read_torn() {
        let p = SimPlatform::builder(Product::Milan).build().unwrap();
        let a = build_blob(&sim_inputs(&p)).unwrap();
        let mut only_vcek = sim_inputs(&p);
        only_vcek.ark = None;
        let b = build_blob(&only_vcek).unwrap();
        assert_ne!(a, b);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("certs.bin");
        install(&a, &path, Duration::from_secs(1)).unwrap();
        let writer = {
            let (path, a, b) = (path.clone(), a.clone(), b.clone());
            std::thread::spawn(move || {
                for i in 0..40 {
                    let blob = if i % 2 == 0 { &b } else { &a };
                    install(blob, &path, Duration::from_secs(10)).unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let readers: Vec<_> = [LockKind::Ofd, LockKind::Flock]
            .into_iter()
            .map(|kind| {
                let (path, a, b) = (path.clone(), a.clone(), b.clone());
                std::thread::spawn(move || {
                    let mut whole = 0;
                    for _ in 0..40 {
                        match read_locked(&path, kind, Duration::from_secs(10)) {
                            Ok(got) => {
                                assert!(got == a || got == b, "{kind} reader saw a torn blob");
                                whole += 1;
                            }
                            // Replaced again each time it got the lock: bounded, typed, and
                            // never a partial read.
                            Err(HostError::Blob(BlobError::KeptChanging { .. })) => {}
                            Err(e) => panic!("{kind} reader: {e}"),
                        }
                    }
                    assert!(whole > 0, "{kind} reader never got a blob");
                })
            })
            .collect();
        writer.join().unwrap();
        for r in readers {
            r.join().unwrap();
        }
    }
}
