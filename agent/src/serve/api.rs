//! The JSON bodies of the endpoint and the mapping from failures to HTTP statuses.

use serde::{Deserialize, Serialize};

use crate::binding::{Challenge, MAX_NONCE_LEN, MAX_PUBLIC_KEY_LEN};

/// The body of `POST /attest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestRequest {
    /// The relying party's nonce, hex (16..=1024 bytes).
    pub nonce: String,
    /// Optionally a public key to bind as well, hex (the bytes are hashed as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

impl AttestRequest {
    /// A request for `challenge`.
    pub fn for_challenge(challenge: &Challenge) -> AttestRequest {
        AttestRequest {
            nonce: hex::encode(challenge.nonce()),
            public_key: challenge.public_key().map(hex::encode),
        }
    }

    /// Parse a request body into a challenge, with a message for the client on failure.
    pub(crate) fn parse(body: &[u8]) -> Result<Challenge, ApiError> {
        let req: AttestRequest = serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "body is not {{\"nonce\": \"<hex>\", \"public_key\": \"<hex>\"?}}: {e}"
            ))
        })?;
        // Check hex lengths before decoding so the error names the field and the bound.
        let nonce = decode_hex("nonce", &req.nonce, MAX_NONCE_LEN)?;
        let key = req
            .public_key
            .as_deref()
            .map(|k| decode_hex("public_key", k, MAX_PUBLIC_KEY_LEN))
            .transpose()?;
        Challenge::new(nonce, key).map_err(|e| ApiError::BadRequest(e.to_string()))
    }
}

fn decode_hex(field: &str, s: &str, max: usize) -> Result<Vec<u8>, ApiError> {
    if s.len() > max.saturating_mul(2) {
        return Err(ApiError::BadRequest(format!(
            "{field} is {} hex digits; at most {} bytes ({} digits) are accepted",
            s.len(),
            max,
            max * 2
        )));
    }
    hex::decode(s).map_err(|e| ApiError::BadRequest(format!("{field} is not valid hex: {e}")))
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code: `bad_request`, `not_found`, `method_not_allowed`, `request_timeout`,
    /// `payload_too_large`, `unsupported_media_type`, `backend_error`, `internal_error`,
    /// `busy`, `shutting_down`.
    pub error: String,
    /// What went wrong, for a human.
    pub message: String,
}

/// A failed request, carrying what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    BadRequest(String),
    NotFound(String),
    MethodNotAllowed { allow: &'static str },
    Timeout,
    TooLarge { max: usize },
    UnsupportedMediaType(String),
    Backend(String),
    Internal(String),
    Busy,
    ShuttingDown,
}

impl ApiError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Timeout => 408,
            ApiError::TooLarge { .. } => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Backend(_) | ApiError::Internal(_) => 500,
            ApiError::Busy | ApiError::ShuttingDown => 503,
        }
    }

    pub(crate) fn body(&self) -> ErrorBody {
        let (code, message) = match self {
            ApiError::BadRequest(m) => ("bad_request", m.clone()),
            ApiError::NotFound(path) => (
                "not_found",
                format!("no resource {path:?}; use POST /attest or GET /healthz"),
            ),
            ApiError::MethodNotAllowed { allow } => (
                "method_not_allowed",
                format!("this resource accepts {allow} only"),
            ),
            ApiError::Timeout => (
                "request_timeout",
                "the request body did not arrive in time".to_string(),
            ),
            ApiError::TooLarge { max } => (
                "payload_too_large",
                format!("the request body is larger than {max} bytes"),
            ),
            ApiError::UnsupportedMediaType(ct) => (
                "unsupported_media_type",
                format!("Content-Type {ct:?} is not accepted; send application/json"),
            ),
            ApiError::Backend(m) => ("backend_error", m.clone()),
            ApiError::Internal(m) => ("internal_error", m.clone()),
            ApiError::Busy => (
                "busy",
                "too many attestation requests are waiting; retry shortly".to_string(),
            ),
            ApiError::ShuttingDown => ("shutting_down", "the agent is shutting down".to_string()),
        };
        ErrorBody {
            error: code.to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_requests() {
        let c = AttestRequest::parse(br#"{"nonce": "000102030405060708090a0b0c0d0e0f"}"#).unwrap();
        assert_eq!(c.nonce(), (0u8..16).collect::<Vec<_>>());
        assert_eq!(c.public_key(), None);
        let c = AttestRequest::parse(
            br#"{"nonce": "000102030405060708090A0B0C0D0E0F", "public_key": "04ff"}"#,
        )
        .unwrap();
        assert_eq!(c.public_key(), Some(&[4u8, 0xff][..]));
        // Round trip through the client-side constructor.
        let body = serde_json::to_vec(&AttestRequest::for_challenge(&c)).unwrap();
        assert_eq!(AttestRequest::parse(&body).unwrap(), c);
    }

    #[test]
    fn refuses_bad_requests_with_reasons() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "body is not"),
            (b"{}", "missing field `nonce`"),
            (br#"{"nonce": "00"}"#, "between 16 and 1024"),
            (br#"{"nonce": "zz"}"#, "not valid hex"),
            (br#"{"nonce": "000"}"#, "not valid hex"),
            (
                br#"{"nonce": "000102030405060708090a0b0c0d0e0f", "extra": 1}"#,
                "unknown field",
            ),
            (
                br#"{"nonce": "000102030405060708090a0b0c0d0e0f", "public_key": ""}"#,
                "public key is 0 bytes",
            ),
            (br#"{"nonce": 5}"#, "invalid type"),
        ];
        for (body, want) in cases {
            match AttestRequest::parse(body) {
                Err(ApiError::BadRequest(m)) => assert!(m.contains(want), "{m:?} lacks {want:?}"),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        let long = format!(r#"{{"nonce": "{}"}}"#, "ab".repeat(MAX_NONCE_LEN + 1));
        match AttestRequest::parse(long.as_bytes()) {
            Err(ApiError::BadRequest(m)) => assert!(m.contains("at most 1024 bytes"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = AttestRequest::parse(&body);
        }

        #[test]
        fn parse_never_panics_on_jsonish_bodies(
            s in "\\{(\"(nonce|public_key|x)\": ?(\"[0-9a-fA-Fz]{0,80}\"|null|[0-9]{1,3}|\\[\\]), ?){0,3}\"nonce\": \"[0-9a-f]{0,70}\"\\}"
        ) {
            match AttestRequest::parse(s.as_bytes()) {
                Ok(c) => proptest::prop_assert!(c.nonce().len() >= 16),
                Err(e) => proptest::prop_assert_eq!(e.status(), 400),
            }
        }
    }

    #[test]
    fn a_maximal_request_fits_the_default_body_limit() {
        let c = Challenge::new(
            vec![0xAB; MAX_NONCE_LEN],
            Some(vec![0xCD; MAX_PUBLIC_KEY_LEN]),
        )
        .unwrap();
        let body = serde_json::to_vec_pretty(&AttestRequest::for_challenge(&c)).unwrap();
        assert!(
            body.len() <= crate::serve::Limits::default().max_body,
            "{}",
            body.len()
        );
        assert_eq!(AttestRequest::parse(&body).unwrap(), c);
    }

    #[test]
    fn statuses_and_codes() {
        let all = [
            (ApiError::BadRequest("x".into()), 400, "bad_request"),
            (ApiError::NotFound("/x".into()), 404, "not_found"),
            (
                ApiError::MethodNotAllowed { allow: "POST" },
                405,
                "method_not_allowed",
            ),
            (ApiError::Timeout, 408, "request_timeout"),
            (ApiError::TooLarge { max: 5 }, 413, "payload_too_large"),
            (
                ApiError::UnsupportedMediaType("text/plain".into()),
                415,
                "unsupported_media_type",
            ),
            (ApiError::Backend("b".into()), 500, "backend_error"),
            (ApiError::Internal("i".into()), 500, "internal_error"),
            (ApiError::Busy, 503, "busy"),
            (ApiError::ShuttingDown, 503, "shutting_down"),
        ];
        for (e, status, code) in all {
            assert_eq!(e.status(), status);
            assert_eq!(e.body().error, code);
            assert!(!e.body().message.is_empty());
        }
    }
}
