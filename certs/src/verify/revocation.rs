//! The `crl` check: the relying party's CRL and the one the host served.
//!
//! A CRL counts only if the anchor ARK signed it, and a certificate of the chain listed in any
//! CRL that counts fails the verification. What differs is freshness:
//!
//! * The relying party's CRL ([`Endorsements::crl`]: `--crl`, `--check-crl`) is the one it
//!   chose to be checked against, so it must be current at the verification time: a stale CRL
//!   could hide a revocation made since.
//! * The host's CRL ([`Endorsements::host_crl`]) arrives unasked in the certificate table. A host
//!   that keeps serving KDS's CRL past its nextUpdate would otherwise make every verification on
//!   that host fail although nothing is wrong with the evidence. A stale CRL still proves the
//!   revocations it lists (X.509 revocation is permanent), so those still fail, as does a bad
//!   signature; staleness alone is a warning — unless the relying party asked for CRL checking
//!   ([`CrlPolicy::Required`]: `--check-crl`, `--require-crl`), when every CRL present must be
//!   current.

use crate::chain::{fmt_time, AmdCert};
use crate::crl::Crl;
use crate::error::CrlError;
use crate::product::Product;

use super::check;
use super::endorsements::{CrlPolicy, Endorsements};
use super::error::VerifyError;
use super::outcome::Checks;
use super::Verifier;

/// Where a CRL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    RelyingParty,
    Host,
}

impl Origin {
    fn label(self) -> &'static str {
        match self {
            Origin::RelyingParty => "relying party's CRL",
            Origin::Host => "host-served CRL",
        }
    }
}

impl Verifier {
    /// Run the `crl` check. `ark` is the anchor ARK for the report's product (`None` when the
    /// anchors have none), `listed` the chain certificates a CRL may revoke.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_crls(
        &self,
        e: &Endorsements,
        ark: Option<&AmdCert>,
        product: Product,
        source: &str,
        listed: &[&AmdCert],
        time: u64,
        checks: &mut Checks,
    ) {
        let required = self.crl_policy == CrlPolicy::Required;
        let supplied = [
            (Origin::RelyingParty, e.crl.as_deref()),
            (Origin::Host, e.host_crl.as_deref()),
        ];
        if supplied.iter().all(|(_, der)| der.is_none()) {
            if required {
                checks.fail(VerifyError::CrlMissing);
            } else {
                checks.skip(check::CRL, "no CRL supplied");
            }
            return;
        }
        let Some(ark) = ark else {
            checks.fail(VerifyError::Crl(CrlError::Signature {
                ark: format!("ARK-{product}"),
                detail: format!("no {source} ARK for {product}"),
            }));
            return;
        };
        let mut notes = Vec::new();
        let mut stale = Vec::new();
        for (origin, der) in supplied {
            let Some(der) = der else { continue };
            match self.check_one_crl(der, ark, listed, time) {
                Ok(note) => notes.push(format!("{}: {note}", origin.label())),
                Err(CrlError::Stale {
                    this_update,
                    next_update,
                    ..
                }) if origin == Origin::Host && !required => stale.push(format!(
                    "{}: signed by {}, chain not revoked, but not current at {} \
                     (thisUpdate {}, nextUpdate {}); its revocations were applied — the host \
                     should serve a fresh CRL, and --check-crl requires a current one",
                    origin.label(),
                    ark.common_name().unwrap_or("ARK"),
                    fmt_time(time),
                    fmt_time(this_update),
                    next_update.map_or_else(|| "absent".to_string(), fmt_time),
                )),
                Err(err) => {
                    let detail = format!("{}: {err}", origin.label());
                    checks.fail_with(VerifyError::Crl(err), detail);
                    return;
                }
            }
        }
        notes.extend(stale.iter().cloned());
        if stale.is_empty() {
            checks.pass(check::CRL, notes.join("; "));
        } else {
            checks.warn(check::CRL, notes.join("; "));
        }
    }

    /// Signature by `ark`, then revocation of any of `listed`, then freshness at `time` (so a
    /// stale CRL that revokes the chain reports the revocation).
    fn check_one_crl(
        &self,
        der: &[u8],
        ark: &AmdCert,
        listed: &[&AmdCert],
        time: u64,
    ) -> Result<String, CrlError> {
        let crl = Crl::from_der(der)?;
        crl.verify_signature(ark, &*self.provider)?;
        if let Some(cert) = listed.iter().find(|c| crl.is_revoked(c.serial())) {
            return Err(CrlError::Revoked {
                role: cert.role(),
                serial: cert.serial_hex(),
            });
        }
        crl.check_current(time)?;
        Ok(format!(
            "signed by {}, current ({}..{}), chain not revoked",
            ark.common_name().unwrap_or("ARK"),
            fmt_time(crl.this_update()),
            crl.next_update().map(fmt_time).unwrap_or_default()
        ))
    }
}
