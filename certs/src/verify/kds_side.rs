//! Verifications without a report, for KDS fetchers and certificate caches: a VCEK/VLEK's
//! chain, a served CA chain, a CRL.

use crate::chain::{AmdCert, CertKind};
use crate::crl::Crl;
use crate::error::CrlError;
use crate::product::Product;

use super::check;
use super::error::VerifyError;
use super::prepared::PreparedSet;
use super::run::vek_kind;
use super::verified::{VerifiedCrl, VerifiedVek};
use super::Verifier;

impl Verifier {
    /// Verify a VCEK/VLEK's chain, profile, extensions and validity without a report, e.g.
    /// before caching a certificate fetched from KDS. `product` is the line it is expected for.
    pub fn verify_vek(&self, vek_der: &[u8], product: Product) -> Result<VerifiedVek, VerifyError> {
        let time = self.now();
        let vek = self
            .cache
            .parse("VEK", vek_der, &*self.provider)
            .map_err(VerifyError::Certificate)?;
        let kind = vek_kind(&vek).map_err(VerifyError::Certificate)?;
        let ext = vek.amd_extensions();
        let named = ext.product(kind.role()).map_err(VerifyError::Certificate)?;
        if named != product {
            return Err(VerifyError::Product(format!(
                "expected a {product} certificate, productName says {named}"
            )));
        }
        let p = self.anchor_set(product)?;
        let inter = self.anchor_intermediate(p, product, kind)?;
        p.verify_vek_signature(&vek, kind, &self.cache, &*self.provider)
            .map_err(|d| VerifyError::Chain {
                check: check::VEK_SIGNED_BY_ASK,
                detail: d,
            })?;
        for c in [p.set().ark(), inter, &vek] {
            c.check_validity(time).map_err(VerifyError::Validity)?;
        }
        let tcb = ext
            .tcb(kind.role(), product)
            .map_err(VerifyError::Certificate)?;
        let hw_id = match kind {
            CertKind::Vcek => Some(
                ext.hw_id_for(kind.role(), product)
                    .map_err(VerifyError::Certificate)?
                    .to_vec(),
            ),
            CertKind::Vlek => None,
        };
        Ok(VerifiedVek {
            kind,
            product,
            tcb,
            hw_id,
            csp_id: ext.csp_id.clone(),
            not_after: vek.not_after(),
        })
    }

    fn anchor_set(&self, product: Product) -> Result<&PreparedSet, VerifyError> {
        let p = self.prepared(product).ok_or_else(|| VerifyError::Chain {
            check: check::ARK_SELF_SIGNATURE,
            detail: format!("no trust anchors for {product}"),
        })?;
        p.ark_result(&self.cache, &*self.provider)
            .clone()
            .map_err(|d| VerifyError::Chain {
                check: check::ARK_SELF_SIGNATURE,
                detail: d,
            })?;
        Ok(p)
    }

    fn anchor_intermediate<'a>(
        &self,
        p: &'a PreparedSet,
        product: Product,
        kind: CertKind,
    ) -> Result<&'a AmdCert, VerifyError> {
        let (inter, res) = p
            .intermediate(kind, &self.cache, &*self.provider)
            .ok_or_else(|| VerifyError::Chain {
                check: check::ASK_SIGNED_BY_ARK,
                detail: format!(
                    "no {} for {product} among the trust anchors",
                    kind.intermediate_role()
                ),
            })?;
        res.clone().map_err(|d| VerifyError::Chain {
            check: check::ASK_SIGNED_BY_ARK,
            detail: d,
        })?;
        Ok(inter)
    }

    /// Check a CA chain served by KDS (`cert_chain`) or a host — the intermediate (ASK for
    /// `Vcek`, ASVK for `Vlek`) and the ARK — against the trust anchors. Both must be the
    /// anchors' certificates (byte-identical, or the same public key with a valid ARK
    /// signature); the anchors' own checks and validity at the verification time must pass.
    /// The served certificates never replace the anchors.
    pub fn verify_ca_chain(
        &self,
        product: Product,
        kind: CertKind,
        intermediate_der: &[u8],
        ark_der: &[u8],
    ) -> Result<(), VerifyError> {
        let time = self.now();
        let p = self.anchor_set(product)?;
        let inter = self.anchor_intermediate(p, product, kind)?;
        let ark = p.set().ark();
        let role = kind.intermediate_role();
        let host_ark =
            AmdCert::from_der("ARK", ark_der).map_err(|err| VerifyError::HostCertificate {
                role: "ARK",
                detail: err.to_string(),
            })?;
        self.same_as_anchor(&host_ark, ark, ark)?;
        let host_inter = AmdCert::from_der(role, intermediate_der).map_err(|err| {
            VerifyError::HostCertificate {
                role,
                detail: err.to_string(),
            }
        })?;
        self.same_as_anchor(&host_inter, inter, ark)?;
        for c in [ark, inter, &host_ark, &host_inter] {
            c.check_validity(time).map_err(VerifyError::Validity)?;
        }
        Ok(())
    }

    /// [`Verifier::verify_vek`] with an intermediate (ASK/ASVK) served beside the certificate,
    /// which must be the anchor's (see [`Verifier::verify_ca_chain`]); it is only compared,
    /// the chain is always built from the anchors.
    pub fn verify_vek_with_hint(
        &self,
        vek_der: &[u8],
        product: Product,
        intermediate_hint: Option<&[u8]>,
    ) -> Result<VerifiedVek, VerifyError> {
        let verified = self.verify_vek(vek_der, product)?;
        if let Some(hint) = intermediate_hint {
            let kind = verified.kind();
            let p = self.anchor_set(product)?;
            let inter = self.anchor_intermediate(p, product, kind)?;
            let role = kind.intermediate_role();
            let host =
                AmdCert::from_der(role, hint).map_err(|err| VerifyError::HostCertificate {
                    role,
                    detail: err.to_string(),
                })?;
            self.same_as_anchor(&host, inter, p.set().ark())?;
        }
        Ok(verified)
    }

    /// Check a CRL for `product` (as served by KDS `/vcek/v1/{P}/crl` or `/vlek/v1/{P}/crl`):
    /// ARK signature, and that it does not revoke the anchors' ASK/ASVK (an error either way).
    /// Freshness at the verification time is *reported*, not enforced, so an offline cache
    /// can keep a stale CRL and the core [`Verifier::verify`] decides (a stale CRL of the relying
    /// party's fails there; a stale host-served one warns, see the `crl` check).
    pub fn verify_crl(&self, product: Product, crl_der: &[u8]) -> Result<VerifiedCrl, VerifyError> {
        let time = self.now();
        let p = self.anchor_set(product)?;
        let crl = Crl::from_der(crl_der).map_err(VerifyError::Crl)?;
        crl.verify_signature(p.set().ark(), &*self.provider)
            .map_err(VerifyError::Crl)?;
        for c in [p.set().ask(), p.set().asvk()].into_iter().flatten() {
            if crl.is_revoked(c.serial()) {
                return Err(VerifyError::Crl(CrlError::Revoked {
                    role: c.role(),
                    serial: c.serial_hex(),
                }));
            }
        }
        let current = crl.check_current(time).is_ok();
        Ok(VerifiedCrl { crl, current })
    }
}
