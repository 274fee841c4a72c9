//! One product's trust anchors with their own checks, computed once per verifier on first use.

use std::sync::{Arc, OnceLock};

use crate::cache::{CachedCert, ChainCache, Fingerprint, Tier};
use crate::chain::{AmdCert, CertKind};
use crate::crypto::CryptoProvider;
use crate::roots::{AnchorSet, TrustAnchors};

/// Result of an intermediate's check (ARK→ASK or ARK→ASVK) and the intermediate's fingerprint,
/// the issuer key under which VCEK/VLEK signatures are cached.
#[derive(Debug)]
pub(super) struct IntermediateResult {
    result: Result<String, String>,
    fingerprint: Fingerprint,
}

/// One product's anchors with their checks (ARK self-signature, ARK→ASK, ARK→ASVK), each
/// computed on first use — only the intermediate a report needs is checked — and answered by
/// the [`ChainCache`] when another verifier in the process already did the work.
#[derive(Debug)]
pub(super) struct PreparedSet {
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
    pub(super) fn new(anchors: &Arc<TrustAnchors>, index: usize) -> PreparedSet {
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
    pub(super) fn set(&self) -> &AnchorSet {
        &self.anchors.sets()[self.index]
    }

    pub(super) fn ark_fingerprint(&self, provider: &dyn CryptoProvider) -> &Fingerprint {
        self.ark_fingerprint
            .get_or_init(|| ChainCache::fingerprint(provider, self.set().ark().der()))
    }

    pub(super) fn ark_result(
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

    pub(super) fn intermediate_result(
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

    pub(super) fn intermediate<'a>(
        &'a self,
        kind: CertKind,
        cache: &ChainCache,
        provider: &dyn CryptoProvider,
    ) -> Option<(&'a AmdCert, &'a Result<String, String>)> {
        self.intermediate_result(kind, cache, provider)
            .map(|(c, r)| (c, &r.result))
    }

    /// The VCEK/VLEK signature by this set's intermediate for `kind`, through the cache.
    pub(super) fn verify_vek_signature(
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
