//! `snp-agent kbs get-resource` end to end on loopback, against a test-only stand-in KBS that
//! follows `kbs/docs/kbs_attestation_protocol.md` (confidential-containers/trustee) and the
//! `kbs-types` messages: auth → challenge + `kbs-session-id` cookie; attest → the nonce, the
//! REPORT_DATA Trustee computes (SHA-384 of the JCS runtime data, zero-padded, with the same
//! `canon-json` formatter Trustee uses) and the evidence's signature (through `snp-agent verify
//! --sim-roots`) are checked; resource → a JWE for the TEE key (RSA-OAEP-256 + A256GCM, AAD =
//! the encoded protected header, as Trustee's `kbs/src/jwe` does). Evidence comes from the
//! simulator. Nothing here ships.

#[path = "cli_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kbs_types::{Attestation, Challenge, ProtectedHeader, Request, Response, Tee, TeePubKey};
use rand::RngCore;
use rsa::{BigUint, Oaep, RsaPublicKey};
use serde::Serialize;
use sha2::{Digest, Sha256, Sha384};
use snp_agent::evidence::{Evidence, Format};
use support::*;

const SECRET: &[u8] = b"the database password is hunter2";

#[derive(Default)]
struct Session {
    nonce: String,
    tee_key: Option<TeePubKey>,
}

struct Kbs {
    sessions: Mutex<HashMap<String, Session>>,
    cache: std::path::PathBuf,
    work: tempfile::TempDir,
    /// Resources by path.
    resources: HashMap<String, Vec<u8>>,
    /// Attestations the stand-in refused, with why.
    refusals: Mutex<Vec<String>>,
}

fn jcs(v: &impl Serialize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut buf, canon_json::CanonicalFormatter::new());
    v.serialize(&mut ser).unwrap();
    buf
}

fn error_body(kind: &str, detail: &str) -> Vec<u8> {
    serde_json::to_vec(&kbs_types::ErrorInformation {
        error_type: format!("https://github.com/confidential-containers/kbs/errors/{kind}"),
        detail: detail.to_string(),
    })
    .unwrap()
}

/// The resource JWE for an RSA TEE key, as Trustee's `rsa_oaep256` builds it.
fn jwe(key: &TeePubKey, payload: &[u8]) -> Response {
    let TeePubKey::RSA { alg, k_mod, k_exp } = key else {
        panic!("stand-in only speaks RSA TEE keys")
    };
    assert_eq!(alg, "RSA-OAEP-256");
    let n = BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(k_mod).unwrap());
    let e = BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(k_exp).unwrap());
    let public = RsaPublicKey::new(n, e).unwrap();
    let mut cek = [0u8; 32];
    let mut iv = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut cek);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let protected = ProtectedHeader {
        alg: "RSA-OAEP-256".into(),
        enc: "A256GCM".into(),
        other_fields: serde_json::Map::new(),
    };
    let aad = protected.generate_aad().unwrap();
    let mut ct = Aes256Gcm::new_from_slice(&cek)
        .unwrap()
        .encrypt(
            &Nonce::from(iv),
            Payload {
                msg: payload,
                aad: &aad,
            },
        )
        .unwrap();
    let tag = ct.split_off(ct.len() - 16);
    Response {
        protected,
        encrypted_key: public
            .encrypt(&mut rand::rngs::OsRng, Oaep::new::<Sha256>(), &cek)
            .unwrap(),
        aad: None,
        iv: iv.to_vec(),
        ciphertext: ct,
        tag,
    }
}

impl Kbs {
    fn attest(&self, cookie: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        let att: Attestation =
            serde_json::from_slice(body).map_err(|e| format!("not an Attestation: {e}"))?;
        let mut sessions = self.sessions.lock().unwrap();
        let s = sessions.get_mut(cookie).ok_or("unknown session")?;
        if att.runtime_data.nonce != s.nonce {
            return Err("nonce is not this session's challenge".into());
        }
        // What Trustee's SNP verifier expects in REPORT_DATA.
        let rd_value = serde_json::to_value(&att.runtime_data).unwrap();
        let mut expected = [0u8; 64];
        expected[..48].copy_from_slice(&Sha384::digest(jcs(&rd_value)));
        let primary = serde_json::to_vec(&att.tee_evidence.primary_evidence).unwrap();
        let (ev, _) = Evidence::from_bytes(&primary, Some(Format::Coco))
            .map_err(|e| format!("not SNP evidence: {e}"))?;
        if ev.report[0x50..0x90] != expected {
            return Err("REPORT_DATA does not bind the runtime data".into());
        }
        // The evidence must verify (simulator roots), with the binding recomputed by snp-agent.
        let n: u64 = rand::random();
        let ev_path = self.work.path().join(format!("ev-{n}.json"));
        let rd_path = self.work.path().join(format!("rd-{n}.json"));
        std::fs::write(&ev_path, &primary).unwrap();
        std::fs::write(&rd_path, serde_json::to_vec(&rd_value).unwrap()).unwrap();
        let (code, out, err) = run(snp_agent(&self.cache)
            .arg("verify")
            .arg(&ev_path)
            .args([
                "--sim-roots",
                "--offline",
                "--in-format",
                "coco",
                "--binding",
                "trustee",
            ])
            .arg(format!("--runtime-data=@{}", rd_path.display())));
        if code != 0 {
            return Err(format!("evidence does not verify: {out}{err}"));
        }
        if !out.contains("PASS  report_data.trustee") {
            return Err(format!("no trustee binding check: {out}"));
        }
        s.tee_key = Some(att.runtime_data.tee_pubkey.clone());
        let claims = URL_SAFE_NO_PAD.encode(br#"{"submods":{"cpu0":{"ear.status":"affirming"}}}"#);
        Ok(serde_json::to_vec(
            &serde_json::json!({"token": format!("eyJhbGciOiJub25lIn0.{claims}.")}),
        )
        .unwrap())
    }

    fn handle(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        match (method, path) {
            ("POST", "/kbs/v0/auth") => {
                let req: Request = match serde_json::from_slice(body) {
                    Ok(r) => r,
                    Err(e) => return (400, vec![], error_body("SerdeError", &e.to_string())),
                };
                if req.version != "0.4.0" || req.tee != Tee::Snp {
                    return (
                        401,
                        vec![],
                        error_body("AttestationError", "unsupported version or TEE"),
                    );
                }
                let mut id = [0u8; 16];
                let mut nonce = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut id);
                rand::rngs::OsRng.fill_bytes(&mut nonce);
                let (id, nonce) = (
                    hex::encode(id),
                    base64::engine::general_purpose::STANDARD.encode(nonce),
                );
                self.sessions.lock().unwrap().insert(
                    id.clone(),
                    Session {
                        nonce: nonce.clone(),
                        tee_key: None,
                    },
                );
                let ch = Challenge {
                    nonce,
                    extra_params: serde_json::json!({}),
                };
                (
                    200,
                    vec![(
                        "Set-Cookie".into(),
                        format!("kbs-session-id={id}; Path=/; HttpOnly"),
                    )],
                    serde_json::to_vec(&ch).unwrap(),
                )
            }
            ("POST", "/kbs/v0/attest") => {
                let Some(c) = cookie else {
                    return (
                        401,
                        vec![],
                        error_body("AttestationError", "no session cookie"),
                    );
                };
                match self.attest(c, body) {
                    Ok(token) => (200, vec![], token),
                    Err(why) => {
                        self.refusals.lock().unwrap().push(why.clone());
                        (401, vec![], error_body("AttestationError", &why))
                    }
                }
            }
            ("GET", p) if p.starts_with("/kbs/v0/resource/") => {
                let key = cookie.and_then(|c| {
                    self.sessions
                        .lock()
                        .unwrap()
                        .get(c)
                        .and_then(|s| s.tee_key.clone())
                });
                let Some(key) = key else {
                    return (401, vec![], error_body("TokenNotFound", "not attested"));
                };
                match self.resources.get(&p["/kbs/v0/resource/".len()..]) {
                    Some(secret) => (200, vec![], serde_json::to_vec(&jwe(&key, secret)).unwrap()),
                    None => (
                        404,
                        vec![],
                        error_body("InvalidRequestPath", "no such resource"),
                    ),
                }
            }
            _ => (404, vec![], error_body("InvalidRequestPath", path)),
        }
    }
}

fn serve_one(kbs: &Kbs, stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut it = line.split_whitespace();
    let (method, path) = (
        it.next().unwrap_or("").to_string(),
        it.next().unwrap_or("").to_string(),
    );
    let (mut len, mut cookie) = (0usize, None);
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap(),
            "cookie" => {
                cookie = v
                    .split(';')
                    .filter_map(|kv| kv.trim().split_once('='))
                    .find(|(k, _)| *k == "kbs-session-id")
                    .map(|(_, v)| v.to_string())
            }
            _ => {}
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    let (status, headers, out) = kbs.handle(&method, &path, cookie.as_deref(), &body);
    let mut resp = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n", out.len());
    for (k, v) in headers {
        resp.push_str(&format!("{k}: {v}\r\n"));
    }
    resp.push_str("\r\n");
    let mut s = stream;
    let _ = s.write_all(resp.as_bytes());
    let _ = s.write_all(&out);
}

fn start() -> (String, Arc<Kbs>, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let kbs = Arc::new(Kbs {
        sessions: Mutex::new(HashMap::new()),
        cache: cache.path().to_path_buf(),
        work: tempfile::tempdir().unwrap(),
        resources: HashMap::from([("default/key/1".to_string(), SECRET.to_vec())]),
        refusals: Mutex::new(Vec::new()),
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let k = kbs.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            serve_one(&k, s);
        }
    });
    (url, kbs, cache)
}

#[test]
fn get_resource_end_to_end_with_the_simulator() {
    let (url, kbs, cache) = start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("secret");
    let (code, stdout, err) = run(snp_agent(cache.path())
        .args([
            "kbs",
            "get-resource",
            &url,
            "default/key/1",
            "--backend",
            "sim",
            "--out",
        ])
        .arg(&out));
    assert_eq!(
        code,
        0,
        "{err}\nrefusals: {:?}",
        kbs.refusals.lock().unwrap()
    );
    assert!(stdout.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), SECRET);
    assert!(kbs.refusals.lock().unwrap().is_empty());

    // A resource the KBS does not have: refused (404), exit 2, nothing on stdout.
    let (code, stdout, err) = run(snp_agent(cache.path()).args([
        "kbs",
        "get-resource",
        &url,
        "default/key/2",
        "--backend",
        "sim",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(stdout.is_empty());
    assert!(
        err.contains("404") && err.contains("no such resource"),
        "{err}"
    );

    // A malformed resource path is a usage error before anything is sent.
    let (code, _, _) = run(snp_agent(cache.path()).args([
        "kbs",
        "get-resource",
        &url,
        "a/../b",
        "--backend",
        "sim",
    ]));
    assert_eq!(code, 1);
}

#[test]
fn the_stand_in_refuses_what_trustee_refuses() {
    let (url, _kbs, _cache) = start();
    let client = reqwest::blocking::Client::new();
    // An older protocol version.
    let r = client
        .post(format!("{url}/kbs/v0/auth"))
        .header("Content-Type", "application/json")
        .body(r#"{"version": "0.1.0", "tee": "snp", "extra-params": {}}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // A resource without attesting.
    let r = client
        .get(format!("{url}/kbs/v0/resource/default/key/1"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[test]
fn a_tampered_resource_does_not_decrypt() {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let tee = snp_agent::kbs::tee_pubkey(&key);
    let body = serde_json::to_vec(&jwe(&tee, SECRET)).unwrap();
    assert_eq!(snp_agent::kbs::decrypt(&body, &key).unwrap(), SECRET);
    let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let ct = v["ciphertext"].as_str().unwrap().to_string();
    let mut raw = URL_SAFE_NO_PAD.decode(ct).unwrap();
    raw[0] ^= 1;
    v["ciphertext"] = URL_SAFE_NO_PAD.encode(raw).into();
    assert!(matches!(
        snp_agent::kbs::decrypt(&serde_json::to_vec(&v).unwrap(), &key),
        Err(snp_agent::kbs::KbsError::Decrypt(_))
    ));
    // Another key cannot open it.
    let other = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    assert!(snp_agent::kbs::decrypt(&body, &other).is_err());
}
