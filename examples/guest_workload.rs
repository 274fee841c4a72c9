//! A workload inside the guest obtains a verified report bound to a key it holds.
//!
//! The workload generates a P-384 key pair, binds the public key (SEC1 uncompressed) together
//! with a nonce into REPORT_DATA (`snp_agent::binding`), asks the platform for an extended
//! report, verifies it and the binding, and prints a JSON document with the public key, the
//! nonce and the evidence. Anyone who verifies that evidence learns that the private key lives
//! inside this attested guest; the workload then proves possession by signing (here, a greeting
//! whose signature is printed too).
//!
//! ```text
//! cargo run -p snp-agent-examples --example guest_workload                 # simulator
//! cargo run -p snp-agent-examples --example guest_workload -- --backend auto  # a real guest
//! ```
//!
//! The default backend is the SIMULATOR so the example runs anywhere; it says so loudly, and
//! evidence from it verifies only against the simulator's roots.

use std::process::ExitCode;

use clap::Parser;
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{Signature, SigningKey};
use snp_agent::backend::{self, BackendKind, BackendOptions, ReportRequest};
use snp_agent::binding::Challenge;
use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use snp_agent::policy::Policy;
use snp_agent_examples::{simulator_anchors, RelyingParty};
use snp_certs::roots::TrustAnchors;

/// What the workload signs to show it holds the bound key.
const GREETING: &[u8] = b"hello from an attested SEV-SNP workload";

#[derive(Parser)]
#[command(about = "Obtain a verified SEV-SNP report bound to a freshly generated key")]
struct Args {
    /// auto, tsm, sev-guest or sim (the default, so the example runs anywhere).
    #[arg(long, default_value = "sim")]
    backend: BackendKind,
    /// A nonce from whoever will check the evidence (hex, 16..=1024 bytes); random if absent.
    #[arg(long)]
    nonce: Option<String>,
    /// VMPL to request the report at.
    #[arg(long, default_value_t = 0)]
    vmpl: u32,
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
    let simulated = args.backend == BackendKind::Sim;
    if simulated {
        eprintln!(
            "guest_workload: ******************************************************************"
        );
        eprintln!("guest_workload: USING THE SIMULATED SEV-SNP PLATFORM (--backend sim, the default here).");
        eprintln!(
            "guest_workload: The report is signed by the simulator's keys and proves NOTHING about"
        );
        eprintln!(
            "guest_workload: real hardware. Inside a real SEV-SNP guest pass --backend auto."
        );
        eprintln!(
            "guest_workload: ******************************************************************"
        );
    }

    // 1. The key the workload holds. It never leaves this process.
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let public_key = key
        .verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();

    // 2. The challenge: the nonce and the public key, bound by the documented encoding.
    let nonce = match args.nonce.as_deref().map(hex::decode).transpose() {
        Ok(n) => n,
        Err(e) => return fail(exit_code::USAGE, &format!("--nonce is not hex: {e}")),
    };
    let challenge = match nonce {
        Some(n) => Challenge::new(n, Some(public_key.clone())),
        None => Challenge::random(Some(public_key.clone())),
    };
    let challenge = match challenge {
        Ok(c) => c,
        Err(e) => return fail(exit_code::USAGE, &e.to_string()),
    };

    // 3. The report.
    let mut backend = match backend::open(args.backend, &BackendOptions::default()) {
        Ok(b) => b,
        Err(e) => return fail(exit_code::BACKEND_FAILED, &e.to_string()),
    };
    let request = ReportRequest {
        report_data: challenge.report_data(),
        vmpl: args.vmpl,
    };
    let evidence = match backend.get_ext_report(&request) {
        Ok(ext) => Evidence::from_extended(ext, backend.kind().as_str()),
        Err(e) => return fail(exit_code::BACKEND_FAILED, &e.to_string()),
    };

    // 4. Verify it as a relying party would (without the freshness ledger: we made the
    //    request ourselves a moment ago) and check the binding.
    let anchors = if simulated {
        match simulator_anchors() {
            Ok(a) => a,
            Err(e) => return fail(exit_code::OTHER, &e.to_string()),
        }
    } else {
        TrustAnchors::amd()
    };
    let verdict = RelyingParty::new(anchors, Policy::default_policy())
        .appraise_unledgered(&challenge, &evidence);
    eprintln!("{verdict}");
    if !verdict.affirmed() {
        return verdict.exit_code;
    }

    // 5. Hand over what a peer needs: the key, the nonce, the evidence, and a proof of
    //    possession of the key.
    let evidence_json = match evidence
        .to_bytes(Format::Json)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => return fail(exit_code::OTHER, &e),
    };
    let signature: Signature = key.sign(GREETING);
    let out = serde_json::json!({
        "simulated": simulated,
        "public_key_sec1": hex::encode(&public_key),
        "nonce": hex::encode(challenge.nonce()),
        "report_data": hex::encode(challenge.report_data()),
        "greeting": String::from_utf8_lossy(GREETING),
        "greeting_signature_der": hex::encode(signature.to_der().as_bytes()),
        "evidence": evidence_json,
    });
    match serde_json::to_string_pretty(&out) {
        Ok(s) => {
            println!("{s}");
            exit_code::SUCCESS
        }
        Err(e) => fail(exit_code::OTHER, &e.to_string()),
    }
}

fn fail(code: u8, msg: &str) -> u8 {
    eprintln!("guest_workload: {msg}");
    code
}
