//! The HTTP server lifecycle that `serve` (in the guest) and `verifier` (for relying parties)
//! share: binding the address, an accept loop bounded by connection permits, a graceful drain
//! with a deadline when stopping, and the handle that stops and joins the HTTP thread and the
//! worker threads. What each server answers — routing, bodies, its worker pool — stays with it;
//! this module only runs a handler `Fn(Request, peer) -> Future<Response>` on every request.
//!
//! Both servers run hyper on a private current-thread tokio runtime, on one thread of its own
//! (the work is done by std worker threads fed by a bounded queue), so that no other subcommand
//! ever starts an async runtime: see the `serve` module docs for why hyper and not a synchronous
//! server.

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdTcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

mod write_deadline;
use write_deadline::WriteDeadline;

/// How long requests in progress may take to finish once shutdown begins. Long enough for any
/// one request (a verification or a firmware call with its bounded retries takes well under
/// it), and shorter than the 40 s grace period `deploy/kubernetes` gives a pod before SIGKILL, so
/// a stopping server always closes its connections itself.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest request head (request line and headers) hyper buffers. Neither server has a use for
/// large headers; a client cannot make it hold more than this per connection.
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// Pause after a failed `accept` (EMFILE, ECONNABORTED …) so a persistent error does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// An answer: both servers send whole bodies.
pub(crate) type Reply = Response<Full<Bytes>>;

/// Why the address could not be had.
#[derive(Debug)]
pub(crate) enum BindError {
    /// The address does not parse or resolve.
    Address {
        /// The address given.
        addr: String,
        /// Why it is unusable.
        reason: String,
    },
    /// Every address it resolves to failed to bind; the last failure.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Resolve `listen` (`HOST:PORT`) and bind the first address that can be bound.
pub(crate) fn bind(listen: &str) -> Result<StdTcpListener, BindError> {
    let addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| BindError::Address {
            addr: listen.to_string(),
            reason: e.to_string(),
        })?
        .collect();
    let mut last = None;
    for addr in addrs {
        match StdTcpListener::bind(addr) {
            Ok(l) => return Ok(l),
            Err(source) => last = Some(BindError::Bind { addr, source }),
        }
    }
    Err(last.unwrap_or_else(|| BindError::Address {
        addr: listen.to_string(),
        reason: "resolves to no address".into(),
    }))
}

/// A failure of the server machinery itself (not of a request): what failed, and the OS error.
#[derive(Debug)]
pub(crate) struct ServerError {
    pub(crate) what: &'static str,
    pub(crate) source: std::io::Error,
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> ServerError {
    move |source| ServerError { what, source }
}

/// How connections are handled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connections {
    /// Open connections at most. At the cap the loop stops accepting until one closes, so the
    /// kernel's backlog absorbs a burst instead of the process (each connection costs buffers
    /// and a task).
    pub(crate) max: usize,
    /// Time for a client to send a request head; a client that sends nothing cannot hold a
    /// permit longer.
    pub(crate) header_timeout: Duration,
    /// Time for a client to take each answer (see [`write_deadline`]); a client that stops
    /// reading, or reads a byte at a time, cannot hold a permit longer.
    pub(crate) write_timeout: Duration,
    /// Whether a connection may carry more than one request. A load balancer reuses connections
    /// (the verifier keeps them); the in-guest endpoint answers one request per connection so
    /// that no idle client holds one of its few permits.
    pub(crate) keep_alive: bool,
}

/// Resolves on SIGINT or SIGTERM (never when `enabled` is false): both servers stop the same
/// way, Kubernetes and systemd send SIGTERM. `what` names the server in the log line.
async fn shutdown_signal(enabled: bool, what: &'static str) {
    if !enabled {
        return std::future::pending().await;
    }
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops {what} gracefully");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
        _ = term.recv() => info!("SIGTERM received"),
    }
}

/// Accept and serve connections until `stop` flips (or, with `stop_on_signals`, SIGINT or
/// SIGTERM arrives), then let open connections finish for up to [`DRAIN_TIMEOUT`].
async fn accept_loop<H, F>(
    listener: StdTcpListener,
    conns: Connections,
    mut stop: watch::Receiver<bool>,
    stop_on_signals: bool,
    what: &'static str,
    handler: H,
) -> Result<(), ServerError>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(io("registering the listener"))?;
    let handler = Arc::new(handler);
    let permits = Arc::new(Semaphore::new(conns.max));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(conns.header_timeout)
        .keep_alive(conns.keep_alive)
        .max_buf_size(MAX_HEAD);
    let signals = shutdown_signal(stop_on_signals, what);
    tokio::pin!(signals);
    loop {
        // A permit first: at the cap, nothing more is accepted.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // the semaphore is never closed; treat as shutdown anyway
            },
            _ = stop.changed() => break,
            _ = &mut signals => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
            _ = &mut signals => break,
        };
        // Answers are written whole; do not hold their last segment back for an ACK.
        let _ = stream.set_nodelay(true);
        let h = Arc::clone(&handler);
        let svc = service_fn(move |req| {
            let answer = h(req, peer);
            async move { Ok::<_, Infallible>(answer.await) }
        });
        let io = TokioIo::new(WriteDeadline::new(stream, conns.write_timeout));
        let conn = graceful.watch(builder.serve_connection(io, svc));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    info!("shutting down {what}: waiting for requests in progress");
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => {
            warn!("requests still in progress after {DRAIN_TIMEOUT:?}; closing them");
        }
    }
    Ok(())
}

/// A running server: its address, the HTTP thread and the worker threads. Dropping it stops
/// the server and waits for it, so no thread outlives the handle.
#[derive(Debug)]
pub(crate) struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    http: Option<JoinHandle<Result<(), ServerError>>>,
    workers: Vec<JoinHandle<()>>,
    what: &'static str,
}

impl Running {
    /// Serve `handler` on `listener` from a new thread named `thread` running a current-thread
    /// runtime. `workers` are the server's own threads: they must end once the handler (which
    /// holds the sending side of their queue) is dropped, which happens when the HTTP thread
    /// ends. `what` names the server in log lines.
    pub(crate) fn start<H, F>(
        listener: StdTcpListener,
        thread: &'static str,
        what: &'static str,
        conns: Connections,
        stop_on_signals: bool,
        workers: Vec<JoinHandle<()>>,
        handler: H,
    ) -> Result<Running, ServerError>
    where
        H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
        F: Future<Output = Reply> + Send + 'static,
    {
        let addr = listener
            .local_addr()
            .map_err(io("reading the bound address"))?;
        listener
            .set_nonblocking(true)
            .map_err(io("configuring the listener"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .thread_name(thread)
            .build()
            .map_err(io("starting the HTTP runtime"))?;
        let (stop, stop_rx) = watch::channel(false);
        let http = std::thread::Builder::new()
            .name(thread.into())
            .spawn(move || {
                runtime.block_on(accept_loop(
                    listener,
                    conns,
                    stop_rx,
                    stop_on_signals,
                    what,
                    handler,
                ))
            })
            .map_err(io("starting the HTTP thread"))?;
        Ok(Running {
            addr,
            stop,
            http: Some(http),
            workers,
            what,
        })
    }

    /// The address actually bound (useful with port 0).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting; requests in progress finish (up to [`DRAIN_TIMEOUT`]).
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Wait for the HTTP thread, then for the workers (by then the HTTP side has dropped every
    /// sender of their queue, so they finish the jobs already queued and exit), and return how
    /// the HTTP side ended.
    pub(crate) fn join(&mut self) -> Result<(), ServerError> {
        let result = match self.http.take() {
            Some(h) => h.join().unwrap_or_else(|_| {
                Err(ServerError {
                    what: "the HTTP thread panicked",
                    source: std::io::Error::other("panic"),
                })
            }),
            None => Ok(()),
        };
        for w in self.workers.drain(..) {
            if w.join().is_err() {
                warn!("a worker thread of {} panicked", self.what);
            }
        }
        result
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.http.is_some() {
            self.stop();
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests;
