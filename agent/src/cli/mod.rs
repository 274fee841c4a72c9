//! Command-line interface: definitions (clap derive), logging, and the mapping of every failure
//! to a documented exit code.

mod appraise;
mod args;
mod attest;
mod batch;
mod binding_args;
mod certs;
mod convert;
mod doctor;
mod ear_out;
mod fetch;
mod host;
mod kbs;
mod render;
mod serve;
mod show;
mod sim_flags;
mod verifier;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use snp_agent::backend::BackendKind;
use snp_agent::evidence::Format;
use snp_agent::exit_code;
use snp_certs::product::Product;

/// A failure with the exit code it maps to. The message is printed on stderr.
#[derive(Debug)]
pub struct CliError {
    /// One of `snp_agent::exit_code`.
    pub code: u8,
    /// What went wrong and, where possible, what to do.
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
        }
    }
}

/// Result of a subcommand: the exit code to use on success paths that still fail (e.g. a
/// policy failure after printing the results), or an error to print.
pub type CliResult = Result<u8, CliError>;

const ABOUT: &str = "SEV-SNP guest attestation agent: obtain an extended attestation report, \
verify it against AMD's pinned roots, and hand evidence to a relying party.";

const AFTER_HELP: &str = "\
Examples:
  # In a guest: obtain, verify and save evidence bound to a nonce
  snp-agent attest --nonce $(openssl rand -hex 32) --out evidence.json
  # Without SNP hardware: the simulator (its roots are not AMD's)
  snp-agent attest --backend sim --nonce 00112233 --out evidence.json
  snp-agent verify evidence.json --sim-roots --nonce 00112233
  # Relying party: verify under a policy, EAR-style JSON result
  snp-agent verify evidence.json --policy policy.toml --format json

Environment:
  RUST_LOG             log filter for stderr diagnostics (overrides -v)
  SNP_AGENT_KDS_URL    KDS base URL (a mirror or caching proxy); --kds-url overrides it
  SNP_AGENT_CACHE_DIR  certificate cache / air-gapped store; --cache-dir overrides it
";

#[derive(Parser, Debug)]
#[command(name = "snp-agent", version, about = ABOUT, after_help = AFTER_HELP)]
#[command(after_long_help = long_help())]
struct Cli {
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

fn long_help() -> String {
    format!("{AFTER_HELP}\n{}", exit_code::help_text())
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Obtain an extended report from the platform, verify it, and write evidence.
    #[command(after_help = attest::AFTER_HELP)]
    Attest(attest::AttestArgs),
    /// Verify evidence (any supported format) and appraise it under a policy.
    #[command(after_help = verify::AFTER_HELP)]
    Verify(verify::VerifyArgs),
    /// Show a report in human-readable form (policy bits, TCB per product, signer, platform).
    #[command(after_help = show::AFTER_HELP)]
    Show(show::ShowArgs),
    /// List the certificate table the host served, in the host's order, each entry identified.
    #[command(after_help = certs::AFTER_HELP)]
    Certs(certs::CertsArgs),
    /// Convert evidence between forms (json, bin, snpguest-dir, coco, cmw), refusing any loss.
    #[command(after_help = convert::AFTER_HELP)]
    Convert(convert::ConvertArgs),
    /// Fetch VCEK / CA chain / CRL from AMD KDS into the cache (and optionally a directory).
    #[command(after_help = fetch::AFTER_HELP)]
    Fetch(fetch::FetchArgs),
    /// Serve evidence over HTTP: a challenge-response endpoint inside the guest.
    #[command(after_help = serve::AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// Run a stateless verification service over HTTP (POST evidence, get the result).
    #[command(after_help = verifier::AFTER_HELP)]
    Verifier(verifier::VerifierArgs),
    /// Check, from inside a guest, that the host serves certificates correctly (issue 15).
    #[command(after_help = doctor::AFTER_HELP)]
    Doctor(doctor::DoctorArgs),
    /// For host operators: build, show, install or fetch the certificate blob the VMM serves.
    #[command(after_help = host::AFTER_HELP)]
    Host(host::HostArgs),
    /// Talk to a Trustee Key Broker Service (protocol 0.4.0): attest and fetch a secret.
    #[command(after_help = kbs::AFTER_HELP)]
    Kbs(kbs::KbsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Example:\n  snp-agent completions bash > /etc/bash_completion.d/snp-agent"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// KDS and certificate-cache options shared by `verify`, `attest` and `fetch`.
#[derive(Args, Debug, Clone, Default)]
pub struct KdsArgs {
    /// KDS base URL (default AMD's; also $SNP_AGENT_KDS_URL).
    #[arg(long, value_name = "URL")]
    pub kds_url: Option<String>,
    /// Never use the network: certificates come from the evidence or the cache only.
    #[arg(long)]
    pub offline: bool,
    /// Certificate cache directory (default $SNP_AGENT_CACHE_DIR, else ~/.cache/snp-agent).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Give up on KDS after this many seconds, retries and rate-limit waits included
    /// (default 120).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub kds_timeout: Option<u64>,
}

impl KdsArgs {
    /// The library's options for these arguments.
    pub fn options(&self) -> snp_agent::kds::KdsOptions {
        snp_agent::kds::KdsOptions {
            kds_url: self.kds_url.clone(),
            cache_dir: self.cache_dir.clone(),
            offline: self.offline,
            deadline: self.kds_timeout.map(std::time::Duration::from_secs),
            progress: None,
            anchors: None,
        }
    }
}

/// Backend selection shared by `attest` and `serve`.
#[derive(Args, Debug, Clone)]
pub struct BackendArgs {
    /// Where reports come from: auto (configfs-tsm, then /dev/sev-guest), tsm, sev-guest, or
    /// sim (the built-in simulator; never chosen by auto).
    #[arg(long, default_value = "auto", value_parser = args::backend, value_name = "BACKEND")]
    pub backend: BackendKind,
    /// VMPL to request the report at (0..=3).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=3))]
    pub vmpl: u32,
    /// Product line the simulator plays (with --backend sim).
    #[arg(long, value_parser = args::product, value_name = "PRODUCT", default_value = "genoa")]
    pub sim_product: Product,
    /// `--sim-fault` / `--sim-kvm` (issue 15).
    #[command(flatten)]
    pub sim: sim_flags::SimArgs,
}

impl BackendArgs {
    /// Backend options for the library.
    pub fn options(&self) -> snp_agent::backend::BackendOptions {
        #[allow(unused_mut)]
        let mut o = snp_agent::backend::BackendOptions::default();
        #[cfg(feature = "sim")]
        {
            o.sim.product = self.sim_product;
            if self.sim.sim_kvm == Some(sim_flags::KvmGeneration::Seed) {
                o.sim.generation = snp_sim::kvm::Generation::Seed;
            }
        }
        o
    }
}

/// Evidence input options shared by `verify`, `show`, `certs`.
#[derive(Args, Debug, Clone)]
pub struct EvidenceIn {
    /// Evidence: a file (json, bin, coco, cmw — detected), a snpguest directory, or - for
    /// stdin; for `verify`, also an EAR token (JWT).
    #[arg(value_name = "EVIDENCE")]
    pub evidence: PathBuf,
    /// Evidence format instead of detecting it: json, bin, snpguest-dir, coco, cmw.
    #[arg(long, value_parser = args::format, value_name = "FORMAT")]
    pub in_format: Option<Format>,
}

impl EvidenceIn {
    pub fn read(&self) -> Result<(snp_agent::evidence::Evidence, Format), CliError> {
        snp_agent::evidence::Evidence::read_path(&self.evidence, self.in_format).map_err(|e| {
            CliError::new(
                exit_code::EVIDENCE_INVALID,
                format!("cannot read evidence {}: {e}", self.evidence.display()),
            )
        })
    }
}

/// Text or JSON output.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// For programs.
    Json,
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}

/// Parse, run, and turn the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit_code::USAGE
            } else {
                // Help on a command whose 0 means "verified" must not exit 0 (issue 17).
                verify::help_exit_code(std::env::args_os())
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Attest(a) => attest::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Show(a) => show::run(a),
        Command::Certs(a) => certs::run(a),
        Command::Fetch(a) => fetch::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Kbs(a) => kbs::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Verifier(a) => verifier::run(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Host(a) => host::run(a),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "snp-agent", &mut std::io::stdout());
            Ok(exit_code::SUCCESS)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("snp-agent: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// Write `bytes` to stdout, mapping a closed pipe or other I/O failure to [`exit_code::OTHER`].
pub fn stdout_write(bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(exit_code::OTHER, format!("cannot write to stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
