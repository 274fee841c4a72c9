//! The relying-party ecosystem on the command line: binding profiles on `attest` and `verify`
//! (Trustee, Veraison, MAA, raw), `verify --format ear` parsed by the `ear` crate (and signed
//! as a JWT), and `verify` reading Trustee's EAR tokens.

#[path = "cli_support/mod.rs"]
mod support;

use sha2::{Digest, Sha256, Sha384};
use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use support::*;

/// The `ear` crate's own P-256 test key pair (its README).
const KEY: &str = include_str!("data/ear-test-key.pem");
#[cfg_attr(not(feature = "aws-lc"), allow(dead_code))]
const JWK: &str = include_str!("data/ear-test-key.jwk");

fn attest(cache: &std::path::Path, out: &std::path::Path, args: &[&str]) -> Evidence {
    let (code, _, err) = run(snp_agent(cache)
        .args(["attest", "--backend", "sim", "--out"])
        .arg(out)
        .args(args));
    assert_eq!(code, 0, "{args:?}: {err}");
    Evidence::read_path(out, None).unwrap().0
}

fn verify(cache: &std::path::Path, ev: &std::path::Path, args: &[&str]) -> (i32, String) {
    let (code, out, err) = run(snp_agent(cache)
        .arg("verify")
        .arg(ev)
        .args(["--sim-roots", "--offline"])
        .args(args));
    (code, format!("{out}{err}"))
}

/// Trustee-profile evidence carries exactly the REPORT_DATA Trustee computes for the runtime
/// data — SHA-384 of its canonical JSON (written out here by hand), zero-padded — and verifies
/// with the runtime data in any key order.
#[test]
fn trustee_profile_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ev_path = dir.path().join("trustee.json");
    let rd = r#"{"tee-pubkey": {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": "AAAA", "y": "BBBB"}, "nonce": "c2VjcmV0"}"#;
    let ev = attest(
        cache.path(),
        &ev_path,
        &["--binding", "trustee", "--runtime-data", rd],
    );
    let canonical = r#"{"nonce":"c2VjcmV0","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"AAAA","y":"BBBB"}}"#;
    assert_eq!(&ev.report[0x50..0x80], &Sha384::digest(canonical)[..]);
    assert_eq!(ev.report[0x80..0x90], [0u8; 16]);

    let reordered = dir.path().join("rd.json");
    std::fs::write(&reordered, r#"{ "nonce":"c2VjcmV0", "tee-pubkey":{"y":"BBBB","x":"AAAA","alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC"} }"#).unwrap();
    for f in [Format::Json, Format::Coco] {
        let p = dir.path().join(format!("t.{f}"));
        ev.write_path(&p, f).unwrap();
        let (code, out) = verify(
            cache.path(),
            &p,
            &[
                "--binding",
                "trustee",
                &format!("--runtime-data=@{}", reordered.display()),
            ],
        );
        assert_eq!(code, 0, "{f}: {out}");
        assert!(out.contains("PASS  report_data.trustee"), "{out}");
    }
    let (code, out) = verify(
        cache.path(),
        &ev_path,
        &[
            "--binding",
            "trustee",
            "--runtime-data",
            r#"{"nonce":"other"}"#,
        ],
    );
    assert_eq!(code, i32::from(exit_code::POLICY_FAILED), "{out}");
    assert!(out.contains("FAIL  report_data.trustee"), "{out}");
    // The profile needs runtime data, not a nonce.
    let (code, _) = verify(
        cache.path(),
        &ev_path,
        &["--binding", "trustee", "--nonce", "00112233"],
    );
    assert_eq!(code, i32::from(exit_code::USAGE));
}

#[test]
fn veraison_maa_and_raw_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    // Veraison: the 64-byte nonce verbatim.
    let nonce = "4d4944424e48323869696f69736a5079".repeat(4);
    let p = dir.path().join("veraison.json");
    let ev = attest(
        cache.path(),
        &p,
        &["--binding", "veraison", "--nonce", &nonce],
    );
    assert_eq!(hex::encode(&ev.report[0x50..0x90]), nonce);
    assert_eq!(
        verify(
            cache.path(),
            &p,
            &["--binding", "veraison", "--nonce", &nonce]
        )
        .0,
        0
    );
    let (code, out) = verify(cache.path(), &p, &["--nonce", &nonce]);
    assert_eq!(
        code,
        i32::from(exit_code::POLICY_FAILED),
        "snp-agent binding differs: {out}"
    );
    // MAA: SHA-256 of the runtime data in bytes 0..32.
    let p = dir.path().join("maa.json");
    let ev = attest(
        cache.path(),
        &p,
        &["--binding", "maa", "--runtime-data", "{\"keys\":[]}"],
    );
    assert_eq!(
        &ev.report[0x50..0x70],
        &Sha256::digest(b"{\"keys\":[]}")[..]
    );
    assert_eq!(ev.report[0x70..0x90], [0u8; 32]);
    assert_eq!(
        verify(
            cache.path(),
            &p,
            &["--binding", "maa", "--runtime-data", "{\"keys\":[]}"]
        )
        .0,
        0
    );
    // raw: zero-padded.
    let p = dir.path().join("raw.json");
    let ev = attest(cache.path(), &p, &["--binding", "raw", "--nonce", "0102"]);
    assert_eq!(&ev.report[0x50..0x53], &[1, 2, 0]);
    assert_eq!(
        verify(cache.path(), &p, &["--binding", "raw", "--nonce", "0102"]).0,
        0
    );
}

/// `verify --format ear` on real AMD evidence: parsed and validated by the `ear` crate's own
/// deserialiser, affirming, with the evidence inside as CMW; `--ear-key` gives a JWT the crate
/// verifies.
#[test]
fn ear_output_is_a_real_ear() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ev = evidence(&GENOA);
    let path = write(&ev, Format::Json, dir.path(), "genoa");
    let (code, out, err) = run(snp_agent(cache.path()).arg("verify").arg(&path).args([
        "--offline",
        "--format",
        "ear",
    ]));
    assert_eq!(code, 0, "{err}");
    let parsed: ear::Ear =
        serde_json::from_str(&out).expect("the ear crate parses and validates it");
    assert_eq!(parsed.profile, ear::EAR_PROFILE);
    assert_eq!(parsed.status, Some(ear::TrustTier::Affirming));
    let sub = &parsed.submods["SEV-SNP"];
    assert_eq!(
        sub.trust_vector.hardware.get(),
        ear::claim::GENUINE_HARDWARE
    );
    assert_eq!(sub.policy_ids, vec!["snp-agent/default-policy".to_string()]);
    let raw = snp_agent::evidence::cmw::from_record(parsed.raw_evidence.as_ref().unwrap()).unwrap();
    assert_eq!(
        (raw.report, raw.cert_table),
        (ev.report.clone(), ev.cert_table.clone())
    );

    // A policy that fails: contraindicated, exit 5, still a valid EAR.
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "min_guest_svn = 1000\n").unwrap();
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .args(["--offline", "--format", "ear", "--policy"])
        .arg(&policy));
    assert_eq!(code, i32::from(exit_code::POLICY_FAILED));
    let parsed: ear::Ear = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed.status, Some(ear::TrustTier::Contraindicated));
    assert!(parsed.submods["SEV-SNP"].policy_ids[0].starts_with("sha256:"));

    // Signed.
    let key = dir.path().join("key.pem");
    std::fs::write(&key, KEY).unwrap();
    let (code, out, err) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .args(["--offline", "--format", "ear", "--ear-key"])
        .arg(&key));
    #[cfg(feature = "aws-lc")]
    {
        assert_eq!(code, 0, "{err}");
        let token = ear::Ear::from_jwt_jwk(out.trim(), ear::Algorithm::ES256, JWK.as_bytes())
            .expect("signature verifies");
        assert_eq!(token.status, Some(ear::TrustTier::Affirming));
    }
    #[cfg(not(feature = "aws-lc"))]
    assert_eq!(code, i32::from(exit_code::USAGE), "{out}{err}");
    // --ear-key without --format ear is a usage error.
    let (code, _, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&path)
        .args(["--offline", "--ear-key"])
        .arg(&key));
    assert_eq!(code, i32::from(exit_code::USAGE));
}

/// A token shaped as released Trustee's `ear_broker.rs` signs it (dotted claim names).
#[cfg(feature = "aws-lc")]
#[test]
fn verify_reads_trustee_ear_tokens() {
    use jsonwebtoken as jwt;
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let claims = serde_json::json!({
        "eat_profile": "tag:github.com,2024:confidential-containers/Trustee",
        "iat": exp - 300,
        "ear.verifier-id": {"developer": "https://confidentialcontainers.org", "build": "attestation-service 0.10.0"},
        "submods": {"cpu0": {
            "ear.status": "affirming",
            "ear.trustworthiness-vector": {"configuration": 2, "executables": 3, "hardware": 2},
            "ear.appraisal-policy-id": "default",
            "ear.veraison.annotated-evidence": {"snp": {"measurement": "abcd"}}
        }},
        "exp": exp
    });
    let token = jwt::encode(
        &jwt::Header::new(jwt::Algorithm::ES256),
        &claims,
        &jwt::EncodingKey::from_ec_pem(KEY.as_bytes()).unwrap(),
    )
    .unwrap();
    let tpath = dir.path().join("token.jwt");
    std::fs::write(&tpath, format!("{token}\n")).unwrap();
    let jwk = dir.path().join("as.jwk");
    std::fs::write(&jwk, JWK).unwrap();

    let (code, out, err) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&tpath)
        .arg("--token-key")
        .arg(&jwk));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dotted"), "{out}");
    assert!(out.contains("signature: verified (ES256)"), "{out}");
    assert!(out.contains("submod cpu0: affirming"), "{out}");
    assert!(out.contains("policy: default"), "{out}");
    // Without a key the claims are shown but nothing is vouched for.
    let (code, out, _) = run(snp_agent(cache.path()).arg("verify").arg(&tpath));
    assert_eq!(code, i32::from(exit_code::VERIFICATION_FAILED));
    assert!(out.contains("NOT verified"), "{out}");
    // JSON.
    let (code, out, _) = run(snp_agent(cache.path())
        .arg("verify")
        .arg(&tpath)
        .args(["--format", "json", "--token-key"])
        .arg(&jwk));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["token"]["naming"], "dotted");
    assert_eq!(v["token"]["submods"][0]["status"], "affirming");
    assert_eq!(v["signature"]["verified"], true);
}

/// `serve --binding veraison` binds a 64-byte nonce verbatim, `--binding trustee` hashes the
/// runtime data carried as the nonce; a nonce that does not fit the profile is a 400.
#[test]
fn serve_binds_under_the_configured_profile() {
    use snp_agent::backend::BackendKind;
    use snp_agent::binding::Profile;
    use snp_agent::serve::{spawn, ServeConfig};
    let client = reqwest::blocking::Client::new();
    let post = |url: &str, nonce: &[u8]| {
        client
            .post(format!("{url}/attest"))
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&serde_json::json!({"nonce": hex::encode(nonce)})).unwrap())
            .send()
            .unwrap()
    };
    for (profile, input, want) in [
        (Profile::Veraison, vec![0x4du8; 64], [0x4du8; 64]),
        (
            Profile::Trustee,
            br#"{"nonce":"abc","tee-pubkey":{"kty":"EC"}}"#.to_vec(),
            Profile::Trustee
                .report_data(br#"{"tee-pubkey":{"kty":"EC"},"nonce":"abc"}"#, None)
                .unwrap(),
        ),
    ] {
        let mut config = ServeConfig::new("127.0.0.1:0", BackendKind::Sim);
        config.binding = profile;
        let handle = spawn(config).unwrap();
        let url = handle.url();
        let resp = post(&url, &input);
        assert_eq!(resp.status().as_u16(), 200, "{profile}");
        let (ev, _) = Evidence::from_bytes(&resp.bytes().unwrap(), None).unwrap();
        assert_eq!(ev.report[0x50..0x90], want, "{profile}");
        if profile == Profile::Veraison {
            assert_eq!(post(&url, &[0x4d; 32]).status().as_u16(), 400);
        }
        handle.shutdown().unwrap();
    }
}
