//! The TCB-update race, seen from the guest: a host that serves a stale certificate blob.
//!
//! A host operator who raises the TCB (SNP_COMMIT / SNP_SET_CONFIG) must rewrite the blob with the
//! new VCEK, and the lock scheme (`snp_certs::blob`) keeps the VMM from serving the old blob for a
//! report signed under the new TCB. A host that does not follow it serves, for a while, a VCEK
//! for another TCB than the report's REPORTED_TCB. Such evidence can never verify (the verifier
//! binds the VCEK's TCB to REPORTED_TCB), but the cause is transient and on the host: asking
//! again a moment later usually gets a matching pair. So every backend [`open`](super::open)
//! returns is wrapped in [`StaleGuard`]: when the served VEK is for another TCB (or, for a VCEK,
//! another chip) than the report, it asks again — a bounded number of times with backoff — and
//! then fails with [`BackendError::StaleHostBlob`], a named host error, instead of handing back
//! a pair that will only fail verification with a less useful message.
//!
//! Only a *clear* mismatch triggers a re-ask: a table without a VEK, or a certificate or report
//! this module cannot read, is passed through unchanged for the verifier to judge. Every re-ask
//! is a fresh guest request with a fresh sequence number (the driver's rule), never a replay.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use snp_certs::chain::AmdCert;
use snp_certs::report::ReportView;
use snp_certs::table::{CertTable, EntryKind};
use snp_certs::tcb::Tcb;

use super::{Backend, BackendError, BackendKind, ExtendedReport, ReportRequest};

/// How often and how patiently to ask again after a stale blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaskPolicy {
    /// Re-asks after the first request (default 3; 0 disables re-asking but still names the
    /// error).
    pub max_reasks: u32,
    /// Wait before the first re-ask; doubled each time (default 50 ms).
    pub initial_backoff: Duration,
    /// Cap on one wait (default 1 s).
    pub max_backoff: Duration,
    /// No re-ask starts after this much time since the first request (default 5 s).
    pub deadline: Duration,
}

impl Default for ReaskPolicy {
    fn default() -> Self {
        ReaskPolicy {
            max_reasks: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            deadline: Duration::from_secs(5),
        }
    }
}

/// What the served VEK says against the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// The VEK is for the report's TCB (and chip, for a VCEK).
    Matches,
    /// Nothing to compare (no VEK served, or something unreadable: the verifier will say what).
    Unknown,
    /// The VEK certifies another TCB than REPORTED_TCB.
    OtherTcb {
        /// VCEK or VLEK.
        kind: EntryKind,
        /// The TCB in the served certificate.
        served: Tcb,
        /// REPORTED_TCB.
        reported: Tcb,
    },
    /// The VCEK is for another chip than CHIP_ID.
    OtherChip {
        /// hwID of the served VCEK (hex).
        served: String,
        /// CHIP_ID of the report, truncated to the hwID length (hex).
        reported: String,
    },
}

impl Served {
    /// Whether this is a mismatch worth asking again for.
    pub fn is_stale(&self) -> bool {
        matches!(self, Served::OtherTcb { .. } | Served::OtherChip { .. })
    }
}

impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Served::Matches => f.write_str("the served VEK matches the report"),
            Served::Unknown => f.write_str("no served VEK to compare with the report"),
            Served::OtherTcb {
                kind,
                served,
                reported,
            } => write!(
                f,
                "the served {kind} is for TCB {served} but the report's REPORTED_TCB is {reported}"
            ),
            Served::OtherChip { served, reported } => write!(
                f,
                "the served VCEK is for chip {served} but the report's CHIP_ID is {reported}"
            ),
        }
    }
}

/// Compare the served VEK with the report (see [`Served`]). Never fails: what cannot be read is
/// [`Served::Unknown`].
pub fn check_served(report: &[u8], cert_table: &[u8]) -> Served {
    let Ok(view) = ReportView::new(report) else {
        return Served::Unknown;
    };
    let Ok(table) = CertTable::parse(cert_table) else {
        return Served::Unknown;
    };
    let (kind, entry) = match (table.vcek(), table.vlek()) {
        (Some(e), _) => (EntryKind::Vcek, e),
        (None, Some(e)) => (EntryKind::Vlek, e),
        (None, None) => return Served::Unknown,
    };
    let Ok(der) = entry.der() else {
        return Served::Unknown;
    };
    let role = if kind == EntryKind::Vcek {
        "VCEK"
    } else {
        "VLEK"
    };
    let Ok(cert) = AmdCert::from_der(role, &der) else {
        return Served::Unknown;
    };
    let ext = cert.amd_extensions();
    let Ok(product) = ext.product(role) else {
        return Served::Unknown;
    };
    let (Ok(served), Ok(reported)) = (ext.tcb(role, product), view.reported_tcb(product)) else {
        return Served::Unknown;
    };
    if served != reported {
        return Served::OtherTcb {
            kind,
            served,
            reported,
        };
    }
    if kind == EntryKind::Vcek && !view.chip_id_masked() {
        if let Ok(hw) = ext.hw_id_for(role, product) {
            let chip = view.chip_id();
            let reported = &chip[..hw.len().min(chip.len())];
            if hw != reported {
                return Served::OtherChip {
                    served: hex::encode(hw),
                    reported: hex::encode(reported),
                };
            }
        }
    }
    Served::Matches
}

/// Counts of what [`StaleGuard`]s saw (shared by clones; cheap atomics).
#[derive(Debug, Default)]
pub struct StaleStats {
    /// Answers whose VEK did not match the report.
    pub mismatches: AtomicU64,
    /// Re-asks made after a mismatch.
    pub reasks: AtomicU64,
    /// Requests that got a matching pair only after at least one re-ask.
    pub recovered: AtomicU64,
    /// Requests that failed with [`BackendError::StaleHostBlob`].
    pub gave_up: AtomicU64,
}

/// A plain copy of [`StaleStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StaleCounts {
    /// See [`StaleStats::mismatches`].
    pub mismatches: u64,
    /// See [`StaleStats::reasks`].
    pub reasks: u64,
    /// See [`StaleStats::recovered`].
    pub recovered: u64,
    /// See [`StaleStats::gave_up`].
    pub gave_up: u64,
}

impl StaleStats {
    /// Read the counters.
    pub fn snapshot(&self) -> StaleCounts {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StaleCounts {
            mismatches: r(&self.mismatches),
            reasks: r(&self.reasks),
            recovered: r(&self.recovered),
            gave_up: r(&self.gave_up),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// A backend that asks again when the host served a stale blob (see the module docs).
pub struct StaleGuard {
    inner: Box<dyn Backend>,
    policy: ReaskPolicy,
    stats: Arc<StaleStats>,
}

impl fmt::Debug for StaleGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaleGuard")
            .field("inner", &self.inner.kind())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl StaleGuard {
    /// Guard `inner` with `policy`, counting into fresh statistics.
    pub fn new(inner: Box<dyn Backend>, policy: ReaskPolicy) -> StaleGuard {
        Self::with_stats(inner, policy, Arc::default())
    }

    /// Guard `inner`, counting into `stats` (shared, e.g. across a test's threads).
    pub fn with_stats(
        inner: Box<dyn Backend>,
        policy: ReaskPolicy,
        stats: Arc<StaleStats>,
    ) -> StaleGuard {
        StaleGuard {
            inner,
            policy,
            stats,
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<StaleStats> {
        &self.stats
    }
}

impl Backend for StaleGuard {
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }

    fn get_ext_report(&mut self, req: &ReportRequest) -> Result<ExtendedReport, BackendError> {
        let start = Instant::now();
        let mut backoff = self.policy.initial_backoff;
        let mut reasks = 0u32;
        loop {
            let ext = self.inner.get_ext_report(req)?;
            let served = check_served(&ext.report, &ext.cert_table);
            if !served.is_stale() {
                if reasks > 0 {
                    bump(&self.stats.recovered);
                    tracing::info!(
                        reasks,
                        "the host served a matching certificate blob after re-asking"
                    );
                }
                return Ok(ext);
            }
            bump(&self.stats.mismatches);
            let elapsed = start.elapsed();
            if reasks >= self.policy.max_reasks || elapsed + backoff > self.policy.deadline {
                bump(&self.stats.gave_up);
                tracing::warn!(%served, reasks, "the host kept serving a stale certificate blob");
                return Err(BackendError::StaleHostBlob {
                    backend: self.inner.kind(),
                    attempts: reasks + 1,
                    detail: served.to_string(),
                });
            }
            tracing::warn!(%served, attempt = reasks + 1, ?backoff, "stale certificate blob (a TCB update racing the request?); asking again");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(self.policy.max_backoff);
            reasks += 1;
            bump(&self.stats.reasks);
        }
    }
}

#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::backend::sim::SimBackend;
    use snp_certs::product::Product;
    use snp_ghcb::retry::RetryPolicy;
    use snp_sim::platform::SimPlatform;

    fn quick() -> ReaskPolicy {
        ReaskPolicy {
            initial_backoff: Duration::from_millis(1),
            ..ReaskPolicy::default()
        }
    }

    fn next(t: Tcb) -> Tcb {
        Tcb {
            snp: t.snp.saturating_add(1),
            ..t
        }
    }

    #[test]
    fn healthy_host_passes_untouched() {
        let p = SimPlatform::builder(Product::Milan).build().unwrap();
        let b = SimBackend::on(p, 0, RetryPolicy::default()).unwrap();
        let mut g = StaleGuard::new(Box::new(b), quick());
        let ext = g.get_ext_report(&ReportRequest::default()).unwrap();
        assert_eq!(check_served(&ext.report, &ext.cert_table), Served::Matches);
        assert_eq!(g.stats().snapshot(), StaleCounts::default());
    }

    #[test]
    fn a_blob_that_stays_stale_is_a_named_host_error() {
        let p = SimPlatform::builder(Product::Milan).build().unwrap();
        p.update_faults(|f| f.stale_blob = true);
        p.raise_tcb(next(p.reported_tcb())).unwrap();
        let b = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
        let mut g = StaleGuard::new(Box::new(b), quick());
        let e = g.get_ext_report(&ReportRequest::default()).unwrap_err();
        assert!(
            matches!(e, BackendError::StaleHostBlob { attempts: 4, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("stale"), "{e}");
        let c = g.stats().snapshot();
        assert_eq!(
            (c.mismatches, c.reasks, c.gave_up, c.recovered),
            (4, 3, 1, 0)
        );
        assert_eq!(p.counters().reports_signed, 4);
    }

    /// A backend whose host finishes its update after `fix_after` stale answers.
    struct Healing {
        inner: SimBackend,
        platform: SimPlatform,
        stale_left: u32,
    }

    impl Backend for Healing {
        fn kind(&self) -> BackendKind {
            BackendKind::Sim
        }
        fn get_ext_report(&mut self, req: &ReportRequest) -> Result<ExtendedReport, BackendError> {
            let out = self.inner.get_ext_report(req);
            if self.stale_left > 0 {
                self.stale_left -= 1;
                if self.stale_left == 0 {
                    self.platform.update_faults(|f| f.stale_blob = false);
                    let t = self.platform.reported_tcb();
                    self.platform.raise_tcb(t).unwrap();
                }
            }
            out
        }
    }

    #[test]
    fn a_blob_fixed_while_re_asking_is_recovered() {
        let p = SimPlatform::builder(Product::Genoa).build().unwrap();
        p.update_faults(|f| f.stale_blob = true);
        p.raise_tcb(next(p.reported_tcb())).unwrap();
        let inner = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
        let healing = Healing {
            inner,
            platform: p.clone(),
            stale_left: 2,
        };
        let mut g = StaleGuard::new(Box::new(healing), quick());
        let ext = g.get_ext_report(&ReportRequest::default()).unwrap();
        assert_eq!(check_served(&ext.report, &ext.cert_table), Served::Matches);
        let c = g.stats().snapshot();
        assert_eq!(
            (c.mismatches, c.reasks, c.recovered, c.gave_up),
            (2, 2, 1, 0)
        );
    }

    #[test]
    fn another_chips_vcek_is_named() {
        let p = SimPlatform::builder(Product::Milan).build().unwrap();
        p.update_faults(|f| f.wrong_vcek = true);
        let mut b = SimBackend::on(p, 0, RetryPolicy::default()).unwrap();
        let ext = b.get_ext_report(&ReportRequest::default()).unwrap();
        let s = check_served(&ext.report, &ext.cert_table);
        assert!(matches!(s, Served::OtherChip { .. }), "{s:?}");
        assert!(s.is_stale());
    }

    #[test]
    fn unreadable_inputs_are_unknown_not_stale() {
        assert_eq!(check_served(&[], &[]), Served::Unknown);
        assert_eq!(check_served(&[0u8; 0x4A0], &[0u8; 24]), Served::Unknown);
        assert_eq!(check_served(&[0u8; 0x4A0], &[0xFFu8; 100]), Served::Unknown);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Hostile or garbled answers never panic the check and are never called stale
        /// without a parsable VEK (which random bytes are not).
        #[test]
        fn check_served_never_panics(report in proptest::collection::vec(any::<u8>(), 0..1300),
                                     table in proptest::collection::vec(any::<u8>(), 0..600)) {
            let s = check_served(&report, &table);
            prop_assert!(!s.is_stale());
        }
    }
}
