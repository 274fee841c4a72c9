//! Harnesses for `snp-certs` parsers. Uses only `snp_certs` and `std`, because
//! `certs/tests/fuzz_corpus_replay.rs` includes this file as a module.
//!
//! A harness must never panic on any input; where it asserts, the assertion states an invariant
//! of the parser (a panic found by the fuzzer is a bug in the parser, not in the input).

use snp_certs::table::{CertTable, CertTableBuilder, PAGE_SIZE};

/// Parse a host-served certificate table, use every accessor and `der()`, and check that what
/// parsed rebuilds to a table that parses to the same entries.
pub fn cert_table(data: &[u8]) {
    let table = match CertTable::parse(data) {
        Ok(t) => t,
        Err(e) => {
            // Error messages are shown to operators: rendering them must not panic either.
            let _ = e.to_string();
            return;
        }
    };
    let header_len = table.header_len();
    assert!(header_len <= data.len(), "header past the buffer");
    assert!(table.used_len() <= data.len(), "payload past the buffer");
    let _ = (
        table.vcek(),
        table.vlek(),
        table.ask(),
        table.ark(),
        table.is_empty(),
    );

    let mut rebuilt = CertTableBuilder::new();
    for entry in table.entries() {
        let start = entry.offset as usize;
        assert!(start >= header_len, "payload inside the header");
        assert!(!entry.bytes.is_empty(), "zero-length entry accepted");
        assert_eq!(
            data.get(start..start + entry.bytes.len()),
            Some(entry.bytes),
            "entry bytes are not the buffer's bytes at its offset"
        );
        let _ = entry.is_pem();
        match entry.der() {
            Ok(der) => assert!(!der.is_empty(), "empty DER accepted"),
            Err(e) => {
                let _ = e.to_string();
            }
        }
        let _ = entry.kind.to_string();
        let _ = entry.guid.to_string().parse::<snp_certs::table::Guid>();
        rebuilt.push(entry.guid, entry.bytes);
    }

    // Anything the parser accepts, the builder can serve again, and it parses identically.
    let bytes = rebuilt
        .build_padded(PAGE_SIZE)
        .expect("a parsed table must rebuild");
    let again = CertTable::parse(&bytes).expect("a rebuilt table must parse");
    assert_eq!(again.len(), table.len());
    for (a, b) in again.entries().iter().zip(table.entries()) {
        assert_eq!((a.guid, a.kind, a.bytes), (b.guid, b.kind, b.bytes));
    }
}
