//! AMD certificate chain checks: ARK -> ASK/ASVK -> VCEK/VLEK.
//!
//! [`AmdCert`] is a certificate parsed once into what the checks need (raw TBS bytes, the
//! issuer's key in the form the crypto provider takes, names, validity, key usage, basic
//! constraints, AMD extensions), so that pinned roots are parsed once per process and each
//! report costs one RSA verification (ASK→VEK) and one ECDSA verification.
//!
//! Signatures are checked over the TBS bytes *as received* (sliced out of the DER, never
//! re-encoded), and only RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48 and trailer 1 is
//! accepted — both the 67-byte AlgorithmIdentifier (trailerField omitted) and the 72-byte one
//! (explicit `[3] 1`) that real KDS certificates use.

use std::fmt;

use const_oid::db::rfc5280::{ID_CE_BASIC_CONSTRAINTS, ID_CE_KEY_USAGE};
use const_oid::db::rfc5912::{
    ID_EC_PUBLIC_KEY, ID_MGF_1, ID_RSASSA_PSS, ID_SHA_384, RSA_ENCRYPTION, SECP_384_R_1,
};
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier as Oid};
use der::{Decode, Encode, Reader, SliceReader, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::Certificate;

use crate::crypto::CryptoProvider;
use crate::error::CertError;
use crate::extensions::VekExtensions;

/// Largest certificate accepted. Real AMD certificates are under 2.5 KiB; the cap keeps a
/// hostile host from making the parser walk megabytes.
pub const MAX_CERT_LEN: usize = 16 * 1024;

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// A subject public key in the form the crypto provider takes.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA key: DER `RSAPublicKey` (PKCS#1) and modulus size in bits.
    Rsa {
        /// DER RSAPublicKey.
        pkcs1: Vec<u8>,
        /// Modulus bits.
        bits: usize,
    },
    /// P-384 key as a SEC1 point.
    P384 {
        /// SEC1-encoded point.
        sec1: Vec<u8>,
    },
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKey::Rsa { bits, .. } => write!(f, "RSA-{bits}"),
            PublicKey::P384 { .. } => f.write_str("P-384"),
        }
    }
}

/// Which kind of key certificate endorses a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// Versioned Chip Endorsement Key: per chip and TCB, issued by the ASK.
    Vcek,
    /// Versioned Loaded Endorsement Key: per cloud provider, issued by the ASVK.
    Vlek,
}

impl CertKind {
    /// Subject common name AMD gives this kind of certificate.
    pub fn common_name(self) -> &'static str {
        match self {
            CertKind::Vcek => "SEV-VCEK",
            CertKind::Vlek => "SEV-VLEK",
        }
    }

    /// Role name used in messages.
    pub fn role(self) -> &'static str {
        match self {
            CertKind::Vcek => "VCEK",
            CertKind::Vlek => "VLEK",
        }
    }

    /// Role name of the intermediate that signs this kind.
    pub fn intermediate_role(self) -> &'static str {
        match self {
            CertKind::Vcek => "ASK",
            CertKind::Vlek => "ASVK",
        }
    }
}

impl fmt::Display for CertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.role())
    }
}

/// A certificate parsed into what the chain and binding checks need.
#[derive(Clone)]
pub struct AmdCert {
    role: &'static str,
    der: Vec<u8>,
    tbs: std::ops::Range<usize>,
    signature: Vec<u8>,
    cert: Certificate,
    spki_der: Vec<u8>,
    key: PublicKey,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    common_name: Option<String>,
    not_before: u64,
    not_after: u64,
    key_usage: Option<KeyUsage>,
    basic_constraints: Option<BasicConstraints>,
    amd: VekExtensions,
}

impl fmt::Debug for AmdCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmdCert")
            .field("role", &self.role)
            .field("subject_cn", &self.common_name)
            .field("serial", &self.serial_hex())
            .field("key", &self.key)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

fn malformed(role: &'static str, e: impl fmt::Display) -> CertError {
    CertError::Malformed {
        role,
        detail: e.to_string(),
    }
}

fn sig_alg_err(role: &'static str, detail: impl Into<String>) -> CertError {
    CertError::SignatureAlgorithm {
        role,
        detail: detail.into(),
    }
}

fn profile(role: &'static str, detail: impl Into<String>) -> CertError {
    CertError::Profile {
        role,
        detail: detail.into(),
    }
}

/// The three parts of a signed X.509 structure (certificate or CRL), with the TBS part located
/// as the exact received bytes `der[tbs]`.
pub(crate) struct SignedParts<'a> {
    pub(crate) tbs: std::ops::Range<usize>,
    pub(crate) algorithm: AlgorithmIdentifierOwned,
    pub(crate) signature: &'a [u8],
}

/// Split `SEQUENCE { tbs, signatureAlgorithm, signatureValue }` without re-encoding.
pub(crate) fn split_signed(der: &[u8]) -> der::Result<SignedParts<'_>> {
    let mut reader = SliceReader::new(der)?;
    let parts = reader.sequence(|r| {
        let tbs = r.tlv_bytes()?;
        let algorithm = AlgorithmIdentifierOwned::decode(r)?;
        let sig = BitStringRef::decode(r)?;
        Ok((tbs, algorithm, sig))
    })?;
    let (tbs, algorithm, sig) = reader.finish(parts)?;
    let signature = sig
        .as_bytes()
        .ok_or_else(|| der::Tag::BitString.value_error())?;
    // `tbs` is a sub-slice of `der` (the reader borrows); its offset locates the TBS.
    let start = (tbs.as_ptr() as usize)
        .checked_sub(der.as_ptr() as usize)
        .ok_or_else(|| der::Tag::Sequence.value_error())?;
    Ok(SignedParts {
        tbs: start..start + tbs.len(),
        algorithm,
        signature,
    })
}

/// Require exactly RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48, trailer field 1.
pub fn check_pss_sha384(
    role: &'static str,
    alg: &AlgorithmIdentifierOwned,
) -> Result<(), CertError> {
    if alg.oid != ID_RSASSA_PSS {
        return Err(sig_alg_err(
            role,
            format!("algorithm {} is not id-RSASSA-PSS", alg.oid),
        ));
    }
    let params = alg
        .parameters
        .as_ref()
        .ok_or_else(|| sig_alg_err(role, "RSASSA-PSS parameters missing (defaults mean SHA-1)"))?;
    let params = params
        .decode_as::<rsa::pkcs1::RsaPssParams<'_>>()
        .map_err(|e| sig_alg_err(role, format!("RSASSA-PSS parameters: {e}")))?;
    let null_or_absent = |p: Option<AnyRef<'_>>| p.is_none_or(|p| p.is_null());
    if params.hash.oid != ID_SHA_384 || !null_or_absent(params.hash.parameters) {
        return Err(sig_alg_err(
            role,
            format!("hash {} is not SHA-384", params.hash.oid),
        ));
    }
    if params.mask_gen.oid != ID_MGF_1 {
        return Err(sig_alg_err(
            role,
            format!("mask generation {} is not MGF1", params.mask_gen.oid),
        ));
    }
    match params.mask_gen.parameters {
        Some(h) if h.oid == ID_SHA_384 && null_or_absent(h.parameters) => {}
        _ => return Err(sig_alg_err(role, "MGF1 hash is not SHA-384")),
    }
    if params.salt_len != 48 {
        return Err(sig_alg_err(
            role,
            format!("salt length {} is not 48", params.salt_len),
        ));
    }
    // TrailerField decoding accepts only the value 1 (trailerFieldBC).
    Ok(())
}

fn common_name(name: &x509_cert::name::Name) -> Option<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == OID_CN)
        .and_then(|atv| {
            let tag = atv.value.tag();
            matches!(
                tag,
                der::Tag::Utf8String | der::Tag::PrintableString | der::Tag::Ia5String
            )
            .then(|| String::from_utf8_lossy(atv.value.value()).into_owned())
        })
}

impl AmdCert {
    /// Parse a DER certificate in the given role ("ARK", "ASK", "VCEK", …; used in errors).
    ///
    /// Checks made here, independent of any other certificate: DER structure and size,
    /// X.509 v3, outer and inner signature algorithm identical and exactly AMD's RSASSA-PSS,
    /// a supported key (RSA ≥ 2048 bits or P-384), no duplicate and no unknown critical
    /// extension, parseable key usage / basic constraints / AMD extensions.
    pub fn from_der(role: &'static str, der: &[u8]) -> Result<AmdCert, CertError> {
        if der.len() > MAX_CERT_LEN {
            return Err(malformed(
                role,
                format!("{} bytes is larger than {MAX_CERT_LEN}", der.len()),
            ));
        }
        let parts = split_signed(der).map_err(|e| malformed(role, e))?;
        let tbs = parts.tbs;
        let signature = parts.signature.to_vec();
        let cert = Certificate::from_der(der).map_err(|e| malformed(role, e))?;
        let tbs_cert = &cert.tbs_certificate;

        if tbs_cert.version != x509_cert::Version::V3 {
            return Err(profile(role, "not an X.509 v3 certificate"));
        }
        let inner = tbs_cert
            .signature
            .to_der()
            .map_err(|e| malformed(role, e))?;
        let outer = cert
            .signature_algorithm
            .to_der()
            .map_err(|e| malformed(role, e))?;
        if inner != outer {
            return Err(sig_alg_err(
                role,
                "tbsCertificate.signature differs from signatureAlgorithm",
            ));
        }
        check_pss_sha384(role, &parts.algorithm)?;

        let spki = &tbs_cert.subject_public_key_info;
        let spki_der = spki.to_der().map_err(|e| malformed(role, e))?;
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| CertError::PublicKey {
                role,
                detail: "subjectPublicKey has unused bits".into(),
            })?;
        let key = if spki.algorithm.oid == RSA_ENCRYPTION {
            let parsed = rsa::pkcs1::RsaPublicKey::from_der(key_bytes).map_err(|e| {
                CertError::PublicKey {
                    role,
                    detail: format!("RSA key: {e}"),
                }
            })?;
            let modulus = parsed.modulus.as_bytes();
            let bits = modulus
                .iter()
                .position(|&b| b != 0)
                .and_then(|i| modulus.get(i..))
                .and_then(|m| {
                    m.first()
                        .map(|&top| (m.len() - 1) * 8 + (8 - top.leading_zeros() as usize))
                })
                .unwrap_or(0);
            if !(2048..=8192).contains(&bits) {
                return Err(CertError::PublicKey {
                    role,
                    detail: format!("RSA-{bits} (2048..=8192 bits accepted)"),
                });
            }
            PublicKey::Rsa {
                pkcs1: key_bytes.to_vec(),
                bits,
            }
        } else if spki.algorithm.oid == ID_EC_PUBLIC_KEY {
            let curve: Option<Oid> = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<Oid>().ok());
            if curve != Some(SECP_384_R_1) {
                return Err(CertError::PublicKey {
                    role,
                    detail: "EC key is not on P-384".into(),
                });
            }
            if p384::PublicKey::from_sec1_bytes(key_bytes).is_err() {
                return Err(CertError::PublicKey {
                    role,
                    detail: "P-384 point is not on the curve".into(),
                });
            }
            PublicKey::P384 {
                sec1: key_bytes.to_vec(),
            }
        } else {
            return Err(CertError::PublicKey {
                role,
                detail: format!("algorithm {}", spki.algorithm.oid),
            });
        };

        let mut key_usage = None;
        let mut basic_constraints = None;
        let exts = tbs_cert.extensions.as_deref().unwrap_or(&[]);
        for (i, ext) in exts.iter().enumerate() {
            if exts.iter().skip(i + 1).any(|o| o.extn_id == ext.extn_id) {
                return Err(CertError::Extension {
                    role,
                    name: "extension",
                    oid: ext.extn_id.to_string(),
                    detail: "appears more than once".into(),
                });
            }
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == ID_CE_KEY_USAGE {
                key_usage = Some(KeyUsage::from_der(value).map_err(|e| CertError::Extension {
                    role,
                    name: "keyUsage",
                    oid: ext.extn_id.to_string(),
                    detail: e.to_string(),
                })?);
            } else if ext.extn_id == ID_CE_BASIC_CONSTRAINTS {
                basic_constraints =
                    Some(
                        BasicConstraints::from_der(value).map_err(|e| CertError::Extension {
                            role,
                            name: "basicConstraints",
                            oid: ext.extn_id.to_string(),
                            detail: e.to_string(),
                        })?,
                    );
            } else if ext.critical {
                return Err(CertError::UnknownCriticalExtension {
                    role,
                    oid: ext.extn_id.to_string(),
                });
            }
        }
        let amd = VekExtensions::from_certificate(role, &cert)?;

        let subject_der = tbs_cert.subject.to_der().map_err(|e| malformed(role, e))?;
        let issuer_der = tbs_cert.issuer.to_der().map_err(|e| malformed(role, e))?;
        let common_name = common_name(&tbs_cert.subject);
        let not_before = tbs_cert.validity.not_before.to_unix_duration().as_secs();
        let not_after = tbs_cert.validity.not_after.to_unix_duration().as_secs();

        Ok(AmdCert {
            role,
            der: der.to_vec(),
            tbs,
            signature,
            spki_der,
            key,
            subject_der,
            issuer_der,
            common_name,
            not_before,
            not_after,
            key_usage,
            basic_constraints,
            amd,
            cert,
        })
    }

    /// The role this certificate was parsed in.
    pub fn role(&self) -> &'static str {
        self.role
    }

    /// The DER bytes as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// DER SubjectPublicKeyInfo — what "same key" comparisons use.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The subject public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// Subject common name, if present.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// DER subject name.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// DER issuer name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// notBefore as UNIX seconds.
    pub fn not_before(&self) -> u64 {
        self.not_before
    }

    /// notAfter as UNIX seconds.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    /// Serial number content bytes (may be the single byte 0: every real VCEK has serial 0).
    pub fn serial(&self) -> &[u8] {
        self.cert.tbs_certificate.serial_number.as_bytes()
    }

    /// Serial number in hex, leading zero bytes stripped.
    pub fn serial_hex(&self) -> String {
        serial_hex(self.serial())
    }

    /// The AMD VCEK/VLEK extensions (empty on CA certificates).
    pub fn amd_extensions(&self) -> &VekExtensions {
        &self.amd
    }

    /// Whether `time` (UNIX seconds) lies within notBefore..=notAfter.
    pub fn valid_at(&self, time: u64) -> bool {
        self.not_before <= time && time <= self.not_after
    }

    /// Check validity at `time`, with a message naming the window.
    pub fn check_validity(&self, time: u64) -> Result<(), String> {
        if self.valid_at(time) {
            Ok(())
        } else {
            Err(format!(
                "{} {:?} valid {}..{}, not at {}",
                self.role,
                self.common_name.as_deref().unwrap_or("?"),
                fmt_time(self.not_before),
                fmt_time(self.not_after),
                fmt_time(time)
            ))
        }
    }

    /// Whether this certificate is a CA allowed to sign certificates: basic constraints with
    /// CA true, and key usage (if present) including keyCertSign.
    pub fn check_ca(&self) -> Result<(), CertError> {
        match &self.basic_constraints {
            Some(bc) if bc.ca => {}
            _ => {
                return Err(profile(
                    self.role,
                    "not a CA (basicConstraints CA:TRUE missing)",
                ))
            }
        }
        match &self.key_usage {
            Some(ku) if !ku.0.contains(KeyUsages::KeyCertSign) => {
                Err(profile(self.role, "keyUsage lacks keyCertSign"))
            }
            _ => Ok(()),
        }
    }

    /// Whether this CA may sign CRLs (keyUsage, if present, includes cRLSign).
    pub fn check_crl_signer(&self) -> Result<(), CertError> {
        match &self.key_usage {
            Some(ku) if !ku.0.contains(KeyUsages::CRLSign) => {
                Err(profile(self.role, "keyUsage lacks cRLSign"))
            }
            _ => Ok(()),
        }
    }

    /// Whether this certificate is an end-entity key certificate: not a CA, and key usage (if
    /// present) allows digital signatures.
    pub fn check_end_entity(&self) -> Result<(), CertError> {
        if self.basic_constraints.as_ref().is_some_and(|bc| bc.ca) {
            return Err(profile(
                self.role,
                "is a CA certificate, expected an end-entity key",
            ));
        }
        match &self.key_usage {
            Some(ku) if !ku.0.contains(KeyUsages::DigitalSignature) => {
                Err(profile(self.role, "keyUsage lacks digitalSignature"))
            }
            _ => Ok(()),
        }
    }

    /// Verify that `issuer` issued this certificate: issuer name equals the issuer's subject,
    /// and the RSASSA-PSS signature over the received TBS bytes verifies under its RSA key.
    pub fn verify_issued_by(
        &self,
        issuer: &AmdCert,
        provider: &dyn CryptoProvider,
    ) -> Result<(), String> {
        if self.issuer_der != issuer.subject_der {
            return Err(format!(
                "{} issuer name does not match {} subject {:?}",
                self.role,
                issuer.role,
                issuer.common_name.as_deref().unwrap_or("?")
            ));
        }
        let PublicKey::Rsa { pkcs1, .. } = &issuer.key else {
            return Err(format!("{} key is not an RSA key", issuer.role));
        };
        let tbs = self
            .der
            .get(self.tbs.clone())
            .ok_or_else(|| format!("{}: TBS range out of bounds", self.role))?;
        provider
            .verify_rsa_pss_sha384(pkcs1, tbs, &self.signature)
            .map_err(|e| format!("{} signature by {}: {e}", self.role, issuer.role))
    }
}

/// Hex of a serial number with leading zero bytes stripped (`0` for zero).
pub fn serial_hex(bytes: &[u8]) -> String {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Format UNIX seconds as an RFC 3339 UTC timestamp (for messages).
pub fn fmt_time(secs: u64) -> String {
    match der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs)) {
        Ok(dt) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minutes(),
            dt.seconds()
        ),
        Err(_) => format!("{secs}s"),
    }
}

/// Split PEM text into the DER bytes of each `CERTIFICATE` block, in order. Other block
/// types are refused (a chain file holds certificates only).
pub fn pem_certificates(text: &[u8]) -> Result<Vec<Vec<u8>>, CertError> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"-----END ";
    const MAX_BLOCKS: usize = 16;
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = find(rest, BEGIN) {
        if out.len() == MAX_BLOCKS {
            return Err(CertError::Pem(format!("more than {MAX_BLOCKS} PEM blocks")));
        }
        let block = rest.get(start..).unwrap_or_default();
        let end_marker =
            find(block, END).ok_or_else(|| CertError::Pem("unterminated PEM block".into()))?;
        let after_end = block.get(end_marker + END.len()..).unwrap_or_default();
        let close = find(after_end, b"-----")
            .ok_or_else(|| CertError::Pem("unterminated END line".into()))?;
        let block_len = end_marker + END.len() + close + 5;
        let pem = block.get(..block_len).unwrap_or_default();
        let (label, der) = der::pem::decode_vec(pem).map_err(|e| CertError::Pem(e.to_string()))?;
        if label != "CERTIFICATE" {
            return Err(CertError::Pem(format!("unexpected PEM block {label:?}")));
        }
        out.push(der);
        rest = block.get(block_len..).unwrap_or_default();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn serials() {
        assert_eq!(serial_hex(&[0]), "0");
        assert_eq!(serial_hex(&[0x02, 0x00, 0x01]), "020001");
        assert_eq!(serial_hex(&[0x00, 0x80]), "80");
    }

    #[test]
    fn times() {
        assert_eq!(fmt_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt_time(1_795_564_800), "2026-11-25T00:00:00Z");
    }

    #[test]
    fn pem_edge_cases() {
        assert_eq!(pem_certificates(b"no pem here"), Ok(vec![]));
        assert!(pem_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA").is_err());
        assert!(pem_certificates(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err());
    }

    /// AlgorithmIdentifier DER for RSASSA-PSS with `params` (the SEQUENCE contents).
    fn pss_alg(params: &[u8]) -> AlgorithmIdentifierOwned {
        let mut p = vec![0x30, u8::try_from(params.len()).expect("short")];
        p.extend_from_slice(params);
        AlgorithmIdentifierOwned {
            oid: ID_RSASSA_PSS,
            parameters: Some(der::Any::from_der(&p).expect("params")),
        }
    }

    // [0] sha384 (with NULL), [1] mgf1(sha384 with NULL), [2] salt 48, as AMD encodes them.
    const HASH: &[u8] = &[
        0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        0x05, 0x00,
    ];
    const MGF: &[u8] = &[
        0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08,
        0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
    ];
    const SALT48: &[u8] = &[0xa2, 0x03, 0x02, 0x01, 0x30];

    #[test]
    fn pss_parameters() {
        let ok = [HASH, MGF, SALT48].concat();
        assert!(
            check_pss_sha384("T", &pss_alg(&ok)).is_ok(),
            "trailerField omitted (67-byte form)"
        );
        let explicit_trailer = [HASH, MGF, SALT48, &[0xa3, 0x03, 0x02, 0x01, 0x01]].concat();
        assert!(
            check_pss_sha384("T", &pss_alg(&explicit_trailer)).is_ok(),
            "trailerField 1 (72-byte form)"
        );
        let trailer2 = [HASH, MGF, SALT48, &[0xa3, 0x03, 0x02, 0x01, 0x02]].concat();
        assert!(
            check_pss_sha384("T", &pss_alg(&trailer2)).is_err(),
            "trailerField 2"
        );
        let salt32 = [HASH, MGF, &[0xa2, 0x03, 0x02, 0x01, 0x20]].concat();
        assert!(check_pss_sha384("T", &pss_alg(&salt32)).is_err(), "salt 32");
        assert!(
            check_pss_sha384("T", &pss_alg(&[HASH, MGF].concat())).is_err(),
            "default salt 20"
        );
        assert!(
            check_pss_sha384("T", &pss_alg(&[MGF, SALT48].concat())).is_err(),
            "default hash SHA-1"
        );
        assert!(
            check_pss_sha384("T", &pss_alg(&[HASH, SALT48].concat())).is_err(),
            "default MGF1-SHA-1"
        );
        let mut mgf256 = MGF.to_vec();
        mgf256[29 - 2] = 0x01; // sha384 (..04 02 02) -> sha256 (..04 02 01) inside MGF1
        assert!(
            check_pss_sha384("T", &pss_alg(&[HASH, &mgf256[..], SALT48].concat())).is_err(),
            "MGF1-SHA-256"
        );
        let no_params = AlgorithmIdentifierOwned {
            oid: ID_RSASSA_PSS,
            parameters: None,
        };
        assert!(check_pss_sha384("T", &no_params).is_err());
    }

    proptest! {
        #[test]
        fn cert_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let _ = AmdCert::from_der("VCEK", &bytes);
            let _ = pem_certificates(&bytes);
        }

        #[test]
        fn cert_parser_survives_mutations_of_a_real_cert(pos in 0usize..2000, val in any::<u8>(), cut in 0usize..2000) {
            let der = include_bytes!("../../tests/data/real/virtee-sev/vcek_milan.der");
            let mut m = der.to_vec();
            if let Some(b) = m.get_mut(pos) { *b = val; }
            m.truncate(cut.max(1).min(m.len()));
            let _ = AmdCert::from_der("VCEK", &m);
        }
    }
}
