//! The compare bench's `sev`+OpenSSL baseline, run as a child process (see Cargo.toml for why it
//! is a separate build).
//!
//! Usage: `sev-openssl-baseline ARK.der ASK.der VEK.der REPORT.bin`. It first checks that the
//! baseline really verifies: the evidence must verify and the same report with one signed byte
//! flipped must not (a baseline that skipped the signature would flatter every ratio). Then it
//! prints `ready` and answers each line `N` on stdin with the mean thread-CPU nanoseconds of `N`
//! verifications, one line each, until end of input. Each verification does what sev's
//! documentation shows a verifier doing and what the in-process `sev_nossl` candidate does: parse
//! ARK, ASK and VEK from DER, parse the report, `(&chain, &report).verify()`.

use std::hint::black_box;
use std::io::{BufRead, Write};
use std::process::ExitCode;

use sev::certs::snp::{Chain, Verifiable};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

struct Evidence {
    ark: Vec<u8>,
    ask: Vec<u8>,
    vek: Vec<u8>,
    report: Vec<u8>,
}

fn verify(ev: &Evidence, report: &[u8]) -> std::io::Result<()> {
    let chain = Chain::from_der(&ev.ark, &ev.ask, &ev.vek)?;
    let report = AttestationReport::from_bytes(report)?;
    (&chain, &report).verify()
}

/// This thread's CPU time in nanoseconds.
fn cpu_ns() -> f64 {
    use nix::time::{clock_gettime, ClockId};
    match clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID) {
        Ok(t) => t.tv_sec() as f64 * 1e9 + t.tv_nsec() as f64,
        Err(e) => {
            eprintln!("sev-openssl-baseline: thread CPU clock: {e}");
            std::process::exit(2);
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ark, ask, vek, report] = args.as_slice() else {
        eprintln!("usage: sev-openssl-baseline ARK.der ASK.der VEK.der REPORT.bin");
        return ExitCode::from(2);
    };
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
    let ev = match (read(ark), read(ask), read(vek), read(report)) {
        (Ok(ark), Ok(ask), Ok(vek), Ok(report)) => Evidence {
            ark,
            ask,
            vek,
            report,
        },
        (a, b, c, d) => {
            for e in [a.err(), b.err(), c.err(), d.err()].into_iter().flatten() {
                eprintln!("sev-openssl-baseline: {e}");
            }
            return ExitCode::from(2);
        }
    };
    if let Err(e) = verify(&ev, &ev.report) {
        eprintln!("sev-openssl-baseline: sev+openssl rejects the evidence: {e}");
        return ExitCode::FAILURE;
    }
    let mut tampered = ev.report.clone();
    if let Some(b) = tampered.get_mut(0x50) {
        *b ^= 1; // REPORT_DATA[0], inside the signed range
    }
    if verify(&ev, &tampered).is_ok() {
        eprintln!("sev-openssl-baseline: sev+openssl accepts a tampered report; not a baseline");
        return ExitCode::FAILURE;
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "ready").and_then(|()| out.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let n: u32 = match line.trim().parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("sev-openssl-baseline: expected a positive count, got {line:?}");
                return ExitCode::from(2);
            }
        };
        let t = cpu_ns();
        for _ in 0..n {
            if let Err(e) = verify(black_box(&ev), black_box(&ev.report)) {
                eprintln!("sev-openssl-baseline: verification failed mid-run: {e}");
                return ExitCode::FAILURE;
            }
        }
        let per_op = (cpu_ns() - t) / f64::from(n);
        if writeln!(out, "{per_op:.0}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
