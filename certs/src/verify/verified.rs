//! The types only a successful verification constructs: verified evidence, a verified
//! VCEK/VLEK without a report, and a verified CRL.

use crate::chain::CertKind;
use crate::crl::Crl;
use crate::product::Product;
use crate::report::{ReportView, REPORT_SIZE};
use crate::roots::AnchorSource;
use crate::tcb::Tcb;

use super::identity::EvidenceId;
use super::outcome::CheckResult;

/// A VCEK/VLEK whose chain verified, without a report (for KDS fetchers and caches).
#[derive(Debug, Clone)]
pub struct VerifiedVek {
    pub(super) kind: CertKind,
    pub(super) product: Product,
    pub(super) tcb: Tcb,
    pub(super) hw_id: Option<Vec<u8>>,
    pub(super) csp_id: Option<String>,
    pub(super) not_after: u64,
}

impl VerifiedVek {
    /// VCEK or VLEK.
    pub fn kind(&self) -> CertKind {
        self.kind
    }
    /// Product line (productName).
    pub fn product(&self) -> Product {
        self.product
    }
    /// TCB the certificate was issued for.
    pub fn tcb(&self) -> Tcb {
        self.tcb
    }
    /// hwID (VCEK only; 64 bytes, 8 on Turin).
    pub fn hw_id(&self) -> Option<&[u8]> {
        self.hw_id.as_deref()
    }
    /// cspId (VLEK only).
    pub fn csp_id(&self) -> Option<&str> {
        self.csp_id.as_deref()
    }
    /// notAfter (UNIX seconds).
    pub fn not_after(&self) -> u64 {
        self.not_after
    }
}

/// A CRL whose ARK signature verified and which revokes none of the anchors.
#[derive(Debug, Clone)]
pub struct VerifiedCrl {
    pub(super) crl: Crl,
    pub(super) current: bool,
}

impl VerifiedCrl {
    /// The parsed CRL (DER via [`Crl::der`]).
    pub fn crl(&self) -> &Crl {
        &self.crl
    }
    /// Whether the verification time lies within thisUpdate..nextUpdate.
    pub fn is_current(&self) -> bool {
        self.current
    }
}

/// Evidence that passed every check. Only [`Verifier`](super::Verifier) constructs it (private fields, no
/// public constructor, not deserializable), so holding one means the report was verified.
#[derive(Debug, Clone)]
pub struct VerifiedEvidence {
    pub(super) report: Box<[u8; REPORT_SIZE]>,
    pub(super) id: EvidenceId,
    pub(super) kind: CertKind,
    pub(super) product: Product,
    pub(super) tcb: Tcb,
    pub(super) chip_id: Option<Vec<u8>>,
    pub(super) csp_id: Option<String>,
    pub(super) vek_der: Vec<u8>,
    pub(super) checks: Vec<CheckResult>,
    pub(super) verified_at: u64,
    pub(super) anchors: AnchorSource,
    pub(super) provider: &'static str,
}

impl VerifiedEvidence {
    /// The verified report.
    pub fn report(&self) -> ReportView<'_> {
        ReportView::from_array(&self.report)
    }
    /// The verified report bytes, exactly as received. The same genuine report can also arrive
    /// as its ECDSA twin (r, n − s), which verifies too: to deduplicate evidence or detect a
    /// replay, compare [`VerifiedEvidence::id`], not these bytes.
    pub fn report_bytes(&self) -> &[u8; REPORT_SIZE] {
        &self.report
    }
    /// The evidence's identity: SHA-384 over a label, the signed bytes, r and min(s, n − s) —
    /// one value for both byte forms of a genuine report (see [`EvidenceId`]).
    pub fn id(&self) -> EvidenceId {
        self.id
    }
    /// VCEK or VLEK.
    pub fn cert_kind(&self) -> CertKind {
        self.kind
    }
    /// Product line.
    pub fn product(&self) -> Product {
        self.product
    }
    /// REPORTED_TCB (equal to the certificate's TCB).
    pub fn tcb(&self) -> Tcb {
        self.tcb
    }
    /// The chip ID bound to the VCEK (64 bytes, 8 on Turin); `None` for VLEKs and masked IDs.
    pub fn chip_id(&self) -> Option<&[u8]> {
        self.chip_id.as_deref()
    }
    /// The VLEK's cspId.
    pub fn csp_id(&self) -> Option<&str> {
        self.csp_id.as_deref()
    }
    /// The VCEK/VLEK DER.
    pub fn vek_der(&self) -> &[u8] {
        &self.vek_der
    }
    /// Every check with its status.
    pub fn checks(&self) -> &[CheckResult] {
        &self.checks
    }
    /// The checks that passed with a warning (status `Warn`), e.g. a stale host-served CRL.
    pub fn warnings(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks
            .iter()
            .filter(|c| c.status == super::outcome::CheckStatus::Warn)
    }
    /// Verification time (UNIX seconds).
    pub fn verified_at(&self) -> u64 {
        self.verified_at
    }
    /// Whether AMD's pinned roots or explicit roots anchored the chain.
    pub fn anchor_source(&self) -> AnchorSource {
        self.anchors
    }
    /// Crypto provider used.
    pub fn provider_name(&self) -> &'static str {
        self.provider
    }
}
