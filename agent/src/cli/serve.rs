//! `snp-agent serve`: the command-line front of `snp_agent::serve` (its internals and the HTTP
//! protocol are documented there).

use clap::Args;
use snp_agent::backend::BackendKind;
use snp_agent::exit_code;
use snp_agent::serve::{ServeConfig, ServeError};

use super::{BackendArgs, CliError, CliResult};

pub const AFTER_HELP: &str = "\
The relying party sends a nonce (and optionally its public key); the agent binds them into
REPORT_DATA (see `snp-agent attest --help`) and answers with evidence JSON. Requests to the
device are serialized; concurrency and request sizes are bounded.

Examples:
  snp-agent serve --listen 0.0.0.0:8080
  snp-agent serve --listen 127.0.0.1:8080 --backend sim";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on, HOST:PORT (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    #[command(flatten)]
    pub backend: BackendArgs,
}

pub fn run(a: ServeArgs) -> CliResult {
    if a.backend.backend == BackendKind::Sim {
        eprintln!(
            "snp-agent: serving from the SIMULATED SEV-SNP platform ({}): its evidence proves nothing about real hardware",
            a.backend.sim_product
        );
    }
    let mut config = ServeConfig::new(a.listen, a.backend.backend);
    config.backend_options = a.backend.options();
    config.vmpl = a.backend.vmpl;
    snp_agent::serve::run(config).map_err(|e| {
        let code = match e {
            ServeError::Config(_) => exit_code::USAGE,
            ServeError::Backend(_) => exit_code::BACKEND_FAILED,
            _ => exit_code::OTHER,
        };
        CliError::new(code, e.to_string())
    })?;
    Ok(exit_code::SUCCESS)
}
