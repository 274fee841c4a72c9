//! The `Retry-After` response header (RFC 9110 §10.2.3): either a number of seconds or an
//! HTTP-date. KDS rate-limits with 429, and a mirror or proxy in front of it may answer 503;
//! both may say when to come back, and honouring that is what keeps a client from being
//! throttled harder.
//!
//! Only the IMF-fixdate form of HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`) is parsed: RFC 9110
//! requires senders to generate exactly that form. The two obsolete forms are treated like an
//! unparseable header, which makes the client fall back to its own backoff.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            // Absurdly long digit strings saturate; the deadline bounds the wait anyway.
            let secs = v.parse::<u64>().unwrap_or(u64::MAX);
            return Some(RetryAfter::Delay(Duration::from_secs(secs)));
        }
        parse_imf_fixdate(v).map(RetryAfter::At)
    }

    /// The wait this asks for, seen from `now` (zero for a date in the past).
    pub fn delay_from(self, now: SystemTime) -> Duration {
        match self {
            RetryAfter::Delay(d) => d,
            RetryAfter::At(t) => t.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `day-name "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"`.
fn parse_imf_fixdate(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 29 {
        return None;
    }
    let day_name = s.get(0..3)?;
    if !DAYS.contains(&day_name) || s.get(3..5)? != ", " {
        return None;
    }
    let day = digits(s.get(5..7)?)?;
    let month = MONTHS.iter().position(|m| Some(*m) == s.get(8..11))? as u64 + 1;
    let year = digits(s.get(12..16)?)?;
    let hour = digits(s.get(17..19)?)?;
    let min = digits(s.get(20..22)?)?;
    let sec = digits(s.get(23..25)?)?;
    if b.get(7) != Some(&b' ')
        || b.get(11) != Some(&b' ')
        || b.get(16) != Some(&b' ')
        || b.get(19) != Some(&b':')
        || b.get(22) != Some(&b':')
        || s.get(25..29)? != " GMT"
    {
        return None;
    }
    // Leap second 60 allowed by the grammar; it lands on the next second.
    if !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 || year < 1970 {
        return None;
    }
    if day > days_in_month(year, month) {
        return None;
    }
    let days = days_since_epoch(year, month, day)?;
    let secs = days
        .checked_mul(86_400)?
        .checked_add(hour * 3600 + min * 60 + sec)?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

fn digits(s: &str) -> Option<u64> {
    if s.bytes().all(|c| c.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given civil date (year >= 1970).
fn days_since_epoch(y: u64, m: u64, d: u64) -> Option<u64> {
    let mut days: u64 = 0;
    for year in 1970..y {
        days = days.checked_add(if is_leap(year) { 366 } else { 365 })?;
    }
    for month in 1..m {
        days = days.checked_add(days_in_month(y, month))?;
    }
    days.checked_add(d - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert_eq!(RetryAfter::parse("1.5"), None);
        assert_eq!(RetryAfter::parse(""), None);
    }

    #[test]
    fn imf_fixdate() {
        // RFC 9110's own example: 784111777 seconds after the epoch.
        let t = RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            t,
            Some(RetryAfter::At(
                UNIX_EPOCH + Duration::from_secs(784_111_777)
            ))
        );
        // A leap day.
        let t = RetryAfter::parse("Thu, 29 Feb 2024 00:00:00 GMT");
        assert_eq!(
            t,
            Some(RetryAfter::At(
                UNIX_EPOCH + Duration::from_secs(1_709_164_800)
            ))
        );
        assert_eq!(RetryAfter::parse("Fri, 29 Feb 2023 00:00:00 GMT"), None);
        assert_eq!(RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(RetryAfter::parse("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(RetryAfter::parse("Sun Nov  6 08:49:37 1994"), None);
        assert_eq!(RetryAfter::parse("Sun, 06 Nov 1994 24:49:37 GMT"), None);
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
        fn never_panics_near_format(s in "[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT") {
            let _ = RetryAfter::parse(&s);
        }
    }
}
