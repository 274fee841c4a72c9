//! Scenarios on what the host serves as certificates: malformed tables, pages changed after
//! the read, a wrong VCEK, no certificates at all.

use super::*;

/// The host serves `table` (a whole cert buffer) instead of its blob; returns what the guest got.
fn served_table(table: Vec<u8>) -> (Rig, ExtendedReport) {
    let mut rig = Rig::new(Faults::default());
    rig.after(move |x| {
        if x.is_extended() && x.ghcb.sw_exit_info_2() == 0 {
            let pages = x.ghcb.rbx() as usize;
            let mut buf = table.clone();
            buf.resize(pages * PAGE_SIZE, 0);
            x.write(x.cert_gpa(), &buf);
        }
    });
    let c = rig.call();
    let ext = c.result.expect("the report itself is fine");
    assert_eq!(c.counters.fw_requests, 1);
    (rig, ext)
}

fn entry(guid: [u8; 16], offset: u32, len: u32) -> Vec<u8> {
    let mut e = guid.to_vec();
    e.extend_from_slice(&offset.to_le_bytes());
    e.extend_from_slice(&len.to_le_bytes());
    e
}

/// GUIDs as stored in the table.
fn guid_bytes(kind: &str) -> [u8; 16] {
    use snp_certs::table::Guid;
    match kind {
        "vcek" => Guid::VCEK.0,
        "ask" => Guid::ASK.0,
        _ => Guid::ARK.0,
    }
}

fn table_error_of(ext: &ExtendedReport) -> TableError {
    let e = CertTable::parse(&ext.cert_table).expect_err("hostile table refused");
    // The evidence built from it says why instead of verifying anything.
    let ev = Evidence::new(ext.report.clone(), ext.cert_table.clone());
    let msg = ev
        .endorsements()
        .expect_err("no endorsements from a bad table")
        .to_string();
    assert!(msg.contains(&e.to_string()), "{msg}");
    e
}

#[test]
fn cert_table_entries_overlap() {
    let mut t = entry(guid_bytes("vcek"), 96, 200);
    t.extend(entry(guid_bytes("ask"), 150, 200));
    t.extend(entry(guid_bytes("ark"), 400, 100));
    t.extend([0u8; 24]);
    t.resize(600, 0x30);
    let (_rig, ext) = served_table(t);
    let e = table_error_of(&ext);
    assert!(
        matches!(
            e,
            TableError::Overlap {
                first: 0,
                second: 1,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn cert_table_entry_points_past_the_buffer() {
    let mut t = entry(guid_bytes("vcek"), 72, 0x7FFF_0000);
    t.extend(entry(guid_bytes("ark"), 4096 * 64, 16));
    t.extend([0u8; 24]);
    let (_rig, ext) = served_table(t);
    let e = table_error_of(&ext);
    assert!(
        matches!(
            e,
            TableError::PayloadPastEnd { index: 0, .. }
                | TableError::OffsetPastEnd { index: 0, .. }
        ),
        "{e:?}"
    );
    // The simulator's own corrupt-table fault is refused the same way.
    let mut rig = Rig::new(Faults {
        corrupt_table: true,
        ..Faults::default()
    });
    let ext = rig.call().result.expect("report");
    let e = table_error_of(&ext);
    assert!(
        matches!(
            e,
            TableError::PayloadPastEnd { .. } | TableError::OffsetPastEnd { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn cert_table_without_terminator() {
    // Every 24-byte slot of the 4 pages is a (valid-looking) entry: no terminator anywhere.
    let mut t = Vec::new();
    while t.len() + 24 <= 4 * PAGE_SIZE {
        t.extend(entry([0xA5; 16], 4 * PAGE_SIZE as u32 - 8, 8));
    }
    let (_rig, ext) = served_table(t);
    let e = table_error_of(&ext);
    assert!(
        matches!(
            e,
            TableError::TooManyEntries { .. } | TableError::MissingTerminator { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn cert_table_duplicate_vcek() {
    let mut t = entry(guid_bytes("vcek"), 96, 16);
    t.extend(entry(guid_bytes("vcek"), 112, 16));
    t.extend(entry(guid_bytes("ark"), 128, 16));
    t.extend([0u8; 24]);
    t.resize(144, 0x30);
    let (_rig, ext) = served_table(t);
    let e = table_error_of(&ext);
    assert!(matches!(e, TableError::DuplicateKnown { .. }), "{e:?}");
}

#[test]
fn wrong_vcek_served() {
    let mut rig = Rig::new(Faults {
        wrong_vcek: true,
        ..Faults::default()
    });
    let ext = rig.call().result.expect("report");
    let e = rig.verify(&ext).expect_err("another chip's VCEK");
    // Another chip's key: the signature fails first, and the hwID does not match CHIP_ID.
    assert_eq!(e.check(), "report_signature", "{e}");
    let outcome = rig.verify_detailed(&ext);
    let chip = outcome
        .checks
        .iter()
        .find(|c| c.name == "chip_id_binding")
        .expect("ran");
    assert_eq!(chip.status, CheckStatus::Fail, "{}", chip.detail);
}

#[test]
fn no_certificates_served() {
    for how in [NoCerts::EmptyTable, NoCerts::ZeroBuffer] {
        let mut rig = Rig::new(Faults {
            no_certs: Some(how),
            ..Faults::default()
        });
        let ext = rig.call().result.expect("report without certificates");
        assert!(ext.cert_table.is_empty(), "{how:?}");
        let ev = Evidence::new(ext.report, ext.cert_table);
        assert!(matches!(ev.endorsements(), Ok(None)), "{how:?}");
    }
}
