//! AMD Key Distribution Service URLs.
//!
//! Pure string building, no I/O: the agent's KDS client, a relying party that fetches on its
//! own, and the docs all build the same URLs from here. Endpoints (AMD pub. 57230; abi-facts §6.1):
//!
//! | what | path under the base URL |
//! |---|---|
//! | VCEK, Milan/Genoa | `/vcek/v1/{Milan\|Genoa}/{hwid}?blSPL=&teeSPL=&snpSPL=&ucodeSPL=` — hwid = 64-byte CHIP_ID, 128 hex |
//! | VCEK, Turin | `/vcek/v1/Turin/{hwid}?blSPL=&teeSPL=&snpSPL=&ucodeSPL=&fmcSPL=` — hwid = first 8 bytes, 16 hex |
//! | CA chain | `/{vcek\|vlek}/v1/{product}/cert_chain` — PEM, ASK (or ASVK) then ARK |
//! | CRL | `/{vcek\|vlek}/v1/{product}/crl` — DER, signed by the ARK |
//!
//! A VLEK leaf is only served to authenticated cloud providers, so no URL for it is built here:
//! a guest gets its VLEK from the host's certificate table.
//!
//! **Number format.** SPLs are written in decimal without zero padding (`ucodeSPL=9`, not
//! `09`). They are integers and 57230 writes them as such; `%02`-style padding, which some
//! clients use, is not a fixed width either (a microcode SPL of 115 or 209 has three digits),
//! so it adds nothing but a second spelling of the same URL — and the URL is what caching
//! proxies and mirrors key on. go-sev-guest, in production against KDS, sends them unpadded
//! with `fmcSPL` last, which is the form built here. The hwID is lower-case hex, as
//! go-sev-guest writes it.
//!
//! **Masked chip IDs.** A guest launched with MASK_CHIP_ID reports an all-zero CHIP_ID. No VCEK
//! exists for it, so [`HwId::from_chip_id`] refuses it before any URL is built: asking KDS
//! would only earn a 404 (and count against its rate limit).

use std::fmt;

use thiserror::Error;

use crate::product::Product;
use crate::report::SigningKey;
use crate::tcb::Tcb;

/// AMD's production KDS.
pub const AMD_KDS_URL: &str = "https://kdsintf.amd.com";

/// Length of a report's CHIP_ID field.
pub const CHIP_ID_LEN: usize = 64;

/// Which of AMD's two endorsement PKIs a URL points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endorser {
    /// Versioned Chip Endorsement Key: per chip and TCB; chain ARK → ASK → VCEK.
    Vcek,
    /// Versioned Loaded Endorsement Key: per cloud provider; chain ARK → ASVK → VLEK.
    Vlek,
}

impl Endorser {
    /// The first path segment on KDS (`vcek` / `vlek`).
    pub fn path_segment(self) -> &'static str {
        match self {
            Endorser::Vcek => "vcek",
            Endorser::Vlek => "vlek",
        }
    }
}

impl fmt::Display for Endorser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endorser::Vcek => "VCEK",
            Endorser::Vlek => "VLEK",
        })
    }
}

impl TryFrom<SigningKey> for Endorser {
    type Error = KdsUrlError;

    /// The PKI for a report's signer-info field; an unsigned report or a reserved value has
    /// no certificates on KDS.
    fn try_from(k: SigningKey) -> Result<Self, Self::Error> {
        match k {
            SigningKey::Vcek => Ok(Endorser::Vcek),
            SigningKey::Vlek => Ok(Endorser::Vlek),
            other => Err(KdsUrlError::NoEndorser(other.to_string())),
        }
    }
}

/// Why no KDS URL could be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KdsUrlError {
    /// CHIP_ID is all zero: the guest was launched with MASK_CHIP_ID.
    #[error("the report's CHIP_ID is masked (all zero; the guest policy or the host set MASK_CHIP_ID), so no {product} VCEK can be fetched for it: have the host serve the VCEK in its certificate table, or provide it from a local store")]
    ChipIdMasked {
        /// The product the URL was for.
        product: Product,
    },
    /// A Turin CHIP_ID is 8 bytes followed by zeros; anything else is not a Turin chip ID.
    #[error("CHIP_ID has non-zero bytes after the first 8, which a Turin chip ID never has: the report is probably from another product (Milan/Genoa) — check the product")]
    TurinChipIdTail,
    /// A hwID of the wrong length for the product.
    #[error("a {product} hwID is {expected} bytes, got {got}")]
    HwIdLength {
        /// The product.
        product: Product,
        /// Its hwID length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The TCB's FMC level does not fit the product (Turin needs one, Milan/Genoa have none).
    #[error("{}", if *has_fmc { format!("the TCB carries an FMC SPL but {product} TCBs have none: wrong product?") } else { format!("a {product} VCEK URL needs the FMC SPL but the TCB has none: decode REPORTED_TCB with the {product} layout") })]
    FmcMismatch {
        /// The product.
        product: Product,
        /// Whether the TCB had an FMC level.
        has_fmc: bool,
    },
    /// The hwID was built for another product than the URL asks for.
    #[error("hwID was derived for {hwid_product} but the URL is for {product}")]
    ProductMismatch {
        /// The URL's product.
        product: Product,
        /// The hwID's product.
        hwid_product: Product,
    },
    /// The base URL is unusable.
    #[error("KDS base URL {url:?} is not usable: {reason} (expected e.g. {AMD_KDS_URL} or http://127.0.0.1:8080)")]
    BadBaseUrl {
        /// The URL given (truncated).
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The report's signer has no KDS certificates.
    #[error(
        "the report is signed by {0}, which has no certificates on KDS (only VCEK and VLEK do)"
    )]
    NoEndorser(String),
}

/// The hardware ID KDS names a VCEK by: the whole 64-byte CHIP_ID on Milan/Genoa, its first
/// 8 bytes on Turin. Only constructed from a non-masked chip ID.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HwId {
    product: Product,
    bytes: Vec<u8>,
}

impl HwId {
    /// Derive the hwID from a report's CHIP_ID. Refuses a masked (all-zero) chip ID and a
    /// "Turin" chip ID with anything after its first 8 bytes.
    pub fn from_chip_id(
        product: Product,
        chip_id: &[u8; CHIP_ID_LEN],
    ) -> Result<HwId, KdsUrlError> {
        let n = product.hwid_len().min(CHIP_ID_LEN);
        let (head, tail) = chip_id.split_at(n);
        if head.iter().all(|&b| b == 0) {
            return Err(KdsUrlError::ChipIdMasked { product });
        }
        if tail.iter().any(|&b| b != 0) {
            return Err(KdsUrlError::TurinChipIdTail);
        }
        Ok(HwId {
            product,
            bytes: head.to_vec(),
        })
    }

    /// A hwID as a VCEK's hwID extension carries it (64 bytes; 8 on Turin).
    pub fn from_bytes(product: Product, bytes: &[u8]) -> Result<HwId, KdsUrlError> {
        if bytes.len() != product.hwid_len() {
            return Err(KdsUrlError::HwIdLength {
                product,
                expected: product.hwid_len(),
                got: bytes.len(),
            });
        }
        if bytes.iter().all(|&b| b == 0) {
            return Err(KdsUrlError::ChipIdMasked { product });
        }
        Ok(HwId {
            product,
            bytes: bytes.to_vec(),
        })
    }

    /// The product this hwID was derived for.
    pub fn product(&self) -> Product {
        self.product
    }

    /// The raw bytes (64, or 8 on Turin).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Lower-case hex, as in the URL.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(self.bytes.len() * 2);
        for b in &self.bytes {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xF)]));
        }
        s
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for HwId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for HwId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HwId({}, {})", self.product, self.to_hex())
    }
}

/// The path and query of a VCEK (no base URL).
pub fn vcek_path(hwid: &HwId, tcb: &Tcb) -> Result<String, KdsUrlError> {
    let product = hwid.product();
    if tcb.fmc.is_some() != product.has_fmc() {
        return Err(KdsUrlError::FmcMismatch {
            product,
            has_fmc: tcb.fmc.is_some(),
        });
    }
    let mut s = format!(
        "/vcek/v1/{}/{}?blSPL={}&teeSPL={}&snpSPL={}&ucodeSPL={}",
        product.kds_name(),
        hwid.to_hex(),
        tcb.bl,
        tcb.tee,
        tcb.snp,
        tcb.microcode
    );
    if let Some(fmc) = tcb.fmc {
        s.push_str(&format!("&fmcSPL={fmc}"));
    }
    Ok(s)
}

/// The path of the CA chain (PEM: ASK then ARK for VCEK, ASVK then ARK for VLEK).
pub fn cert_chain_path(product: Product, endorser: Endorser) -> String {
    format!(
        "/{}/v1/{}/cert_chain",
        endorser.path_segment(),
        product.kds_name()
    )
}

/// The path of the CRL (DER, signed by the ARK).
pub fn crl_path(product: Product, endorser: Endorser) -> String {
    format!("/{}/v1/{}/crl", endorser.path_segment(), product.kds_name())
}

/// Full KDS URLs under a configurable base (AMD's KDS, a mirror, a caching proxy, a test
/// server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdsUrls {
    base: String,
}

impl Default for KdsUrls {
    fn default() -> Self {
        KdsUrls::amd()
    }
}

impl KdsUrls {
    /// AMD's production KDS.
    pub fn amd() -> KdsUrls {
        KdsUrls {
            base: AMD_KDS_URL.to_owned(),
        }
    }

    /// URLs under `base` (`http://` or `https://`, optionally with a path prefix such as
    /// `https://mirror.example/kds`; trailing slashes are dropped; no query or fragment).
    pub fn new(base: &str) -> Result<KdsUrls, KdsUrlError> {
        let bad = |reason| KdsUrlError::BadBaseUrl {
            url: base.chars().take(200).collect(),
            reason,
        };
        let trimmed = base.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .ok_or_else(|| bad("it must start with http:// or https://"))?;
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        if trimmed.contains(['?', '#']) {
            return Err(bad("it must not contain a query or fragment"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains whitespace or control characters"));
        }
        Ok(KdsUrls {
            base: trimmed.to_owned(),
        })
    }

    /// The base URL without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether this is AMD's own KDS (its rate limits apply).
    pub fn is_amd(&self) -> bool {
        self.base == AMD_KDS_URL
    }

    /// The VCEK for a hwID at a TCB.
    pub fn vcek(&self, hwid: &HwId, tcb: &Tcb) -> Result<String, KdsUrlError> {
        Ok(format!("{}{}", self.base, vcek_path(hwid, tcb)?))
    }

    /// The VCEK for a report's CHIP_ID and REPORTED_TCB: refuses a masked chip ID first.
    pub fn vcek_for_chip(
        &self,
        product: Product,
        chip_id: &[u8; CHIP_ID_LEN],
        tcb: &Tcb,
    ) -> Result<String, KdsUrlError> {
        let hwid = HwId::from_chip_id(product, chip_id)?;
        self.vcek(&hwid, tcb)
    }

    /// The CA chain.
    pub fn cert_chain(&self, product: Product, endorser: Endorser) -> String {
        format!("{}{}", self.base, cert_chain_path(product, endorser))
    }

    /// The CRL.
    pub fn crl(&self, product: Product, endorser: Endorser) -> String {
        format!("{}{}", self.base, crl_path(product, endorser))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chip(prefix: &[u8]) -> [u8; 64] {
        let mut c = [0u8; 64];
        c[..prefix.len()].copy_from_slice(prefix);
        c
    }

    #[test]
    fn milan_vcek_url_from_real_report() {
        // virtee-sev/report_milan.bin: CHIP_ID at 0x1A0, REPORTED_TCB 0300000000000873.
        let report = include_bytes!("../../tests/data/real/virtee-sev/report_milan.bin");
        let chip_id: [u8; 64] = report[0x1A0..0x1E0].try_into().unwrap();
        let tcb_bytes: [u8; 8] = report[0x180..0x188].try_into().unwrap();
        let tcb = Tcb::decode(tcb_bytes, Product::Milan).unwrap();
        assert_eq!(tcb, Tcb::new(3, 0, 8, 115));
        let url = KdsUrls::amd()
            .vcek_for_chip(Product::Milan, &chip_id, &tcb)
            .unwrap();
        let hex: String = chip_id.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex.len(), 128);
        assert_eq!(
            url,
            format!(
                "https://kdsintf.amd.com/vcek/v1/Milan/{hex}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115"
            )
        );
    }

    #[test]
    fn exact_strings() {
        let urls = KdsUrls::amd();
        let h = HwId::from_chip_id(Product::Genoa, &chip(&[0xAB; 64])).unwrap();
        assert_eq!(
            urls.vcek(&h, &Tcb::new(10, 0, 25, 84)).unwrap(),
            format!(
                "https://kdsintf.amd.com/vcek/v1/Genoa/{}?blSPL=10&teeSPL=0&snpSPL=25&ucodeSPL=84",
                "ab".repeat(64)
            )
        );
        // Single-digit SPLs stay unpadded.
        let h = HwId::from_chip_id(Product::Milan, &chip(&[1; 64])).unwrap();
        assert!(urls
            .vcek(&h, &Tcb::new(3, 0, 8, 9))
            .unwrap()
            .ends_with("?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=9"));
        assert_eq!(
            urls.cert_chain(Product::Milan, Endorser::Vcek),
            "https://kdsintf.amd.com/vcek/v1/Milan/cert_chain"
        );
        assert_eq!(
            urls.cert_chain(Product::Turin, Endorser::Vlek),
            "https://kdsintf.amd.com/vlek/v1/Turin/cert_chain"
        );
        assert_eq!(
            urls.crl(Product::Genoa, Endorser::Vcek),
            "https://kdsintf.amd.com/vcek/v1/Genoa/crl"
        );
        assert_eq!(
            urls.crl(Product::Milan, Endorser::Vlek),
            "https://kdsintf.amd.com/vlek/v1/Milan/crl"
        );
    }

    #[test]
    fn turin_vcek_url_from_real_report() {
        // oak/turin_oc_evidence_report: REPORTED_TCB 0001000200000047 = fmc 0, bl 1, tee 0,
        // snp 2, ucode 71; CHIP_ID is 8 bytes followed by zeros.
        let report =
            include_bytes!("../../tests/data/real/oak/turin_oc_evidence_report_3f44a09b.bin");
        let chip_id: [u8; 64] = report[0x1A0..0x1E0].try_into().unwrap();
        let tcb = Tcb::decode(report[0x180..0x188].try_into().unwrap(), Product::Turin).unwrap();
        assert_eq!(tcb, Tcb::with_fmc(0, 1, 0, 2, 71));
        let hwid = HwId::from_chip_id(Product::Turin, &chip_id).unwrap();
        assert_eq!(hwid.as_bytes(), &chip_id[..8]);
        let hex: String = chip_id[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            KdsUrls::amd().vcek(&hwid, &tcb).unwrap(),
            format!("https://kdsintf.amd.com/vcek/v1/Turin/{hex}?blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=71&fmcSPL=0")
        );
    }

    #[test]
    fn turin_matches_go_sev_guest_form() {
        // go-sev-guest's own expectation for a Turin URL (kds_test.go).
        let mut c = [0u8; 64];
        c[..8].copy_from_slice(&[0x6b, 0xb1, 0x22, 0x9b, 0x76, 0x92, 0xb7, 0x10]);
        let hwid = HwId::from_chip_id(Product::Turin, &c).unwrap();
        assert_eq!(
            KdsUrls::amd().vcek(&hwid, &Tcb::with_fmc(1, 1, 1, 4, 82)).unwrap(),
            "https://kdsintf.amd.com/vcek/v1/Turin/6bb1229b7692b710?blSPL=1&teeSPL=1&snpSPL=4&ucodeSPL=82&fmcSPL=1"
        );
    }

    #[test]
    fn masked_and_malformed_chip_ids_refused() {
        for p in Product::ALL {
            assert_eq!(
                HwId::from_chip_id(p, &[0; 64]),
                Err(KdsUrlError::ChipIdMasked { product: p })
            );
            assert!(KdsUrls::amd()
                .vcek_for_chip(p, &[0; 64], &Tcb::default())
                .is_err());
        }
        // Turin: only the first 8 bytes count, so zeros there are masked too…
        let mut c = [0u8; 64];
        c[20] = 1;
        assert_eq!(
            HwId::from_chip_id(Product::Turin, &c),
            Err(KdsUrlError::ChipIdMasked {
                product: Product::Turin
            })
        );
        // …and a non-zero tail is not a Turin chip ID.
        let mut c = [1u8; 64];
        c[63] = 2;
        assert_eq!(
            HwId::from_chip_id(Product::Turin, &c),
            Err(KdsUrlError::TurinChipIdTail)
        );
        // A Milan chip ID with zeros in its second half is fine.
        assert!(HwId::from_chip_id(Product::Milan, &chip(&[7; 8])).is_ok());
    }

    #[test]
    fn fmc_must_fit_product() {
        let m = HwId::from_chip_id(Product::Milan, &chip(&[1; 64])).unwrap();
        assert!(matches!(
            vcek_path(&m, &Tcb::with_fmc(0, 1, 0, 2, 71)),
            Err(KdsUrlError::FmcMismatch { has_fmc: true, .. })
        ));
        let t = HwId::from_chip_id(Product::Turin, &chip(&[1; 8])).unwrap();
        assert!(matches!(
            vcek_path(&t, &Tcb::new(1, 0, 2, 71)),
            Err(KdsUrlError::FmcMismatch { has_fmc: false, .. })
        ));
    }

    #[test]
    fn hwid_from_extension_bytes() {
        assert!(HwId::from_bytes(Product::Turin, &[1; 8]).is_ok());
        assert!(matches!(
            HwId::from_bytes(Product::Turin, &[1; 64]),
            Err(KdsUrlError::HwIdLength { .. })
        ));
        assert!(HwId::from_bytes(Product::Milan, &[0; 64]).is_err());
        let a = HwId::from_bytes(Product::Milan, &[5; 64]).unwrap();
        let b = HwId::from_chip_id(Product::Milan, &[5; 64]).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn base_urls() {
        let u = KdsUrls::new("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            u.cert_chain(Product::Milan, Endorser::Vcek),
            "http://127.0.0.1:8080/vcek/v1/Milan/cert_chain"
        );
        let u = KdsUrls::new("https://mirror.example/kds//").unwrap();
        assert_eq!(u.base(), "https://mirror.example/kds");
        assert!(!u.is_amd());
        assert!(KdsUrls::new(AMD_KDS_URL).unwrap().is_amd());
        for bad in [
            "",
            "kdsintf.amd.com",
            "ftp://x",
            "http://",
            "http:///path",
            "http://x/?a=b",
            "http://x/#f",
            "http://x y",
        ] {
            assert!(
                matches!(KdsUrls::new(bad), Err(KdsUrlError::BadBaseUrl { .. })),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn endorser_from_signer() {
        assert_eq!(Endorser::try_from(SigningKey::Vcek), Ok(Endorser::Vcek));
        assert_eq!(Endorser::try_from(SigningKey::Vlek), Ok(Endorser::Vlek));
        assert!(Endorser::try_from(SigningKey::None).is_err());
        assert!(Endorser::try_from(SigningKey::Reserved(3)).is_err());
    }

    proptest! {
        #[test]
        fn url_shape(chip in proptest::array::uniform32(any::<u8>()), bl: u8, tee: u8, snp: u8, uc: u8, fmc: u8, base in "[a-z]{1,10}") {
            let mut c = [0u8; 64];
            c[..32].copy_from_slice(&chip);
            let urls = KdsUrls::new(&format!("https://{base}")).unwrap();
            for p in Product::ALL {
                let tcb = if p.has_fmc() { Tcb::with_fmc(fmc, bl, tee, snp, uc) } else { Tcb::new(bl, tee, snp, uc) };
                match HwId::from_chip_id(p, &c) {
                    Ok(h) => {
                        let u = urls.vcek(&h, &tcb).unwrap();
                        let hex_len = p.hwid_len() * 2;
                        let expected_prefix = format!("https://{base}/vcek/v1/{p}/");
                        prop_assert!(u.starts_with(&expected_prefix));
                        let rest = &u[expected_prefix.len()..];
                        let (hex, query) = rest.split_once('?').unwrap();
                        prop_assert_eq!(hex.len(), hex_len);
                        prop_assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
                        let expected_query = format!("blSPL={bl}&teeSPL={tee}&snpSPL={snp}&ucodeSPL={uc}");
                        prop_assert!(query.starts_with(&expected_query));
                        prop_assert_eq!(query.contains("fmcSPL="), p.has_fmc());
                    }
                    Err(KdsUrlError::ChipIdMasked { .. }) => {
                        prop_assert!(c[..p.hwid_len()].iter().all(|&b| b == 0));
                    }
                    Err(KdsUrlError::TurinChipIdTail) => prop_assert_eq!(p, Product::Turin),
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
            }
        }
    }
}
