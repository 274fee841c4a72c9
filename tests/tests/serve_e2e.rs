//! End to end: `serve` with the simulator backend, challenged by the relying-party library of
//! `examples/` (the same code `examples/relying_party.rs` runs).
//!
//! The endpoint is started in process through `snp_agent::serve::spawn` — the function
//! `snp-agent serve` calls, with the same backend, limits and HTTP stack — on an ephemeral
//! port, so the test needs no free fixed port and cannot leave a server behind.

use snp_agent::backend::BackendKind;
use snp_agent::binding::Challenge;
use snp_agent::exit_code;
use snp_agent::policy::Policy;
use snp_agent::serve::{self, ServeConfig};
use snp_agent_examples::{fetch_evidence, simulator_anchors, RelyingParty, RpError};
use snp_certs::verify::CheckStatus;

fn status_of(v: &snp_agent_examples::Verdict, name: &str) -> CheckStatus {
    v.check(name)
        .unwrap_or_else(|| panic!("no check {name} in\n{v}"))
        .status
}

#[test]
fn serve_sim_with_relying_party_verified_replay_rejected_policy_violation_reported() {
    let handle = serve::spawn(ServeConfig::new("127.0.0.1:0", BackendKind::Sim)).unwrap();
    let url = handle.url();
    let anchors = simulator_anchors().unwrap();
    let rp = RelyingParty::new(anchors.clone(), Policy::default_policy()).offline(true);

    // 1. Verified: fresh nonce + the relying party's public key, evidence verifies against the
    //    simulator's roots, REPORT_DATA binds the challenge, the default policy holds.
    let verdict = rp
        .attest(&url, Some(b"relying party public key".to_vec()))
        .unwrap();
    assert!(verdict.affirmed(), "{verdict}");
    assert_eq!(verdict.exit_code, exit_code::SUCCESS);
    for name in [
        "freshness.nonce",
        "report_signature",
        "vek_signed_by_ask",
        "chip_id_binding",
        "report_data.binding",
        "policy.guest_policy.debug",
    ] {
        assert_eq!(
            status_of(&verdict, name),
            CheckStatus::Pass,
            "{name}\n{verdict}"
        );
    }

    // 2. Replay. The same answer presented twice for the same nonce: the second time the
    //    nonce is used up, so it is rejected although the evidence itself still verifies.
    let challenge = rp.challenge(None).unwrap();
    let evidence = fetch_evidence(&url, &challenge).unwrap();
    let first = rp.appraise(&challenge, &evidence);
    assert!(first.affirmed(), "{first}");
    let replay = rp.appraise(&challenge, &evidence);
    assert!(!replay.affirmed());
    assert_eq!(replay.exit_code, exit_code::POLICY_FAILED);
    assert_eq!(
        replay.failed(),
        vec!["freshness.nonce", "freshness.evidence"],
        "{replay}"
    );
    assert_eq!(status_of(&replay, "report_signature"), CheckStatus::Pass);
    assert_eq!(replay.evidence_id, first.evidence_id);

    //    The same report in its other ECDSA byte form (r, n - s): it verifies, and the
    //    relying party knows it by its identity, which both forms share.
    let mut twin = evidence.clone();
    negate_s(&mut twin.report);
    assert_ne!(twin.report, evidence.report);
    let twin_verdict = rp.appraise(&challenge, &twin);
    assert_eq!(
        status_of(&twin_verdict, "report_signature"),
        CheckStatus::Pass
    );
    assert_eq!(
        status_of(&twin_verdict, "freshness.evidence"),
        CheckStatus::Fail,
        "{twin_verdict}"
    );
    assert_eq!(twin_verdict.evidence_id, first.evidence_id);
    assert!(first.evidence_id.is_some());

    //    The recorded answer offered for a NEW challenge: fresh nonce, but REPORT_DATA binds
    //    the old one.
    let new_challenge = rp.challenge(None).unwrap();
    let stale = rp.appraise(&new_challenge, &evidence);
    assert_eq!(stale.exit_code, exit_code::POLICY_FAILED);
    assert_eq!(
        stale.failed(),
        vec!["freshness.evidence", "report_data.binding"],
        "{stale}"
    );
    assert!(
        stale
            .check("report_data.binding")
            .unwrap()
            .detail
            .contains("another challenge"),
        "{stale}"
    );

    //    Evidence for a nonce this relying party never issued (someone else's exchange).
    let foreign = Challenge::random(None).unwrap();
    let foreign_evidence = fetch_evidence(&url, &foreign).unwrap();
    let unsolicited = rp.appraise(&foreign, &foreign_evidence);
    assert_eq!(unsolicited.exit_code, exit_code::POLICY_FAILED);
    assert_eq!(
        unsolicited.failed(),
        vec!["freshness.nonce"],
        "{unsolicited}"
    );

    // 3. A policy violation, reported by check name and exit code: the policy allows only a
    //    measurement the simulated guest does not have, and VMPL 1.
    let strict = Policy::from_toml(&format!(
        "measurements = [\"{}\"]\nvmpls = [1]\n",
        "ab".repeat(48)
    ))
    .unwrap();
    let strict_rp = RelyingParty::new(anchors, strict).offline(true);
    let verdict = strict_rp.attest(&url, None).unwrap();
    assert_eq!(verdict.exit_code, exit_code::POLICY_FAILED, "{verdict}");
    assert_eq!(
        verdict.failed(),
        vec!["policy.measurement", "policy.vmpl"],
        "{verdict}"
    );
    // Everything before the policy passed: the failure is the policy's alone.
    assert_eq!(
        status_of(&verdict, "report_data.binding"),
        CheckStatus::Pass
    );
    let text = verdict.to_string();
    assert!(
        text.contains("REJECTED (exit code 5; failed: policy.measurement, policy.vmpl)"),
        "{text}"
    );

    // The endpoint's errors reach the relying party as typed errors (a bad nonce never leaves
    // the relying party: the library refuses to build one, so send raw JSON instead).
    let err = serve_error(&url, br#"{"nonce": "0011"}"#);
    assert_eq!(err, (400, "bad_request".to_string()));

    let stats = handle.stats();
    // Four reports: the first exchange, the replayed one, the foreign one, the strict one.
    assert_eq!(
        (stats.requests, stats.attested, stats.client_errors),
        (5, 4, 1),
        "{stats:?}"
    );
    handle.shutdown().unwrap();

    // After shutdown the relying party gets a transport error, not a verdict.
    assert!(matches!(
        rp.attest(&url, None),
        Err(RpError::Transport { .. })
    ));
}

/// Replace the report's S (72 bytes little-endian at 0x2E8; 48 significant) by n - S, the other
/// signature the same ECDSA verification accepts.
fn negate_s(report: &mut [u8]) {
    const N: [u8; 48] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81, 0xF4, 0x37,
        0x2D, 0xDF, 0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC, 0x19, 0x6A, 0xCC,
        0xC5, 0x29, 0x73,
    ];
    let s = &mut report[snp_certs::report::offset::SIGNATURE_S..][..48];
    // Little-endian subtraction N - s, least significant byte first.
    let mut borrow = 0i16;
    for (i, b) in s.iter_mut().enumerate() {
        let d = i16::from(N[47 - i]) - i16::from(*b) - borrow;
        borrow = i16::from(d < 0);
        *b = d.rem_euclid(256) as u8;
    }
    assert_eq!(borrow, 0, "S < n");
}

/// POST a raw body to /attest over a plain socket and return (status, error code).
fn serve_error(url: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut req = format!(
        "POST /attest HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (_, json) = text.split_once("\r\n\r\n").unwrap();
    let body: snp_agent::serve::ErrorBody = serde_json::from_str(json.trim()).unwrap();
    (status, body.error)
}
