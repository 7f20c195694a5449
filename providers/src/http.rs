//! HTTP plumbing shared by the adapters: building a client with the configured timeout,
//! building URLs whose variable path segments are checked and percent-encoded, and sorting a
//! failed exchange into a [`ProviderError`] (transport failures, 429 and 5xx are transient; 404 is
//! not found; refused credentials and other 4xx are permanent, with the provider's own message,
//! truncated and with every known secret blanked out).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::ProviderError;

/// Longest provider message kept in an error, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// Builds a client whose every request gives up after `timeout_ms` milliseconds.
pub(crate) fn client(
    provider: &'static str,
    timeout_ms: u64,
) -> Result<reqwest::Client, ProviderError> {
    if timeout_ms == 0 {
        return Err(permanent(
            provider,
            "the request timeout must be greater than 0 ms",
        ));
    }
    let timeout = Duration::from_millis(timeout_ms);
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("zencall/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            permanent(
                provider,
                &format!("cannot build the HTTP client: {}", e.without_url()),
            )
        })
}

/// Parses a configured base URL; it must be an absolute `http(s)` URL that can take a path.
pub(crate) fn base_url(provider: &'static str, text: &str) -> Result<Url, ProviderError> {
    let url = Url::parse(text.trim())
        .map_err(|e| permanent(provider, &format!("the base URL `{text}` is invalid: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(permanent(
            provider,
            &format!("the base URL `{text}` must be an http(s) URL"),
        ));
    }
    Ok(url)
}

/// `base` with `segments` appended to its path, each percent-encoded.
///
/// Segments that come from arguments must first go through [`segment`].
pub(crate) fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Checks that an identifier taken from an argument can stand as one path segment: not empty,
/// not `.` or `..`, and made only of ASCII letters, digits, `-`, `_` and `.`.
pub(crate) fn segment<'a>(
    provider: &'static str,
    what: &str,
    value: &'a str,
) -> Result<&'a str, ProviderError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(value)
    } else {
        Err(permanent(
            provider,
            &format!(
                "the {what} `{}` is not a valid identifier",
                truncate(value, 64)
            ),
        ))
    }
}

/// The error for a request that got no HTTP response: connection failure or timeout.
pub(crate) fn transport_error(provider: &'static str, error: reqwest::Error) -> ProviderError {
    let message = if error.is_timeout() {
        "the request timed out".to_string()
    } else if error.is_connect() {
        format!("cannot connect: {}", error.without_url())
    } else {
        format!("the request failed: {}", error.without_url())
    };
    ProviderError::Transient {
        provider,
        message,
        retry_after: None,
    }
}

/// A response whose status is not a success, read in full.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The delay asked for in `Retry-After`, if any.
    pub(crate) retry_after: Option<Duration>,
    /// The body, parsed as JSON when it is JSON.
    pub(crate) body: Option<serde_json::Value>,
    /// The body as text (lossy), for non-JSON bodies.
    pub(crate) text: String,
}

impl Failure {
    /// The provider's numeric error code (`code` in the JSON body), if any.
    pub(crate) fn code(&self) -> Option<i64> {
        self.body.as_ref()?.get("code")?.as_i64()
    }

    /// The provider's own message: `message` as a string or an array of strings, else `error`,
    /// else the raw body.
    pub(crate) fn provider_message(&self) -> Option<String> {
        if let Some(body) = &self.body {
            for key in ["message", "error", "detail"] {
                match body.get(key) {
                    Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                        return Some(s.trim().to_string());
                    }
                    Some(serde_json::Value::Array(items)) => {
                        let parts: Vec<&str> = items
                            .iter()
                            .filter_map(|v| v.as_str())
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .collect();
                        if !parts.is_empty() {
                            return Some(parts.join("; "));
                        }
                    }
                    _ => {}
                }
            }
        }
        let text = self.text.trim();
        (!text.is_empty()).then(|| text.to_string())
    }

    /// Sorts this failure into a [`ProviderError`]; `secrets` are blanked out of any message.
    pub(crate) fn into_error(self, provider: &'static str, secrets: &[&str]) -> ProviderError {
        let status = self.status;
        let detail = self
            .provider_message()
            .map(|m| truncate(&redact(&m, secrets), MAX_MESSAGE_CHARS));
        let with_detail = |lead: String| match &detail {
            Some(d) => format!("{lead}: {d}"),
            None => lead,
        };
        match status.as_u16() {
            429 => ProviderError::Transient {
                provider,
                message: with_detail("rate limited (HTTP 429)".to_string()),
                retry_after: self.retry_after,
            },
            408 => ProviderError::Transient {
                provider,
                message: with_detail("the provider timed out (HTTP 408)".to_string()),
                retry_after: self.retry_after,
            },
            500..=599 => ProviderError::Transient {
                provider,
                message: with_detail(format!("server error (HTTP {})", status.as_u16())),
                retry_after: self.retry_after,
            },
            404 => ProviderError::NotFound { provider },
            401 | 403 => ProviderError::Permanent {
                provider,
                message: with_detail(format!(
                    "the credentials were refused (HTTP {})",
                    status.as_u16()
                )),
            },
            code => ProviderError::Permanent {
                provider,
                message: with_detail(format!("request refused (HTTP {code})")),
            },
        }
    }
}

/// Returns `response` if its status is a success, else reads it into a [`Failure`].
pub(crate) async fn success(
    provider: &'static str,
    response: Response,
) -> Result<Response, Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    // A body that cannot be read still leaves the status to go by.
    let bytes = response.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    tracing::debug!(
        provider,
        status = status.as_u16(),
        "provider request failed"
    );
    Err(Failure {
        status,
        retry_after,
        body,
        text,
    })
}

/// Reads a successful response's body as JSON of type `T`.
pub(crate) async fn json<T: DeserializeOwned>(
    provider: &'static str,
    response: Response,
) -> Result<T, ProviderError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| transport_error(provider, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| permanent(provider, &format!("unexpected response: {e}")))
}

/// The `Retry-After` header as a delay: a number of seconds, or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

/// A permanent error with `message`.
pub(crate) fn permanent(provider: &'static str, message: &str) -> ProviderError {
    ProviderError::Permanent {
        provider,
        message: message.to_string(),
    }
}

/// `text` with every non-trivial secret replaced by `[redacted]`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    out
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_truncated_on_a_character_boundary() {
        let long = "é".repeat(400);
        let cut = truncate(&long, 300);
        assert_eq!(cut.chars().count(), 301);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short", 300), "short");
    }

    #[test]
    fn secrets_are_blanked_out_of_messages() {
        assert_eq!(
            redact("token sk-123456 refused", &["sk-123456", ""]),
            "token [redacted] refused"
        );
    }

    #[test]
    fn identifiers_with_path_characters_are_refused() {
        for bad in ["", ".", "..", "a/b", "a?b", "a#b", "a%2Fb", "a b"] {
            assert!(segment("test", "id", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            segment("test", "id", "PN0123abc-_.x").expect("valid"),
            "PN0123abc-_.x"
        );
    }

    #[test]
    fn joined_segments_are_appended_to_the_base_path() {
        let base = base_url("test", "https://api.example.com/v1/").expect("base");
        assert_eq!(
            join(&base, &["assistant", "abc"]).as_str(),
            "https://api.example.com/v1/assistant/abc"
        );
        let base = base_url("test", "http://127.0.0.1:9").expect("base");
        assert_eq!(
            join(&base, &["phone-number"]).as_str(),
            "http://127.0.0.1:9/phone-number"
        );
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, reqwest::header::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn vapi_style_message_arrays_are_joined() {
        let failure = Failure {
            status: StatusCode::BAD_REQUEST,
            retry_after: None,
            body: Some(
                serde_json::json!({"message": ["name must be shorter", "voice is invalid"]}),
            ),
            text: String::new(),
        };
        let err = failure.into_error("vapi", &[]);
        assert_eq!(
            err,
            ProviderError::Permanent {
                provider: "vapi",
                message: "request refused (HTTP 400): name must be shorter; voice is invalid"
                    .into()
            }
        );
    }
}
