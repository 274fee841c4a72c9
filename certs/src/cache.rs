//! Verified-chain cache: AMD CA certificates verified once per process, VCEK/VLEK once per certificate.
//!
//! A relying party verifying a fleet sees the same few ARK/ASK/ASVK certificates and, per chip
//! and TCB, the same VCEK over and over. Their RSA-4096 signatures and the X.509 parse are
//! the expensive part of a verification after the report's own ECDSA signature, and their
//! outcome never changes: whether certificate `C` (exact DER bytes) is signed by certificate
//! `I` (exact DER bytes) is a fact independent of time, report and policy. This cache
//! remembers exactly those facts and nothing else:
//!
//! * **parsed certificates** ([`ChainCache::parse`]): the [`AmdCert`] for a DER, keyed by the
//!   SHA-384 of the DER and returned only if the stored DER is byte-identical to the one
//!   presented;
//! * **verified signatures** ([`ChainCache::verify_issued_by`]): "child DER was signed by
//!   issuer DER's key, with matching issuer/subject names, checked by provider P", keyed by
//!   both SHA-384 fingerprints and the provider name. Only *successful* checks are stored, so a
//!   host feeding forged certificates cannot fill the cache or make anything pass; a failure is
//!   recomputed every time.
//!
//! What is deliberately **not** cached, and therefore runs on every report in
//! [`crate::verify::Verifier`]: validity periods at the verification time (a certificate
//! verified at time T is re-judged at T'), the CRL (revocation is decided from the CRL handed to
//! each call), pinned-anchor selection, the report signature, and the TCB, chip-ID and
//! signer-kind binding checks. A cache hit only skips an RSA signature check whose answer is
//! already known.
//!
//! ## Bound and eviction
//! Two tiers, each a FIFO of fixed capacity (oldest inserted entry evicted first, no
//! reordering on reads so lookups need only the read lock):
//! * the CA tier ([`CA_CAPACITY`] = 64 signature facts): ARK self-signatures and
//!   ARK→ASK/ASVK; a handful per product line, so churn among VCEKs never evicts them;
//! * the endorsement-key tier (default [`DEFAULT_CAPACITY`] = 1024 certificates): each entry
//!   holds the DER, the parsed certificate and the issuers it verified under — about 8 KiB, so
//!   the default bounds the cache near 8 MiB. Size it to the number of (chip, TCB) pairs in a
//!   fleet; a miss only costs one cold verification.
//!
//! A capacity of 0 disables caching entirely (every call does the full work), which is how the
//! tests compare a cached verifier with an uncached one.
//!
//! ## AMD's pinned roots
//! The relations among AMD's embedded certificates — each ARK's self-signature and its
//! signatures over its ASK and ASVK — are facts about constants of this binary. An enabled
//! cache answers them from a process-wide record ([`crate::roots::is_pinned_relation`] decides,
//! by exact bytes), proven at first use in the process by whichever cache asks first and tested
//! against the embedded DER at build time, so a verifier with a fresh cache pays only for its
//! VCEK/VLEK. A host-served or explicitly configured certificate that is not byte-identical to
//! the embedded one gets no such shortcut.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use crate::chain::AmdCert;
use crate::crypto::CryptoProvider;
use crate::error::CertError;

/// Default number of VCEK/VLEK certificates kept.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Number of CA signature facts (ARK self-signature, ARK→ASK/ASVK) kept.
pub const CA_CAPACITY: usize = 64;

/// SHA-384 of a certificate's DER.
pub type Fingerprint = [u8; 48];

/// Which tier a signature fact belongs to (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// ARK self-signature, ARK→ASK/ASVK (and host-served re-issued CA certificates).
    Ca,
    /// ASK→VCEK, ASVK→VLEK.
    EndorsementKey,
}

/// A certificate parsed once and shared, with the fingerprint it is cached under.
#[derive(Debug)]
pub struct CachedCert {
    fingerprint: Fingerprint,
    cert: AmdCert,
}

impl CachedCert {
    /// SHA-384 of the DER.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The parsed certificate.
    pub fn cert(&self) -> &AmdCert {
        &self.cert
    }
}

impl std::ops::Deref for CachedCert {
    type Target = AmdCert;
    fn deref(&self) -> &AmdCert {
        &self.cert
    }
}

/// One verified-signature fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SigKey {
    child: Fingerprint,
    issuer: Fingerprint,
    provider: &'static str,
}

#[derive(Debug)]
struct VekEntry {
    cert: Arc<CachedCert>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Parsed endorsement-key certificates (and any other certificate parsed through the cache).
    certs: HashMap<Fingerprint, VekEntry>,
    cert_order: VecDeque<Fingerprint>,
    /// Signature facts, per tier.
    ca_sigs: HashMap<SigKey, ()>,
    ca_order: VecDeque<SigKey>,
    vek_sigs: HashMap<SigKey, ()>,
    vek_order: VecDeque<SigKey>,
}

/// Counters for observing the cache (e.g. in a metrics endpoint or a benchmark).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Parse or signature lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to do the work.
    pub misses: u64,
    /// Certificates currently held.
    pub certificates: usize,
    /// Signature facts currently held (both tiers).
    pub signatures: usize,
}

/// Thread-safe, bounded cache of parsed certificates and verified certificate signatures.
pub struct ChainCache {
    capacity: usize,
    inner: RwLock<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl fmt::Debug for ChainCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainCache")
            .field("capacity", &self.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for ChainCache {
    fn default() -> Self {
        ChainCache::new()
    }
}

impl ChainCache {
    /// A cache holding up to [`DEFAULT_CAPACITY`] VCEK/VLEK certificates.
    pub fn new() -> ChainCache {
        ChainCache::with_capacity(DEFAULT_CAPACITY)
    }

    /// A cache holding up to `capacity` VCEK/VLEK certificates; 0 disables caching.
    pub fn with_capacity(capacity: usize) -> ChainCache {
        ChainCache {
            capacity,
            inner: RwLock::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// A cache that stores nothing: every lookup does the full work.
    pub fn disabled() -> ChainCache {
        ChainCache::with_capacity(0)
    }

    /// The process-wide cache verifiers share unless given their own, so that the AMD CA
    /// signatures are checked once per process however many verifiers are built.
    pub fn global() -> Arc<ChainCache> {
        static GLOBAL: OnceLock<Arc<ChainCache>> = OnceLock::new();
        Arc::clone(GLOBAL.get_or_init(|| Arc::new(ChainCache::new())))
    }

    /// Whether this cache stores anything.
    pub fn is_enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Maximum number of VCEK/VLEK certificates held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Current counters.
    pub fn stats(&self) -> CacheStats {
        let (certificates, signatures) = match self.inner.read() {
            Ok(g) => (g.certs.len(), g.ca_sigs.len() + g.vek_sigs.len()),
            Err(_) => (0, 0),
        };
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            certificates,
            signatures,
        }
    }

    /// Forget everything (e.g. after a CRL update, although revocation is judged per call
    /// anyway, or to measure a cold verification).
    pub fn clear(&self) {
        if let Ok(mut g) = self.inner.write() {
            *g = Inner::default();
        }
    }

    /// SHA-384 fingerprint of `der` with `provider` (for AMD's embedded CA certificates, the
    /// digest computed once per process: a verifier built per request would otherwise hash the
    /// same constants every time).
    pub fn fingerprint(provider: &dyn CryptoProvider, der: &[u8]) -> Fingerprint {
        crate::roots::pinned_fingerprint(der).unwrap_or_else(|| provider.sha384(der))
    }

    /// Parse `der` as a certificate in `role`, or return the copy parsed earlier. A cached
    /// copy is used only if its DER is byte-identical and it was parsed in the same role
    /// (the role appears in error messages and the profile checks). Parse failures are not
    /// cached.
    pub fn parse(
        &self,
        role: &'static str,
        der: &[u8],
        provider: &dyn CryptoProvider,
    ) -> Result<Arc<CachedCert>, CertError> {
        let fingerprint = Self::fingerprint(provider, der);
        if self.is_enabled() {
            if let Ok(g) = self.inner.read() {
                if let Some(e) = g.certs.get(&fingerprint) {
                    if e.cert.cert.der() == der && e.cert.cert.role() == role {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                        return Ok(Arc::clone(&e.cert));
                    }
                }
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let cert = Arc::new(CachedCert {
            fingerprint,
            cert: AmdCert::from_der(role, der)?,
        });
        if self.is_enabled() {
            if let Ok(mut g) = self.inner.write() {
                let g = &mut *g;
                if !g.certs.contains_key(&fingerprint) {
                    while g.certs.len() >= self.capacity {
                        match g.cert_order.pop_front() {
                            Some(old) => {
                                g.certs.remove(&old);
                            }
                            None => break,
                        }
                    }
                    g.cert_order.push_back(fingerprint);
                }
                g.certs.insert(
                    fingerprint,
                    VekEntry {
                        cert: Arc::clone(&cert),
                    },
                );
            }
        }
        Ok(cert)
    }

    /// [`AmdCert::verify_issued_by`] (issuer name == issuer subject, RSASSA-PSS signature over
    /// the received TBS bytes), answered from the cache when this exact child was verified
    /// under this exact issuer with this provider before. `tier` says which bound the fact
    /// counts against.
    pub fn verify_issued_by(
        &self,
        tier: Tier,
        child: &AmdCert,
        issuer: &AmdCert,
        provider: &dyn CryptoProvider,
    ) -> Result<(), String> {
        if !self.is_enabled() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return child.verify_issued_by(issuer, provider);
        }
        let key = SigKey {
            child: Self::fingerprint(provider, child.der()),
            issuer: Self::fingerprint(provider, issuer.der()),
            provider: provider.name(),
        };
        self.verify_keyed(tier, key, child, issuer, provider)
    }

    /// As [`ChainCache::verify_issued_by`] for certificates obtained from
    /// [`ChainCache::parse`], whose fingerprints are already known (saves hashing).
    pub fn verify_cached_issued_by(
        &self,
        tier: Tier,
        child: &CachedCert,
        issuer: &CachedCert,
        provider: &dyn CryptoProvider,
    ) -> Result<(), String> {
        if !self.is_enabled() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return child.cert.verify_issued_by(&issuer.cert, provider);
        }
        let key = SigKey {
            child: child.fingerprint,
            issuer: issuer.fingerprint,
            provider: provider.name(),
        };
        self.verify_keyed(tier, key, &child.cert, &issuer.cert, provider)
    }

    /// As [`ChainCache::verify_issued_by`] with the issuer's fingerprint supplied by the
    /// caller (a verifier fingerprints its anchors once).
    pub fn verify_issued_by_anchor(
        &self,
        tier: Tier,
        child: &CachedCert,
        issuer: &AmdCert,
        issuer_fingerprint: &Fingerprint,
        provider: &dyn CryptoProvider,
    ) -> Result<(), String> {
        if !self.is_enabled() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return child.cert.verify_issued_by(issuer, provider);
        }
        let key = SigKey {
            child: child.fingerprint,
            issuer: *issuer_fingerprint,
            provider: provider.name(),
        };
        self.verify_keyed(tier, key, &child.cert, issuer, provider)
    }

    /// As [`ChainCache::verify_issued_by`] with both fingerprints supplied by the caller (a
    /// verifier fingerprints each anchor once, not once per check).
    pub fn verify_fingerprinted(
        &self,
        tier: Tier,
        child: (&AmdCert, &Fingerprint),
        issuer: (&AmdCert, &Fingerprint),
        provider: &dyn CryptoProvider,
    ) -> Result<(), String> {
        if !self.is_enabled() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return child.0.verify_issued_by(issuer.0, provider);
        }
        let key = SigKey {
            child: *child.1,
            issuer: *issuer.1,
            provider: provider.name(),
        };
        self.verify_keyed(tier, key, child.0, issuer.0, provider)
    }

    fn verify_keyed(
        &self,
        tier: Tier,
        key: SigKey,
        child: &AmdCert,
        issuer: &AmdCert,
        provider: &dyn CryptoProvider,
    ) -> Result<(), String> {
        if tier == Tier::Ca && crate::roots::is_pinned_relation(child.der(), issuer.der()) {
            return self.verify_pinned(key, child, issuer, provider);
        }
        let known = match self.inner.read() {
            Ok(g) => match tier {
                Tier::Ca => g.ca_sigs.contains_key(&key),
                Tier::EndorsementKey => g.vek_sigs.contains_key(&key),
            },
            Err(_) => false,
        };
        if known {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        child.verify_issued_by(issuer, provider)?;
        if let Ok(mut g) = self.inner.write() {
            let g = &mut *g;
            let (map, order, cap) = match tier {
                Tier::Ca => (&mut g.ca_sigs, &mut g.ca_order, CA_CAPACITY),
                Tier::EndorsementKey => (&mut g.vek_sigs, &mut g.vek_order, self.capacity),
            };
            if !map.contains_key(&key) {
                while map.len() >= cap {
                    match order.pop_front() {
                        Some(old) => {
                            map.remove(&old);
                        }
                        None => break,
                    }
                }
                order.push_back(key);
                map.insert(key, ());
            }
        }
        Ok(())
    }

    /// A relation among AMD's embedded CA certificates (see
    /// [`crate::roots::is_pinned_relation`]): proven once per process and provider, whichever
    /// cache asks first, and then known to every cache — a verifier with a fresh cache pays
    /// only for its VCEK/VLEK. Like every other fact, only a success is remembered.
    fn verify_pinned(
        &self,
        key: SigKey,
        child: &AmdCert,
        issuer: &AmdCert,
        provider: &dyn CryptoProvider,
    ) -> Result<(), String> {
        static PROVEN: OnceLock<RwLock<Vec<SigKey>>> = OnceLock::new();
        let proven = PROVEN.get_or_init(|| RwLock::new(Vec::new()));
        if proven.read().is_ok_and(|g| g.contains(&key)) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        child.verify_issued_by(issuer, provider)?;
        if let Ok(mut g) = proven.write() {
            // At most 9 relations per provider: the list cannot grow beyond the embedded set.
            if !g.contains(&key) {
                g.push(key);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
