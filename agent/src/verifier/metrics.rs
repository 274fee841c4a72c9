//! Prometheus metrics of the verifier, through the `prometheus-client` crate (the Prometheus
//! project's Rust client), exposed at `/metrics` in the OpenMetrics text format.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use snp_certs::cache::ChainCache;

use super::Verdict;

type Labels = [(&'static str, String); 2];

/// Every metric the service exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `snp_verifier_http_requests_total{path, status}`.
    requests: Family<Labels, Counter>,
    /// `snp_verifier_verifications_total{verdict}`.
    verdicts: Family<[(&'static str, &'static str); 1], Counter>,
    /// `snp_verifier_verification_seconds`: time on a worker.
    verification: Histogram,
    /// `snp_verifier_request_seconds`: time from the request's arrival to its answer
    /// (queueing included), for `POST /verify`.
    request: Histogram,
    /// `snp_verifier_queued`: jobs waiting for a worker.
    pub(crate) queued: Gauge,
    /// `snp_verifier_in_flight`: jobs being verified.
    pub(crate) in_flight: Gauge,
    /// `snp_verifier_abandoned_total`: jobs dropped because the client left while queued.
    pub(crate) abandoned: Counter,
    /// `snp_verifier_chain_cache_*`: the process-wide certificate cache, read at scrape time.
    cache_hits: Gauge,
    cache_misses: Gauge,
    cache_certificates: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("snp_verifier");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by path and status",
            requests.clone(),
        );
        let verdicts = Family::<[(&'static str, &'static str); 1], Counter>::default();
        registry.register(
            "verifications",
            "Evidence appraised, by verdict (affirming, contraindicated, error)",
            verdicts.clone(),
        );
        // 50 us .. ~1.6 s
        let verification = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "verification_seconds",
            "Time a worker spent appraising one piece of evidence",
            verification.clone(),
        );
        let request = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "request_seconds",
            "Time from a POST /verify's arrival to its answer, queueing included",
            request.clone(),
        );
        let queued = Gauge::default();
        registry.register("queued", "Jobs waiting for a worker", queued.clone());
        let in_flight = Gauge::default();
        registry.register("in_flight", "Jobs being verified", in_flight.clone());
        let abandoned = Counter::default();
        registry.register(
            "abandoned",
            "Jobs dropped because the client had gone away",
            abandoned.clone(),
        );
        let cache_hits = Gauge::default();
        registry.register(
            "chain_cache_hits",
            "Certificate parses and signature checks answered from the cache (since start)",
            cache_hits.clone(),
        );
        let cache_misses = Gauge::default();
        registry.register(
            "chain_cache_misses",
            "Certificate parses and signature checks that had to be computed (since start)",
            cache_misses.clone(),
        );
        let cache_certificates = Gauge::default();
        registry.register(
            "chain_cache_certificates",
            "VCEK/VLEK certificates held in the cache",
            cache_certificates.clone(),
        );
        Metrics {
            registry,
            requests,
            verdicts,
            verification,
            request,
            queued,
            in_flight,
            abandoned,
            cache_hits,
            cache_misses,
            cache_certificates,
        }
    }

    /// Count an answered HTTP request.
    pub(crate) fn observe_request(&self, path: &str, status: u16) {
        let path = match path {
            "/verify" | "/healthz" | "/metrics" => path.to_string(),
            _ => "other".to_string(),
        };
        self.requests
            .get_or_create(&[("path", path), ("status", status.to_string())])
            .inc();
    }

    /// Record a `POST /verify` end to end.
    pub(crate) fn observe_request_time(&self, elapsed: Duration) {
        self.request.observe(elapsed.as_secs_f64());
    }

    /// Record one appraisal.
    pub(crate) fn observe_verification(&self, verdict: Verdict, elapsed: Duration) {
        self.verdicts
            .get_or_create(&[("verdict", verdict.as_str())])
            .inc();
        self.verification.observe(elapsed.as_secs_f64());
    }

    /// Appraisals with `verdict` so far.
    pub fn verdicts(&self, verdict: Verdict) -> u64 {
        self.verdicts
            .get_or_create(&[("verdict", verdict.as_str())])
            .get()
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let stats = ChainCache::global().stats();
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.cache_hits.set(clamp(stats.hits));
        self.cache_misses.set(clamp(stats.misses));
        self.cache_certificates
            .set(i64::try_from(stats.certificates).unwrap_or(i64::MAX));
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out = "# encoding the metrics failed\n".into();
        }
        out
    }
}
