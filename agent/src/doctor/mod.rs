//! `snp-agent doctor`: judge, from inside a guest, whether the host serves certificates
//! correctly — one check per line, each pass / warn / fail (or "not checked") with a remedy.
//!
//! The guest sees only what the host answers, so every check is phrased as what the answers
//! show: the doctor makes a few extended requests (default 3) through an *unguarded* backend
//! (it wants the raw answers, not the stale-blob re-ask of [`crate::backend::stale`]) and
//! compares the served table with the report and with the trust anchors. What it cannot see
//! (whether the host holds its blob lock, CRL revocation) is listed as not checked rather than
//! passed.

use std::time::{Duration, Instant};

use serde::Serialize;
use snp_certs::roots::TrustAnchors;
use snp_certs::table::EntryKind;

use crate::backend::stale::{check_served, Served};
use crate::backend::{Backend, BackendError, ExtendedReport, ReportRequest};

mod table_checks;

/// The most certificate-table bytes the Linux guest driver passes (SEV_FW_BLOB_MAX_SIZE).
pub const LINUX_MAX_CERTS: usize = 16 * 1024;

/// One check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Could not be checked (said why); does not change the verdict.
    NotChecked,
    /// Fine.
    Pass,
    /// Works, but something is off.
    Warn,
    /// Misconfigured: guests cannot attest correctly.
    Fail,
}

impl Status {
    /// The word printed in text output.
    pub fn label(self) -> &'static str {
        match self {
            Status::NotChecked => "SKIP",
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable identifier (`certs-served`, `vek-tcb`, …).
    pub id: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was seen.
    pub summary: String,
    /// What to do about it (absent on a pass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

/// Every check, in output order.
pub const CHECK_IDS: &[&str] = &[
    "extended-request",
    "busy",
    "certs-served",
    "blob-size",
    "table-format",
    "table-duplicates",
    "signer-kind",
    "vek-chip",
    "vek-tcb",
    "tcb-race",
    "ca-chain",
    "chain-verifies",
    "not-checkable",
];

/// The doctor's result.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// The worst status among the checks (not-checked ignored).
    pub verdict: Status,
    /// Requests made and answered.
    pub requests: u32,
    /// Answered requests.
    pub answered: u32,
    /// Every check, in [`CHECK_IDS`] order.
    pub checks: Vec<Check>,
}

impl Diagnosis {
    /// The check with `id`.
    pub fn get(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// One line per check (and its remedy), for people.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for c in &self.checks {
            s.push_str(&format!(
                "{}  {:<17} {}\n",
                c.status.label(),
                c.id,
                c.summary
            ));
            if let Some(r) = &c.remedy {
                s.push_str(&format!("      {:<17} remedy: {r}\n", ""));
            }
        }
        s.push_str(&format!(
            "verdict: {} ({} of {} requests answered)\n",
            self.verdict.label(),
            self.answered,
            self.requests
        ));
        s
    }
}

/// What the doctor expects and trusts.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Extended requests to make (at least 1; default 3): more answers show a racing update.
    pub requests: u32,
    /// The signer the operator expects (`--expect vcek|vlek`), if any.
    pub expect: Option<EntryKind>,
    /// Roots the served chain must lead to (AMD's pinned ones; the simulator's with --backend
    /// sim). Roots of every product should be present to name "another product's chain".
    pub anchors: TrustAnchors,
    /// An answer slower than this is reported as BUSY retries / throttling (default 500 ms).
    pub slow: Duration,
}

impl DoctorOptions {
    /// Defaults with `anchors`.
    pub fn new(anchors: TrustAnchors) -> DoctorOptions {
        DoctorOptions {
            requests: 3,
            expect: None,
            anchors,
            slow: Duration::from_millis(500),
        }
    }
}

struct Builder {
    checks: Vec<Check>,
}

impl Builder {
    fn put(
        &mut self,
        id: &'static str,
        status: Status,
        summary: impl Into<String>,
        remedy: Option<&str>,
    ) {
        debug_assert!(CHECK_IDS.contains(&id));
        self.checks.retain(|c| c.id != id);
        self.checks.push(Check {
            id,
            status,
            summary: summary.into(),
            remedy: remedy.map(str::to_owned),
        });
    }
    fn pass(&mut self, id: &'static str, summary: impl Into<String>) {
        self.put(id, Status::Pass, summary, None);
    }
    fn skip(&mut self, id: &'static str, why: impl Into<String>) {
        self.put(id, Status::NotChecked, why, None);
    }
    fn has(&self, id: &str) -> bool {
        self.checks.iter().any(|c| c.id == id)
    }
}

const REMEDY_BLOB: &str = "rebuild the blob for this host (`snp-agent host blob build`, or `host blob fetch` from KDS) and install it with `snp-agent host blob install BLOB --path CERTS-FILE`";
const REMEDY_LOCK: &str = "raise the TCB and rewrite the blob in one update under the exclusive lock (`snp-agent host blob install` takes OFD and flock locks), and make the VMM hold its shared lock until the request reached the firmware";

/// Diagnose the host behind `backend` (see the module docs).
pub fn diagnose(backend: &mut dyn Backend, opts: &DoctorOptions) -> Diagnosis {
    let mut b = Builder { checks: Vec::new() };
    let mut answers: Vec<ExtendedReport> = Vec::new();
    let mut failure: Option<BackendError> = None;
    let mut slowest = Duration::ZERO;
    let requests = opts.requests.max(1);
    let mut made = 0;
    for i in 0..requests {
        let mut req = ReportRequest::default();
        req.report_data[..8].copy_from_slice(b"doctor\0\0");
        req.report_data[8..12].copy_from_slice(&i.to_le_bytes());
        let t0 = Instant::now();
        made += 1;
        let r = backend.get_ext_report(&req);
        slowest = slowest.max(t0.elapsed());
        match r {
            Ok(ext) => answers.push(ext),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }

    judge_requests(&mut b, failure.as_ref(), answers.len(), slowest, opts);
    if let Some(last) = answers.last() {
        table_checks::judge_answer(&mut b, last, opts);
        judge_race(&mut b, &answers);
    }
    for id in CHECK_IDS {
        if !b.has(id) {
            let why = if answers.is_empty() {
                "not checked: no extended report was obtained"
            } else {
                "not checked: an earlier check failed"
            };
            b.skip(id, why);
        }
    }
    b.put(
        "not-checkable",
        Status::NotChecked,
        "not visible from a guest: whether the VMM holds the blob lock (a race shows up only as tcb-race), CRL revocation of the chain (use `snp-agent verify --require-crl`), and answers beyond these requests",
        None,
    );
    let mut checks = Vec::with_capacity(CHECK_IDS.len());
    for id in CHECK_IDS {
        if let Some(c) = b.checks.iter().find(|c| c.id == *id) {
            checks.push(c.clone());
        }
    }
    let verdict = checks
        .iter()
        .map(|c| c.status)
        .filter(|s| *s != Status::NotChecked)
        .max()
        .unwrap_or(Status::NotChecked);
    Diagnosis {
        verdict,
        requests: made,
        answered: answers.len() as u32,
        checks,
    }
}

fn judge_requests(
    b: &mut Builder,
    failure: Option<&BackendError>,
    answered: usize,
    slowest: Duration,
    opts: &DoctorOptions,
) {
    match failure {
        Some(e @ (BackendError::HostBusy { .. } | BackendError::BusyTimeout { .. })) => {
            b.put(
                "busy",
                Status::Fail,
                format!("the host kept answering BUSY: {e}"),
                Some("the host is throttling guest requests or an updater holds the certificate blob's lock too long; raise the host's rate limit, shorten updates, or retry later"),
            );
            if answered == 0 {
                b.skip(
                    "extended-request",
                    "not checked: every request was answered BUSY",
                );
            }
        }
        Some(e @ BackendError::CertsTooLarge { .. }) => {
            b.pass("extended-request", "the host answers extended requests");
            b.put(
                "blob-size",
                Status::Fail,
                format!("the host's certificate blob does not fit: {e}"),
                Some("serve at most 16 KiB (VCEK or VLEK, ASK, ARK; drop a bundled CRL): the Linux guest driver passes no more"),
            );
        }
        Some(e) => {
            b.put(
                "extended-request",
                Status::Fail,
                format!("extended requests unsupported or refused by the host: {e}"),
                Some("the host must support SNP_EXTENDED_GUEST_REQUEST (Linux 6.11+ KVM with a VMM that handles KVM_EXIT_SNP_REQ_CERTS, e.g. QEMU with certs-filename); check the host's kernel and VMM logs"),
            );
        }
        None => {}
    }
    if answered > 0 && !b.has("extended-request") {
        b.pass(
            "extended-request",
            format!("{answered} extended request(s) answered"),
        );
    }
    if !b.has("busy") {
        if slowest > opts.slow {
            b.put(
                "busy",
                Status::Warn,
                format!("the slowest answer took {slowest:.2?}: the host answered BUSY and the request was retried, or it throttles guest requests"),
                Some("check the host's guest-request rate limit and how long blob updates hold the lock"),
            );
        } else if answered > 0 {
            b.pass(
                "busy",
                format!("no BUSY seen (slowest answer {slowest:.2?})"),
            );
        }
    }
}

/// Did the answers change between requests: a stale pair first, a matching one later?
fn judge_race(b: &mut Builder, answers: &[ExtendedReport]) {
    let states: Vec<Served> = answers
        .iter()
        .map(|a| check_served(&a.report, &a.cert_table))
        .collect();
    let stale = states.iter().filter(|s| s.is_stale()).count();
    let last_stale = states.last().is_some_and(Served::is_stale);
    if states.iter().all(|s| *s == Served::Unknown) {
        b.skip(
            "tcb-race",
            "not checked: no VEK served to compare with the reports",
        );
    } else if stale > 0 && !last_stale {
        let first = states
            .iter()
            .find(|s| s.is_stale())
            .map(ToString::to_string);
        b.put(
            "tcb-race",
            Status::Warn,
            format!(
                "{stale} of {} answers paired a report with a VEK for another TCB or chip, later ones matched ({}): a TCB update raced the requests",
                states.len(),
                first.unwrap_or_default()
            ),
            Some(REMEDY_LOCK),
        );
    } else if last_stale {
        b.skip(
            "tcb-race",
            "not checked: the served VEK never matched the report (see vek-tcb / vek-chip)",
        );
    } else if states.len() > 1 {
        b.pass(
            "tcb-race",
            format!(
                "all {} answers paired the report with a matching VEK",
                states.len()
            ),
        );
    } else {
        b.skip(
            "tcb-race",
            "not checked: only one answer (use --requests 3 or more)",
        );
    }
}
