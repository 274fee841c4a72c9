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
  snp-agent serve --listen 127.0.0.1:0 --backend sim   # prints the port it picked";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on, HOST:PORT (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Worker threads answering requests (default 2; the device itself is used one at a time).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Requests that may wait for a worker before new ones are refused with 503 (default 16).
    #[arg(long, value_name = "N")]
    pub queue: Option<usize>,
    /// Largest request body accepted, in bytes (default 16384).
    #[arg(long, value_name = "BYTES")]
    pub max_body: Option<usize>,
    /// How a request's nonce is bound into REPORT_DATA: snp-agent (default), veraison (a
    /// 64-byte nonce verbatim), raw, or trustee / maa (the nonce bytes are the runtime data).
    #[arg(long, value_parser = super::args::binding, default_value = "snp-agent", value_name = "PROFILE")]
    pub binding: snp_agent::binding::Profile,
}

pub fn run(a: ServeArgs) -> CliResult {
    if a.backend.backend == BackendKind::Sim {
        eprintln!(
            "snp-agent: serving from the SIMULATED SEV-SNP platform ({}): its evidence proves nothing about real hardware",
            a.backend.sim_product
        );
    }
    let mut config = ServeConfig::new(a.listen, a.backend.backend);
    let Some(prepared) = super::sim_flags::prepare(&a.backend)? else {
        return Ok(exit_code::SUCCESS); // --sim-fault help
    };
    if prepared.has_wrapper() {
        return Err(CliError::new(
            exit_code::USAGE,
            "--sim-fault tcb-race works with attest and doctor, not serve (use stale-blob to serve a stale blob)",
        ));
    }
    config.backend_options = prepared.options;
    config.vmpl = a.backend.vmpl;
    config.binding = a.binding;
    if let Some(n) = a.workers {
        config.limits.workers = n;
    }
    if let Some(n) = a.queue {
        config.limits.queue = n;
    }
    if let Some(n) = a.max_body {
        config.limits.max_body = n;
    }
    // Announce the bound address on stderr whatever the log level: with port 0 it is the only
    // way to learn it.
    snp_agent::serve::run_with(config, |addr| {
        eprintln!("snp-agent: listening on http://{addr}")
    })
    .map_err(|e: ServeError| CliError::new(e.exit_code(), e.to_string()))?;
    Ok(exit_code::SUCCESS)
}
