//! Extractors whose rejections are problem+json with a message naming what is wrong.
//!
//! None of them lets a NUL character through: PostgreSQL cannot store one in a text column
//! (nor compare one), so a request carrying one is refused here, on every backend alike, rather
//! than failing in the database.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Whether a URI part percent-encodes a NUL character (`%00`; a raw one is not valid HTTP).
fn encodes_nul(uri_part: &str) -> bool {
    uri_part.contains("%00")
}

/// Whether a JSON text has a NUL character in a string (`\u0000`; JSON allows no raw one).
pub fn json_has_nul(json: &[u8]) -> bool {
    let mut bytes = json.iter();
    while let Some(b) = bytes.next() {
        if *b == b'\\' && bytes.next() == Some(&b'u') {
            let hex: Vec<u8> = bytes.by_ref().take(4).copied().collect();
            if hex == b"0000" {
                return true;
            }
        }
    }
    false
}

/// A JSON body; type errors and unknown fields are 422 with the field's path.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(e.body_text())
                }
            })?;
        let parsed = axum::Json::<T>::from_request(
            Request::from_parts(parts, axum::body::Body::from(bytes.clone())),
            state,
        )
        .await;
        match parsed {
            Ok(axum::Json(_)) if json_has_nul(&bytes) => Err(ApiError::Unprocessable(
                "strings must not contain NUL characters (\\u0000)".into(),
            )),
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => ApiError::Unprocessable(e.body_text()),
                JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                    "the body must be JSON with Content-Type: application/json".into(),
                ),
                JsonRejection::BytesRejection(e)
                    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    ApiError::PayloadTooLarge
                }
                other => ApiError::BadRequest(other.body_text()),
            }),
        }
    }
}

/// Query parameters; bad ones are 400 naming the parameter.
pub struct Query<T>(pub T);

/// Path parameters; undecodable ones (not UTF-8, or a NUL character) are 400.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if encodes_nul(parts.uri.path()) {
            return Err(ApiError::BadRequest(
                "the path must not contain NUL characters (%00)".into(),
            ));
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(encodes_nul) {
            return Err(ApiError::BadRequest(
                "query parameters must not contain NUL characters (%00)".into(),
            ));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::BadRequest(e.body_text()))
            }
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_nul_in_a_json_string_is_found_and_nothing_else_is() {
        assert!(json_has_nul(br#"{"name": "a\u0000b"}"#));
        assert!(json_has_nul(br#"["\u0000"]"#));
        assert!(!json_has_nul(br#"{"name": "a\\u0000b"}"#));
        assert!(!json_has_nul(br#"{"name": "\u00e9\n\\"}"#));
        assert!(!json_has_nul(br#"{"name": "\u0001"}"#));
        assert!(!json_has_nul(b"{}"));
    }

    #[test]
    fn only_an_encoded_nul_is_refused_in_a_uri() {
        assert!(encodes_nul("/v1/assistants/%00"));
        assert!(encodes_nul("a=%00b"));
        assert!(!encodes_nul("a=%2500"));
        assert!(!encodes_nul("/v1/assistants/asst_100"));
    }
}
