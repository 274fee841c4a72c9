//! `snp-agent show`: a report for people. Nothing here is verified — `show` displays what the
//! bytes say, including reports that would not verify, and says so.

use std::fmt::Write as _;

use clap::Args;
use snp_agent::evidence::view::{product_hint, ReportSummary};
use snp_agent::exit_code;
use snp_agent::policy::bits;
use snp_certs::product::Product;
use snp_certs::report::ReportView;
use snp_certs::tcb::Tcb;

use super::{args, stdout_write, CliError, CliResult, EvidenceIn, OutputFormat};

pub const AFTER_HELP: &str = "\
Shows any evidence format, or a bare 1184-byte report. The output is NOT a verification:
use `snp-agent verify` for that.

Examples:
  snp-agent show evidence.json
  snp-agent show attestation-report.bin --product milan   # v2 reports do not name the product
  snp-agent show evidence.bin --format json | jq .reported_tcb";

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub input: EvidenceIn,
    /// Decode TCBs for this product (v2 reports carry no CPUID; default: from the report).
    #[arg(long, value_parser = args::product, value_name = "PRODUCT")]
    pub product: Option<Product>,
    /// Output: text or json.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

fn tcb_lines(out: &mut String, label: &str, raw: [u8; 8], product: Option<Product>) {
    let _ = write!(out, "{label:<16}{}", hex::encode(raw));
    let decode = |p: Product| {
        let t = Tcb::decode_lenient(raw, p);
        let warn = if Tcb::decode(raw, p).is_err() {
            " (reserved bytes non-zero!)"
        } else {
            ""
        };
        format!("{t}{warn}")
    };
    match product {
        Some(p) => {
            let _ = writeln!(out, "  {p}: {}", decode(p));
        }
        None => {
            let _ = writeln!(
                out,
                "\n{:<16}  as Milan/Genoa: {}\n{:<16}  as Turin:       {}",
                "",
                decode(Product::Milan),
                "",
                decode(Product::Turin)
            );
        }
    }
}

fn flags(out: &mut String, label: &str, word: u64, table: &[bits::NamedBit]) {
    let _ = writeln!(out, "{label:<16}{word:#x}");
    for b in table {
        let _ = writeln!(
            out,
            "{:<16}  [{}] {:<26} {}",
            "",
            if b.is_set(word) { "x" } else { " " },
            b.name,
            b.meaning
        );
    }
}

/// The text rendering.
pub fn report_text(v: &ReportView<'_>, product: Option<Product>) -> String {
    let mut s = String::new();
    let cpu = v
        .cpuid()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "not in v2 reports".into());
    let _ = writeln!(s, "{:<16}{}", "version", v.version());
    let _ = writeln!(
        s,
        "{:<16}{}",
        "product",
        product.map_or("unknown (v2 report: use --product)".to_string(), |p| p
            .to_string())
    );
    let _ = writeln!(s, "{:<16}{cpu}", "cpuid");
    let _ = writeln!(s, "{:<16}{}", "guest_svn", v.guest_svn());
    let policy = v.policy();
    flags(&mut s, "policy", policy, &bits::GUEST_POLICY);
    let _ = writeln!(
        s,
        "{:<16}  minimum ABI {}.{}; reserved bit 17 {}",
        "",
        bits::policy_abi_major(policy),
        bits::policy_abi_minor(policy),
        if policy & (1 << bits::GUEST_POLICY_RESERVED_ONE) != 0 {
            "set (as required)"
        } else {
            "CLEAR (firmware requires it set)"
        }
    );
    let _ = writeln!(s, "{:<16}{}", "vmpl", v.vmpl());
    let _ = writeln!(
        s,
        "{:<16}{}{}",
        "signature_algo",
        v.signature_algo(),
        if v.signature_algo() == 1 {
            " (ECDSA P-384 SHA-384)"
        } else {
            " (unknown)"
        }
    );
    let _ = writeln!(
        s,
        "{:<16}{} (author_key_en {}, mask_chip_key {})",
        "signer",
        v.signing_key(),
        v.author_key_en(),
        v.mask_chip_key()
    );
    flags(
        &mut s,
        "platform_info",
        v.platform_info(),
        &bits::PLATFORM_INFO,
    );
    tcb_lines(&mut s, "current_tcb", v.current_tcb_raw(), product);
    tcb_lines(&mut s, "reported_tcb", v.reported_tcb_raw(), product);
    tcb_lines(&mut s, "committed_tcb", v.committed_tcb_raw(), product);
    tcb_lines(&mut s, "launch_tcb", v.launch_tcb_raw(), product);
    let _ = writeln!(
        s,
        "{:<16}current {}, committed {}",
        "firmware",
        v.current_version(),
        v.committed_version()
    );
    let mit = |x: Option<u64>| x.map_or("not in this report version".into(), |x| format!("{x:#x}"));
    let _ = writeln!(s, "{:<16}{}", "launch_mit_vec", mit(v.launch_mit_vector()));
    let _ = writeln!(
        s,
        "{:<16}{}",
        "current_mit_vec",
        mit(v.current_mit_vector())
    );
    for (name, bytes) in [
        ("report_data", &v.report_data()[..]),
        ("measurement", &v.measurement()[..]),
        ("host_data", &v.host_data()[..]),
        ("family_id", &v.family_id()[..]),
        ("image_id", &v.image_id()[..]),
        ("id_key_digest", &v.id_key_digest()[..]),
        ("author_key_dig", &v.author_key_digest()[..]),
        ("report_id", &v.report_id()[..]),
        ("report_id_ma", &v.report_id_ma()[..]),
    ] {
        let _ = writeln!(s, "{name:<16}{}", hex::encode(bytes));
    }
    let _ = writeln!(
        s,
        "{:<16}{}",
        "chip_id",
        if v.chip_id_masked() {
            "masked (all zero)".to_string()
        } else {
            hex::encode(v.chip_id())
        }
    );
    s
}

pub fn run(a: ShowArgs) -> CliResult {
    let (ev, format) = a.input.read()?;
    let view = ReportView::new(&ev.report)
        .map_err(|e| CliError::new(exit_code::EVIDENCE_INVALID, e.to_string()))?;
    let product = a.product.or_else(|| product_hint(&view));
    match a.format {
        OutputFormat::Text => {
            let mut s = format!(
                "# {} ({format}) — displayed, NOT verified\n",
                a.input.evidence.display()
            );
            s.push_str(&report_text(&view, product));
            stdout_write(s.as_bytes())?;
        }
        OutputFormat::Json => {
            let mut out = serde_json::to_vec_pretty(&ReportSummary::new(&view, product))
                .map_err(|e| CliError::new(exit_code::OTHER, e.to_string()))?;
            out.push(b'\n');
            stdout_write(&out)?;
        }
    }
    Ok(exit_code::SUCCESS)
}
