//! A serialisable, human-oriented rendering of a report: the "parsed view" in evidence JSON,
//! `show --format json`, and the claims of a verified result.
//!
//! It is derived from the raw bytes every time and never read back: a reader of evidence JSON
//! takes only the base64 report, so an edited parsed view cannot change what is verified.

use serde::Serialize;
use snp_certs::product::Product;
use snp_certs::report::ReportView;
use snp_certs::tcb::Tcb;

use crate::policy::bits;

/// A TCB_VERSION as raw bytes plus its meaning in the product's layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcbSummary {
    /// The eight bytes as lower-case hex, in report order.
    pub raw: String,
    /// Decoded in the product's layout; absent when the product is unknown (v2 report without
    /// a certificate to name it), so a reader sees the raw bytes rather than a guess.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded: Option<TcbFields>,
    /// Set when the reserved bytes of the product's layout are not zero.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reserved_nonzero: bool,
}

/// Decoded security patch levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TcbFields {
    /// FMC SPL (Turin only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
    /// Boot loader SPL.
    pub bl: u8,
    /// PSP OS SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
}

impl From<Tcb> for TcbFields {
    fn from(t: Tcb) -> Self {
        TcbFields {
            fmc: t.fmc,
            bl: t.bl,
            tee: t.tee,
            snp: t.snp,
            microcode: t.microcode,
        }
    }
}

impl TcbSummary {
    /// Summarise `raw` for `product` (if known).
    pub fn new(raw: [u8; 8], product: Option<Product>) -> TcbSummary {
        let decoded = product.map(|p| TcbFields::from(Tcb::decode_lenient(raw, p)));
        let reserved_nonzero = product.is_some_and(|p| Tcb::decode(raw, p).is_err());
        TcbSummary {
            raw: hex::encode(raw),
            decoded,
            reserved_nonzero,
        }
    }
}

/// A flag word with the names of its set bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagsSummary {
    /// The word as `0x…` hex.
    pub raw: String,
    /// Names of the set bits that have a name.
    pub set: Vec<&'static str>,
}

/// Guest policy: flags plus the minimum ABI version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    /// Raw word and named bits.
    #[serde(flatten)]
    pub flags: FlagsSummary,
    /// Minimum ABI version `major.minor`.
    pub abi_min: String,
}

/// Signer info decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerSummary {
    /// `VCEK`, `VLEK`, `none` or `reserved(n)`.
    pub signing_key: String,
    /// AUTHOR_KEY_EN.
    pub author_key_en: bool,
    /// MASK_CHIP_KEY.
    pub mask_chip_key: bool,
}

/// Every report field, rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportSummary {
    /// Report format version.
    pub version: u32,
    /// Product line if known (from the signed CPUID fields, or the caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// CPUID family/model/stepping as `fam/mod/step` hex (v3+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuid: Option<String>,
    /// Guest SVN.
    pub guest_svn: u32,
    /// Guest policy.
    pub policy: PolicySummary,
    /// Family ID hex.
    pub family_id: String,
    /// Image ID hex.
    pub image_id: String,
    /// VMPL.
    pub vmpl: u32,
    /// Signature algorithm (1 = ECDSA P-384 SHA-384).
    pub signature_algo: u32,
    /// CURRENT_TCB.
    pub current_tcb: TcbSummary,
    /// PLATFORM_INFO.
    pub platform_info: FlagsSummary,
    /// Signer info.
    pub signer: SignerSummary,
    /// REPORT_DATA hex.
    pub report_data: String,
    /// MEASUREMENT hex.
    pub measurement: String,
    /// HOST_DATA hex.
    pub host_data: String,
    /// ID_KEY_DIGEST hex.
    pub id_key_digest: String,
    /// AUTHOR_KEY_DIGEST hex.
    pub author_key_digest: String,
    /// REPORT_ID hex.
    pub report_id: String,
    /// REPORT_ID_MA hex.
    pub report_id_ma: String,
    /// REPORTED_TCB.
    pub reported_tcb: TcbSummary,
    /// CHIP_ID hex (all zero when masked).
    pub chip_id: String,
    /// Whether CHIP_ID is all zero.
    pub chip_id_masked: bool,
    /// COMMITTED_TCB.
    pub committed_tcb: TcbSummary,
    /// Current firmware `major.minor.build`.
    pub current_version: String,
    /// Committed firmware `major.minor.build`.
    pub committed_version: String,
    /// LAUNCH_TCB.
    pub launch_tcb: TcbSummary,
    /// Launch mitigation vector (v5+), `0x…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_mit_vector: Option<String>,
    /// Current mitigation vector (v5+), `0x…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_mit_vector: Option<String>,
}

/// The product named by the report's signed CPUID fields, if any. Unknown parts give `None`
/// (displayed as unknown), never a guess.
pub fn product_hint(view: &ReportView<'_>) -> Option<Product> {
    view.product_from_cpuid().and_then(Result::ok)
}

impl ReportSummary {
    /// Render `view`; `product` overrides the CPUID-derived product (e.g. the verified one).
    pub fn new(view: &ReportView<'_>, product: Option<Product>) -> ReportSummary {
        let product = product.or_else(|| product_hint(view));
        let policy = view.policy();
        let mit = |v: Option<u64>| v.map(|v| format!("{v:#x}"));
        ReportSummary {
            version: view.version(),
            product: product.map(|p| p.to_string()),
            cpuid: view
                .cpuid()
                .map(|c| format!("{:02x}/{:02x}/{:02x}", c.family, c.model, c.stepping)),
            guest_svn: view.guest_svn(),
            policy: PolicySummary {
                flags: FlagsSummary {
                    raw: format!("{policy:#x}"),
                    set: bits::set_names(&bits::GUEST_POLICY, policy),
                },
                abi_min: format!(
                    "{}.{}",
                    bits::policy_abi_major(policy),
                    bits::policy_abi_minor(policy)
                ),
            },
            family_id: hex::encode(view.family_id()),
            image_id: hex::encode(view.image_id()),
            vmpl: view.vmpl(),
            signature_algo: view.signature_algo(),
            current_tcb: TcbSummary::new(view.current_tcb_raw(), product),
            platform_info: FlagsSummary {
                raw: format!("{:#x}", view.platform_info()),
                set: bits::set_names(&bits::PLATFORM_INFO, view.platform_info()),
            },
            signer: SignerSummary {
                signing_key: view.signing_key().to_string(),
                author_key_en: view.author_key_en(),
                mask_chip_key: view.mask_chip_key(),
            },
            report_data: hex::encode(view.report_data()),
            measurement: hex::encode(view.measurement()),
            host_data: hex::encode(view.host_data()),
            id_key_digest: hex::encode(view.id_key_digest()),
            author_key_digest: hex::encode(view.author_key_digest()),
            report_id: hex::encode(view.report_id()),
            report_id_ma: hex::encode(view.report_id_ma()),
            reported_tcb: TcbSummary::new(view.reported_tcb_raw(), product),
            chip_id: hex::encode(view.chip_id()),
            chip_id_masked: view.chip_id_masked(),
            committed_tcb: TcbSummary::new(view.committed_tcb_raw(), product),
            current_version: view.current_version().to_string(),
            committed_version: view.committed_version().to_string(),
            launch_tcb: TcbSummary::new(view.launch_tcb_raw(), product),
            launch_mit_vector: mit(view.launch_mit_vector()),
            current_mit_vector: mit(view.current_mit_vector()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::report::{offset, REPORT_SIZE};

    #[test]
    fn turin_tcb_is_decoded_with_fmc() {
        let mut b = [0u8; REPORT_SIZE];
        b[offset::VERSION] = 3;
        b[offset::CPUID_FAM_ID] = 0x1a;
        b[offset::CPUID_MOD_ID] = 0x02;
        b[offset::REPORTED_TCB..offset::REPORTED_TCB + 8]
            .copy_from_slice(&[0, 1, 0, 2, 0, 0, 0, 0x47]);
        b[offset::POLICY..offset::POLICY + 8].copy_from_slice(&0x3_0000u64.to_le_bytes());
        let s = ReportSummary::new(&ReportView::from_array(&b), None);
        assert_eq!(s.product.as_deref(), Some("Turin"));
        assert_eq!(
            s.reported_tcb.decoded,
            Some(TcbFields {
                fmc: Some(0),
                bl: 1,
                tee: 0,
                snp: 2,
                microcode: 0x47
            })
        );
        assert!(!s.reported_tcb.reserved_nonzero);
        assert_eq!(s.policy.flags.set, vec!["smt"]);
        assert!(s.chip_id_masked);
    }

    #[test]
    fn v2_without_product_keeps_raw_only() {
        let mut b = [0u8; REPORT_SIZE];
        b[offset::VERSION] = 2;
        b[offset::REPORTED_TCB] = 3;
        let s = ReportSummary::new(&ReportView::from_array(&b), None);
        assert_eq!(s.product, None);
        assert_eq!(s.reported_tcb.decoded, None);
        assert_eq!(s.reported_tcb.raw, "0300000000000000");
        let json = serde_json::to_value(&s).unwrap();
        assert!(json.get("product").is_none());
        assert!(json["reported_tcb"].get("decoded").is_none());
    }
}
