//! Import of an snpguest certificate directory into the cache.
//!
//! `snpguest certificates FORMAT DIR` (certificates the host served), `snpguest fetch ca
//! FORMAT DIR …` and `snpguest fetch vcek FORMAT DIR …` write one file per certificate named
//! after its role with the encoding as extension: `ark.pem`, `ask.pem` (`asvk.pem` for the
//! VLEK chain), `vcek.pem` (or `vlek.pem`), or the same names with `.der`. snpguest tells PEM
//! from DER by content, and so does this import.
//!
//! What is imported, after verification against the trust anchors:
//! - `ask` + `ark` → `<product>/cert_chain.pem`; `asvk` + `ark` → `<product>/vlek_cert_chain.pem`
//!   (the product is the one whose anchored ARK has the same key);
//! - `vcek` → `<product>/vcek/<hwid>/<tcb>.der`, keyed by the hwID, TCB and product its own
//!   extensions name (it is checked against exactly those, and chained to the anchored ASK).
//!
//! A VLEK is not imported: KDS does not serve VLEKs to guests, so the cache has no slot for
//! one (the host's certificate table is where a VLEK comes from); it is listed as skipped.

use std::path::{Path, PathBuf};

use base64::Engine;
use snp_certs::chain::AmdCert;
use snp_certs::kds::{Endorser, HwId};
use snp_certs::product::Product;

use super::cache::read_bounded;
use super::check::{single_cert_der, unix_seconds, CheckError};
use super::error::KdsError;
use super::Kds;

/// What an import stored and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Cache files written.
    pub stored: Vec<PathBuf>,
    /// Files present but not imported, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Read `<dir>/<name>.pem` or `<dir>/<name>.der` (PEM first, as snpguest looks), as DER.
fn read_role(dir: &Path, name: &str) -> Result<Option<(PathBuf, Vec<u8>)>, KdsError> {
    for ext in ["pem", "der"] {
        let p = dir.join(format!("{name}.{ext}"));
        if let Some(bytes) = read_bounded(&p)? {
            let der = single_cert_der(&bytes).map_err(|e| KdsError::BadFile {
                path: p.clone(),
                detail: match e {
                    CheckError::Malformed(d) | CheckError::Rejected(d) => d,
                },
            })?;
            return Ok(Some((p, der)));
        }
    }
    Ok(None)
}

/// PEM text of DER certificates, in order.
pub(crate) fn to_pem(ders: &[&[u8]]) -> String {
    let mut s = String::new();
    for der in ders {
        s.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        for line in b64.as_bytes().chunks(64) {
            s.push_str(&String::from_utf8_lossy(line));
            s.push('\n');
        }
        s.push_str("-----END CERTIFICATE-----\n");
    }
    s
}

fn bad(path: &Path, detail: impl Into<String>) -> KdsError {
    KdsError::BadFile {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn rejected(path: &Path, what: &str, e: CheckError) -> KdsError {
    match e {
        CheckError::Malformed(d) => bad(path, format!("not a usable {what}: {d}")),
        CheckError::Rejected(reason) => KdsError::Rejected {
            what: what.to_owned(),
            source_desc: path.display().to_string(),
            reason,
        },
    }
}

pub(crate) fn import(kds: &Kds, dir: &Path) -> Result<ImportReport, KdsError> {
    if !dir.is_dir() {
        return Err(bad(dir, "is not a directory"));
    }
    let checker = kds.checker();
    let now = unix_seconds(kds.client().clock().wall_time());
    let mut report = ImportReport::default();

    let ark = read_role(dir, "ark")?;
    // The product is the one whose anchored ARK carries this key.
    let ark_product = match &ark {
        Some((p, der)) => {
            let cert = AmdCert::from_der("ARK", der).map_err(|e| bad(p, e.to_string()))?;
            let product = checker
                .anchors()
                .sets()
                .iter()
                .find(|s| s.ark().spki_der() == cert.spki_der())
                .map(|s| s.product())
                .ok_or_else(|| KdsError::Rejected {
                    what: "ARK".into(),
                    source_desc: p.display().to_string(),
                    reason: format!(
                        "{:?} is not the ARK of any trusted product line",
                        cert.common_name().unwrap_or("?")
                    ),
                })?;
            Some(product)
        }
        None => None,
    };

    for (name, endorser) in [("ask", Endorser::Vcek), ("asvk", Endorser::Vlek)] {
        let Some((ipath, inter)) = read_role(dir, name)? else {
            continue;
        };
        let (Some((_, ark_der)), Some(product)) = (&ark, ark_product) else {
            report
                .skipped
                .push((ipath, "no ark.pem/ark.der beside it to form a chain".into()));
            continue;
        };
        let what = format!("{product} {endorser} cert_chain");
        checker
            .ca_chain(product, endorser, &inter, ark_der, now)
            .map_err(|e| rejected(&ipath, &what, e))?;
        let target = kds.cache().chain_path(product, endorser);
        kds.cache()
            .write_atomic(&target, to_pem(&[&inter, ark_der]).as_bytes())?;
        report.stored.push(target);
    }

    if let Some((vpath, der)) = read_role(dir, "vcek")? {
        let cert = AmdCert::from_der("VCEK", &der).map_err(|e| bad(&vpath, e.to_string()))?;
        let ext = cert.amd_extensions();
        let product: Product = ext
            .product("VCEK")
            .map_err(|e| bad(&vpath, e.to_string()))?;
        let hw = ext
            .hw_id_for("VCEK", product)
            .map_err(|e| bad(&vpath, e.to_string()))?;
        let hwid = HwId::from_bytes(product, hw).map_err(|e| bad(&vpath, e.to_string()))?;
        let tcb = ext
            .tcb("VCEK", product)
            .map_err(|e| bad(&vpath, e.to_string()))?;
        if let Some(ap) = ark_product.filter(|ap| *ap != product) {
            return Err(KdsError::Rejected {
                what: format!("{product} VCEK"),
                source_desc: vpath.display().to_string(),
                reason: format!("the directory's ARK is {ap}'s"),
            });
        }
        checker
            .vcek(&hwid, &tcb, &der, now)
            .map_err(|e| rejected(&vpath, &format!("{product} VCEK"), e))?;
        let target = kds.cache().vcek_path(&hwid, &tcb);
        kds.cache().write_atomic(&target, &der)?;
        report.stored.push(target);
    }

    if let Some((p, _)) = read_role(dir, "vlek")? {
        report.skipped.push((
            p,
            "a VLEK is not cached: KDS does not serve VLEKs to guests; keep it with the evidence"
                .into(),
        ));
    }
    if report.stored.is_empty() {
        return Err(bad(
            dir,
            "nothing to import: expected snpguest's ark.pem/ask.pem/vcek.pem (or .der) files",
        ));
    }
    tracing::info!(dir = %dir.display(), stored = report.stored.len(), "imported snpguest certificates");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let der = include_bytes!("../../../tests/data/real/virtee-sev/vcek_milan.der");
        let pem = to_pem(&[der, der]);
        let back = snp_certs::chain::pem_certificates(pem.as_bytes()).unwrap();
        assert_eq!(back, vec![der.to_vec(), der.to_vec()]);
        assert!(pem.lines().all(|l| l.len() <= 64));
    }
}
