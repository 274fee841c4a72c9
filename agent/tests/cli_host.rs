//! `snp-agent host blob build|show|install` end to end (issue 15): a blob built from the
//! simulator's certificate files is shown, installed under the locks, read back under either
//! lock kind, and accepted by `snp-agent certs` and `verify` as the table of real evidence.
#![cfg(feature = "sim")]

mod cli_support;

use serde_json::Value;
use snp_agent::backend::sim::SimBackend;
use snp_agent::backend::{Backend, ReportRequest};
use snp_agent::evidence::{Evidence, Format};
use snp_certs::product::Product;
use snp_ghcb::retry::RetryPolicy;
use snp_sim::platform::SimPlatform;

use cli_support::{run, snp_agent};

fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap());
        s.push('\n');
    }
    s + "-----END CERTIFICATE-----\n"
}

#[test]
fn build_show_install_and_certs_accepts_the_blob() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = SimPlatform::builder(Product::Genoa).build().unwrap();
    let roots = p.roots().unwrap();
    // ARK as PEM, ASK and VCEK as DER: both encodings are read.
    std::fs::write(d.join("ark.pem"), pem(&roots.ark_der)).unwrap();
    std::fs::write(d.join("ask.der"), &roots.ask_der).unwrap();
    std::fs::write(d.join("vcek.der"), p.vcek_der()).unwrap();
    let blob_path = d.join("built.bin");
    let (code, _, err) = run(snp_agent(d)
        .args(["host", "blob", "build", "--ark"])
        .arg(d.join("ark.pem"))
        .arg("--ask")
        .arg(d.join("ask.der"))
        .arg("--vcek")
        .arg(d.join("vcek.der"))
        .arg("-o")
        .arg(&blob_path));
    assert_eq!(code, 0, "{err}");
    let blob = std::fs::read(&blob_path).unwrap();
    assert_eq!(blob.len() % 4096, 0);

    // show: entries in order, the chip and TCB, and the chain against the simulator's roots
    // (and not against AMD's).
    let (code, out, err) = run(snp_agent(d)
        .args(["host", "blob", "show", "--sim-roots", "--format", "json"])
        .arg(&blob_path));
    assert_eq!(code, 0, "{err}");
    let info: Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = info["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ARK", "ASK", "VCEK"]);
    assert_eq!(info["vek"]["tcb"], p.reported_tcb().to_string());
    assert_eq!(
        info["vek"]["hw_id"],
        hex::encode(&p.chip_id()[..Product::Genoa.hwid_len()])
    );
    assert_eq!(info["chain_verifies"], true);
    let (code, out, _) = run(snp_agent(d).args(["host", "blob", "show"]).arg(&blob_path));
    assert_eq!(
        code, 2,
        "AMD's roots must not vouch for the simulator: {out}"
    );
    assert!(out.contains("DOES NOT VERIFY"), "{out}");

    // install under the locks, then read back under each reader kind.
    let served = d.join("served/certs.bin");
    std::fs::create_dir_all(served.parent().unwrap()).unwrap();
    let (code, _, err) = run(snp_agent(d)
        .args(["host", "blob", "install"])
        .arg(&blob_path)
        .arg("--path")
        .arg(&served));
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&served).unwrap(), blob);
    for kind in ["ofd", "flock"] {
        let (code, _, err) = run(snp_agent(d)
            .args(["host", "blob", "show", "--sim-roots", "--lock", kind])
            .arg(&served));
        assert_eq!(code, 0, "{kind}: {err}");
    }
    // A broken blob is refused and the installed one stays.
    std::fs::write(d.join("junk.bin"), b"not a table").unwrap();
    let (code, _, _) = run(snp_agent(d)
        .args(["host", "blob", "install"])
        .arg(d.join("junk.bin"))
        .arg("--path")
        .arg(&served));
    assert_ne!(code, 0);
    assert_eq!(std::fs::read(&served).unwrap(), blob);

    // `snp-agent certs` and `verify` accept the built blob as the host's table of evidence.
    let mut b = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
    let ext = b.get_ext_report(&ReportRequest::default()).unwrap();
    let ev = Evidence::new(ext.report, blob.clone());
    let ev_path = d.join("ev.json");
    ev.write_path(&ev_path, Format::Json).unwrap();
    let (code, out, err) = run(snp_agent(d)
        .args(["certs", "--format", "json"])
        .arg(&ev_path));
    assert_eq!(code, 0, "{err}");
    for kind in ["ARK", "ASK", "VCEK"] {
        assert!(out.contains(&format!("\"{kind}\"")), "{kind}: {out}");
    }
    let (code, _, err) = run(snp_agent(d)
        .args(["verify", "--sim-roots", "--offline"])
        .arg(&ev_path));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn build_refuses_a_blob_without_a_vek_and_a_bundle_for_one_cert() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let roots = snp_sim::pki::SimRoots::for_product(Product::Milan).unwrap();
    std::fs::write(d.join("two.pem"), roots.to_pem().unwrap()).unwrap();
    let (code, _, err) = run(snp_agent(d)
        .args(["host", "blob", "build", "--vcek"])
        .arg(d.join("two.pem"))
        .arg("-o")
        .arg(d.join("x.bin")));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("one certificate per option"), "{err}");
    let (code, _, err) = run(snp_agent(d)
        .args(["host", "blob", "build", "-o"])
        .arg(d.join("x.bin")));
    assert_eq!(code, 1, "{err}");
}

/// A two-route KDS on 127.0.0.1: `/vcek/v1/<product>/cert_chain` answers the chain PEM, any
/// other `/vcek/v1/...` the VCEK DER.
fn mock_kds(vcek: Vec<u8>, chain: Vec<u8>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            let (status, body): (&str, &[u8]) = if path.ends_with("/cert_chain") {
                ("200 OK", &chain)
            } else if path.starts_with("/vcek/v1/") {
                ("200 OK", &vcek)
            } else {
                ("404 Not Found", b"")
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(body);
        }
    });
    format!("http://{addr}")
}

/// `host blob fetch` with real AMD data: the VCEK for the real Milan report's chip and TCB and
/// Milan's chain, from a mock KDS, make a blob that chains to AMD's pinned roots.
#[test]
fn fetch_builds_a_blob_that_chains_to_amds_roots() {
    use snp_certs::report::ReportView;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let report = cli_support::read_real(cli_support::MILAN.report);
    let view = ReportView::new(&report).unwrap();
    let chip = hex::encode(view.chip_id());
    let tcb = format!(
        "{:#x}",
        view.reported_tcb(Product::Milan)
            .unwrap()
            .to_u64(Product::Milan)
    );
    let url = mock_kds(
        cli_support::read_real(cli_support::MILAN.vek),
        cli_support::read_real(cli_support::MILAN.chain),
    );
    let blob = d.join("fetched.bin");
    let (code, _, err) = run(snp_agent(d)
        .args([
            "host",
            "blob",
            "fetch",
            "--product",
            "milan",
            "--chip-id",
            &chip,
        ])
        .args(["--tcb", &tcb, "--kds-url", &url, "-o"])
        .arg(&blob));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(snp_agent(d)
        .args(["host", "blob", "show", "--format", "json"])
        .arg(&blob));
    assert_eq!(code, 0, "{out}{err}");
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["chain_verifies"], true, "{info}");
    assert_eq!(info["vek"]["hw_id"], chip);
    assert_eq!(
        info["vek"]["tcb"],
        view.reported_tcb(Product::Milan).unwrap().to_string()
    );
}
