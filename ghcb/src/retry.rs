//! The one retry policy: INVALID_LEN resize, BUSY backoff, deadline.
//!
//! Every backend (the GHCB driver here, the agent's `/dev/sev-guest` and configfs-tsm backends)
//! decides "what now?" after a host answer through the same sans-I/O state machine,
//! [`RetryState::on_answer`], so the bounds and their error messages are identical everywhere. The
//! state machine never sleeps and never touches the platform: it returns an [`Action`] and the
//! caller performs it, with time supplied through a [`Clock`] so tests run instantly.
//!
//! The rules (issue 4; Linux `__handle_guest_request`, abi-facts §1.4):
//! * **BUSY** — the host says it did not forward the request, so the firmware should still expect
//!   the same sequence number. Resend the *identical* ciphertext after an exponential backoff
//!   (`initial_backoff`, doubling, capped at `max_backoff`), at most `max_busy_retries` times and
//!   never past `deadline` measured from the first send of the call. Past that, the GHCB driver
//!   wipes the key (issue 16): "not forwarded" is only the host's claim.
//! * **INVALID_LEN** — the certificate buffer was too small; RBX says how many pages the host wants.
//!   The caller first burns the sequence number (resends the same message as a plain guest request,
//!   as Linux does) and then builds a *new* message with the larger buffer. Growth is bounded by
//!   `max_cert_pages` and the number of rounds by `max_invalid_len_retries`. A host that asks for
//!   no more than it was given is refused rather than looped on.
//! * **anything else** — give up with the exact `SW_EXITINFO2`; what that means for the key is the
//!   caller's business (the GHCB driver wipes it, since the firmware may have consumed the message).

use core::time::Duration;

use thiserror::Error;

use crate::exit::ExitInfo2;

/// Monotonic time and sleeping, injected so tests never sleep.
pub trait Clock {
    /// Monotonic time since an arbitrary fixed origin.
    fn now(&self) -> Duration;
    /// Wait for `d` (a test clock just advances).
    fn sleep(&mut self, d: Duration);
}

/// The bounds of the retry policy. [`RetryPolicy::default`] documents the defaults' reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many INVALID_LEN answers one call tolerates (each means the host's blob grew since the
    /// size was chosen). Default 3: one for a cold size hint, two for a blob updated concurrently.
    pub max_invalid_len_retries: u32,
    /// How many BUSY resends one call tolerates. Default 40: with the default backoff the 60 s
    /// deadline arrives first (after 33 resends), so this count is the backstop for a clock that
    /// does not advance (firmware without a timer) rather than the usual bound.
    pub max_busy_retries: u32,
    /// First BUSY backoff. Default 100 ms: QEMU answers BUSY after waiting `certs-timeout`
    /// (100 ms) for the blob lock, so an updater usually holds it for about that long.
    pub initial_backoff: Duration,
    /// Backoff cap. Default 2 s, the fixed delay Linux uses (`SNP_REQ_RETRY_DELAY`).
    pub max_backoff: Duration,
    /// Overall budget of one call from its first send. Default 60 s, Linux's
    /// `SNP_REQ_MAX_RETRY_DURATION`.
    pub deadline: Duration,
    /// Largest certificate buffer the guest will provide, in 4 KiB pages. Default 64 (256 KiB):
    /// a VCEK/VLEK chain with a CRL is under 8 KiB, so this leaves ample room for hosts serving
    /// extra entries while bounding what a hostile host can make the guest allocate and share.
    pub max_cert_pages: usize,
    /// Certificate buffer size of the very first extended request, in pages, before any size
    /// hint exists. Default 4 (16 KiB, what Linux always offers): it covers every host seen, so
    /// even the first call usually costs one firmware request.
    pub initial_cert_pages: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_invalid_len_retries: 3,
            max_busy_retries: 40,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            deadline: Duration::from_secs(60),
            max_cert_pages: 64,
            initial_cert_pages: 4,
        }
    }
}

/// A host answer, classified for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// SW_EXITINFO2 = 0.
    Success,
    /// SW_EXITINFO2 = INVALID_LEN; the pages the host asked for (RBX), if it said.
    InvalidLen {
        /// RBX, if the host marked it valid.
        pages_needed: Option<u64>,
    },
    /// SW_EXITINFO2 = BUSY.
    Busy,
    /// Anything else.
    Error(ExitInfo2),
}

impl Answer {
    /// Classify SW_EXITINFO2 (exact compares, as Linux does) and the RBX the host returned.
    pub fn classify(exit: ExitInfo2, rbx: Option<u64>) -> Self {
        if exit.is_success() {
            Answer::Success
        } else if exit.is_invalid_len() {
            Answer::InvalidLen { pages_needed: rbx }
        } else if exit.is_busy() {
            Answer::Busy
        } else {
            Answer::Error(exit)
        }
    }
}

/// What the caller must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The answer is a success: use the response.
    Accept,
    /// BUSY: wait `delay`, then resend the identical message (same sequence number).
    Resend {
        /// How long to wait first.
        delay: Duration,
    },
    /// INVALID_LEN: (after burning the sequence number) build a new message with a certificate
    /// buffer of `pages` pages.
    Grow {
        /// New buffer size in pages.
        pages: usize,
    },
    /// Stop with this error.
    GiveUp(RetryError),
}

/// Why the policy gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RetryError {
    /// The host wants more certificate pages than the policy allows.
    #[error("the host needs a {needed_pages}-page certificate buffer, more than the configured maximum of {max_pages} pages; raise max_cert_pages if this host is trusted to serve that much")]
    CertBufferTooLarge {
        /// Pages the host asked for.
        needed_pages: u64,
        /// The configured maximum.
        max_pages: usize,
    },
    /// INVALID_LEN kept coming back.
    #[error("the host answered INVALID_LEN {count} times in one request (its certificate blob keeps growing?); try again later")]
    TooManyInvalidLen {
        /// INVALID_LEN answers seen.
        count: u32,
    },
    /// INVALID_LEN without a usable page count.
    #[error("the host answered INVALID_LEN without saying how many pages it needs (RBX not set); this is a host bug")]
    InvalidLenWithoutSize,
    /// INVALID_LEN asking for no more than the guest already provided.
    #[error("the host answered INVALID_LEN asking for {needed_pages} pages although {provided_pages} were provided; this is a host bug")]
    InvalidLenNoGrowth {
        /// Pages the host asked for.
        needed_pages: u64,
        /// Pages provided.
        provided_pages: usize,
    },
    /// BUSY more often than allowed.
    #[error("the host stayed BUSY for {count} retries; it is throttling or its certificate blob is locked by an update; try again later")]
    BusyRetriesExhausted {
        /// BUSY answers seen.
        count: u32,
    },
    /// The overall deadline passed.
    #[error("the host did not complete the request within {deadline_ms} ms (elapsed {elapsed_ms} ms); it is throttling or busy; try again later")]
    DeadlineExceeded {
        /// Time spent in milliseconds.
        elapsed_ms: u64,
        /// The deadline in milliseconds.
        deadline_ms: u64,
    },
    /// Any other answer.
    #[error("the host or firmware refused the request: {0}")]
    Rejected(ExitInfo2),
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The policy state of one call (one logical request, across all its resends and resizes).
#[derive(Debug, Clone)]
pub struct RetryState {
    policy: RetryPolicy,
    started: Duration,
    busy: u32,
    invalid_len: u32,
}

impl RetryState {
    /// Start a call at time `now` (the first send).
    pub fn new(policy: RetryPolicy, now: Duration) -> Self {
        Self {
            policy,
            started: now,
            busy: 0,
            invalid_len: 0,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// BUSY answers seen so far.
    pub fn busy_count(&self) -> u32 {
        self.busy
    }

    /// INVALID_LEN answers seen so far.
    pub fn invalid_len_count(&self) -> u32 {
        self.invalid_len
    }

    /// The backoff before the `n`-th resend (1-based): `initial · 2^(n−1)`, capped.
    pub fn backoff(&self, n: u32) -> Duration {
        let shift = n.saturating_sub(1).min(31);
        self.policy
            .initial_backoff
            .checked_mul(1u32 << shift)
            .unwrap_or(self.policy.max_backoff)
            .min(self.policy.max_backoff)
    }

    fn deadline_error(&self, now: Duration) -> RetryError {
        RetryError::DeadlineExceeded {
            elapsed_ms: ms(now.saturating_sub(self.started)),
            deadline_ms: ms(self.policy.deadline),
        }
    }

    /// Decide what to do after `answer`, given that `provided_pages` certificate pages were
    /// offered (0 for a plain request) and the time is `now`.
    pub fn on_answer(&mut self, answer: Answer, provided_pages: usize, now: Duration) -> Action {
        let elapsed = now.saturating_sub(self.started);
        match answer {
            Answer::Success => Action::Accept,
            Answer::Error(e) => Action::GiveUp(RetryError::Rejected(e)),
            Answer::Busy => {
                self.busy = self.busy.saturating_add(1);
                if self.busy > self.policy.max_busy_retries {
                    return Action::GiveUp(RetryError::BusyRetriesExhausted { count: self.busy });
                }
                let delay = self.backoff(self.busy);
                if elapsed.saturating_add(delay) > self.policy.deadline {
                    return Action::GiveUp(self.deadline_error(now));
                }
                Action::Resend { delay }
            }
            Answer::InvalidLen { pages_needed } => {
                self.invalid_len = self.invalid_len.saturating_add(1);
                let Some(needed) = pages_needed else {
                    return Action::GiveUp(RetryError::InvalidLenWithoutSize);
                };
                if needed > self.policy.max_cert_pages as u64 {
                    return Action::GiveUp(RetryError::CertBufferTooLarge {
                        needed_pages: needed,
                        max_pages: self.policy.max_cert_pages,
                    });
                }
                if needed <= provided_pages as u64 {
                    return Action::GiveUp(RetryError::InvalidLenNoGrowth {
                        needed_pages: needed,
                        provided_pages,
                    });
                }
                if self.invalid_len > self.policy.max_invalid_len_retries {
                    return Action::GiveUp(RetryError::TooManyInvalidLen {
                        count: self.invalid_len,
                    });
                }
                if elapsed > self.policy.deadline {
                    return Action::GiveUp(self.deadline_error(now));
                }
                // needed <= max_cert_pages (a usize), so the cast is lossless.
                Action::Grow {
                    pages: needed as usize,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{BUSY, GENERIC, INVALID_LEN};
    use proptest::prelude::*;

    fn s() -> RetryState {
        RetryState::new(RetryPolicy::default(), Duration::from_secs(100))
    }

    #[test]
    fn classify() {
        assert_eq!(
            Answer::classify(ExitInfo2::from_u64(0), None),
            Answer::Success
        );
        assert_eq!(
            Answer::classify(ExitInfo2::from_u64(INVALID_LEN), Some(5)),
            Answer::InvalidLen {
                pages_needed: Some(5)
            }
        );
        assert_eq!(
            Answer::classify(ExitInfo2::from_u64(BUSY), None),
            Answer::Busy
        );
        assert_eq!(
            Answer::classify(ExitInfo2::from_u64(BUSY | 0x16), None),
            Answer::Error(ExitInfo2::from_u64(BUSY | 0x16))
        );
        assert_eq!(
            Answer::classify(ExitInfo2::from_u64(GENERIC), None),
            Answer::Error(ExitInfo2::from_u64(GENERIC))
        );
    }

    #[test]
    fn busy_backoff_doubles_then_caps_then_counts_out() {
        let mut st = RetryState::new(
            RetryPolicy {
                deadline: Duration::from_secs(3600),
                max_busy_retries: 8,
                ..RetryPolicy::default()
            },
            Duration::ZERO,
        );
        let mut delays = [Duration::ZERO; 8];
        for d in delays.iter_mut() {
            match st.on_answer(Answer::Busy, 0, Duration::ZERO) {
                Action::Resend { delay } => *d = delay,
                other => panic!("{other:?}"),
            }
        }
        let msv: [u64; 8] = delays.map(|d| d.as_millis() as u64);
        assert_eq!(msv, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(
            st.on_answer(Answer::Busy, 0, Duration::ZERO),
            Action::GiveUp(RetryError::BusyRetriesExhausted { count: 9 })
        );
    }

    #[test]
    fn busy_respects_deadline() {
        let mut st = s();
        let start = Duration::from_secs(100);
        assert!(matches!(
            st.on_answer(Answer::Busy, 0, start + Duration::from_secs(59)),
            Action::Resend { .. }
        ));
        // The second backoff (200 ms) would end past 60 s.
        assert_eq!(
            st.on_answer(Answer::Busy, 0, start + Duration::from_millis(59_900)),
            Action::GiveUp(RetryError::DeadlineExceeded {
                elapsed_ms: 59_900,
                deadline_ms: 60_000
            })
        );
    }

    #[test]
    fn invalid_len_rules() {
        let now = Duration::from_secs(100);
        let mut st = s();
        assert_eq!(
            st.on_answer(
                Answer::InvalidLen {
                    pages_needed: Some(6)
                },
                4,
                now
            ),
            Action::Grow { pages: 6 }
        );
        assert_eq!(
            st.on_answer(
                Answer::InvalidLen {
                    pages_needed: Some(65)
                },
                6,
                now
            ),
            Action::GiveUp(RetryError::CertBufferTooLarge {
                needed_pages: 65,
                max_pages: 64
            })
        );
        assert_eq!(
            s().on_answer(
                Answer::InvalidLen {
                    pages_needed: Some(4)
                },
                4,
                now
            ),
            Action::GiveUp(RetryError::InvalidLenNoGrowth {
                needed_pages: 4,
                provided_pages: 4
            })
        );
        assert_eq!(
            s().on_answer(Answer::InvalidLen { pages_needed: None }, 4, now),
            Action::GiveUp(RetryError::InvalidLenWithoutSize)
        );
        let mut st = s();
        for p in 5..8 {
            assert_eq!(
                st.on_answer(
                    Answer::InvalidLen {
                        pages_needed: Some(p)
                    },
                    p as usize - 1,
                    now
                ),
                Action::Grow { pages: p as usize }
            );
        }
        assert_eq!(
            st.on_answer(
                Answer::InvalidLen {
                    pages_needed: Some(9)
                },
                8,
                now
            ),
            Action::GiveUp(RetryError::TooManyInvalidLen { count: 4 })
        );
        // huge RBX from a hostile host
        assert!(matches!(
            s().on_answer(
                Answer::InvalidLen {
                    pages_needed: Some(u64::MAX)
                },
                4,
                now
            ),
            Action::GiveUp(RetryError::CertBufferTooLarge { .. })
        ));
    }

    #[test]
    fn errors_give_up_and_success_accepts() {
        let e = ExitInfo2::from_u64(GENERIC);
        assert_eq!(
            s().on_answer(Answer::Error(e), 4, Duration::ZERO),
            Action::GiveUp(RetryError::Rejected(e))
        );
        assert_eq!(
            s().on_answer(Answer::Success, 4, Duration::from_secs(1000)),
            Action::Accept
        );
    }

    proptest! {
        /// Whatever the host answers, a call ends after a bounded number of actions.
        #[test]
        fn always_terminates(answers in proptest::collection::vec((0u8..4, any::<u64>()), 0..200)) {
            let policy = RetryPolicy::default();
            let mut st = RetryState::new(policy, Duration::ZERO);
            let mut now = Duration::ZERO;
            let mut pages = policy.initial_cert_pages;
            let mut steps = 0u32;
            for (kind, v) in answers {
                let a = match kind {
                    0 => Answer::Busy,
                    1 => Answer::InvalidLen { pages_needed: Some(v % 100) },
                    2 => Answer::Error(ExitInfo2::from_u64(v)),
                    _ => Answer::Busy,
                };
                steps += 1;
                match st.on_answer(a, pages, now) {
                    Action::Resend { delay } => now += delay,
                    Action::Grow { pages: p } => { prop_assert!(p > pages && p <= policy.max_cert_pages); pages = p; }
                    Action::GiveUp(_) | Action::Accept => break,
                }
                prop_assert!(steps <= policy.max_busy_retries + policy.max_invalid_len_retries + 2);
                prop_assert!(now <= policy.deadline);
            }
        }
    }
}
