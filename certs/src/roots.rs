//! AMD's pinned root and intermediate certificates.
//!
//! Trust is anchored in AMD's ARK and its ASK (VCEK signer) and ASVK (VLEK signer) for each
//! product line, embedded in the binary from the KDS `cert_chain` files. Certificates a host
//! serves beside a report are hints at most: the verifier compares them with these by public
//! key and never lets them anchor anything (widely used verifiers trusted the host's ARK/ASK).
//!
//! Other roots (the simulator's test PKI) can be used only by constructing
//! [`TrustAnchors::explicit`] on purpose; the result remembers that it is not AMD's, so
//! callers can show it.

use std::sync::{Arc, OnceLock};

use crate::chain::{pem_certificates, AmdCert, CertKind};
use crate::error::CertError;
use crate::product::Product;

/// KDS `/vcek/v1/Milan/cert_chain` (ASK, ARK) as embedded.
pub const MILAN_VCEK_CHAIN_PEM: &str = include_str!("roots/milan_vcek_cert_chain.pem");
/// KDS `/vlek/v1/Milan/cert_chain` (ASVK, ARK).
pub const MILAN_VLEK_CHAIN_PEM: &str = include_str!("roots/milan_vlek_cert_chain.pem");
/// KDS `/vcek/v1/Genoa/cert_chain` (ASK, ARK).
pub const GENOA_VCEK_CHAIN_PEM: &str = include_str!("roots/genoa_vcek_cert_chain.pem");
/// KDS `/vlek/v1/Genoa/cert_chain` (ASVK, ARK).
pub const GENOA_VLEK_CHAIN_PEM: &str = include_str!("roots/genoa_vlek_cert_chain.pem");
/// KDS `/vcek/v1/Turin/cert_chain` (ASK, ARK).
pub const TURIN_VCEK_CHAIN_PEM: &str = include_str!("roots/turin_vcek_cert_chain.pem");
/// KDS `/vlek/v1/Turin/cert_chain` (ASVK, ARK).
pub const TURIN_VLEK_CHAIN_PEM: &str = include_str!("roots/turin_vlek_cert_chain.pem");

/// The embedded chain files for a product: (VCEK chain, VLEK chain).
pub fn amd_chain_pems(product: Product) -> (&'static str, &'static str) {
    match product {
        Product::Milan => (MILAN_VCEK_CHAIN_PEM, MILAN_VLEK_CHAIN_PEM),
        Product::Genoa => (GENOA_VCEK_CHAIN_PEM, GENOA_VLEK_CHAIN_PEM),
        Product::Turin => (TURIN_VCEK_CHAIN_PEM, TURIN_VLEK_CHAIN_PEM),
    }
}

/// The root and intermediates for one product line.
#[derive(Debug, Clone)]
pub struct AnchorSet {
    product: Product,
    ark: AmdCert,
    ask: Option<AmdCert>,
    asvk: Option<AmdCert>,
}

impl AnchorSet {
    /// Product line these anchors certify.
    pub fn product(&self) -> Product {
        self.product
    }

    /// The root key certificate.
    pub fn ark(&self) -> &AmdCert {
        &self.ark
    }

    /// The VCEK-signing intermediate, if configured.
    pub fn ask(&self) -> Option<&AmdCert> {
        self.ask.as_ref()
    }

    /// The VLEK-signing intermediate, if configured.
    pub fn asvk(&self) -> Option<&AmdCert> {
        self.asvk.as_ref()
    }

    /// The intermediate that signs `kind` certificates.
    pub fn intermediate(&self, kind: CertKind) -> Option<&AmdCert> {
        match kind {
            CertKind::Vcek => self.ask(),
            CertKind::Vlek => self.asvk(),
        }
    }
}

/// Where a set of trust anchors came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorSource {
    /// AMD's roots embedded in this crate.
    AmdPinned,
    /// Roots a caller supplied explicitly (e.g. the simulator's). Evidence verified against
    /// these proves nothing about real AMD hardware.
    Explicit,
}

/// The roots a verifier trusts, at most one [`AnchorSet`] per product line.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    source: AnchorSource,
    /// Shared: `TrustAnchors::amd()` hands out the process-wide parsed set on every call, so a
    /// clone must not deep-copy nine certificates; the builders copy on write.
    sets: Arc<Vec<AnchorSet>>,
}

fn parse_chain_pem(pem: &str, kind: CertKind) -> Result<(AmdCert, AmdCert), CertError> {
    let ders = pem_certificates(pem.as_bytes())?;
    match ders.as_slice() {
        [intermediate, ark] => Ok((
            AmdCert::from_der(kind.intermediate_role(), intermediate)?,
            AmdCert::from_der("ARK", ark)?,
        )),
        other => Err(CertError::Pem(format!(
            "a KDS cert_chain holds 2 certificates ({} then ARK), found {}",
            kind.intermediate_role(),
            other.len()
        ))),
    }
}

impl TrustAnchors {
    /// AMD's pinned roots for Milan, Genoa and Turin (ARK + ASK + ASVK each). Parsed once per
    /// process.
    pub fn amd() -> TrustAnchors {
        static AMD: OnceLock<Arc<TrustAnchors>> = OnceLock::new();
        let anchors = AMD.get_or_init(|| {
            let mut sets = Vec::new();
            for product in Product::ALL {
                match Self::amd_set(product) {
                    Ok(set) => sets.push(set),
                    // Unreachable with the embedded files (a unit test parses them all); if it
                    // ever happened the product would simply have no anchor and nothing
                    // would verify for it.
                    Err(e) => {
                        tracing::error!(%product, error = %e, "embedded AMD chain does not parse")
                    }
                }
            }
            Arc::new(TrustAnchors {
                source: AnchorSource::AmdPinned,
                sets: Arc::new(sets),
            })
        });
        TrustAnchors::clone(anchors)
    }

    fn amd_set(product: Product) -> Result<AnchorSet, CertError> {
        let (vcek_pem, vlek_pem) = amd_chain_pems(product);
        let (ask, ark) = parse_chain_pem(vcek_pem, CertKind::Vcek)?;
        let (asvk, ark2) = parse_chain_pem(vlek_pem, CertKind::Vlek)?;
        if ark.der() != ark2.der() {
            return Err(CertError::Profile {
                role: "ARK",
                detail: format!("embedded {product} VCEK and VLEK chains carry different ARKs"),
            });
        }
        Ok(AnchorSet {
            product,
            ark,
            ask: Some(ask),
            asvk: Some(asvk),
        })
    }

    /// An empty set of explicitly chosen anchors; add product chains with
    /// [`TrustAnchors::with_chain`] or [`TrustAnchors::with_kds_chain_pem`].
    pub fn explicit() -> TrustAnchors {
        TrustAnchors {
            source: AnchorSource::Explicit,
            sets: Arc::new(Vec::new()),
        }
    }

    /// Add (or replace) the anchors for `product` from DER certificates. At least one of ASK
    /// and ASVK should be given; signatures are checked by the verifier, not here. The result
    /// is [`AnchorSource::Explicit`] even when started from [`TrustAnchors::amd`]: it no longer
    /// holds only what is embedded, so it must not be shown as AMD's pinned roots.
    pub fn with_chain(
        mut self,
        product: Product,
        ark_der: &[u8],
        ask_der: Option<&[u8]>,
        asvk_der: Option<&[u8]>,
    ) -> Result<TrustAnchors, CertError> {
        let set = AnchorSet {
            product,
            ark: AmdCert::from_der("ARK", ark_der)?,
            ask: ask_der.map(|d| AmdCert::from_der("ASK", d)).transpose()?,
            asvk: asvk_der.map(|d| AmdCert::from_der("ASVK", d)).transpose()?,
        };
        let sets = Arc::make_mut(&mut self.sets);
        sets.retain(|s| s.product != product);
        sets.push(set);
        self.source = AnchorSource::Explicit;
        Ok(self)
    }

    /// Add a KDS `cert_chain` PEM (intermediate then ARK) for `product`: the intermediate
    /// goes in the ASK slot for [`CertKind::Vcek`], the ASVK slot for [`CertKind::Vlek`]. A
    /// second chain for the same product must carry the same ARK. Like
    /// [`TrustAnchors::with_chain`], the result is [`AnchorSource::Explicit`].
    pub fn with_kds_chain_pem(
        mut self,
        product: Product,
        kind: CertKind,
        pem: &str,
    ) -> Result<TrustAnchors, CertError> {
        let (intermediate, ark) = parse_chain_pem(pem, kind)?;
        let slot = |set: &mut AnchorSet| match kind {
            CertKind::Vcek => set.ask = Some(intermediate.clone()),
            CertKind::Vlek => set.asvk = Some(intermediate.clone()),
        };
        if let Some(set) = Arc::make_mut(&mut self.sets)
            .iter_mut()
            .find(|s| s.product == product)
        {
            if set.ark.der() != ark.der() {
                return Err(CertError::Profile {
                    role: "ARK",
                    detail: format!(
                        "{product} chain carries a different ARK than the one already configured"
                    ),
                });
            }
            slot(set);
        } else {
            let mut set = AnchorSet {
                product,
                ark,
                ask: None,
                asvk: None,
            };
            slot(&mut set);
            Arc::make_mut(&mut self.sets).push(set);
        }
        self.source = AnchorSource::Explicit;
        Ok(self)
    }

    /// Where these anchors came from.
    pub fn source(&self) -> AnchorSource {
        self.source
    }

    /// Whether these are AMD's pinned roots.
    pub fn is_amd(&self) -> bool {
        self.source == AnchorSource::AmdPinned
    }

    /// The anchors for `product`, if any.
    pub fn get(&self, product: Product) -> Option<&AnchorSet> {
        self.sets.iter().find(|s| s.product == product)
    }

    /// All anchor sets.
    pub fn sets(&self) -> &[AnchorSet] {
        &self.sets
    }
}

/// AMD's embedded CA certificates with their SHA-384 fingerprints, for recognising them by
/// exact bytes wherever they turn up (a host's certificate table, a KDS `cert_chain`).
#[derive(Debug)]
struct PinnedIndex {
    /// (product, role, DER, SHA-384 of the DER) of every embedded ARK, ASK and ASVK.
    certs: Vec<(Product, &'static str, &'static [u8], [u8; 48])>,
}

/// The index over the certificates parsed by [`TrustAnchors::amd`] (which lives for the whole
/// process, so its DER can be borrowed for `'static`).
fn pinned_index() -> &'static PinnedIndex {
    static INDEX: OnceLock<PinnedIndex> = OnceLock::new();
    static AMD: OnceLock<TrustAnchors> = OnceLock::new();
    INDEX.get_or_init(|| {
        let amd: &'static TrustAnchors = AMD.get_or_init(TrustAnchors::amd);
        let hasher = crate::crypto::default_provider();
        let mut certs = Vec::new();
        for set in amd.sets() {
            let ark = set.ark();
            certs.push((set.product(), "ARK", ark.der(), hasher.sha384(ark.der())));
            for c in [set.ask(), set.asvk()].into_iter().flatten() {
                certs.push((set.product(), c.role(), c.der(), hasher.sha384(c.der())));
            }
        }
        PinnedIndex { certs }
    })
}

/// The SHA-384 of `der` if it is byte-identical to one of AMD's embedded CA certificates
/// (computed once per process), so that a verifier built per request does not hash the same
/// constant certificates again.
pub fn pinned_fingerprint(der: &[u8]) -> Option<[u8; 48]> {
    pinned_index()
        .certs
        .iter()
        .find(|(_, _, d, _)| *d == der)
        .map(|(_, _, _, fp)| *fp)
}

/// Whether "`child_der` is signed by `issuer_der`" is one of the relations among AMD's embedded
/// certificates: an ARK's self-signature, or a product's ARK over its own ASK or ASVK. Both must
/// be byte-identical to the embedded certificates. These relations are facts about constants of
/// this binary, so [`crate::cache::ChainCache`] proves each once per process (and
/// `roots::tests::embedded_chains_verify` proves them at test time) instead of per verifier.
pub fn is_pinned_relation(child_der: &[u8], issuer_der: &[u8]) -> bool {
    let certs = &pinned_index().certs;
    let Some((product, _, _, _)) = certs
        .iter()
        .find(|(_, role, d, _)| *role == "ARK" && *d == issuer_der)
    else {
        return false;
    };
    certs
        .iter()
        .any(|(p, _, d, _)| p == product && *d == child_der)
}

impl Default for TrustAnchors {
    fn default() -> Self {
        TrustAnchors::amd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{CryptoProvider, RustCryptoProvider};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// SHA-256 fingerprints of AMD's CA certificates (as printed by
    /// `openssl x509 -fingerprint -sha256` on the KDS cert_chain files).
    const FINGERPRINTS: [(Product, &str, &str); 9] = [
        (
            Product::Milan,
            "ARK",
            "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
        ),
        (
            Product::Milan,
            "ASK",
            "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b",
        ),
        (
            Product::Milan,
            "ASVK",
            "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5",
        ),
        (
            Product::Genoa,
            "ARK",
            "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
        ),
        (
            Product::Genoa,
            "ASK",
            "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521",
        ),
        (
            Product::Genoa,
            "ASVK",
            "197e610743a917d6b9bb982a5a9226ccc0a15b611be0619e626aca9151457372",
        ),
        (
            Product::Turin,
            "ARK",
            "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
        ),
        (
            Product::Turin,
            "ASK",
            "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185",
        ),
        (
            Product::Turin,
            "ASVK",
            "104e10a8bd060a3c20a434261a57d0588fd65a88915b4f65b08bdecaf8df1a3c",
        ),
    ];

    #[test]
    fn pinned_fingerprints() {
        let anchors = TrustAnchors::amd();
        assert!(anchors.is_amd());
        assert_eq!(anchors.sets().len(), 3);
        for (product, role, fp) in FINGERPRINTS {
            let set = anchors.get(product).expect("product pinned");
            let cert = match role {
                "ARK" => set.ark(),
                "ASK" => set.ask().expect("ask"),
                _ => set.asvk().expect("asvk"),
            };
            assert_eq!(
                hex(&RustCryptoProvider.sha256(cert.der())),
                fp,
                "{product} {role}"
            );
        }
    }

    #[test]
    fn pinned_names_and_profile() {
        let anchors = TrustAnchors::amd();
        for set in anchors.sets() {
            let p = set.product();
            assert_eq!(set.ark().common_name(), Some(p.ark_common_name()));
            assert_eq!(
                set.ask().and_then(|c| c.common_name()),
                Some(p.ask_common_name())
            );
            assert_eq!(
                set.asvk().and_then(|c| c.common_name()),
                Some(p.asvk_common_name())
            );
            for c in [
                set.ark(),
                set.ask().expect("ask"),
                set.asvk().expect("asvk"),
            ] {
                c.check_ca().expect("CA");
                assert!(matches!(
                    c.public_key(),
                    crate::chain::PublicKey::Rsa { bits: 4096, .. }
                ));
            }
            set.ark().check_crl_signer().expect("ARK signs CRLs");
        }
    }

    /// The embedded chains are proven here, at test time, with every provider: each ARK is a
    /// self-signed CA, and signs its product's ASK and ASVK. (At run time the same facts are
    /// proven once per process on first use; see `cache::ChainCache`.)
    #[test]
    fn embedded_chains_verify() {
        for p in crate::crypto::available_providers() {
            for set in TrustAnchors::amd().sets() {
                let ark = set.ark();
                ark.verify_issued_by(ark, &*p)
                    .unwrap_or_else(|e| panic!("{} ARK self-signature: {e}", set.product()));
                for c in [set.ask(), set.asvk()].into_iter().flatten() {
                    c.verify_issued_by(ark, &*p)
                        .unwrap_or_else(|e| panic!("{} {}: {e}", set.product(), c.role()));
                    assert!(is_pinned_relation(c.der(), ark.der()));
                }
                assert!(is_pinned_relation(ark.der(), ark.der()));
            }
        }
    }

    #[test]
    fn pinned_relations_are_exact() {
        let amd = TrustAnchors::amd();
        let milan = amd.get(Product::Milan).expect("milan");
        let genoa = amd.get(Product::Genoa).expect("genoa");
        let (m_ark, m_ask) = (milan.ark().der(), milan.ask().expect("ask").der());
        // Across products, reversed, or with a byte changed: not a pinned relation.
        assert!(!is_pinned_relation(m_ask, genoa.ark().der()));
        assert!(!is_pinned_relation(m_ark, m_ask));
        let mut tampered = m_ask.to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(!is_pinned_relation(&tampered, m_ark));
        assert!(pinned_fingerprint(&tampered).is_none());
        assert_eq!(
            pinned_fingerprint(m_ask),
            Some(crate::crypto::RustCryptoProvider.sha384(m_ask))
        );
    }

    #[test]
    fn explicit_anchors_are_marked() {
        let (ask, ark) = parse_chain_pem(MILAN_VCEK_CHAIN_PEM, CertKind::Vcek).expect("parses");
        let anchors = TrustAnchors::explicit()
            .with_chain(Product::Milan, ark.der(), Some(ask.der()), None)
            .expect("valid");
        assert!(!anchors.is_amd());
        assert!(anchors.get(Product::Milan).and_then(|s| s.asvk()).is_none());
        let anchors = anchors
            .with_kds_chain_pem(Product::Milan, CertKind::Vlek, MILAN_VLEK_CHAIN_PEM)
            .expect("same ARK");
        assert!(anchors.get(Product::Milan).and_then(|s| s.asvk()).is_some());
        assert!(anchors
            .with_kds_chain_pem(Product::Milan, CertKind::Vcek, GENOA_VCEK_CHAIN_PEM)
            .is_err());
        assert!(TrustAnchors::explicit()
            .with_kds_chain_pem(Product::Milan, CertKind::Vcek, "")
            .is_err());
    }

    #[test]
    fn adding_to_amds_roots_is_no_longer_amd_pinned() {
        // A foreign root for Milan (here Genoa's ARK/ASK stand in for any other CA).
        let (ask, ark) = parse_chain_pem(GENOA_VCEK_CHAIN_PEM, CertKind::Vcek).expect("parses");
        let anchors = TrustAnchors::amd()
            .with_chain(Product::Milan, ark.der(), Some(ask.der()), None)
            .expect("valid");
        assert_eq!(anchors.source(), AnchorSource::Explicit);
        assert!(!anchors.is_amd());
        let anchors = TrustAnchors::amd()
            .with_kds_chain_pem(Product::Milan, CertKind::Vcek, MILAN_VCEK_CHAIN_PEM)
            .expect("same ARK");
        assert!(!anchors.is_amd());
        // AMD's own set is untouched by either.
        assert!(TrustAnchors::amd().is_amd());
    }
}
