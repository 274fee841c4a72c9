//! The results of a verification: each check's status and detail, the accumulator the core
//! verification records them in, and the outcome handed to callers.

use std::fmt;

use super::check;
use super::error::VerifyError;
use super::verified::VerifiedEvidence;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// The check ran and passed.
    Pass,
    /// The check ran and failed.
    Fail,
    /// The check did not apply or could not run (the detail says why).
    Skipped,
    /// The check ran and did not fail the verification, but found something the relying party
    /// should know (the detail says what): a host-served CRL past its nextUpdate.
    Warn,
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::Skipped => "skipped",
            CheckStatus::Warn => "warn",
        })
    }
}

/// One named check with its status and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Stable name (see [`check`]).
    pub name: &'static str,
    /// Pass, fail, skipped or warn.
    pub status: CheckStatus,
    /// What was compared, or why it failed / was skipped.
    pub detail: String,
}

/// Every check plus the verdict.
#[derive(Debug)]
pub struct VerificationOutcome {
    /// All checks in evaluation order.
    pub checks: Vec<CheckResult>,
    /// The evidence, or the first failure.
    pub result: Result<VerifiedEvidence, VerifyError>,
}

impl VerificationOutcome {
    /// The result of a named check.
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }
    /// Names of the failed checks.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .map(|c| c.name)
            .collect()
    }
    /// Names of the checks that passed with a warning.
    pub fn warnings(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Warn)
            .map(|c| c.name)
            .collect()
    }
}

/// Accumulates check results and remembers the first failure.
pub(super) struct Checks {
    pub(super) list: Vec<CheckResult>,
    pub(super) first_error: Option<VerifyError>,
}

impl Checks {
    pub(super) fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.list.push(CheckResult {
            name,
            status: CheckStatus::Pass,
            detail: detail.into(),
        });
    }
    pub(super) fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.list.push(CheckResult {
            name,
            status: CheckStatus::Skipped,
            detail: detail.into(),
        });
    }
    pub(super) fn warn(&mut self, name: &'static str, detail: impl Into<String>) {
        let detail = detail.into();
        tracing::warn!(check = name, "{detail}");
        self.list.push(CheckResult {
            name,
            status: CheckStatus::Warn,
            detail,
        });
    }
    /// Record a failure with a detail other than the error's message (the error stays the one
    /// returned).
    pub(super) fn fail_with(&mut self, err: VerifyError, detail: String) {
        tracing::debug!(check = err.check(), error = %err, "verification check failed");
        self.list.push(CheckResult {
            name: err.check(),
            status: CheckStatus::Fail,
            detail,
        });
        self.first_error.get_or_insert(err);
    }
    pub(super) fn fail(&mut self, err: VerifyError) {
        let name = err.check();
        tracing::debug!(check = name, error = %err, "verification check failed");
        self.list.push(CheckResult {
            name,
            status: CheckStatus::Fail,
            detail: err.to_string(),
        });
        self.first_error.get_or_insert(err);
    }
    pub(super) fn record(&mut self, name: &'static str, r: Result<String, VerifyError>) -> bool {
        match r {
            Ok(d) => {
                self.pass(name, d);
                true
            }
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }
    /// Skip every remaining check not yet recorded, with the reason.
    pub(super) fn skip_rest(&mut self, reason: &str) {
        for name in check::ALL {
            if !self.list.iter().any(|c| c.name == name) {
                self.skip(name, reason.to_string());
            }
        }
    }
    pub(super) fn finish(mut self) -> (Vec<CheckResult>, Option<VerifyError>) {
        self.list.sort_by_key(|c| {
            check::ALL
                .iter()
                .position(|n| *n == c.name)
                .unwrap_or(usize::MAX)
        });
        (self.list, self.first_error)
    }
}
