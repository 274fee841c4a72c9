//! Errors of the KDS client and the certificate cache. Each says what was asked, what went
//! wrong and what the operator can do about it.

use std::path::PathBuf;
use std::time::Duration;

use snp_certs::kds::KdsUrlError;
use thiserror::Error;

use super::transport::TransportError;

/// A KDS fetch or cache lookup failed.
#[derive(Debug, Error)]
pub enum KdsError {
    /// No URL can exist for the request (masked chip ID, wrong TCB shape): nothing was sent.
    #[error(transparent)]
    Url(#[from] KdsUrlError),

    /// KDS says the certificate does not exist; retrying cannot help.
    #[error("KDS has no {what} at {url} (HTTP 404): {hint}")]
    NotFound {
        /// What was asked for.
        what: String,
        /// The URL.
        url: String,
        /// Why this usually happens.
        hint: &'static str,
    },

    /// A status that is neither success nor worth retrying (400, 403, a redirect loop, …).
    #[error("KDS answered HTTP {status} for {url}; not retrying: {hint}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The URL.
        url: String,
        /// What it usually means.
        hint: &'static str,
    },

    /// Every attempt allowed by the retry policy was used.
    #[error("gave up on {url} after {attempts} attempts: last problem: {last}; KDS rate-limits clients (HTTP 429) — wait a few minutes, use a caching mirror (--kds-url / SNP_AGENT_KDS_URL) or a local store")]
    RetriesExhausted {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },

    /// The caller's overall deadline passed.
    #[error("deadline of {deadline:?} passed while fetching {url} ({attempts} attempt(s)); last problem: {last}; raise the deadline, check the network, or work offline from the cache")]
    DeadlineExceeded {
        /// The URL.
        url: String,
        /// The overall deadline.
        deadline: Duration,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },

    /// The server asked to come back later than the deadline allows; waiting would be futile.
    #[error("KDS answered HTTP {status} for {url} and asked to retry in {retry_after:?}, but only {remaining:?} of the deadline is left; try again later, raise the deadline, or use a mirror (--kds-url)")]
    RetryAfterBeyondDeadline {
        /// The URL.
        url: String,
        /// 429 or 5xx.
        status: u16,
        /// What the server asked for.
        retry_after: Duration,
        /// What the deadline leaves.
        remaining: Duration,
    },

    /// The body is larger than the configured cap.
    #[error("the answer for {url} is larger than the {limit}-byte cap; a KDS certificate is ~1.4 KiB and a chain ~4.5 KiB, so this is not KDS (check --kds-url)")]
    BodyTooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: usize,
    },

    /// The body is not what the endpoint serves.
    #[error("the answer for {url} is not a {expected}: {detail} (is --kds-url pointing at a KDS or a mirror of it?)")]
    BadBody {
        /// The URL.
        url: String,
        /// What was expected (e.g. "DER certificate").
        expected: &'static str,
        /// What is wrong.
        detail: String,
    },

    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(TransportError),

    /// A fetched or stored certificate failed verification; it was not cached.
    #[error("{what} from {source_desc} rejected (not cached): {reason}")]
    Rejected {
        /// What it was (e.g. "Milan VCEK").
        what: String,
        /// Where it came from (URL or cache path).
        source_desc: String,
        /// Why.
        reason: String,
    },

    /// Offline mode and the entry is not in the cache.
    #[error("offline: no cached {what}; looked for {path} — fetch it on a connected machine (`snp-agent` with the same cache dir, or curl the KDS URL {url}) and copy it there, or import an snpguest certificate directory")]
    NotCached {
        /// What was wanted.
        what: String,
        /// The cache file that would hold it.
        path: PathBuf,
        /// The KDS URL it can be fetched from.
        url: String,
    },

    /// Reading or writing the cache failed.
    #[error("certificate cache at {path}: {source}")]
    Cache {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// A file in the cache or an import directory is not usable.
    #[error("{path}: {detail}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// The report does not say which VCEK to fetch.
    #[error("cannot derive a VCEK request from the report: {0}")]
    Report(String),

    /// No cache directory could be determined.
    #[error("no certificate cache directory: set SNP_AGENT_CACHE_DIR, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
}

impl KdsError {
    /// Whether the error means the network was needed but could not be used (as opposed to
    /// a definite answer such as 404 or a rejected certificate).
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            KdsError::RetriesExhausted { .. }
                | KdsError::DeadlineExceeded { .. }
                | KdsError::RetryAfterBeyondDeadline { .. }
        )
    }
}
