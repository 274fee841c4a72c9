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
mod tests {
    use super::*;
    use crate::crypto::{available_providers, RustCryptoProvider};
    use crate::product::Product;
    use crate::roots::TrustAnchors;

    const VCEK_MILAN: &[u8] = include_bytes!("../../tests/data/real/virtee-sev/vcek_milan.der");
    const VCEK_TURIN: &[u8] = include_bytes!("../../tests/data/real/virtee-sev/vcek_turin.der");

    fn milan_ask() -> AmdCert {
        TrustAnchors::amd()
            .get(Product::Milan)
            .and_then(|s| s.ask().cloned())
            .expect("pinned Milan ASK")
    }

    #[test]
    fn parse_is_cached_by_exact_der_and_role() {
        let cache = ChainCache::new();
        let p = RustCryptoProvider;
        let a = cache.parse("VEK", VCEK_MILAN, &p).expect("parses");
        let b = cache.parse("VEK", VCEK_MILAN, &p).expect("parses");
        assert!(Arc::ptr_eq(&a, &b), "second parse served from the cache");
        assert_eq!(cache.stats().hits, 1);
        // Another role parses afresh (and replaces the entry).
        let c = cache.parse("VCEK", VCEK_MILAN, &p).expect("parses");
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.role(), "VCEK");
        // A malformed certificate is an error every time and never cached.
        let mut bad = VCEK_MILAN.to_vec();
        bad.truncate(100);
        assert!(cache.parse("VEK", &bad, &p).is_err());
        assert!(cache.parse("VEK", &bad, &p).is_err());
        assert_eq!(cache.stats().certificates, 1);
    }

    #[test]
    fn signature_facts_cached_only_on_success() {
        let ask = milan_ask();
        for p in available_providers() {
            let cache = ChainCache::new();
            let vcek = cache.parse("VEK", VCEK_MILAN, &*p).expect("parses");
            cache
                .verify_issued_by(Tier::EndorsementKey, &vcek, &ask, &*p)
                .expect("real VCEK signed by the pinned ASK");
            let misses = cache.stats().misses;
            cache
                .verify_issued_by(Tier::EndorsementKey, &vcek, &ask, &*p)
                .expect("again");
            assert_eq!(cache.stats().misses, misses, "answered from the cache");

            // A Turin VCEK is not signed by the Milan ASK: fails, every time, never stored.
            let turin = cache.parse("VEK", VCEK_TURIN, &*p).expect("parses");
            let before = cache.stats().signatures;
            for _ in 0..2 {
                assert!(cache
                    .verify_issued_by(Tier::EndorsementKey, &turin, &ask, &*p)
                    .is_err());
            }
            assert_eq!(cache.stats().signatures, before);

            // The fact is per provider and per tier.
            let other = RustCryptoProvider;
            if p.name() != other.name() {
                let m = cache.stats().misses;
                cache
                    .verify_issued_by(Tier::EndorsementKey, &vcek, &ask, &other)
                    .expect("verifies");
                assert_eq!(cache.stats().misses, m + 1);
            }
            let m = cache.stats().misses;
            cache
                .verify_issued_by(Tier::Ca, &vcek, &ask, &*p)
                .expect("verifies");
            assert_eq!(cache.stats().misses, m + 1);
        }
    }

    #[test]
    fn tampered_child_is_not_a_hit() {
        // The same certificate with one signature byte changed has another fingerprint and
        // must be checked (and fail), even though the genuine one is cached.
        let ask = milan_ask();
        let p = RustCryptoProvider;
        let cache = ChainCache::new();
        let good = cache.parse("VEK", VCEK_MILAN, &p).expect("parses");
        cache
            .verify_cached_issued_by(
                Tier::EndorsementKey,
                &good,
                &CachedCert {
                    fingerprint: ChainCache::fingerprint(&p, ask.der()),
                    cert: ask.clone(),
                },
                &p,
            )
            .expect("verifies");
        let mut der = VCEK_MILAN.to_vec();
        let last = der.len() - 1;
        der[last] ^= 1;
        let bad = cache.parse("VEK", &der, &p).expect("still parses");
        assert!(cache
            .verify_issued_by(Tier::EndorsementKey, &bad, &ask, &p)
            .is_err());
    }

    #[test]
    fn bounded_fifo_eviction() {
        let ask = milan_ask();
        let p = RustCryptoProvider;
        let cache = ChainCache::with_capacity(1);
        let milan = cache.parse("VEK", VCEK_MILAN, &p).expect("parses");
        cache
            .verify_issued_by(Tier::EndorsementKey, &milan, &ask, &p)
            .expect("verifies");
        let _turin = cache.parse("VEK", VCEK_TURIN, &p).expect("parses");
        let s = cache.stats();
        assert_eq!(s.certificates, 1, "capacity 1 holds one certificate");
        let again = cache.parse("VEK", VCEK_MILAN, &p).expect("parses");
        assert!(!Arc::ptr_eq(&milan, &again), "evicted, so parsed again");
        cache.clear();
        assert_eq!(cache.stats().certificates, 0);
        assert_eq!(cache.stats().signatures, 0);
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let ask = milan_ask();
        let p = RustCryptoProvider;
        let cache = ChainCache::disabled();
        assert!(!cache.is_enabled());
        let a = cache.parse("VEK", VCEK_MILAN, &p).expect("parses");
        let b = cache.parse("VEK", VCEK_MILAN, &p).expect("parses");
        assert!(!Arc::ptr_eq(&a, &b));
        for _ in 0..2 {
            cache
                .verify_issued_by(Tier::EndorsementKey, &a, &ask, &p)
                .expect("verifies");
        }
        let s = cache.stats();
        assert_eq!((s.hits, s.certificates, s.signatures), (0, 0, 0));
    }

    #[test]
    fn shared_across_threads() {
        let ask = milan_ask();
        let cache = Arc::new(ChainCache::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let cache = Arc::clone(&cache);
                let ask = ask.clone();
                std::thread::spawn(move || {
                    let p = RustCryptoProvider;
                    let c = cache.parse("VEK", VCEK_MILAN, &p).expect("parses");
                    cache
                        .verify_issued_by(Tier::EndorsementKey, &c, &ask, &p)
                        .expect("verifies");
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        let s = cache.stats();
        assert_eq!((s.certificates, s.signatures), (1, 1));
    }

    // ---- The cache inside the verifier (issue 8): same verdicts, binding checks still run. ----

    use crate::chain::CertKind;
    use crate::verify::{check, CheckStatus, Endorsements, VerificationOutcome, Verifier};

    /// "now" of MANIFEST.md: 2026-11-25T00:00:00Z.
    const NOW: u64 = 1_795_564_800;
    const DAY: u64 = 86_400;

    fn data(rel: &str) -> Vec<u8> {
        let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/real")
            .join(rel);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// UNIX seconds of `YYYY-MM-DD` (days-from-civil).
    fn day(date: &str) -> u64 {
        let v: Vec<i64> = date.split('-').map(|x| x.parse().expect("date")).collect();
        let (y, m, d) = (if v[1] <= 2 { v[0] - 1 } else { v[0] }, v[1], v[2]);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        u64::try_from((era * 146_097 + doe - 719_468) * 86_400).expect("after 1970")
    }

    fn chain_anchors(chain: &str) -> TrustAnchors {
        let product = if chain.contains("milan") {
            Product::Milan
        } else if chain.contains("genoa") {
            Product::Genoa
        } else {
            Product::Turin
        };
        let kind = if chain.contains("_vlek") {
            CertKind::Vlek
        } else {
            CertKind::Vcek
        };
        let pem = String::from_utf8(data(&format!("go-sev-guest/{chain}"))).expect("utf-8");
        TrustAnchors::explicit()
            .with_kds_chain_pem(product, kind, &pem)
            .expect("chain parses")
    }

    /// (report, VEK, chain, verification time, expected to verify) for every ACCEPT and
    /// REJECT line of MANIFEST.md, read from the manifest itself.
    fn manifest_pairs() -> Vec<(String, String, String, u64, bool)> {
        let text = String::from_utf8(data("MANIFEST.md")).expect("utf-8");
        let mut out = Vec::new();
        let mut section = None;
        for line in text.lines() {
            if line.starts_with("## ") {
                section = if line.contains("must ACCEPT") {
                    Some(true)
                } else if line.contains("must REJECT") {
                    Some(false)
                } else {
                    None
                };
                continue;
            }
            let Some(accept) = section else { continue };
            let cols: Vec<&str> = line.split('|').map(str::trim).collect();
            if cols.len() < 7 || !cols[1].ends_with(".bin") {
                continue;
            }
            let time = if accept {
                // "2023-04-03 .. 2030-04-03": NOW if inside, else two days after the start.
                let (start, end) = cols[6].split_once("..").expect("window");
                let (start, end) = (day(start.trim()), day(end.trim().get(..10).expect("date")));
                if (start..end).contains(&NOW) {
                    NOW
                } else {
                    start + 2 * DAY
                }
            } else {
                NOW
            };
            out.push((cols[1].into(), cols[2].into(), cols[3].into(), time, accept));
        }
        out
    }

    fn statuses(o: &VerificationOutcome) -> Vec<(&'static str, CheckStatus)> {
        o.checks.iter().map(|c| (c.name, c.status)).collect()
    }

    #[test]
    fn cached_verifier_agrees_with_uncached_on_every_manifest_pair() {
        let pairs = manifest_pairs();
        assert!(
            pairs.iter().filter(|p| p.4).count() >= 60
                && pairs.iter().filter(|p| !p.4).count() >= 17,
            "manifest tables found ({} lines)",
            pairs.len()
        );
        for p in available_providers() {
            let shared = Arc::new(ChainCache::new());
            // Two passes: the first fills the cache, the second runs warm.
            for pass in 0..2 {
                for (report, vek, chain, time, accept) in &pairs {
                    let anchors = chain_anchors(chain);
                    let e = Endorsements::new(data(vek));
                    let r = data(report);
                    let uncached = Verifier::with_provider(anchors.clone(), Arc::clone(&p))
                        .with_cache(Arc::new(ChainCache::disabled()))
                        .at_unix(*time)
                        .verify_detailed(&r, &e);
                    let cached = Verifier::with_provider(anchors, Arc::clone(&p))
                        .with_cache(Arc::clone(&shared))
                        .at_unix(*time)
                        .verify_detailed(&r, &e);
                    let what = format!("{report} + {vek} ({chain}, {}, pass {pass})", p.name());
                    assert_eq!(
                        cached.result.is_ok(),
                        *accept,
                        "{what}: {:?}",
                        cached.result.err()
                    );
                    assert_eq!(uncached.result.is_ok(), *accept, "{what}");
                    assert_eq!(statuses(&cached), statuses(&uncached), "{what}");
                    assert_eq!(
                        cached.result.as_ref().err(),
                        uncached.result.as_ref().err(),
                        "{what}"
                    );
                }
            }
            assert!(
                shared.stats().hits > 0,
                "second pass was served from the cache"
            );
        }
    }

    fn warm_milan(
        p: &Arc<dyn CryptoProvider>,
        cache: &Arc<ChainCache>,
    ) -> (Verifier, Vec<u8>, Endorsements) {
        let report = data("virtee-sev/report_milan.bin");
        let e = Endorsements::new(data("virtee-sev/vcek_milan.der"));
        let v = Verifier::with_provider(TrustAnchors::amd(), Arc::clone(p))
            .with_cache(Arc::clone(cache))
            .at_unix(NOW);
        v.verify(&report, &e).expect("genuine evidence verifies");
        v.verify(&report, &e).expect("and again, warm");
        (v, report, e)
    }

    #[test]
    fn warm_cache_still_rejects_a_tampered_report() {
        for p in available_providers() {
            let cache = Arc::new(ChainCache::new());
            let (v, report, e) = warm_milan(&p, &cache);
            // Byte 0 is the version: rejected too (by the format/product checks first).
            let mut bad = report.clone();
            bad[0] ^= 0x01;
            assert!(v.verify(&bad, &e).is_err());
            for pos in [0x008usize, 0x050, 0x180, 0x1A0, 0x29F] {
                let mut bad = report.clone();
                bad[pos] ^= 0x01;
                let o = v.verify_detailed(&bad, &e);
                assert!(o.result.is_err(), "byte {pos:#x} flipped, {}", p.name());
                assert!(
                    o.failed().contains(&check::REPORT_SIGNATURE),
                    "{pos:#x}: {:?}",
                    o.failed()
                );
            }
            // Junk in the upper bytes of R (outside the signed range) is still refused.
            let mut bad = report.clone();
            bad[0x2A0 + 60] = 1;
            assert!(v.verify(&bad, &e).is_err());
        }
    }

    #[test]
    fn warm_cache_still_rejects_a_wrong_chip() {
        for p in available_providers() {
            let cache = Arc::new(ChainCache::new());
            let (v, _, e) = warm_milan(&p, &cache);
            // Another Milan chip's real report with this (cached, validly signed) VCEK.
            let other = data("go-sev-guest/attestation.bin");
            let o = v.verify_detailed(&other, &e);
            assert!(o.result.is_err());
            let failed = o.failed();
            assert!(failed.contains(&check::CHIP_ID_BINDING), "{failed:?}");
            assert!(failed.contains(&check::REPORT_SIGNATURE), "{failed:?}");
            // The chain checks themselves pass (that part is the cached fact).
            assert_eq!(
                o.check(check::VEK_SIGNED_BY_ASK).map(|c| c.status),
                Some(CheckStatus::Pass)
            );
        }
    }

    #[test]
    fn validity_is_judged_at_each_verification_time() {
        let vcek = AmdCert::from_der("VEK", VCEK_MILAN).expect("parses");
        for p in available_providers() {
            let cache = Arc::new(ChainCache::new());
            let (v, report, e) = warm_milan(&p, &cache);
            let hits = cache.stats().hits;
            for t in [vcek.not_after() + 1, vcek.not_before() - 1] {
                let later = v.clone().at_unix(t);
                let o = later.verify_detailed(&report, &e);
                assert!(
                    matches!(o.result, Err(crate::verify::VerifyError::Validity(_))),
                    "at {t}: {:?}",
                    o.result
                );
                assert_eq!(
                    o.check(check::VEK_SIGNED_BY_ASK).map(|c| c.status),
                    Some(CheckStatus::Pass)
                );
            }
            assert!(cache.stats().hits > hits, "the signature facts were reused");
            v.verify(&report, &e)
                .expect("inside the window it verifies again");
        }
    }

    #[test]
    fn warm_verification_does_no_certificate_signature_work() {
        let p: Arc<dyn CryptoProvider> = Arc::new(RustCryptoProvider);
        let cache = Arc::new(ChainCache::new());
        let (v, report, e) = warm_milan(&p, &cache);
        let before = cache.stats();
        v.verify(&report, &e).expect("verifies");
        // A fresh verifier sharing the cache: anchors and VCEK answered from the cache.
        Verifier::with_provider(TrustAnchors::amd(), Arc::clone(&p))
            .with_cache(Arc::clone(&cache))
            .at_unix(NOW)
            .verify(&report, &e)
            .expect("verifies");
        let after = cache.stats();
        assert_eq!(
            after.misses, before.misses,
            "no miss: {before:?} -> {after:?}"
        );
        assert!(after.hits >= before.hits + 3);
    }
}
