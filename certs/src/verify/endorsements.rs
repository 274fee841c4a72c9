//! What the caller hands the verifier besides the report: the certificates and the CRL policy.

/// Certificates that endorse a report. Only the VCEK/VLEK is needed; the host's ASK/ARK are
/// hints compared with the trust anchors, never trusted themselves.
#[derive(Debug, Clone, Default)]
pub struct Endorsements {
    /// VCEK or VLEK, DER.
    pub vek: Vec<u8>,
    /// Host-served ASK or ASVK, DER.
    pub ask: Option<Vec<u8>>,
    /// Host-served ARK, DER.
    pub ark: Option<Vec<u8>>,
    /// The relying party's AMD CRL (DER): one it supplied or fetched, so it must be current.
    pub crl: Option<Vec<u8>>,
    /// A CRL the host served in its certificate table (DER). Its signature and revocations are
    /// enforced; being past nextUpdate is a warning unless the CRL policy is
    /// [`CrlPolicy::Required`] (see the `crl` check in [`super`]).
    pub host_crl: Option<Vec<u8>>,
}

impl Endorsements {
    /// Endorsements consisting of a VCEK/VLEK only.
    pub fn new(vek_der: impl Into<Vec<u8>>) -> Endorsements {
        Endorsements {
            vek: vek_der.into(),
            ..Endorsements::default()
        }
    }

    /// Add host-served ASK/ASVK and ARK (hints).
    pub fn with_host_chain(mut self, ask: Option<Vec<u8>>, ark: Option<Vec<u8>>) -> Endorsements {
        self.ask = ask;
        self.ark = ark;
        self
    }

    /// Add the relying party's CRL (checked strictly: it must be current).
    pub fn with_crl(mut self, crl: impl Into<Vec<u8>>) -> Endorsements {
        self.crl = Some(crl.into());
        self
    }

    /// Add the CRL the host served beside its certificates.
    pub fn with_host_crl(mut self, crl: impl Into<Vec<u8>>) -> Endorsements {
        self.host_crl = Some(crl.into());
        self
    }
}

/// Whether the relying party asked for CRL checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrlPolicy {
    /// Check a CRL when one is supplied; otherwise the `crl` check is reported as skipped. A
    /// host-served CRL past its nextUpdate is a warning (its revocations still apply).
    #[default]
    IfPresent,
    /// Fail when no CRL is supplied, and require every CRL present — the host's too — to be
    /// current.
    Required,
}
