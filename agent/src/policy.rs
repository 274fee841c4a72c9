//! Appraisal policy: what a relying party requires of *verified* evidence, written in TOML.
//!
//! A policy is evaluated only on [`snp_certs::verify::VerifiedEvidence`] — evidence whose
//! signature, chain and bindings already hold — so a policy can never be satisfied by bytes
//! nobody signed. Every configured check appears in the outcome by a stable name
//! (`policy.measurement`, `policy.min_tcb.reported`, `policy.guest_policy.debug`, …) so that a
//! failure can be acted on without reading code.
//!
//! Unknown keys are rejected (`deny_unknown_fields`): a misspelt key would otherwise silently
//! disable a check. Every key is optional; an absent key checks nothing, with one exception:
//! the guest policy's `debug` bit is **forbidden unless the policy says otherwise**, because a
//! debuggable guest's memory is open to the host and no other check means anything then.
//!
//! ```toml
//! products = ["milan", "genoa", "turin"]   # allowed product lines
//! signers = ["vcek"]                       # allowed endorsement keys: vcek, vlek
//! measurements = ["<96 hex>", …]           # allowed launch measurements
//! host_data = ["<64 hex>"]                 # allowed HOST_DATA values
//! report_data = "<128 hex>"                # exact REPORT_DATA (or use --nonce on the CLI)
//! family_ids = ["<32 hex>"]                # allowed ID-block family IDs
//! image_ids = ["<32 hex>"]                 # allowed ID-block image IDs
//! id_key_digests = ["<96 hex>"]            # allowed ID key digests
//! author_key_digests = ["<96 hex>"]        # allowed author key digests
//! vmpls = [0]                              # allowed VMPLs
//! min_guest_svn = 1
//! min_firmware = "1.55.21"                 # CURRENT major.minor.build, compared as a triple
//!
//! [min_tcb.milan]                          # REPORTED, CURRENT and COMMITTED TCB, component-wise
//! bl = 3
//! tee = 0
//! snp = 20
//! microcode = 209
//! [min_tcb.turin]                          # Turin tables must give fmc; others must not
//! fmc = 0
//! bl = 1
//! tee = 0
//! snp = 2
//! microcode = 71
//! [min_launch_tcb.milan]                   # LAUNCH_TCB, same shape
//! bl = 3
//! tee = 0
//! snp = 20
//! microcode = 209
//!
//! [guest_policy]                           # each: "allowed" | "required" | "forbidden"
//! debug = "forbidden"                      # the default for debug; other bits default to allowed
//! migrate_ma = "forbidden"
//! smt = "allowed"
//! single_socket = "allowed"
//! cxl = "allowed"
//! mem_aes_256_xts = "allowed"
//! rapl_dis = "allowed"
//! ciphertext_hiding = "allowed"
//! page_swap_disable = "allowed"
//! min_abi = "1.51"                         # the guest must have demanded at least this ABI
//!
//! [platform_info]                          # each: "allowed" | "required" | "forbidden"
//! smt_enabled = "allowed"
//! tsme_enabled = "allowed"
//! ecc_enabled = "allowed"
//! rapl_disabled = "allowed"
//! ciphertext_hiding_enabled = "allowed"
//! alias_check_complete = "allowed"
//! sev_tio_enabled = "allowed"
//!
//! [mitigation]                             # bits that must be set (v5+ reports only)
//! launch_required = 0x1
//! current_required = 0x1
//! ```
//!
//! When a product has no `[min_tcb.<product>]` table but others do, evidence from that product
//! fails `policy.min_tcb.*`: a policy that names minimum TCBs must name one for every product it
//! accepts.

pub mod binding;
pub mod bits;
pub mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;
use snp_certs::product::Product;
use snp_certs::report::{FirmwareVersion, ReportView, SigningKey};
use snp_certs::tcb::Tcb;

pub use schema::PolicyError;

/// Whether a flag must, may or must not be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BitRule {
    /// Either value.
    Allowed,
    /// Must be set.
    Required,
    /// Must be clear.
    Forbidden,
}

/// The endorsement key kinds a policy may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signer {
    /// Versioned Chip Endorsement Key.
    Vcek,
    /// Versioned Loaded Endorsement Key.
    Vlek,
}

/// A compiled, validated policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub(crate) products: Option<Vec<Product>>,
    pub(crate) signers: Option<Vec<Signer>>,
    pub(crate) measurements: Option<Vec<[u8; 48]>>,
    pub(crate) host_data: Option<Vec<[u8; 32]>>,
    pub(crate) report_data: Option<[u8; 64]>,
    pub(crate) family_ids: Option<Vec<[u8; 16]>>,
    pub(crate) image_ids: Option<Vec<[u8; 16]>>,
    pub(crate) id_key_digests: Option<Vec<[u8; 48]>>,
    pub(crate) author_key_digests: Option<Vec<[u8; 48]>>,
    pub(crate) vmpls: Option<Vec<u32>>,
    pub(crate) min_guest_svn: Option<u32>,
    pub(crate) min_firmware: Option<FirmwareVersion>,
    pub(crate) min_tcb: Option<BTreeMap<Product, Tcb>>,
    pub(crate) min_launch_tcb: Option<BTreeMap<Product, Tcb>>,
    /// Rules by guest-policy bit name (every bit of [`bits::GUEST_POLICY`] present).
    pub(crate) guest_policy: Vec<(&'static str, BitRule)>,
    pub(crate) min_abi: Option<(u8, u8)>,
    pub(crate) platform_info: Vec<(&'static str, BitRule)>,
    pub(crate) launch_mit_required: Option<u64>,
    pub(crate) current_mit_required: Option<u64>,
}

/// The outcome of one named check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyCheck {
    /// Stable name, e.g. `policy.measurement`.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was compared, for humans.
    pub detail: String,
}

/// All checks of one evaluation, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PolicyOutcome {
    /// Every check that ran.
    pub checks: Vec<PolicyCheck>,
}

impl PolicyOutcome {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &PolicyCheck> {
        self.checks.iter().filter(|c| !c.passed)
    }

    fn push(&mut self, name: impl Into<String>, passed: bool, detail: impl Into<String>) {
        self.checks.push(PolicyCheck {
            name: name.into(),
            passed,
            detail: detail.into(),
        });
    }
}

/// What the relying party expects beyond the policy file, from the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expectations {
    /// Expected REPORT_DATA and where it came from (`nonce` or `report_data`).
    pub report_data: Option<([u8; 64], &'static str)>,
}

impl Expectations {
    /// Expect REPORT_DATA bound to `nonce` by [`binding::report_data`] (no public key).
    pub fn nonce(nonce: &[u8]) -> Expectations {
        Expectations {
            report_data: Some((binding::report_data(nonce, None), "nonce")),
        }
    }

    /// Expect exactly these REPORT_DATA bytes.
    pub fn exact(report_data: [u8; 64]) -> Expectations {
        Expectations {
            report_data: Some((report_data, "report_data")),
        }
    }
}

/// The facts a policy is evaluated on. Built only from verified evidence (see [`Policy::evaluate`]).
struct Facts<'a> {
    view: ReportView<'a>,
    product: Product,
}

impl Policy {
    /// Parse and validate a TOML policy.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        schema::compile(text)
    }

    /// Read a policy file (capped at 1 MiB; policies are small).
    pub fn from_path(path: &Path) -> Result<Policy, PolicyError> {
        Ok(Policy::read(path)?.0)
    }

    /// Read a policy file (capped at 1 MiB) and return the policy with the text it was compiled
    /// from, so that whoever names the policy (an EAR's policy id is a digest of the file) names
    /// exactly what was enforced, not a second read of a file that may have changed.
    pub fn read(path: &Path) -> Result<(Policy, String), PolicyError> {
        use std::io::Read;
        const MAX: u64 = 1024 * 1024;
        let f = std::fs::File::open(path).map_err(|e| PolicyError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut text = String::new();
        f.take(MAX + 1)
            .read_to_string(&mut text)
            .map_err(|e| PolicyError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        if text.len() as u64 > MAX {
            return Err(PolicyError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let policy = Policy::from_toml(&text)?;
        Ok((policy, text))
    }

    /// The default policy used when none is given: only `debug` forbidden.
    pub fn default_policy() -> Policy {
        schema::compile("").unwrap_or_default()
    }

    /// Evaluate on verified evidence and the caller's expectations.
    pub fn evaluate(
        &self,
        evidence: &snp_certs::verify::VerifiedEvidence,
        expected: &Expectations,
    ) -> PolicyOutcome {
        let facts = Facts {
            view: evidence.report(),
            product: evidence.product(),
        };
        self.evaluate_facts(&facts, expected)
    }

    fn evaluate_facts(&self, f: &Facts<'_>, expected: &Expectations) -> PolicyOutcome {
        let mut out = PolicyOutcome::default();
        let v = &f.view;

        if let Some((want, source)) = &expected.report_data {
            let ok = v.report_data() == want;
            out.push(
                format!("report_data.{source}"),
                ok,
                if ok {
                    format!("REPORT_DATA matches the expected {source}")
                } else {
                    format!(
                        "REPORT_DATA {} does not match the expected {source} binding {}",
                        hex::encode(v.report_data()),
                        hex::encode(want)
                    )
                },
            );
        }
        if let Some(products) = &self.products {
            let ok = products.contains(&f.product);
            out.push(
                "policy.products",
                ok,
                format!(
                    "product {} {}allowed",
                    f.product,
                    if ok { "" } else { "not " }
                ),
            );
        }
        if let Some(signers) = &self.signers {
            let signer = match v.signing_key() {
                SigningKey::Vcek => Some(Signer::Vcek),
                SigningKey::Vlek => Some(Signer::Vlek),
                _ => None,
            };
            let ok = signer.is_some_and(|s| signers.contains(&s));
            out.push(
                "policy.signers",
                ok,
                format!(
                    "signed by {} ({}allowed: {:?})",
                    v.signing_key(),
                    if ok { "" } else { "not " },
                    signers
                ),
            );
        }
        allowlist(
            &mut out,
            "policy.measurement",
            v.measurement(),
            &self.measurements,
        );
        allowlist(&mut out, "policy.host_data", v.host_data(), &self.host_data);
        if let Some(want) = &self.report_data {
            let ok = v.report_data() == want;
            out.push(
                "policy.report_data",
                ok,
                format!(
                    "REPORT_DATA {} {} the policy's value",
                    hex::encode(v.report_data()),
                    if ok { "equals" } else { "differs from" }
                ),
            );
        }
        allowlist(
            &mut out,
            "policy.family_id",
            v.family_id(),
            &self.family_ids,
        );
        allowlist(&mut out, "policy.image_id", v.image_id(), &self.image_ids);
        allowlist(
            &mut out,
            "policy.id_key_digest",
            v.id_key_digest(),
            &self.id_key_digests,
        );
        allowlist(
            &mut out,
            "policy.author_key_digest",
            v.author_key_digest(),
            &self.author_key_digests,
        );
        if let Some(vmpls) = &self.vmpls {
            let ok = vmpls.contains(&v.vmpl());
            out.push(
                "policy.vmpl",
                ok,
                format!("VMPL {} (allowed: {vmpls:?})", v.vmpl()),
            );
        }
        if let Some(min) = self.min_guest_svn {
            let ok = v.guest_svn() >= min;
            out.push(
                "policy.guest_svn",
                ok,
                format!("guest SVN {} (minimum {min})", v.guest_svn()),
            );
        }
        if let Some(min) = self.min_firmware {
            let cur = v.current_version();
            let ok = cur >= min;
            out.push(
                "policy.firmware_version",
                ok,
                format!("current firmware {cur} (minimum {min})"),
            );
        }
        if let Some(table) = &self.min_tcb {
            for (which, raw) in [
                ("reported", v.reported_tcb_raw()),
                ("current", v.current_tcb_raw()),
                ("committed", v.committed_tcb_raw()),
            ] {
                tcb_check(
                    &mut out,
                    &format!("policy.min_tcb.{which}"),
                    raw,
                    f.product,
                    table,
                );
            }
        }
        if let Some(table) = &self.min_launch_tcb {
            tcb_check(
                &mut out,
                "policy.min_launch_tcb",
                v.launch_tcb_raw(),
                f.product,
                table,
            );
        }
        let policy = v.policy();
        for (name, rule) in &self.guest_policy {
            flag_check(
                &mut out,
                "policy.guest_policy",
                name,
                *rule,
                &bits::GUEST_POLICY,
                policy,
            );
        }
        if let Some((maj, min)) = self.min_abi {
            let got = (
                bits::policy_abi_major(policy),
                bits::policy_abi_minor(policy),
            );
            let ok = got >= (maj, min);
            out.push(
                "policy.guest_policy.min_abi",
                ok,
                format!(
                    "guest demands ABI {}.{} (minimum {maj}.{min})",
                    got.0, got.1
                ),
            );
        }
        for (name, rule) in &self.platform_info {
            flag_check(
                &mut out,
                "policy.platform_info",
                name,
                *rule,
                &bits::PLATFORM_INFO,
                v.platform_info(),
            );
        }
        for (name, required, vector) in [
            (
                "policy.mitigation.launch",
                self.launch_mit_required,
                v.launch_mit_vector(),
            ),
            (
                "policy.mitigation.current",
                self.current_mit_required,
                v.current_mit_vector(),
            ),
        ] {
            let Some(required) = required else { continue };
            match vector {
                None => out.push(
                    name,
                    false,
                    format!(
                        "report version {} carries no mitigation vector (needs v5+); required bits {required:#x}",
                        v.version()
                    ),
                ),
                Some(vec) => {
                    let missing = required & !vec;
                    out.push(
                        name,
                        missing == 0,
                        if missing == 0 {
                            format!("vector {vec:#x} has every required bit {required:#x}")
                        } else {
                            format!("vector {vec:#x} lacks required bits {missing:#x}")
                        },
                    );
                }
            }
        }
        out
    }
}

fn allowlist<const N: usize>(
    out: &mut PolicyOutcome,
    name: &str,
    value: &[u8; N],
    allowed: &Option<Vec<[u8; N]>>,
) {
    let Some(allowed) = allowed else { return };
    let ok = allowed.iter().any(|a| a == value);
    out.push(
        name,
        ok,
        format!(
            "{} {} ({} allowed value{})",
            hex::encode(value),
            if ok { "allowed" } else { "not allowed" },
            allowed.len(),
            if allowed.len() == 1 { "" } else { "s" }
        ),
    );
}

fn tcb_check(
    out: &mut PolicyOutcome,
    name: &str,
    raw: [u8; 8],
    product: Product,
    table: &BTreeMap<Product, Tcb>,
) {
    let Some(min) = table.get(&product) else {
        out.push(
            name,
            false,
            format!(
                "the policy has no minimum TCB for {product} ([min_tcb.{}] table missing)",
                product.kds_name().to_lowercase()
            ),
        );
        return;
    };
    let tcb = match Tcb::decode(raw, product) {
        Ok(t) => t,
        Err(e) => {
            out.push(name, false, e.to_string());
            return;
        }
    };
    let mut low = Vec::new();
    if let (Some(have), Some(want)) = (tcb.fmc, min.fmc) {
        if have < want {
            low.push(format!("fmc {have} < {want}"));
        }
    }
    for (comp, have, want) in [
        ("bl", tcb.bl, min.bl),
        ("tee", tcb.tee, min.tee),
        ("snp", tcb.snp, min.snp),
        ("microcode", tcb.microcode, min.microcode),
    ] {
        if have < want {
            low.push(format!("{comp} {have} < {want}"));
        }
    }
    let ok = low.is_empty();
    out.push(
        name,
        ok,
        if ok {
            format!("{tcb} meets minimum {min}")
        } else {
            format!("{tcb} below minimum {min}: {}", low.join(", "))
        },
    );
}

fn flag_check(
    out: &mut PolicyOutcome,
    prefix: &str,
    name: &str,
    rule: BitRule,
    table: &[bits::NamedBit],
    word: u64,
) {
    let Some(bit) = table.iter().find(|b| b.name == name) else {
        return;
    };
    let set = bit.is_set(word);
    let ok = match rule {
        BitRule::Allowed => true,
        BitRule::Required => set,
        BitRule::Forbidden => !set,
    };
    if rule == BitRule::Allowed {
        // Nothing to check; not listed so the outcome shows only constraints.
        return;
    }
    out.push(
        format!("{prefix}.{name}"),
        ok,
        format!(
            "{name} is {} ({rule}: {})",
            if set { "set" } else { "clear" },
            bit.meaning
        ),
    );
}

impl fmt::Display for BitRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BitRule::Allowed => "allowed",
            BitRule::Required => "required",
            BitRule::Forbidden => "forbidden",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::report::{offset, REPORT_SIZE};

    fn report() -> [u8; REPORT_SIZE] {
        let mut b = [0u8; REPORT_SIZE];
        b[offset::VERSION] = 5;
        b[offset::POLICY..offset::POLICY + 8].copy_from_slice(&0x3_1f05u64.to_le_bytes());
        b[offset::CPUID_FAM_ID] = 0x1a;
        b[offset::CPUID_MOD_ID] = 0x02;
        let tcb = [1, 2, 3, 4, 0, 0, 0, 100];
        for off in [
            offset::REPORTED_TCB,
            offset::CURRENT_TCB,
            offset::COMMITTED_TCB,
            offset::LAUNCH_TCB,
        ] {
            b[off..off + 8].copy_from_slice(&tcb);
        }
        b[offset::MEASUREMENT] = 0xaa;
        b[offset::CURRENT_MAJOR] = 1;
        b[offset::CURRENT_MINOR] = 55;
        b[offset::CURRENT_BUILD] = 20;
        b[offset::LAUNCH_MIT_VECTOR] = 0b101;
        b[offset::CURRENT_MIT_VECTOR] = 0b001;
        b[offset::PLATFORM_INFO] = 0b1; // SMT enabled
        b
    }

    fn eval(policy: &str, b: &[u8; REPORT_SIZE], exp: &Expectations) -> PolicyOutcome {
        let p = Policy::from_toml(policy).unwrap();
        let facts = Facts {
            view: ReportView::from_array(b),
            product: Product::Turin,
        };
        p.evaluate_facts(&facts, exp)
    }

    fn status(o: &PolicyOutcome, name: &str) -> Option<bool> {
        o.checks.iter().find(|c| c.name == name).map(|c| c.passed)
    }

    #[test]
    fn empty_policy_only_forbids_debug() {
        let mut b = report();
        let o = eval("", &b, &Expectations::default());
        assert_eq!(o.checks.len(), 1);
        assert_eq!(status(&o, "policy.guest_policy.debug"), Some(true));
        b[offset::POLICY + 2] |= 1 << 3; // bit 19
        let o = eval("", &b, &Expectations::default());
        assert_eq!(status(&o, "policy.guest_policy.debug"), Some(false));
        let o = eval(
            "[guest_policy]\ndebug = \"allowed\"",
            &b,
            &Expectations::default(),
        );
        assert!(o.passed());
    }

    #[test]
    fn every_kind_of_check() {
        let b = report();
        let m = format!("aa{}", "00".repeat(47));
        let policy = format!(
            r#"
products = ["turin"]
signers = ["vcek"]
measurements = ["{m}"]
host_data = ["{z32}"]
vmpls = [0, 1]
min_guest_svn = 0
min_firmware = "1.55.20"
[min_tcb.turin]
fmc = 1
bl = 2
tee = 3
snp = 4
microcode = 100
[min_launch_tcb.turin]
fmc = 1
bl = 2
tee = 3
snp = 5
microcode = 100
[guest_policy]
smt = "required"
migrate_ma = "forbidden"
min_abi = "31.5"
[platform_info]
smt_enabled = "required"
ecc_enabled = "forbidden"
[mitigation]
launch_required = 0x5
current_required = 0x3
"#,
            z32 = "00".repeat(32)
        );
        let o = eval(&policy, &b, &Expectations::default());
        let expect = [
            ("policy.products", true),
            ("policy.signers", true),
            ("policy.measurement", true),
            ("policy.host_data", true),
            ("policy.vmpl", true),
            ("policy.guest_svn", true),
            ("policy.firmware_version", true),
            ("policy.min_tcb.reported", true),
            ("policy.min_tcb.current", true),
            ("policy.min_tcb.committed", true),
            ("policy.min_launch_tcb", false), // snp 4 < 5
            ("policy.guest_policy.smt", true),
            ("policy.guest_policy.migrate_ma", true),
            ("policy.guest_policy.debug", true),
            ("policy.guest_policy.min_abi", true),
            ("policy.platform_info.smt_enabled", true),
            ("policy.platform_info.ecc_enabled", true),
            ("policy.mitigation.launch", true),
            ("policy.mitigation.current", false), // bit 1 missing
        ];
        for (name, want) in expect {
            assert_eq!(status(&o, name), Some(want), "{name}: {o:#?}");
        }
        assert_eq!(o.checks.len(), expect.len());
        assert!(!o.passed());
        let launch = o
            .checks
            .iter()
            .find(|c| c.name == "policy.min_launch_tcb")
            .unwrap();
        assert!(launch.detail.contains("snp 4 < 5"), "{}", launch.detail);
    }

    #[test]
    fn tcb_is_component_wise_and_product_aware() {
        let b = report();
        // Higher microcode does not make up for a lower FMC.
        let o = eval(
            "[min_tcb.turin]\nfmc = 2\nbl = 0\ntee = 0\nsnp = 0\nmicrocode = 0",
            &b,
            &Expectations::default(),
        );
        assert_eq!(status(&o, "policy.min_tcb.reported"), Some(false));
        // No table for this product: fail, saying so.
        let o = eval(
            "[min_tcb.milan]\nbl = 0\ntee = 0\nsnp = 0\nmicrocode = 0",
            &b,
            &Expectations::default(),
        );
        let c = o
            .checks
            .iter()
            .find(|c| c.name == "policy.min_tcb.reported")
            .unwrap();
        assert!(
            !c.passed && c.detail.contains("min_tcb.turin"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn allowlists_fail_on_other_values() {
        let b = report();
        let o = eval(
            &format!(
                "measurements = [\"{}\"]\nvmpls = [1]\nproducts = [\"milan\"]\nsigners = [\"vlek\"]",
                "bb".repeat(48)
            ),
            &b,
            &Expectations::default(),
        );
        for n in [
            "policy.measurement",
            "policy.vmpl",
            "policy.products",
            "policy.signers",
        ] {
            assert_eq!(status(&o, n), Some(false), "{n}");
        }
    }

    #[test]
    fn nonce_and_report_data_expectations() {
        let mut b = report();
        let rd = binding::report_data(b"abc", None);
        b[offset::REPORT_DATA..offset::REPORT_DATA + 64].copy_from_slice(&rd);
        let o = eval("", &b, &Expectations::nonce(b"abc"));
        assert_eq!(status(&o, "report_data.nonce"), Some(true));
        let o = eval("", &b, &Expectations::nonce(b"abd"));
        assert_eq!(status(&o, "report_data.nonce"), Some(false));
        let o = eval("", &b, &Expectations::exact(rd));
        assert_eq!(status(&o, "report_data.report_data"), Some(true));
        let o = eval(
            &format!("report_data = \"{}\"", hex::encode(rd)),
            &b,
            &Expectations::default(),
        );
        assert_eq!(status(&o, "policy.report_data"), Some(true));
    }

    #[test]
    fn old_reports_fail_mitigation_checks() {
        let mut b = report();
        b[offset::VERSION] = 3;
        let o = eval(
            "[mitigation]\nlaunch_required = 1",
            &b,
            &Expectations::default(),
        );
        assert_eq!(status(&o, "policy.mitigation.launch"), Some(false));
    }
}
