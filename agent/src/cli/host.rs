//! `snp-agent host blob build|show|install|fetch`: for operators on the host.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use snp_agent::exit_code;
use snp_agent::host::{self, BlobInputs, HostError};
use snp_agent::kds::Kds;
use snp_certs::blob::LockKind;
use snp_certs::kds::{Endorser, HwId};
use snp_certs::product::Product;
use snp_certs::tcb::Tcb;

use super::appraise::Roots;
use super::{args, stdout_write, CliError, CliResult, KdsArgs, OutputFormat};

pub const AFTER_HELP: &str = "\
The blob is what the VMM serves guests (QEMU certs-filename): a GHCB certificate table with the
entries in the order ARK, ASK (or ASVK), VCEK, VLEK, CRL, padded to whole 4 KiB pages.

Locking: `install` replaces the file atomically while holding BOTH an OFD write lock and an
exclusive flock, so readers of either kind (QEMU takes OFD locks; some tools flock) never see a
torn or half-updated blob. `show --lock ofd|flock` reads an installed blob under a shared lock of
that kind (default ofd).

Examples:
  snp-agent host blob build --ark ark.pem --ask ask.pem --vcek vcek.der -o /tmp/certs.bin
  snp-agent host blob show /tmp/certs.bin
  snp-agent host blob install /tmp/certs.bin --path /var/lib/qemu/certs.bin
  snp-agent host blob fetch --product genoa --chip-id HEX --tcb bl=9,tee=0,snp=23,ucode=72 -o certs.bin";

#[derive(Args, Debug)]
pub struct HostArgs {
    #[command(subcommand)]
    pub command: HostCommand,
}

#[derive(Subcommand, Debug)]
pub enum HostCommand {
    /// The certificate blob the VMM serves guests.
    #[command(subcommand)]
    Blob(BlobCommand),
}

#[derive(Subcommand, Debug)]
pub enum BlobCommand {
    /// Build a blob from certificate files (PEM or DER).
    Build(BuildArgs),
    /// List a blob's entries, which chip and TCB its VCEK is for, and whether it chains to
    /// AMD's pinned roots.
    Show(ShowArgs),
    /// Install a blob atomically under the exclusive locks (OFD and flock).
    Install(InstallArgs),
    /// Fetch this chip's VCEK and its CA chain from AMD KDS into a blob.
    Fetch(FetchArgs),
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The VCEK.
    #[arg(long, value_name = "FILE", required_unless_present = "vlek")]
    pub vcek: Option<PathBuf>,
    /// The VLEK (cloud providers).
    #[arg(long, value_name = "FILE")]
    pub vlek: Option<PathBuf>,
    /// The ASK (or the ASVK for a VLEK).
    #[arg(long, value_name = "FILE")]
    pub ask: Option<PathBuf>,
    /// The ARK.
    #[arg(long, value_name = "FILE")]
    pub ark: Option<PathBuf>,
    /// A CRL (DER) to serve too.
    #[arg(long, value_name = "FILE")]
    pub crl: Option<PathBuf>,
    /// Where to write the blob.
    #[arg(short, long, value_name = "BLOB")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The blob file.
    #[arg(value_name = "BLOB")]
    pub blob: PathBuf,
    /// Shared lock taken while reading: ofd (QEMU's kind) or flock.
    #[arg(long, default_value = "ofd", value_name = "ofd|flock")]
    pub lock: LockKind,
    /// How long to wait for an update in progress (seconds).
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Check the chain against the simulator's roots instead of AMD's.
    #[arg(long)]
    pub sim_roots: bool,
    /// Output: text or json.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// The blob to install (checked to be a valid table first).
    #[arg(value_name = "BLOB")]
    pub blob: PathBuf,
    /// The file the VMM serves (created if absent).
    #[arg(long, value_name = "PATH")]
    pub path: PathBuf,
    /// How long to wait for readers holding the lock (seconds).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub lock_timeout: u64,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Product line: milan, genoa, turin.
    #[arg(long, value_parser = args::product, value_name = "PRODUCT")]
    pub product: Product,
    /// The chip ID (hex; 64 bytes, or 8 on Turin), e.g. from `snpguest` or the report.
    #[arg(long, value_name = "HEX")]
    pub chip_id: String,
    /// The TCB: `bl=N,tee=N,snp=N,ucode=N[,fmc=N]`, or the TCB_VERSION as a hex u64 (0x…).
    #[arg(long, value_name = "TCB")]
    pub tcb: String,
    /// Where to write the blob.
    #[arg(short, long, value_name = "BLOB")]
    pub out: PathBuf,
    #[command(flatten)]
    pub kds: KdsArgs,
}

fn host_err(e: HostError) -> CliError {
    let code = match e {
        HostError::Read { .. } | HostError::Blob(_) => exit_code::OTHER,
        HostError::Table(_) => exit_code::EVIDENCE_INVALID,
        _ => exit_code::USAGE,
    };
    CliError::new(code, e.to_string())
}

fn write_out(path: &PathBuf, blob: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, blob).map_err(|e| {
        CliError::new(
            exit_code::OTHER,
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    eprintln!(
        "snp-agent: wrote a {}-byte certificate blob to {}",
        blob.len(),
        path.display()
    );
    Ok(())
}

pub fn run(a: HostArgs) -> CliResult {
    let HostCommand::Blob(cmd) = a.command;
    match cmd {
        BlobCommand::Build(b) => build(b),
        BlobCommand::Show(s) => show(s),
        BlobCommand::Install(i) => install(i),
        BlobCommand::Fetch(f) => fetch(f),
    }
}

fn build(a: BuildArgs) -> CliResult {
    let read = |what, p: &Option<PathBuf>| {
        p.as_deref()
            .map(|p| host::read_cert_file(what, p))
            .transpose()
    };
    let inputs = BlobInputs {
        ark: read("ARK", &a.ark).map_err(host_err)?,
        ask: read("ASK", &a.ask).map_err(host_err)?,
        vcek: read("VCEK", &a.vcek).map_err(host_err)?,
        vlek: read("VLEK", &a.vlek).map_err(host_err)?,
        crl: match &a.crl {
            Some(p) => Some(std::fs::read(p).map_err(|e| {
                CliError::new(
                    exit_code::OTHER,
                    format!("cannot read CRL {}: {e}", p.display()),
                )
            })?),
            None => None,
        },
    };
    let blob = host::build_blob(&inputs).map_err(host_err)?;
    write_out(&a.out, &blob)?;
    Ok(exit_code::SUCCESS)
}

fn show(a: ShowArgs) -> CliResult {
    let blob = host::read_locked(&a.blob, a.lock, Duration::from_secs(a.lock_timeout))
        .map_err(host_err)?;
    let roots = if a.sim_roots {
        Roots::Simulator
    } else {
        Roots::Amd
    };
    let info = host::describe(&blob, &roots.anchors(None)?).map_err(host_err)?;
    let out = match a.format {
        OutputFormat::Json => {
            serde_json::to_string_pretty(&info)
                .map_err(|e| CliError::new(exit_code::OTHER, e.to_string()))?
                + "\n"
        }
        OutputFormat::Text => {
            let mut s = format!(
                "{}: {} bytes ({} used), {} entries\n",
                a.blob.display(),
                info.size,
                info.used,
                info.entries.len()
            );
            for e in &info.entries {
                s.push_str(&format!(
                    "  {:<8} {}  offset {:>6}  {:>6} bytes\n",
                    e.kind, e.guid, e.offset, e.length
                ));
            }
            if let Some(v) = &info.vek {
                s.push_str(&format!(
                    "{} for {} at TCB {}{}{}\n",
                    v.kind,
                    v.product.as_deref().unwrap_or("?"),
                    v.tcb.as_deref().unwrap_or("?"),
                    v.hw_id
                        .as_deref()
                        .map(|h| format!(", chip (hwID) {h}"))
                        .unwrap_or_default(),
                    v.csp_id
                        .as_deref()
                        .map(|c| format!(", CSP {c}"))
                        .unwrap_or_default(),
                ));
                if let Some(e) = &v.error {
                    s.push_str(&format!("  problem: {e}\n"));
                }
            }
            s.push_str(&format!(
                "chain: {} ({})\n",
                if info.chain_verifies {
                    "verifies"
                } else {
                    "DOES NOT VERIFY"
                },
                info.chain_detail
            ));
            s
        }
    };
    stdout_write(out.as_bytes())?;
    Ok(if info.chain_verifies {
        exit_code::SUCCESS
    } else {
        exit_code::VERIFICATION_FAILED
    })
}

fn install(a: InstallArgs) -> CliResult {
    let blob = std::fs::read(&a.blob).map_err(|e| {
        CliError::new(
            exit_code::OTHER,
            format!("cannot read {}: {e}", a.blob.display()),
        )
    })?;
    host::install(&blob, &a.path, Duration::from_secs(a.lock_timeout)).map_err(host_err)?;
    eprintln!(
        "snp-agent: installed {} ({} bytes) at {} under the exclusive OFD and flock locks",
        a.blob.display(),
        blob.len(),
        a.path.display()
    );
    Ok(exit_code::SUCCESS)
}

/// `bl=N,tee=N,snp=N,ucode=N[,fmc=N]` or a hex TCB_VERSION.
fn parse_tcb(s: &str, product: Product) -> Result<Tcb, String> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        let v = u64::from_str_radix(hex, 16).map_err(|e| format!("TCB {s:?}: {e}"))?;
        return Tcb::decode(v.to_le_bytes(), product).map_err(|e| e.to_string());
    }
    let mut t = Tcb::default();
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("TCB part {part:?}: expected NAME=VALUE"))?;
        let v: u8 = v
            .trim()
            .parse()
            .map_err(|e| format!("TCB {k}: {v:?}: {e}"))?;
        match k.trim() {
            "bl" => t.bl = v,
            "tee" => t.tee = v,
            "snp" => t.snp = v,
            "ucode" | "microcode" => t.microcode = v,
            "fmc" => t.fmc = Some(v),
            other => {
                return Err(format!(
                    "unknown TCB field {other:?}: bl, tee, snp, ucode, fmc"
                ))
            }
        }
    }
    if product.has_fmc() != t.fmc.is_some() {
        return Err(format!(
            "{product} TCBs {} an fmc level",
            if product.has_fmc() { "need" } else { "have no" }
        ));
    }
    Ok(t)
}

fn fetch(a: FetchArgs) -> CliResult {
    let usage = |m: String| CliError::new(exit_code::USAGE, m);
    let tcb = parse_tcb(&a.tcb, a.product).map_err(usage)?;
    let bytes =
        hex::decode(a.chip_id.trim()).map_err(|e| usage(format!("--chip-id: not hex: {e}")))?;
    let mut chip = [0u8; 64];
    if bytes.is_empty() || bytes.len() > chip.len() {
        return Err(usage(format!(
            "--chip-id: {} bytes; expected 64 (8 on Turin)",
            bytes.len()
        )));
    }
    chip[..bytes.len()].copy_from_slice(&bytes);
    let hwid = HwId::from_chip_id(a.product, &chip).map_err(|e| usage(e.to_string()))?;
    let kds = Kds::from_options(a.kds.options())
        .map_err(|e| CliError::new(exit_code::CERTIFICATE_UNAVAILABLE, e.to_string()))?;
    let kds_err = |e: snp_agent::kds::KdsError| {
        CliError::new(exit_code::CERTIFICATE_UNAVAILABLE, e.to_string())
    };
    let vcek = kds.vcek_for(&hwid, &tcb).map_err(kds_err)?;
    let chain = kds.ca_chain(a.product, Endorser::Vcek).map_err(kds_err)?;
    let blob = host::build_blob(&BlobInputs {
        ark: Some(chain.ark_der),
        ask: Some(chain.intermediate_der),
        vcek: Some(vcek.der),
        ..BlobInputs::default()
    })
    .map_err(host_err)?;
    write_out(&a.out, &blob)?;
    Ok(exit_code::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcb_forms() {
        let t = parse_tcb("bl=3,tee=0,snp=8,ucode=115", Product::Milan).unwrap();
        assert_eq!(t, Tcb::new(3, 0, 8, 115));
        let hex = format!("{:#x}", t.to_u64(Product::Milan));
        assert_eq!(parse_tcb(&hex, Product::Milan).unwrap(), t);
        assert!(parse_tcb("bl=3,tee=0,snp=8,ucode=115", Product::Turin).is_err());
        assert!(parse_tcb("bl=300", Product::Milan).is_err());
        assert!(parse_tcb("x=1", Product::Milan).is_err());
    }

    proptest::proptest! {
        #[test]
        fn tcb_parser_never_panics(s in ".{0,64}") {
            for p in Product::ALL {
                let _ = parse_tcb(&s, p);
            }
        }
    }
}
