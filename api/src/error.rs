//! One error type for the API, answered as `application/problem+json` (RFC 9457). Client
//! errors say what is wrong, naming the field; server errors are logged and never leak.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use zencall_core::domain::assistant::FieldError;
use zencall_core::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid API key.
    #[error("a valid API key is required (Authorization: Bearer zc_...)")]
    Unauthorized,
    /// 403: the key's scope does not allow this.
    #[error("this API key's scope does not allow this request; it needs the {0} scope")]
    Forbidden(&'static str),
    /// 404: no such resource (or another organisation's).
    #[error("{0} not found")]
    NotFound(String),
    /// 402: the organisation's subscription does not allow this; the message says why.
    #[error("{0}")]
    PaymentRequired(String),
    /// 409: the resource's state forbids this.
    #[error("{0}")]
    Conflict(String),
    /// 429: the key is over its quota; retry after this many seconds.
    #[error("too many requests for this API key; retry in {0} s")]
    TooManyRequests(u64),
    /// 413: the body is too large.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: fields are invalid.
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    /// 422 with a message only.
    #[error("{0}")]
    Unprocessable(String),
    /// 503: storage is unreachable.
    #[error("the service is temporarily unavailable; try again shortly")]
    Unavailable,
    /// 500: a bug or an unexpected failure.
    #[error("an internal error occurred")]
    Internal(String),
}

/// An error as every response answers it: `application/problem+json` (RFC 9457).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem: always `about:blank` (the status says it).
    #[serde(rename = "type")]
    #[schema(value_type = String, examples("about:blank"))]
    kind: &'static str,
    /// The status's reason phrase (`Not Found`).
    #[schema(value_type = String, examples("Unprocessable Entity"))]
    title: &'static str,
    /// The HTTP status, repeated.
    #[schema(minimum = 400, maximum = 599, examples(422))]
    status: u16,
    /// What is wrong, for a person to read.
    #[schema(examples("the request has invalid fields"))]
    detail: String,
    /// One entry per invalid field, when the body's fields are invalid (422).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<FieldError>)]
    errors: Option<Vec<FieldError>>,
}

impl Problem {
    /// The problem for `status`.
    fn new(status: StatusCode, detail: String, errors: Option<Vec<FieldError>>) -> Self {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            errors,
        }
    }

    /// The problem as a response (without the headers some statuses add).
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let json = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, json).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid(_) | ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::error!(error = %e, "database unavailable");
            ApiError::Unavailable
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let detail = self.to_string();
        let retry_after = match &self {
            ApiError::TooManyRequests(secs) => Some(*secs),
            _ => None,
        };
        let errors = match self {
            ApiError::Invalid(errors) => Some(errors),
            _ => None,
        };
        let mut response = Problem::new(status, detail, errors).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The answer for a path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("route".into())
}

/// Turns an error answered by a layer or by axum itself (405, 408, ...) into problem+json,
/// so every error an API client sees has the same shape (the board's HTML pages excepted).
pub async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    // The queue board's pages explain their errors in HTML themselves.
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| {
            ct.as_bytes().starts_with(b"application/problem+json")
                || ct.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed on this path".to_string(),
        StatusCode::REQUEST_TIMEOUT => "the request took too long and was abandoned".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_string(),
        other => other.canonical_reason().unwrap_or("error").to_string(),
    };
    let mut fresh = Problem::new(status, detail, None).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}
