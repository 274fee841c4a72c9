//! `snp-agent fetch`: put KDS certificates into the cache (the air-gapped store) and optionally
//! a directory in snpguest's layout. Everything fetched is verified before it is stored.

use std::path::PathBuf;

use clap::Args;
use snp_agent::exit_code;
use snp_agent::kds::{Kds, KdsOptions};
use snp_certs::kds::Endorser;
use snp_certs::product::Product;
use snp_certs::report::ReportView;

use super::{args, stdout_write, CliError, CliResult, KdsArgs};

pub const AFTER_HELP: &str = "\
With EVIDENCE: the VCEK for its report (chip ID and REPORTED_TCB) and its product's CA chain.
Without: the CA chain of --product. --crl adds the CRL. --out DIR also writes ark.pem,
ask.pem|asvk.pem, vcek.pem and crl.der there (snpguest's names). --import DIR loads an
snpguest certificate directory into the cache instead (verified first).

Examples:
  snp-agent fetch evidence.json                       # VCEK + chain into the cache
  snp-agent fetch --product milan --crl --out ./certs
  snp-agent fetch --product genoa --endorser vlek
  snp-agent fetch --import ./certs --cache-dir /srv/amd-certs";

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Evidence whose report names the chip and TCB (any format; optional).
    #[arg(value_name = "EVIDENCE", conflicts_with = "import")]
    pub evidence: Option<PathBuf>,
    /// Evidence format instead of detecting it.
    #[arg(long, value_parser = args::format, value_name = "FORMAT", requires = "evidence")]
    pub in_format: Option<snp_agent::evidence::Format>,
    /// Product line (needed without EVIDENCE, and for v2 reports).
    #[arg(long, value_parser = args::product, value_name = "PRODUCT")]
    pub product: Option<Product>,
    /// Which chain: vcek (ARK, ASK) or vlek (ARK, ASVK).
    #[arg(long, value_enum, default_value_t = EndorserArg::Vcek)]
    pub endorser: EndorserArg,
    /// Also fetch the CRL.
    #[arg(long)]
    pub crl: bool,
    /// Also write the certificates to this directory (snpguest names).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Import an snpguest certificate directory into the cache instead of fetching.
    #[arg(long, value_name = "DIR")]
    pub import: Option<PathBuf>,
    #[command(flatten)]
    pub kds: KdsArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndorserArg {
    Vcek,
    Vlek,
}

fn pem(der: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s.into_bytes()
}

fn kds_err(e: snp_agent::kds::KdsError) -> CliError {
    CliError::new(exit_code::CERTIFICATE_UNAVAILABLE, e.to_string())
}

pub fn run(a: FetchArgs) -> CliResult {
    let progress: snp_agent::kds::ProgressFn = std::sync::Arc::new(|p| eprintln!("snp-agent: {p}"));
    let kds = Kds::from_options(KdsOptions {
        progress: Some(progress),
        ..a.kds.options()
    })
    .map_err(kds_err)?;
    let mut lines = Vec::new();

    if let Some(dir) = &a.import {
        let r = kds.import_snpguest_dir(dir).map_err(kds_err)?;
        for p in &r.stored {
            lines.push(format!("stored {}", p.display()));
        }
        for (p, why) in &r.skipped {
            lines.push(format!("skipped {}: {why}", p.display()));
        }
        stdout_write((lines.join("\n") + "\n").as_bytes())?;
        return Ok(exit_code::SUCCESS);
    }

    let endorser = match a.endorser {
        EndorserArg::Vcek => Endorser::Vcek,
        EndorserArg::Vlek => Endorser::Vlek,
    };
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let product = match &a.evidence {
        Some(path) => {
            let (ev, _) = snp_agent::evidence::Evidence::read_path(path, a.in_format)
                .map_err(|e| CliError::new(exit_code::EVIDENCE_INVALID, e.to_string()))?;
            let view = ReportView::new(&ev.report)
                .map_err(|e| CliError::new(exit_code::EVIDENCE_INVALID, e.to_string()))?;
            let vcek = kds.vcek_for_report(&view, a.product).map_err(kds_err)?;
            lines.push(format!("VCEK ({}): {}", vcek.tcb, vcek.source));
            files.push(("vcek.pem".into(), pem(&vcek.der)));
            vcek.hwid.product()
        }
        None => a.product.ok_or_else(|| {
            CliError::new(
                exit_code::USAGE,
                "give EVIDENCE (to fetch its VCEK) or --product (to fetch a CA chain)",
            )
        })?,
    };
    let chain = kds.ca_chain(product, endorser).map_err(kds_err)?;
    lines.push(format!("{product} {endorser} cert_chain: {}", chain.source));
    files.push(("ark.pem".into(), pem(&chain.ark_der)));
    files.push((
        match endorser {
            Endorser::Vcek => "ask.pem".into(),
            Endorser::Vlek => "asvk.pem".into(),
        },
        pem(&chain.intermediate_der),
    ));
    if a.crl {
        let crl = kds
            .crl(product, endorser)
            .map_err(|e| CliError::new(exit_code::CRL_FAILED, e.to_string()))?;
        lines.push(format!("{product} {endorser} CRL: {}", crl.source));
        files.push(("crl.der".into(), crl.der));
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::new(exit_code::OTHER, format!("{}: {e}", dir.display())))?;
        for (name, bytes) in &files {
            let p = dir.join(name);
            // Atomic and link-safe (random O_EXCL temp name, then rename): `fetch` often runs
            // as root into a shared directory, where a planted link must not be written through.
            snp_agent::evidence::write_atomic(&p, bytes)
                .map_err(|e| CliError::new(exit_code::OTHER, format!("{}: {e}", p.display())))?;
            lines.push(format!("wrote {}", p.display()));
        }
    }
    lines.push(format!("cache: {}", kds.cache().root().display()));
    stdout_write((lines.join("\n") + "\n").as_bytes())?;
    Ok(exit_code::SUCCESS)
}
