//! Criterion benchmarks (issue 8): verification of real evidence cold and warm on every crypto
//! provider compiled in, certificate-table parse, report-view parse.
//!
//! `cargo bench -p snp-certs --features aws-lc --bench verify` (without the feature only the
//! pure-Rust provider is measured). The guest-message seal/open bench lives in snp-ghcb, which
//! this crate must not depend on.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use snp_certs::cache::ChainCache;
use snp_certs::crypto::available_providers;
use snp_certs::report::ReportView;
use snp_certs::roots::TrustAnchors;
use snp_certs::table::CertTable;
use snp_certs::verify::{Endorsements, Verifier};

/// 2026-11-25T00:00:00Z, inside the certificates' validity windows.
const NOW: u64 = 1_795_564_800;

fn read(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/real")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn verify(c: &mut Criterion) {
    let report = read("virtee-sev/report_milan.bin");
    let e = Endorsements::new(read("virtee-sev/vcek_milan.der"));
    let mut g = c.benchmark_group("verify_milan");
    g.sample_size(20);
    for p in available_providers() {
        // Cold: a fresh verifier with an empty cache (anchors are the process's pinned set,
        // parsed once; their signatures are checked again because the cache is new).
        g.bench_function(format!("cold/{}", p.name()), |b| {
            b.iter(|| {
                let v = Verifier::with_provider(TrustAnchors::amd(), Arc::clone(&p))
                    .with_cache(Arc::new(ChainCache::new()))
                    .at_unix(NOW);
                black_box(v.verify(black_box(&report), &e).expect("verifies"))
            })
        });
        let warm = Verifier::with_provider(TrustAnchors::amd(), Arc::clone(&p))
            .with_cache(Arc::new(ChainCache::new()))
            .at_unix(NOW);
        warm.verify(&report, &e).expect("verifies");
        g.bench_function(format!("warm/{}", p.name()), |b| {
            b.iter(|| black_box(warm.verify(black_box(&report), &e).expect("verifies")))
        });
    }
    g.finish();
}

fn parse(c: &mut Criterion) {
    let report = read("virtee-sev/report_milan.bin");
    c.bench_function("report_view_parse", |b| {
        b.iter(|| {
            let v = ReportView::new(black_box(&report)).expect("report");
            black_box((v.version(), v.reported_tcb_raw(), v.chip_id()[0]))
        })
    });
    for (name, rel) in [
        (
            "cert_table_parse/pem_3_entries",
            "veraison/sevsnp-tsm-report_9e37aaf8.certtable.bin",
        ),
        (
            "cert_table_parse/der_1_entry",
            "constellation/aws_certs_valid_4c676382.certtable.bin",
        ),
    ] {
        let table = read(rel);
        c.bench_function(name, |b| {
            b.iter(|| {
                let t = CertTable::parse(black_box(&table)).expect("table");
                black_box(t.len())
            })
        });
    }
    // Parse plus getting DER out of every entry (PEM entries are decoded).
    let table = read("veraison/sevsnp-tsm-report_9e37aaf8.certtable.bin");
    c.bench_function("cert_table_parse_and_der/pem_3_entries", |b| {
        b.iter(|| {
            let t = CertTable::parse(black_box(&table)).expect("table");
            let n: usize = t
                .entries()
                .iter()
                .map(|e| e.der().map_or(0, |d| d.len()))
                .sum();
            black_box(n)
        })
    });
}

criterion_group!(benches, verify, parse);
criterion_main!(benches);
