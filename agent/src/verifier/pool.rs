//! The verification workers: a fixed number of threads taking jobs from a bounded queue.
//!
//! Verification is CPU work (an ECDSA P-384 check per report, RSA per new VCEK), so it runs on
//! plain threads, one per core by default, never on the HTTP thread. The queue is bounded and a
//! full queue is refused at once ([`Jobs::offer`]), so overload turns into 503s instead of
//! memory and latency growing without bound.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use super::metrics::Metrics;
use super::{Limits, VerifyAnswer, VerifyFn, VerifyRequest};

/// A request waiting for a worker, with where to send the answer.
pub(crate) struct Job {
    pub(crate) request: VerifyRequest,
    pub(crate) reply: oneshot::Sender<VerifyAnswer>,
}

/// The sending side of the queue.
#[derive(Clone)]
pub(crate) struct Jobs {
    tx: SyncSender<Job>,
    metrics: Arc<Metrics>,
}

impl Jobs {
    /// Queue a job, or give it back when the queue is full or the workers are gone.
    pub(crate) fn offer(&self, job: Job) -> Result<(), Job> {
        self.metrics.queued.inc();
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                self.metrics.queued.dec();
                Err(job)
            }
        }
    }
}

/// Start `limits.workers` threads running `verify`.
pub(crate) fn start(
    limits: &Limits,
    verify: VerifyFn,
    metrics: Arc<Metrics>,
) -> std::io::Result<(Jobs, Vec<JoinHandle<()>>)> {
    let (tx, rx) = mpsc::sync_channel::<Job>(limits.queue);
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = Vec::with_capacity(limits.workers);
    for n in 0..limits.workers {
        let (rx, verify, metrics) = (Arc::clone(&rx), Arc::clone(&verify), Arc::clone(&metrics));
        workers.push(
            std::thread::Builder::new()
                .name(format!("snp-agent-verify-{n}"))
                .spawn(move || work(&rx, &*verify, &metrics))?,
        );
    }
    Ok((Jobs { tx, metrics }, workers))
}

fn work(
    rx: &Mutex<Receiver<Job>>,
    verify: &(dyn Fn(VerifyRequest) -> VerifyAnswer + Send + Sync),
    metrics: &Metrics,
) {
    loop {
        // Hold the lock only to take one job.
        let job = match rx.lock() {
            Ok(g) => g.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return; // every sender dropped: shutting down
        };
        metrics.queued.dec();
        if job.reply.is_closed() {
            metrics.abandoned.inc();
            continue; // the client went away while the job waited
        }
        metrics.in_flight.inc();
        let started = Instant::now();
        let answer = verify(job.request);
        metrics.observe_verification(answer.verdict, started.elapsed());
        metrics.in_flight.dec();
        let _ = job.reply.send(answer);
    }
}
