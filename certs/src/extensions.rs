//! VCEK/VLEK X.509 extensions under 1.3.6.1.4.1.3704.1.
//!
//! AMD's KDS puts what the certificate vouches for into private extensions (spec 57230): the
//! product line, the TCB the key was derived for (one INTEGER per SPL), the chip's hwID (VCEK)
//! or the cloud provider's id (VLEK). These are what the binding checks compare against the
//! report, so they are parsed strictly (duplicates, wrong types and impossible values are
//! errors) while accepting every encoding real KDS certificates use: an SPL INTEGER with a
//! leading 0x00 for values ≥ 0x80, and a hwID stored either raw (every genuine certificate) or
//! wrapped in an OCTET STRING (edited test certificates elsewhere).

use const_oid::ObjectIdentifier;
use der::asn1::AnyRef;
use der::{Decode, Tag, Tagged};

use crate::error::CertError;
use crate::product::Product;
use crate::tcb::Tcb;

/// OIDs of the AMD extensions.
pub mod oid {
    use const_oid::ObjectIdentifier;

    /// Arc all AMD VCEK/VLEK extensions live under.
    pub const AMD_VEK_ARC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1");
    /// structVersion (INTEGER).
    pub const STRUCT_VERSION: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.1");
    /// productName (IA5String, e.g. `Milan-B0`).
    pub const PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
    /// blSPL.
    pub const BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
    /// teeSPL.
    pub const TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
    /// snpSPL.
    pub const SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
    /// spl_4 (reserved; absent on Turin).
    pub const SPL_4: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.4");
    /// spl_5 (reserved).
    pub const SPL_5: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.5");
    /// spl_6 (reserved).
    pub const SPL_6: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.6");
    /// spl_7 (reserved).
    pub const SPL_7: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.7");
    /// ucodeSPL.
    pub const UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
    /// fmcSPL (Turin).
    pub const FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
    /// hwID (VCEK only; 64 bytes, 8 on Turin).
    pub const HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");
    /// cspId (VLEK only; IA5String).
    pub const CSP_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.5");
}

/// Maximum length accepted for the string extensions (productName, cspId): generous for real
/// values, small enough that a hostile certificate cannot make us keep much.
const MAX_STRING_LEN: usize = 256;

/// The AMD extensions of a VCEK or VLEK, as encoded in the certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VekExtensions {
    /// structVersion (0 on Milan/Genoa, 1 on Turin).
    pub struct_version: Option<u32>,
    /// productName (`Milan-B0`, `Genoa`, `Turin`, …).
    pub product_name: Option<String>,
    /// blSPL.
    pub bl_spl: Option<u8>,
    /// teeSPL.
    pub tee_spl: Option<u8>,
    /// snpSPL.
    pub snp_spl: Option<u8>,
    /// spl_4..spl_7 (reserved levels; index 0 = spl_4).
    pub reserved_spls: [Option<u8>; 4],
    /// ucodeSPL.
    pub ucode_spl: Option<u8>,
    /// fmcSPL (Turin only).
    pub fmc_spl: Option<u8>,
    /// hwID bytes (raw or unwrapped from an OCTET STRING).
    pub hw_id: Option<Vec<u8>>,
    /// cspId (VLEK).
    pub csp_id: Option<String>,
}

fn ext_err(
    role: &'static str,
    name: &'static str,
    oid: ObjectIdentifier,
    detail: impl Into<String>,
) -> CertError {
    CertError::Extension {
        role,
        name,
        oid: oid.to_string(),
        detail: detail.into(),
    }
}

/// Decode a DER INTEGER as a small non-negative value. Leading zero bytes are accepted (the
/// one DER requires for values ≥ 0x80, and any others: the certificate is AMD-signed, so the
/// encoding carries no attack surface), negative values and values above `max` are not.
fn small_uint(value: &[u8], max: u64) -> Result<u64, String> {
    let any = AnyRef::from_der(value).map_err(|e| format!("not a DER value: {e}"))?;
    if any.tag() != Tag::Integer {
        return Err(format!("expected INTEGER, found {}", any.tag()));
    }
    let content = any.value();
    match content.first() {
        None => return Err("empty INTEGER".into()),
        Some(b) if b & 0x80 != 0 => return Err("negative INTEGER".into()),
        Some(_) => {}
    }
    let significant = content.iter().skip_while(|&&b| b == 0);
    let mut v: u64 = 0;
    for &b in significant {
        v = v
            .checked_mul(256)
            .and_then(|v| v.checked_add(u64::from(b)))
            .filter(|&v| v <= max)
            .ok_or_else(|| format!("INTEGER larger than {max}"))?;
    }
    Ok(v)
}

/// Decode a DER string (IA5String as AMD uses, or UTF8String/PrintableString) holding ASCII.
fn ascii_string(value: &[u8]) -> Result<String, String> {
    let any = AnyRef::from_der(value).map_err(|e| format!("not a DER value: {e}"))?;
    if !matches!(
        any.tag(),
        Tag::Ia5String | Tag::Utf8String | Tag::PrintableString
    ) {
        return Err(format!("expected IA5String, found {}", any.tag()));
    }
    let content = any.value();
    if content.len() > MAX_STRING_LEN {
        return Err(format!("longer than {MAX_STRING_LEN} bytes"));
    }
    if !content
        .iter()
        .all(|b| b.is_ascii() && !b.is_ascii_control())
    {
        return Err("not printable ASCII".into());
    }
    Ok(content.iter().map(|&b| char::from(b)).collect())
}

/// hwID: the raw 64 or 8 bytes, or the same wrapped in an OCTET STRING.
fn hw_id(value: &[u8]) -> Result<Vec<u8>, String> {
    const LENS: [usize; 2] = [64, 8];
    if LENS.contains(&value.len()) {
        return Ok(value.to_vec());
    }
    if let Ok(any) = AnyRef::from_der(value) {
        if any.tag() == Tag::OctetString && LENS.contains(&any.value().len()) {
            return Ok(any.value().to_vec());
        }
    }
    Err(format!(
        "{} bytes: expected 64 (Milan/Genoa) or 8 (Turin) raw bytes, or those wrapped in an OCTET STRING",
        value.len()
    ))
}

impl VekExtensions {
    /// Collect the AMD extensions from `(oid, extnValue contents)` pairs. Extensions outside
    /// the AMD arc are ignored here (the certificate parser rejects unknown critical ones);
    /// a repeated AMD extension is an error because the two values could disagree.
    pub fn parse<'a, I>(role: &'static str, extensions: I) -> Result<VekExtensions, CertError>
    where
        I: IntoIterator<Item = (ObjectIdentifier, &'a [u8])>,
    {
        let mut out = VekExtensions::default();
        for (id, value) in extensions {
            macro_rules! set {
                ($field:expr, $name:literal, $parse:expr) => {{
                    if $field.is_some() {
                        return Err(ext_err(role, $name, id, "appears more than once"));
                    }
                    $field = Some($parse.map_err(|d| ext_err(role, $name, id, d))?);
                }};
            }
            let spl = |v: &[u8]| small_uint(v, u64::from(u8::MAX)).map(|n| n as u8);
            match id {
                oid::STRUCT_VERSION => {
                    set!(
                        out.struct_version,
                        "structVersion",
                        small_uint(value, u64::from(u32::MAX)).map(|n| n as u32)
                    )
                }
                oid::PRODUCT_NAME => set!(out.product_name, "productName", ascii_string(value)),
                oid::BL_SPL => set!(out.bl_spl, "blSPL", spl(value)),
                oid::TEE_SPL => set!(out.tee_spl, "teeSPL", spl(value)),
                oid::SNP_SPL => set!(out.snp_spl, "snpSPL", spl(value)),
                oid::SPL_4 => set!(out.reserved_spls[0], "spl_4", spl(value)),
                oid::SPL_5 => set!(out.reserved_spls[1], "spl_5", spl(value)),
                oid::SPL_6 => set!(out.reserved_spls[2], "spl_6", spl(value)),
                oid::SPL_7 => set!(out.reserved_spls[3], "spl_7", spl(value)),
                oid::UCODE_SPL => set!(out.ucode_spl, "ucodeSPL", spl(value)),
                oid::FMC_SPL => set!(out.fmc_spl, "fmcSPL", spl(value)),
                oid::HW_ID => set!(out.hw_id, "hwID", hw_id(value)),
                oid::CSP_ID => set!(out.csp_id, "cspId", ascii_string(value)),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Parse from a certificate's extension list.
    pub fn from_certificate(
        role: &'static str,
        cert: &x509_cert::Certificate,
    ) -> Result<VekExtensions, CertError> {
        let exts = cert.tbs_certificate.extensions.as_deref().unwrap_or(&[]);
        Self::parse(
            role,
            exts.iter().map(|e| (e.extn_id, e.extn_value.as_bytes())),
        )
    }

    /// Product line named by productName.
    pub fn product(&self, role: &'static str) -> Result<Product, CertError> {
        let name = self
            .product_name
            .as_deref()
            .ok_or_else(|| ext_err(role, "productName", oid::PRODUCT_NAME, "missing"))?;
        Product::from_product_name(name)
            .map_err(|e| ext_err(role, "productName", oid::PRODUCT_NAME, e.to_string()))
    }

    /// The TCB this certificate was issued for, in `product`'s terms: bl, tee, snp and ucode
    /// are required; fmcSPL is required on products with an FMC level and must be absent on
    /// the others (a Milan/Genoa certificate carrying one is not a genuine one).
    pub fn tcb(&self, role: &'static str, product: Product) -> Result<Tcb, CertError> {
        let need = |v: Option<u8>, name: &'static str, id: ObjectIdentifier| {
            v.ok_or_else(|| ext_err(role, name, id, "missing"))
        };
        let bl = need(self.bl_spl, "blSPL", oid::BL_SPL)?;
        let tee = need(self.tee_spl, "teeSPL", oid::TEE_SPL)?;
        let snp = need(self.snp_spl, "snpSPL", oid::SNP_SPL)?;
        let ucode = need(self.ucode_spl, "ucodeSPL", oid::UCODE_SPL)?;
        match (product.has_fmc(), self.fmc_spl) {
            (true, Some(fmc)) => Ok(Tcb::with_fmc(fmc, bl, tee, snp, ucode)),
            (false, None) => Ok(Tcb::new(bl, tee, snp, ucode)),
            (true, None) => Err(ext_err(
                role,
                "fmcSPL",
                oid::FMC_SPL,
                format!("missing, but {product} TCBs have an FMC level"),
            )),
            (false, Some(_)) => Err(ext_err(
                role,
                "fmcSPL",
                oid::FMC_SPL,
                format!("present, but {product} TCBs have no FMC level"),
            )),
        }
    }

    /// The hwID, checked to be the product's length.
    pub fn hw_id_for(&self, role: &'static str, product: Product) -> Result<&[u8], CertError> {
        let id = self
            .hw_id
            .as_deref()
            .ok_or_else(|| ext_err(role, "hwID", oid::HW_ID, "missing"))?;
        if id.len() != product.hwid_len() {
            return Err(ext_err(
                role,
                "hwID",
                oid::HW_ID,
                format!(
                    "{} bytes, but {product} hwIDs are {} bytes",
                    id.len(),
                    product.hwid_len()
                ),
            ));
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(items: &[(ObjectIdentifier, &[u8])]) -> Result<VekExtensions, CertError> {
        VekExtensions::parse("VCEK", items.iter().copied())
    }

    #[test]
    fn integers() {
        assert_eq!(small_uint(&[2, 1, 0], 255), Ok(0));
        assert_eq!(small_uint(&[2, 1, 0x73], 255), Ok(0x73));
        assert_eq!(small_uint(&[2, 2, 0, 0xde], 255), Ok(222));
        assert!(small_uint(&[2, 1, 0xde], 255).is_err(), "negative");
        assert!(small_uint(&[2, 2, 1, 0], 255).is_err(), "too large");
        assert!(small_uint(&[2, 0], 255).is_err(), "empty");
        assert!(small_uint(&[4, 1, 0], 255).is_err(), "not an integer");
        assert!(small_uint(&[2, 1, 0, 0], 255).is_err(), "trailing bytes");
    }

    #[test]
    fn hw_id_encodings() {
        let raw = [0xAB; 64];
        assert_eq!(hw_id(&raw).as_deref(), Ok(&raw[..]));
        let mut wrapped = vec![0x04, 0x40];
        wrapped.extend_from_slice(&raw);
        assert_eq!(hw_id(&wrapped).as_deref(), Ok(&raw[..]));
        assert_eq!(hw_id(&[1; 8]).as_deref(), Ok(&[1u8; 8][..]));
        assert_eq!(
            hw_id(&[4, 8, 1, 1, 1, 1, 1, 1, 1, 1]).as_deref(),
            Ok(&[1u8; 8][..])
        );
        assert!(hw_id(&[0; 63]).is_err());
        assert!(hw_id(&[0x04, 0x3F]).is_err());
    }

    #[test]
    fn tcb_per_product() {
        let milan = parse(&[
            (oid::PRODUCT_NAME, b"\x16\x08Milan-B0"),
            (oid::BL_SPL, &[2, 1, 3]),
            (oid::TEE_SPL, &[2, 1, 0]),
            (oid::SNP_SPL, &[2, 1, 8]),
            (oid::UCODE_SPL, &[2, 1, 0x73]),
        ])
        .expect("parses");
        assert_eq!(milan.product("VCEK"), Ok(Product::Milan));
        assert_eq!(
            milan.tcb("VCEK", Product::Milan),
            Ok(Tcb::new(3, 0, 8, 115))
        );
        assert!(
            milan.tcb("VCEK", Product::Turin).is_err(),
            "Turin needs fmcSPL"
        );
        let mut turin = milan.clone();
        turin.fmc_spl = Some(0);
        assert_eq!(
            turin.tcb("VCEK", Product::Turin),
            Ok(Tcb::with_fmc(0, 3, 0, 8, 115))
        );
        assert!(
            turin.tcb("VCEK", Product::Genoa).is_err(),
            "Genoa has no fmcSPL"
        );
        assert!(VekExtensions::default()
            .tcb("VCEK", Product::Milan)
            .is_err());
    }

    #[test]
    fn duplicates_and_bad_values_rejected() {
        assert!(parse(&[(oid::BL_SPL, &[2, 1, 3]), (oid::BL_SPL, &[2, 1, 3])]).is_err());
        assert!(parse(&[(oid::PRODUCT_NAME, b"\x02\x01\x00")]).is_err());
        assert!(parse(&[(oid::CSP_ID, b"\x16\x02\x00\x01")]).is_err());
        let e = parse(&[(oid::CSP_ID, b"\x16\x05CN=ab"), (oid::HW_ID, &[7; 8])]).expect("parses");
        assert_eq!(e.csp_id.as_deref(), Some("CN=ab"));
        assert!(e.hw_id_for("VCEK", Product::Milan).is_err());
        assert_eq!(e.hw_id_for("VCEK", Product::Turin), Ok(&[7u8; 8][..]));
        // Unknown OIDs, inside or outside the AMD arc, are not this parser's business.
        let other = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.99");
        assert_eq!(parse(&[(other, b"junk")]), Ok(VekExtensions::default()));
    }

    proptest! {
        #[test]
        fn never_panics(which in 0usize..13, value in proptest::collection::vec(any::<u8>(), 0..80)) {
            let ids = [
                oid::STRUCT_VERSION, oid::PRODUCT_NAME, oid::BL_SPL, oid::TEE_SPL, oid::SNP_SPL,
                oid::SPL_4, oid::SPL_5, oid::SPL_6, oid::SPL_7, oid::UCODE_SPL, oid::FMC_SPL,
                oid::HW_ID, oid::CSP_ID,
            ];
            if let Ok(e) = parse(&[(ids[which], &value)]) {
                for p in Product::ALL {
                    let _ = (e.product("VCEK"), e.tcb("VCEK", p), e.hw_id_for("VCEK", p));
                }
            }
        }
    }
}
