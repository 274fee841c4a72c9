//! `snp-agent convert`: evidence from any form into any other.

use std::path::PathBuf;

use clap::Args;
use snp_agent::convert::{self, ConvertError};
use snp_agent::evidence::Format;
use snp_agent::exit_code;

use super::{args, stdout_write, CliError, CliResult, EvidenceIn};

pub const AFTER_HELP: &str = "\
The report bytes are kept exactly; the certificate table is kept byte for byte by json, bin and
cmw, entry by entry (in the host's order) by coco, and as one file per certificate by
snpguest-dir. A conversion that would change anything the target can carry is refused (exit 6)
instead of writing different evidence; nothing is verified here (use `snp-agent verify`).

Examples:
  snp-agent convert evidence.json --format coco > evidence.coco.json   # for Trustee
  snp-agent convert evidence.bin --format cmw --out evidence.cmw.json  # for Veraison / ratsd
  snp-agent convert ./snpguest-out --format json --out evidence.json
  snp-agent convert evidence.json --format snpguest-dir --out ./certs-dir";

#[derive(Args, Debug)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub input: EvidenceIn,
    /// The form to write: json, bin, snpguest-dir, coco, cmw.
    #[arg(long, value_parser = args::format, value_name = "FORMAT")]
    pub format: Format,
    /// Where to write (a directory for snpguest-dir); stdout if absent.
    #[arg(long, short, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

pub fn run(a: ConvertArgs) -> CliResult {
    if a.format == Format::SnpguestDir && a.out.is_none() {
        return Err(CliError::new(
            exit_code::USAGE,
            "--format snpguest-dir writes a directory: give --out DIR",
        ));
    }
    let (ev, from) = a.input.read()?;
    let fail = |e: ConvertError| {
        let code = match &e {
            ConvertError::Write {
                source: snp_agent::evidence::EvidenceError::Io { .. },
                ..
            } => exit_code::OTHER,
            _ => exit_code::EVIDENCE_INVALID,
        };
        CliError::new(
            code,
            format!(
                "cannot convert {} ({from}): {e}",
                a.input.evidence.display()
            ),
        )
    };
    match &a.out {
        Some(path) => {
            convert::write_path(&ev, a.format, path).map_err(fail)?;
            eprintln!(
                "snp-agent: wrote {} evidence to {} (from {from})",
                a.format,
                path.display()
            );
        }
        None => stdout_write(&convert::to_bytes(&ev, a.format).map_err(fail)?)?,
    }
    Ok(exit_code::SUCCESS)
}
