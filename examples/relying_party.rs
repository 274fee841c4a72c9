//! A relying party: challenge a guest running `snp-agent serve`, verify its evidence under a
//! policy, check that the evidence answers *this* challenge, print the verdict.
//!
//! ```text
//! # in the guest (or, to try it anywhere, with the simulator):
//! snp-agent serve --listen 127.0.0.1:8080 --backend sim
//! # here:
//! cargo run -p snp-agent-examples --example relying_party -- \
//!     --url http://127.0.0.1:8080 --policy policy.toml --sim-roots
//! ```
//!
//! Exit code 0 only when the evidence verified, the nonce was fresh and bound, and the policy
//! held; otherwise the code `snp-agent verify` uses (2 verification, 3 no certificate, 5 policy
//! or binding, 6 unreadable evidence, 8 the guest could not be reached).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use snp_agent::exit_code;
use snp_agent::policy::Policy;
use snp_agent_examples::{simulator_anchors, RelyingParty};
use snp_certs::roots::TrustAnchors;

#[derive(Parser)]
#[command(about = "Challenge a guest's `snp-agent serve` and appraise its evidence")]
struct Args {
    /// Base URL of the guest's endpoint.
    #[arg(long)]
    url: String,
    /// Appraisal policy (TOML, see snp_agent::policy); default: only `debug` forbidden.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Trust the SIMULATOR's roots instead of AMD's (only for `serve --backend sim`).
    #[arg(long)]
    sim_roots: bool,
    /// Also bind this public key (hex) into the report.
    #[arg(long)]
    public_key: Option<String>,
    /// Never contact AMD's KDS (the evidence must carry its VCEK/VLEK).
    #[arg(long)]
    offline: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    ExitCode::from(run(&args))
}

fn run(args: &Args) -> u8 {
    let policy = match &args.policy {
        Some(p) => match Policy::from_path(p) {
            Ok(p) => p,
            Err(e) => return fail(exit_code::USAGE, &e.to_string()),
        },
        None => Policy::default_policy(),
    };
    let anchors = if args.sim_roots {
        eprintln!("relying_party: WARNING: trusting the SIMULATOR's roots; a pass proves nothing about AMD hardware");
        match simulator_anchors() {
            Ok(a) => a,
            Err(e) => return fail(exit_code::OTHER, &e.to_string()),
        }
    } else {
        TrustAnchors::amd()
    };
    let public_key = match args.public_key.as_deref().map(hex::decode).transpose() {
        Ok(k) => k,
        Err(e) => return fail(exit_code::USAGE, &format!("--public-key is not hex: {e}")),
    };
    let rp = RelyingParty::new(anchors, policy).offline(args.offline);
    match rp.attest(&args.url, public_key) {
        Ok(verdict) => {
            println!("{verdict}");
            verdict.exit_code
        }
        Err(e) => fail(e.exit_code(), &e.to_string()),
    }
}

fn fail(code: u8, msg: &str) -> u8 {
    eprintln!("relying_party: {msg}");
    code
}
