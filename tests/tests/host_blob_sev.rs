//! `snp-agent host blob build` tables round-trip through the `sev` crate's certificate-table
//! encoder and decoder, in both directions (issue 15): what we build, sev decodes to the same
//! entries; what sev encodes, we (and `host blob show`'s describer) parse to the same entries.

use sev::firmware::host::{CertTableEntry, CertType};
use snp_agent::host::{build_blob, describe, BlobInputs};
use snp_certs::product::Product;
use snp_certs::roots::TrustAnchors;
use snp_certs::table::{CertTable, EntryKind};
use snp_sim::platform::SimPlatform;

fn inputs(p: &SimPlatform, with_vlek: bool) -> BlobInputs {
    let r = p.roots().unwrap();
    BlobInputs {
        ark: Some(r.ark_der),
        ask: Some(if with_vlek { r.asvk_der } else { r.ask_der }),
        vcek: (!with_vlek).then(|| p.vcek_der()),
        vlek: if with_vlek { p.vlek_der() } else { None },
        crl: None,
    }
}

fn sev_kind(t: &CertType) -> EntryKind {
    match t {
        CertType::ARK => EntryKind::Ark,
        CertType::ASK => EntryKind::Ask,
        CertType::VCEK => EntryKind::Vcek,
        CertType::VLEK => EntryKind::Vlek,
        CertType::CRL => EntryKind::Crl,
        other => panic!("unexpected sev cert type {other:?}"),
    }
}

fn ours(blob: &[u8]) -> Vec<(EntryKind, Vec<u8>)> {
    CertTable::parse(blob)
        .unwrap()
        .entries()
        .iter()
        .map(|e| (e.kind, e.bytes.to_vec()))
        .collect()
}

fn check_round_trip(p: &SimPlatform, with_vlek: bool) {
    let blob = build_blob(&inputs(p, with_vlek)).unwrap();
    let expected = ours(&blob);
    // Ours -> sev's decoder.
    let mut buf = blob.clone();
    let decoded = CertTableEntry::vec_bytes_to_cert_table(&mut buf).unwrap();
    let theirs: Vec<(EntryKind, Vec<u8>)> = decoded
        .iter()
        .map(|e| (sev_kind(&e.cert_type), e.data().to_vec()))
        .collect();
    assert_eq!(theirs, expected);
    // sev's encoder -> ours (and the describer `host blob show` uses).
    let encoded = CertTableEntry::cert_table_to_vec_bytes(&decoded).unwrap();
    assert_eq!(ours(&encoded), expected);
    let r = p.roots().unwrap();
    let anchors = TrustAnchors::explicit()
        .with_chain(p.product(), &r.ark_der, Some(&r.ask_der), Some(&r.asvk_der))
        .unwrap();
    let info = describe(&encoded, &anchors).unwrap();
    assert!(info.chain_verifies, "{}", info.chain_detail);
    // The two encoders lay the table out identically; ours only adds page padding.
    assert_eq!(&blob[..encoded.len()], &encoded[..]);
    assert!(blob[encoded.len()..].iter().all(|&b| b == 0));
}

#[test]
fn vcek_blob_round_trips_through_sev() {
    let p = SimPlatform::builder(Product::Genoa).build().unwrap();
    check_round_trip(&p, false);
}

#[test]
fn vlek_blob_round_trips_through_sev() {
    let p = SimPlatform::builder(Product::Milan).build().unwrap();
    p.load_vlek("CN=cc-sim.example").unwrap();
    check_round_trip(&p, true);
}
