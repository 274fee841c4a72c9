//! The simulated chains check out with an independent implementation (`openssl verify`) and do
//! NOT check out against AMD's real roots.

use std::path::Path;
use std::process::Command;

use der::{Decode, EncodePem};
use snp_certs::product::Product;
use snp_certs::tcb::Tcb;
use snp_sim::pki::ProductCa;
use x509_cert::Certificate;

fn openssl() -> Option<&'static str> {
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => Some("openssl"),
        _ => {
            eprintln!(
                "SKIPPED: `openssl` is not installed; chain check by an independent tool not run"
            );
            None
        }
    }
}

fn write_pem(dir: &Path, name: &str, der: &[u8]) -> String {
    let cert = Certificate::from_der(der).expect("simulated certificate parses with x509-cert");
    let pem = cert.to_pem(der::pem::LineEnding::LF).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p.to_string_lossy().into_owned()
}

fn verify(ca: &str, untrusted: &str, leaf: &str) -> (bool, String) {
    let out = Command::new("openssl")
        .args(["verify", "-CAfile", ca, "-untrusted", untrusted, leaf])
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn vcek_and_vlek_chains_verify_with_openssl() {
    if openssl().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seed = [3u8; 32];
    let chip = [0x5Au8; 64];
    for p in Product::ALL {
        let ca = ProductCa::get(p).unwrap();
        let tcb = if p.has_fmc() {
            Tcb::with_fmc(1, 3, 0, 5, 0x99)
        } else {
            Tcb::new(3, 0, 8, 0x73)
        };
        let name = p.kds_name();
        let ark = write_pem(dir.path(), &format!("ark-{name}.pem"), ca.ark_der());
        let ask = write_pem(dir.path(), &format!("ask-{name}.pem"), ca.ask_der());
        let asvk = write_pem(dir.path(), &format!("asvk-{name}.pem"), ca.asvk_der());
        let vcek = ca.issue_vcek(&seed, &chip, &tcb).unwrap();
        let vcek = write_pem(dir.path(), &format!("vcek-{name}.pem"), &vcek.cert_der);
        let vlek = ca.issue_vlek(&seed, "CN=cc-sim.example", &tcb).unwrap();
        let vlek = write_pem(dir.path(), &format!("vlek-{name}.pem"), &vlek.cert_der);

        let (ok, text) = verify(&ark, &ask, &vcek);
        assert!(ok, "{name} VCEK chain: {text}");
        let (ok, text) = verify(&ark, &asvk, &vlek);
        assert!(ok, "{name} VLEK chain: {text}");
        // The VLEK does not chain through the ASK, nor the VCEK through the ASVK.
        let (ok, _) = verify(&ark, &ask, &vlek);
        assert!(!ok, "{name} VLEK must not verify via the ASK");

        // openssl sees exactly AMD's PSS parameters.
        let out = Command::new("openssl")
            .args(["x509", "-in", &vcek, "-noout", "-text"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Hash Algorithm: sha384"), "{text}");
        assert!(text.contains("Mask Algorithm: mgf1 with sha384"), "{text}");
        assert!(text.contains("Salt Length: 0x30"), "{text}");
    }
}

#[test]
fn simulated_chain_never_verifies_against_amd_roots() {
    if openssl().is_none() {
        return;
    }
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/real/go-sev-guest");
    let dir = tempfile::tempdir().unwrap();
    for (p, file) in [
        (Product::Milan, "ask_ark_milan.pem"),
        (Product::Genoa, "ask_ark_genoa.pem"),
        (Product::Turin, "ask_ark_turin_vcek.pem"),
    ] {
        let amd = real.join(file);
        if !amd.exists() {
            eprintln!("SKIPPED: {} missing", amd.display());
            continue;
        }
        let ca = ProductCa::get(p).unwrap();
        let ask = write_pem(dir.path(), "ask.pem", ca.ask_der());
        let vcek = ca
            .issue_vcek(&[1u8; 32], &[9u8; 64], &Tcb::with_fmc(0, 1, 0, 1, 1))
            .unwrap();
        let vcek = write_pem(dir.path(), "vcek.pem", &vcek.cert_der);
        // AMD's ARK+ASK as the only trust anchors: the simulated ASK/VCEK must not chain.
        let (ok, text) = verify(&amd.to_string_lossy(), &ask, &vcek);
        assert!(
            !ok,
            "simulated {p:?} chain verified against AMD's roots: {text}"
        );
    }
}
