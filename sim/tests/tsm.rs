//! The configfs-tsm face through real filesystem calls on a FUSE mount.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;

use snp_certs::product::Product;
use snp_certs::report::ReportView;
use snp_certs::table::CertTable;
use snp_sim::face::tsm_fuse::{fuse_available, TsmError, TsmMount};
use snp_sim::faults::Repeat;
use snp_sim::platform::SimPlatform;

/// Skips visibly where FUSE is missing, unless CI demands it (`SNP_AGENT_REQUIRE_FUSE=1`, set by
/// `.ci/run`), so a CI machine without FUSE fails instead of passing on a skip.
fn skip(why: &str) -> Option<(tempfile::TempDir, TsmMount)> {
    if std::env::var("SNP_AGENT_REQUIRE_FUSE").is_ok_and(|v| v == "1") {
        panic!("SNP_AGENT_REQUIRE_FUSE=1 but the configfs-tsm FUSE test cannot run: {why}");
    }
    eprintln!("SKIPPED: configfs-tsm FUSE test not run: {why}");
    None
}

fn mount(p: &SimPlatform) -> Option<(tempfile::TempDir, TsmMount)> {
    if let Err(why) = fuse_available() {
        return skip(&why.to_string());
    }
    let dir = tempfile::tempdir().unwrap();
    match TsmMount::mount(p.clone(), dir.path(), 0) {
        Ok(m) => Some((dir, m)),
        Err(TsmError::Mount { source, .. }) if source.kind() == ErrorKind::PermissionDenied => {
            skip(&format!("mount not permitted here: {source}"))
        }
        Err(e) => panic!("mount failed: {e}"),
    }
}

fn write_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(data)?;
    drop(f); // configfs binary attributes take effect on close
    Ok(())
}

fn generation(entry: &Path) -> u64 {
    fs::read_to_string(entry.join("generation"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn tsm_report_round_trip_and_kernel_semantics() {
    let p = SimPlatform::builder(Product::Genoa).build().unwrap();
    let Some((_dir, m)) = mount(&p) else { return };
    let entry = m.report_dir().join("r1");
    fs::create_dir(&entry).unwrap();
    assert_eq!(
        fs::read_to_string(entry.join("provider")).unwrap(),
        "sev_guest\n"
    );
    assert_eq!(generation(&entry), 0);
    write_file(&entry.join("privlevel"), b"0\n").unwrap();
    write_file(&entry.join("inblob"), &[0x42; 64]).unwrap();
    assert_eq!(generation(&entry), 2);
    let out = fs::read(entry.join("outblob")).unwrap();
    let view = ReportView::new(&out).unwrap();
    assert_eq!(&view.as_bytes()[0x50..0x90], &[0x42; 64]);
    let aux = fs::read(entry.join("auxblob")).unwrap();
    assert_eq!(
        CertTable::parse(&aux).unwrap().vcek().unwrap().bytes,
        &p.vcek_der()[..]
    );
    // Cached until the next write: no second firmware request.
    assert_eq!(fs::read(entry.join("outblob")).unwrap(), out);
    assert_eq!(p.counters().fw_requests, 1);

    // Bad privlevel, oversized inblob, short inblob.
    assert!(write_file(&entry.join("privlevel"), b"4").is_err());
    assert!(write_file(&entry.join("inblob"), &[0u8; 65]).is_err());
    write_file(&entry.join("inblob"), &[1u8; 10]).unwrap();
    let e = fs::read(entry.join("outblob")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));

    fs::remove_dir(&entry).unwrap();
    assert!(!entry.exists());
}

#[test]
fn tsm_host_failures() {
    let p = SimPlatform::builder(Product::Milan).build().unwrap();
    let Some((_dir, m)) = mount(&p) else { return };
    // GHCB-level rejection: outblob reads as empty.
    let a = m.report_dir().join("a");
    fs::create_dir(&a).unwrap();
    write_file(&a.join("inblob"), &[7u8; 64]).unwrap();
    p.update_faults(|f| f.ghcb_reject = Repeat::Times(1));
    assert!(fs::read(a.join("outblob")).unwrap().is_empty());
    // No outblob was produced, so the next read asks again (tsm_report_read regenerates when
    // outblob is NULL) — and finds the VMPCK disabled by the rejection.
    assert_eq!(
        fs::read(a.join("outblob")).unwrap_err().raw_os_error(),
        Some(libc::ENOTTY)
    );
    fs::remove_dir(&a).unwrap();
}

#[test]
fn tsm_errors_are_not_cached() {
    let p = SimPlatform::builder(Product::Genoa).build().unwrap();
    let Some((_dir, m)) = mount(&p) else { return };
    let c = m.report_dir().join("c");
    fs::create_dir(&c).unwrap();
    write_file(&c.join("inblob"), &[9u8; 64]).unwrap();
    p.update_faults(|f| f.fw_error = Some((0x13, Repeat::Times(1))));
    assert_eq!(
        fs::read(c.join("outblob")).unwrap_err().raw_os_error(),
        Some(libc::EIO)
    );
    // The kernel does not advance the read generation on an error: reading again runs the
    // provider again, which now meets the VMPCK the failure disabled.
    let fw = p.counters().fw_requests;
    assert_eq!(
        fs::read(c.join("auxblob")).unwrap_err().raw_os_error(),
        Some(libc::ENOTTY)
    );
    assert_eq!(
        p.counters().fw_requests,
        fw,
        "a disabled VMPCK sends nothing"
    );
    fs::remove_dir(&c).unwrap();
}

#[test]
fn tsm_firmware_error_is_eio() {
    let p = SimPlatform::builder(Product::Turin).build().unwrap();
    let Some((_dir, m)) = mount(&p) else { return };
    let b = m.report_dir().join("b");
    fs::create_dir(&b).unwrap();
    write_file(&b.join("inblob"), &[7u8; 64]).unwrap();
    p.update_faults(|f| f.fw_error = Some((0x13, Repeat::Times(1))));
    assert_eq!(
        fs::read(b.join("outblob")).unwrap_err().raw_os_error(),
        Some(libc::EIO)
    );
    fs::remove_dir(&b).unwrap();
}

#[test]
fn tsm_serves_a_corrupt_table_as_the_kernel_does() {
    let p = SimPlatform::builder(Product::Milan).build().unwrap();
    let Some((_dir, m)) = mount(&p) else { return };
    let d = m.report_dir().join("d");
    fs::create_dir(&d).unwrap();
    write_file(&d.join("inblob"), &[5u8; 64]).unwrap();
    p.update_faults(|f| f.corrupt_table = true);
    // The kernel sizes auxblob from the entries without validating them ("certificate data
    // truncated" to the 16 KiB buffer): the agent must see the corrupt table, not "no certs".
    let aux = fs::read(d.join("auxblob")).unwrap();
    assert_eq!(aux.len(), 16 * 1024);
    assert!(CertTable::parse(&aux).is_err());
    assert!(!fs::read(d.join("outblob")).unwrap().is_empty());
    fs::remove_dir(&d).unwrap();
}
