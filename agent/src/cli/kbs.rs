//! `snp-agent kbs get-resource`: fetch a secret from a Trustee KBS (protocol 0.4.0).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use snp_agent::backend::{self, BackendKind};
use snp_agent::exit_code;
use snp_agent::kbs::{self, KbsError};

use super::{stdout_write, BackendArgs, CliError, CliResult};

pub const AFTER_HELP: &str = "\
auth (challenge + kbs-session-id cookie) -> attest (the report in Trustee's SNP form, REPORT_DATA
= SHA-384 of the JCS runtime data {nonce, tee-pubkey}, an ephemeral RSA-OAEP-256 TEE key) ->
resource (a JWE only that key can open). The decrypted resource goes to stdout or --out.

Exit codes: 0 fetched; 1 bad URL or path; 2 the KBS refused (attestation, policy, missing
resource); 7 no SEV-SNP device; 8 network or protocol failure.

Examples:
  snp-agent kbs get-resource https://kbs.example:8080 default/key/1 --out key.bin
  snp-agent kbs get-resource http://127.0.0.1:8080 default/key/1 --backend sim   # a test KBS";

#[derive(Args, Debug)]
pub struct KbsArgs {
    #[command(subcommand)]
    pub command: KbsCommand,
}

#[derive(Subcommand, Debug)]
pub enum KbsCommand {
    /// Attest to a KBS and fetch one resource, REPOSITORY/TYPE/TAG.
    GetResource(GetResourceArgs),
}

#[derive(Args, Debug)]
pub struct GetResourceArgs {
    /// The KBS base URL, e.g. https://kbs.example:8080.
    #[arg(value_name = "URL")]
    pub url: String,
    /// The resource, REPOSITORY/TYPE/TAG.
    #[arg(value_name = "REPO/TYPE/TAG")]
    pub resource: String,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Write the resource here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Give up on each HTTP request after this many seconds (default 30).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

pub fn run(a: KbsArgs) -> CliResult {
    let KbsCommand::GetResource(a) = a.command;
    kbs::resource_path(&a.resource).map_err(|e| CliError::new(exit_code::USAGE, e.to_string()))?;
    if a.backend.backend == BackendKind::Sim {
        eprintln!(
            "snp-agent: attesting with the SIMULATED SEV-SNP platform ({}): a real KBS will refuse it",
            a.backend.sim_product
        );
    }
    let mut b = backend::open(a.backend.backend, &a.backend.options())
        .map_err(|e| CliError::new(exit_code::BACKEND_FAILED, e.to_string()))?;
    let secret = kbs::get_resource(
        &a.url,
        &a.resource,
        b.as_mut(),
        a.backend.vmpl,
        Duration::from_secs(a.timeout),
    )
    .map_err(|e| {
        let code = match &e {
            KbsError::Usage(_) => exit_code::USAGE,
            KbsError::Refused { .. } => exit_code::VERIFICATION_FAILED,
            KbsError::Backend(_) => exit_code::BACKEND_FAILED,
            KbsError::Http { .. } | KbsError::Protocol { .. } | KbsError::Decrypt(_) => {
                exit_code::OTHER
            }
        };
        CliError::new(code, e.to_string())
    })?;
    match &a.out {
        Some(p) => {
            std::fs::write(p, &secret)
                .map_err(|e| CliError::new(exit_code::OTHER, format!("{}: {e}", p.display())))?;
            eprintln!(
                "snp-agent: wrote {} ({} bytes) to {}",
                a.resource,
                secret.len(),
                p.display()
            );
        }
        None => stdout_write(&secret)?,
    }
    Ok(exit_code::SUCCESS)
}
