use super::*;
use crate::crypto::{available_providers, RustCryptoProvider};
use crate::product::Product;
use crate::roots::TrustAnchors;

const VCEK_MILAN: &[u8] = include_bytes!("../../../tests/data/real/virtee-sev/vcek_milan.der");
const VCEK_TURIN: &[u8] = include_bytes!("../../../tests/data/real/virtee-sev/vcek_turin.der");

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
        pairs.iter().filter(|p| p.4).count() >= 60 && pairs.iter().filter(|p| !p.4).count() >= 17,
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
