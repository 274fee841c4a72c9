//! The HTTP side of `serve`: routing, body limits and timeouts (the accept loop, connection
//! cap and drain are [`crate::server`]'s).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::oneshot;
use tracing::info;

use super::api::{ApiError, AttestRequest};
use super::worker::{Health, Job, Jobs};
use super::{Limits, Stats};
use crate::server::Reply;

/// What every handler needs.
pub(crate) struct State {
    pub(crate) jobs: Jobs,
    pub(crate) health: Health,
    pub(crate) stats: Arc<Stats>,
    pub(crate) limits: Limits,
    pub(crate) backend: &'static str,
    pub(crate) vmpl: u32,
    /// The binding profile challenges are bound under (`serve --binding`).
    pub(crate) binding: crate::binding::Profile,
}

/// Answer one request (the shared accept loop in [`crate::server`] calls this).
pub(crate) async fn handle(req: Request<Incoming>, st: &State, peer: SocketAddr) -> Reply {
    let started = Instant::now();
    let method = req.method().clone();
    let path: String = req.uri().path().chars().take(200).collect();
    let reply = match route(req, st).await {
        Ok(r) => r,
        Err(e) => {
            let counter = match &e {
                ApiError::Busy | ApiError::ShuttingDown => &st.stats.busy,
                ApiError::Backend(_) | ApiError::Internal(_) => &st.stats.backend_errors,
                _ => &st.stats.client_errors,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            error_reply(&e)
        }
    };
    st.stats.requests.fetch_add(1, Ordering::Relaxed);
    info!(
        %peer,
        %method,
        path,
        status = reply.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    reply
}

async fn route(req: Request<Incoming>, st: &State) -> Result<Reply, ApiError> {
    match req.uri().path() {
        "/attest" => {
            if req.method() != Method::POST {
                return Err(ApiError::MethodNotAllowed { allow: "POST" });
            }
            attest(req, st).await
        }
        "/healthz" => {
            if req.method() != Method::GET && req.method() != Method::HEAD {
                return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
            }
            Ok(healthz(st))
        }
        other => Err(ApiError::NotFound(other.chars().take(100).collect())),
    }
}

async fn attest(req: Request<Incoming>, st: &State) -> Result<Reply, ApiError> {
    if let Some(ct) = req.headers().get(CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("<not text>");
        let media = ct.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::UnsupportedMediaType(
                ct.chars().take(100).collect(),
            ));
        }
    }
    let max = st.limits.max_body;
    // Refuse a declared oversize body before reading a byte of it; the connection is closed
    // after the answer (no keep-alive), so the unread body costs nothing.
    if let Some(len) = req.headers().get(CONTENT_LENGTH) {
        let declared = len.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(ApiError::TooLarge { max });
        }
    }
    let collected = tokio::time::timeout(
        st.limits.body_timeout,
        Limited::new(req.into_body(), max).collect(),
    )
    .await;
    let body = match collected {
        Err(_) => return Err(ApiError::Timeout),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(ApiError::TooLarge { max })
        }
        Ok(Err(e)) => {
            return Err(ApiError::BadRequest(format!(
                "could not read the request body: {e}"
            )))
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    let challenge = AttestRequest::parse(&body)?
        .with_profile(st.binding)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (reply, answer) = oneshot::channel();
    st.jobs.offer(Job { challenge, reply })?;
    match answer.await {
        Ok(Ok(evidence)) => {
            st.stats.attested.fetch_add(1, Ordering::Relaxed);
            Ok(json_reply(StatusCode::OK, evidence))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ApiError::Internal(
            "the worker stopped before answering; see the agent's log".into(),
        )),
    }
}

fn healthz(st: &State) -> Reply {
    let unusable = st.health.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let body = serde_json::json!({
        "status": if unusable.is_some() { "unusable" } else { "ok" },
        "reason": unusable,
        "backend": st.backend,
        "vmpl": st.vmpl,
        "workers": st.limits.workers,
        "queue": st.limits.queue,
        "stats": st.stats.snapshot(),
    });
    let status = if unusable.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    json_reply(status, body.to_string().into_bytes())
}

fn json_reply(status: StatusCode, mut body: Vec<u8>) -> Reply {
    if body.last() != Some(&b'\n') {
        body.push(b'\n');
    }
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error_reply(e: &ApiError) -> Reply {
    let body = serde_json::to_vec(&e.body()).unwrap_or_else(|_| b"{}".to_vec());
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_reply(status, body);
    match e {
        ApiError::MethodNotAllowed { allow } => {
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        ApiError::Busy => {
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    r
}
