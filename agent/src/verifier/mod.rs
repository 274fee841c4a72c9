//! `snp-agent verifier`: a stateless verification service for relying parties.
//!
//! A fleet's relying party posts evidence and gets the appraisal back. The service keeps no
//! per-client state — policies are loaded at start, the certificate cache (in memory, and the
//! on-disk VCEK store if one is mounted) is only an accelerator — so a fleet verifier is many
//! copies of the same process behind an ordinary load balancer (see `deploy/` and the README's
//! "Fleet verification" section); there is no clustering of its own.
//!
//! # HTTP interface
//!
//! | request | answer |
//! |---|---|
//! | `POST /verify?nonce=HEX&policy=ID&format=FMT` with evidence as the body (snp-agent JSON, `bin`, or CoCo JSON; detected unless `format` is given) | 200 with the EAR whatever the verdict, in the service's [`ResultForm`]: JSON claims (`application/eat-ucs+json; eat_profile="…"`) or, when started with a signing key, a JWT (`application/eat+jwt; eat_profile="…"`); the `X-Snp-Agent-Exit-Code` header carries the code `snp-agent verify` would exit with |
//! | `GET /healthz` | 200 `{"status": "ok", …}` while the listener is open (on shutdown it closes first, so probes fail to connect) |
//! | `GET /metrics` | Prometheus / OpenMetrics text: requests by path and status, verdicts, latency histograms, queue depth, certificate-cache counters |
//!
//! Every query parameter is optional: `nonce` (1..=1024 bytes of hex, checked against
//! REPORT_DATA as `verify --nonce` does), `policy` (the id of a policy loaded at start; without
//! it the default policy), `format`. Errors are JSON `{"error": code, "message": …}` ([`ErrorBody`]):
//! 400 `bad_request` (unreadable evidence, bad parameters), 404 `not_found` (path or policy
//! id), 405, 406 `not_acceptable` (`Accept` excludes the service's result form, see
//! [`ResultForm`]), 408 `request_timeout`, 413 `payload_too_large`, 422 `unprocessable` (no
//! certificate could be found for the evidence, a CRL could not be had), 503 `busy` (queue full,
//! with `Retry-After`) or `shutting_down`.
//!
//! The service checks the nonce it is given; it does not remember nonces (it is stateless), so
//! refusing a replayed nonce is the caller's job, as in `examples/relying_party.rs`.
//!
//! # Resource bounds and threads
//!
//! One thread runs the HTTP side (hyper on a current-thread tokio runtime); verification is CPU
//! work and runs on [`Limits::workers`] threads (default: one per core) fed by a queue of
//! [`Limits::queue`] places — a request that finds the queue full is answered 503 at once.
//! Connections are capped at [`Limits::max_connections`] and kept alive (a load balancer reuses
//! them); request heads must arrive within [`Limits::header_timeout`], bodies within
//! [`Limits::body_timeout`], each answer must be taken within [`Limits::write_timeout`] (a
//! client that pipelines requests and never reads its answers loses the connection instead of
//! holding a permit), and bodies are capped at [`Limits::max_body`] while streaming.
//! SIGTERM (what Kubernetes sends) stops accepting and lets requests in progress finish.

mod accept;
mod http;
mod metrics;
mod pool;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::header::HeaderValue;
use tracing::info;

use crate::server::{BindError, Connections};

pub use crate::serve::{ErrorBody, Limits};
pub use accept::ResultForm;
pub use metrics::Metrics;

/// What a verification produced, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Verified and the policy holds.
    Affirming,
    /// Appraised, and not affirmed (verification or policy failed).
    Contraindicated,
    /// Not appraised (unreadable evidence, unknown policy, no certificate).
    Error,
}

impl Verdict {
    /// The label used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Affirming => "affirming",
            Verdict::Contraindicated => "contraindicated",
            Verdict::Error => "error",
        }
    }
}

/// One `POST /verify`, as handed to the verification function.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// The request body: the evidence bytes.
    pub body: Vec<u8>,
    /// `format=` (unchecked name; the verification function parses it).
    pub format: Option<String>,
    /// `nonce=`, decoded.
    pub nonce: Option<Vec<u8>>,
    /// `policy=`.
    pub policy: Option<String>,
    /// `raw_evidence=1`: carry the evidence in the result (`ear_raw_evidence`).
    pub raw_evidence: bool,
}

/// The answer of the verification function.
#[derive(Debug, Clone)]
pub struct VerifyAnswer {
    /// HTTP status (200 for a completed appraisal, whatever its verdict).
    pub status: u16,
    /// For the metrics.
    pub verdict: Verdict,
    /// The exit code `snp-agent verify` would return for the same input.
    pub exit_code: u8,
    /// The body: with status 200 the result in the service's [`ResultForm`], otherwise an
    /// [`ErrorBody`] as JSON.
    pub body: Vec<u8>,
}

/// The function that appraises evidence: given by the caller (the CLI wires in the same
/// appraisal and EAR as `snp-agent verify --format ear`), run on the worker threads, shared by
/// all of them.
pub type VerifyFn = Arc<dyn Fn(VerifyRequest) -> VerifyAnswer + Send + Sync>;

/// Everything the service needs.
pub struct VerifierConfig {
    /// `HOST:PORT` (port 0 picks a free one).
    pub listen: String,
    /// Resource bounds. `workers` defaults to the number of cores, `queue` to 256, `max_body`
    /// to the evidence size cap (1 MiB), `max_connections` to 1024.
    pub limits: Limits,
    /// The verification function.
    pub verify: VerifyFn,
    /// What the verification function's 200 answers are (their `Content-Type`, and what
    /// `Accept` is negotiated against).
    pub results: ResultForm,
    /// Shown by `/healthz` (policy ids, trust anchors …).
    pub info: serde_json::Value,
}

impl std::fmt::Debug for VerifierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierConfig")
            .field("listen", &self.listen)
            .field("limits", &self.limits)
            .field("results", &self.results)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Default limits for the verifier (more workers, a longer queue and larger bodies than the
/// in-guest `serve`).
pub fn default_limits() -> Limits {
    Limits {
        workers: std::thread::available_parallelism().map_or(2, |n| n.get().min(64)),
        queue: 256,
        max_body: crate::evidence::MAX_EVIDENCE_FILE as usize,
        max_connections: 1024,
        ..Limits::default()
    }
}

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    /// A limit is out of range.
    #[error("invalid verifier configuration: {0}")]
    Config(String),
    /// The listen address does not parse or resolve.
    #[error("cannot listen on {addr:?}: {reason} (expected HOST:PORT, e.g. 0.0.0.0:8080)")]
    Address {
        /// The address given.
        addr: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another process using the port?)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A thread or the runtime could not be started.
    #[error("verifier: {what}: {source}")]
    Io {
        /// What failed.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl VerifierError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            VerifierError::Config(_) | VerifierError::Address { .. } => crate::exit_code::USAGE,
            _ => crate::exit_code::OTHER,
        }
    }
}

/// Check the limits: the same ranges as `serve`, except bodies up to the evidence cap.
pub fn validate(limits: &Limits) -> Result<(), VerifierError> {
    let bad = |what: &str, v: usize, range: &str| {
        Err(VerifierError::Config(format!(
            "{what} is {v}; it must be in {range}"
        )))
    };
    if !(1..=64).contains(&limits.workers) {
        return bad("the number of workers", limits.workers, "1..=64");
    }
    if !(1..=65536).contains(&limits.queue) {
        return bad("the queue length", limits.queue, "1..=65536");
    }
    let max = crate::evidence::MAX_EVIDENCE_FILE as usize;
    if !(1024..=max).contains(&limits.max_body) {
        return bad("the body limit", limits.max_body, "1024..=1048576 bytes");
    }
    if !(1..=65536).contains(&limits.max_connections) {
        return bad("the connection limit", limits.max_connections, "1..=65536");
    }
    if limits.header_timeout.is_zero() || limits.body_timeout.is_zero() {
        return Err(VerifierError::Config(
            "header and body timeouts must be longer than zero".into(),
        ));
    }
    Ok(())
}

/// A running service. Dropping it shuts it down.
#[derive(Debug)]
pub struct VerifierHandle {
    running: crate::server::Running,
    metrics: Arc<Metrics>,
}

impl VerifierHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.running.local_addr()
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr())
    }

    /// The metrics (for tests and embedding).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Stop accepting, finish requests in progress, stop the workers.
    pub fn shutdown(mut self) -> Result<(), VerifierError> {
        self.running.stop();
        self.running.join().map_err(VerifierError::from)
    }

    /// Block until the service stops (SIGINT/SIGTERM when started by [`run_with`]).
    pub fn wait(mut self) -> Result<(), VerifierError> {
        self.running.join().map_err(VerifierError::from)
    }
}

impl From<crate::server::ServerError> for VerifierError {
    fn from(e: crate::server::ServerError) -> Self {
        VerifierError::Io {
            what: e.what,
            source: e.source,
        }
    }
}

fn bind(listen: &str) -> Result<std::net::TcpListener, VerifierError> {
    crate::server::bind(listen).map_err(|e| match e {
        BindError::Address { addr, reason } => VerifierError::Address { addr, reason },
        BindError::Bind { addr, source } => VerifierError::Bind { addr, source },
    })
}

/// Start the service; returns once it is listening.
pub fn spawn(config: VerifierConfig) -> Result<VerifierHandle, VerifierError> {
    start(config, false)
}

/// Run until SIGINT or SIGTERM, calling `on_listening` with the bound address first.
pub fn run_with(
    config: VerifierConfig,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), VerifierError> {
    let handle = start(config, true)?;
    on_listening(handle.local_addr());
    handle.wait()
}

fn start(config: VerifierConfig, stop_on_signals: bool) -> Result<VerifierHandle, VerifierError> {
    validate(&config.limits)?;
    let listener = bind(&config.listen)?;
    let metrics = Arc::new(Metrics::new());
    let (jobs, workers) = pool::start(&config.limits, config.verify, Arc::clone(&metrics))
        .map_err(|source| VerifierError::Io {
            what: "starting worker threads",
            source,
        })?;
    let state = Arc::new(http::State {
        jobs,
        metrics: Arc::clone(&metrics),
        limits: config.limits.clone(),
        results: config.results,
        content_type: HeaderValue::from_str(&config.results.content_type())
            .map_err(|e| VerifierError::Config(format!("result media type: {e}")))?,
        info: config.info,
    });
    let connections = Connections {
        max: config.limits.max_connections,
        header_timeout: config.limits.header_timeout,
        write_timeout: config.limits.write_timeout,
        keep_alive: true,
    };
    let running = crate::server::Running::start(
        listener,
        "snp-agent-verifier",
        "the verifier",
        connections,
        stop_on_signals,
        workers,
        move |req, _peer| {
            let st = Arc::clone(&state);
            async move { http::handle(req, &st).await }
        },
    )?;
    info!(addr = %running.local_addr(), workers = config.limits.workers, queue = config.limits.queue, "verifier listening");
    Ok(VerifierHandle { running, metrics })
}

#[cfg(test)]
mod tests;
