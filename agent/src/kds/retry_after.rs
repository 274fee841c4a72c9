//! The `Retry-After` response header (RFC 9110 §10.2.3): either a number of seconds or an
//! HTTP-date. KDS rate-limits with 429, and a mirror or proxy in front of it may answer 503;
//! both may say when to come back, and honouring that is what keeps a client from being
//! throttled harder.
//!
//! HTTP-dates are parsed by the `httpdate` crate (the one hyper uses), which reads all three forms
//! RFC 9110 §5.6.7 obliges a recipient to accept: the preferred IMF-fixdate
//! (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms, RFC 850
//! (`Sunday, 06-Nov-94 08:49:37 GMT`) and ANSI C `asctime()` (`Sun Nov  6 08:49:37 1994`). A value
//! that is neither a date nor a number makes the client fall back to its own backoff.

use std::time::{Duration, SystemTime};

/// When the server asked the client to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Delay(Duration),
    /// `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
    At(SystemTime),
}

impl RetryAfter {
    /// Parse a header value; `None` when it is neither form (then the caller backs off on its
    /// own schedule rather than trusting a value it cannot read).
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let v = value.trim();
        // `delay-seconds = 1*DIGIT`: no sign, no fraction, no exponent.
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            // Absurdly long digit strings saturate; the deadline bounds the wait anyway.
            let secs = v.parse::<u64>().unwrap_or(u64::MAX);
            return Some(RetryAfter::Delay(Duration::from_secs(secs)));
        }
        httpdate::parse_http_date(v).ok().map(RetryAfter::At)
    }

    /// The wait this asks for, seen from `now` (zero for a date in the past).
    pub fn delay_from(self, now: SystemTime) -> Duration {
        match self {
            RetryAfter::Delay(d) => d,
            RetryAfter::At(t) => t.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> Option<RetryAfter> {
        Some(RetryAfter::At(UNIX_EPOCH + Duration::from_secs(secs)))
    }

    #[test]
    fn seconds() {
        assert_eq!(
            RetryAfter::parse("120"),
            Some(RetryAfter::Delay(Duration::from_secs(120)))
        );
        assert_eq!(
            RetryAfter::parse(" 0 "),
            Some(RetryAfter::Delay(Duration::ZERO))
        );
        assert_eq!(
            RetryAfter::parse("99999999999999999999999"),
            Some(RetryAfter::Delay(Duration::from_secs(u64::MAX)))
        );
        assert_eq!(RetryAfter::parse("-1"), None);
        assert_eq!(RetryAfter::parse("+1"), None);
        assert_eq!(RetryAfter::parse("1.5"), None);
        assert_eq!(RetryAfter::parse("1e3"), None);
        assert_eq!(RetryAfter::parse(""), None);
    }

    /// RFC 9110 §5.6.7's own example, 784111777 seconds after the epoch, in each of the three
    /// forms a recipient must accept.
    #[test]
    fn every_http_date_form_of_rfc_9110() {
        assert_eq!(
            RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT"),
            at(784_111_777),
            "IMF-fixdate"
        );
        assert_eq!(
            RetryAfter::parse("Sunday, 06-Nov-94 08:49:37 GMT"),
            at(784_111_777),
            "obsolete RFC 850 format"
        );
        assert_eq!(
            RetryAfter::parse("Sun Nov  6 08:49:37 1994"),
            at(784_111_777),
            "ANSI C asctime() format"
        );
        // A leap day, in each form.
        assert_eq!(
            RetryAfter::parse("Thu, 29 Feb 2024 00:00:00 GMT"),
            at(1_709_164_800)
        );
        assert_eq!(
            RetryAfter::parse("Thursday, 29-Feb-24 00:00:00 GMT"),
            at(1_709_164_800)
        );
        assert_eq!(
            RetryAfter::parse("Thu Feb 29 00:00:00 2024"),
            at(1_709_164_800)
        );
    }

    #[test]
    fn malformed_dates_are_not_guessed() {
        for bad in [
            "Wed, 29 Feb 2023 00:00:00 GMT", // no such day
            "Sun, 06 Nov 1994 08:49:37 UTC", // only GMT is allowed
            "Sun, 06 Nov 1994 24:49:37 GMT", // hour out of range
            "Sun, 06 Nov 1994 08:49 GMT",    // no seconds
            "06 Nov 1994 08:49:37 GMT",      // no day name
            "tomorrow",
        ] {
            assert_eq!(RetryAfter::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn delay_from_now() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_700);
        let ra = RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(ra.delay_from(now), Duration::from_secs(77));
        let later = UNIX_EPOCH + Duration::from_secs(784_111_800);
        assert_eq!(ra.delay_from(later), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = RetryAfter::parse(&s);
        }

        #[test]
        fn never_panics_near_format(s in "[A-Za-z]{3,9},? [0-9]{1,2}[ -][A-Za-z]{3}[ -][0-9]{2,4} [0-9]{2}:[0-9]{2}:[0-9]{2}( GMT)?") {
            let _ = RetryAfter::parse(&s);
        }

        /// Whatever httpdate formats (IMF-fixdate), we read back to the same second.
        #[test]
        fn formatted_dates_round_trip(secs in 0u64..253_402_300_799) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            prop_assert_eq!(RetryAfter::parse(&httpdate::fmt_http_date(t)), Some(RetryAfter::At(t)));
        }
    }
}
