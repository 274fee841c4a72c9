//! `snp-agent doctor`: does this guest's host serve certificates correctly?

use clap::Args;
use snp_agent::backend::BackendKind;
use snp_agent::doctor::{diagnose, DoctorOptions, Status};
use snp_agent::exit_code;
use snp_certs::table::EntryKind;

use super::appraise::Roots;
use super::{sim_flags, stdout_write, BackendArgs, CliError, CliResult, OutputFormat};

pub const AFTER_HELP: &str = "\
Makes a few extended requests and checks what the host served: one line per check, PASS / WARN /
FAIL (SKIP: could not be checked, and why), each problem with a remedy. Checks: extended-request,
busy, certs-served, blob-size, table-format, table-duplicates, signer-kind, vek-chip, vek-tcb,
tcb-race, ca-chain, chain-verifies, not-checkable.

Exit code: 0 when nothing failed (warnings too, unless --strict), 7 (backend-failed) when a check
failed, 1 on usage errors.

Examples:
  snp-agent doctor
  snp-agent doctor --expect vlek --format json
  snp-agent doctor --backend sim --sim-fault stale-blob      # see a misconfiguration
  snp-agent doctor --backend sim --sim-fault help";

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Extended requests to make (1..=20); several show a TCB update racing the requests.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub requests: u32,
    /// The signing key this host should use: vcek, or vlek on a cloud that loads one.
    #[arg(long, value_name = "vcek|vlek", value_parser = parse_kind)]
    pub expect: Option<EntryKind>,
    /// Treat warnings as failures in the exit code.
    #[arg(long)]
    pub strict: bool,
    /// Output: text (one line per check) or json.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

fn parse_kind(s: &str) -> Result<EntryKind, String> {
    match s {
        "vcek" => Ok(EntryKind::Vcek),
        "vlek" => Ok(EntryKind::Vlek),
        other => Err(format!("unknown signer {other:?}: expected vcek or vlek")),
    }
}

pub fn run(a: DoctorArgs) -> CliResult {
    let Some(mut prepared) = sim_flags::prepare(&a.backend)? else {
        return Ok(exit_code::SUCCESS); // --sim-fault help
    };
    // BUSY must surface within the doctor's run rather than be retried for a minute: a few
    // retries are enough to tell a throttling host from a momentary lock.
    prepared.options.retry.max_busy_retries = 3;
    prepared.options.retry.deadline = std::time::Duration::from_secs(5);
    let roots = if a.backend.backend == BackendKind::Sim {
        eprintln!("snp-agent: doctor on the SIMULATED platform, trusting the simulator's roots");
        Roots::Simulator
    } else {
        Roots::Amd
    };
    let anchors = roots.anchors(None)?;
    let mut backend = prepared
        .open_unguarded()
        .map_err(|e| CliError::new(exit_code::BACKEND_FAILED, e.to_string()))?;
    let mut opts = DoctorOptions::new(anchors);
    opts.requests = a.requests;
    opts.expect = a.expect;
    let d = diagnose(backend.as_mut(), &opts);
    let out = match a.format {
        OutputFormat::Text => d.to_text(),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&d)
                .map_err(|e| CliError::new(exit_code::OTHER, e.to_string()))?;
            s.push('\n');
            s
        }
    };
    stdout_write(out.as_bytes())?;
    let failed = match d.verdict {
        Status::Fail => true,
        Status::Warn => a.strict,
        Status::Pass | Status::NotChecked => false,
    };
    Ok(if failed {
        exit_code::BACKEND_FAILED
    } else {
        exit_code::SUCCESS
    })
}
