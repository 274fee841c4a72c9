//! Comparison benchmark (issue 8): our verifier against the `sev` crate (OpenSSL and pure-Rust
//! backends) and against a bare P-384 signature verification, on the same real evidence, in
//! one run.
//!
//! Run: `cargo bench -p snp-certs --bench compare`. Prints, for a script to read:
//! * `median NAME NANOSECONDS` for every measurement;
//! * `ratio NAME VALUE`: `*_vs_sev_*` = the sev crate's time / ours (speed-up, higher is
//!   better); `warm_vs_bare_p384_*` = our warm time / a bare P-384 verify (cost, lower is
//!   better).
//!
//! The evidence is virtee/sev's real Milan report with its VCEK and the KDS Milan chain.
//! "sev" (the `sev` crate 8, what snpguest pins) does what its documentation shows a verifier
//! doing: parse ARK, ASK and VCEK from DER, parse the report, then `(&chain, &report).verify()`
//! (ARK self-signature, ARK→ASK, ASK→VCEK, VCEK→report). It checks no TCB, chip-ID or signer
//! binding; ours does, every time.
//!
//! sev's two backends cannot share one build (its `openssl` and `crypto_nossl` features refuse
//! each other and Cargo unifies features), so `sev_nossl` runs in this process and `sev_openssl`
//! in a child: `bench-baselines/sev-openssl`, built here on first use into
//! `target/bench-baselines` with its own lock file. The child checks that it accepts the
//! evidence and refuses it with one signed byte flipped, then times batches on request with the
//! same thread-CPU clock; its samples are taken in the same interleaved rounds as everyone
//! else's. If it cannot be built (no OpenSSL headers), its figures are skipped with a note.
//!
//! * `ours_cold_*`: a fresh verifier with an empty cache over AMD's pinned anchors, verifying
//!   the report with the chain taken from the evidence (VCEK, and the host's ASK and ARK as
//!   DER, as a certificate table carries them), then one verification. The host's ARK/ASK are
//!   byte-identical to the pinned ones, so they cost a comparison; the pinned ARK
//!   self-signature and ARK→ASK were proven once in this process (at first use, during the
//!   warm-up) — what is paid is the VCEK parse, ASK→VCEK (RSA), the report signature (ECDSA)
//!   and the binding checks;
//! * `ours_uncached_*`: the same with `ChainCache::disabled()`, which remembers nothing, not
//!   even the pinned roots' proofs: ARK self-signature, ARK→ASK, ASK→VCEK and the report
//!   signature are all checked, as in sev's figure (plus our binding checks);
//! * `ours_warm_*`: the same report verified again by a verifier that has seen it (its chain
//!   is cached; the report signature and every binding check still run);
//! * `bare_p384_*`: SHA-384 over bytes 0x000..0x2A0 plus the ECDSA verification, nothing else.
//!
//! Timing: every candidate is measured once per round, round-robin, for `ROUNDS` rounds; each
//! measurement is the mean of a small batch; the figure is the median over rounds. Interleaving
//! keeps the ratios fair when other processes load the machine. Samples are taken in the
//! thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on a shared machine a long
//! sample (sev's, several milliseconds) is preempted far more often than a short one, and wall
//! time would charge those preemptions to it and flatter the ratios.

use std::hint::black_box;
use std::sync::Arc;

/// This thread's CPU time in nanoseconds.
fn cpu_ns() -> f64 {
    use nix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread CPU clock");
    t.tv_sec() as f64 * 1e9 + t.tv_nsec() as f64
}

use snp_certs::cache::ChainCache;
use snp_certs::chain::pem_certificates;
use snp_certs::crypto::{available_providers, CryptoProvider};
use snp_certs::report::ReportView;
use snp_certs::roots::TrustAnchors;
use snp_certs::verify::{Endorsements, Verifier};

/// 2026-11-25T00:00:00Z, inside every certificate's validity window.
const NOW: u64 = 1_795_564_800;
const ROUNDS: usize = 41;

#[derive(Clone)]
struct Evidence {
    report: Vec<u8>,
    vcek: Vec<u8>,
    ark: Vec<u8>,
    ask: Vec<u8>,
}

fn load() -> Evidence {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/real");
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let chain_pem = String::from_utf8(read("virtee-sev/cert_chain_milan")).expect("utf-8 PEM");
    let ders = pem_certificates(chain_pem.as_bytes()).expect("chain PEM");
    let [ask, ark]: [Vec<u8>; 2] = ders.try_into().expect("ASK + ARK");
    Evidence {
        report: read("virtee-sev/report_milan.bin"),
        vcek: read("virtee-sev/vcek_milan.der"),
        ark,
        ask,
    }
}

fn fresh_verifier(anchors: TrustAnchors, p: &Arc<dyn CryptoProvider>) -> Verifier {
    Verifier::with_provider(anchors, Arc::clone(p))
        .with_cache(Arc::new(ChainCache::new()))
        .at_unix(NOW)
}

/// How a candidate is timed: in this thread, or by the child process that runs it.
enum Run<'a> {
    /// One verification; timed here around a batch.
    Local(Box<dyn FnMut() + 'a>),
    /// A batch of `n` verifications run elsewhere; returns the mean thread-CPU ns it measured.
    Child(Box<dyn FnMut(usize) -> f64 + 'a>),
}

type Candidate<'a> = (String, usize, Run<'a>);

fn local<'a>(f: impl FnMut() + 'a) -> Run<'a> {
    Run::Local(Box::new(f))
}

/// The `sev`+OpenSSL baseline child (see the module docs).
struct SevOpenssl {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    _files: tempfile::TempDir,
}

impl SevOpenssl {
    fn start(ev: &Evidence) -> Result<Self, String> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = root.join("bench-baselines/sev-openssl/Cargo.toml");
        let target_dir = root.join("target/bench-baselines");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
        eprintln!(
            "# building the sev+openssl baseline ({})",
            manifest.display()
        );
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--quiet",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("running cargo: {e}"))?;
        if !status.success() {
            return Err(format!("building {} failed ({status})", manifest.display()));
        }
        let files = tempfile::tempdir().map_err(|e| format!("scratch directory: {e}"))?;
        let mut paths = Vec::new();
        for (name, bytes) in [
            ("ark.der", &ev.ark),
            ("ask.der", &ev.ask),
            ("vek.der", &ev.vcek),
            ("report.bin", &ev.report),
        ] {
            let p = files.path().join(name);
            std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))?;
            paths.push(p);
        }
        let mut child = Command::new(target_dir.join("release/sev-openssl-baseline"))
            .args(&paths)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the baseline: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("baseline pipes missing".into());
        };
        let mut stdout = std::io::BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(|e| format!("reading the baseline: {e}"))?;
        if line.trim() != "ready" {
            let _ = child.wait();
            return Err("the baseline refused the evidence (its message is above)".into());
        }
        Ok(Self {
            child,
            stdin,
            stdout,
            _files: files,
        })
    }

    /// Mean thread-CPU ns of `n` verifications in the child.
    fn run(&mut self, n: usize) -> f64 {
        use std::io::{BufRead, Write};
        writeln!(self.stdin, "{n}").expect("baseline stdin");
        self.stdin.flush().expect("baseline stdin");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("baseline stdout");
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("baseline answered {line:?}"))
    }
}

impl Drop for SevOpenssl {
    fn drop(&mut self) {
        // The child would end its loop when stdin closes; kill it outright so that a bench
        // unwinding from a panic never waits on it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported by this harness.
    let ev = load();
    let endorsements = Endorsements::new(ev.vcek.clone());
    // The chain as evidence carries it: VCEK plus the host's ASK and ARK (DER).
    let from_evidence = Endorsements::new(ev.vcek.clone())
        .with_host_chain(Some(ev.ask.clone()), Some(ev.ark.clone()));
    let providers = available_providers();

    // Correctness first: every candidate must accept this evidence.
    for p in &providers {
        for e in [&endorsements, &from_evidence] {
            fresh_verifier(TrustAnchors::amd(), p)
                .verify(&ev.report, e)
                .unwrap_or_else(|err| panic!("{}: ours rejects the evidence: {err}", p.name()));
        }
    }
    sev_nossl_verify(&ev).expect("sev+crypto_nossl rejects the evidence");
    let mut tampered = ev.report.clone();
    tampered[0x50] ^= 1;
    sev_nossl_verify(&Evidence {
        report: tampered,
        ..ev.clone()
    })
    .expect_err("sev+crypto_nossl accepts a tampered report");
    let mut sev_openssl = SevOpenssl::start(&ev)
        .map_err(|e| println!("# sev+openssl baseline unavailable, its ratios skipped: {e}"))
        .ok();

    let view = ReportView::new(&ev.report).expect("report");
    let sec1 = {
        let cert = snp_certs::chain::AmdCert::from_der("VEK", &ev.vcek).expect("VCEK");
        match cert.public_key() {
            snp_certs::chain::PublicKey::P384 { sec1 } => sec1.clone(),
            other => panic!("VCEK key {other:?}"),
        }
    };
    let le_to_be = |le: &[u8; 72]| {
        let mut be = [0u8; 48];
        for (d, s) in be.iter_mut().zip(le[..48].iter().rev()) {
            *d = *s;
        }
        be
    };
    let (r, s) = (le_to_be(view.signature_r()), le_to_be(view.signature_s()));
    let signed = view.signed_bytes().to_vec();

    let mut cands: Vec<Candidate<'_>> = Vec::new();
    for p in &providers {
        let name = p.name().replace('-', "");
        let (ev_ref, e_ref, host_ref) = (&ev, &endorsements, &from_evidence);
        let p1 = Arc::clone(p);
        cands.push((
            format!("ours_cold_{name}"),
            3,
            local(move || {
                let v = fresh_verifier(TrustAnchors::amd(), &p1);
                black_box(
                    v.verify(black_box(&ev_ref.report), host_ref)
                        .expect("verifies"),
                );
            }),
        ));
        let p2 = Arc::clone(p);
        cands.push((
            format!("ours_uncached_{name}"),
            3,
            local(move || {
                let v = Verifier::with_provider(TrustAnchors::amd(), Arc::clone(&p2))
                    .with_cache(Arc::new(ChainCache::disabled()))
                    .at_unix(NOW);
                black_box(
                    v.verify(black_box(&ev_ref.report), host_ref)
                        .expect("verifies"),
                );
            }),
        ));
        let warm = fresh_verifier(TrustAnchors::amd(), p);
        warm.verify(&ev.report, &endorsements).expect("verifies");
        cands.push((
            format!("ours_warm_{name}"),
            5,
            local(move || {
                black_box(
                    warm.verify(black_box(&ev_ref.report), e_ref)
                        .expect("verifies"),
                );
            }),
        ));
        let p3 = Arc::clone(p);
        let (sec1, signed) = (sec1.clone(), signed.clone());
        cands.push((
            format!("bare_p384_{name}"),
            5,
            local(move || {
                p3.verify_ecdsa_p384_sha384(&sec1, black_box(&signed), &r, &s)
                    .expect("verifies");
            }),
        ));
    }
    // Breakdown: one RSA-4096 PSS certificate signature (ARK→ASK) per provider, and the
    // X.509 + AMD-extension parse of the VCEK.
    let ark = snp_certs::chain::AmdCert::from_der("ARK", &ev.ark).expect("ARK");
    let ask = snp_certs::chain::AmdCert::from_der("ASK", &ev.ask).expect("ASK");
    for p in &providers {
        let (p, ark, ask) = (Arc::clone(p), ark.clone(), ask.clone());
        cands.push((
            format!("part_rsa4096_pss_{}", p.name().replace('-', "")),
            3,
            local(move || {
                ask.verify_issued_by(black_box(&ark), &*p)
                    .expect("verifies")
            }),
        ));
    }
    // aws-lc with the RSA key parsed once (ParsedPublicKey): what caching parsed issuer keys
    // in the provider would save per certificate signature.
    #[cfg(feature = "aws-lc")]
    {
        use aws_lc_rs::signature::{ParsedPublicKey, RSA_PSS_2048_8192_SHA384};
        use der::{Decode, Encode};
        let cert = x509_cert::Certificate::from_der(&ev.ask).expect("ASK");
        let tbs = cert.tbs_certificate.to_der().expect("TBS");
        let sig = cert.signature.raw_bytes().to_vec();
        let ark_cert = x509_cert::Certificate::from_der(&ev.ark).expect("ARK");
        let pkcs1 = ark_cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
            .to_vec();
        let parsed = ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, &pkcs1).expect("key");
        parsed.verify_sig(&tbs, &sig).expect("verifies");
        cands.push((
            "part_rsa4096_pss_awslc_preparsed_key".into(),
            3,
            local(move || parsed.verify_sig(black_box(&tbs), &sig).expect("verifies")),
        ));
    }
    // Building a verifier over the pinned anchors (no signature work: anchors are checked lazily).
    for p in providers.iter().take(1) {
        let p = Arc::clone(p);
        cands.push((
            "part_verifier_new".into(),
            5,
            local(move || {
                black_box(fresh_verifier(TrustAnchors::amd(), &p));
            }),
        ));
    }
    let vcek_der = ev.vcek.clone();
    cands.push((
        "part_vcek_parse".into(),
        5,
        local(move || {
            black_box(
                snp_certs::chain::AmdCert::from_der("VEK", black_box(&vcek_der)).expect("VCEK"),
            );
        }),
    ));
    let ev_ref = &ev;
    if let Some(child) = sev_openssl.as_mut() {
        // A larger batch than the in-process candidates: each sample wakes the child from a
        // pipe read, and its first verification after the wake-up runs on cold caches; over
        // 10 that costs little (with 3 it inflated sev's median by up to a fifth, flattering us).
        cands.push((
            "sev_openssl".into(),
            10,
            Run::Child(Box::new(move |n| child.run(n))),
        ));
    }
    cands.push((
        "sev_nossl".into(),
        3,
        local(move || sev_nossl_verify(black_box(ev_ref)).expect("verifies")),
    ));

    // One sample: the mean thread-CPU ns of a batch, timed here or by the child.
    let sample = |batch: usize, run: &mut Run<'_>| match run {
        Run::Local(f) => {
            let t = cpu_ns();
            for _ in 0..batch {
                f();
            }
            (cpu_ns() - t) / batch as f64
        }
        Run::Child(f) => f(batch),
    };
    // Warm-up.
    for (_, batch, run) in cands.iter_mut() {
        sample(*batch, run);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); cands.len()];
    for _ in 0..ROUNDS {
        for (i, (_, batch, run)) in cands.iter_mut().enumerate() {
            samples[i].push(sample(*batch, run));
        }
    }
    let mut medians = std::collections::BTreeMap::new();
    let mut minimums = std::collections::BTreeMap::new();
    println!(
        "# machine: {} ({} CPUs), load average {}",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default()
    );
    println!("# {ROUNDS} interleaved rounds; median thread-CPU ns per verification");
    for ((name, _, _), mut s) in cands.iter().zip(samples) {
        s.sort_by(|a, b| a.total_cmp(b));
        let m = s[s.len() / 2];
        println!(
            "median {name} {m:.0}   # min {:.0} max {:.0}",
            s[0],
            s[s.len() - 1]
        );
        medians.insert(name.clone(), m);
        minimums.insert(name.clone(), s[0]);
    }
    let get = |k: &str| medians.get(k).copied();
    let ratio = |name: &str, num: Option<f64>, den: Option<f64>| {
        if let (Some(n), Some(d)) = (num, den) {
            println!("ratio {name} {:.2}", n / d);
        }
    };
    if !providers.iter().any(|p| p.name() == "aws-lc") {
        println!("# aws-lc provider not compiled in: run with `--features aws-lc` for its figures");
    }
    let sev_ossl = get("sev_openssl");
    let sev_nossl = get("sev_nossl");
    for (suffix, tag) in [("awslc", ""), ("rustcrypto", "_rustcrypto")] {
        let cold = get(&format!("ours_cold_{suffix}"));
        let uncached = get(&format!("ours_uncached_{suffix}"));
        let warm = get(&format!("ours_warm_{suffix}"));
        let bare = get(&format!("bare_p384_{suffix}"));
        ratio(&format!("cold_vs_sev_openssl{tag}"), sev_ossl, cold);
        ratio(&format!("uncached_vs_sev_openssl{tag}"), sev_ossl, uncached);
        ratio(&format!("warm_vs_sev_openssl{tag}"), sev_ossl, warm);
        ratio(&format!("cold_vs_sev_nossl{tag}"), sev_nossl, cold);
        ratio(&format!("uncached_vs_sev_nossl{tag}"), sev_nossl, uncached);
        ratio(&format!("warm_vs_sev_nossl{tag}"), sev_nossl, warm);
        ratio(&format!("warm_vs_bare_p384_{suffix}"), warm, bare);
    }
    // On a loaded machine a long sample (sev's ~1.3 ms x 3) is preempted more often than a
    // short one, which biases median ratios in our favour; the ratio of the minimums (each
    // candidate's least-disturbed round) is the conservative figure to quote then.
    let min = |k: &str| minimums.get(k).copied();
    for (name, num, den) in [
        ("cold_vs_sev_openssl", "sev_openssl", "ours_cold_awslc"),
        (
            "cold_vs_sev_nossl_rustcrypto",
            "sev_nossl",
            "ours_cold_rustcrypto",
        ),
        (
            "warm_vs_bare_p384_awslc",
            "ours_warm_awslc",
            "bare_p384_awslc",
        ),
    ] {
        if let (Some(n), Some(d)) = (min(num), min(den)) {
            println!("ratio_of_minimums {name} {:.2}", n / d);
        }
    }
    ratio(
        "bare_p384_awslc_vs_rustcrypto",
        get("bare_p384_rustcrypto"),
        get("bare_p384_awslc"),
    );
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn sev_nossl_verify(ev: &Evidence) -> std::io::Result<()> {
    use sev::certs::snp::{Chain, Verifiable};
    use sev::firmware::guest::AttestationReport;
    use sev::parser::ByteParser;
    let chain = Chain::from_der(&ev.ark, &ev.ask, &ev.vcek)?;
    let report = AttestationReport::from_bytes(&ev.report)?;
    (&chain, &report).verify()
}
