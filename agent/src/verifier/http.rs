//! The HTTP side of the verifier: routing, negotiation, body limits and timeouts (the accept
//! loop, connection cap and drain are [`crate::server`]'s).

use std::sync::Arc;
use std::time::Instant;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderName, HeaderValue, ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE,
    RETRY_AFTER,
};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::oneshot;
use tracing::debug;

use super::accept::{acceptable, ResultForm};
use super::metrics::Metrics;
use super::pool::{Job, Jobs};
use super::{ErrorBody, Limits, VerifyRequest};
use crate::server::Reply;

/// Longest nonce accepted (as `verify --nonce`).
const MAX_NONCE: usize = 1024;

/// The header carrying the exit code `snp-agent verify` would return.
pub(crate) const EXIT_CODE_HEADER: &str = "x-snp-agent-exit-code";

pub(crate) struct State {
    pub(crate) jobs: Jobs,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limits: Limits,
    /// The form of a completed appraisal and its `Content-Type`.
    pub(crate) results: ResultForm,
    pub(crate) content_type: HeaderValue,
    pub(crate) info: serde_json::Value,
}

/// A refused request: HTTP status, stable code, message.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    allow: Option<&'static str>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }
    fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

/// Answer one request (the shared accept loop in [`crate::server`] calls this).
pub(crate) async fn handle(req: Request<Incoming>, st: &State) -> Reply {
    let started = Instant::now();
    let path: String = req.uri().path().chars().take(200).collect();
    let is_verify = path == "/verify";
    let reply = match route(req, st).await {
        Ok(r) => r,
        Err(refusal) => refuse(refusal),
    };
    st.metrics.observe_request(&path, reply.status().as_u16());
    if is_verify {
        st.metrics.observe_request_time(started.elapsed());
    }
    debug!(
        path,
        status = reply.status().as_u16(),
        us = started.elapsed().as_micros() as u64,
        "request"
    );
    reply
}

fn allow(req: &Request<Incoming>, methods: &[Method], allow: &'static str) -> Result<(), Refusal> {
    if methods.contains(req.method()) {
        Ok(())
    } else {
        Err(Refusal {
            allow: Some(allow),
            ..Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("use {allow}"),
            )
        })
    }
}

async fn route(req: Request<Incoming>, st: &State) -> Result<Reply, Refusal> {
    match req.uri().path() {
        "/verify" => {
            allow(&req, &[Method::POST], "POST")?;
            verify(req, st).await
        }
        "/healthz" => {
            allow(&req, &[Method::GET, Method::HEAD], "GET, HEAD")?;
            let body = serde_json::json!({"status": "ok", "service": st.info});
            Ok(reply(
                StatusCode::OK,
                "application/json",
                body.to_string().into_bytes(),
            ))
        }
        "/metrics" => {
            allow(&req, &[Method::GET], "GET")?;
            Ok(reply(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                st.metrics.encode().into_bytes(),
            ))
        }
        other => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no such path {:?}: POST /verify, GET /healthz, GET /metrics",
                other.chars().take(100).collect::<String>()
            ),
        )),
    }
}

/// The query parameters of `POST /verify`.
pub(crate) struct Query {
    nonce: Option<Vec<u8>>,
    policy: Option<String>,
    format: Option<String>,
    raw_evidence: bool,
}

/// Parse `nonce`, `policy`, `format` and `raw_evidence` from the query string; anything else is
/// refused so a misspelt parameter does not silently verify without the check it asked for.
pub(crate) fn parse_query(query: Option<&str>) -> Result<Query, String> {
    let (mut nonce, mut policy, mut format) = (None, None, None);
    let mut raw_evidence: Option<bool> = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let ok_chars = |s: &str| {
            s.len() <= 2 * MAX_NONCE
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        };
        if !ok_chars(v) {
            return Err(format!(
                "query parameter {:?}: only letters, digits, '-', '_' and '.' are accepted, at most {} characters",
                k.chars().take(40).collect::<String>(),
                2 * MAX_NONCE
            ));
        }
        let slot = match k {
            "nonce" => {
                let bytes = hex::decode(v).map_err(|e| format!("nonce is not hex: {e}"))?;
                if bytes.is_empty() || bytes.len() > MAX_NONCE {
                    return Err(format!(
                        "nonce is {} bytes; 1 to {MAX_NONCE} are accepted",
                        bytes.len()
                    ));
                }
                if nonce.replace(bytes).is_some() {
                    return Err("nonce given twice".into());
                }
                continue;
            }
            "raw_evidence" => {
                let on = match v {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err("raw_evidence takes 1, true, 0 or false".into()),
                };
                if raw_evidence.replace(on).is_some() {
                    return Err("raw_evidence given twice".into());
                }
                continue;
            }
            "policy" => &mut policy,
            "format" => &mut format,
            other => {
                return Err(format!(
                "unknown query parameter {:?}: nonce, policy, format and raw_evidence are accepted",
                other.chars().take(40).collect::<String>()
            ))
            }
        };
        if slot.replace(v.to_string()).is_some() {
            return Err(format!("{k} given twice"));
        }
    }
    Ok(Query {
        nonce,
        policy,
        format,
        raw_evidence: raw_evidence.unwrap_or(false),
    })
}

async fn verify(req: Request<Incoming>, st: &State) -> Result<Reply, Refusal> {
    let Query {
        nonce,
        policy,
        format,
        raw_evidence,
    } = parse_query(req.uri().query()).map_err(Refusal::bad_request)?;
    // Negotiate before reading the body: a client that cannot take the answer costs nothing.
    let accept = req
        .headers()
        .get_all(ACCEPT)
        .iter()
        .map(|v| v.to_str())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Refusal::bad_request("the Accept header is not visible ASCII"))?;
    if !acceptable(accept, st.results) {
        return Err(Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            match st.results {
                ResultForm::EarJwt => format!(
                    "this verifier issues signed results only ({}): accept that, application/jwt or */*",
                    st.results.content_type()
                ),
                ResultForm::EarJson => format!(
                    "this verifier issues unsigned EAR JSON ({}; start it with --ear-key for JWTs): accept that, application/json or */*",
                    st.results.content_type()
                ),
            },
        ));
    }
    let max = st.limits.max_body;
    if let Some(len) = req.headers().get(CONTENT_LENGTH) {
        let declared = len.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large(max));
        }
    }
    let collected = tokio::time::timeout(
        st.limits.body_timeout,
        Limited::new(req.into_body(), max).collect(),
    )
    .await;
    let body = match collected {
        Err(_) => {
            return Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the body did not arrive within {:?}",
                    st.limits.body_timeout
                ),
            ))
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large(max)),
        Ok(Err(e)) => {
            return Err(Refusal::bad_request(format!(
                "could not read the body: {e}"
            )))
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    if body.is_empty() {
        return Err(Refusal::bad_request(
            "empty body: POST the evidence (snp-agent JSON, bin, or CoCo JSON)",
        ));
    }
    let (tx, rx) = oneshot::channel();
    let job = Job {
        request: VerifyRequest {
            body: body.to_vec(),
            format,
            nonce,
            policy,
            raw_evidence,
        },
        reply: tx,
    };
    if st.jobs.offer(job).is_err() {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "every worker is busy and the queue is full: retry shortly (another replica may be free)",
        ));
    }
    let answer = rx.await.map_err(|_| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the verifier is shutting down",
        )
    })?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = reply(status, "application/json", answer.body);
    if status == StatusCode::OK {
        r.headers_mut()
            .insert(CONTENT_TYPE, st.content_type.clone());
    }
    r.headers_mut().insert(
        HeaderName::from_static(EXIT_CODE_HEADER),
        HeaderValue::from(u16::from(answer.exit_code)),
    );
    Ok(r)
}

fn too_large(max: usize) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("evidence larger than {max} bytes is not SEV-SNP evidence"),
    )
}

fn reply(status: StatusCode, content_type: &'static str, mut body: Vec<u8>) -> Reply {
    if body.last() != Some(&b'\n') {
        body.push(b'\n');
    }
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn refuse(r: Refusal) -> Reply {
    let body = serde_json::to_vec(&ErrorBody {
        error: r.code.to_string(),
        message: r.message,
    })
    .unwrap_or_else(|_| b"{}".to_vec());
    let mut out = reply(r.status, "application/json", body);
    if let Some(allow) = r.allow {
        out.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
    }
    if r.status == StatusCode::SERVICE_UNAVAILABLE {
        out.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{parse_query, MAX_NONCE};

    #[test]
    fn query_parameters_are_parsed_or_refused_by_name() {
        let q = parse_query(Some("nonce=00ff&policy=prod&format=bin&raw_evidence=1")).unwrap();
        assert_eq!(q.nonce.as_deref(), Some(&[0x00, 0xff][..]));
        assert_eq!(q.policy.as_deref(), Some("prod"));
        assert_eq!(q.format.as_deref(), Some("bin"));
        assert!(q.raw_evidence);
        let q = parse_query(None).unwrap();
        assert!(q.nonce.is_none() && q.policy.is_none() && q.format.is_none());
        assert!(!q.raw_evidence, "the evidence is left out unless asked for");
        for (v, on) in [("1", true), ("true", true), ("0", false), ("false", false)] {
            let q = parse_query(Some(&format!("raw_evidence={v}"))).unwrap();
            assert_eq!(q.raw_evidence, on, "{v}");
        }
        for (query, names) in [
            ("raw_evidence=yes", "raw_evidence takes"),
            ("raw_evidence", "raw_evidence takes"),
            ("raw_evidence=1&raw_evidence=0", "raw_evidence given twice"),
            ("policy=a&policy=b", "policy given twice"),
            ("nonce=0g", "nonce is not hex"),
            ("nonce=", "nonce is 0 bytes"),
            ("rawevidence=1", "unknown query parameter \"rawevidence\""),
            ("policy=a%2Fb", "only letters, digits"),
        ] {
            let err = parse_query(Some(query))
                .err()
                .unwrap_or_else(|| panic!("{query}"));
            assert!(err.contains(names), "{query}: {err}");
        }
        let long = "00".repeat(MAX_NONCE + 1);
        assert!(parse_query(Some(&format!("nonce={long}"))).is_err());
    }

    proptest::proptest! {
        /// Any query string is parsed or refused with a message; none panics.
        #[test]
        fn any_query_is_parsed_or_refused(q in "[a-z_=&%0-9.-]{0,80}") {
            if let Err(e) = parse_query(Some(&q)) {
                proptest::prop_assert!(!e.is_empty());
            }
        }
    }
}
