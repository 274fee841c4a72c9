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
    /// An AMD CRL, DER.
    pub crl: Option<Vec<u8>>,
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

    /// Add a CRL.
    pub fn with_crl(mut self, crl: impl Into<Vec<u8>>) -> Endorsements {
        self.crl = Some(crl.into());
        self
    }
}

/// Whether a CRL must be supplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrlPolicy {
    /// Check a CRL when one is supplied; otherwise the `crl` check is reported as skipped.
    #[default]
    IfPresent,
    /// Fail when no CRL is supplied.
    Required,
}
