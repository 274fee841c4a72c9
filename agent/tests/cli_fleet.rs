//! Fleet verification (issue 14): `verify --batch` and the `verifier` service on real AMD
//! evidence, each compared with what a single `snp-agent verify` concludes for the same input;
//! and the Kubernetes manifests in `deploy/` checked against the real CLI.

#[path = "cli_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use snp_agent::evidence::Format;
use snp_agent::exit_code;
use support::*;
use yaml_rust2::{Yaml, YamlLoader};

/// MANIFEST.md's "now": every pair used here is valid then.
const AT: &str = "2026-11-25T00:00:00Z";

/// A directory of evidence: three genuine chips in different formats, a tampered report, an
/// unreadable file. Returns (dir, file name → expected exit code).
fn fleet(dir: &Path) -> BTreeMap<String, u8> {
    let mut expected = BTreeMap::new();
    for (name, pair, format) in [
        ("a-milan", &MILAN, Format::Json),
        ("b-turin", &TURIN, Format::Bin),
        ("c-genoa", &GENOA, Format::Coco),
    ] {
        let p = write(&evidence(pair), format, dir, name);
        expected.insert(file_name(&p), exit_code::SUCCESS);
    }
    let mut bad = evidence(&MILAN);
    bad.report[0x50] ^= 1;
    let p = write(&bad, Format::Bin, dir, "d-tampered");
    expected.insert(file_name(&p), exit_code::VERIFICATION_FAILED);
    std::fs::write(dir.join("e-garbage"), b"not evidence").unwrap();
    expected.insert("e-garbage".into(), exit_code::EVIDENCE_INVALID);
    // Dot-files are not inputs.
    std::fs::write(dir.join(".hidden"), b"ignored").unwrap();
    expected
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn batch_over_a_directory_agrees_with_single_verify() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let expected = fleet(dir.path());
    let (code, out, err) = run(snp_agent(cache.path())
        .args(["verify", "--batch", "--offline", "--at", AT])
        .arg(dir.path()));
    // The worst verdict: a verification failure outranks unreadable evidence.
    assert_eq!(
        code,
        i32::from(exit_code::VERIFICATION_FAILED),
        "{out}\n{err}"
    );
    let got = lines(&out);
    assert_eq!(got.len(), expected.len(), "{out}");
    let mut indices: Vec<u64> = got.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    indices.sort();
    assert_eq!(indices, (0..expected.len() as u64).collect::<Vec<_>>());
    for line in &got {
        let input = PathBuf::from(line["input"].as_str().unwrap());
        let name = file_name(&input);
        let want = expected[&name];
        assert_eq!(line["exit_code"], want, "{name}: {line}");
        // Exactly what a single verify says about the same file.
        let (single, _, _) = run(snp_agent(cache.path())
            .args(["verify", "--offline", "--at", AT])
            .arg(&input));
        assert_eq!(single, i32::from(want), "{name}");
        let verdict = match want {
            0 => "affirming",
            exit_code::EVIDENCE_INVALID => "error",
            _ => "contraindicated",
        };
        assert_eq!(line["verdict"], verdict, "{name}: {line}");
        if name.starts_with("d-tampered") {
            assert!(line["failed"]
                .as_array()
                .unwrap()
                .contains(&"report_signature".into()));
        }
        assert!(
            line.get("result").is_none(),
            "no full result without --format json"
        );
    }
}

#[test]
fn batch_from_stdin_with_full_results() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let milan = write(&evidence(&MILAN), Format::Json, dir.path(), "m");
    let turin = write(&evidence(&TURIN), Format::Bin, dir.path(), "t");
    // Same chip three times, a blank line, and a path that does not exist.
    let input = format!(
        "{m}\n{m}\n\n{t}\n{m}\n{missing}\n",
        m = milan.display(),
        t = turin.display(),
        missing = dir.path().join("missing.json").display()
    );
    let (code, out, err) = run(snp_agent(cache.path())
        .args([
            "verify",
            "--batch",
            "-",
            "--offline",
            "--at",
            AT,
            "--format",
            "json",
        ])
        .write_stdin(input));
    assert_eq!(code, i32::from(exit_code::EVIDENCE_INVALID), "{out}\n{err}");
    let got = lines(&out);
    assert_eq!(got.len(), 5, "{out}");
    for line in &got {
        if line["input"].as_str().unwrap().ends_with("missing.json") {
            assert_eq!(line["exit_code"], exit_code::EVIDENCE_INVALID);
            continue;
        }
        assert_eq!(line["exit_code"], 0, "{line}");
        let sub = &line["result"]["submods"]["SEV-SNP"];
        assert_eq!(sub["ear.status"], "affirming", "{line}");
        assert_eq!(sub["snp-agent.trust-anchors"], "amd-pinned");
    }
    // A policy failure for every input (nonce that is not bound): exit 5, all contraindicated.
    let (code, out, _) = run(snp_agent(cache.path())
        .args([
            "verify",
            "--batch",
            "-",
            "--offline",
            "--at",
            AT,
            "--nonce",
            "00112233",
        ])
        .write_stdin(format!("{}\n", milan.display())));
    assert_eq!(code, i32::from(exit_code::POLICY_FAILED), "{out}");
    assert_eq!(lines(&out)[0]["verdict"], "contraindicated");
}

#[test]
fn batch_needs_a_directory_or_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("file");
    std::fs::write(&f, b"x").unwrap();
    let (code, _, err) = run(snp_agent(dir.path()).args(["verify", "--batch"]).arg(&f));
    assert_eq!(code, i32::from(exit_code::USAGE), "{err}");
    assert!(err.contains("--batch"), "{err}");
}

// ---- the verifier service, through the real binary ----

struct Service {
    child: Child,
    addr: SocketAddr,
    /// Everything the service wrote on stderr so far.
    stderr: Arc<Mutex<Vec<u8>>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    /// Stop the service; everything it wrote on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = self.drain.take() {
            let _ = d.join();
        }
        let err = self.stderr.lock().unwrap();
        String::from_utf8_lossy(&err).into_owned()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_service(cache: &Path, extra: &[&str]) -> Service {
    let bin = assert_cmd::cargo::cargo_bin("snp-agent");
    let mut child = std::process::Command::new(bin)
        .env("SNP_AGENT_CACHE_DIR", cache)
        .env_remove("SNP_AGENT_KDS_URL")
        .env_remove("RUST_LOG")
        .args([
            "verifier",
            "--listen",
            "127.0.0.1:0",
            "--offline",
            "--at",
            AT,
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let collected = Arc::new(Mutex::new(Vec::new()));
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "verifier exited before listening"
        );
        collected.lock().unwrap().extend_from_slice(line.as_bytes());
        if let Some(rest) = line
            .trim()
            .strip_prefix("snp-agent: verifier listening on http://")
        {
            break rest.parse().unwrap();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    let sink = Arc::clone(&collected);
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    Service {
        child,
        addr,
        stderr: collected,
        drain: Some(drain),
    }
}

/// One answer: status, headers, body.
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// POST on a fresh connection, with an `Accept` header when `accept` is given.
fn post(addr: SocketAddr, target: &str, accept: Option<&str>, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    write!(
        s,
        "POST {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{accept}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

/// An EAR with what legitimately differs between two issues for the same evidence and policy
/// set aside: the issued-at time (`iat`) and the name of the evidence in the verifier claims
/// (`evidence`: a file path for `verify`, "request body" for the service).
fn per_call_removed(mut e: ear::Ear) -> ear::Ear {
    e.iat = 0;
    for sub in e.submods.values_mut() {
        assert!(
            sub.verifier_claims.remove("evidence").is_some(),
            "the verifier claims name the evidence"
        );
    }
    e
}

/// The EAR `verify --format ear` writes for `path` (with the service's options).
fn cli_ear(cache: &Path, path: &Path, extra: &[&std::ffi::OsStr]) -> (i32, String) {
    let mut cmd = snp_agent(cache);
    cmd.args(["verify", "--offline", "--at", AT, "--format", "ear"])
        .arg(path)
        .args(extra);
    let (code, out, err) = run(&mut cmd);
    assert!(!out.is_empty(), "{err}");
    (code, out)
}

#[test]
fn verifier_answers_the_ear_verify_writes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let oak = policies.join("oak.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/example-policy.toml"),
        &oak,
    )
    .unwrap();
    let svc = start_service(
        cache.path(),
        &["--policy-dir", policies.to_str().unwrap(), "--workers", "2"],
    );

    let mut tampered = evidence(&MILAN);
    tampered.report[0x50] ^= 1;
    let cases: Vec<(&str, snp_agent::evidence::Evidence, Format, &str, u8)> = vec![
        ("milan", evidence(&MILAN), Format::Json, "", 0),
        ("turin-oak", evidence(&TURIN), Format::Bin, "?policy=oak", 0),
        // Milan under the Turin-only policy: verified, policy fails.
        (
            "milan-oak",
            evidence(&MILAN),
            Format::Coco,
            "?policy=oak",
            5,
        ),
        (
            "nonce",
            evidence(&GENOA),
            Format::Json,
            "?nonce=00112233",
            5,
        ),
        ("tampered", tampered, Format::Bin, "", 2),
    ];
    for (name, ev, format, query, code) in cases {
        let path = write(&ev, format, dir.path(), name);
        let body = std::fs::read(&path).unwrap();
        let got = post(svc.addr, &format!("/verify{query}"), None, &body);
        assert_eq!(got.status, 200, "{name}: {}", got.text());
        assert_eq!(
            got.header("x-snp-agent-exit-code").as_deref(),
            Some(code.to_string().as_str()),
            "{name}"
        );
        assert_eq!(
            got.header("content-type").as_deref(),
            Some(
                format!(
                    "application/eat-ucs+json; eat_profile=\"{}\"",
                    ear::EAR_PROFILE
                )
                .as_str()
            ),
            "{name}"
        );
        // The ear crate's own parser (which validates) reads the service's answer.
        let served: ear::Ear = serde_json::from_slice(&got.body)
            .unwrap_or_else(|e| panic!("{name}: not an EAR: {e}: {}", got.text()));
        assert_eq!(
            served.status,
            Some(if code == 0 {
                ear::TrustTier::Affirming
            } else {
                ear::TrustTier::Contraindicated
            }),
            "{name}"
        );
        // The same input through `verify --format ear`: the same EAR, field for field.
        let mut extra: Vec<&std::ffi::OsStr> = Vec::new();
        if query.contains("policy=oak") {
            extra.extend([std::ffi::OsStr::new("--policy"), oak.as_os_str()]);
        }
        if query.contains("nonce") {
            extra.extend(["--nonce", "00112233"].map(std::ffi::OsStr::new));
        }
        let (single, out) = cli_ear(cache.path(), &path, &extra);
        assert_eq!(single, i32::from(code), "{name}");
        let written: ear::Ear = serde_json::from_str(&out).unwrap();
        // By default the service answers on one line and leaves the evidence out (the caller
        // has it; `evidence_id` names it); otherwise the claims are verify's.
        assert!(
            !got.body.trim_ascii_end().contains(&b'\n'),
            "{name}: compact"
        );
        assert!(served.raw_evidence.is_none(), "{name}: no raw evidence");
        let mut lean: ear::Ear = serde_json::from_str(&out).unwrap();
        lean.raw_evidence = None;
        assert_eq!(per_call_removed(served), per_call_removed(lean), "{name}");
        // With ?raw_evidence=1 the evidence rides along: verify's EAR exactly.
        let sep = if query.is_empty() { '?' } else { '&' };
        let with_raw = post(
            svc.addr,
            &format!("/verify{query}{sep}raw_evidence=1"),
            None,
            &body,
        );
        assert_eq!(with_raw.status, 200, "{name}: {}", with_raw.text());
        let served: ear::Ear = serde_json::from_slice(&with_raw.body).unwrap();
        assert!(
            served.raw_evidence.is_some(),
            "{name}: raw evidence asked for"
        );
        assert_eq!(
            per_call_removed(served),
            per_call_removed(written),
            "{name}"
        );
    }

    // Refusals: unreadable evidence, unknown policy, a client that takes only JWTs from a
    // service without a key.
    let r = post(svc.addr, "/verify", None, b"not evidence");
    assert_eq!(
        (r.status, r.header("x-snp-agent-exit-code").as_deref()),
        (400, Some("6")),
        "{}",
        r.text()
    );
    let milan = std::fs::read(write(&evidence(&MILAN), Format::Json, dir.path(), "m2")).unwrap();
    let r = post(svc.addr, "/verify?policy=nope", None, &milan);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.json()["message"].as_str().unwrap().contains("oak"));
    let r = post(svc.addr, "/verify", Some("application/eat+jwt"), &milan);
    assert_eq!(r.status, 406, "{}", r.text());
    assert_eq!(r.json()["error"], "not_acceptable");
    assert!(r.json()["message"].as_str().unwrap().contains("--ear-key"));
    let r = post(svc.addr, "/verify", Some("application/json"), &milan);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `--sim-roots` is said once per process, not once per input: by `verify --batch` over several
/// simulator reports and by the service over several requests.
#[cfg(feature = "sim")]
#[test]
fn simulator_roots_warning_is_said_once_per_process() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    for i in 0..3 {
        let (code, _, err) = run(snp_agent(cache.path())
            .args(["attest", "--backend", "sim", "--out"])
            .arg(inputs.join(format!("e{i}.json"))));
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = run(snp_agent(cache.path())
        .args(["verify", "--batch", "--sim-roots", "--offline"])
        .arg(&inputs));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(lines(&out).len(), 3, "{out}");
    assert_eq!(err.matches("SIMULATOR").count(), 1, "{err}");

    let svc = start_service(cache.path(), &["--sim-roots"]);
    for i in 0..3 {
        let body = std::fs::read(inputs.join(format!("e{i}.json"))).unwrap();
        let r = post(svc.addr, "/verify", None, &body);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-snp-agent-exit-code").as_deref(), Some("0"));
    }
    let err = svc.stop();
    assert_eq!(err.matches("SIMULATOR").count(), 1, "{err}");
}

/// With `--ear-key` the service signs every result, as `verify --ear-key` does, and offers
/// nothing unsigned.
#[cfg(feature = "aws-lc")]
#[test]
fn verifier_with_a_key_answers_signed_ears() {
    // The ear crate's README test key pair (P-256).
    const KEY: &str = include_str!("data/ear-test-key.pem");
    const JWK: &str = include_str!("data/ear-test-key.jwk");
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let key = dir.path().join("ear-key.pem");
    std::fs::write(&key, KEY).unwrap();
    let svc = start_service(cache.path(), &["--ear-key", key.to_str().unwrap()]);
    let path = write(&evidence(&GENOA), Format::Json, dir.path(), "genoa");
    let body = std::fs::read(&path).unwrap();
    let jwt_type = format!("application/eat+jwt; eat_profile=\"{}\"", ear::EAR_PROFILE);
    let (_, out) = cli_ear(
        cache.path(),
        &path,
        &[std::ffi::OsStr::new("--ear-key"), key.as_os_str()],
    );
    let written = || {
        per_call_removed(
            snp_agent::ear::verify_jwt(out.trim(), "ES256", JWK.as_bytes())
                .expect("verify's token verifies"),
        )
    };
    for accept in [
        Some("application/eat+jwt"),
        Some(jwt_type.as_str()),
        Some("application/json;q=0.9, application/jwt;q=0.1"),
        None,
    ] {
        // With the evidence in the token, it is verify's token's claims exactly.
        let got = post(svc.addr, "/verify?raw_evidence=1", accept, &body);
        assert_eq!(got.status, 200, "{accept:?}: {}", got.text());
        assert_eq!(
            got.header("content-type").as_deref(),
            Some(jwt_type.as_str())
        );
        assert_eq!(got.header("x-snp-agent-exit-code").as_deref(), Some("0"));
        // Verified and parsed by the ear crate.
        let served = snp_agent::ear::verify_jwt(got.text().trim(), "ES256", JWK.as_bytes())
            .expect("the service's token verifies");
        assert_eq!(served.status, Some(ear::TrustTier::Affirming));
        assert_eq!(per_call_removed(served), written(), "{accept:?}");
    }
    // By default the token leaves the evidence out; the claims are otherwise the same.
    let got = post(svc.addr, "/verify", None, &body);
    let served = snp_agent::ear::verify_jwt(got.text().trim(), "ES256", JWK.as_bytes())
        .expect("the service's token verifies");
    assert!(served.raw_evidence.is_none());
    let mut lean = written();
    lean.raw_evidence = None;
    assert_eq!(per_call_removed(served), lean);
    // Unsigned JSON is not offered by a signing service.
    for accept in ["application/json", "application/eat-ucs+json"] {
        let r = post(svc.addr, "/verify", Some(accept), &body);
        assert_eq!(r.status, 406, "{accept}: {}", r.text());
        assert_eq!(r.json()["error"], "not_acceptable");
    }
}

// ---- deploy/: the manifests against the real CLI ----

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn manifests() -> Vec<Yaml> {
    let dir = deploy_dir().join("kubernetes");
    let mut docs = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    for p in names {
        let text = std::fs::read_to_string(&p).unwrap();
        let parsed =
            YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        docs.extend(parsed);
    }
    docs
}

fn of_kind<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    let found: Vec<&Yaml> = docs
        .iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

fn strs(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .unwrap_or_else(|| panic!("not a list: {y:?}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

#[test]
fn kubernetes_manifests_agree_with_the_cli() {
    let docs = manifests();
    let deployment = of_kind(&docs, "Deployment");
    let service = of_kind(&docs, "Service");
    let hpa = of_kind(&docs, "HorizontalPodAutoscaler");
    let config = of_kind(&docs, "ConfigMap");
    let name = deployment["metadata"]["name"].as_str().unwrap();
    let pod = &deployment["spec"]["template"];
    let containers = pod["spec"]["containers"].as_vec().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert!(c["command"].is_badvalue(), "the image's ENTRYPOINT is used");
    let args = strs(&c["args"]);
    assert_eq!(args[0], "verifier");
    let value = |flag: &str| {
        let i = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag}"));
        args[i + 1].clone()
    };

    // Ports: --listen, containerPort, probes, Service, Prometheus annotation, Dockerfile EXPOSE.
    let listen = value("--listen");
    let port: i64 = listen.rsplit_once(':').unwrap().1.parse().unwrap();
    let ports = c["ports"].as_vec().unwrap();
    let http = ports
        .iter()
        .find(|p| p["name"].as_str() == Some("http"))
        .expect("a port named http");
    assert_eq!(http["containerPort"].as_i64(), Some(port));
    for probe in ["readinessProbe", "livenessProbe"] {
        let g = &c[probe]["httpGet"];
        assert_eq!(g["path"].as_str(), Some("/healthz"), "{probe}");
        assert!(
            g["port"].as_str() == Some("http") || g["port"].as_i64() == Some(port),
            "{probe} port"
        );
    }
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/port"].as_str(),
        Some(port.to_string().as_str())
    );
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/path"].as_str(),
        Some("/metrics")
    );
    let target = &service["spec"]["ports"][0]["targetPort"];
    assert!(target.as_str() == Some("http") || target.as_i64() == Some(port));
    let dockerfile = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim() == format!("EXPOSE {port}")),
        "Dockerfile EXPOSE {port}"
    );
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/snp-agent\"]"));

    // Selectors and the autoscaler's target.
    let labels = &pod["metadata"]["labels"];
    for (k, v) in service["spec"]["selector"].as_hash().unwrap() {
        assert_eq!(&labels[k.as_str().unwrap()], v, "Service selector");
    }
    for (k, v) in deployment["spec"]["selector"]["matchLabels"]
        .as_hash()
        .unwrap()
    {
        assert_eq!(&labels[k.as_str().unwrap()], v, "Deployment selector");
    }
    let t = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(t["kind"].as_str(), Some("Deployment"));
    assert_eq!(t["name"].as_str(), Some(name));
    assert!(hpa["spec"]["minReplicas"].as_i64().unwrap() >= 1);
    assert!(
        c["resources"]["requests"]["cpu"].as_str().is_some(),
        "CPU utilization scaling needs a CPU request"
    );

    // The mounts the arguments name come from the volumes; put the ConfigMap's policies where
    // the container would see them and run the real CLI with the container's arguments.
    let tmp = tempfile::tempdir().unwrap();
    let mounts = c["volumeMounts"].as_vec().unwrap();
    let volumes = pod["spec"]["volumes"].as_vec().unwrap();
    let mut rewritten = args.clone();
    for m in mounts {
        let mount_path = m["mountPath"].as_str().unwrap();
        let vol = volumes
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap_or_else(|| panic!("volume {:?}", m["name"]));
        let local = tmp.path().join(m["name"].as_str().unwrap());
        std::fs::create_dir_all(&local).unwrap();
        if let Some(cm) = vol["configMap"]["name"].as_str() {
            assert_eq!(Some(cm), config["metadata"]["name"].as_str());
            for (k, v) in config["data"].as_hash().unwrap() {
                std::fs::write(local.join(k.as_str().unwrap()), v.as_str().unwrap()).unwrap();
            }
        }
        for a in rewritten.iter_mut() {
            if a == mount_path {
                *a = local.to_string_lossy().into_owned();
            }
        }
    }
    assert_eq!(value("--policy-dir"), "/etc/snp-agent/policies");
    let (code, out, err) = run(snp_agent(tmp.path()).args(&rewritten).arg("--check-config"));
    assert_eq!(code, 0, "{rewritten:?}: {out}\n{err}");
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    let loaded: Vec<String> = info["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let shipped: Vec<String> = config["data"]
        .as_hash()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().trim_end_matches(".toml").to_string())
        .collect();
    assert_eq!(loaded, shipped, "every shipped policy loads");
    assert_eq!(info["default_policy"], "default");
}

#[test]
fn check_config_refuses_a_bad_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.toml"), "no_such_key = 1\n").unwrap();
    let (code, _, err) = run(snp_agent(dir.path()).args([
        "verifier",
        "--listen",
        "127.0.0.1:0",
        "--policy-dir",
        dir.path().to_str().unwrap(),
        "--check-config",
    ]));
    assert_eq!(code, i32::from(exit_code::USAGE), "{err}");
    // A signing key that is not one fails at start, not on the first request.
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "not a key").unwrap();
    let (code, _, err) = run(snp_agent(dir.path())
        .args([
            "verifier",
            "--listen",
            "127.0.0.1:0",
            "--check-config",
            "--ear-key",
        ])
        .arg(&key));
    assert_eq!(code, i32::from(exit_code::USAGE), "{err}");
    assert!(err.contains("--ear-key"), "{err}");
}
