//! The relying party's core, shared by `verify` and `attest`: find the endorsements (the host's
//! table first; KDS or the cache only when the host served no VCEK), verify, then apply the
//! policy to the verified evidence.
//!
//! The KDS client is constructed only on the path that needs it, so verifying evidence that
//! carries its certificates starts no HTTP client, thread or runtime (issue 8 measures that).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use snp_agent::evidence::Evidence;
use snp_agent::exit_code;
use snp_agent::kds::{Kds, KdsOptions};
use snp_agent::policy::{Expectations, Policy, PolicyOutcome};
use snp_certs::chain::AmdCert;
use snp_certs::kds::Endorser;
use snp_certs::product::Product;
use snp_certs::report::{ReportView, SigningKey};
use snp_certs::roots::TrustAnchors;
use snp_certs::verify::{CrlPolicy, Endorsements, VerificationOutcome, Verifier};

use super::{CliError, KdsArgs};

/// Which roots anchor the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// AMD's pinned roots (the default, and the only meaningful choice for real evidence).
    Amd,
    /// The simulator's roots (`--sim-roots`, `attest --backend sim`).
    Simulator,
}

impl Roots {
    pub fn label(self) -> &'static str {
        match self {
            Roots::Amd => "amd-pinned",
            Roots::Simulator => "simulator",
        }
    }

    /// The trust anchors; for the simulator only `product`'s when it is known (loading every
    /// simulated product's roots costs start-up time for nothing).
    pub fn anchors(self, product: Option<Product>) -> Result<TrustAnchors, CliError> {
        match self {
            Roots::Amd => Ok(TrustAnchors::amd()),
            Roots::Simulator => sim_anchors(product),
        }
    }
}

#[cfg(feature = "sim")]
fn sim_anchors(only: Option<Product>) -> Result<TrustAnchors, CliError> {
    let mut anchors = TrustAnchors::explicit();
    let products = match only {
        Some(p) => vec![p],
        None => Product::ALL.to_vec(),
    };
    for product in products {
        let r = snp_sim::pki::SimRoots::for_product(product).map_err(|e| {
            CliError::new(
                exit_code::OTHER,
                format!("simulator roots for {product}: {e}"),
            )
        })?;
        anchors = anchors
            .with_chain(product, &r.ark_der, Some(&r.ask_der), Some(&r.asvk_der))
            .map_err(|e| {
                CliError::new(
                    exit_code::OTHER,
                    format!("simulator roots for {product}: {e}"),
                )
            })?;
    }
    Ok(anchors)
}

#[cfg(not(feature = "sim"))]
fn sim_anchors(_only: Option<Product>) -> Result<TrustAnchors, CliError> {
    Err(CliError::new(
        exit_code::USAGE,
        "--sim-roots: this snp-agent was built without the simulator (feature \"sim\")",
    ))
}

/// Everything an appraisal needs besides the evidence.
pub struct Request<'a> {
    pub roots: Roots,
    pub kds: &'a KdsArgs,
    /// Product for v2 reports (no CPUID fields) when a VCEK must be fetched.
    pub product: Option<Product>,
    /// Verification time (UNIX seconds); now if `None`.
    pub at: Option<u64>,
    /// A CRL file to check the chain against.
    pub crl: Option<PathBuf>,
    pub require_crl: bool,
    /// Get the CRL from the cache or KDS (implies `require_crl`).
    pub fetch_crl: bool,
    pub policy: &'a Policy,
    pub expected: &'a Expectations,
}

/// Where the VCEK/VLEK came from, for the output.
#[derive(Debug, Clone)]
pub enum VekSource {
    Host,
    Kds(String),
}

impl std::fmt::Display for VekSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VekSource::Host => f.write_str("the host's certificate table"),
            VekSource::Kds(s) => write!(f, "{s}"),
        }
    }
}

/// The result of an appraisal.
pub struct Appraisal {
    pub verification: VerificationOutcome,
    /// Present when the evidence verified (the policy is evaluated only then).
    pub policy: Option<PolicyOutcome>,
    pub vek_source: VekSource,
    pub roots: Roots,
}

impl Appraisal {
    /// Whether everything holds.
    pub fn affirmed(&self) -> bool {
        self.verification.result.is_ok() && self.policy.as_ref().is_some_and(PolicyOutcome::passed)
    }

    /// EAR's trust tier for the whole appraisal: `affirming` when everything holds, `warning`
    /// when it holds but a check passed with a warning (a stale host-served CRL),
    /// `contraindicated` otherwise. Every output form (`--format json`, `--format ear`, the
    /// batch lines, the verifier service) says the same.
    pub fn tier(&self) -> &'static str {
        match self.affirmed() {
            true if self.verification.warnings().is_empty() => "affirming",
            true => "warning",
            false => "contraindicated",
        }
    }

    /// The documented exit code for this appraisal.
    pub fn exit_code(&self) -> u8 {
        match &self.verification.result {
            Err(e) => exit_code::for_verify_error(e),
            Ok(_) if self.affirmed() => exit_code::SUCCESS,
            Ok(_) => exit_code::POLICY_FAILED,
        }
    }
}

fn progress_printer() -> Option<snp_agent::kds::ProgressFn> {
    std::io::stderr()
        .is_terminal()
        .then(|| -> snp_agent::kds::ProgressFn { Arc::new(|p| eprintln!("snp-agent: {p}")) })
}

/// Endorsements from the evidence, or from KDS/the cache when the host served no VCEK/VLEK.
fn endorsements(
    ev: &Evidence,
    req: &Request<'_>,
    anchors: &TrustAnchors,
) -> Result<(Endorsements, VekSource), CliError> {
    let served = ev.endorsements().map_err(|e| {
        CliError::new(
            exit_code::EVIDENCE_INVALID,
            format!("the evidence's certificate table is unusable: {e}"),
        )
    })?;
    if let Some(e) = served {
        return Ok((e, VekSource::Host));
    }
    let view = ReportView::new(&ev.report)
        .map_err(|e| CliError::new(exit_code::EVIDENCE_INVALID, e.to_string()))?;
    tracing::info!(
        offline = req.kds.offline,
        "the host served no VCEK/VLEK; looking in the cache{}",
        if req.kds.offline { "" } else { " and KDS" }
    );
    let kds = Kds::from_options(KdsOptions {
        progress: progress_printer(),
        anchors: (req.roots != Roots::Amd).then(|| anchors.clone()),
        ..req.kds.options()
    })
    .map_err(|e| CliError::new(exit_code::CERTIFICATE_UNAVAILABLE, e.to_string()))?;
    let vcek = kds.vcek_for_report(&view, req.product).map_err(|e| {
        CliError::new(
            exit_code::CERTIFICATE_UNAVAILABLE,
            format!("no VCEK: the evidence carries none and {e}"),
        )
    })?;
    let source = VekSource::Kds(vcek.source.to_string());
    Ok((Endorsements::new(vcek.der), source))
}

/// The CRL for the evidence's product and endorsement kind, from the cache or KDS. The product
/// comes from the report's CPUID, `--product`, or the VCEK/VLEK's productName (the verifier
/// checks that all of these agree).
fn fetch_crl(
    ev: &Evidence,
    req: &Request<'_>,
    hint: Option<Product>,
    endorsements: &Endorsements,
    anchors: &TrustAnchors,
) -> Result<Vec<u8>, CliError> {
    let vek = AmdCert::from_der("VEK", &endorsements.vek).ok();
    let from_cert = vek
        .as_ref()
        .and_then(|c| c.amd_extensions().product_name.as_deref())
        .and_then(|n| Product::from_product_name(n).ok());
    let product = hint.or(req.product).or(from_cert).ok_or_else(|| {
        CliError::new(
            exit_code::USAGE,
            "--check-crl: cannot tell the product of this v2 report; give --product",
        )
    })?;
    let endorser = match ReportView::new(&ev.report).map(|v| v.signing_key()) {
        Ok(SigningKey::Vlek) => Endorser::Vlek,
        _ => Endorser::Vcek,
    };
    let kds = Kds::from_options(KdsOptions {
        progress: progress_printer(),
        anchors: (req.roots != Roots::Amd).then(|| anchors.clone()),
        ..req.kds.options()
    })
    .map_err(|e| CliError::new(exit_code::CRL_FAILED, e.to_string()))?;
    let crl = kds
        .crl(product, endorser)
        .map_err(|e| CliError::new(exit_code::CRL_FAILED, format!("no CRL: {e}")))?;
    tracing::info!(source = %crl.source, "CRL");
    Ok(crl.der)
}

/// Say on stderr, once per process, that the simulator's roots are trusted. Once, because a
/// `verify --batch` over ten thousand files or a long-running `verifier` would otherwise repeat
/// the line per input and drown every other diagnostic; the one line still comes before the
/// first verdict (the verifier says it at start).
pub fn warn_simulator_roots() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        eprintln!(
            "snp-agent: WARNING: trusting the SIMULATOR's roots: a pass proves nothing about AMD hardware"
        )
    });
}

/// Verify `ev` and, if it verifies, evaluate the policy.
pub fn appraise(ev: &Evidence, req: &Request<'_>) -> Result<Appraisal, CliError> {
    if req.roots == Roots::Simulator {
        warn_simulator_roots();
    }
    let hint = ReportView::new(&ev.report)
        .ok()
        .as_ref()
        .and_then(snp_agent::evidence::view::product_hint);
    let anchors = req.roots.anchors(hint)?;
    let (mut endorsements, vek_source) = endorsements(ev, req, &anchors)?;
    if let Some(path) = &req.crl {
        let der = std::fs::read(path)
            .map_err(|e| CliError::new(exit_code::USAGE, format!("CRL {}: {e}", path.display())))?;
        endorsements = endorsements.with_crl(der);
    }
    if req.fetch_crl {
        let der = fetch_crl(ev, req, hint, &endorsements, &anchors)?;
        endorsements = endorsements.with_crl(der);
    }
    let mut verifier = Verifier::new(anchors);
    if let Some(t) = req.at {
        verifier = verifier.at_unix(t);
    }
    if req.require_crl || req.fetch_crl {
        verifier = verifier.crl_policy(CrlPolicy::Required);
    }
    let verification = verifier.verify_detailed(&ev.report, &endorsements);
    let policy = verification
        .result
        .as_ref()
        .ok()
        .map(|verified| req.policy.evaluate(verified, req.expected));
    Ok(Appraisal {
        verification,
        policy,
        vek_source,
        roots: req.roots,
    })
}
