//! Counters a test or benchmark reads to assert what the platform did (e.g. "exactly one firmware
//! request in the steady state"). Atomics, so the platform stays `Sync` and reading never blocks.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Live counters (shared by every component of one platform).
        #[derive(Debug, Default)]
        pub struct Counters {
            $( $(#[$doc])* pub $name: AtomicU64, )*
        }

        /// A point-in-time copy of [`Counters`].
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct CountersSnapshot {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl CountersSnapshot {
            /// What happened between `earlier` and this snapshot: every counter's increase
            /// (zero for one reset in between). Tests assert on one call's counters this way.
            pub fn since(&self, earlier: &CountersSnapshot) -> CountersSnapshot {
                CountersSnapshot { $( $name: self.$name.saturating_sub(earlier.$name), )* }
            }
        }

        impl Counters {
            /// Copy every counter.
            pub fn snapshot(&self) -> CountersSnapshot {
                CountersSnapshot { $( $name: self.$name.load(Ordering::SeqCst), )* }
            }

            /// Set every counter back to zero.
            pub fn reset(&self) {
                $( self.$name.store(0, Ordering::SeqCst); )*
            }
        }
    };
}

counters! {
    /// Guest messages that reached the firmware (SNP_GUEST_REQUEST commands issued).
    fw_requests,
    /// Firmware requests answered with a (decryptable) response message.
    fw_responses,
    /// Attestation reports signed.
    reports_signed,
    /// Firmware requests refused with a non-zero firmware status.
    fw_errors,
    /// Requests whose sequence number was reused or skipped.
    seqno_violations,
    /// Requests whose authentication tag (or key) did not check out.
    auth_failures,
    /// Plain guest requests (exit 0x8000_0011) seen by KVM.
    plain_requests,
    /// Extended guest requests (exit 0x8000_0012) seen by KVM.
    ext_requests,
    /// INVALID_LEN answers given to the guest.
    invalid_len_answers,
    /// BUSY answers given to the guest.
    busy_answers,
    /// Generic VMM error answers given to the guest.
    generic_answers,
    /// GHCB-level rejections (SW_EXITINFO1 != 0).
    ghcb_rejections,
    /// Certificate blobs copied into guest memory.
    certs_served,
    /// Times the VMM had to wait for the blob lock (it was held exclusively).
    vmm_lock_waits,
    /// Times the VMM gave up waiting for the lock and answered BUSY.
    vmm_lock_timeouts,
    /// Shared blob locks released after the firmware request went out.
    vmm_lock_releases,
    /// Requests refused by the throttle.
    throttled,
    /// Second (DONE) completions delivered to the VMM by the seed's NOTIFY_DONE.
    notify_done_completions,
    /// Immediate-exit completions delivered to the VMM by merged KVM.
    immediate_exit_completions,
    /// Operator TCB updates (SNP_COMMIT / SNP_SET_CONFIG).
    tcb_updates,
    /// VMPCKs disabled by the simulated Linux driver.
    vmpck_disabled,
}

impl Counters {
    /// Add one to a counter.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_reset() {
        let c = Counters::default();
        Counters::bump(&c.fw_requests);
        Counters::bump(&c.fw_requests);
        Counters::bump(&c.busy_answers);
        let s = c.snapshot();
        assert_eq!(s.fw_requests, 2);
        assert_eq!(s.busy_answers, 1);
        c.reset();
        assert_eq!(c.snapshot(), CountersSnapshot::default());
    }

    #[test]
    fn since_is_the_increase_of_every_counter() {
        let c = Counters::default();
        Counters::bump(&c.fw_requests);
        let before = c.snapshot();
        Counters::bump(&c.fw_requests);
        Counters::bump(&c.seqno_violations);
        let d = c.snapshot().since(&before);
        assert_eq!(
            (d.fw_requests, d.seqno_violations, d.busy_answers),
            (1, 1, 0)
        );
        // A reset in between reads as no increase, not as an underflow.
        c.reset();
        assert_eq!(c.snapshot().since(&before), CountersSnapshot::default());
    }
}
