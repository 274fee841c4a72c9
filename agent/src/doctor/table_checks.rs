//! The doctor's checks of one answer: the served table against the report and the anchors.

use snp_certs::chain::AmdCert;
use snp_certs::product::Product;
use snp_certs::report::{ReportView, SigningKey};
use snp_certs::roots::TrustAnchors;
use snp_certs::table::{CertTable, EntryKind, TableError};
use snp_certs::verify::{Endorsements, Verifier};

use super::{Builder, DoctorOptions, Status, LINUX_MAX_CERTS, REMEDY_BLOB, REMEDY_LOCK};
use crate::backend::ExtendedReport;

const DEPENDENT: &[&str] = &[
    "table-format",
    "table-duplicates",
    "signer-kind",
    "vek-chip",
    "vek-tcb",
    "ca-chain",
    "chain-verifies",
];

fn skip_rest(b: &mut Builder, why: &str) {
    for id in DEPENDENT {
        if !b.has(id) {
            b.skip(id, format!("not checked: {why}"));
        }
    }
}

/// Which anchor (product, role) a served CA certificate is, by public key.
fn whose(der: &[u8], anchors: &TrustAnchors) -> Option<(Product, &'static str)> {
    let cert = AmdCert::from_der("CA", der).ok()?;
    let key = cert.spki_der();
    for set in anchors.sets() {
        if set.ark().spki_der() == key {
            return Some((set.product(), "ARK"));
        }
        if set.ask().is_some_and(|c| c.spki_der() == key) {
            return Some((set.product(), "ASK"));
        }
        if set.asvk().is_some_and(|c| c.spki_der() == key) {
            return Some((set.product(), "ASVK"));
        }
    }
    None
}

pub(super) fn judge_answer(b: &mut Builder, ext: &ExtendedReport, opts: &DoctorOptions) {
    let bytes = &ext.cert_table;
    if bytes.is_empty() {
        b.put(
            "certs-served",
            Status::Warn,
            "the host served no certificates: every verifier must fetch the VCEK from AMD KDS (network access, rate limits), and a VLEK cannot be fetched at all",
            Some("configure the VMM's certificate file (QEMU certs-filename) with a blob from `snp-agent host blob build` or `host blob fetch`"),
        );
        if !b.has("blob-size") {
            b.pass("blob-size", "nothing served");
        }
        skip_rest(b, "no certificates served");
        return;
    }
    if bytes.len() > LINUX_MAX_CERTS {
        b.put(
            "blob-size",
            Status::Fail,
            format!(
                "the served table is {} bytes, more than the {LINUX_MAX_CERTS} a Linux guest driver passes: guests using /dev/sev-guest or configfs-tsm get no report",
                bytes.len()
            ),
            Some("serve only VCEK or VLEK, ASK and ARK (no CRL, no extra entries): that fits in well under 16 KiB"),
        );
    } else if !b.has("blob-size") {
        b.pass(
            "blob-size",
            format!("{} bytes (at most {LINUX_MAX_CERTS})", bytes.len()),
        );
    }
    let table = match CertTable::parse(bytes) {
        Ok(t) => t,
        Err(e @ TableError::DuplicateKnown { .. }) => {
            b.pass("certs-served", format!("{} bytes served", bytes.len()));
            b.put(
                "table-duplicates",
                Status::Fail,
                format!("duplicate entries: {e}"),
                Some(REMEDY_BLOB),
            );
            skip_rest(b, "the table has duplicate entries");
            return;
        }
        Err(e) => {
            b.pass("certs-served", format!("{} bytes served", bytes.len()));
            b.put(
                "table-format",
                Status::Fail,
                format!("malformed certificate table: {e}"),
                Some(REMEDY_BLOB),
            );
            skip_rest(b, "the table is malformed");
            return;
        }
    };
    let kinds: Vec<&str> = table.entries().iter().map(|e| e.kind.name()).collect();
    if table.is_empty() {
        b.put(
            "certs-served",
            Status::Warn,
            "the host served an empty certificate table: every verifier must fetch the VCEK from AMD KDS, and a VLEK cannot be fetched at all",
            Some("configure the VMM's certificate file (QEMU certs-filename) with a blob from `snp-agent host blob build` or `host blob fetch`"),
        );
        b.pass("table-format", "well-formed (no entries)");
        b.pass("table-duplicates", "no entries");
        skip_rest(b, "no certificates served");
        return;
    }
    b.pass(
        "certs-served",
        format!("{} entries served: {}", kinds.len(), kinds.join(", ")),
    );
    b.pass("table-format", "well-formed GHCB certificate table");
    b.pass("table-duplicates", "each kind appears once");

    let view = match ReportView::new(&ext.report) {
        Ok(v) => v,
        Err(e) => {
            skip_rest(b, &format!("the report cannot be read ({e})"));
            return;
        }
    };
    let signer = match view.signing_key() {
        SigningKey::Vcek => EntryKind::Vcek,
        SigningKey::Vlek => EntryKind::Vlek,
        other => {
            skip_rest(
                b,
                &format!("the report is not signed by a VCEK or VLEK ({other:?})"),
            );
            return;
        }
    };
    let served = match (table.vcek(), table.vlek()) {
        (Some(_), Some(_)) => None,
        (Some(_), None) => Some(EntryKind::Vcek),
        (None, Some(_)) => Some(EntryKind::Vlek),
        (None, None) => {
            b.put(
                "signer-kind",
                Status::Warn,
                format!("the report is signed by the {signer} but the host served no VCEK or VLEK (only {})", kinds.join(", ")),
                Some(REMEDY_BLOB),
            );
            skip_rest(b, "no VCEK or VLEK served");
            return;
        }
    };
    if let Some(expect) = opts.expect {
        if expect != signer {
            b.put(
                "signer-kind",
                Status::Fail,
                format!("{expect} expected but the report is signed by the {signer}"),
                Some(if expect == EntryKind::Vlek {
                    "load the provider's VLEK into the firmware (SNP_VLEK_LOAD) and serve it with the ASVK"
                } else {
                    "this host signs with a VLEK; expect vlek, or run on a host without one"
                }),
            );
        }
    }
    if !b.has("signer-kind") {
        match served {
            Some(k) if k != signer => b.put(
                "signer-kind",
                Status::Fail,
                format!(
                    "{signer} expected (the report is {signer}-signed) but the host served a {k}"
                ),
                Some(REMEDY_BLOB),
            ),
            _ => b.pass(
                "signer-kind",
                format!("the report is {signer}-signed and the host serves the {signer}"),
            ),
        }
    }
    let Some(entry) = table.get(signer) else {
        skip_rest(b, &format!("no {signer} served"));
        return;
    };
    let role = if signer == EntryKind::Vcek {
        "VCEK"
    } else {
        "VLEK"
    };
    let vek = match entry
        .der()
        .map_err(|e| e.to_string())
        .and_then(|d| AmdCert::from_der(role, &d).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            b.put(
                "chain-verifies",
                Status::Fail,
                format!("the served {signer} is not a readable certificate: {e}"),
                Some(REMEDY_BLOB),
            );
            skip_rest(b, &format!("the served {signer} cannot be read"));
            return;
        }
    };
    let amd = vek.amd_extensions();
    let product = match amd.product(role) {
        Ok(p) => p,
        Err(e) => {
            skip_rest(b, &format!("the {signer} names no product ({e})"));
            return;
        }
    };
    // vek-chip
    if signer == EntryKind::Vlek {
        b.skip("vek-chip", "not checked: a VLEK is not bound to one chip");
    } else if view.chip_id_masked() {
        b.skip("vek-chip", "not checked: the report's CHIP_ID is masked");
    } else {
        match amd.hw_id_for(role, product) {
            Ok(hw) if view.chip_id().starts_with(hw) => {
                b.pass("vek-chip", "the VCEK is this chip's")
            }
            Ok(hw) => b.put(
                "vek-chip",
                Status::Fail,
                format!(
                    "VCEK for another chip: its hwID is {}… but CHIP_ID is {}…",
                    hex::encode(&hw[..hw.len().min(8)]),
                    hex::encode(&view.chip_id()[..8])
                ),
                Some("serve this host's own VCEK (`snp-agent host blob fetch --chip-id` with this machine's chip ID): blobs must not be copied between hosts"),
            ),
            Err(e) => b.skip("vek-chip", format!("not checked: {e}")),
        }
    }
    // vek-tcb
    match (amd.tcb(role, product), view.reported_tcb(product)) {
        (Ok(t), Ok(r)) if t == r => {
            b.pass("vek-tcb", format!("the {signer} is for REPORTED_TCB {r}"))
        }
        (Ok(t), Ok(r)) => b.put(
            "vek-tcb",
            Status::Fail,
            format!("stale blob: the served {signer} is for TCB {t} but REPORTED_TCB is {r}"),
            Some(&format!(
                "rewrite the blob for the current TCB; {REMEDY_LOCK}"
            )),
        ),
        (Err(e), _) => b.skip("vek-tcb", format!("not checked: {e}")),
        (_, Err(e)) => b.skip("vek-tcb", format!("not checked: {e}")),
    }
    // ca-chain
    judge_ca(b, &table, signer, product, opts);
    // chain-verifies
    let mut ev = Endorsements::new(entry.der().map(|d| d.to_vec()).unwrap_or_default());
    let ask = table.ask().and_then(|e| e.der().ok()).map(|d| d.to_vec());
    let ark = table.ark().and_then(|e| e.der().ok()).map(|d| d.to_vec());
    ev = ev.with_host_chain(ask, ark);
    match Verifier::new(opts.anchors.clone()).verify(&ext.report, &ev) {
        Ok(v) => b.pass(
            "chain-verifies",
            format!(
                "the report verifies with the served {} up to the {} roots ({product})",
                v.cert_kind(),
                if opts.anchors.is_amd() {
                    "AMD pinned"
                } else {
                    "given"
                }
            ),
        ),
        Err(e) => b.put(
            "chain-verifies",
            Status::Fail,
            format!("the report does not verify with the served certificates: {e}"),
            Some(REMEDY_BLOB),
        ),
    }
}

fn judge_ca(
    b: &mut Builder,
    table: &CertTable<'_>,
    signer: EntryKind,
    product: Product,
    opts: &DoctorOptions,
) {
    let mut problems = Vec::new();
    let mut foreign = false;
    let want_inter = if signer == EntryKind::Vcek {
        "ASK"
    } else {
        "ASVK"
    };
    for (entry, want) in [(table.ark(), "ARK"), (table.ask(), want_inter)] {
        let Some(entry) = entry else { continue };
        let Ok(der) = entry.der() else {
            problems.push(format!("the served {} is not readable", entry.kind));
            continue;
        };
        match whose(&der, &opts.anchors) {
            Some((p, role)) if p == product && role == want => {}
            Some((p, role)) if p != product => {
                foreign = true;
                problems.push(format!("the served {} is {p}'s {role}, but the {signer} is {product}'s: another product's chain", entry.kind));
            }
            Some((_, role)) => problems.push(format!(
                "the served {} is {product}'s {role}, not its {want}",
                entry.kind
            )),
            None => problems.push(format!(
                "the served {} is not AMD's: its key is none of the pinned roots'",
                entry.kind
            )),
        }
    }
    if problems.is_empty() {
        let what = match (table.ark().is_some(), table.ask().is_some()) {
            (false, false) => "no ASK/ARK served: verifiers use their pinned copies".to_string(),
            _ => format!("the served CA certificates are {product}'s pinned {want_inter}/ARK"),
        };
        b.pass("ca-chain", what);
    } else {
        let remedy = if foreign {
            "serve the chain of this host's product line (KDS `/vcek/v1/{product}/cert_chain`); `snp-agent host blob build` checks it"
        } else {
            "serve AMD's ASK/ARK for this product (from KDS), not a self-made or copied chain"
        };
        b.put("ca-chain", Status::Fail, problems.join("; "), Some(remedy));
    }
}
