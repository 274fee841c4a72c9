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
//! | `crl` | if a CRL is given (or required): ARK-signed, current, nothing in the chain revoked; a host-served CRL past nextUpdate only warns unless CRL checking was asked for |
//! | `report_signature` | ECDSA P-384/SHA-384 over the received bytes 0x000..0x2A0; R, S canonical; 0x330..0x4A0 zero |
//! | `tcb_binding` | certificate SPLs == REPORTED_TCB in the product's layout |
//! | `chip_id_binding` | VCEK hwID == CHIP_ID (first 8 bytes on Turin) unless the chip ID is masked |
//! | `signer_binding` | the report's signing-key field names the certificate's kind |
//!
//! Every check that has its inputs runs, so that a caller can print all of them; the error
//! returned is the first failure in the table's order. The binding checks are part of this one
//! function and cannot be switched off. A [`VerifiedEvidence`] exists only if every check
//! passed (or was not applicable, which is recorded with its reason).
//!
//! Verified evidence carries an identity, [`VerifiedEvidence::id`], for relying parties that
//! deduplicate evidence or detect replays: the received bytes are not unique, because the ECDSA
//! twin (r, n − s) of a genuine signature verifies too (see [`EvidenceId`]).

pub mod check;
mod endorsements;
mod error;
mod host;
mod identity;
mod kds_side;
mod outcome;
mod prepared;
mod revocation;
mod run;
mod signature;
mod verified;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cache::ChainCache;
use crate::crypto::{default_provider, CryptoProvider};
use crate::product::Product;
use crate::roots::{AnchorSource, TrustAnchors};

pub use endorsements::{CrlPolicy, Endorsements};
pub use error::VerifyError;
pub use identity::{EvidenceId, EVIDENCE_ID_LABEL};
pub use outcome::{CheckResult, CheckStatus, VerificationOutcome};
pub use verified::{VerifiedCrl, VerifiedEvidence, VerifiedVek};

use outcome::Checks;
use prepared::PreparedSet;

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
}
