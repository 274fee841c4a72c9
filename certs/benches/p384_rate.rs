//! The single-core floor for fleet verification (issue 14): bare ECDSA P-384/SHA-384
//! verifications per second of the real Milan report under its VCEK's key — SHA-384 over bytes
//! 0x000..0x2A0 and the signature check, nothing else — with the default provider (aws-lc when
//! built with `--features aws-lc`).
//!
//! `scripts/bench-fleet.sh` runs it between its batch and service measurements and reports
//! their throughput as a ratio to `cores × this rate`.
//!
//! Run: `cargo bench -p snp-certs --features aws-lc --bench p384_rate -- SECONDS` (default 3).
//! Prints `p384_verifies_per_sec PROVIDER RATE` (wall time) and `p384_verifies_per_cpu_sec
//! PROVIDER RATE` (per second of thread CPU time: a free core's rate on a shared machine).

use std::hint::black_box;
use std::time::{Duration, Instant};

use snp_certs::chain::{AmdCert, PublicKey};
use snp_certs::crypto::default_provider;
use snp_certs::report::ReportView;

fn main() {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3.0);
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/real");
    let report = std::fs::read(dir.join("virtee-sev/report_milan.bin")).expect("report");
    let vcek = std::fs::read(dir.join("virtee-sev/vcek_milan.der")).expect("VCEK");
    let view = ReportView::new(&report).expect("report");
    let cert = AmdCert::from_der("VEK", &vcek).expect("VCEK");
    let PublicKey::P384 { sec1 } = cert.public_key() else {
        panic!("VCEK key is not P-384")
    };
    let be = |le: &[u8; 72]| {
        let mut out = [0u8; 48];
        for (d, s) in out.iter_mut().zip(le[..48].iter().rev()) {
            *d = *s;
        }
        out
    };
    let (r, s) = (be(view.signature_r()), be(view.signature_s()));
    let signed = view.signed_bytes().to_vec();
    let p = default_provider();
    p.verify_ecdsa_p384_sha384(sec1, &signed, &r, &s)
        .expect("the real report verifies");
    let budget = Duration::from_secs_f64(seconds);
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            p.verify_ecdsa_p384_sha384(sec1, black_box(&signed), &r, &s)
                .expect("verifies");
        }
        n += 16;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let cpu_rate = n as f64 / (cpu_seconds() - cpu0);
    println!("p384_verifies_per_sec {} {rate:.0}", p.name());
    // Per second of this thread's CPU time: what one free core does, whatever else runs.
    println!("p384_verifies_per_cpu_sec {} {cpu_rate:.0}", p.name());
}

fn cpu_seconds() -> f64 {
    use nix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread CPU clock");
    t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9
}
