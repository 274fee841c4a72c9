//! The KDS HTTP client: URLs from `snp_certs::kds`, one GET per attempt through a
//! [`Transport`], and the retry policy.
//!
//! Retry policy, and why:
//! - **404** fails at once. KDS answers 404 for a chip/TCB pair it never issued a VCEK for
//!   (wrong product, masked or made-up chip ID, a TCB the firmware never had); asking again
//!   only burns rate limit. Other 4xx and 3xx are also final.
//! - **429 and 5xx** are retried: 429 is KDS's rate limit, 5xx a passing outage or an
//!   overloaded mirror. A `Retry-After` header (seconds or HTTP-date) is honoured exactly —
//!   waiting less gets throttled again, waiting more wastes the caller's time. If it asks
//!   for more than the deadline leaves, the client fails at once and says so.
//! - Without `Retry-After`, and for timeouts and refused connections, it backs off
//!   exponentially (initial × 2ⁿ, capped) with jitter (a uniformly random 50–100 % of the
//!   step), so that many guests booting together do not hammer KDS in lockstep.
//! - Everything happens within one overall deadline set by the caller; each request's own
//!   timeout is the smaller of the per-request timeout and what the deadline leaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use snp_certs::kds::{Endorser, HwId, KdsUrls};
use snp_certs::product::Product;
use snp_certs::tcb::Tcb;

use super::clock::{Clock, SystemClock};
use super::error::KdsError;
use super::progress::{silent, Progress, ProgressFn};
use super::retry_after::RetryAfter;
use super::transport::{ReqwestTransport, Transport, TransportError};

/// Environment variable naming the KDS base URL (a mirror, a caching proxy, a test server).
pub const KDS_URL_ENV: &str = "SNP_AGENT_KDS_URL";

/// The bounds of retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts per URL (first try included).
    pub max_attempts: u32,
    /// First backoff step.
    pub initial_backoff: Duration,
    /// Largest backoff step.
    pub max_backoff: Duration,
    /// Timeout of a single request (connect + headers + body).
    pub request_timeout: Duration,
    /// Largest response body accepted, in bytes.
    pub max_body: usize,
    /// Randomise each backoff step to 50–100 % of its nominal value.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// Six attempts, 1 s doubling to at most 30 s, 20 s per request, 256 KiB bodies (the
    /// largest real KDS answer, a CRL, is a few KiB).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(20),
            max_body: 256 * 1024,
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The nominal backoff before attempt `attempt + 1` (attempt counts from 1), capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.initial_backoff
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// A point in time by which an operation must be done, with its length for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    /// `total` from now on `clock`.
    pub fn after(clock: &dyn Clock, total: Duration) -> Deadline {
        let now = clock.now();
        Deadline {
            at: now.checked_add(total).unwrap_or(now),
            total,
        }
    }

    /// Time left (zero once passed).
    pub fn remaining(&self, clock: &dyn Clock) -> Duration {
        self.at.saturating_duration_since(clock.now())
    }

    /// The deadline's full length.
    pub fn total(&self) -> Duration {
        self.total
    }
}

/// A body fetched from KDS, with the URL it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL.
    pub url: String,
    /// The body.
    pub body: Vec<u8>,
}

/// The KDS client.
#[derive(Clone)]
pub struct KdsClient {
    urls: KdsUrls,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    progress: ProgressFn,
}

impl std::fmt::Debug for KdsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KdsClient")
            .field("base", &self.urls.base())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl KdsClient {
    /// A client for the KDS at `base_url` (AMD's is [`snp_certs::kds::AMD_KDS_URL`]) using
    /// reqwest with rustls. A loopback base URL bypasses any proxy from the environment.
    pub fn new(base_url: &str) -> Result<KdsClient, KdsError> {
        let urls = KdsUrls::new(base_url)?;
        let transport = if is_loopback(urls.base()) {
            ReqwestTransport::without_proxy()
        } else {
            ReqwestTransport::new()
        }
        .map_err(KdsError::Client)?;
        Ok(Self::with_parts(urls, Arc::new(transport)))
    }

    /// A client for `base_url` if given, else `$SNP_AGENT_KDS_URL` if set and non-empty,
    /// else AMD's KDS. This is the precedence the CLI uses (`--kds-url` over the environment).
    pub fn from_env_or(base_url: Option<&str>) -> Result<KdsClient, KdsError> {
        let env = std::env::var(KDS_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        let url = base_url
            .map(str::to_owned)
            .or(env)
            .unwrap_or_else(|| snp_certs::kds::AMD_KDS_URL.to_owned());
        Self::new(&url)
    }

    /// A client over any transport (tests, instrumented clients).
    pub fn with_parts(urls: KdsUrls, transport: Arc<dyn Transport>) -> KdsClient {
        KdsClient {
            urls,
            transport,
            clock: Arc::new(SystemClock),
            policy: RetryPolicy::default(),
            progress: silent(),
        }
    }

    /// Use another clock (tests use [`super::clock::FakeClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> KdsClient {
        self.clock = clock;
        self
    }

    /// Use another retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> KdsClient {
        self.policy = policy;
        self
    }

    /// Report progress to `f`.
    pub fn with_progress(mut self, f: ProgressFn) -> KdsClient {
        self.progress = f;
        self
    }

    /// The URL builder.
    pub fn urls(&self) -> &KdsUrls {
        &self.urls
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    pub(crate) fn progress(&self, p: Progress) {
        (self.progress)(&p);
    }

    /// Fetch a VCEK (DER as served; PEM converted by the caller's parser).
    pub fn fetch_vcek(
        &self,
        hwid: &HwId,
        tcb: &Tcb,
        deadline: &Deadline,
    ) -> Result<Fetched, KdsError> {
        let url = self.urls.vcek(hwid, tcb)?;
        let what = format!("{} VCEK ({tcb})", hwid.product());
        self.get(&what, &url, deadline)
    }

    /// Fetch a CA chain (PEM: ASK or ASVK, then ARK).
    pub fn fetch_cert_chain(
        &self,
        product: Product,
        endorser: Endorser,
        deadline: &Deadline,
    ) -> Result<Fetched, KdsError> {
        let url = self.urls.cert_chain(product, endorser);
        self.get(&format!("{product} {endorser} cert_chain"), &url, deadline)
    }

    /// Fetch a CRL (DER).
    pub fn fetch_crl(
        &self,
        product: Product,
        endorser: Endorser,
        deadline: &Deadline,
    ) -> Result<Fetched, KdsError> {
        let url = self.urls.crl(product, endorser);
        self.get(&format!("{product} {endorser} CRL"), &url, deadline)
    }

    /// GET with the retry policy. Public for callers that fetch other KDS resources.
    pub fn get(&self, what: &str, url: &str, deadline: &Deadline) -> Result<Fetched, KdsError> {
        let clock = &*self.clock;
        let mut attempt: u32 = 0;
        let mut last = String::from("no attempt made");
        loop {
            let remaining = deadline.remaining(clock);
            if remaining.is_zero() {
                return Err(KdsError::DeadlineExceeded {
                    url: url.to_owned(),
                    deadline: deadline.total(),
                    attempts: attempt,
                    last,
                });
            }
            attempt = attempt.saturating_add(1);
            let timeout = self.policy.request_timeout.min(remaining);
            let clamped_by_deadline = timeout == remaining;
            self.progress(Progress::Fetching {
                what: what.to_owned(),
                url: url.to_owned(),
                attempt,
            });
            tracing::debug!(url, attempt, ?timeout, "KDS GET");
            // The wait before the next attempt, and why; `None` = success or a final error.
            let (delay, status) = match self.transport.get(url, timeout, self.policy.max_body) {
                Ok(resp) if resp.status == 200 => {
                    self.progress(Progress::Received {
                        what: what.to_owned(),
                        bytes: resp.body.len(),
                    });
                    return Ok(Fetched {
                        url: url.to_owned(),
                        body: resp.body,
                    });
                }
                Ok(resp) if resp.status == 404 => {
                    return Err(KdsError::NotFound {
                        what: what.to_owned(),
                        url: url.to_owned(),
                        hint: not_found_hint(url),
                    });
                }
                Ok(resp) if resp.status == 429 || (500..=599).contains(&resp.status) => {
                    let ra = resp.retry_after.as_deref().and_then(RetryAfter::parse);
                    last = match (&resp.retry_after, ra) {
                        (Some(h), Some(_)) => format!("HTTP {} (Retry-After: {h})", resp.status),
                        (Some(h), None) => {
                            format!("HTTP {} (unreadable Retry-After {h:?})", resp.status)
                        }
                        (None, _) => format!("HTTP {}", resp.status),
                    };
                    match ra {
                        Some(ra) => {
                            let d = ra.delay_from(clock.wall_time());
                            if d > deadline.remaining(clock) {
                                return Err(KdsError::RetryAfterBeyondDeadline {
                                    url: url.to_owned(),
                                    status: resp.status,
                                    retry_after: d,
                                    remaining: deadline.remaining(clock),
                                });
                            }
                            (d, resp.status)
                        }
                        None => (self.jittered_backoff(attempt), resp.status),
                    }
                }
                Ok(resp) => {
                    return Err(KdsError::Status {
                        status: resp.status,
                        url: url.to_owned(),
                        hint: status_hint(resp.status),
                    });
                }
                Err(TransportError::BodyTooLarge { limit }) => {
                    return Err(KdsError::BodyTooLarge {
                        url: url.to_owned(),
                        limit,
                    });
                }
                Err(TransportError::Timeout(t)) if clamped_by_deadline => {
                    return Err(KdsError::DeadlineExceeded {
                        url: url.to_owned(),
                        deadline: deadline.total(),
                        attempts: attempt,
                        last: format!("request timed out after {t:?}"),
                    });
                }
                Err(e) => {
                    last = e.to_string();
                    (self.jittered_backoff(attempt), 0)
                }
            };
            tracing::info!(url, attempt, %last, ?delay, "KDS attempt failed; retrying");
            if attempt >= self.policy.max_attempts {
                return Err(KdsError::RetriesExhausted {
                    url: url.to_owned(),
                    attempts: attempt,
                    last,
                });
            }
            let remaining = deadline.remaining(clock);
            if delay >= remaining {
                return Err(KdsError::DeadlineExceeded {
                    url: url.to_owned(),
                    deadline: deadline.total(),
                    attempts: attempt,
                    last: format!("{last}; the next attempt would be due after the deadline"),
                });
            }
            let reason = if status == 0 {
                last.clone()
            } else {
                format!("KDS answered {last}")
            };
            self.progress(Progress::Waiting {
                what: what.to_owned(),
                delay,
                reason,
            });
            clock.sleep(delay);
        }
    }

    fn jittered_backoff(&self, attempt: u32) -> Duration {
        let nominal = self.policy.backoff(attempt);
        if !self.policy.jitter {
            return nominal;
        }
        // Uniform in [nominal/2, nominal].
        let half = nominal / 2;
        let extra = rand::random::<f64>();
        half + half.mul_f64(extra)
    }
}

fn is_loopback(base: &str) -> bool {
    let host_port = base
        .split_once("://")
        .map_or(base, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("");
    let host = if let Some(h) = host_port.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn not_found_hint(url: &str) -> &'static str {
    if url.contains("/cert_chain") || url.ends_with("/crl") {
        "the product line in the URL is not one KDS serves — check the product (Milan, Genoa, Turin)"
    } else {
        "KDS issued no VCEK for this chip ID at this TCB — check that the product is right (a Genoa chip asked for as Milan gets 404), that the chip ID is the report's CHIP_ID (not masked) and that the TCB is REPORTED_TCB decoded with the product's layout"
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        400 => "KDS rejected the request as malformed — the hwID or an SPL is out of range for this product",
        401 | 403 => "access denied — a VLEK leaf is only served to cloud providers; a mirror may need credentials",
        300..=399 => "an unexpected redirect — check --kds-url",
        _ => "an unexpected answer from KDS or the mirror",
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::FakeClock;
    use super::super::transport::HttpResponse;
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A transport that plays back scripted answers and counts requests.
    struct Script {
        answers: Mutex<VecDeque<Result<HttpResponse, TransportError>>>,
        seen: Mutex<Vec<(String, Duration)>>,
    }

    impl Script {
        fn new(answers: Vec<Result<HttpResponse, TransportError>>) -> Arc<Script> {
            Arc::new(Script {
                answers: Mutex::new(answers.into()),
                seen: Mutex::new(Vec::new()),
            })
        }
        fn seen(&self) -> Vec<(String, Duration)> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl Transport for Script {
        fn get(
            &self,
            url: &str,
            timeout: Duration,
            _max: usize,
        ) -> Result<HttpResponse, TransportError> {
            self.seen.lock().unwrap().push((url.to_owned(), timeout));
            self.answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Err(TransportError::Other("script exhausted".into())))
        }
    }

    fn resp(status: u16, retry_after: Option<&str>) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse {
            status,
            retry_after: retry_after.map(str::to_owned),
            body: b"body".to_vec(),
        })
    }

    fn client(script: Arc<Script>, clock: Arc<FakeClock>) -> KdsClient {
        KdsClient::with_parts(KdsUrls::new("http://kds.test").unwrap(), script)
            .with_clock(clock)
            .with_policy(RetryPolicy {
                jitter: false,
                ..RetryPolicy::default()
            })
    }

    #[test]
    fn retry_after_seconds_and_date_are_honoured() {
        let clock = Arc::new(FakeClock::starting_now());
        let date = httpdate_in(&clock, 7);
        let s = Script::new(vec![
            resp(429, Some("3")),
            resp(503, Some(&date)),
            resp(200, None),
        ]);
        let c = client(s.clone(), clock.clone());
        let d = Deadline::after(&*clock, Duration::from_secs(60));
        let f = c.get("x", "http://kds.test/x", &d).unwrap();
        assert_eq!(f.body, b"body");
        let sleeps = clock.sleeps();
        assert_eq!(sleeps[0], Duration::from_secs(3));
        // The date was formatted with whole seconds: 7 s minus the sub-second part, minus
        // the 3 s already slept.
        assert!(
            sleeps[1] <= Duration::from_secs(4) && sleeps[1] > Duration::from_secs(2),
            "{sleeps:?}"
        );
        assert_eq!(s.seen().len(), 3);
    }

    fn httpdate_in(clock: &FakeClock, secs: u64) -> String {
        httpdate::fmt_http_date(clock.wall_time() + Duration::from_secs(secs))
    }

    #[test]
    fn not_found_is_final() {
        let clock = Arc::new(FakeClock::starting_now());
        let s = Script::new(vec![resp(404, None), resp(200, None)]);
        let c = client(s.clone(), clock.clone());
        let d = Deadline::after(&*clock, Duration::from_secs(60));
        let e = c
            .get("VCEK", "http://kds.test/vcek/v1/Milan/ab", &d)
            .unwrap_err();
        assert!(matches!(e, KdsError::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("check that the product is right"));
        assert_eq!(s.seen().len(), 1);
        assert!(clock.sleeps().is_empty());
        let s = Script::new(vec![resp(403, None)]);
        let e = client(s.clone(), clock.clone())
            .get("x", "http://kds.test/x", &d)
            .unwrap_err();
        assert!(matches!(e, KdsError::Status { status: 403, .. }), "{e}");
    }

    #[test]
    fn exponential_backoff_without_retry_after() {
        let clock = Arc::new(FakeClock::starting_now());
        let s = Script::new(vec![
            resp(500, None),
            Err(TransportError::Connect("refused".into())),
            resp(502, Some("soon")),
            resp(200, None),
        ]);
        let c = client(s, clock.clone());
        let d = Deadline::after(&*clock, Duration::from_secs(60));
        c.get("x", "http://kds.test/x", &d).unwrap();
        assert_eq!(
            clock.sleeps(),
            vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4)
            ]
        );
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let clock = Arc::new(FakeClock::starting_now());
        let s = Script::new((0..5).map(|_| resp(503, None)).collect());
        let c = client(s, clock.clone()).with_policy(RetryPolicy {
            max_attempts: 5,
            ..RetryPolicy::default()
        });
        let d = Deadline::after(&*clock, Duration::from_secs(600));
        let e = c.get("x", "http://kds.test/x", &d).unwrap_err();
        assert!(
            matches!(e, KdsError::RetriesExhausted { attempts: 5, .. }),
            "{e}"
        );
        for (i, s) in clock.sleeps().iter().enumerate() {
            let nominal = Duration::from_secs(1 << i);
            assert!(*s >= nominal / 2 && *s <= nominal, "step {i}: {s:?}");
        }
    }

    #[test]
    fn backoff_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(5), Duration::from_secs(16));
        assert_eq!(p.backoff(6), Duration::from_secs(30));
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn retry_after_beyond_deadline_fails_fast() {
        let clock = Arc::new(FakeClock::starting_now());
        let s = Script::new(vec![resp(429, Some("3600")), resp(200, None)]);
        let c = client(s.clone(), clock.clone());
        let d = Deadline::after(&*clock, Duration::from_secs(60));
        let e = c.get("x", "http://kds.test/x", &d).unwrap_err();
        assert!(
            matches!(e, KdsError::RetryAfterBeyondDeadline { status: 429, .. }),
            "{e}"
        );
        assert!(clock.sleeps().is_empty());
        assert_eq!(s.seen().len(), 1);
    }

    #[test]
    fn deadline_bounds_backoff_and_request_timeouts() {
        let clock = Arc::new(FakeClock::starting_now());
        let s = Script::new((0..10).map(|_| resp(500, None)).collect());
        let c = client(s.clone(), clock.clone());
        let d = Deadline::after(&*clock, Duration::from_secs(5));
        let e = c.get("x", "http://kds.test/x", &d).unwrap_err();
        assert!(matches!(e, KdsError::DeadlineExceeded { .. }), "{e}");
        // Waited 1 s and 2 s; the 4 s step would pass the deadline.
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_secs(1), Duration::from_secs(2)]
        );
        // Each request's timeout was clamped to what the deadline left.
        let timeouts: Vec<Duration> = s.seen().into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            timeouts,
            vec![
                Duration::from_secs(5),
                Duration::from_secs(4),
                Duration::from_secs(2)
            ]
        );
    }

    #[test]
    fn timeout_at_the_deadline_is_final() {
        let clock = Arc::new(FakeClock::starting_now());
        let s = Script::new(vec![
            Err(TransportError::Timeout(Duration::from_secs(2))),
            resp(200, None),
        ]);
        let c = client(s.clone(), clock.clone());
        let d = Deadline::after(&*clock, Duration::from_secs(2));
        let e = c.get("x", "http://kds.test/x", &d).unwrap_err();
        assert!(
            matches!(e, KdsError::DeadlineExceeded { attempts: 1, .. }),
            "{e}"
        );
        assert_eq!(s.seen().len(), 1);
    }

    #[test]
    fn oversized_body_is_final() {
        let clock = Arc::new(FakeClock::starting_now());
        let s = Script::new(vec![
            Err(TransportError::BodyTooLarge { limit: 10 }),
            resp(200, None),
        ]);
        let c = client(s.clone(), clock.clone());
        let d = Deadline::after(&*clock, Duration::from_secs(60));
        let e = c.get("x", "http://kds.test/x", &d).unwrap_err();
        assert!(matches!(e, KdsError::BodyTooLarge { limit: 10, .. }), "{e}");
        assert_eq!(s.seen().len(), 1);
    }

    #[test]
    fn progress_events() {
        let clock = Arc::new(FakeClock::starting_now());
        let s = Script::new(vec![resp(429, Some("2")), resp(200, None)]);
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = events.clone();
        let c = client(s, clock.clone()).with_progress(Arc::new(move |p: &Progress| {
            ev.lock().unwrap().push(p.to_string())
        }));
        let d = Deadline::after(&*clock, Duration::from_secs(60));
        c.get("Milan VCEK", "http://kds.test/x", &d).unwrap();
        let ev = events.lock().unwrap().clone();
        assert_eq!(
            ev,
            vec![
                "Milan VCEK: fetching http://kds.test/x".to_owned(),
                "Milan VCEK: KDS answered HTTP 429 (Retry-After: 2); waiting 2.0s".to_owned(),
                "Milan VCEK: fetching http://kds.test/x (attempt 2)".to_owned(),
                "Milan VCEK: received 4 bytes".to_owned(),
            ]
        );
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost/kds"));
        assert!(is_loopback("http://[::1]:80"));
        assert!(!is_loopback("https://kdsintf.amd.com"));
        assert!(!is_loopback("http://10.0.0.1:80"));
    }
}
