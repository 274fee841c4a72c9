//! `snp-agent serve`: a challenge–response attestation endpoint inside the guest.
//!
//! A relying party sends a fresh nonce (and optionally a public key); the agent binds them into
//! REPORT_DATA with [`crate::binding`], asks the platform for an extended report and answers
//! with snp-agent's evidence JSON ([`crate::evidence::json`]). The relying party verifies that
//! evidence itself (`snp-agent verify --nonce …` or `examples/relying_party.rs`): the endpoint is
//! deliberately unauthenticated, because evidence is not secret and is useless to anyone but the
//! holder of the nonce.
//!
//! # HTTP interface
//!
//! | request | answer |
//! |---|---|
//! | `POST /attest` with `{"nonce": "<hex>", "public_key": "<hex>"}` (`public_key` optional) | 200, evidence JSON (`"format": "snp-agent-evidence/v1"`) whose REPORT_DATA binds the challenge |
//! | `GET /healthz` | 200 `{"status": "ok", "backend": …, …}` (503 when the backend is unusable) |
//!
//! Errors are JSON, `{"error": "<code>", "message": "<what to do>"}`: 400 `bad_request` (malformed
//! JSON, bad hex, a nonce outside 16..=1024 bytes, unknown fields), 404 `not_found`, 405
//! `method_not_allowed` (with `Allow`), 408 `request_timeout` (body not received in time), 413
//! `payload_too_large` (over [`Limits::max_body`], refused from `Content-Length` before reading),
//! 415 `unsupported_media_type` (a `Content-Type` other than JSON), 500 `backend_error` with the
//! backend's own message (or `internal_error`), 503 `busy` (queue full, with `Retry-After`) or
//! `shutting_down`.
//!
//! From a shell, with the simulator (for a real guest drop `--backend sim` and `--sim-roots`):
//!
//! ```text
//! snp-agent serve --listen 127.0.0.1:8080 --backend sim &
//! N=$(head -c 32 /dev/urandom | xxd -p -c 64)
//! curl -s -H 'Content-Type: application/json' -d "{\"nonce\": \"$N\"}" \
//!      http://127.0.0.1:8080/attest > evidence.json
//! snp-agent verify evidence.json --nonce "$N" --sim-roots    # exit 0; another nonce: exit 5
//! ```
//!
//! `examples/relying_party.rs` does the same and also refuses nonces it did not issue or has
//! already seen answered.
//!
//! # Resource bounds
//!
//! * A fixed pool of [`Limits::workers`] threads takes jobs from a queue of
//!   [`Limits::queue`] places; a request that finds the queue full is answered 503 at once
//!   rather than piling up. All workers share **one** backend behind a mutex, so requests reach
//!   the device strictly one at a time: the SNP guest-request interface keeps per-VMPCK sequence
//!   numbers and the kernel serializes anyway, so parallel calls could only contend. (More than
//!   one worker lets the JSON encoding of one answer overlap the next firmware call.) A job whose
//!   client has already gone away is dropped without calling the firmware.
//! * At most [`Limits::max_connections`] connections are open; beyond that the listener stops
//!   accepting (the kernel backlog absorbs bursts). Each connection serves one request
//!   (no keep-alive) so no idle connection can hold a slot; a client that closes (or
//!   half-closes) its side before the answer is treated as gone. Headers must arrive within
//!   [`Limits::header_timeout`], the body within [`Limits::body_timeout`], and the answer
//!   must be taken within [`Limits::write_timeout`] (a client that stops reading loses the
//!   connection instead of keeping its slot).
//! * Bodies are capped at [`Limits::max_body`] bytes while streaming, whatever the headers say.
//!
//! # Why hyper on a private tokio runtime (and not tiny_http)
//!
//! A small synchronous server was the first choice, to keep the agent free of an async
//! runtime. tiny_http 0.12 (the current release) was rejected: when a request is dropped it
//! drains the unread body into a buffer allocated at the *declared* `Content-Length`
//! (`EqualReader::drop`), so one request claiming a huge body makes the guest allocate that
//! much — or abort — before any handler can refuse it (the fix proposed upstream, tiny-http pull
//! request #290, was closed unmerged).
//! An endpoint that untrusted relying parties reach must not have that property. hyper is the
//! standard HTTP implementation in Rust, enforces header limits and timeouts, and streams bodies
//! so the cap above holds; hyper and tokio are already in the dependency tree through the KDS
//! client. The runtime is built only inside [`spawn`] (one thread running the listener, plus
//! the std worker threads above): `attest`, `verify` and the other subcommands never start it,
//! so their start-up stays as lean as before.

mod api;
mod http;
mod worker;

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::server::{BindError, Connections};

use crate::backend::{self, Backend, BackendError, BackendKind, BackendOptions};
use crate::exit_code;

pub use api::{AttestRequest, ErrorBody};

/// Bounds on what the endpoint accepts and how much it does at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Worker threads taking jobs from the queue (1..=64; default 2).
    pub workers: usize,
    /// Jobs that may wait for a worker (0..=4096; default 16). 0 means a request is accepted
    /// only when a worker is idle.
    pub queue: usize,
    /// Largest request body in bytes (256..=1 MiB; default 16 KiB: a maximal nonce and public
    /// key in hex with JSON around them).
    pub max_body: usize,
    /// Open connections at most (1..=4096; default 64).
    pub max_connections: usize,
    /// Time for a client to send its request headers (default 10 s).
    pub header_timeout: Duration,
    /// Time for a client to send its request body (default 10 s).
    pub body_timeout: Duration,
    /// Time for a client to take each answer, from the server's first write of it until it is
    /// all with the kernel (default 10 s). A client that stops reading, or reads a byte at a
    /// time, loses its connection instead of holding one of [`Limits::max_connections`].
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            workers: 2,
            queue: 16,
            max_body: 16 * 1024,
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    fn validate(&self) -> Result<(), ServeError> {
        let bad = |what: &str, v: usize, range: &str| {
            Err(ServeError::Config(format!(
                "{what} is {v}; it must be in {range}"
            )))
        };
        if !(1..=64).contains(&self.workers) {
            return bad("the number of workers", self.workers, "1..=64");
        }
        if self.queue > 4096 {
            return bad("the queue length", self.queue, "0..=4096");
        }
        if !(256..=1024 * 1024).contains(&self.max_body) {
            return bad("the body limit", self.max_body, "256..=1048576 bytes");
        }
        if !(1..=4096).contains(&self.max_connections) {
            return bad("the connection limit", self.max_connections, "1..=4096");
        }
        if self.header_timeout.is_zero()
            || self.body_timeout.is_zero()
            || self.write_timeout.is_zero()
        {
            return Err(ServeError::Config(
                "header, body and write timeouts must be longer than zero".into(),
            ));
        }
        Ok(())
    }
}

/// Everything `snp-agent serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen, `HOST:PORT` (port 0 picks a free port; [`ServeHandle::local_addr`]
    /// tells which).
    pub listen: String,
    /// Which backend obtains the reports.
    pub backend: BackendKind,
    /// Options for [`backend::open`].
    pub backend_options: BackendOptions,
    /// The VMPL reports are requested at (0..=3).
    pub vmpl: u32,
    /// Resource bounds.
    pub limits: Limits,
    /// How a request's challenge is bound into REPORT_DATA (issue 13: binding profiles).
    pub binding: crate::binding::Profile,
}

impl ServeConfig {
    /// A configuration with default options, VMPL 0 and default limits.
    pub fn new(listen: impl Into<String>, backend: BackendKind) -> ServeConfig {
        ServeConfig {
            listen: listen.into(),
            backend,
            backend_options: BackendOptions::default(),
            vmpl: 0,
            limits: Limits::default(),
            binding: crate::binding::Profile::SnpAgent,
        }
    }
}

/// Why the endpoint could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A limit or the VMPL is out of range.
    #[error("invalid serve configuration: {0}")]
    Config(String),
    /// The listen address does not parse or resolve.
    #[error("cannot listen on {addr:?}: {reason} (expected HOST:PORT, e.g. 0.0.0.0:8080)")]
    Address {
        /// The address given.
        addr: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The address parsed but could not be bound.
    #[error("cannot listen on {addr}: {source} (is another process using the port, or is it privileged?)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The backend could not be opened.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A thread or the runtime could not be started, or the listener failed while serving.
    #[error("serve: {what}: {source}")]
    Io {
        /// What failed.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl ServeError {
    /// The process exit code for this error (see [`crate::exit_code`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Config(_) | ServeError::Address { .. } => exit_code::USAGE,
            ServeError::Backend(_) => exit_code::BACKEND_FAILED,
            ServeError::Bind { .. } | ServeError::Io { .. } => exit_code::OTHER,
        }
    }
}

/// Counters of one endpoint, for tests and `/healthz`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Requests answered (any status).
    pub(crate) requests: AtomicU64,
    /// Evidence returned.
    pub(crate) attested: AtomicU64,
    /// Backend failures (500).
    pub(crate) backend_errors: AtomicU64,
    /// Refused with 503 because the queue was full.
    pub(crate) busy: AtomicU64,
    /// Refused as the client's fault (4xx).
    pub(crate) client_errors: AtomicU64,
    /// Jobs waiting for a worker now.
    pub(crate) queued: AtomicU64,
    /// Jobs a worker is running now.
    pub(crate) in_flight: AtomicU64,
    /// Jobs dropped because their client had gone away.
    pub(crate) abandoned: AtomicU64,
}

/// A snapshot of an endpoint's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ServeStats {
    /// Requests answered (any status).
    pub requests: u64,
    /// Evidence returned (200 on `/attest`).
    pub attested: u64,
    /// 500s from the backend.
    pub backend_errors: u64,
    /// 503s because the queue was full.
    pub busy: u64,
    /// 4xx answers.
    pub client_errors: u64,
    /// Jobs waiting for a worker.
    pub queued: u64,
    /// Jobs being run.
    pub in_flight: u64,
    /// Jobs dropped because the client went away before a worker reached them.
    pub abandoned: u64,
}

impl Stats {
    pub(crate) fn snapshot(&self) -> ServeStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ServeStats {
            requests: g(&self.requests),
            attested: g(&self.attested),
            backend_errors: g(&self.backend_errors),
            busy: g(&self.busy),
            client_errors: g(&self.client_errors),
            queued: g(&self.queued),
            in_flight: g(&self.in_flight),
            abandoned: g(&self.abandoned),
        }
    }
}

/// A running endpoint. Dropping it shuts the endpoint down (like [`ServeHandle::shutdown`]).
#[derive(Debug)]
pub struct ServeHandle {
    running: crate::server::Running,
    stats: Arc<Stats>,
}

impl ServeHandle {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.running.local_addr()
    }

    /// `http://ADDR` of the endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr())
    }

    /// The counters now.
    pub fn stats(&self) -> ServeStats {
        self.stats.snapshot()
    }

    /// Stop accepting, let requests in progress finish (up to 30 s), stop the workers, and
    /// return how the listener ended.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        self.running.stop();
        self.running.join().map_err(ServeError::from)
    }

    /// Block until the endpoint stops (a shutdown signal when started by [`run`], or a fatal
    /// listener error).
    pub fn wait(mut self) -> Result<(), ServeError> {
        self.running.join().map_err(ServeError::from)
    }
}

/// Open the configured backend and start the endpoint; returns once it is listening.
pub fn spawn(config: ServeConfig) -> Result<ServeHandle, ServeError> {
    config.limits.validate()?;
    check_vmpl(config.vmpl)?;
    let listener = bind(&config.listen)?;
    let backend = backend::open(config.backend, &config.backend_options)?;
    if backend.kind() == BackendKind::Sim {
        warn!(
            "serving evidence from the SIMULATED platform: it proves nothing about real hardware"
        );
    }
    start(
        listener,
        backend,
        config.vmpl,
        config.limits,
        false,
        config.binding,
    )
}

/// Start the endpoint over an already opened backend (tests, embedding). `listen` as in
/// [`ServeConfig::listen`].
pub fn spawn_with_backend(
    listen: &str,
    backend: Box<dyn Backend>,
    vmpl: u32,
    limits: Limits,
) -> Result<ServeHandle, ServeError> {
    limits.validate()?;
    check_vmpl(vmpl)?;
    let listener = bind(listen)?;
    start(
        listener,
        backend,
        vmpl,
        limits,
        false,
        crate::binding::Profile::SnpAgent,
    )
}

/// Run the endpoint until SIGINT or SIGTERM, then drain requests in progress and return. The
/// bound address is logged at `info` level (`listening on …`).
pub fn run(config: ServeConfig) -> Result<(), ServeError> {
    run_with(config, |_| {})
}

/// [`run`], calling `on_listening` with the bound address once the endpoint accepts
/// connections (a CLI prints it, which matters with port 0).
pub fn run_with(
    config: ServeConfig,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    config.limits.validate()?;
    check_vmpl(config.vmpl)?;
    let listener = bind(&config.listen)?;
    let backend = backend::open(config.backend, &config.backend_options)?;
    if backend.kind() == BackendKind::Sim {
        warn!(
            "serving evidence from the SIMULATED platform: it proves nothing about real hardware"
        );
    }
    let handle = start(
        listener,
        backend,
        config.vmpl,
        config.limits,
        true,
        config.binding,
    )?;
    on_listening(handle.local_addr());
    handle.wait()
}

fn check_vmpl(vmpl: u32) -> Result<(), ServeError> {
    if vmpl > 3 {
        return Err(ServeError::Config(format!(
            "VMPL {vmpl} does not exist; use 0..=3"
        )));
    }
    Ok(())
}

fn bind(listen: &str) -> Result<StdTcpListener, ServeError> {
    crate::server::bind(listen).map_err(|e| match e {
        BindError::Address { addr, reason } => ServeError::Address { addr, reason },
        BindError::Bind { addr, source } => ServeError::Bind { addr, source },
    })
}

impl From<crate::server::ServerError> for ServeError {
    fn from(e: crate::server::ServerError) -> Self {
        ServeError::Io {
            what: e.what,
            source: e.source,
        }
    }
}

fn start(
    listener: StdTcpListener,
    backend: Box<dyn Backend>,
    vmpl: u32,
    limits: Limits,
    stop_on_signals: bool,
    binding: crate::binding::Profile,
) -> Result<ServeHandle, ServeError> {
    let stats = Arc::new(Stats::default());
    let backend_name = backend.kind().as_str();
    let pool = worker::Pool::start(backend, vmpl, &limits, stats.clone()).map_err(|source| {
        ServeError::Io {
            what: "starting worker threads",
            source,
        }
    })?;
    let (jobs, workers, health) = pool.into_parts();
    let state = Arc::new(http::State {
        jobs,
        health,
        stats: stats.clone(),
        limits: limits.clone(),
        backend: backend_name,
        vmpl,
        binding,
    });
    let connections = Connections {
        max: limits.max_connections,
        header_timeout: limits.header_timeout,
        write_timeout: limits.write_timeout,
        keep_alive: false,
    };
    let running = crate::server::Running::start(
        listener,
        "snp-agent-serve",
        "the endpoint",
        connections,
        stop_on_signals,
        workers,
        move |req, peer| {
            let st = Arc::clone(&state);
            async move { http::handle(req, &st, peer).await }
        },
    )?;
    info!(addr = %running.local_addr(), backend = backend_name, workers = limits.workers, queue = limits.queue, "listening");
    Ok(ServeHandle { running, stats })
}

#[cfg(test)]
mod tests;
