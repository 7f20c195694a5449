//! The HTTP side of our OUTBOUND webhooks: checking the URL a customer registers, and POSTing a
//! signed event to it (the signature is [`crate::signatures::zencall`]'s).
//!
//! Customer URLs are untrusted, so the sender guards against server-side request forgery:
//!
//! - only `https` URLs (and `http` when [`SenderSettings::allow_plain_http`]), with a host, no
//!   user name or password, no fragment, at most [`MAX_URL_LEN`] characters;
//! - no address that [`is_allowed`] refuses (loopback, private networks, link-local and the cloud
//!   metadata service, ...), unless [`SenderSettings::allow_private_networks`]. The check is made
//!   on the addresses actually connected to, by a DNS resolver installed in the HTTP client that
//!   drops refused addresses, so a name that resolved to a public address when the endpoint was
//!   registered and resolves to a private one now (DNS rebinding) is still refused. IP literals,
//!   which never reach a resolver, are checked before sending;
//! - no redirect is followed (a 3xx is the answer), no proxy from the environment is used (it
//!   would hide the real destination from the resolver), and at most
//!   [`MAX_RESPONSE_BODY_BYTES`] of the answer are read.
//!
//! Error messages never carry the URL's query string, which may hold a customer's token.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use zencall_core::domain::public_address::is_allowed;

use crate::{ProviderError, http};

/// The provider name used in [`ProviderError`]s.
const PROVIDER: &str = "webhooks";

/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = "Zencall-Webhooks/1.0";

/// Longest URL accepted, in characters.
pub const MAX_URL_LEN: usize = 2048;

/// Most bytes of a response body kept (and read).
pub const MAX_RESPONSE_BODY_BYTES: usize = 2048;

/// Settings of the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderSettings {
    /// Time allowed for a whole delivery (connect, send, answer), in milliseconds; must be > 0.
    pub timeout_ms: u64,
    /// Allows loopback, private and other reserved addresses (development and tests only).
    pub allow_private_networks: bool,
    /// Allows `http://` URLs besides `https://` (development and tests only).
    pub allow_plain_http: bool,
}

/// What the receiving server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryResponse {
    /// The HTTP status (a 3xx is returned as is: redirects are not followed).
    pub status: u16,
    /// The first [`MAX_RESPONSE_BODY_BYTES`] bytes of the body at most, as lossy UTF-8 cut on a
    /// character boundary (what could be read, if reading the body failed midway).
    pub body: String,
    /// Time from sending the request to the end of reading the body, in milliseconds.
    pub duration_ms: u64,
}

/// Why no answer was obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryFailure {
    /// The URL is not allowed (bad scheme, private address, credentials in the URL...): a reason
    /// a customer can read; retrying will not help.
    #[error("refused: {0}")]
    Refused(String),
    /// No answer came (DNS failure, connection refused, timeout, TLS error): a reason a customer
    /// can read, without secrets; retrying may help.
    #[error("delivery failed: {0}")]
    Transport(String),
}

/// Checks customer URLs and POSTs webhook events to them; cheap to clone.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    /// The client, with the guarded resolver, no redirects and no proxy.
    client: reqwest::Client,
    /// The settings it was built with.
    settings: SenderSettings,
}

impl WebhookSender {
    /// Builds a sender; fails when `timeout_ms` is 0 or the HTTP client cannot be built (the
    /// rustls crypto provider must be installed).
    pub fn new(settings: &SenderSettings) -> Result<Self, ProviderError> {
        if settings.timeout_ms == 0 {
            return Err(http::permanent(
                PROVIDER,
                "the webhook timeout must be greater than 0 ms",
            ));
        }
        let timeout = Duration::from_millis(settings.timeout_ms);
        let resolver = GuardedResolver {
            allow_private_networks: settings.allow_private_networks,
        };
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .https_only(!settings.allow_plain_http)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| {
                http::permanent(
                    PROVIDER,
                    &format!("cannot build the HTTP client: {}", e.without_url()),
                )
            })?;
        Ok(Self {
            client,
            settings: *settings,
        })
    }

    /// Checks a URL as a customer gives it (used by the API when an endpoint is registered):
    /// absolute, scheme `https` (or `http` when allowed), a host, no user name or password, no
    /// fragment, at most [`MAX_URL_LEN`] characters; then resolves the host and refuses it when it
    /// does not resolve or when ANY of its addresses is private or reserved (unless allowed).
    ///
    /// The reason names the problem, e.g. "the host resolves to 10.0.0.5, a private or reserved
    /// address". Only a lookup that takes longer than the timeout is a
    /// [`DeliveryFailure::Transport`].
    pub async fn check_url(&self, url: &str) -> Result<Url, DeliveryFailure> {
        let url = self.check_shape(url)?;
        if let Some(ip) = literal_ip(&url) {
            self.check_literal(ip)?;
            return Ok(url);
        }
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        let addresses: Vec<SocketAddr> =
            match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
                Ok(Ok(addresses)) => addresses.collect(),
                Ok(Err(_)) => Vec::new(),
                Err(_) => {
                    return Err(DeliveryFailure::Transport(format!(
                        "the host {host} could not be resolved within {} ms",
                        self.settings.timeout_ms
                    )));
                }
            };
        if addresses.is_empty() {
            return Err(DeliveryFailure::Refused(format!(
                "the host {host} does not resolve to any address"
            )));
        }
        if let Some(refused) = addresses
            .iter()
            .map(SocketAddr::ip)
            .find(|ip| !is_allowed(*ip, self.settings.allow_private_networks))
        {
            return Err(DeliveryFailure::Refused(format!(
                "the host resolves to {refused}, a private or reserved address"
            )));
        }
        Ok(url)
    }

    /// POSTs `body` (JSON) to `url` with `headers` (extra headers, e.g. the signature; they
    /// replace the defaults of the same name), no redirects followed (a 3xx is returned as the
    /// response), and answers what the server said.
    ///
    /// The URL goes through the same checks as [`check_url`](Self::check_url); its addresses are
    /// checked when connecting, so a refused address is [`DeliveryFailure::Refused`] even when the
    /// name resolved elsewhere at registration.
    pub async fn post(
        &self,
        url: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> Result<DeliveryResponse, DeliveryFailure> {
        let url = self.check_shape(url)?;
        if let Some(ip) = literal_ip(&url) {
            self.check_literal(ip)?;
        }
        let headers = request_headers(headers)?;
        let started = Instant::now();
        let mut response = self
            .client
            .post(url)
            .headers(headers)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| self.failure(e))?;
        let status = response.status().as_u16();
        let mut bytes: Vec<u8> = Vec::new();
        let mut cut = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BODY_BYTES - bytes.len();
                    if chunk.len() > room {
                        bytes.extend_from_slice(&chunk[..room]);
                        cut = true;
                        break;
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    // The status is the answer; keep what could be read of the body.
                    tracing::debug!(
                        status,
                        error = %e.without_url(),
                        "reading a webhook response body failed"
                    );
                    break;
                }
            }
        }
        Ok(DeliveryResponse {
            status,
            body: lossy_prefix(&bytes, MAX_RESPONSE_BODY_BYTES, cut),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// The checks of a URL that need no DNS: length, syntax, scheme, host, credentials, fragment.
    fn check_shape(&self, text: &str) -> Result<Url, DeliveryFailure> {
        let too_long = || {
            DeliveryFailure::Refused(format!(
                "the URL is too long (at most {MAX_URL_LEN} characters)"
            ))
        };
        if text.len() > MAX_URL_LEN {
            return Err(too_long());
        }
        let url = Url::parse(text)
            .map_err(|e| DeliveryFailure::Refused(format!("the URL is not valid: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.settings.allow_plain_http => {}
            "http" => {
                return Err(DeliveryFailure::Refused(
                    "the URL must use https, not http".to_string(),
                ));
            }
            other => {
                let allowed = if self.settings.allow_plain_http {
                    "https or http"
                } else {
                    "https"
                };
                return Err(DeliveryFailure::Refused(format!(
                    "the scheme {other} is not allowed; the URL must use {allowed}"
                )));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(DeliveryFailure::Refused("the URL has no host".to_string()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DeliveryFailure::Refused(
                "the URL must not contain a user name or password".to_string(),
            ));
        }
        if url.fragment().is_some() {
            return Err(DeliveryFailure::Refused(
                "the URL must not contain a fragment (a part after #)".to_string(),
            ));
        }
        if url.as_str().len() > MAX_URL_LEN {
            return Err(too_long());
        }
        Ok(url)
    }

    /// Refuses an IP-literal host that is not allowed.
    fn check_literal(&self, ip: IpAddr) -> Result<(), DeliveryFailure> {
        if is_allowed(ip, self.settings.allow_private_networks) {
            Ok(())
        } else {
            Err(DeliveryFailure::Refused(format!(
                "the host {ip} is a private or reserved address"
            )))
        }
    }

    /// Sorts a failed request: refused by the resolver, timed out, or another transport failure.
    fn failure(&self, error: reqwest::Error) -> DeliveryFailure {
        if let Some(blocked) = find_source::<Blocked>(&error) {
            return DeliveryFailure::Refused(blocked.0.clone());
        }
        let error = error.without_url();
        if error.is_timeout() {
            DeliveryFailure::Transport(format!("no answer within {} ms", self.settings.timeout_ms))
        } else if error.is_connect() {
            DeliveryFailure::Transport(format!("cannot connect: {}", causes(&error)))
        } else {
            DeliveryFailure::Transport(format!("the request failed: {}", causes(&error)))
        }
    }
}

/// The headers of a delivery: `Content-Type: application/json`, then `extra` (which may replace
/// it; a name given twice is sent twice).
fn request_headers(extra: &[(&str, String)]) -> Result<HeaderMap, DeliveryFailure> {
    let mut headers = HeaderMap::new();
    for (name, value) in extra {
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            DeliveryFailure::Refused(format!("{name:?} is not a valid header name"))
        })?;
        // The value may be a secret: it is not repeated in the error.
        let header_value = HeaderValue::from_str(value).map_err(|_| {
            DeliveryFailure::Refused(format!("the value of the header {name} is not valid"))
        })?;
        headers.append(header_name, header_value);
    }
    headers
        .entry(CONTENT_TYPE)
        .or_insert(HeaderValue::from_static("application/json"));
    Ok(headers)
}

/// The address of a URL whose host is an IP literal (`1.2.3.4`, `[::1]`), which reqwest connects
/// to without asking the resolver.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    if let Some(inside) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    // The URL parser has already rewritten every IPv4 form (`0x7f.1`, `2130706433`) as dotted
    // decimal.
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A resolution refused because the name resolves only to addresses that are not allowed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Blocked(String);

/// The DNS resolver of the sender's client: resolves with the system resolver and drops the
/// addresses that are not allowed, so that only allowed addresses are ever connected to.
#[derive(Debug, Clone, Copy)]
struct GuardedResolver {
    /// Whether private and reserved addresses are allowed.
    allow_private_networks: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(resolve_allowed(
            name.as_str().to_string(),
            self.allow_private_networks,
        ))
    }
}

/// The allowed addresses of `host`, or an error when it resolves to none ([`Blocked`] when it
/// resolves only to refused ones).
async fn resolve_allowed(
    host: String,
    allow_private_networks: bool,
) -> Result<Addrs, Box<dyn std::error::Error + Send + Sync>> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
        .await
        .map_err(|e| format!("cannot resolve the host {host}: {e}"))?
        .collect();
    if found.is_empty() {
        return Err(format!("the host {host} does not resolve to any address").into());
    }
    let allowed: Vec<SocketAddr> = found
        .into_iter()
        .filter(|address| is_allowed(address.ip(), allow_private_networks))
        .collect();
    if allowed.is_empty() {
        return Err(Box::new(Blocked(format!(
            "the host {host} resolves only to private or reserved addresses"
        ))));
    }
    Ok(Box::new(allowed.into_iter()))
}

/// The first error of type `E` in the chain of `error`'s sources.
fn find_source<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The sources of `error` (whose own message, "error sending request", says nothing), joined
/// with `: `, leaving out hyper's generic "client error (...)" wrappers and repeated messages.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = error.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !text.starts_with("client error (") && parts.last() != Some(&text) {
            parts.push(text);
        }
        current = e.source();
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

/// The longest prefix of `bytes` that fits in `max` bytes as lossy UTF-8 (each invalid sequence
/// becomes U+FFFD), cut on a character boundary; when `cut` (the body went on), an incomplete
/// character at the end is dropped rather than replaced.
fn lossy_prefix(bytes: &[u8], max: usize, cut: bool) -> String {
    let mut out = String::with_capacity(bytes.len().min(max));
    let mut chunks = bytes.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        for ch in chunk.valid().chars() {
            if out.len() + ch.len_utf8() > max {
                return out;
            }
            out.push(ch);
        }
        if !chunk.invalid().is_empty() {
            if cut && chunks.peek().is_none() {
                break;
            }
            if out.len() + char::REPLACEMENT_CHARACTER.len_utf8() > max {
                return out;
            }
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::signatures::zencall;
    use wiremock::matchers::{body_bytes, header, headers, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn sender_with(timeout_ms: u64, allow_private: bool, allow_http: bool) -> WebhookSender {
        let _ = rustls::crypto::ring::default_provider().install_default();
        WebhookSender::new(&SenderSettings {
            timeout_ms,
            allow_private_networks: allow_private,
            allow_plain_http: allow_http,
        })
        .unwrap()
    }

    /// A sender for a local test server: plain http allowed, private networks as given.
    fn sender(allow_private: bool) -> WebhookSender {
        sender_with(5_000, allow_private, true)
    }

    fn refused(result: Result<impl std::fmt::Debug, DeliveryFailure>) -> String {
        match result {
            Err(DeliveryFailure::Refused(reason)) => reason,
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    const BODY: &[u8] = br#"{"type":"call.completed","id":"evt_1"}"#;

    #[tokio::test]
    async fn a_post_reaches_the_server_with_the_body_and_headers() {
        let server = MockServer::start().await;
        let secret: &[u8] = b"zc_whsec_endpoint_secret";
        let now = chrono::Utc::now().timestamp();
        let signature = zencall::sign(secret, now, BODY);
        Mock::given(method("POST"))
            .and(path("/hooks/zencall"))
            .and(query_param("token", "s3cret"))
            .and(header("content-type", "application/json"))
            .and(header("user-agent", USER_AGENT))
            // wiremock splits header values on commas before comparing them.
            .and(headers(
                "zencall-signature",
                signature.split(',').collect::<Vec<_>>(),
            ))
            .and(body_bytes(BODY))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1)
            .mount(&server)
            .await;
        let url = format!("{}/hooks/zencall?token=s3cret", server.uri());
        let response = sender(true)
            .post(&url, BODY, &[(zencall::HEADER, signature.clone())])
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, "ok");
        assert!(response.duration_ms < 5_000);

        // What the customer receives verifies as the module documentation says.
        let received = server.received_requests().await.unwrap();
        let request = &received[0];
        let header = request
            .headers
            .get(zencall::HEADER)
            .and_then(|v| v.to_str().ok());
        assert_eq!(header, Some(signature.as_str()));
        assert_eq!(
            zencall::verify(header, &request.body, &[secret], now),
            Ok(())
        );
    }

    #[tokio::test]
    async fn a_loopback_literal_is_refused_unless_private_networks_are_allowed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let url = format!("{}/hook", server.uri());
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let reason = refused(sender(false).post(&url, BODY, &[]).await);
        assert!(reason.contains("127.0.0.1"), "{reason}");
        assert!(reason.contains("private or reserved"), "{reason}");
        let reason = refused(sender(false).check_url(&url).await);
        assert!(reason.contains("private or reserved"), "{reason}");
    }

    #[tokio::test]
    async fn localhost_is_refused_by_the_resolver() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let port = server.address().port();
        let url = format!("http://localhost:{port}/hook?token=s3cret");
        let reason = refused(sender(false).post(&url, BODY, &[]).await);
        assert!(reason.contains("private or reserved"), "{reason}");
        assert!(!reason.contains("s3cret"), "{reason}");
        let reason = refused(sender(false).check_url(&url).await);
        assert!(reason.contains("private or reserved"), "{reason}");
    }

    #[tokio::test]
    async fn localhost_is_reached_when_private_networks_are_allowed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let url = format!("http://localhost:{}/hook", server.address().port());
        let sender = sender(true);
        assert_eq!(sender.check_url(&url).await.unwrap().as_str(), url);
        assert_eq!(sender.post(&url, BODY, &[]).await.unwrap().status, 204);
    }

    #[tokio::test]
    async fn an_ipv6_loopback_literal_is_refused() {
        let reason = refused(sender(false).post("http://[::1]:9/hook", BODY, &[]).await);
        assert!(reason.contains("::1"), "{reason}");
        assert!(reason.contains("private or reserved"), "{reason}");
        let reason = refused(
            sender(false)
                .post("https://[::ffff:127.0.0.1]/hook", BODY, &[])
                .await,
        );
        assert!(reason.contains("private or reserved"), "{reason}");
    }

    #[tokio::test]
    async fn a_redirect_is_returned_and_not_followed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hook"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("{}/elsewhere", server.uri())),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(path("/elsewhere"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let response = sender(true)
            .post(&format!("{}/hook", server.uri()), BODY, &[])
            .await
            .unwrap();
        assert_eq!(response.status, 302);
    }

    #[tokio::test]
    async fn a_large_body_is_cut_to_the_limit_on_a_character_boundary() {
        let server = MockServer::start().await;
        // 1 + 2 × 5000 bytes: the limit falls in the middle of an "é".
        let large = format!("a{}", "é".repeat(5_000));
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500).set_body_string(large))
            .mount(&server)
            .await;
        let response = sender(true)
            .post(&format!("{}/hook", server.uri()), BODY, &[])
            .await
            .unwrap();
        assert_eq!(response.status, 500);
        assert!(response.body.len() <= MAX_RESPONSE_BODY_BYTES);
        assert_eq!(response.body.len(), MAX_RESPONSE_BODY_BYTES - 1);
        assert!(response.body.starts_with("aé"));
        assert!(response.body.ends_with('é'));
        assert!(!response.body.contains(char::REPLACEMENT_CHARACTER));
    }

    #[tokio::test]
    async fn a_server_slower_than_the_timeout_is_a_transport_failure() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let started = Instant::now();
        let result = sender_with(300, true, true)
            .post(&format!("{}/hook?token=s3cret", server.uri()), BODY, &[])
            .await;
        match result {
            Err(DeliveryFailure::Transport(reason)) => {
                assert!(reason.contains("300 ms"), "{reason}");
                assert!(!reason.contains("s3cret"), "{reason}");
            }
            other => panic!("expected Transport, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn a_closed_port_is_a_transport_failure_without_the_query() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let result = sender(true)
            .post(
                &format!("http://127.0.0.1:{port}/hook?token=s3cret"),
                BODY,
                &[],
            )
            .await;
        match result {
            Err(DeliveryFailure::Transport(reason)) => {
                assert!(reason.starts_with("cannot connect"), "{reason}");
                assert!(!reason.contains("s3cret"), "{reason}");
            }
            other => panic!("expected Transport, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn check_url_refuses_bad_urls_and_names_the_problem() {
        let sender = sender_with(5_000, false, false);
        let cases: [(&str, &str); 8] = [
            ("ftp://example.com/hook", "scheme ftp"),
            ("http://example.com/hook", "https"),
            ("https://user:pw@example.com/hook", "user name or password"),
            ("https://example.com/hook#part", "fragment"),
            ("https:///", "host"),
            ("/relative/path", "not valid"),
            (
                "https://169.254.169.254/latest/meta-data",
                "169.254.169.254",
            ),
            ("https://[fd00::1]/hook", "private or reserved"),
        ];
        for (url, expected) in cases {
            let reason = refused(sender.check_url(url).await);
            assert!(reason.contains(expected), "{url}: {reason}");
        }
        let long = format!("https://example.com/{}", "a".repeat(3_000 - 20));
        assert_eq!(long.len(), 3_000);
        let reason = refused(sender.check_url(&long).await);
        assert!(reason.contains("too long"), "{reason}");
        let reason = refused(sender.check_url("https://169.254.169.254/").await);
        assert!(reason.contains("private or reserved"), "{reason}");
        let reason = refused(sender.post("http://example.com/", BODY, &[]).await);
        assert!(reason.contains("https"), "{reason}");
    }

    #[tokio::test]
    async fn check_url_accepts_a_public_literal_and_normalises_ipv4_forms() {
        let sender = sender_with(5_000, false, false);
        let url = sender.check_url("https://1.1.1.1/hook?x=1").await.unwrap();
        assert_eq!(url.as_str(), "https://1.1.1.1/hook?x=1");
        let reason = refused(sender.check_url("https://0x7f.1/hook").await);
        assert!(reason.contains("127.0.0.1"), "{reason}");
        let reason = refused(sender.check_url("https://2130706433/hook").await);
        assert!(reason.contains("127.0.0.1"), "{reason}");
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let settings = SenderSettings {
            timeout_ms: 0,
            allow_private_networks: false,
            allow_plain_http: false,
        };
        assert!(WebhookSender::new(&settings).is_err());
    }

    #[test]
    fn invalid_extra_headers_are_refused_without_their_value() {
        let reason = refused(request_headers(&[("bad name", "x".to_string())]));
        assert!(reason.contains("header name"), "{reason}");
        let reason = refused(request_headers(&[("X-Token", "s3cret\n".to_string())]));
        assert!(!reason.contains("s3cret"), "{reason}");
        let headers =
            request_headers(&[("Content-Type", "application/cloudevents+json".to_string())])
                .unwrap();
        assert_eq!(
            headers.get(CONTENT_TYPE).unwrap(),
            "application/cloudevents+json"
        );
    }

    #[test]
    fn lossy_prefixes_fit_the_limit() {
        assert_eq!(lossy_prefix(b"hello", 10, false), "hello");
        assert_eq!(lossy_prefix(b"hello", 3, true), "hel");
        // "é" is 0xC3 0xA9: a cut after 0xC3 drops it.
        assert_eq!(lossy_prefix(b"a\xC3", 10, true), "a");
        assert_eq!(lossy_prefix(b"a\xC3", 10, false), "a\u{FFFD}");
        // A replacement character (3 bytes) that does not fit is left out.
        assert_eq!(lossy_prefix(b"ab\xFF", 4, false), "ab");
        assert!(lossy_prefix(&[0xFF; 100], 10, false).len() <= 10);
    }
}
