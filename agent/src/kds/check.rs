//! Verification of everything the KDS client fetches or loads from its store, before it is
//! cached or handed out: a certificate that does not chain to the trust anchors, or a VCEK for
//! another chip or TCB than the one asked for, is never cached.
//!
//! The chain, profile, validity and CRL-signature checks are `snp_certs`' own
//! ([`Verifier::verify_vek`], [`Verifier::verify_ca_chain`], [`Verifier::verify_crl`]), so
//! they are the same ones the report verifier applies; what this module adds is the binding
//! to the request (product, hwID and TCB equal to what was asked for) and the split between
//! "not a certificate at all" (a bad body) and "a certificate we must not accept".

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use snp_certs::chain::{pem_certificates, AmdCert, CertKind};
use snp_certs::crl::Crl;
use snp_certs::crypto::CryptoProvider;
use snp_certs::kds::{Endorser, HwId};
use snp_certs::product::Product;
use snp_certs::roots::TrustAnchors;
use snp_certs::tcb::Tcb;
use snp_certs::verify::{VerifiedCrl, VerifiedVek, Verifier};

/// Why a fetched or stored item was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckError {
    /// Not parseable as what it should be (garbage, HTML error page, truncated).
    Malformed(String),
    /// Parseable, but not acceptable (wrong chain, wrong chip, wrong TCB, expired).
    Rejected(String),
}

/// Seconds since the epoch (0 for times before it, which no certificate is valid at).
pub(crate) fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn kind_of(e: Endorser) -> CertKind {
    match e {
        Endorser::Vcek => CertKind::Vcek,
        Endorser::Vlek => CertKind::Vlek,
    }
}

/// The trust anchors and the verifier built on them (which checks each anchor chain once
/// and shares that across clones).
#[derive(Debug, Clone)]
pub(crate) struct Checker {
    anchors: TrustAnchors,
    verifier: Verifier,
}

fn rejected(e: impl std::fmt::Display) -> CheckError {
    CheckError::Rejected(e.to_string())
}

impl Checker {
    pub(crate) fn new(anchors: TrustAnchors, provider: Arc<dyn CryptoProvider>) -> Checker {
        let verifier = Verifier::with_provider(anchors.clone(), provider);
        Checker { anchors, verifier }
    }

    pub(crate) fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    fn at(&self, time: u64) -> Verifier {
        self.verifier.clone().at_unix(time)
    }

    /// A VCEK fetched for `hwid` at `tcb`: chained to the anchored ASK and valid at `time`
    /// (`Verifier::verify_vek`), and its product, hwID and TCB extensions equal the request.
    pub(crate) fn vcek(
        &self,
        hwid: &HwId,
        tcb: &Tcb,
        der: &[u8],
        time: u64,
    ) -> Result<VerifiedVek, CheckError> {
        let product = hwid.product();
        AmdCert::from_der("VCEK", der).map_err(|e| CheckError::Malformed(e.to_string()))?;
        let v = self.at(time).verify_vek(der, product).map_err(rejected)?;
        if v.kind() != CertKind::Vcek {
            return Err(rejected(format!(
                "a {} was served where a VCEK was asked for",
                v.kind()
            )));
        }
        let cert_hwid = v.hw_id().unwrap_or_default();
        if cert_hwid != hwid.as_bytes() {
            return Err(rejected(format!(
                "certificate is for another chip: hwID {} but {} was requested",
                hex::encode(cert_hwid),
                hwid.to_hex()
            )));
        }
        if v.tcb() != *tcb {
            return Err(rejected(format!(
                "certificate is for TCB {}, but {tcb} was requested",
                v.tcb()
            )));
        }
        Ok(v)
    }

    /// A CA chain (intermediate then ARK, DER each) for `product`: both must be the
    /// anchors' own certificates (same key, validly signed) and valid at `time`.
    pub(crate) fn ca_chain(
        &self,
        product: Product,
        endorser: Endorser,
        intermediate_der: &[u8],
        ark_der: &[u8],
        time: u64,
    ) -> Result<(), CheckError> {
        let kind = kind_of(endorser);
        AmdCert::from_der(kind.intermediate_role(), intermediate_der)
            .map_err(|e| CheckError::Malformed(e.to_string()))?;
        AmdCert::from_der("ARK", ark_der).map_err(|e| CheckError::Malformed(e.to_string()))?;
        self.at(time)
            .verify_ca_chain(product, kind, intermediate_der, ark_der)
            .map_err(rejected)
    }

    /// A KDS `cert_chain` body: PEM, exactly two certificates, intermediate then ARK.
    /// Returns the DER of each after checking them with [`Checker::ca_chain`].
    pub(crate) fn ca_chain_pem(
        &self,
        product: Product,
        endorser: Endorser,
        pem: &[u8],
        time: u64,
    ) -> Result<(Vec<u8>, Vec<u8>), CheckError> {
        let ders = pem_certificates(pem).map_err(|e| CheckError::Malformed(e.to_string()))?;
        let [inter, ark]: [Vec<u8>; 2] = ders.try_into().map_err(|v: Vec<Vec<u8>>| {
            CheckError::Malformed(format!(
                "a cert_chain holds 2 PEM certificates ({} then ARK), found {}",
                kind_of(endorser).intermediate_role(),
                v.len()
            ))
        })?;
        self.ca_chain(product, endorser, &inter, &ark, time)?;
        Ok((inter, ark))
    }

    /// A CRL: parseable, signed by the anchor's ARK, revoking none of the anchors.
    /// Freshness is reported, not required (a stale CRL in an offline store is still handed
    /// to the verifier, which decides); the caller refetches stale CRLs when online.
    pub(crate) fn crl(
        &self,
        product: Product,
        der: &[u8],
        time: u64,
    ) -> Result<VerifiedCrl, CheckError> {
        Crl::from_der(der).map_err(|e| CheckError::Malformed(e.to_string()))?;
        self.at(time).verify_crl(product, der).map_err(rejected)
    }
}

/// A body that should be one certificate: DER as KDS serves it, or a single PEM
/// `CERTIFICATE` block (a mirror or a hand-filled store may hold PEM).
pub(crate) fn single_cert_der(body: &[u8]) -> Result<Vec<u8>, CheckError> {
    let trimmed = body.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let mut ders =
            pem_certificates(trimmed).map_err(|e| CheckError::Malformed(e.to_string()))?;
        if ders.len() != 1 {
            return Err(CheckError::Malformed(format!(
                "expected one PEM certificate, found {}",
                ders.len()
            )));
        }
        Ok(ders.remove(0))
    } else if body.first() == Some(&0x30) {
        Ok(body.to_vec())
    } else {
        let preview: String = body.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Err(CheckError::Malformed(format!(
            "neither DER (starts with 0x30) nor PEM; first bytes {preview}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::crypto::default_provider;

    const VCEK_MILAN: &[u8] = include_bytes!("../../../tests/data/real/virtee-sev/vcek_milan.der");
    const REPORT_MILAN: &[u8] =
        include_bytes!("../../../tests/data/real/virtee-sev/report_milan.bin");
    const CHAIN_MILAN: &[u8] =
        include_bytes!("../../../tests/data/real/virtee-sev/cert_chain_milan");
    const CHAIN_TURIN: &[u8] =
        include_bytes!("../../../tests/data/real/virtee-sev/cert_chain_turin");
    const VCEK_TURIN: &[u8] =
        include_bytes!("../../../tests/data/real/oak/turin_oc_endorsements_vcek_14889815.der");
    const REPORT_TURIN: &[u8] =
        include_bytes!("../../../tests/data/real/oak/turin_oc_evidence_report_3f44a09b.bin");
    // 2026-11-25T00:00:00Z: inside both VCEKs' validity.
    const NOW: u64 = 1_795_564_800;

    fn checker() -> Checker {
        Checker::new(TrustAnchors::amd(), default_provider())
    }

    fn chip_and_tcb(report: &[u8], product: Product) -> (HwId, Tcb) {
        let chip: [u8; 64] = report[0x1A0..0x1E0].try_into().unwrap();
        let tcb = Tcb::decode(report[0x180..0x188].try_into().unwrap(), product).unwrap();
        (HwId::from_chip_id(product, &chip).unwrap(), tcb)
    }

    #[test]
    fn real_vceks_accepted_for_their_request() {
        let (h, t) = chip_and_tcb(REPORT_MILAN, Product::Milan);
        checker().vcek(&h, &t, VCEK_MILAN, NOW).unwrap();
        let (h, t) = chip_and_tcb(REPORT_TURIN, Product::Turin);
        checker().vcek(&h, &t, VCEK_TURIN, NOW).unwrap();
    }

    #[test]
    fn wrong_chip_tcb_product_or_time_rejected() {
        let (h, t) = chip_and_tcb(REPORT_MILAN, Product::Milan);
        let other = HwId::from_chip_id(Product::Milan, &[7; 64]).unwrap();
        let e = checker().vcek(&other, &t, VCEK_MILAN, NOW).unwrap_err();
        assert!(
            matches!(&e, CheckError::Rejected(m) if m.contains("another chip")),
            "{e:?}"
        );
        let t2 = Tcb {
            snp: t.snp + 1,
            ..t
        };
        let e = checker().vcek(&h, &t2, VCEK_MILAN, NOW).unwrap_err();
        assert!(
            matches!(&e, CheckError::Rejected(m) if m.contains("TCB")),
            "{e:?}"
        );
        // Served as a Genoa VCEK: the Genoa ASK did not sign it.
        let g = HwId::from_bytes(Product::Genoa, h.as_bytes()).unwrap();
        assert!(matches!(
            checker().vcek(&g, &t, VCEK_MILAN, NOW),
            Err(CheckError::Rejected(_))
        ));
        // 2031: expired.
        assert!(matches!(
            checker().vcek(&h, &t, VCEK_MILAN, 1_950_000_000),
            Err(CheckError::Rejected(_))
        ));
        assert!(matches!(
            checker().vcek(&h, &t, b"<html>rate limited</html>", NOW),
            Err(CheckError::Malformed(_))
        ));
    }

    #[test]
    fn chains() {
        let c = checker();
        c.ca_chain_pem(Product::Milan, Endorser::Vcek, CHAIN_MILAN, NOW)
            .unwrap();
        c.ca_chain_pem(Product::Turin, Endorser::Vcek, CHAIN_TURIN, NOW)
            .unwrap();
        // The Milan chain is not Turin's.
        assert!(matches!(
            c.ca_chain_pem(Product::Turin, Endorser::Vcek, CHAIN_MILAN, NOW),
            Err(CheckError::Rejected(_))
        ));
        // Nor a VLEK chain (the ASK is not the ASVK).
        assert!(matches!(
            c.ca_chain_pem(Product::Milan, Endorser::Vlek, CHAIN_MILAN, NOW),
            Err(CheckError::Rejected(_))
        ));
        assert!(matches!(
            c.ca_chain_pem(Product::Milan, Endorser::Vcek, b"garbage", NOW),
            Err(CheckError::Malformed(_))
        ));
    }

    #[test]
    fn crls() {
        let c = checker();
        let milan = include_bytes!("../../../tests/data/real/atakit/milan.crl_53b18266.crl");
        c.crl(Product::Milan, milan, NOW).unwrap();
        assert!(matches!(
            c.crl(Product::Genoa, milan, NOW),
            Err(CheckError::Rejected(_))
        ));
        assert!(matches!(
            c.crl(Product::Milan, b"\x30\x03abc", NOW),
            Err(CheckError::Malformed(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let c = checker();
            let h = HwId::from_chip_id(Product::Milan, &[1; 64]).unwrap();
            if let Ok(der) = single_cert_der(&body) {
                let _ = c.vcek(&h, &Tcb::new(1, 0, 1, 1), &der, NOW);
            }
            let _ = c.ca_chain_pem(Product::Milan, Endorser::Vcek, &body, NOW);
            let _ = c.crl(Product::Milan, &body, NOW);
        }

        #[test]
        fn mutated_real_vcek_never_accepted_for_another_tcb(pos in 0usize..1400, val in proptest::prelude::any::<u8>()) {
            let mut m = VCEK_MILAN.to_vec();
            if let Some(b) = m.get_mut(pos) { *b = val; }
            let (h, t) = chip_and_tcb(REPORT_MILAN, Product::Milan);
            let t2 = Tcb { bl: t.bl + 1, ..t };
            proptest::prop_assert!(checker().vcek(&h, &t2, &m, NOW).is_err());
        }
    }

    #[test]
    fn single_cert_bodies() {
        assert_eq!(single_cert_der(VCEK_MILAN).unwrap(), VCEK_MILAN);
        assert!(single_cert_der(CHAIN_MILAN).is_err());
        assert!(single_cert_der(b"").is_err());
        assert!(single_cert_der(b"not found").is_err());
    }
}
