//! The fixed pool of threads that talk to the backend, fed by a bounded queue.
//!
//! The HTTP side never blocks on the device: it offers a [`Job`] with `try_send` and answers
//! 503 when the queue is full. Workers are plain threads because every backend call is a
//! blocking syscall (or, for the simulator, CPU work); one mutex around the backend makes the
//! calls reach the device one at a time.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tracing::{debug, error, warn};

use super::api::ApiError;
use super::{Limits, Stats};
use crate::backend::{Backend, ReportRequest};
use crate::binding::Challenge;
use crate::evidence::{Evidence, Format};

/// One attestation to perform and where to send the evidence JSON.
pub(crate) struct Job {
    pub(crate) challenge: Challenge,
    pub(crate) reply: tokio::sync::oneshot::Sender<Result<Vec<u8>, ApiError>>,
}

/// Why the backend can no longer serve, shared with `/healthz`. `None` while usable.
pub(crate) type Health = Arc<Mutex<Option<String>>>;

/// The sending side used by the HTTP handlers.
#[derive(Clone)]
pub(crate) struct Jobs {
    tx: SyncSender<Job>,
    stats: Arc<Stats>,
}

impl Jobs {
    /// Queue a job, or refuse at once: [`ApiError::Busy`] when the queue is full,
    /// [`ApiError::ShuttingDown`] when the workers are gone.
    pub(crate) fn offer(&self, job: Job) -> Result<(), ApiError> {
        // Count before sending so a fast worker never decrements below zero.
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                match e {
                    TrySendError::Full(_) => Err(ApiError::Busy),
                    TrySendError::Disconnected(_) => Err(ApiError::ShuttingDown),
                }
            }
        }
    }
}

/// A started pool.
pub(crate) struct Pool {
    jobs: Jobs,
    workers: Vec<JoinHandle<()>>,
    health: Health,
}

impl Pool {
    /// Start `limits.workers` threads sharing `backend`.
    pub(crate) fn start(
        backend: Box<dyn Backend>,
        vmpl: u32,
        limits: &Limits,
        stats: Arc<Stats>,
    ) -> std::io::Result<Pool> {
        let (tx, rx) = sync_channel::<Job>(limits.queue);
        let rx = Arc::new(Mutex::new(rx));
        let backend_name = backend.kind().as_str();
        let backend = Arc::new(Mutex::new(backend));
        let health: Health = Arc::new(Mutex::new(None));
        let mut workers = Vec::with_capacity(limits.workers);
        for i in 0..limits.workers {
            let ctx = Worker {
                rx: rx.clone(),
                backend: backend.clone(),
                backend_name,
                vmpl,
                stats: stats.clone(),
                health: health.clone(),
            };
            workers.push(
                std::thread::Builder::new()
                    .name(format!("snp-agent-serve-worker-{i}"))
                    .spawn(move || ctx.run())?,
            );
        }
        Ok(Pool {
            jobs: Jobs { tx, stats },
            workers,
            health,
        })
    }

    pub(crate) fn into_parts(self) -> (Jobs, Vec<JoinHandle<()>>, Health) {
        (self.jobs, self.workers, self.health)
    }
}

struct Worker {
    rx: Arc<Mutex<Receiver<Job>>>,
    backend: Arc<Mutex<Box<dyn Backend>>>,
    backend_name: &'static str,
    vmpl: u32,
    stats: Arc<Stats>,
    health: Health,
}

impl Worker {
    fn run(self) {
        loop {
            // Holding the receiver's lock while blocked in recv() only makes the other idle
            // workers wait on the lock instead of on the channel. The receiver keeps no
            // invariant a panic could break, so a poisoned lock is simply taken over.
            let job = {
                let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
                match rx.recv() {
                    Ok(job) => job,
                    Err(_) => return, // every sender dropped: shutting down
                }
            };
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            if job.reply.is_closed() {
                // The client gave up while queued: do not spend a firmware request on it.
                self.stats.abandoned.fetch_add(1, Ordering::Relaxed);
                debug!("client went away before its attestation ran; skipped");
                continue;
            }
            self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            let result = catch_unwind(AssertUnwindSafe(|| self.attest(&job.challenge)))
                .unwrap_or_else(|_| {
                    error!("internal panic while attesting");
                    Err(ApiError::Internal(
                        "internal error while obtaining the report; see the agent's log".into(),
                    ))
                });
            self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            if job.reply.send(result).is_err() {
                debug!("client went away before its evidence was ready");
            }
        }
    }

    fn attest(&self, challenge: &Challenge) -> Result<Vec<u8>, ApiError> {
        let req = ReportRequest {
            report_data: challenge.report_data(),
            vmpl: self.vmpl,
        };
        let ext = {
            // A panic inside the backend poisons this lock. The backend's state (sequence
            // numbers, a half-finished request) is unknown then, so it is never used again:
            // every later request gets a 500 saying so, and /healthz reports it.
            let mut backend = match self.backend.lock() {
                Ok(b) => b,
                Err(_) => {
                    let msg = "the attestation backend failed internally earlier and is no longer used; restart snp-agent serve";
                    self.mark_unusable(msg);
                    return Err(ApiError::Internal(msg.into()));
                }
            };
            backend.get_ext_report(&req)
        };
        let ext = ext.map_err(|e| {
            error!(error = %e, "the backend failed to produce a report");
            if e.is_key_disabled() {
                self.mark_unusable(&e.to_string());
            }
            ApiError::Backend(e.to_string())
        })?;
        Evidence::from_extended(ext, self.backend_name)
            .to_bytes(Format::Json)
            .map_err(|e| {
                warn!(error = %e, "the backend's answer is not usable evidence");
                ApiError::Backend(format!("the platform's answer is not usable evidence: {e}"))
            })
    }

    fn mark_unusable(&self, why: &str) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if h.is_none() {
            *h = Some(why.to_string());
        }
    }
}
