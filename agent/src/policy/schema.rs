//! The TOML shape of a policy file and its validation into a [`Policy`].
//!
//! Everything that can be wrong with a policy is found here, at load time, with the key named —
//! never at evaluation time, where a malformed entry would look like a failing (or passing) check.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use snp_certs::product::Product;
use snp_certs::report::FirmwareVersion;
use snp_certs::tcb::Tcb;

use super::bits;
use super::{BitRule, Policy, Signer};

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("policy {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Over the size cap.
    #[error("policy {} is larger than 1 MiB", path.display())]
    TooLarge {
        /// The path.
        path: PathBuf,
    },
    /// TOML syntax, an unknown key, or a value of the wrong type.
    #[error("policy: {0}")]
    Toml(String),
    /// A value that has the right type but not a valid meaning.
    #[error("policy key {key}: {reason}")]
    Invalid {
        /// The key, dotted.
        key: String,
        /// What is wrong with its value.
        reason: String,
    },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    products: Option<Vec<String>>,
    signers: Option<Vec<Signer>>,
    measurements: Option<Vec<String>>,
    host_data: Option<Vec<String>>,
    report_data: Option<String>,
    family_ids: Option<Vec<String>>,
    image_ids: Option<Vec<String>>,
    id_key_digests: Option<Vec<String>>,
    author_key_digests: Option<Vec<String>>,
    vmpls: Option<Vec<u32>>,
    min_guest_svn: Option<u32>,
    min_firmware: Option<String>,
    min_tcb: Option<BTreeMap<String, TcbFile>>,
    min_launch_tcb: Option<BTreeMap<String, TcbFile>>,
    #[serde(default)]
    guest_policy: GuestPolicyFile,
    #[serde(default)]
    platform_info: PlatformInfoFile,
    #[serde(default)]
    mitigation: MitigationFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TcbFile {
    fmc: Option<u8>,
    bl: u8,
    tee: u8,
    snp: u8,
    microcode: u8,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GuestPolicyFile {
    debug: Option<BitRule>,
    migrate_ma: Option<BitRule>,
    smt: Option<BitRule>,
    single_socket: Option<BitRule>,
    cxl: Option<BitRule>,
    mem_aes_256_xts: Option<BitRule>,
    rapl_dis: Option<BitRule>,
    ciphertext_hiding: Option<BitRule>,
    page_swap_disable: Option<BitRule>,
    min_abi: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PlatformInfoFile {
    smt_enabled: Option<BitRule>,
    tsme_enabled: Option<BitRule>,
    ecc_enabled: Option<BitRule>,
    rapl_disabled: Option<BitRule>,
    ciphertext_hiding_enabled: Option<BitRule>,
    alias_check_complete: Option<BitRule>,
    sev_tio_enabled: Option<BitRule>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MitigationFile {
    launch_required: Option<u64>,
    current_required: Option<u64>,
}

/// Decode `0x`-optional hex of exactly `N` bytes.
pub(crate) fn hex_exact<const N: usize>(key: &str, s: &str) -> Result<[u8; N], PolicyError> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let bytes = hex::decode(t).map_err(|e| invalid(key, format!("{s:?} is not hex: {e}")))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        invalid(
            key,
            format!(
                "expected {N} bytes ({} hex digits), got {}",
                N * 2,
                bytes.len()
            ),
        )
    })
}

fn hex_list<const N: usize>(
    key: &str,
    list: Option<Vec<String>>,
) -> Result<Option<Vec<[u8; N]>>, PolicyError> {
    let Some(list) = list else { return Ok(None) };
    if list.is_empty() {
        return Err(invalid(
            key,
            "an empty list would reject everything; remove the key to not check it",
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, s)| hex_exact::<N>(&format!("{key}[{i}]"), s))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn tcb_table(
    key: &str,
    table: Option<BTreeMap<String, TcbFile>>,
) -> Result<Option<BTreeMap<Product, Tcb>>, PolicyError> {
    let Some(table) = table else { return Ok(None) };
    let mut out = BTreeMap::new();
    for (name, t) in table {
        let k = format!("{key}.{name}");
        let product: Product = name
            .parse()
            .map_err(|e: snp_certs::error::ProductError| invalid(&k, e.to_string()))?;
        if name != product.kds_name().to_lowercase() {
            return Err(invalid(
                &k,
                format!(
                    "write the product as {:?}",
                    product.kds_name().to_lowercase()
                ),
            ));
        }
        match (product.has_fmc(), t.fmc) {
            (true, None) => {
                return Err(invalid(
                    &k,
                    format!("{product} TCBs have an FMC level: add fmc = N"),
                ))
            }
            (false, Some(_)) => {
                return Err(invalid(
                    &k,
                    format!("{product} TCBs have no FMC level: remove fmc"),
                ))
            }
            _ => {}
        }
        out.insert(
            product,
            Tcb {
                fmc: t.fmc,
                bl: t.bl,
                tee: t.tee,
                snp: t.snp,
                microcode: t.microcode,
            },
        );
    }
    if out.is_empty() {
        return Err(invalid(key, "no product tables: add [min_tcb.<product>]"));
    }
    Ok(Some(out))
}

fn parse_version(key: &str, s: &str) -> Result<Vec<u8>, PolicyError> {
    s.split('.')
        .map(|p| {
            p.trim()
                .parse::<u8>()
                .map_err(|_| invalid(key, format!("{s:?}: each part must be 0..=255")))
        })
        .collect()
}

/// Parse and validate.
pub(crate) fn compile(text: &str) -> Result<Policy, PolicyError> {
    let f: File = toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;

    let products = match f.products {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(invalid(
                "products",
                "an empty list would reject everything; remove the key to not check it",
            ))
        }
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    s.parse::<Product>()
                        .map_err(|e| invalid(format!("products[{i}]"), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    if f.signers.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid(
            "signers",
            "an empty list would reject everything; remove the key to not check it",
        ));
    }
    if let Some(v) = &f.vmpls {
        if v.is_empty() {
            return Err(invalid(
                "vmpls",
                "an empty list would reject everything; remove the key to not check it",
            ));
        }
        if let Some(bad) = v.iter().find(|&&x| x > 3) {
            return Err(invalid(
                "vmpls",
                format!("VMPL {bad} does not exist (0..=3)"),
            ));
        }
    }
    let min_firmware = match &f.min_firmware {
        None => None,
        Some(s) => match parse_version("min_firmware", s)?.as_slice() {
            [major, minor, build] => Some(FirmwareVersion {
                major: *major,
                minor: *minor,
                build: *build,
            }),
            _ => {
                return Err(invalid(
                    "min_firmware",
                    format!("{s:?}: expected major.minor.build, e.g. \"1.55.21\""),
                ))
            }
        },
    };
    let min_abi = match &f.guest_policy.min_abi {
        None => None,
        Some(s) => match parse_version("guest_policy.min_abi", s)?.as_slice() {
            [major, minor] => Some((*major, *minor)),
            _ => {
                return Err(invalid(
                    "guest_policy.min_abi",
                    format!("{s:?}: expected major.minor, e.g. \"1.51\""),
                ))
            }
        },
    };

    let gp = &f.guest_policy;
    let guest_policy_rules = [
        ("smt", gp.smt),
        ("migrate_ma", gp.migrate_ma),
        // A debuggable guest is open to the host: forbidden unless the policy allows it.
        ("debug", Some(gp.debug.unwrap_or(BitRule::Forbidden))),
        ("single_socket", gp.single_socket),
        ("cxl", gp.cxl),
        ("mem_aes_256_xts", gp.mem_aes_256_xts),
        ("rapl_dis", gp.rapl_dis),
        ("ciphertext_hiding", gp.ciphertext_hiding),
        ("page_swap_disable", gp.page_swap_disable),
    ];
    let pi = &f.platform_info;
    let platform_rules = [
        ("smt_enabled", pi.smt_enabled),
        ("tsme_enabled", pi.tsme_enabled),
        ("ecc_enabled", pi.ecc_enabled),
        ("rapl_disabled", pi.rapl_disabled),
        ("ciphertext_hiding_enabled", pi.ciphertext_hiding_enabled),
        ("alias_check_complete", pi.alias_check_complete),
        ("sev_tio_enabled", pi.sev_tio_enabled),
    ];
    // Every key above must name a bit of the shared tables (a mismatch is a bug here).
    debug_assert!(guest_policy_rules
        .iter()
        .all(|(n, _)| bits::GUEST_POLICY.iter().any(|b| b.name == *n)));
    debug_assert!(platform_rules
        .iter()
        .all(|(n, _)| bits::PLATFORM_INFO.iter().any(|b| b.name == *n)));

    Ok(Policy {
        products,
        signers: f.signers,
        measurements: hex_list::<48>("measurements", f.measurements)?,
        host_data: hex_list::<32>("host_data", f.host_data)?,
        report_data: f
            .report_data
            .as_deref()
            .map(|s| hex_exact::<64>("report_data", s))
            .transpose()?,
        family_ids: hex_list::<16>("family_ids", f.family_ids)?,
        image_ids: hex_list::<16>("image_ids", f.image_ids)?,
        id_key_digests: hex_list::<48>("id_key_digests", f.id_key_digests)?,
        author_key_digests: hex_list::<48>("author_key_digests", f.author_key_digests)?,
        vmpls: f.vmpls,
        min_guest_svn: f.min_guest_svn,
        min_firmware,
        min_tcb: tcb_table("min_tcb", f.min_tcb)?,
        min_launch_tcb: tcb_table("min_launch_tcb", f.min_launch_tcb)?,
        guest_policy: guest_policy_rules
            .into_iter()
            .filter_map(|(n, r)| r.map(|r| (n, r)))
            .collect(),
        min_abi,
        platform_info: platform_rules
            .into_iter()
            .filter_map(|(n, r)| r.map(|r| (n, r)))
            .collect(),
        launch_mit_required: f.mitigation.launch_required,
        current_mit_required: f.mitigation.current_required,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        compile(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_are_rejected_everywhere() {
        assert!(err("measurement = []").contains("unknown field"));
        assert!(err("[guest_policy]\ndebugg = \"allowed\"").contains("unknown field"));
        assert!(err("[platform_info]\nsmt = \"allowed\"").contains("unknown field"));
        assert!(
            err("[min_tcb.milan]\nbl=1\ntee=0\nsnp=0\nmicrocode=0\nspl4=0")
                .contains("unknown field")
        );
        assert!(err("[mitigation]\nlaunch = 1").contains("unknown field"));
    }

    #[test]
    fn values_are_validated_with_the_key_named() {
        assert!(err("measurements = [\"abcd\"]").contains("measurements[0]"));
        assert!(err("measurements = []").contains("empty list"));
        assert!(err("products = [\"rome\"]").contains("products[0]"));
        assert!(err("vmpls = [4]").contains("vmpls"));
        assert!(err("min_firmware = \"1.55\"").contains("major.minor.build"));
        assert!(err("min_firmware = \"1.555.2\"").contains("0..=255"));
        assert!(err("[guest_policy]\ndebug = \"maybe\"").contains("unknown variant"));
        assert!(err("[min_tcb.turin]\nbl=1\ntee=0\nsnp=0\nmicrocode=0").contains("add fmc"));
        assert!(
            err("[min_tcb.genoa]\nfmc=0\nbl=1\ntee=0\nsnp=0\nmicrocode=0").contains("remove fmc")
        );
        assert!(err("[min_tcb.Milan]\nbl=1\ntee=0\nsnp=0\nmicrocode=0").contains("\"milan\""));
        assert!(err("[min_tcb]").contains("no product tables"));
        assert!(err("signers = [\"vcek\", \"ark\"]").contains("unknown variant"));
        assert!(err("report_data = \"00\"").contains("64 bytes"));
    }

    #[test]
    fn full_example_parses() {
        let p = compile(
            r#"
products = ["milan", "genoa", "turin"]
signers = ["vcek", "vlek"]
measurements = ["0x00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000A"]
min_firmware = "1.55.21"
[min_tcb.milan]
bl = 3
tee = 0
snp = 20
microcode = 209
[guest_policy]
debug = "allowed"
min_abi = "1.51"
[platform_info]
smt_enabled = "forbidden"
[mitigation]
launch_required = 0x1
"#,
        )
        .unwrap();
        assert_eq!(p.products.as_ref().unwrap().len(), 3);
        assert_eq!(p.measurements.as_ref().unwrap()[0][47], 0x0a);
        assert_eq!(p.min_abi, Some((1, 51)));
        assert_eq!(
            p.min_tcb.as_ref().unwrap()[&Product::Milan],
            Tcb::new(3, 0, 20, 209)
        );
        assert!(p.guest_policy.contains(&("debug", BitRule::Allowed)));
        assert_eq!(p.platform_info, vec![("smt_enabled", BitRule::Forbidden)]);
        assert_eq!(p.launch_mit_required, Some(1));
    }
}
