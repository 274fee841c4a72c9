//! `convert` on every real evidence file in `tests/data/real`: each report alone, each
//! certificate table the data set has with its report, and each ACCEPT pair of the manifest as
//! a host would serve it (ARK, ASK/ASVK, VCEK/VLEK). Every piece of evidence goes into every
//! form, and from each form into every other; the report bytes always survive, the table's
//! bytes survive wherever both forms carry bytes, its entries wherever both carry entries, and a
//! form that cannot carry the input refuses with a typed error.

#[path = "cli_support/mod.rs"]
mod support;

use snp_agent::convert::{self, table_fidelity, ConvertError, TableFidelity};
use snp_agent::evidence::{Evidence, EvidenceError, Format};
use snp_agent::exit_code;
use snp_certs::report::REPORT_SIZE;
use snp_certs::table::{CertTable, CertTableBuilder, EntryKind, Guid};
use support::*;

/// (name, evidence) for every real evidence file.
fn real_evidence() -> Vec<(String, Evidence)> {
    let root = real("");
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().collect();
    dirs.sort_by_key(|d| d.path());
    for dir in dirs {
        let Ok(files) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        let mut files: Vec<_> = files.flatten().map(|f| f.path()).collect();
        files.sort();
        for p in files {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".bin") || name.contains("certtable") {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            if bytes.len() == REPORT_SIZE {
                out.push((p.display().to_string(), Evidence::new(bytes, Vec::new())));
            }
        }
    }
    // The certificate tables hosts really served, with their reports.
    for (report, table) in [
        (
            "veraison/sevsnp-tsm-report_8d8bfb3e.bin",
            "veraison/sevsnp-tsm-report_9e37aaf8.certtable.bin",
        ),
        (
            "constellation/aws_report_valid_5e8e4390.bin",
            "constellation/aws_certs_valid_4c676382.certtable.bin",
        ),
    ] {
        out.push((
            format!("{report} + {table}"),
            Evidence::new(read_real(report)[..REPORT_SIZE].to_vec(), read_real(table)),
        ));
    }
    // Every ACCEPT pair of the manifest, as a host would serve it.
    let manifest = String::from_utf8(read_real("MANIFEST.md")).unwrap();
    let accept = manifest
        .split("## Ground truth: pairs that a correct verifier must ACCEPT")
        .nth(1)
        .unwrap()
        .split("## Ground truth: pairs that a correct verifier must REJECT")
        .next()
        .unwrap();
    for line in accept.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 4 || !cols[1].ends_with(".bin") {
            continue;
        }
        let (report, vek, chain) = (cols[1], cols[2], cols[3]);
        let chain_der = pem_blocks(&read_real(&format!("go-sev-guest/{chain}")));
        let kind = if chain.contains("vlek") {
            Guid::VLEK
        } else {
            Guid::VCEK
        };
        let table = CertTableBuilder::new()
            .with(Guid::ARK, chain_der[1].clone())
            .with(Guid::ASK, chain_der[0].clone())
            .with(kind, read_real(vek))
            .build()
            .unwrap();
        out.push((
            format!("{report} + {vek}"),
            Evidence::new(read_real(report)[..REPORT_SIZE].to_vec(), table),
        ));
    }
    out
}

/// The table's entries as (kind, DER or raw bytes).
fn entries(table: &[u8]) -> Vec<(String, Vec<u8>)> {
    if table.is_empty() {
        return Vec::new();
    }
    CertTable::parse(table)
        .unwrap()
        .entries()
        .iter()
        .map(|e| {
            let b = match e.kind {
                EntryKind::Unknown(_) => e.bytes.to_vec(),
                _ => e.der().unwrap().into_owned(),
            };
            (e.kind.name().to_string(), b)
        })
        .collect()
}

/// Put `ev` into `format` under `dir`, or the typed refusal.
fn put(
    ev: &Evidence,
    format: Format,
    dir: &std::path::Path,
    n: usize,
) -> Result<Evidence, ConvertError> {
    let path = dir.join(format!("{n}.{format}"));
    convert::write_path(ev, format, &path)?;
    let (back, read_as) = Evidence::read_path(&path, None).expect("what convert wrote reads back");
    assert_eq!(read_as, format, "detected as the form written");
    Ok(back)
}

fn assert_carried(orig: &Evidence, got: &Evidence, via: Format, to: Format, what: &str) {
    assert_eq!(
        got.report, orig.report,
        "{what}: report bytes via {via} -> {to}"
    );
    let (fv, ft) = (table_fidelity(via), table_fidelity(to));
    if fv == TableFidelity::Bytes && ft == TableFidelity::Bytes {
        assert_eq!(
            got.cert_table, orig.cert_table,
            "{what}: table bytes via {via} -> {to}"
        );
    } else if fv != TableFidelity::Entries && ft != TableFidelity::Entries {
        assert_eq!(
            entries(&got.cert_table),
            entries(&orig.cert_table),
            "{what}: entries via {via} -> {to}"
        );
    } else {
        let (mut a, mut b) = (entries(&got.cert_table), entries(&orig.cert_table));
        a.sort();
        b.sort();
        assert_eq!(a, b, "{what}: entry set via {via} -> {to}");
    }
}

#[test]
fn every_real_evidence_file_round_trips_through_every_pair_of_forms() {
    let all = real_evidence();
    assert!(
        all.len() >= 120,
        "only {} pieces of real evidence",
        all.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    let (mut pairs, mut refused) = (0usize, Vec::new());
    for (what, ev) in &all {
        let coco_ok = convert::to_bytes(ev, Format::Coco).is_ok();
        if !coco_ok {
            refused.push(what.clone());
        }
        for from in Format::ALL {
            n += 1;
            let src = match put(ev, from, dir.path(), n) {
                Ok(src) => src,
                Err(e) => {
                    // Only the parsed (coco) form may refuse, and only because the sev crate
                    // cannot represent this report; the byte forms and directories carry anything.
                    assert!(
                        from == Format::Coco && !coco_ok,
                        "{what}: {from} refused: {e}"
                    );
                    assert!(
                        matches!(
                            &e,
                            ConvertError::Write {
                                source: EvidenceError::Coco(_),
                                ..
                            }
                        ),
                        "{what}: {e}"
                    );
                    continue;
                }
            };
            assert_carried(ev, &src, from, from, what);
            for to in Format::ALL {
                n += 1;
                match put(&src, to, dir.path(), n) {
                    Ok(got) => {
                        assert_carried(ev, &got, from, to, what);
                        pairs += 1;
                    }
                    Err(e) => {
                        assert!(
                            to == Format::Coco && !coco_ok,
                            "{what}: {from} -> {to}: {e}"
                        );
                    }
                }
            }
        }
    }
    eprintln!(
        "convert: {} real evidence files, {pairs} conversions, coco refused {} reports: {refused:?}",
        all.len(),
        refused.len()
    );
    // Most real reports are carriable by every form.
    assert!(refused.len() * 4 < all.len(), "coco refused {refused:?}");
}

#[test]
fn convert_cli_writes_every_form_and_refuses_with_exit_6() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ev = evidence(&GENOA);
    let src = write(&ev, Format::Bin, dir.path(), "genoa");
    for to in Format::ALL {
        let out = dir.path().join(format!("out-{to}"));
        let (code, stdout, err) = run(snp_agent(cache.path())
            .arg("convert")
            .arg(&src)
            .args(["--format", to.as_str(), "--out"])
            .arg(&out));
        assert_eq!(code, 0, "{to}: {err}");
        assert!(stdout.is_empty());
        let (back, read_as) = Evidence::read_path(&out, None).unwrap();
        assert_eq!(read_as, to);
        assert_eq!(back.report, ev.report);
        // And the converted evidence still verifies.
        let (code, text, _) = run(snp_agent(cache.path())
            .arg("verify")
            .arg(&out)
            .arg("--offline"));
        assert_eq!(code, 0, "{to}: {text}");
    }
    // To stdout.
    let (code, stdout, _) = run(snp_agent(cache.path())
        .arg("convert")
        .arg(&src)
        .args(["--format", "cmw"]));
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("[\"application/vnd.veraison.configfs-tsm+json\""),
        "{stdout}"
    );
    // A VLEK v2 report with a masked chip ID: the sev crate cannot parse it, so coco refuses.
    let vlek = real("constellation/aws_report_valid_5e8e4390.bin");
    let (code, stdout, err) = run(snp_agent(cache.path())
        .arg("convert")
        .arg(&vlek)
        .args(["--format", "coco"]));
    assert_eq!(code, i32::from(exit_code::EVIDENCE_INVALID), "{err}");
    assert!(stdout.is_empty());
    assert!(
        err.contains("cannot convert") && err.contains("coco"),
        "{err}"
    );
    // snpguest-dir needs --out.
    let (code, _, err) = run(snp_agent(cache.path())
        .arg("convert")
        .arg(&src)
        .args(["--format", "snpguest-dir"]));
    assert_eq!(code, i32::from(exit_code::USAGE), "{err}");
}
