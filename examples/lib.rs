//! The relying party's side of `snp-agent serve`, as a library the examples (and the end-to-end
//! test) share. Copy from here.
//!
//! A relying party that wants to trust a guest:
//!
//! 1. issues a fresh random nonce and remembers it ([`NonceLedger::issue`]);
//! 2. sends it (and optionally a public key) to the guest's `POST /attest`
//!    ([`fetch_evidence`]);
//! 3. appraises the answer ([`RelyingParty::appraise`]): the nonce must be one it issued and has
//!    not seen answered before (single use, with an expiry), the evidence must verify against
//!    the trust anchors (signature, AMD chain, the binding checks of `snp_certs::verify`), the
//!    verified REPORT_DATA must bind *this* challenge ([`snp_agent::binding`]), and the policy
//!    must hold.
//!
//! Each step appears in the [`Verdict`] as a named check, so a failure says which one, and the
//! verdict carries the exit code `snp-agent verify` would use (`snp_agent::exit_code`).
//!
//! The nonce ledger is what stops replays: REPORT_DATA proves the evidence was made for a given
//! nonce, but only the relying party knows whether that nonce is fresh. Beside it the relying
//! party remembers the identity of every report it has verified ([`EvidenceLedger`], keyed by
//! `VerifiedEvidence::id`, which is the same for both ECDSA byte forms of one report), so a
//! report presented a second time — as received or as its (r, n − s) twin — is named a replay
//! (`freshness.evidence`) even where a nonce check alone would not say why.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use snp_agent::binding::Challenge;
use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use snp_agent::kds::{Kds, KdsOptions};
use snp_agent::policy::{Expectations, Policy};
use snp_agent::serve::{AttestRequest, ErrorBody};
use snp_certs::product::Product;
use snp_certs::report::ReportView;
use snp_certs::roots::TrustAnchors;
use snp_certs::verify::{CheckStatus, Endorsements, EvidenceId, Verifier};

/// How long an issued nonce stays redeemable by default.
pub const DEFAULT_NONCE_TTL: Duration = Duration::from_secs(120);

/// How many issued, unanswered nonces a ledger keeps at most by default.
pub const DEFAULT_MAX_OUTSTANDING: usize = 10_000;

/// The largest answer accepted from `serve` (evidence JSON is about 25 KiB with certificates).
pub const MAX_RESPONSE: u64 = snp_agent::evidence::MAX_EVIDENCE_FILE;

/// Why a relying-party step failed before an appraisal could be made.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    /// The nonce could not be made.
    #[error("challenge: {0}")]
    Challenge(#[from] snp_agent::binding::BindingError),
    /// Too many nonces are outstanding.
    #[error(
        "{0} nonces are outstanding; refusing to issue more until some are answered or expire"
    )]
    TooManyOutstanding(usize),
    /// The guest could not be reached.
    #[error("cannot reach {url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The guest answered with an error.
    #[error("{url} answered HTTP {status}: {code}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The `error` code of the JSON body (or `unknown`).
        code: String,
        /// The message.
        message: String,
    },
    /// The answer is not readable evidence.
    #[error("the answer is not snp-agent evidence: {0}")]
    Evidence(#[from] snp_agent::evidence::EvidenceError),
    /// Trust anchors could not be built.
    #[error("trust anchors: {0}")]
    Anchors(String),
}

impl RpError {
    /// The exit code a command-line relying party uses for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            RpError::Evidence(_) => exit_code::EVIDENCE_INVALID,
            RpError::Http { status, .. } if *status >= 500 => exit_code::BACKEND_FAILED,
            _ => exit_code::OTHER,
        }
    }
}

/// The nonces a relying party has issued and not yet seen answered.
///
/// A nonce is redeemable once, within its time to live; the ledger is bounded so a flood of
/// challenges cannot grow it without limit.
#[derive(Debug)]
pub struct NonceLedger {
    issued: HashMap<Vec<u8>, Instant>,
    ttl: Duration,
    max_outstanding: usize,
}

/// Why a nonce was not redeemable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeem {
    /// Issued, unused and fresh: now used.
    Fresh,
    /// Never issued by this ledger, or already used (a replay).
    Unknown,
    /// Issued but older than the time to live.
    Expired,
}

impl Default for NonceLedger {
    fn default() -> Self {
        NonceLedger::new(DEFAULT_NONCE_TTL, DEFAULT_MAX_OUTSTANDING)
    }
}

impl NonceLedger {
    /// A ledger whose nonces expire after `ttl`, holding at most `max_outstanding`.
    pub fn new(ttl: Duration, max_outstanding: usize) -> NonceLedger {
        NonceLedger {
            issued: HashMap::new(),
            ttl,
            max_outstanding,
        }
    }

    /// Issue a fresh random challenge (binding `public_key` if given) and remember its nonce.
    pub fn issue(&mut self, public_key: Option<Vec<u8>>) -> Result<Challenge, RpError> {
        let now = Instant::now();
        let ttl = self.ttl;
        self.issued.retain(|_, t| now.duration_since(*t) <= ttl);
        if self.issued.len() >= self.max_outstanding {
            return Err(RpError::TooManyOutstanding(self.issued.len()));
        }
        let c = Challenge::random(public_key)?;
        self.issued.insert(c.nonce().to_vec(), now);
        Ok(c)
    }

    /// Use up `nonce`: only the first redemption of an issued, unexpired nonce is
    /// [`Redeem::Fresh`].
    pub fn redeem(&mut self, nonce: &[u8]) -> Redeem {
        match self.issued.remove(nonce) {
            None => Redeem::Unknown,
            Some(t) if t.elapsed() > self.ttl => Redeem::Expired,
            Some(_) => Redeem::Fresh,
        }
    }

    /// How many nonces are outstanding.
    pub fn outstanding(&self) -> usize {
        self.issued.len()
    }
}

/// The identities of the reports a relying party has verified, for `freshness.evidence`.
///
/// Keyed by [`EvidenceId`], not by the received bytes: the ECDSA twin (r, n − s) of a genuine
/// report verifies too, so a byte hash would let the same report through twice. Entries are
/// kept for the time to live (a report older than that cannot answer a live nonce anyway) and
/// at most `max` of them; past the bound the oldest is forgotten first, and the nonce ledger
/// still stops its replay.
#[derive(Debug)]
pub struct EvidenceLedger {
    seen: HashMap<EvidenceId, Instant>,
    ttl: Duration,
    max: usize,
}

impl Default for EvidenceLedger {
    fn default() -> Self {
        EvidenceLedger::new(DEFAULT_NONCE_TTL, DEFAULT_MAX_OUTSTANDING)
    }
}

impl EvidenceLedger {
    /// A ledger remembering identities for `ttl`, at most `max` of them.
    pub fn new(ttl: Duration, max: usize) -> EvidenceLedger {
        EvidenceLedger {
            seen: HashMap::new(),
            ttl,
            max: max.max(1),
        }
    }

    /// Record `id`; `true` when it was not seen (within the time to live) before.
    pub fn first_sight(&mut self, id: EvidenceId) -> bool {
        let now = Instant::now();
        let ttl = self.ttl;
        self.seen.retain(|_, t| now.duration_since(*t) <= ttl);
        if self.seen.contains_key(&id) {
            return false;
        }
        if self.seen.len() >= self.max {
            if let Some(oldest) = self.seen.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k) {
                self.seen.remove(&oldest);
            }
        }
        self.seen.insert(id, now);
        true
    }

    /// How many identities are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// One named check of a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable name: `freshness.nonce`, `freshness.evidence`, `report_data.binding`, a
    /// `snp_certs::verify::check` name, or a `policy.*` name.
    pub name: String,
    /// Pass, fail or skipped.
    pub status: CheckStatus,
    /// What was compared.
    pub detail: String,
}

/// The outcome of an appraisal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Every check, in order: freshness, verification, binding, policy.
    pub checks: Vec<Check>,
    /// `snp_agent::exit_code` for this verdict: 0 only when everything passed.
    pub exit_code: u8,
    /// The verified report's identity (`VerifiedEvidence::id`), when it verified.
    pub evidence_id: Option<EvidenceId>,
}

impl Verdict {
    /// Whether the evidence is fresh, verified, bound to the challenge, and the policy holds.
    pub fn affirmed(&self) -> bool {
        self.exit_code == exit_code::SUCCESS
    }

    /// The names of the failed checks.
    pub fn failed(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The result of a named check.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            writeln!(
                f,
                "{:<7} {:<32} {}",
                c.status.to_string().to_uppercase(),
                c.name,
                c.detail
            )?;
        }
        let failed = self.failed();
        if failed.is_empty() {
            write!(f, "verdict: AFFIRMED")
        } else {
            write!(
                f,
                "verdict: REJECTED (exit code {}; failed: {})",
                self.exit_code,
                failed.join(", ")
            )
        }
    }
}

/// A relying party: trust anchors, a policy and a nonce ledger.
pub struct RelyingParty {
    verifier: Verifier,
    anchors: TrustAnchors,
    policy: Policy,
    ledger: Mutex<NonceLedger>,
    seen: Mutex<EvidenceLedger>,
    kds_offline: bool,
}

impl RelyingParty {
    /// A relying party trusting `anchors` and requiring `policy`.
    pub fn new(anchors: TrustAnchors, policy: Policy) -> RelyingParty {
        RelyingParty {
            verifier: Verifier::new(anchors.clone()),
            anchors,
            policy,
            ledger: Mutex::new(NonceLedger::default()),
            seen: Mutex::new(EvidenceLedger::default()),
            kds_offline: false,
        }
    }

    /// Replace the nonce ledger (another time to live or bound).
    pub fn with_ledger(mut self, ledger: NonceLedger) -> RelyingParty {
        self.ledger = Mutex::new(ledger);
        self
    }

    /// Never contact KDS: evidence must carry its VCEK/VLEK (or it must be cached).
    pub fn offline(mut self, offline: bool) -> RelyingParty {
        self.kds_offline = offline;
        self
    }

    /// Issue a challenge (see [`NonceLedger::issue`]).
    pub fn challenge(&self, public_key: Option<Vec<u8>>) -> Result<Challenge, RpError> {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .issue(public_key)
    }

    /// Challenge the guest at `base_url` and appraise its answer.
    pub fn attest(&self, base_url: &str, public_key: Option<Vec<u8>>) -> Result<Verdict, RpError> {
        let challenge = self.challenge(public_key)?;
        let evidence = fetch_evidence(base_url, &challenge)?;
        Ok(self.appraise(&challenge, &evidence))
    }

    /// Appraise `evidence` offered as the answer to `challenge`. The challenge's nonce is used
    /// up whatever the outcome, and the identity of a report that verifies is remembered, so the
    /// same answer (in either ECDSA byte form) can never be accepted twice.
    pub fn appraise(&self, challenge: &Challenge, evidence: &Evidence) -> Verdict {
        let mut checks = Vec::new();
        let mut push = |name: &str, status, detail: String| {
            checks.push(Check {
                name: name.to_string(),
                status,
                detail,
            })
        };

        let redeemed = self
            .ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .redeem(challenge.nonce());
        let fresh = redeemed == Redeem::Fresh;
        push(
            "freshness.nonce",
            if fresh {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            match redeemed {
                Redeem::Fresh => "nonce issued by this relying party and not used before".into(),
                Redeem::Unknown => {
                    "nonce was never issued by this relying party or was already used (replay)"
                        .into()
                }
                Redeem::Expired => "nonce expired before the answer was appraised".into(),
            },
        );

        let mut verdict = self.appraise_unledgered(challenge, evidence);
        let mut unseen = true;
        if let Some(id) = verdict.evidence_id {
            unseen = self
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .first_sight(id);
            push(
                "freshness.evidence",
                if unseen {
                    CheckStatus::Pass
                } else {
                    CheckStatus::Fail
                },
                if unseen {
                    format!("report {id} not seen before")
                } else {
                    format!(
                        "report {id} was already presented to this relying party (a replay, \
                         possibly in its other ECDSA byte form)"
                    )
                },
            );
        }
        checks.append(&mut verdict.checks);
        verdict.checks = checks;
        if !(fresh && unseen) && verdict.exit_code == exit_code::SUCCESS {
            verdict.exit_code = exit_code::POLICY_FAILED;
        }
        verdict
    }

    /// Appraise `evidence` against `challenge` WITHOUT the freshness check: verification,
    /// binding and policy only. For a guest checking evidence it just obtained itself (as
    /// `guest_workload` does); a relying party judging a remote answer uses
    /// [`RelyingParty::appraise`], or a recorded answer could be replayed.
    pub fn appraise_unledgered(&self, challenge: &Challenge, evidence: &Evidence) -> Verdict {
        let mut checks = Vec::new();
        let mut push = |name: &str, status, detail: String| {
            checks.push(Check {
                name: name.to_string(),
                status,
                detail,
            })
        };
        let endorsements = match self.endorsements(evidence) {
            Ok(e) => e,
            Err((code, why)) => {
                push("vek_certificate", CheckStatus::Fail, why);
                return Verdict {
                    checks,
                    exit_code: code,
                    evidence_id: None,
                };
            }
        };
        let outcome = self
            .verifier
            .verify_detailed(&evidence.report, &endorsements);
        for c in &outcome.checks {
            push(c.name, c.status, c.detail.clone());
        }
        let verified = match &outcome.result {
            Ok(v) => v,
            Err(e) => {
                return Verdict {
                    checks,
                    exit_code: exit_code::for_verify_error(e),
                    evidence_id: None,
                }
            }
        };
        let bound = challenge.verify(verified.report().report_data());
        push(
            "report_data.binding",
            if bound.is_ok() {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            match &bound {
                Ok(()) => format!(
                    "REPORT_DATA binds the nonce{}",
                    if challenge.public_key().is_some() {
                        " and public key"
                    } else {
                        ""
                    }
                ),
                Err(e) => e.to_string(),
            },
        );
        let policy = self.policy.evaluate(verified, &Expectations::default());
        for c in &policy.checks {
            push(
                &c.name,
                if c.passed {
                    CheckStatus::Pass
                } else {
                    CheckStatus::Fail
                },
                c.detail.clone(),
            );
        }
        let ok = bound.is_ok() && policy.passed();
        Verdict {
            checks,
            exit_code: if ok {
                exit_code::SUCCESS
            } else {
                exit_code::POLICY_FAILED
            },
            evidence_id: Some(verified.id()),
        }
    }

    /// The host's certificates from the evidence, else the VCEK from the cache or KDS.
    fn endorsements(&self, evidence: &Evidence) -> Result<Endorsements, (u8, String)> {
        match evidence.endorsements() {
            Ok(Some(e)) => return Ok(e),
            Ok(None) => {}
            Err(e) => {
                return Err((
                    exit_code::EVIDENCE_INVALID,
                    format!("the evidence's certificate table is unusable: {e}"),
                ))
            }
        }
        let unavailable = |why: String| (exit_code::CERTIFICATE_UNAVAILABLE, why);
        let view = ReportView::new(&evidence.report)
            .map_err(|e| (exit_code::EVIDENCE_INVALID, e.to_string()))?;
        let kds = Kds::from_options(KdsOptions {
            kds_url: None,
            cache_dir: None,
            offline: self.kds_offline,
            deadline: None,
            progress: None,
            anchors: (!self.anchors.is_amd()).then(|| self.anchors.clone()),
        })
        .map_err(|e| unavailable(e.to_string()))?;
        let vcek = kds
            .vcek_for_report(&view, None)
            .map_err(|e| unavailable(format!("the evidence carries no VCEK/VLEK and {e}")))?;
        Ok(Endorsements::new(vcek.der))
    }
}

/// The simulator's roots for every product. Trust these only to test against `--backend sim`:
/// evidence they verify proves nothing about AMD hardware.
pub fn simulator_anchors() -> Result<TrustAnchors, RpError> {
    let mut anchors = TrustAnchors::explicit();
    for product in Product::ALL {
        let r = snp_sim::pki::SimRoots::for_product(product)
            .map_err(|e| RpError::Anchors(format!("simulator roots for {product}: {e}")))?;
        anchors = anchors
            .with_chain(product, &r.ark_der, Some(&r.ask_der), Some(&r.asvk_der))
            .map_err(|e| RpError::Anchors(format!("simulator roots for {product}: {e}")))?;
    }
    Ok(anchors)
}

/// `POST {base_url}/attest` with `challenge` and read the evidence JSON it answers with.
pub fn fetch_evidence(base_url: &str, challenge: &Challenge) -> Result<Evidence, RpError> {
    use std::io::Read;
    let url = format!("{}/attest", base_url.trim_end_matches('/'));
    let transport = |reason: String| RpError::Transport {
        url: url.clone(),
        reason,
    };
    let body = serde_json::to_vec(&AttestRequest::for_challenge(challenge))
        .map_err(|e| transport(e.to_string()))?;
    let parsed = reqwest::Url::parse(&url).map_err(|e| transport(e.to_string()))?;
    let mut builder = reqwest::blocking::Client::builder().timeout(Duration::from_secs(90));
    if is_loopback(&parsed) {
        // A proxy from the environment cannot reach this machine's loopback; talk directly.
        builder = builder.no_proxy();
    }
    let client = builder.build().map_err(|e| transport(e.to_string()))?;
    let resp = client
        .post(&url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .map_err(|e| transport(e.to_string()))?;
    let status = resp.status().as_u16();
    let mut bytes = Vec::new();
    resp.take(MAX_RESPONSE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| transport(e.to_string()))?;
    if bytes.len() as u64 > MAX_RESPONSE {
        return Err(transport(format!(
            "answer larger than {MAX_RESPONSE} bytes"
        )));
    }
    if status != 200 {
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => (b.error, b.message),
            Err(_) => (
                "unknown".into(),
                String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            ),
        };
        return Err(RpError::Http {
            url,
            status,
            code,
            message,
        });
    }
    let (evidence, _) = Evidence::from_bytes(&bytes, Some(Format::Json))?;
    Ok(evidence)
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for (u, want) in [
            ("http://127.0.0.1:8080", true),
            ("http://127.1.2.3", true),
            ("http://localhost:1", true),
            ("http://[::1]:8080", true),
            ("http://10.0.0.1:8080", false),
            ("http://guest.example:8080", false),
        ] {
            assert_eq!(is_loopback(&reqwest::Url::parse(u).unwrap()), want, "{u}");
        }
    }

    #[test]
    fn ledger_redeems_once_and_only_what_it_issued() {
        let mut l = NonceLedger::default();
        let c = l.issue(None).unwrap();
        assert_eq!(l.outstanding(), 1);
        assert_eq!(l.redeem(c.nonce()), Redeem::Fresh);
        assert_eq!(
            l.redeem(c.nonce()),
            Redeem::Unknown,
            "second use is a replay"
        );
        let foreign = Challenge::random(None).unwrap();
        assert_eq!(l.redeem(foreign.nonce()), Redeem::Unknown);
        assert_eq!(l.outstanding(), 0);
    }

    #[test]
    fn ledger_expires_and_is_bounded() {
        let mut l = NonceLedger::new(Duration::from_millis(20), 2);
        let a = l.issue(None).unwrap();
        let _b = l.issue(None).unwrap();
        assert!(matches!(l.issue(None), Err(RpError::TooManyOutstanding(2))));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(l.redeem(a.nonce()), Redeem::Expired);
        // Expired entries are purged when issuing.
        l.issue(None).unwrap();
        assert_eq!(l.outstanding(), 1);
    }

    #[test]
    fn verdict_text_names_failures() {
        let v = Verdict {
            checks: vec![
                Check {
                    name: "freshness.nonce".into(),
                    status: CheckStatus::Pass,
                    detail: "ok".into(),
                },
                Check {
                    name: "policy.measurement".into(),
                    status: CheckStatus::Fail,
                    detail: "not allowed".into(),
                },
            ],
            exit_code: exit_code::POLICY_FAILED,
            evidence_id: None,
        };
        let text = v.to_string();
        assert!(
            text.contains("REJECTED (exit code 5; failed: policy.measurement)"),
            "{text}"
        );
        assert!(!v.affirmed());
        assert_eq!(v.failed(), vec!["policy.measurement"]);
    }
}
