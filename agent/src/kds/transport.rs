//! One HTTP GET, behind a trait so that the retry logic can run against a scripted transport
//! and the real one can be swapped (a proxy-aware or instrumented client).
//!
//! The real transport is `reqwest`'s blocking client with rustls. Every response body is read
//! through a byte limit: a KDS answer is a certificate of ~1.4 KiB, a chain of ~4.5 KiB or a
//! CRL of a few KiB, so anything far larger is an error, not something to buffer.

use std::io::Read;
use std::time::Duration;

use thiserror::Error;

/// A response as the client needs it: status, the `Retry-After` header and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// The raw `Retry-After` header value, if any.
    pub retry_after: Option<String>,
    /// The body, at most the limit the caller passed.
    pub body: Vec<u8>,
}

/// Why a GET produced no response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// The request did not complete within its timeout.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// No connection could be made (refused, unreachable, DNS, TLS handshake).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The body is larger than the caller's limit; it was not read to the end.
    #[error("response body exceeds the {limit}-byte limit")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Any other transport failure (reset connection, malformed HTTP).
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// Whether trying again can help: a timeout, a refused connection or a reset may be
    /// transient; an oversized body will be oversized again.
    pub fn is_transient(&self) -> bool {
        !matches!(self, TransportError::BodyTooLarge { .. })
    }
}

/// Performs one GET.
pub trait Transport: Send + Sync {
    /// GET `url`, giving up after `timeout` (connect, headers and body together) and refusing
    /// bodies longer than `max_body` bytes.
    fn get(
        &self,
        url: &str,
        timeout: Duration,
        max_body: usize,
    ) -> Result<HttpResponse, TransportError>;
}

/// The production transport: reqwest blocking + rustls.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::blocking::Client,
}

impl ReqwestTransport {
    /// A client with rustls, a bounded number of redirects (mirrors may redirect; KDS does
    /// not) and the environment's proxy settings.
    pub fn new() -> Result<ReqwestTransport, TransportError> {
        Self::build(reqwest::blocking::Client::builder())
    }

    /// Like [`ReqwestTransport::new`] but never using a proxy: for a local mirror or a test
    /// server on the loopback interface, where an `HTTP_PROXY` in the environment would
    /// otherwise intercept the request.
    pub fn without_proxy() -> Result<ReqwestTransport, TransportError> {
        Self::build(reqwest::blocking::Client::builder().no_proxy())
    }

    fn build(
        builder: reqwest::blocking::ClientBuilder,
    ) -> Result<ReqwestTransport, TransportError> {
        let client = builder
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("snp-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(ReqwestTransport { client })
    }
}

fn classify(e: &reqwest::Error, timeout: Duration) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout(timeout)
    } else if e.is_connect() {
        TransportError::Connect(error_chain(e))
    } else {
        TransportError::Other(error_chain(e))
    }
}

/// reqwest's top-level message is terse ("error sending request"); the cause chain says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    let mut depth = 0;
    while let Some(cause) = src {
        if depth >= 8 {
            break;
        }
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
        depth += 1;
    }
    s
}

impl Transport for ReqwestTransport {
    fn get(
        &self,
        url: &str,
        timeout: Duration,
        max_body: usize,
    ) -> Result<HttpResponse, TransportError> {
        let resp = self
            .client
            .get(url)
            .timeout(timeout)
            .send()
            .map_err(|e| classify(&e, timeout))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(len) = resp.content_length() {
            if len > max_body as u64 {
                return Err(TransportError::BodyTooLarge { limit: max_body });
            }
        }
        let limit = u64::try_from(max_body)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut body = Vec::new();
        resp.take(limit).read_to_end(&mut body).map_err(|e| {
            // reqwest surfaces a body timeout as an io::Error wrapping its own error.
            let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                || e.get_ref()
                    .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                    .is_some_and(reqwest::Error::is_timeout);
            if timed_out {
                TransportError::Timeout(timeout)
            } else {
                TransportError::Other(format!("reading the body: {}", error_chain(&e)))
            }
        })?;
        if body.len() > max_body {
            return Err(TransportError::BodyTooLarge { limit: max_body });
        }
        Ok(HttpResponse {
            status,
            retry_after,
            body,
        })
    }
}
