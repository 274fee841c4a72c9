//! The core verification and the VerifiedEvidence type only it can construct.
//!
//! [`Verifier::verify`] takes the report bytes exactly as received and the endorsements (the
//! VCEK/VLEK, optionally the host's ASK/ARK and a CRL) and runs every check, in this order:
//!
//! | name | what |
//! |---|---|
//! | `report_format` | 0x4A0 bytes, version 2..=5, signature algorithm 1 |
//! | `vek_certificate` | VCEK/VLEK parses, P-384 key, AMD extensions, end-entity profile, kind known |
//! | `product` | from the signed CPUID (v3+) or the certificate (v2); both must agree |
//! | `host_certificates` | host-served ARK/ASK/ASVK equal the anchors by public key (hints only) |
//! | `ark_self_signature` | the anchor ARK is a self-signed CA |
//! | `ask_signed_by_ark` | the anchor ASK (VCEK) or ASVK (VLEK) is a CA signed by the ARK |
//! | `vek_signed_by_ask` | the VCEK/VLEK is signed by that intermediate |
//! | `validity` | ARK, intermediate and VCEK/VLEK valid at the verification time |
//! | `crl` | if a CRL is given (or required): ARK-signed, current, nothing in the chain revoked |
//! | `report_signature` | ECDSA P-384/SHA-384 over the received bytes 0x000..0x2A0 |
//! | `tcb_binding` | certificate SPLs == REPORTED_TCB in the product's layout |
//! | `chip_id_binding` | VCEK hwID == CHIP_ID (first 8 bytes on Turin) unless the chip ID is masked |
//! | `signer_binding` | the report's signing-key field names the certificate's kind |
//!
//! Every check that has its inputs runs, so that a caller can print all of them; the error
//! returned is the first failure in the table's order. The binding checks are part of this one
//! function and cannot be switched off. A [`VerifiedEvidence`] exists only if every check
//! passed (or was not applicable, which is recorded with its reason).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::cache::{CachedCert, ChainCache, Fingerprint, Tier};
use crate::chain::{fmt_time, AmdCert, CertKind, PublicKey};
use crate::crl::Crl;
use crate::crypto::{default_provider, CryptoProvider};
use crate::error::{CertError, CrlError, ReportError};
use crate::extensions::VekExtensions;
use crate::product::Product;
use crate::report::{ReportView, SigningKey, REPORT_SIZE, SIG_ALGO_ECDSA_P384_SHA384};
use crate::roots::{AnchorSet, AnchorSource, TrustAnchors};
use crate::tcb::Tcb;

/// Stable names of the checks, as printed by the CLI and put into EAR-style output.
pub mod check {
    /// Report length, version, signature algorithm.
    pub const REPORT_FORMAT: &str = "report_format";
    /// VCEK/VLEK certificate parse and profile.
    pub const VEK_CERTIFICATE: &str = "vek_certificate";
    /// Product line determination and agreement.
    pub const PRODUCT: &str = "product";
    /// Host-served CA certificates vs. the anchors.
    pub const HOST_CERTIFICATES: &str = "host_certificates";
    /// ARK self-signature.
    pub const ARK_SELF_SIGNATURE: &str = "ark_self_signature";
    /// ASK/ASVK signed by the ARK.
    pub const ASK_SIGNED_BY_ARK: &str = "ask_signed_by_ark";
    /// VCEK/VLEK signed by the ASK/ASVK.
    pub const VEK_SIGNED_BY_ASK: &str = "vek_signed_by_ask";
    /// Validity periods at the verification time.
    pub const VALIDITY: &str = "validity";
    /// CRL.
    pub const CRL: &str = "crl";
    /// Report signature.
    pub const REPORT_SIGNATURE: &str = "report_signature";
    /// Certificate TCB == REPORTED_TCB.
    pub const TCB_BINDING: &str = "tcb_binding";
    /// CHIP_ID == hwID.
    pub const CHIP_ID_BINDING: &str = "chip_id_binding";
    /// Signing key kind == certificate kind.
    pub const SIGNER_BINDING: &str = "signer_binding";

    /// Every check in evaluation order.
    pub const ALL: [&str; 13] = [
        REPORT_FORMAT,
        VEK_CERTIFICATE,
        PRODUCT,
        HOST_CERTIFICATES,
        ARK_SELF_SIGNATURE,
        ASK_SIGNED_BY_ARK,
        VEK_SIGNED_BY_ASK,
        VALIDITY,
        CRL,
        REPORT_SIGNATURE,
        TCB_BINDING,
        CHIP_ID_BINDING,
        SIGNER_BINDING,
    ];
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// The check ran and passed.
    Pass,
    /// The check ran and failed.
    Fail,
    /// The check did not apply or could not run (the detail says why).
    Skipped,
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::Skipped => "skipped",
        })
    }
}

/// One named check with its status and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Stable name (see [`check`]).
    pub name: &'static str,
    /// Pass, fail or skipped.
    pub status: CheckStatus,
    /// What was compared, or why it failed / was skipped.
    pub detail: String,
}

/// Why evidence did not verify: the first failing check.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The bytes are not a report.
    #[error("report: {0}")]
    Report(#[from] ReportError),
    /// A report version whose layout this verifier does not know.
    #[error("unsupported report version {0} (versions 2 to 5 are supported)")]
    UnsupportedVersion(u32),
    /// A signature algorithm other than ECDSA P-384/SHA-384.
    #[error("unsupported report signature algorithm {0} (1 = ECDSA P-384 with SHA-384)")]
    UnsupportedSignatureAlgo(u32),
    /// No VCEK/VLEK was supplied.
    #[error("no VCEK/VLEK certificate supplied: fetch the VCEK from AMD KDS or ask the host for its certificate table")]
    NoCertificate,
    /// The VCEK/VLEK is malformed or outside AMD's profile.
    #[error("VCEK/VLEK certificate: {0}")]
    Certificate(CertError),
    /// The product could not be determined, or the report and certificate disagree.
    #[error("product: {0}")]
    Product(String),
    /// A host-served CA certificate is not the anchor's (by public key).
    #[error("host-supplied {role} is not the trusted one: {detail}")]
    HostCertificate {
        /// ARK, ASK or ASVK.
        role: &'static str,
        /// What differs.
        detail: String,
    },
    /// A signature or CA profile in the chain failed.
    #[error("certificate chain ({check}): {detail}")]
    Chain {
        /// Which chain check.
        check: &'static str,
        /// What failed.
        detail: String,
    },
    /// A certificate is outside its validity period at the verification time.
    #[error("certificate not valid at the verification time: {0}")]
    Validity(String),
    /// The CRL failed or revokes part of the chain.
    #[error("CRL: {0}")]
    Crl(CrlError),
    /// No CRL was supplied but the verifier requires one.
    #[error(
        "CRL required but none supplied: fetch /vcek/v1/{{product}}/crl (or /vlek/…) from AMD KDS"
    )]
    CrlMissing,
    /// The report signature does not verify or is malformed.
    #[error("report signature: {0}")]
    ReportSignature(String),
    /// The certificate's TCB differs from the report's REPORTED_TCB.
    #[error("TCB mismatch: report REPORTED_TCB is {report} but the {kind} is for {cert} ({product}); the host may have changed the TCB — fetch the certificate for the report's TCB or request a new report")]
    TcbMismatch {
        /// Product whose layout was used.
        product: Product,
        /// Certificate kind.
        kind: CertKind,
        /// The report's REPORTED_TCB (decoded, or raw hex if it does not decode).
        report: String,
        /// The certificate's TCB.
        cert: String,
    },
    /// The VCEK's hwID is not the report's CHIP_ID.
    #[error("chip ID mismatch: report CHIP_ID {report}… but VCEK hwID {cert}…: this VCEK belongs to another chip")]
    ChipIdMismatch {
        /// First bytes of CHIP_ID, hex.
        report: String,
        /// First bytes of hwID, hex.
        cert: String,
    },
    /// The report's signing-key field does not name the certificate's kind.
    #[error("signer mismatch: report signer info says {report}, but the certificate is a {cert}")]
    SignerMismatch {
        /// Signing key named by the report.
        report: String,
        /// Kind of the supplied certificate.
        cert: CertKind,
    },
}

impl VerifyError {
    /// The name of the check that produced this error.
    pub fn check(&self) -> &'static str {
        match self {
            VerifyError::Report(_)
            | VerifyError::UnsupportedVersion(_)
            | VerifyError::UnsupportedSignatureAlgo(_) => check::REPORT_FORMAT,
            VerifyError::NoCertificate | VerifyError::Certificate(_) => check::VEK_CERTIFICATE,
            VerifyError::Product(_) => check::PRODUCT,
            VerifyError::HostCertificate { .. } => check::HOST_CERTIFICATES,
            VerifyError::Chain { check, .. } => check,
            VerifyError::Validity(_) => check::VALIDITY,
            VerifyError::Crl(_) | VerifyError::CrlMissing => check::CRL,
            VerifyError::ReportSignature(_) => check::REPORT_SIGNATURE,
            VerifyError::TcbMismatch { .. } => check::TCB_BINDING,
            VerifyError::ChipIdMismatch { .. } => check::CHIP_ID_BINDING,
            VerifyError::SignerMismatch { .. } => check::SIGNER_BINDING,
        }
    }
}

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

/// Result of an intermediate's check (ARK→ASK or ARK→ASVK) and the intermediate's fingerprint,
/// the issuer key under which VCEK/VLEK signatures are cached.
#[derive(Debug)]
struct IntermediateResult {
    result: Result<String, String>,
    fingerprint: Fingerprint,
}

/// One product's anchors with their checks (ARK self-signature, ARK→ASK, ARK→ASVK), each
/// computed on first use — only the intermediate a report needs is checked — and answered by
/// the [`ChainCache`] when another verifier in the process already did the work.
#[derive(Debug)]
struct PreparedSet {
    /// The verifier's anchors (shared, not copied: a deep copy of the parsed certificates
    /// cost as much as a third of an RSA verification per verifier) and this set's index.
    anchors: Arc<TrustAnchors>,
    index: usize,
    ark_fingerprint: OnceLock<Fingerprint>,
    ark: OnceLock<Result<String, String>>,
    ask: OnceLock<Option<IntermediateResult>>,
    asvk: OnceLock<Option<IntermediateResult>>,
}

impl PreparedSet {
    fn new(anchors: &Arc<TrustAnchors>, index: usize) -> PreparedSet {
        PreparedSet {
            anchors: Arc::clone(anchors),
            index,
            ark_fingerprint: OnceLock::new(),
            ark: OnceLock::new(),
            ask: OnceLock::new(),
            asvk: OnceLock::new(),
        }
    }

    /// This set. `index` comes from enumerating the same immutable, shared slice.
    fn set(&self) -> &AnchorSet {
        &self.anchors.sets()[self.index]
    }

    fn ark_fingerprint(&self, provider: &dyn CryptoProvider) -> &Fingerprint {
        self.ark_fingerprint
            .get_or_init(|| ChainCache::fingerprint(provider, self.set().ark().der()))
    }

    fn ark_result(
        &self,
        cache: &ChainCache,
        provider: &dyn CryptoProvider,
    ) -> &Result<String, String> {
        self.ark.get_or_init(|| {
            let ark = self.set().ark();
            let fp = self.ark_fingerprint(provider);
            ark.check_ca()
                .map_err(|e| e.to_string())
                .and_then(|()| cache.verify_fingerprinted(Tier::Ca, (ark, fp), (ark, fp), provider))
                .map(|()| {
                    format!(
                        "{} self-signed (RSASSA-PSS SHA-384)",
                        ark.common_name().unwrap_or("ARK")
                    )
                })
        })
    }

    fn intermediate_result(
        &self,
        kind: CertKind,
        cache: &ChainCache,
        provider: &dyn CryptoProvider,
    ) -> Option<(&AmdCert, &IntermediateResult)> {
        let cert = self.set().intermediate(kind)?;
        let slot = match kind {
            CertKind::Vcek => &self.ask,
            CertKind::Vlek => &self.asvk,
        };
        let ark = self.set().ark();
        let r = slot.get_or_init(|| {
            let fingerprint = ChainCache::fingerprint(provider, cert.der());
            let ark_fp = self.ark_fingerprint(provider);
            let result = cert
                .check_ca()
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    cache.verify_fingerprinted(
                        Tier::Ca,
                        (cert, &fingerprint),
                        (ark, ark_fp),
                        provider,
                    )
                })
                .map(|()| {
                    format!(
                        "{} signed by {}",
                        cert.common_name().unwrap_or(cert.role()),
                        ark.common_name().unwrap_or("ARK")
                    )
                });
            Some(IntermediateResult {
                result,
                fingerprint,
            })
        });
        r.as_ref().map(|r| (cert, r))
    }

    fn intermediate<'a>(
        &'a self,
        kind: CertKind,
        cache: &ChainCache,
        provider: &dyn CryptoProvider,
    ) -> Option<(&'a AmdCert, &'a Result<String, String>)> {
        self.intermediate_result(kind, cache, provider)
            .map(|(c, r)| (c, &r.result))
    }

    /// The VCEK/VLEK signature by this set's intermediate for `kind`, through the cache.
    fn verify_vek_signature(
        &self,
        vek: &CachedCert,
        kind: CertKind,
        cache: &ChainCache,
        provider: &dyn CryptoProvider,
    ) -> Result<(), String> {
        match self.intermediate_result(kind, cache, provider) {
            Some((inter, r)) => cache.verify_issued_by_anchor(
                Tier::EndorsementKey,
                vek,
                inter,
                &r.fingerprint,
                provider,
            ),
            None => Err(format!("no {} among the anchors", kind.intermediate_role())),
        }
    }
}

/// Verifies SNP evidence against a fixed set of trust anchors with one crypto provider.
/// Cheap to clone and share (clones share the anchor checks); anchor signatures are checked
/// once per product and kind, on first use, and certificate signatures go through a
/// [`ChainCache`] (the process-wide one unless [`Verifier::with_cache`] gives another), so
/// repeated evidence from one chip costs the report signature and the per-report checks.
#[derive(Debug, Clone)]
pub struct Verifier {
    source: AnchorSource,
    prepared: Arc<Vec<PreparedSet>>,
    provider: Arc<dyn CryptoProvider>,
    cache: Arc<ChainCache>,
    time: Option<u64>,
    crl_policy: CrlPolicy,
}

/// A VCEK/VLEK whose chain verified, without a report (for KDS fetchers and caches).
#[derive(Debug, Clone)]
pub struct VerifiedVek {
    kind: CertKind,
    product: Product,
    tcb: Tcb,
    hw_id: Option<Vec<u8>>,
    csp_id: Option<String>,
    not_after: u64,
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
    crl: Crl,
    current: bool,
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

/// Evidence that passed every check. Only [`Verifier`] constructs it (private fields, no
/// public constructor, not deserializable), so holding one means the report was verified.
#[derive(Debug, Clone)]
pub struct VerifiedEvidence {
    report: Box<[u8; REPORT_SIZE]>,
    kind: CertKind,
    product: Product,
    tcb: Tcb,
    chip_id: Option<Vec<u8>>,
    csp_id: Option<String>,
    vek_der: Vec<u8>,
    checks: Vec<CheckResult>,
    verified_at: u64,
    anchors: AnchorSource,
    provider: &'static str,
}

impl VerifiedEvidence {
    /// The verified report.
    pub fn report(&self) -> ReportView<'_> {
        ReportView::from_array(&self.report)
    }
    /// The verified report bytes.
    pub fn report_bytes(&self) -> &[u8; REPORT_SIZE] {
        &self.report
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

/// Every check plus the verdict.
#[derive(Debug)]
pub struct VerificationOutcome {
    /// All checks in evaluation order.
    pub checks: Vec<CheckResult>,
    /// The evidence, or the first failure.
    pub result: Result<VerifiedEvidence, VerifyError>,
}

impl VerificationOutcome {
    /// The result of a named check.
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }
    /// Names of the failed checks.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .map(|c| c.name)
            .collect()
    }
}

/// Accumulates check results and remembers the first failure.
struct Checks {
    list: Vec<CheckResult>,
    first_error: Option<VerifyError>,
}

impl Checks {
    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.list.push(CheckResult {
            name,
            status: CheckStatus::Pass,
            detail: detail.into(),
        });
    }
    fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.list.push(CheckResult {
            name,
            status: CheckStatus::Skipped,
            detail: detail.into(),
        });
    }
    fn fail(&mut self, err: VerifyError) {
        let name = err.check();
        tracing::debug!(check = name, error = %err, "verification check failed");
        self.list.push(CheckResult {
            name,
            status: CheckStatus::Fail,
            detail: err.to_string(),
        });
        self.first_error.get_or_insert(err);
    }
    fn record(&mut self, name: &'static str, r: Result<String, VerifyError>) -> bool {
        match r {
            Ok(d) => {
                self.pass(name, d);
                true
            }
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }
    /// Skip every remaining check not yet recorded, with the reason.
    fn skip_rest(&mut self, reason: &str) {
        for name in check::ALL {
            if !self.list.iter().any(|c| c.name == name) {
                self.skip(name, reason.to_string());
            }
        }
    }
    fn finish(mut self) -> (Vec<CheckResult>, Option<VerifyError>) {
        self.list.sort_by_key(|c| {
            check::ALL
                .iter()
                .position(|n| *n == c.name)
                .unwrap_or(usize::MAX)
        });
        (self.list, self.first_error)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The order n of the P-384 group, big-endian.
const P384_ORDER: [u8; 48] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81, 0xF4, 0x37, 0x2D, 0xDF,
    0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC, 0x19, 0x6A, 0xCC, 0xC5, 0x29, 0x73,
];

/// Convert a 72-byte little-endian signature component to a 48-byte big-endian scalar,
/// requiring the upper 24 bytes to be zero and the value to lie in 1..n.
fn scalar_from_le(name: &str, le: &[u8; 72]) -> Result<[u8; 48], String> {
    let (low, high) = le.split_at(48);
    if high.iter().any(|&b| b != 0) {
        return Err(format!(
            "{name}: upper 24 bytes of the 72-byte field are not zero"
        ));
    }
    let mut be = [0u8; 48];
    for (dst, src) in be.iter_mut().zip(low.iter().rev()) {
        *dst = *src;
    }
    if be.iter().all(|&b| b == 0) {
        return Err(format!("{name} is zero"));
    }
    if be >= P384_ORDER {
        return Err(format!(
            "{name} is not below the P-384 group order (non-canonical)"
        ));
    }
    Ok(be)
}

/// Determine the certificate kind from its extensions and name.
fn vek_kind(vek: &AmdCert) -> Result<CertKind, CertError> {
    let ext = vek.amd_extensions();
    let kind = match (ext.hw_id.is_some(), ext.csp_id.is_some()) {
        (true, false) => CertKind::Vcek,
        (false, true) => CertKind::Vlek,
        (true, true) => {
            return Err(CertError::Profile {
                role: "VEK",
                detail: "carries both hwID (VCEK) and cspId (VLEK)".into(),
            })
        }
        (false, false) => {
            return Err(CertError::Profile {
                role: "VEK",
                detail: "carries neither hwID (VCEK) nor cspId (VLEK): not a VCEK/VLEK".into(),
            })
        }
    };
    if vek.common_name() != Some(kind.common_name()) {
        return Err(CertError::Profile {
            role: "VEK",
            detail: format!(
                "subject CN {:?} does not name a {} ({})",
                vek.common_name().unwrap_or(""),
                kind,
                kind.common_name()
            ),
        });
    }
    vek.check_end_entity()?;
    if !matches!(vek.public_key(), PublicKey::P384 { .. }) {
        return Err(CertError::PublicKey {
            role: "VEK",
            detail: "VCEK/VLEK keys are P-384".into(),
        });
    }
    Ok(kind)
}

impl Verifier {
    /// A verifier over `anchors` with the default crypto provider.
    pub fn new(anchors: TrustAnchors) -> Verifier {
        Verifier::with_provider(anchors, default_provider())
    }

    /// A verifier over `anchors` with an explicit crypto provider.
    pub fn with_provider(anchors: TrustAnchors, provider: Arc<dyn CryptoProvider>) -> Verifier {
        let source = anchors.source();
        let anchors = Arc::new(anchors);
        let prepared = (0..anchors.sets().len())
            .map(|i| PreparedSet::new(&anchors, i))
            .collect();
        Verifier {
            source,
            prepared: Arc::new(prepared),
            provider,
            cache: ChainCache::global(),
            time: None,
            crl_policy: CrlPolicy::default(),
        }
    }

    /// Judge validity periods (and CRL freshness) at `time` instead of now.
    pub fn at(mut self, time: SystemTime) -> Verifier {
        self.time = Some(time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));
        self
    }

    /// Judge validity at `secs` seconds since the UNIX epoch.
    pub fn at_unix(mut self, secs: u64) -> Verifier {
        self.time = Some(secs);
        self
    }

    /// Use `cache` for certificate parses and signatures instead of the process-wide
    /// [`ChainCache::global`] (e.g. [`ChainCache::disabled`] to do all the work every time).
    /// Only certificate signature facts are cached; every check of the module table still runs
    /// on every report.
    pub fn with_cache(mut self, cache: Arc<ChainCache>) -> Verifier {
        self.cache = cache;
        self
    }

    /// The certificate cache in use.
    pub fn cache(&self) -> &Arc<ChainCache> {
        &self.cache
    }

    /// Whether a CRL is required.
    pub fn crl_policy(mut self, policy: CrlPolicy) -> Verifier {
        self.crl_policy = policy;
        self
    }

    /// The crypto provider in use.
    pub fn provider(&self) -> &dyn CryptoProvider {
        &*self.provider
    }

    /// Where the anchors came from.
    pub fn anchor_source(&self) -> AnchorSource {
        self.source
    }

    fn now(&self) -> u64 {
        self.time.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        })
    }

    fn prepared(&self, product: Product) -> Option<&PreparedSet> {
        self.prepared.iter().find(|p| p.set().product() == product)
    }

    /// Verify a report; see the module documentation for the checks.
    pub fn verify(
        &self,
        report: &[u8],
        endorsements: &Endorsements,
    ) -> Result<VerifiedEvidence, VerifyError> {
        self.verify_detailed(report, endorsements).result
    }

    /// Verify a report and return every check with its status.
    pub fn verify_detailed(
        &self,
        report: &[u8],
        endorsements: &Endorsements,
    ) -> VerificationOutcome {
        let mut checks = Checks {
            list: Vec::with_capacity(check::ALL.len()),
            first_error: None,
        };
        let evidence = self.run(report, endorsements, &mut checks);
        let (list, first_error) = checks.finish();
        let result = match (evidence, first_error) {
            (Some(mut ev), None) => {
                ev.checks = list.clone();
                Ok(ev)
            }
            (_, Some(e)) => Err(e),
            // `run` returns no evidence only after recording a failure; keep a typed error
            // anyway rather than trusting that.
            (None, None) => Err(VerifyError::Product("verification incomplete".into())),
        };
        VerificationOutcome {
            checks: list,
            result,
        }
    }

    fn run(
        &self,
        report: &[u8],
        e: &Endorsements,
        checks: &mut Checks,
    ) -> Option<VerifiedEvidence> {
        let time = self.now();

        // report_format
        let view = match ReportView::new(report) {
            Ok(v) => v,
            Err(err) => {
                checks.fail(err.into());
                checks.skip_rest("report bytes unusable");
                return None;
            }
        };
        let version = view.version();
        if !(2..=5).contains(&version) {
            checks.fail(VerifyError::UnsupportedVersion(version));
            checks.skip_rest("report layout unknown");
            return None;
        }
        if view.signature_algo() != SIG_ALGO_ECDSA_P384_SHA384 {
            checks.fail(VerifyError::UnsupportedSignatureAlgo(view.signature_algo()));
            checks.skip_rest("report signature algorithm unsupported");
            return None;
        }
        checks.pass(
            check::REPORT_FORMAT,
            format!("{REPORT_SIZE} bytes, version {version}, ECDSA P-384/SHA-384"),
        );

        // vek_certificate
        if e.vek.is_empty() {
            checks.fail(VerifyError::NoCertificate);
            checks.skip_rest("no VCEK/VLEK");
            return None;
        }
        let parsed = self
            .cache
            .parse("VEK", &e.vek, &*self.provider)
            .and_then(|c| vek_kind(&c).map(|k| (c, k)));
        let (vek, kind) = match parsed {
            Ok(v) => v,
            Err(err) => {
                checks.fail(VerifyError::Certificate(err));
                checks.skip_rest("VCEK/VLEK unusable");
                return None;
            }
        };
        let ext: &VekExtensions = vek.amd_extensions();
        let cert_product = ext.product(kind.role());
        checks.pass(
            check::VEK_CERTIFICATE,
            format!(
                "{kind} (productName {:?}, serial {}, {}..{})",
                ext.product_name.as_deref().unwrap_or("?"),
                vek.serial_hex(),
                fmt_time(vek.not_before()),
                fmt_time(vek.not_after())
            ),
        );

        // product
        let product = match (view.product_from_cpuid(), cert_product) {
            (Some(Err(err)), _) => {
                checks.fail(VerifyError::Product(err.to_string()));
                checks.skip_rest("product unknown");
                return None;
            }
            (None, Err(err)) => {
                checks.fail(VerifyError::Product(format!(
                    "v{version} report has no CPUID fields and the certificate names no product: {err}"
                )));
                checks.skip_rest("product unknown");
                return None;
            }
            (Some(Ok(p)), Ok(c)) if p != c => {
                checks.fail(VerifyError::Product(format!(
                    "report CPUID says {p}, certificate productName says {c}"
                )));
                p
            }
            (Some(Ok(p)), Err(err)) => {
                checks.fail(VerifyError::Product(format!(
                    "report CPUID says {p}, but {err}"
                )));
                p
            }
            (Some(Ok(p)), Ok(_)) => {
                checks.pass(
                    check::PRODUCT,
                    format!("{p} (report CPUID, agrees with certificate)"),
                );
                p
            }
            (None, Ok(c)) => {
                checks.pass(
                    check::PRODUCT,
                    format!("{c} (certificate productName; v{version} report has no CPUID)"),
                );
                c
            }
        };

        let prepared = self.prepared(product);
        let source = match self.source {
            AnchorSource::AmdPinned => "AMD pinned",
            AnchorSource::Explicit => "explicit (not AMD)",
        };

        // host_certificates
        match prepared {
            _ if e.ark.is_none() && e.ask.is_none() => checks.skip(
                check::HOST_CERTIFICATES,
                "host supplied no ARK/ASK (not needed: anchors are pinned)",
            ),
            None => checks.skip(
                check::HOST_CERTIFICATES,
                format!("no {source} anchors for {product} to compare with"),
            ),
            Some(p) => {
                let r = self.check_host_certs(p, kind, e);
                checks.record(check::HOST_CERTIFICATES, r);
            }
        }

        // ark_self_signature, ask_signed_by_ark
        let no_anchor = |name: &'static str, what: String| VerifyError::Chain {
            check: name,
            detail: what,
        };
        let mut intermediate: Option<&AmdCert> = None;
        match prepared {
            None => {
                let msg = format!("no {source} trust anchors for {product}");
                checks.fail(no_anchor(check::ARK_SELF_SIGNATURE, msg.clone()));
                checks.fail(no_anchor(check::ASK_SIGNED_BY_ARK, msg.clone()));
                checks.fail(no_anchor(check::VEK_SIGNED_BY_ASK, msg));
            }
            Some(p) => {
                let r = p
                    .ark_result(&self.cache, &*self.provider)
                    .clone()
                    .map_err(|d| no_anchor(check::ARK_SELF_SIGNATURE, d));
                checks.record(
                    check::ARK_SELF_SIGNATURE,
                    r.map(|d| format!("{d} [{source}]")),
                );
                match p.intermediate(kind, &self.cache, &*self.provider) {
                    None => {
                        let msg = format!(
                            "no {} for {product} among the {source} trust anchors",
                            kind.intermediate_role()
                        );
                        checks.fail(no_anchor(check::ASK_SIGNED_BY_ARK, msg.clone()));
                        checks.fail(no_anchor(check::VEK_SIGNED_BY_ASK, msg));
                    }
                    Some((cert, res)) => {
                        let r = res
                            .clone()
                            .map_err(|d| no_anchor(check::ASK_SIGNED_BY_ARK, d));
                        checks.record(check::ASK_SIGNED_BY_ARK, r);
                        intermediate = Some(cert);
                        let r = p
                            .verify_vek_signature(&vek, kind, &self.cache, &*self.provider)
                            .map(|()| {
                                format!(
                                    "{kind} signed by {}",
                                    cert.common_name().unwrap_or(cert.role())
                                )
                            })
                            .map_err(|d| no_anchor(check::VEK_SIGNED_BY_ASK, d));
                        checks.record(check::VEK_SIGNED_BY_ASK, r);
                    }
                }
            }
        }

        // validity
        let mut chain: Vec<&AmdCert> = Vec::new();
        if let Some(p) = prepared {
            chain.push(p.set().ark());
        }
        chain.extend(intermediate);
        chain.push(&vek);
        let expired: Vec<String> = chain
            .iter()
            .filter_map(|c| c.check_validity(time).err())
            .collect();
        if expired.is_empty() {
            checks.pass(
                check::VALIDITY,
                format!("{} certificate(s) valid at {}", chain.len(), fmt_time(time)),
            );
        } else {
            checks.fail(VerifyError::Validity(expired.join("; ")));
        }

        // crl
        match (&e.crl, prepared) {
            (None, _) if self.crl_policy == CrlPolicy::Required => {
                checks.fail(VerifyError::CrlMissing)
            }
            (None, _) => checks.skip(check::CRL, "no CRL supplied"),
            (Some(_), None) => checks.fail(VerifyError::Crl(CrlError::Signature {
                ark: format!("ARK-{product}"),
                detail: format!("no {source} ARK for {product}"),
            })),
            (Some(der), Some(p)) => {
                let mut listed: Vec<&AmdCert> = intermediate.into_iter().collect();
                listed.push(&vek);
                let r = Crl::from_der(der)
                    .and_then(|crl| {
                        crl.check(p.set().ark(), &listed, time, &*self.provider)
                            .map(|()| crl)
                    })
                    .map(|crl| {
                        format!(
                            "signed by {}, current ({}..{}), chain not revoked",
                            p.set().ark().common_name().unwrap_or("ARK"),
                            fmt_time(crl.this_update()),
                            crl.next_update().map(fmt_time).unwrap_or_default()
                        )
                    })
                    .map_err(VerifyError::Crl);
                checks.record(check::CRL, r);
            }
        }

        // report_signature
        let sig = self.check_report_signature(&view, &vek);
        checks.record(check::REPORT_SIGNATURE, sig);

        // tcb_binding
        let reported = view.reported_tcb(product);
        let tcb = match (reported, ext.tcb(kind.role(), product)) {
            (Ok(r), Ok(c)) if r == c => {
                checks.pass(
                    check::TCB_BINDING,
                    format!("REPORTED_TCB {r} == {kind} TCB ({product} layout)"),
                );
                Some(r)
            }
            (r, c) => {
                checks.fail(VerifyError::TcbMismatch {
                    product,
                    kind,
                    report: match r {
                        Ok(t) => t.to_string(),
                        Err(err) => err.to_string(),
                    },
                    cert: match c {
                        Ok(t) => t.to_string(),
                        Err(err) => err.to_string(),
                    },
                });
                None
            }
        };

        // chip_id_binding
        let mut chip_id = None;
        match kind {
            CertKind::Vlek => checks.skip(
                check::CHIP_ID_BINDING,
                "not applicable: a VLEK is not tied to a chip (no hwID)",
            ),
            CertKind::Vcek if view.chip_id_masked() => checks.skip(
                check::CHIP_ID_BINDING,
                "CHIP_ID is masked (all zero) by the platform; the VCEK signature still binds the chip",
            ),
            CertKind::Vcek => {
                let n = product.hwid_len();
                let report_id = view.chip_id().get(..n).unwrap_or_default();
                match ext.hw_id_for(kind.role(), product) {
                    Ok(hw) if hw == report_id => {
                        checks.pass(check::CHIP_ID_BINDING, format!("CHIP_ID[..{n}] == VCEK hwID ({n} bytes)"));
                        chip_id = Some(hw.to_vec());
                    }
                    Ok(hw) => checks.fail(VerifyError::ChipIdMismatch {
                        report: hex(report_id.get(..8).unwrap_or_default()),
                        cert: hex(hw.get(..8).unwrap_or_default()),
                    }),
                    Err(err) => checks.fail(VerifyError::ChipIdMismatch {
                        report: hex(report_id.get(..8).unwrap_or_default()),
                        cert: format!("(unusable: {err})"),
                    }),
                }
            }
        }

        // signer_binding
        let signer = view.signing_key();
        let expected = match kind {
            CertKind::Vcek => SigningKey::Vcek,
            CertKind::Vlek => SigningKey::Vlek,
        };
        if view.mask_chip_key() {
            checks.fail(VerifyError::SignerMismatch {
                report: "MASK_CHIP_KEY set (report not signed with a chip key)".into(),
                cert: kind,
            });
        } else if signer != expected {
            checks.fail(VerifyError::SignerMismatch {
                report: signer.to_string(),
                cert: kind,
            });
        } else {
            checks.pass(
                check::SIGNER_BINDING,
                format!("signer info names {signer}, certificate is a {kind}"),
            );
        }

        let tcb = tcb?;
        let report_copy: Box<[u8; REPORT_SIZE]> = Box::new(*view.as_bytes());
        Some(VerifiedEvidence {
            report: report_copy,
            kind,
            product,
            tcb,
            chip_id,
            csp_id: ext.csp_id.clone(),
            vek_der: e.vek.clone(),
            checks: Vec::new(),
            verified_at: time,
            anchors: self.source,
            provider: self.provider.name(),
        })
    }

    fn check_host_certs(
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
    fn same_as_anchor(
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

    fn check_report_signature(
        &self,
        view: &ReportView<'_>,
        vek: &AmdCert,
    ) -> Result<String, VerifyError> {
        let PublicKey::P384 { sec1 } = vek.public_key() else {
            return Err(VerifyError::ReportSignature(
                "certificate key is not P-384".into(),
            ));
        };
        let r = scalar_from_le("R", view.signature_r()).map_err(VerifyError::ReportSignature)?;
        let s = scalar_from_le("S", view.signature_s()).map_err(VerifyError::ReportSignature)?;
        self.provider
            .verify_ecdsa_p384_sha384(sec1, view.signed_bytes(), &r, &s)
            .map(|()| "ECDSA P-384/SHA-384 over bytes 0x000..0x2A0 verifies".to_string())
            .map_err(|err| VerifyError::ReportSignature(err.to_string()))
    }

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
    /// can keep a stale CRL and the core [`Verifier::verify`] decides (it rejects stale CRLs).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_checks() {
        let mut le = [0u8; 72];
        assert!(scalar_from_le("R", &le).is_err(), "zero");
        le[0] = 1;
        assert_eq!(scalar_from_le("R", &le).map(|b| b[47]), Ok(1));
        le[48] = 1;
        assert!(scalar_from_le("R", &le).is_err(), "junk in upper bytes");
        let mut n_le = [0u8; 72];
        for (i, b) in P384_ORDER.iter().rev().enumerate() {
            n_le[i] = *b;
        }
        assert!(scalar_from_le("S", &n_le).is_err(), "n itself");
        n_le[0] -= 1;
        assert!(scalar_from_le("S", &n_le).is_ok(), "n - 1");
    }

    #[test]
    fn error_check_names_are_known() {
        let errs = [
            VerifyError::Report(ReportError::Truncated {
                len: 0,
                expected: 1,
            }),
            VerifyError::NoCertificate,
            VerifyError::Product(String::new()),
            VerifyError::CrlMissing,
            VerifyError::ReportSignature(String::new()),
            VerifyError::Validity(String::new()),
        ];
        for e in errs {
            assert!(check::ALL.contains(&e.check()));
        }
    }

    #[test]
    fn p384_order_matches_the_curve() {
        use p384::elliptic_curve::bigint::Encoding;
        use p384::elliptic_curve::Curve;
        let n = p384::NistP384::ORDER.to_be_bytes();
        assert_eq!(n.as_slice(), P384_ORDER.as_slice());
    }
}
