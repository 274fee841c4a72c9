//! `snp-agent certs`: exactly what the host served, in the host's order, each entry identified.
//! Certificates are parsed for display only; nothing here is trusted or verified.

use clap::Args;
use serde_json::{json, Value};
use snp_agent::exit_code;
use snp_certs::chain::{fmt_time, AmdCert};
use snp_certs::table::{CertTable, Entry, EntryKind};

use super::{stdout_write, CliError, CliResult, EvidenceIn, OutputFormat};

pub const AFTER_HELP: &str = "\
Examples:
  snp-agent certs evidence.json
  snp-agent certs evidence.bin --format json";

#[derive(Args, Debug)]
pub struct CertsArgs {
    #[command(flatten)]
    pub input: EvidenceIn,
    /// Output: text or json.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// What one entry holds.
fn describe(e: &Entry<'_>) -> Value {
    let mut v = json!({
        "kind": e.kind.name(),
        "guid": e.guid.to_string(),
        "offset": e.offset,
        "length": e.bytes.len(),
        "encoding": if e.is_pem() { "PEM" } else if e.bytes.first() == Some(&0x30) { "DER" } else { "other" },
    });
    if matches!(e.kind, EntryKind::Unknown(_) | EntryKind::Crl) {
        return v;
    }
    let parsed = e
        .der()
        .map_err(|err| err.to_string())
        .and_then(|der| AmdCert::from_der(e.kind.name(), &der).map_err(|err| err.to_string()));
    match parsed {
        Ok(c) => {
            let x = c.amd_extensions();
            v["subject_cn"] = json!(c.common_name());
            v["serial"] = json!(c.serial_hex());
            v["not_before"] = json!(fmt_time(c.not_before()));
            v["not_after"] = json!(fmt_time(c.not_after()));
            if matches!(e.kind, EntryKind::Vcek | EntryKind::Vlek) {
                v["product_name"] = json!(x.product_name);
                v["spl"] = json!({
                    "fmc": x.fmc_spl, "bl": x.bl_spl, "tee": x.tee_spl,
                    "snp": x.snp_spl, "microcode": x.ucode_spl,
                });
                v["hw_id"] = json!(x.hw_id.as_deref().map(hex::encode));
                v["csp_id"] = json!(x.csp_id);
            }
        }
        Err(err) => v["parse_error"] = json!(err),
    }
    v
}

fn text(entries: &[Value], table_len: usize, used: usize) -> String {
    let mut s = format!(
        "certificate table: {table_len} bytes ({used} used), {} entr{}, in the host's order\n",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    );
    for (i, e) in entries.iter().enumerate() {
        s.push_str(&format!(
            "[{i}] {:<7} {} offset {} length {} {}\n",
            e["kind"].as_str().unwrap_or("?"),
            e["guid"].as_str().unwrap_or("?"),
            e["offset"],
            e["length"],
            e["encoding"].as_str().unwrap_or("?"),
        ));
        if let Some(cn) = e["subject_cn"].as_str() {
            s.push_str(&format!(
                "      subject CN {cn}, serial {}, valid {} .. {}\n",
                e["serial"].as_str().unwrap_or("?"),
                e["not_before"].as_str().unwrap_or("?"),
                e["not_after"].as_str().unwrap_or("?"),
            ));
        }
        if let Some(p) = e["product_name"].as_str() {
            let spl = &e["spl"];
            let mut levels: Vec<String> = Vec::new();
            for k in ["fmc", "bl", "tee", "snp", "microcode"] {
                if let Some(n) = spl[k].as_u64() {
                    levels.push(format!("{k}={n}"));
                }
            }
            s.push_str(&format!("      product {p}, TCB {}\n", levels.join(" ")));
        }
        if let Some(h) = e["hw_id"].as_str() {
            s.push_str(&format!("      hwID {h}\n"));
        }
        if let Some(c) = e["csp_id"].as_str() {
            s.push_str(&format!("      cspId {c}\n"));
        }
        if let Some(err) = e["parse_error"].as_str() {
            s.push_str(&format!("      NOT PARSABLE: {err}\n"));
        }
    }
    s
}

pub fn run(a: CertsArgs) -> CliResult {
    let (ev, _) = a.input.read()?;
    let (entries, used) = if ev.cert_table.is_empty() {
        (Vec::new(), 0)
    } else {
        let table = CertTable::parse(&ev.cert_table).map_err(|e| {
            CliError::new(
                exit_code::EVIDENCE_INVALID,
                format!("the host's certificate table does not parse: {e}"),
            )
        })?;
        (
            table.entries().iter().map(describe).collect(),
            table.used_len(),
        )
    };
    match a.format {
        OutputFormat::Text => {
            let s = if ev.cert_table.is_empty() {
                "the host served no certificate table\n".to_string()
            } else {
                text(&entries, ev.cert_table.len(), used)
            };
            stdout_write(s.as_bytes())?;
        }
        OutputFormat::Json => {
            let v = json!({
                "table_length": ev.cert_table.len(),
                "used_length": used,
                "entries": entries,
            });
            let mut out = serde_json::to_vec_pretty(&v)
                .map_err(|e| CliError::new(exit_code::OTHER, e.to_string()))?;
            out.push(b'\n');
            stdout_write(&out)?;
        }
    }
    Ok(exit_code::SUCCESS)
}
