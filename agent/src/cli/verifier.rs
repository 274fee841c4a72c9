//! `snp-agent verifier`: the command-line front of `snp_agent::verifier` (HTTP interface and
//! bounds are documented there). This module supplies the verification function: the same
//! [`appraise`] as `snp-agent verify`, answered with the same EAR as `verify --format ear`
//! ([`super::ear_out::issue`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use serde_json::json;
use snp_agent::ear::EarSigner;
use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use snp_agent::policy::Policy;
use snp_agent::verifier::{
    ErrorBody, ResultForm, Verdict, VerifierConfig, VerifierError, VerifyAnswer, VerifyRequest,
};

use super::appraise::{appraise, Appraisal, Request, Roots};
use super::ear_out::{issue, load_signer, EarShape, DEFAULT_POLICY_ID};
use super::verify::{expectations, load_policy_with_id};
use super::{args, CliError, CliResult, KdsArgs};

pub const AFTER_HELP: &str = "\
POST evidence (snp-agent JSON, bin, or CoCo JSON) to /verify, optionally with ?nonce=HEX,
?policy=ID (a policy loaded at start), ?format=json|bin|coco and ?raw_evidence=1; the answer
is the EAR `snp-agent verify --format ear` prints, whatever the verdict, on one line and
without the evidence itself (ear_raw_evidence) unless ?raw_evidence=1 asks for it: JSON claims
(application/eat-ucs+json), or with --ear-key only a signed JWT (application/eat+jwt; a
client whose Accept excludes it gets 406). Header X-Snp-Agent-Exit-Code carries verify's exit
code. GET /healthz for probes, GET /metrics for Prometheus.
The service is stateless: run as many copies as needed behind a load balancer (deploy/).

Examples:
  snp-agent verifier --listen 0.0.0.0:8080 --policy-dir /etc/snp-agent/policies
  curl -s --data-binary @evidence.json 'http://127.0.0.1:8080/verify?nonce=00112233&policy=prod'
  snp-agent verifier --listen 0.0.0.0:8080 --ear-key /etc/snp-agent/ear-key.pem
  curl -s -H 'Accept: application/eat+jwt' --data-binary @evidence.json http://127.0.0.1:8080/verify
  snp-agent verifier --listen 0.0.0.0:8080 --policy-dir /etc/snp-agent/policies --check-config";

#[derive(Args, Debug)]
pub struct VerifierArgs {
    /// Address to listen on, HOST:PORT (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// The default policy (TOML), used when a request names none. Without it (and without a
    /// default.toml in --policy-dir) only the debug bit is checked.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Load every *.toml in DIR as a policy whose id is the file name without .toml; requests
    /// choose one with ?policy=ID. A default.toml there is the default policy.
    #[arg(long, value_name = "DIR")]
    pub policy_dir: Option<PathBuf>,
    /// Trust the simulator's roots instead of AMD's (testing only).
    #[arg(long)]
    pub sim_roots: bool,
    /// Verification time (RFC 3339) instead of now, for replaying old evidence.
    #[arg(long, value_parser = args::rfc3339, value_name = "RFC3339")]
    pub at: Option<u64>,
    /// Check every chain against this CRL file (DER, read per request so a sidecar can renew
    /// it).
    #[arg(long, value_name = "FILE")]
    pub crl: Option<PathBuf>,
    /// Fail evidence unless the CRL is given and passes.
    #[arg(long, requires = "crl")]
    pub require_crl: bool,
    #[command(flatten)]
    pub kds: KdsArgs,
    /// Verification threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Requests that may wait for a worker before new ones get 503 (default 256).
    #[arg(long, value_name = "N")]
    pub queue: Option<usize>,
    /// Largest evidence body accepted, in bytes (default 1048576).
    #[arg(long, value_name = "BYTES")]
    pub max_body: Option<usize>,
    /// Open connections at most (default 1024).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Sign every result: answer EARs as JWTs signed with this PKCS#8 PEM private key (EC P-256
    /// → ES256, P-384 → ES384, RSA → PS256, Ed25519 → EdDSA), as `verify --ear-key` does. The
    /// unsigned JSON form is then not offered.
    #[arg(long, value_name = "FILE")]
    pub ear_key: Option<PathBuf>,
    /// Load the policies and check the options, print what would be served, and exit without
    /// listening (exit 0 when the configuration is usable).
    #[arg(long)]
    pub check_config: bool,
}

/// A policy loaded at start, with the identifier its EARs name it by.
#[derive(Debug, Clone)]
struct Loaded {
    policy: Policy,
    /// `sha256:` of the file's bytes (the bytes that were parsed), or the built-in's id.
    id: String,
}

/// What the verification function needs, shared read-only by every worker.
struct Context {
    roots: Roots,
    kds: KdsArgs,
    at: Option<u64>,
    crl: Option<PathBuf>,
    require_crl: bool,
    default_policy: Loaded,
    policies: BTreeMap<String, Loaded>,
    /// `--ear-key`: every result is then a signed JWT.
    signer: Option<EarSigner>,
}

/// The answer to a completed appraisal: the EAR `verify --format ear` would print for the same
/// evidence and policy (only the issued-at time and the evidence's name, "request body",
/// differ), compact, and carrying the evidence only when the request asked (`raw_evidence`).
fn result_answer(
    ctx: &Context,
    a: &Appraisal,
    ev: &Evidence,
    format: Format,
    policy_id: &str,
    raw_evidence: bool,
) -> VerifyAnswer {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let subject = format!("request body ({format})");
    let shape = EarShape {
        raw_evidence,
        pretty: false,
    };
    match issue(a, ev, &subject, policy_id, ctx.signer.as_ref(), now, shape) {
        Ok(issued) => VerifyAnswer {
            status: 200,
            verdict: if a.affirmed() {
                Verdict::Affirming
            } else {
                Verdict::Contraindicated
            },
            exit_code: a.exit_code(),
            body: issued,
        },
        Err(e) => {
            tracing::error!(error = %e, "could not issue an EAR");
            refusal(
                500,
                exit_code::OTHER,
                "internal_error",
                format!("could not issue the EAR: {e}"),
            )
        }
    }
}

fn refusal(status: u16, code: u8, error: &str, message: String) -> VerifyAnswer {
    VerifyAnswer {
        status,
        verdict: Verdict::Error,
        exit_code: code,
        body: serde_json::to_vec(&ErrorBody {
            error: error.into(),
            message,
        })
        .unwrap_or_default(),
    }
}

fn answer(ctx: &Context, req: VerifyRequest) -> VerifyAnswer {
    let format =
        match req.format.as_deref().map(str::parse::<Format>) {
            None => None,
            Some(Ok(Format::SnpguestDir)) => return refusal(
                400,
                exit_code::USAGE,
                "bad_request",
                "format snpguest-dir is a directory and cannot be posted: use json, bin or coco"
                    .into(),
            ),
            Some(Ok(f)) => Some(f),
            Some(Err(e)) => return refusal(400, exit_code::USAGE, "bad_request", e),
        };
    let loaded = match req.policy.as_deref() {
        None => &ctx.default_policy,
        Some(id) => match ctx.policies.get(id) {
            Some(p) => p,
            None => {
                return refusal(
                    404,
                    exit_code::USAGE,
                    "not_found",
                    format!(
                        "no policy {id:?} is loaded; known: {}",
                        ctx.policies.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
            }
        },
    };
    let (ev, format) = match Evidence::from_bytes(&req.body, format) {
        Ok(x) => x,
        Err(e) => {
            return refusal(
                400,
                exit_code::EVIDENCE_INVALID,
                "bad_request",
                format!("cannot read evidence: {e}"),
            )
        }
    };
    let expected = expectations(req.nonce.as_deref(), None);
    let request = Request {
        roots: ctx.roots,
        kds: &ctx.kds,
        product: None,
        at: ctx.at,
        crl: ctx.crl.clone(),
        require_crl: ctx.require_crl,
        fetch_crl: false,
        policy: &loaded.policy,
        expected: &expected,
    };
    match appraise(&ev, &request) {
        Ok(a) => result_answer(ctx, &a, &ev, format, &loaded.id, req.raw_evidence),
        Err(CliError { code, message })
            if code == exit_code::EVIDENCE_INVALID || code == exit_code::USAGE =>
        {
            refusal(400, code, "bad_request", message)
        }
        Err(CliError { code, message }) => refusal(422, code, "unprocessable", message),
    }
}

/// Read a policy file once, named by the digest of the bytes that were compiled.
fn load(path: &std::path::Path) -> Result<Loaded, CliError> {
    let (policy, id) = load_policy_with_id(Some(path))?;
    Ok(Loaded { policy, id })
}

/// Load `--policy` and `--policy-dir`.
fn load_policies(a: &VerifierArgs) -> Result<(Loaded, BTreeMap<String, Loaded>), CliError> {
    let mut policies = BTreeMap::new();
    if let Some(dir) = &a.policy_dir {
        let rd = std::fs::read_dir(dir).map_err(|e| {
            CliError::new(
                exit_code::USAGE,
                format!("--policy-dir {}: {e}", dir.display()),
            )
        })?;
        for entry in rd {
            let path = entry
                .map_err(|e| {
                    CliError::new(
                        exit_code::USAGE,
                        format!("--policy-dir {}: {e}", dir.display()),
                    )
                })?
                .path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let Some(id) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if id.starts_with('.') {
                continue; // ConfigMap volumes hold ..data links and dot-directories
            }
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            {
                return Err(CliError::new(
                    exit_code::USAGE,
                    format!(
                        "policy file {}: its name must be 1-64 letters, digits, '-', '_' or '.' plus .toml (the name is the policy id)",
                        path.display()
                    ),
                ));
            }
            policies.insert(id.to_string(), load(&path)?);
        }
    }
    let default = match (&a.policy, policies.get("default")) {
        (Some(path), _) => load(path)?,
        (None, Some(p)) => p.clone(),
        (None, None) => Loaded {
            policy: Policy::default_policy(),
            id: DEFAULT_POLICY_ID.into(),
        },
    };
    Ok((default, policies))
}

pub fn run(a: VerifierArgs) -> CliResult {
    let (default_policy, policies) = load_policies(&a)?;
    let mut limits = snp_agent::verifier::default_limits();
    if let Some(n) = a.workers {
        limits.workers = n;
    }
    if let Some(n) = a.queue {
        limits.queue = n;
    }
    if let Some(n) = a.max_body {
        limits.max_body = n;
    }
    if let Some(n) = a.max_connections {
        limits.max_connections = n;
    }
    let usage = |e: VerifierError| CliError::new(e.exit_code(), e.to_string());
    snp_agent::verifier::validate(&limits).map_err(usage)?;
    let roots = if a.sim_roots {
        Roots::Simulator
    } else {
        Roots::Amd
    };
    // Fail at start, not per request, if the roots cannot be had or the key is unusable.
    roots.anchors(None)?;
    let signer = a.ear_key.as_deref().map(load_signer).transpose()?;
    let results = if signer.is_some() {
        ResultForm::EarJwt
    } else {
        ResultForm::EarJson
    };
    let info = json!({
        "trust_anchors": roots.label(),
        "policies": policies.keys().collect::<Vec<_>>(),
        "default_policy": if a.policy.is_some() { "--policy" } else if policies.contains_key("default") { "default" } else { "built-in (debug forbidden)" },
        "workers": limits.workers,
        "queue": limits.queue,
        "offline": a.kds.offline,
        "crl": a.crl.as_ref().map(|p| p.display().to_string()),
        "results": results.content_type(),
        "signing_alg": signer.as_ref().map(EarSigner::alg),
    });
    if a.check_config {
        super::stdout_write(format!("{info:#}\n").as_bytes())?;
        // The address must at least parse.
        use std::net::ToSocketAddrs;
        a.listen.to_socket_addrs().map_err(|e| {
            CliError::new(
                exit_code::USAGE,
                format!("--listen {:?}: {e} (expected HOST:PORT)", a.listen),
            )
        })?;
        return Ok(exit_code::SUCCESS);
    }
    if a.sim_roots {
        super::appraise::warn_simulator_roots();
    }
    let ctx = Arc::new(Context {
        roots,
        kds: a.kds.clone(),
        at: a.at,
        crl: a.crl.clone(),
        require_crl: a.require_crl,
        default_policy,
        policies,
        signer,
    });
    let config = VerifierConfig {
        listen: a.listen,
        limits,
        verify: Arc::new(move |req| answer(&ctx, req)),
        results,
        info,
    };
    snp_agent::verifier::run_with(config, |addr| {
        eprintln!("snp-agent: verifier listening on http://{addr}")
    })
    .map_err(usage)?;
    Ok(exit_code::SUCCESS)
}
