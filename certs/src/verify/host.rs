//! Host-served CA certificates: hints compared with the trust anchors, never trusted.

use crate::cache::Tier;
use crate::chain::{AmdCert, CertKind};

use super::endorsements::Endorsements;
use super::error::VerifyError;
use super::prepared::PreparedSet;
use super::Verifier;

impl Verifier {
    pub(super) fn check_host_certs(
        &self,
        p: &PreparedSet,
        kind: CertKind,
        e: &Endorsements,
    ) -> Result<String, VerifyError> {
        let mut notes = Vec::new();
        let ark = p.set().ark();
        // A certificate byte-identical to the anchor is the anchor: nothing to parse or check.
        if let Some(der) = e.ark.as_ref().filter(|d| d.as_slice() != ark.der()) {
            let host =
                AmdCert::from_der("ARK", der).map_err(|err| VerifyError::HostCertificate {
                    role: "ARK",
                    detail: err.to_string(),
                })?;
            self.same_as_anchor(&host, ark, ark)?;
        }
        if e.ark.is_some() {
            notes.push("ARK");
        }
        if let Some(der) = &e.ask {
            let role = kind.intermediate_role();
            // The ASK table entry carries the ASK or the ASVK; match against the intermediate
            // for this certificate kind.
            let anchor =
                p.set()
                    .intermediate(kind)
                    .ok_or_else(|| VerifyError::HostCertificate {
                        role,
                        detail: format!("no {role} among the trust anchors to compare with"),
                    })?;
            if der.as_slice() != anchor.der() {
                let host =
                    AmdCert::from_der(role, der).map_err(|err| VerifyError::HostCertificate {
                        role,
                        detail: err.to_string(),
                    })?;
                self.same_as_anchor(&host, anchor, ark)?;
            }
            notes.push(role);
        }
        Ok(format!(
            "host-supplied {} match the trust anchors by public key",
            notes.join(" and ")
        ))
    }

    /// A host certificate is acceptable as a hint if it is byte-identical to the anchor, or
    /// carries the anchor's public key and a valid signature by the anchor ARK (a re-issued
    /// certificate). Anything else — another key, or the right key in a tampered certificate —
    /// is reported, because a host serving it is misconfigured or hostile.
    pub(super) fn same_as_anchor(
        &self,
        host: &AmdCert,
        anchor: &AmdCert,
        ark: &AmdCert,
    ) -> Result<(), VerifyError> {
        let role = anchor.role();
        if host.der() == anchor.der() {
            return Ok(());
        }
        if host.spki_der() != anchor.spki_der() {
            return Err(VerifyError::HostCertificate {
                role,
                detail: format!(
                    "public key differs from {} {:?}",
                    role,
                    anchor.common_name().unwrap_or("?")
                ),
            });
        }
        self.cache
            .verify_issued_by(Tier::Ca, host, ark, &*self.provider)
            .map_err(|d| VerifyError::HostCertificate {
                role,
                detail: format!("same public key but the certificate is not validly signed: {d}"),
            })
    }
}
