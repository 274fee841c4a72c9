//! Tests of the certificate table: parser, builder, real tables, properties.

use super::*;
use proptest::prelude::*;

const AWS: &[u8] =
    include_bytes!("../../../tests/data/real/constellation/aws_certs_valid_4c676382.certtable.bin");
const VERAISON: &[u8] =
    include_bytes!("../../../tests/data/real/veraison/sevsnp-tsm-report_9e37aaf8.certtable.bin");
const VLEK_DER: &[u8] =
    include_bytes!("../../../tests/data/real/constellation/certs_valid_vlek_f8b8421b.der");

/// A header entry, for hand-made tables.
fn ent(guid: Guid, offset: u32, length: u32) -> Vec<u8> {
    let mut v = guid.0.to_vec();
    v.extend_from_slice(&offset.to_le_bytes());
    v.extend_from_slice(&length.to_le_bytes());
    v
}

fn table(entries: &[(Guid, u32, u32)], total: usize) -> Vec<u8> {
    let mut v: Vec<u8> = entries.iter().flat_map(|&(g, o, l)| ent(g, o, l)).collect();
    v.extend_from_slice(&[0; ENTRY_LEN]);
    v.resize(total.max(v.len()), 0xAB);
    v
}

#[test]
fn guid_display_and_parse_round_trip() {
    for (g, s) in [
        (Guid::VCEK, "63da758d-e664-4564-adc5-f4b93be8accd"),
        (Guid::VLEK, "a8074bc2-a25a-483e-aae6-39c045a0b8a1"),
        (Guid::ASK, "4ab7b379-bbac-4fe4-a02f-05aef327c782"),
        (Guid::ARK, "c0b406a4-a803-4952-9743-3fb6014cd0ae"),
        (Guid::CRL, "92f81bc3-5811-4d3d-97ff-d19f88dc67ea"),
    ] {
        assert_eq!(g.to_string(), s);
        assert_eq!(s.parse::<Guid>().unwrap(), g);
        assert_eq!(s.to_uppercase().parse::<Guid>().unwrap(), g);
    }
    for bad in [
        "",
        "63da758d-e664-4564-adc5-f4b93be8acc",
        "63da758de664-4564-adc5-f4b93be8accd0",
        "63da758d-e664-4564-adc5-f4b93be8accg",
        "63da758d-e664-4564-adc5-f4b93be8acc\u{e9}",
    ] {
        assert!(bad.parse::<Guid>().is_err(), "{bad:?}");
    }
}

#[test]
fn real_aws_table_holds_one_der_vlek() {
    let t = CertTable::parse(AWS).unwrap();
    assert_eq!(t.len(), 1);
    let e = t.vlek().unwrap();
    assert_eq!(
        (e.kind, e.offset, e.bytes.len()),
        (EntryKind::Vlek, 48, 1323)
    );
    assert!(t.vcek().is_none() && t.ask().is_none() && t.ark().is_none());
    assert!(!e.is_pem());
    let der = e.der().unwrap();
    assert!(matches!(der, Cow::Borrowed(_)));
    assert_eq!(&*der, VLEK_DER, "the table's VLEK is the real certificate");
    assert_eq!(t.used_len(), 1371);
    assert_eq!(t.as_bytes().len(), 4096);
}

#[test]
fn real_veraison_table_holds_pem_ark_ask_vcek() {
    let t = CertTable::parse(VERAISON).unwrap();
    let got: Vec<_> = t
        .entries()
        .iter()
        .map(|e| (e.kind, e.offset, e.bytes.len()))
        .collect();
    assert_eq!(
        got,
        vec![
            (EntryKind::Ark, 96, 2277),
            (EntryKind::Ask, 2373, 2325),
            (EntryKind::Vcek, 4698, 1879),
        ]
    );
    for e in t.entries() {
        assert!(e.is_pem());
        let der = e.der().unwrap();
        assert!(matches!(der, Cow::Owned(_)));
        assert_eq!(der.first(), Some(&0x30));
    }
    // The PEM VCEK decodes to the real DER VCEK from the same evidence.
    let vcek =
        include_bytes!("../../../tests/data/real/veraison/sevsnp-tsm-report_vcek_ab5a6bc8.der");
    assert_eq!(&*t.vcek().unwrap().der().unwrap(), &vcek[..]);
    assert_eq!(t.used_len(), VERAISON.len());
}

#[test]
fn build_parse_round_trip() {
    let crl = [0x30, 0x03, 0x02, 0x01, 0x05];
    let other = Guid([7; 16]);
    let b = CertTableBuilder::new()
        .with_kind(EntryKind::Vcek, VLEK_DER)
        .with(other, &b"vendor extra"[..])
        .with_kind(EntryKind::Crl, &crl[..])
        .with_kind(EntryKind::Ark, &[0x30, 0x00][..]);
    let bytes = b.build().unwrap();
    assert_eq!(bytes.len(), b.encoded_len().unwrap());
    assert_eq!(bytes.len(), 5 * 24 + VLEK_DER.len() + 12 + 5 + 2);
    let t = CertTable::parse(&bytes).unwrap();
    let kinds: Vec<_> = t.entries().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EntryKind::Vcek,
            EntryKind::Unknown(other),
            EntryKind::Crl,
            EntryKind::Ark
        ]
    );
    assert_eq!(t.vcek().unwrap().bytes, VLEK_DER);
    assert_eq!(t.entries()[1].bytes, b"vendor extra");
    assert_eq!(t.entries()[2].der().unwrap().as_ref(), &crl);
    assert!(matches!(
        t.entries()[1].der(),
        Err(PayloadError::NotDerOrPem { .. })
    ));
    assert_eq!(t.used_len(), bytes.len());

    let padded = b.build_padded(PAGE_SIZE).unwrap();
    assert_eq!(padded.len(), PAGE_SIZE);
    assert_eq!(b.required_pages().unwrap(), 1);
    assert_eq!(&padded[..bytes.len()], &bytes[..]);
    assert!(padded[bytes.len()..].iter().all(|&x| x == 0));
    assert_eq!(CertTable::parse(&padded).unwrap().entries(), t.entries());
    assert_eq!(b.build_padded(0), Err(BuildError::ZeroPageSize));
}

#[test]
fn rebuilding_the_real_tables_gives_the_same_bytes() {
    for (real, used) in [(AWS, 1371), (VERAISON, VERAISON.len())] {
        let t = CertTable::parse(real).unwrap();
        let mut b = CertTableBuilder::new();
        for e in t.entries() {
            b.push(e.guid, e.bytes);
        }
        assert_eq!(b.build().unwrap(), &real[..used]);
    }
    let aws = CertTableBuilder::new().with_kind(EntryKind::Vlek, VLEK_DER);
    assert_eq!(aws.build_padded(4096).unwrap(), AWS);
}

#[test]
fn pages_needed() {
    let one = CertTableBuilder::new().with_kind(EntryKind::Vcek, vec![0x30; 4096 - 48]);
    assert_eq!(one.required_pages().unwrap(), 1);
    let two = CertTableBuilder::new().with_kind(EntryKind::Vcek, vec![0x30; 4096 - 47]);
    assert_eq!(two.required_pages().unwrap(), 2);
    assert_eq!(two.build_padded(4096).unwrap().len(), 8192);
    assert_eq!(CertTableBuilder::new().required_pages().unwrap(), 1);
}

#[test]
fn empty_tables_parse_as_no_entries() {
    let lone = CertTableBuilder::new().build().unwrap();
    assert_eq!(lone, vec![0; 24]);
    for buf in [lone, vec![0; 24], vec![0; 4096], vec![0; 16384]] {
        let t = CertTable::parse(&buf).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert!(t.vcek().is_none());
    }
    // ...and distinguishable from malformed ones.
    assert_eq!(CertTable::parse(&[]), Err(TableError::EmptyBuffer));
    assert!(matches!(
        CertTable::parse(&[0; 23]),
        Err(TableError::TruncatedHeader { .. })
    ));
}

type Check = fn(&TableError) -> bool;

#[test]
fn malformed_tables_are_rejected_with_named_errors() {
    let g = Guid::VCEK;
    let h1 = 48u32; // header of one entry + terminator
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("empty buffer", vec![], |e| {
            matches!(e, TableError::EmptyBuffer)
        }),
        ("truncated header", ent(g, 48, 4)[..20].to_vec(), |e| {
            matches!(
                e,
                TableError::TruncatedHeader {
                    index: 0,
                    at: 0,
                    len: 20
                }
            )
        }),
        (
            "truncated terminator",
            {
                let mut v = ent(g, 48, 4);
                v.extend_from_slice(&[0; 10]);
                v
            },
            |e| {
                matches!(
                    e,
                    TableError::TruncatedHeader {
                        index: 1,
                        at: 24,
                        ..
                    }
                )
            },
        ),
        (
            "missing terminator",
            [ent(g, 48, 4), ent(Guid::ARK, 52, 4)].concat(),
            |e| {
                matches!(
                    e,
                    TableError::MissingTerminator {
                        entries: 2,
                        len: 48
                    }
                )
            },
        ),
        (
            "absurd entry count",
            {
                let mut v = Vec::new();
                for i in 0..=MAX_ENTRIES as u8 {
                    v.extend(ent(Guid([i.wrapping_add(1); 16]), 0x10000, 1));
                }
                v.extend_from_slice(&[0; 24]);
                v.resize(0x20000, 0);
                v
            },
            |e| matches!(e, TableError::TooManyEntries { max: MAX_ENTRIES }),
        ),
        ("zero-length entry", table(&[(g, h1, 0)], 100), |e| {
            matches!(e, TableError::ZeroLength { index: 0, .. })
        }),
        (
            "offset+length overflow",
            table(&[(g, h1, u32::MAX)], 100),
            |e| matches!(e, TableError::OffsetLengthOverflow { index: 0, .. }),
        ),
        ("offset past end", table(&[(g, 5000, 4)], 100), |e| {
            matches!(
                e,
                TableError::OffsetPastEnd {
                    offset: 5000,
                    len: 100,
                    ..
                }
            )
        }),
        ("payload past end", table(&[(g, 90, 20)], 100), |e| {
            matches!(
                e,
                TableError::PayloadPastEnd {
                    end: 110,
                    len: 100,
                    ..
                }
            )
        }),
        ("payload inside header", table(&[(g, 8, 16)], 100), |e| {
            matches!(
                e,
                TableError::PayloadInHeader {
                    offset: 8,
                    header_end: 48,
                    ..
                }
            )
        }),
        (
            "payload on the terminator",
            table(&[(g, 24, 30)], 100),
            |e| matches!(e, TableError::PayloadInHeader { offset: 24, .. }),
        ),
        (
            "overlapping entries",
            table(&[(g, 72, 10), (Guid::ARK, 80, 10)], 100),
            |e| {
                matches!(
                    e,
                    TableError::Overlap {
                        first: 0,
                        second: 1,
                        ..
                    }
                )
            },
        ),
        (
            "overlap out of order",
            table(&[(Guid::ARK, 85, 10), (g, 72, 20)], 100),
            |e| {
                matches!(
                    e,
                    TableError::Overlap {
                        first: 0,
                        second: 1,
                        ..
                    }
                )
            },
        ),
        (
            "identical ranges",
            table(&[(Guid([9; 16]), 72, 10), (Guid([8; 16]), 72, 10)], 100),
            |e| matches!(e, TableError::Overlap { .. }),
        ),
        (
            "duplicate VCEK",
            table(&[(g, 72, 10), (g, 82, 10)], 100),
            |e| {
                matches!(
                    e,
                    TableError::DuplicateKnown {
                        kind: EntryKind::Vcek,
                        first: 0,
                        second: 1
                    }
                )
            },
        ),
        (
            "duplicate ARK",
            table(&[(Guid::ARK, 96, 1), (g, 97, 1), (Guid::ARK, 98, 1)], 100),
            |e| {
                matches!(
                    e,
                    TableError::DuplicateKnown {
                        kind: EntryKind::Ark,
                        first: 0,
                        second: 2
                    }
                )
            },
        ),
        (
            "zero GUID with offset",
            table(&[(Guid::ZERO, 48, 4)], 100),
            |e| {
                matches!(
                    e,
                    TableError::MalformedTerminator {
                        index: 0,
                        offset: 48,
                        length: 4
                    }
                )
            },
        ),
    ];
    assert!(cases.len() >= 12);
    for (name, bytes, check) in cases {
        let err = CertTable::parse(&bytes).expect_err(name);
        assert!(check(&err), "{name}: unexpected {err:?}");
        // The message names the problem for an operator.
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn unknown_guids_and_host_order_are_kept() {
    let x = Guid([0x11; 16]);
    let buf = table(&[(x, 110, 2), (Guid::CRL, 96, 4), (Guid::CRL, 100, 4)], 120);
    let t = CertTable::parse(&buf).unwrap();
    let kinds: Vec<_> = t.entries().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![EntryKind::Unknown(x), EntryKind::Crl, EntryKind::Crl]
    );
    assert_eq!(t.entries()[0].offset, 110);
}

#[test]
fn der_rejects_bad_payloads() {
    let vcek_pem = {
        let t = CertTable::parse(VERAISON).unwrap();
        t.vcek().unwrap().bytes.to_vec()
    };
    let check = |kind: EntryKind, payload: Vec<u8>| {
        let bytes = CertTableBuilder::new()
            .with_kind(kind, payload)
            .build()
            .unwrap();
        let t = CertTable::parse(&bytes).unwrap();
        t.entries()[0].der().map(|d| d.into_owned())
    };
    // Two PEM blocks.
    let two = [vcek_pem.clone(), vcek_pem.clone()].concat();
    assert!(matches!(
        check(EntryKind::Vcek, two),
        Err(PayloadError::MultiplePemBlocks { count: 2, .. })
    ));
    // Wrong label.
    let relabelled = String::from_utf8(vcek_pem.clone())
        .unwrap()
        .replace("CERTIFICATE", "PRIVATE KEY");
    assert!(matches!(
        check(EntryKind::Vcek, relabelled.clone().into_bytes()),
        Err(PayloadError::WrongPemLabel { .. })
    ));
    // Unknown entries accept any label.
    assert!(check(EntryKind::Unknown(Guid([3; 16])), relabelled.into_bytes()).is_ok());
    // Corrupt base64.
    let mut broken = vcek_pem.clone();
    broken[40] = b'!';
    assert!(matches!(
        check(EntryKind::Vcek, broken),
        Err(PayloadError::BadPem { .. })
    ));
    // Oversized PEM.
    let mut big = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    big.resize(MAX_PEM_LEN + 1, b'A');
    assert!(matches!(
        check(EntryKind::Vcek, big),
        Err(PayloadError::PemTooLarge { .. })
    ));
    // DER with trailing garbage, truncated DER, neither.
    let mut trailing = VLEK_DER.to_vec();
    trailing.push(0);
    assert!(matches!(
        check(EntryKind::Vlek, trailing),
        Err(PayloadError::BadDer { .. })
    ));
    assert!(matches!(
        check(EntryKind::Vlek, VLEK_DER[..100].to_vec()),
        Err(PayloadError::BadDer { .. })
    ));
    assert!(matches!(
        check(EntryKind::Vlek, vec![0xff, 1, 2]),
        Err(PayloadError::NotDerOrPem {
            first_byte: 0xff,
            ..
        })
    ));
    // Leading whitespace before PEM is tolerated.
    let mut ws = b"\n  ".to_vec();
    ws.extend_from_slice(&vcek_pem);
    assert!(check(EntryKind::Vcek, ws).is_ok());
}

#[test]
fn builder_refuses_what_the_parser_rejects() {
    assert_eq!(
        CertTableBuilder::new()
            .with_kind(EntryKind::Vcek, vec![])
            .build(),
        Err(BuildError::EmptyPayload {
            index: 0,
            guid: Guid::VCEK
        })
    );
    assert_eq!(
        CertTableBuilder::new().with(Guid::ZERO, vec![1]).build(),
        Err(BuildError::ZeroGuid { index: 0 })
    );
    assert_eq!(
        CertTableBuilder::new()
            .with_kind(EntryKind::Ask, vec![1])
            .with_kind(EntryKind::Ask, vec![2])
            .build(),
        Err(BuildError::DuplicateKnown {
            kind: EntryKind::Ask,
            first: 0,
            second: 1
        })
    );
    let mut many = CertTableBuilder::new();
    for i in 0..=MAX_ENTRIES {
        many.push(Guid([i as u8 + 1; 16]), vec![1]);
    }
    assert!(matches!(
        many.build(),
        Err(BuildError::TooManyEntries { .. })
    ));
    // Exactly the cap is fine.
    let mut cap = CertTableBuilder::new();
    for i in 0..MAX_ENTRIES {
        cap.push(Guid([i as u8 + 1; 16]), vec![1]);
    }
    assert_eq!(
        CertTable::parse(&cap.build().unwrap()).unwrap().len(),
        MAX_ENTRIES
    );
}

fn arb_entries() -> impl Strategy<Value = Vec<(Guid, Vec<u8>)>> {
    let guid = prop_oneof![
        Just(Guid::VCEK),
        Just(Guid::VLEK),
        Just(Guid::ASK),
        Just(Guid::ARK),
        Just(Guid::CRL),
        any::<[u8; 16]>()
            .prop_filter("non-zero", |g| *g != [0; 16])
            .prop_map(Guid),
    ];
    proptest::collection::vec(
        (guid, proptest::collection::vec(any::<u8>(), 1..200)),
        0..12,
    )
    .prop_map(|v| {
        // Drop later duplicates of unique kinds: the builder would (rightly) refuse them.
        let mut seen = Vec::new();
        v.into_iter()
            .filter(|(g, _)| {
                if EntryKind::from_guid(*g).is_unique() {
                    if seen.contains(g) {
                        return false;
                    }
                    seen.push(*g);
                }
                true
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(t) = CertTable::parse(&bytes) {
            for e in t.entries() {
                let _ = e.der();
                prop_assert!(e.offset as usize >= t.header_len());
            }
            let _ = (t.vcek(), t.vlek(), t.ask(), t.ark(), t.used_len());
            prop_assert!(t.used_len() <= bytes.len());
        }
    }

    #[test]
    fn parsing_mutated_tables_never_panics(
        entries in arb_entries(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut b = CertTableBuilder::new();
        for (g, p) in &entries { b.push(*g, p.clone()); }
        let mut bytes = b.build().unwrap();
        for (at, v) in flips {
            let n = bytes.len();
            bytes[at % n] = v;
        }
        if let Ok(t) = CertTable::parse(&bytes) {
            for e in t.entries() { let _ = e.der(); }
        }
    }

    #[test]
    fn build_then_parse_round_trips(entries in arb_entries(), pad in any::<bool>()) {
        let mut b = CertTableBuilder::new();
        for (g, p) in &entries { b.push(*g, p.clone()); }
        let bytes = if pad { b.build_padded(PAGE_SIZE).unwrap() } else { b.build().unwrap() };
        let t = CertTable::parse(&bytes).unwrap();
        prop_assert_eq!(t.len(), entries.len());
        for (e, (g, p)) in t.entries().iter().zip(&entries) {
            prop_assert_eq!(e.guid, *g);
            prop_assert_eq!(e.kind, EntryKind::from_guid(*g));
            prop_assert_eq!(e.bytes, &p[..]);
        }
    }
}
