//! `snp-agent`: obtain, verify, show and serve SEV-SNP attestation evidence.
//!
//! The binary is a thin layer over the library (`snp_agent::{backend, evidence, policy, kds,
//! serve}`) and `snp_certs::verify`: it parses the command line, wires options to those APIs and
//! renders results. Data goes to stdout, diagnostics to stderr; the exit status is one of the
//! documented codes in `snp_agent::exit_code`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
