//! Fault injection: every misbehaviour a real host (VMM, KVM, firmware, operator) can produce.
//!
//! A [`Faults`] value is plain configuration, changeable at runtime through the platform
//! (`SimPlatform::set_faults` / `update_faults`). Counted knobs ([`Repeat::Times`]) are consumed as
//! they fire, so "BUSY three times, then fine" is `busy: Repeat::Times(3)`.

use std::collections::VecDeque;
use std::time::Duration;

/// How often a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repeat {
    /// Never (the default).
    #[default]
    Never,
    /// The next `n` opportunities, then never again.
    Times(u32),
    /// Every time.
    Always,
}

impl Repeat {
    /// Whether the fault fires now; consumes one count of `Times`.
    pub fn fire(&mut self) -> bool {
        match self {
            Repeat::Never => false,
            Repeat::Always => true,
            Repeat::Times(n) => {
                if *n == 0 {
                    *self = Repeat::Never;
                    false
                } else {
                    *n -= 1;
                    if *n == 0 {
                        *self = Repeat::Never;
                    }
                    true
                }
            }
        }
    }

    /// Whether the fault is still armed (without consuming it).
    pub fn armed(&self) -> bool {
        !matches!(self, Repeat::Never | Repeat::Times(0))
    }
}

/// How a host serves "no certificates at all".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCerts {
    /// A table with only its all-zero terminator entry (QEMU without a cert file after Linux
    /// zero-filled the buffer, or a host that has nothing to say).
    EmptyTable,
    /// Nothing written at all: the guest's buffer keeps what it had (the 6.11 KVM stub writes
    /// 24 zero bytes; Linux zero-fills first, so the guest sees zeros either way).
    ZeroBuffer,
}

/// Rate limit "as cloud hosts do": at most `max_requests` guest requests per `window`;
/// the excess is answered BUSY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Requests admitted per window.
    pub max_requests: u32,
    /// Sliding window length.
    pub window: Duration,
}

/// Every fault knob. `Faults::default()` is a well-behaved host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// VMM answers BUSY (the lock-timeout answer) without touching the blob.
    pub busy: Repeat,
    /// VMM answers its generic error (merged: `EIO`; seed: `1 << 31`).
    pub generic_vmm_error: Repeat,
    /// INVALID_LEN storm: this many extended requests are answered INVALID_LEN, each asking for
    /// one page more than the guest offered (the blob "grows" each time).
    pub invalid_len_storm: u32,
    /// INVALID_LEN asking for this absurd number of pages (e.g. `u32::MAX as u64`).
    pub absurd_pages: Option<u64>,
    /// The operator's updater raises the TCB but does not rewrite the blob: the served VCEK is
    /// the one for the old TCB.
    pub stale_blob: bool,
    /// The VMM serves a corrupt table (first entry's offset points past the end of the blob).
    pub corrupt_table: bool,
    /// The VMM serves another chip's VCEK.
    pub wrong_vcek: bool,
    /// The VMM serves no certificates at all.
    pub no_certs: Option<NoCerts>,
    /// One byte of the response's authentication tag is flipped on the way back.
    pub tamper_tag: Repeat,
    /// The response page carries an earlier (replayed) response instead of the fresh one.
    pub replay_response: Repeat,
    /// The firmware answers with a validly sealed but truncated MSG_REPORT_RSP payload.
    pub truncate_response: Repeat,
    /// The firmware refuses the request with this status (`fw_err`, low 32 bits of SW_EXITINFO2).
    pub fw_error: Option<(u32, Repeat)>,
    /// KVM rejects the exit at the GHCB level (SW_EXITINFO1 = 2 "malformed input",
    /// SW_EXITINFO2 = 5 GHCB_ERR_INVALID_INPUT).
    pub ghcb_reject: Repeat,
    /// Rate limit on guest requests.
    pub throttle: Option<Throttle>,
    /// A buggy VMM completes REQ_CERTS with `ret` = 22 (EINVAL): merged KVM refuses it
    /// (`KVM_RUN` fails, the guest is not resumed); the seed passes it to the guest verbatim
    /// (`22 << 32`).
    pub bogus_completion: Repeat,
    // issue 16: lying hosts. The host forwards the request to the firmware (which consumes it
    // and advances its count, the response lands in the guest's page) and then tells the guest
    // it did not: a guest that believes the claim and reuses the sequence number for another
    // message reuses an AES-GCM IV.
    /// After forwarding, answer BUSY.
    pub forwarded_then_busy: Repeat,
    /// After forwarding, answer INVALID_LEN (RBX = one page more than offered).
    pub forwarded_then_invalid_len: Repeat,
    /// After forwarding, answer this SW_EXITINFO2 (e.g. the generic VMM error).
    pub forwarded_then_error: Option<(u64, Repeat)>,
}

/// Sliding-window bookkeeping for [`Throttle`].
#[derive(Debug, Default)]
pub struct ThrottleState {
    admitted: VecDeque<Duration>,
}

impl ThrottleState {
    /// Whether a request at `now` is admitted under `cfg` (records it if so).
    pub fn admit(&mut self, now: Duration, cfg: &Throttle) -> bool {
        while let Some(first) = self.admitted.front() {
            if now.saturating_sub(*first) >= cfg.window {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        if self.admitted.len() >= cfg.max_requests as usize {
            return false;
        }
        self.admitted.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_counts_down() {
        let mut r = Repeat::Times(2);
        assert!(r.armed());
        assert!(r.fire());
        assert!(r.fire());
        assert!(!r.fire());
        assert_eq!(r, Repeat::Never);
        let mut a = Repeat::Always;
        assert!((0..100).all(|_| a.fire()));
        assert!(!Repeat::Never.fire());
        assert!(!Repeat::Times(0).armed());
        assert!(!Repeat::Times(0).fire());
    }

    #[test]
    fn throttle_sliding_window() {
        let cfg = Throttle {
            max_requests: 2,
            window: Duration::from_secs(10),
        };
        let mut t = ThrottleState::default();
        assert!(t.admit(Duration::from_secs(0), &cfg));
        assert!(t.admit(Duration::from_secs(1), &cfg));
        assert!(!t.admit(Duration::from_secs(2), &cfg));
        assert!(!t.admit(Duration::from_secs(9), &cfg));
        assert!(t.admit(Duration::from_secs(10), &cfg));
        assert!(!t.admit(Duration::from_secs(10), &cfg));
        assert!(t.admit(Duration::from_secs(11), &cfg));
    }
}
