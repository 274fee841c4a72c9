//! An operator's TCB updater, in the two shapes host tooling takes — for tests and for
//! `--sim-fault tcb-race` — so the guest's view of the TCB-update race can be reproduced.
//!
//! - [`Scheme::Locked`] follows the lock scheme (`snp_certs::blob`): the blob is held
//!   exclusively (OFD + `flock`) across the firmware update *and* the blob rewrite
//!   ([`SimPlatform::raise_tcb`]). The VMM holds it shared from reading the blob until the
//!   request reached the firmware, so no guest ever gets a VCEK for another TCB than its report.
//! - [`Scheme::Unlocked`] is an updater without that discipline: it commits the new TCB, and
//!   rewrites the blob only `window` later (what `snp commit` followed by a separate blob
//!   rewrite does). Requests in between get the old VCEK with a report under the new TCB.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use snp_certs::blob::ExclusiveBlob;
use snp_certs::tcb::Tcb;

use crate::platform::{SimError, SimPlatform};

/// How long an updater waits for the blob's exclusive lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// How an updater changes the TCB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Exclusive lock across the firmware update and the blob rewrite.
    Locked,
    /// Firmware update first, blob rewrite `window` later, nothing held in between.
    Unlocked {
        /// How long the blob stays stale.
        window: Duration,
    },
}

/// The TCB after `t`: SNP SPL one higher (wrapping within the SPL byte's range, so an updater
/// can loop forever; the simulator does not insist on monotonic TCBs).
pub fn next_tcb(t: Tcb) -> Tcb {
    Tcb {
        snp: t.snp.wrapping_add(1),
        ..t
    }
}

/// A TCB raised without rewriting the blob; [`StaleWindow::close`] rewrites it.
#[derive(Debug)]
#[must_use = "the blob stays stale until the window is closed"]
pub struct StaleWindow {
    platform: SimPlatform,
}

impl StaleWindow {
    /// Rewrite the blob for the platform's current keys, under the exclusive lock.
    pub fn close(self) -> Result<(), SimError> {
        rewrite_blob(&self.platform)
    }
}

/// Commit `tcb` in the firmware without touching the blob (the `stale_blob` behaviour, for this
/// one update only). The guest sees a stale blob until the returned window is closed.
pub fn raise_unlocked(platform: &SimPlatform, tcb: Tcb) -> Result<StaleWindow, SimError> {
    let was = platform.faults().stale_blob;
    platform.update_faults(|f| f.stale_blob = true);
    let r = platform.raise_tcb(tcb);
    platform.update_faults(|f| f.stale_blob = was);
    r?;
    Ok(StaleWindow {
        platform: platform.clone(),
    })
}

/// Rewrite the platform's blob file for its current keys, under the exclusive lock. A platform
/// without a blob file has nothing to rewrite.
pub fn rewrite_blob(platform: &SimPlatform) -> Result<(), SimError> {
    let Some(path) = platform.blob_path() else {
        return Ok(());
    };
    let blob = platform.expected_blob()?;
    let mut ex = ExclusiveBlob::acquire(path, LOCK_TIMEOUT)?;
    ex.replace(&blob)?;
    Ok(())
}

/// One update of `scheme` to `tcb`.
pub fn update_once(platform: &SimPlatform, scheme: Scheme, tcb: Tcb) -> Result<(), SimError> {
    match scheme {
        Scheme::Locked => platform.raise_tcb(tcb),
        Scheme::Unlocked { window } => {
            let w = raise_unlocked(platform, tcb)?;
            std::thread::sleep(window);
            w.close()
        }
    }
}

/// An updater thread raising the TCB in a loop until stopped.
#[derive(Debug)]
pub struct Updater {
    stop: Arc<AtomicBool>,
    updates: Arc<AtomicU64>,
    handle: Option<JoinHandle<Result<(), SimError>>>,
}

impl Updater {
    /// Start updating `platform` with `scheme`, pausing `pause` between updates.
    pub fn spawn(platform: SimPlatform, scheme: Scheme, pause: Duration) -> Updater {
        let stop = Arc::new(AtomicBool::new(false));
        let updates = Arc::new(AtomicU64::new(0));
        let (s, u) = (stop.clone(), updates.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                update_once(&platform, scheme, next_tcb(platform.reported_tcb()))?;
                u.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(pause);
            }
            Ok(())
        });
        Updater {
            stop,
            updates,
            handle: Some(handle),
        }
    }

    /// Updates completed so far.
    pub fn updates(&self) -> u64 {
        self.updates.load(Ordering::Relaxed)
    }

    /// Stop after the update in progress; returns how many were made.
    pub fn stop(mut self) -> Result<u64, SimError> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            match h.join() {
                Ok(r) => r?,
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        Ok(self.updates())
    }
}

impl Drop for Updater {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::product::Product;

    #[test]
    fn unlocked_update_leaves_the_blob_stale_until_closed() {
        let p = SimPlatform::builder(Product::Milan).build().unwrap();
        let before = std::fs::read(p.blob_path().unwrap()).unwrap();
        let t = next_tcb(p.reported_tcb());
        let w = raise_unlocked(&p, t).unwrap();
        assert_eq!(p.reported_tcb(), t);
        assert_eq!(std::fs::read(p.blob_path().unwrap()).unwrap(), before);
        assert!(!p.faults().stale_blob, "the fault is only for this update");
        w.close().unwrap();
        assert_eq!(
            std::fs::read(p.blob_path().unwrap()).unwrap(),
            p.expected_blob().unwrap()
        );
    }

    #[test]
    fn updater_loops_and_stops() {
        let p = SimPlatform::builder(Product::Milan).build().unwrap();
        let t0 = p.reported_tcb();
        let u = Updater::spawn(p.clone(), Scheme::Locked, Duration::from_millis(1));
        while u.updates() < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let n = u.stop().unwrap();
        assert!(n >= 2);
        assert_ne!(p.reported_tcb(), t0);
        assert_eq!(
            std::fs::read(p.blob_path().unwrap()).unwrap(),
            p.expected_blob().unwrap()
        );
    }
}
