//! The simulated AMD key hierarchy: ARK → ASK → VCEK and ARK → ASVK → VLEK, per product.
//!
//! Issued the way AMD issues it (abi-facts §6.2–6.3): RSA-4096 CA keys signing with RSASSA-PSS
//! (SHA-384, MGF1-SHA-384, salt 48, trailer 1), AMD's subject names, AMD's CA extensions, and
//! P-384 VCEK/VLEK keys carrying the KDS extensions under `1.3.6.1.4.1.3704.1`. The *keys* are the
//! simulator's own: the RSA keys are test-only PKCS#8 files committed under `sim/keys/` (RSA-4096
//! generation is far too slow to do per test), and the P-384 keys are derived deterministically
//! from (seed, chip id, TCB) — so raising the TCB yields a new VCEK, as on real parts. Because
//! AMD's roots are pinned by public key, nothing issued here verifies against them.
//!
//! Certificates are deterministic (fixed validity dates, PSS salts drawn from a seeded
//! ChaCha20 stream), so the same inputs always give byte-identical DER.

use std::sync::OnceLock;
use std::time::Duration;

use const_oid::db::rfc4519::COMMON_NAME as ID_AT_COMMON_NAME;
use const_oid::{AssociatedOid, ObjectIdentifier};
use der::asn1::{Ia5String, OctetString, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::referenced::OwnedToRef;
use der::{Any, Decode, Encode, EncodePem};
use p384::ecdsa::SigningKey as EcSigningKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rsa::pkcs8::DecodePrivateKey;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha384};
use snp_certs::product::Product;
use snp_certs::tcb::Tcb;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

/// Errors while loading keys or issuing certificates. These indicate a broken build (corrupt
/// committed key file) or an internal encoding bug, never guest input.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A committed RSA key file did not parse.
    #[error("simulator key {name} is not a valid PKCS#8 RSA key: {source}")]
    Key {
        /// Which key.
        name: &'static str,
        /// Parser error.
        source: rsa::pkcs8::Error,
    },
    /// DER encoding of a certificate part failed.
    #[error("encoding a simulated certificate failed: {0}")]
    Der(#[from] der::Error),
    /// The x509 builder refused.
    #[error("building a simulated certificate failed: {0}")]
    Builder(#[from] x509_cert::builder::Error),
    /// SPKI encoding failed.
    #[error("encoding a public key failed: {0}")]
    Spki(#[from] spki::Error),
    /// Key derivation found no valid scalar (astronomically unlikely).
    #[error("could not derive a P-384 key from the simulator seed")]
    Derive,
}

/// AMD's VCEK/VLEK extension OIDs: the verifier's definition, so issuer and checker cannot drift.
pub use snp_certs::extensions::oid;

/// Which intermediate / leaf family a certificate belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndorsementKind {
    /// Versioned Chip Endorsement Key (per chip and TCB), signed by the ASK.
    Vcek,
    /// Versioned Loaded Endorsement Key (per cloud provider and TCB), signed by the ASVK.
    Vlek,
}

/// An endorsement key and its certificate.
#[derive(Clone)]
pub struct IssuedKey {
    /// The private key the firmware signs reports with.
    pub signing_key: EcSigningKey,
    /// The certificate (DER).
    pub cert_der: Vec<u8>,
    /// VCEK or VLEK.
    pub kind: EndorsementKind,
    /// TCB the certificate was issued for.
    pub tcb: Tcb,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("kind", &self.kind)
            .field("tcb", &self.tcb)
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

/// One product's CA keys and certificates (ARK, ASK, ASVK).
pub struct ProductCa {
    product: Product,
    ask_key: RsaPrivateKey,
    asvk_key: RsaPrivateKey,
    ark: Certificate,
    ask: Certificate,
    asvk: Certificate,
    ark_der: Vec<u8>,
    ask_der: Vec<u8>,
    asvk_der: Vec<u8>,
}

impl std::fmt::Debug for ProductCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductCa")
            .field("product", &self.product)
            .finish_non_exhaustive()
    }
}

fn key_pem(product: Product, which: &'static str) -> (&'static str, &'static str) {
    match (product, which) {
        (Product::Milan, "ark") => ("ark_milan", include_str!("../keys/ark_milan.pem")),
        (Product::Milan, "ask") => ("ask_milan", include_str!("../keys/ask_milan.pem")),
        (Product::Milan, _) => ("asvk_milan", include_str!("../keys/asvk_milan.pem")),
        (Product::Genoa, "ark") => ("ark_genoa", include_str!("../keys/ark_genoa.pem")),
        (Product::Genoa, "ask") => ("ask_genoa", include_str!("../keys/ask_genoa.pem")),
        (Product::Genoa, _) => ("asvk_genoa", include_str!("../keys/asvk_genoa.pem")),
        (Product::Turin, "ark") => ("ark_turin", include_str!("../keys/ark_turin.pem")),
        (Product::Turin, "ask") => ("ask_turin", include_str!("../keys/ask_turin.pem")),
        (Product::Turin, _) => ("asvk_turin", include_str!("../keys/asvk_turin.pem")),
    }
}

fn load_rsa(product: Product, which: &'static str) -> Result<RsaPrivateKey, PkiError> {
    let (name, pem) = key_pem(product, which);
    RsaPrivateKey::from_pkcs8_pem(pem).map_err(|source| PkiError::Key { name, source })
}

/// An AMD-style distinguished name: OU, C, L, ST, O, CN in AMD's order and string types.
pub fn amd_name(common_name: &str) -> Result<Name, PkiError> {
    use const_oid::db::rfc4519::{
        COUNTRY_NAME, LOCALITY_NAME, ORGANIZATIONAL_UNIT_NAME, ORGANIZATION_NAME, ST,
    };
    let utf8 =
        |s: &str| -> Result<Any, PkiError> { Ok(Any::encode_from(&Utf8StringRef::new(s)?)?) };
    let attrs = [
        (ORGANIZATIONAL_UNIT_NAME, utf8("Engineering")?),
        (
            COUNTRY_NAME,
            Any::encode_from(&PrintableStringRef::new("US")?)?,
        ),
        (LOCALITY_NAME, utf8("Santa Clara")?),
        (ST, utf8("CA")?),
        (ORGANIZATION_NAME, utf8("Advanced Micro Devices")?),
        (ID_AT_COMMON_NAME, utf8(common_name)?),
    ];
    let mut rdns = Vec::with_capacity(attrs.len());
    for (oid, value) in attrs {
        let set = SetOfVec::try_from(vec![AttributeTypeAndValue { oid, value }])?;
        rdns.push(RelativeDistinguishedName(set));
    }
    Ok(RdnSequence(rdns))
}

/// Fixed validity window starting at `start_unix` lasting `years` (365-day years; exact dates
/// do not matter to verifiers, only that "now" lies inside).
fn validity(start_unix: u64, years: u64) -> Result<Validity, PkiError> {
    let nb = Duration::from_secs(start_unix);
    let na = Duration::from_secs(start_unix + years * 365 * 24 * 3600 + 6 * 24 * 3600);
    Ok(Validity {
        not_before: Time::UtcTime(der::asn1::UtcTime::from_unix_duration(nb)?),
        not_after: Time::UtcTime(der::asn1::UtcTime::from_unix_duration(na)?),
    })
}

/// 2020-10-22T18:24:20Z — AMD's Milan ARK notBefore; the simulated CA certificates reuse it.
const CA_NOT_BEFORE: u64 = 1_603_391_060;
/// 2025-01-01T00:00:00Z — notBefore of simulated VCEK/VLEK certificates.
const LEAF_NOT_BEFORE: u64 = 1_735_689_600;

/// An extension with an arbitrary OID and pre-encoded `extnValue` contents. The builder's
/// `AsExtension` wants a type-level OID; we override `to_extension` so one type serves every
/// AMD OID (the associated OID is only a placeholder and never emitted).
struct RawExt {
    oid: ObjectIdentifier,
    value: Vec<u8>,
}

impl AssociatedOid for RawExt {
    const OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1");
}

impl Encode for RawExt {
    fn encoded_len(&self) -> der::Result<der::Length> {
        der::Length::try_from(self.value.len())
    }
    fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        writer.write(&self.value)
    }
}

impl AsExtension for RawExt {
    fn critical(&self, _subject: &Name, _extensions: &[Extension]) -> bool {
        false
    }
    fn to_extension(
        &self,
        _subject: &Name,
        _extensions: &[Extension],
    ) -> Result<Extension, der::Error> {
        Ok(Extension {
            extn_id: self.oid,
            critical: false,
            extn_value: OctetString::new(self.value.clone())?,
        })
    }
}

fn int_ext(oid: ObjectIdentifier, v: u8) -> Result<RawExt, PkiError> {
    Ok(RawExt {
        oid,
        value: v.to_der()?,
    })
}

fn ia5_ext(oid: ObjectIdentifier, s: &str) -> Result<RawExt, PkiError> {
    Ok(RawExt {
        oid,
        value: Ia5String::new(s)?.to_der()?,
    })
}

fn crl_dp(url: &str) -> Result<CrlDistributionPoints, PkiError> {
    Ok(CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![
            GeneralName::UniformResourceIdentifier(Ia5String::new(url)?),
        ])),
        reasons: None,
        crl_issuer: None,
    }]))
}

fn rng_for(label: &str, extra: &[u8]) -> ChaCha20Rng {
    let mut h = Sha384::new();
    h.update(b"snp-sim pss salt stream v1\0");
    h.update(label.as_bytes());
    h.update(extra);
    let d = h.finalize();
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&d[..32]);
    ChaCha20Rng::from_seed(seed)
}

type PssSigner = rsa::pss::SigningKey<Sha384>;

fn signer(key: &RsaPrivateKey) -> PssSigner {
    // Salt length = digest length = 48, exactly AMD's parameters.
    rsa::pss::SigningKey::<Sha384>::new(key.clone())
}

fn spki_of_rsa(key: &RsaPrivateKey) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
    let der = key.to_public_key().to_public_key_der()?;
    Ok(SubjectPublicKeyInfoOwned::from_der(der.as_bytes())?)
}

fn finish(
    builder: CertificateBuilder<'_, PssSigner>,
    label: &str,
) -> Result<(Certificate, Vec<u8>), PkiError> {
    let mut rng = rng_for(label, &[]);
    let cert = builder.build_with_rng::<rsa::pss::Signature>(&mut rng)?;
    let der = cert.to_der()?;
    Ok((cert, der))
}

impl ProductCa {
    /// The (cached, process-wide) CA of `product`. Loading parses three RSA-4096 keys and signs
    /// three certificates, so it is done once per process.
    pub fn get(product: Product) -> Result<&'static ProductCa, PkiError> {
        static CAS: [OnceLock<ProductCa>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let slot = &CAS[product_index(product)];
        if let Some(ca) = slot.get() {
            return Ok(ca);
        }
        let ca = ProductCa::build(product)?;
        Ok(slot.get_or_init(|| ca))
    }

    fn build(product: Product) -> Result<ProductCa, PkiError> {
        let ark_key = load_rsa(product, "ark")?;
        let ask_key = load_rsa(product, "ask")?;
        let asvk_key = load_rsa(product, "asvk")?;
        let p = product.kds_name();
        let ark_name = amd_name(product.ark_common_name())?;
        let ark_signer = signer(&ark_key);

        // ARK: self-signed; KU critical certSign|cRLSign, SKI, BC critical CA:TRUE, CRL DP.
        let mut b = CertificateBuilder::new(
            Profile::Manual { issuer: None },
            SerialNumber::from(0x1_0000u32 + product_index(product) as u32 * 0x1_0000),
            validity(CA_NOT_BEFORE, 25)?,
            ark_name.clone(),
            spki_of_rsa(&ark_key)?,
            &ark_signer,
        )?;
        let ark_spki = spki_of_rsa(&ark_key)?;
        b.add_extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))?;
        b.add_extension(&SubjectKeyIdentifier::try_from(ark_spki.owned_to_ref())?)?;
        b.add_extension(&BasicConstraints {
            ca: true,
            path_len_constraint: None,
        })?;
        b.add_extension(&crl_dp(&format!(
            "https://kdsintf.amd.com/vcek/v1/{p}/crl"
        ))?)?;
        let (ark, ark_der) = finish(b, &format!("ark-{p}"))?;

        let inter = |key: &RsaPrivateKey,
                     cn: &str,
                     serial: u32,
                     crl: String,
                     label: String|
         -> Result<(Certificate, Vec<u8>), PkiError> {
            let spki = spki_of_rsa(key)?;
            let mut b = CertificateBuilder::new(
                Profile::Manual {
                    issuer: Some(ark_name.clone()),
                },
                SerialNumber::from(serial),
                validity(CA_NOT_BEFORE, 25)?,
                amd_name(cn)?,
                spki.clone(),
                &ark_signer,
            )?;
            b.add_extension(&SubjectKeyIdentifier::try_from(spki.owned_to_ref())?)?;
            b.add_extension(&AuthorityKeyIdentifier::try_from(ark_spki.owned_to_ref())?)?;
            b.add_extension(&BasicConstraints {
                ca: true,
                path_len_constraint: Some(0),
            })?;
            b.add_extension(&KeyUsage(KeyUsages::KeyCertSign.into()))?;
            b.add_extension(&crl_dp(&crl)?)?;
            finish(b, &label)
        };
        let base = 0x1_0000u32 + product_index(product) as u32 * 0x1_0000;
        let (ask, ask_der) = inter(
            &ask_key,
            product.ask_common_name(),
            base + 2,
            format!("https://kdsintf.amd.com/vcek/v1/{p}/crl"),
            format!("ask-{p}"),
        )?;
        let (asvk, asvk_der) = inter(
            &asvk_key,
            product.asvk_common_name(),
            base + 0x101,
            format!("https://kdsintf.amd.com/vlek/v1/{p}/crl"),
            format!("asvk-{p}"),
        )?;
        Ok(ProductCa {
            product,
            ask_key,
            asvk_key,
            ark,
            ask,
            asvk,
            ark_der,
            ask_der,
            asvk_der,
        })
    }

    /// The product line.
    pub fn product(&self) -> Product {
        self.product
    }
    /// ARK certificate (DER).
    pub fn ark_der(&self) -> &[u8] {
        &self.ark_der
    }
    /// ASK certificate (DER).
    pub fn ask_der(&self) -> &[u8] {
        &self.ask_der
    }
    /// ASVK certificate (DER).
    pub fn asvk_der(&self) -> &[u8] {
        &self.asvk_der
    }
    /// Parsed ARK.
    pub fn ark(&self) -> &Certificate {
        &self.ark
    }
    /// Parsed ASK.
    pub fn ask(&self) -> &Certificate {
        &self.ask
    }
    /// Parsed ASVK.
    pub fn asvk(&self) -> &Certificate {
        &self.asvk
    }

    /// The VCEK chain as KDS serves `/vcek/v1/{P}/cert_chain`: PEM, ASK then ARK.
    pub fn vcek_chain_pem(&self) -> Result<String, PkiError> {
        Ok(format!(
            "{}{}",
            self.ask.to_pem(der::pem::LineEnding::LF)?,
            self.ark.to_pem(der::pem::LineEnding::LF)?
        ))
    }

    /// The VLEK chain (`/vlek/v1/{P}/cert_chain`): PEM, ASVK then ARK.
    pub fn vlek_chain_pem(&self) -> Result<String, PkiError> {
        Ok(format!(
            "{}{}",
            self.asvk.to_pem(der::pem::LineEnding::LF)?,
            self.ark.to_pem(der::pem::LineEnding::LF)?
        ))
    }

    /// Issue the VCEK of chip `chip_id` at `tcb`. The key is derived from (seed, chip id, TCB),
    /// so it changes when the TCB changes.
    pub fn issue_vcek(
        &self,
        seed: &[u8; 32],
        chip_id: &[u8; 64],
        tcb: &Tcb,
    ) -> Result<IssuedKey, PkiError> {
        let tcb_bytes = tcb.encode(self.product);
        let key = derive_key(b"vcek", seed, chip_id, &tcb_bytes)?;
        let mut exts = self.spl_exts(tcb, VCEK_PRODUCT_NAME[product_index(self.product)])?;
        let hwid_len = self.product.hwid_len();
        exts.push(RawExt {
            oid: oid::HW_ID,
            value: chip_id[..hwid_len].to_vec(),
        });
        let der = self.issue_leaf(
            &key,
            "SEV-VCEK",
            &self.ask,
            &self.ask_key,
            exts,
            7,
            &[chip_id.as_slice(), &tcb_bytes].concat(),
        )?;
        Ok(IssuedKey {
            signing_key: key,
            cert_der: der,
            kind: EndorsementKind::Vcek,
            tcb: *tcb,
        })
    }

    /// Issue a VLEK for cloud provider `csp_id` (e.g. `CN=cc-sim.example`) at `tcb`.
    pub fn issue_vlek(
        &self,
        seed: &[u8; 32],
        csp_id: &str,
        tcb: &Tcb,
    ) -> Result<IssuedKey, PkiError> {
        let tcb_bytes = tcb.encode(self.product);
        let mut id = [0u8; 64];
        let h = Sha384::digest(csp_id.as_bytes());
        id[..48].copy_from_slice(&h);
        let key = derive_key(b"vlek", seed, &id, &tcb_bytes)?;
        let mut exts = self.spl_exts(tcb, self.product.kds_name())?;
        exts.push(ia5_ext(oid::CSP_ID, csp_id)?);
        // Real VLEKs are valid for one year; simulated ones for seven like VCEKs, so evidence
        // from the simulator keeps verifying for the life of the test suite.
        let der = self.issue_leaf(
            &key,
            "SEV-VLEK",
            &self.asvk,
            &self.asvk_key,
            exts,
            7,
            &[csp_id.as_bytes(), &tcb_bytes].concat(),
        )?;
        Ok(IssuedKey {
            signing_key: key,
            cert_der: der,
            kind: EndorsementKind::Vlek,
            tcb: *tcb,
        })
    }

    /// structVersion, productName and the SPLs in the order AMD's KDS emits them.
    fn spl_exts(&self, tcb: &Tcb, product_name: &str) -> Result<Vec<RawExt>, PkiError> {
        let mut v = Vec::new();
        let turin = self.product.has_fmc();
        v.push(int_ext(oid::STRUCT_VERSION, u8::from(turin))?);
        v.push(ia5_ext(oid::PRODUCT_NAME, product_name)?);
        if turin {
            v.push(int_ext(oid::FMC_SPL, tcb.fmc.unwrap_or(0))?);
            v.push(int_ext(oid::BL_SPL, tcb.bl)?);
            v.push(int_ext(oid::TEE_SPL, tcb.tee)?);
            v.push(int_ext(oid::SNP_SPL, tcb.snp)?);
            v.push(int_ext(oid::SPL_5, 0)?);
            v.push(int_ext(oid::SPL_6, 0)?);
            v.push(int_ext(oid::SPL_7, 0)?);
        } else {
            v.push(int_ext(oid::BL_SPL, tcb.bl)?);
            v.push(int_ext(oid::TEE_SPL, tcb.tee)?);
            v.push(int_ext(oid::SPL_4, 0)?);
            v.push(int_ext(oid::SPL_5, 0)?);
            v.push(int_ext(oid::SPL_6, 0)?);
            v.push(int_ext(oid::SPL_7, 0)?);
            v.push(int_ext(oid::SNP_SPL, tcb.snp)?);
        }
        v.push(int_ext(oid::UCODE_SPL, tcb.microcode)?);
        Ok(v)
    }

    #[allow(clippy::too_many_arguments)]
    fn issue_leaf(
        &self,
        key: &EcSigningKey,
        cn: &str,
        issuer: &Certificate,
        issuer_key: &RsaPrivateKey,
        exts: Vec<RawExt>,
        years: u64,
        label_extra: &[u8],
    ) -> Result<Vec<u8>, PkiError> {
        let spki_der = key.verifying_key().to_public_key_der()?;
        let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes())?;
        let s = signer(issuer_key);
        let mut b = CertificateBuilder::new(
            Profile::Manual {
                issuer: Some(issuer.tbs_certificate.subject.clone()),
            },
            // Every real VCEK/VLEK has serial number 0.
            SerialNumber::new(&[0])?,
            validity(LEAF_NOT_BEFORE, years)?,
            amd_name(cn)?,
            spki,
            &s,
        )?;
        for e in &exts {
            b.add_extension(e)?;
        }
        let mut rng = rng_for(cn, label_extra);
        let cert = b.build_with_rng::<rsa::pss::Signature>(&mut rng)?;
        Ok(cert.to_der()?)
    }
}

/// productName of simulated VCEKs (line-stepping as KDS writes it; Turin has no stepping).
const VCEK_PRODUCT_NAME: [&str; 3] = ["Milan-B0", "Genoa", "Turin"];

fn product_index(p: Product) -> usize {
    match p {
        Product::Milan => 0,
        Product::Genoa => 1,
        Product::Turin => 2,
    }
}

/// Derive a P-384 signing key: SHA-384 over a domain label, the seed, the identity and the TCB,
/// with a counter in case the digest is not a valid scalar (bounded; practically never loops).
fn derive_key(
    label: &[u8],
    seed: &[u8; 32],
    id: &[u8; 64],
    tcb: &[u8; 8],
) -> Result<EcSigningKey, PkiError> {
    for counter in 0u8..=255 {
        let mut h = Sha384::new();
        h.update(b"snp-sim endorsement key v1\0");
        h.update(label);
        h.update(seed);
        h.update(id);
        h.update(tcb);
        h.update([counter]);
        let d = h.finalize();
        if let Ok(k) = EcSigningKey::from_slice(&d) {
            return Ok(k);
        }
    }
    Err(PkiError::Derive)
}

/// The simulator's root and intermediate certificates for one product, for callers that must be
/// told explicitly to trust them (e.g. a verifier run with `--sim-roots`).
#[derive(Debug, Clone)]
pub struct SimRoots {
    /// Product line.
    pub product: Product,
    /// ARK (DER).
    pub ark_der: Vec<u8>,
    /// ASK (DER).
    pub ask_der: Vec<u8>,
    /// ASVK (DER).
    pub asvk_der: Vec<u8>,
}

impl SimRoots {
    /// The roots of `product`.
    pub fn for_product(product: Product) -> Result<SimRoots, PkiError> {
        let ca = ProductCa::get(product)?;
        Ok(SimRoots {
            product,
            ark_der: ca.ark_der.clone(),
            ask_der: ca.ask_der.clone(),
            asvk_der: ca.asvk_der.clone(),
        })
    }

    /// ARK, ASK and ASVK as one PEM bundle (in that order).
    pub fn to_pem(&self) -> Result<String, PkiError> {
        let mut s = String::new();
        for der in [&self.ark_der, &self.ask_der, &self.asvk_der] {
            s.push_str(
                &der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
                    .map_err(der::Error::from)?,
            );
        }
        Ok(s)
    }

    /// The roots of every product as one PEM bundle.
    pub fn all_pem() -> Result<String, PkiError> {
        let mut s = String::new();
        for p in Product::ALL {
            s.push_str(&SimRoots::for_product(p)?.to_pem()?);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests;
