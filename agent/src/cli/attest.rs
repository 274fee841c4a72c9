//! `snp-agent attest`: obtain an extended report, verify it, emit evidence.

use std::path::PathBuf;

use clap::Args;
use snp_agent::backend::{BackendKind, ReportRequest};
use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use snp_agent::policy::{binding, Expectations, Policy};

use super::appraise::{appraise, Request, Roots};
use super::{args, render, stdout_write, BackendArgs, CliError, CliResult, KdsArgs};

pub const AFTER_HELP: &str = "\
REPORT_DATA: --nonce HEX binds SHA-512(\"snp-agent/report-data/v1\" encoding of the nonce), the
binding `verify --nonce` and `serve` use; --report-data HEX is used as is (zero-padded to 64
bytes, as go-sev-guest does); neither gives all zeros.

The report is verified before it is written (the host's certificates, else KDS or the cache);
--no-verify writes it unverified. --backend sim uses the built-in simulator and verifies with
ITS roots, and says so: such evidence proves nothing about AMD hardware.

Examples:
  snp-agent attest --nonce $(openssl rand -hex 32) --out evidence.json
  snp-agent attest --format bin --out evidence.bin            # go-sev-guest layout
  snp-agent attest --format snpguest-dir --out ./attestation  # report + certs/*.pem
  snp-agent attest --format coco > evidence.coco.json         # Trustee SnpEvidence
  snp-agent attest --backend sim --sim-product turin --nonce 00 --out sim.json
  snp-agent attest --backend sim --sim-fault tcb-race=2 --nonce 00  # re-asked, then verified
  snp-agent attest --backend sim --sim-fault help                   # every simulator fault
  snp-agent attest --binding trustee --runtime-data @runtime-data.json --format coco  # for Trustee
  snp-agent attest --binding veraison --nonce $NONCE64 --format cmw                 # for Veraison";

#[derive(Args, Debug)]
pub struct AttestArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    /// REPORT_DATA bytes as hex (at most 64; zero-padded).
    #[arg(long, value_parser = args::report_data_hex, value_name = "HEX", conflicts_with = "nonce")]
    pub report_data: Option<args::HexBytes>,
    /// A relying party's nonce (hex), hashed into REPORT_DATA with the documented binding.
    #[arg(long, value_parser = args::nonce_hex, value_name = "HEX")]
    pub nonce: Option<args::HexBytes>,
    /// How the challenge is bound into REPORT_DATA: snp-agent (default), trustee (with
    /// --runtime-data JSON), veraison (a 64-byte --nonce verbatim), maa (with --runtime-data),
    /// raw (--nonce zero-padded).
    #[arg(long, value_parser = args::binding, default_value = "snp-agent", value_name = "PROFILE")]
    pub binding: snp_agent::binding::Profile,
    /// Runtime data for --binding trustee (a JSON document) or maa (bytes); @FILE reads a file.
    #[arg(long, value_parser = args::runtime_data, value_name = "TEXT|@FILE", conflicts_with = "report_data")]
    pub runtime_data: Option<args::HexBytes>,
    /// Evidence format: json, bin, snpguest-dir, coco, cmw.
    #[arg(long, value_parser = args::format, default_value = "json", value_name = "FORMAT")]
    pub format: Format,
    /// Where to write the evidence (a directory for snpguest-dir); stdout if absent.
    #[arg(long, short, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Write the evidence without verifying it first.
    #[arg(long)]
    pub no_verify: bool,
    /// Policy (TOML) the evidence must satisfy before it is written.
    #[arg(long, value_name = "FILE", conflicts_with = "no_verify")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub kds: KdsArgs,
}

pub fn run(a: AttestArgs) -> CliResult {
    if a.format == Format::SnpguestDir && a.out.is_none() {
        return Err(CliError::new(
            exit_code::USAGE,
            "--format snpguest-dir writes a directory: give --out DIR",
        ));
    }
    let policy = match &a.policy {
        Some(_) => super::verify::load_policy(a.policy.as_ref())?,
        None => Policy::default_policy(),
    };
    let profiled =
        super::binding_args::resolve(a.binding, a.nonce.as_ref(), a.runtime_data.as_ref())?;
    let (report_data, expected) = match (&a.nonce, &a.report_data) {
        _ if profiled.is_some() => {
            let rd = profiled.unwrap_or([0u8; 64]);
            (rd, super::binding_args::expect(a.binding, rd))
        }
        (Some(n), _) => (binding::report_data(&n.0, None), Expectations::nonce(&n.0)),
        (None, Some(rd)) => {
            let rd = &rd.0;
            let mut full = [0u8; 64];
            for (d, s) in full.iter_mut().zip(rd.iter()) {
                *d = *s;
            }
            (full, Expectations::exact(full))
        }
        (None, None) => ([0u8; 64], Expectations::exact([0u8; 64])),
    };
    let kind = a.backend.backend;
    if kind == BackendKind::Sim {
        eprintln!(
            "snp-agent: using the SIMULATED SEV-SNP platform ({}): this evidence proves nothing about real hardware",
            a.backend.sim_product
        );
    }
    let Some(prepared) = super::sim_flags::prepare(&a.backend)? else {
        return Ok(exit_code::SUCCESS); // --sim-fault help
    };
    let mut b = prepared
        .open()
        .map_err(|e| CliError::new(exit_code::BACKEND_FAILED, e.to_string()))?;
    let used = b.kind();
    tracing::info!(backend = %used, vmpl = a.backend.vmpl, "requesting an extended report");
    let ext = b
        .get_ext_report(&ReportRequest {
            report_data,
            vmpl: a.backend.vmpl,
        })
        .map_err(|e| CliError::new(exit_code::BACKEND_FAILED, e.to_string()))?;
    let ev = Evidence::from_extended(ext, used.as_str());
    if ev.cert_table.is_empty() {
        eprintln!("snp-agent: the host served no certificates");
    }

    if !a.no_verify {
        let roots = if used == BackendKind::Sim {
            Roots::Simulator
        } else {
            Roots::Amd
        };
        let appraisal = appraise(
            &ev,
            &Request {
                roots,
                kds: &a.kds,
                product: None,
                at: None,
                crl: None,
                require_crl: false,
                fetch_crl: false,
                policy: &policy,
                expected: &expected,
            },
        )?;
        if !appraisal.affirmed() {
            eprint!(
                "{}",
                render::appraisal_text(&appraisal, "the report just obtained")
            );
            return Err(CliError::new(
                appraisal.exit_code(),
                "the report did not pass verification; no evidence written (use --no-verify to write it anyway)",
            ));
        }
        eprintln!(
            "snp-agent: report verified ({} from {}, roots: {})",
            appraisal
                .verification
                .result
                .as_ref()
                .map(|v| v.cert_kind().to_string())
                .unwrap_or_default(),
            appraisal.vek_source,
            roots.label()
        );
    } else {
        eprintln!("snp-agent: --no-verify: writing evidence that was NOT verified");
    }

    let write_err = |e: snp_agent::evidence::EvidenceError| {
        let code = match e {
            snp_agent::evidence::EvidenceError::Io { .. } => exit_code::OTHER,
            _ => exit_code::EVIDENCE_INVALID,
        };
        CliError::new(code, format!("cannot write {} evidence: {e}", a.format))
    };
    match &a.out {
        Some(path) => {
            ev.write_path(path, a.format).map_err(write_err)?;
            eprintln!(
                "snp-agent: wrote {} evidence to {}",
                a.format,
                path.display()
            );
        }
        None => stdout_write(&ev.to_bytes(a.format).map_err(write_err)?)?,
    }
    Ok(exit_code::SUCCESS)
}
