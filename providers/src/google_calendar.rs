//! The Google Calendar adapter: [`CalendarProvider`] over Google's OAuth 2.0 endpoints
//! (form-encoded, client id and secret in the body) and the Calendar API v3 (JSON,
//! `Authorization: Bearer <access token>`). Every base URL comes from configuration.
//!
//! Google's answers are sorted so the caller can act: `invalid_grant` means the account must
//! be connected again; 401 means the access token must be refreshed; 410 on an incremental list
//! means the sync token expired; 429, and 403 with a `usageLimits` reason, are quota answers to
//! retry later (with `Retry-After` when given); other 4xx are permanent, with Google's message.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zencall_core::clock::{Clock, SystemClock};
use zencall_core::config::GoogleCalendarSettings;

use crate::calendar::{
    AccessRole, AuthorizationStart, CalendarEvent, CalendarInfo, CalendarProvider, EventPage,
    EventPatch, EventQuery, EventStatus, EventTime, InsertedEvent, NewEvent, Pkce, SCOPES,
    TokenGrant, Transparency, WatchChannel, WatchRequest, authorization_query, validate_span,
    validate_state,
};
use crate::{ProviderError, http};

/// The provider name in errors.
const PROVIDER: &str = "google-calendar";

/// Calendars asked for per page (Google's largest).
const CALENDARS_PER_PAGE: &str = "250";

/// Pages of calendars read at most; an account has a few dozen calendars at worst.
const MAX_CALENDAR_PAGES: usize = 40;

/// `usageLimits` reasons that mean "slow down", not "forbidden".
const RATE_LIMIT_REASONS: [&str; 4] = [
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "quotaExceeded",
    "dailyLimitExceeded",
];

/// A Google Calendar client for one OAuth client, cheap to clone.
#[derive(Debug, Clone)]
pub struct GoogleCalendarClient {
    http: reqwest::Client,
    client_id: String,
    client_secret: SecretString,
    authorization_url: Url,
    token_url: Url,
    revoke_url: Url,
    api: Url,
    redirect_uri: String,
    clock: Arc<dyn Clock>,
}

/// The token endpoint's answer.
#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// `calendarList.list`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CalendarListPage {
    #[serde(default)]
    items: Vec<CalendarListEntry>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CalendarListEntry {
    id: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    summary_override: Option<String>,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    access_role: Option<String>,
}

/// `events.list`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventsPage {
    #[serde(default)]
    items: Vec<RawEvent>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    next_sync_token: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

/// An event resource, as much of it as we use.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    start: Option<RawTime>,
    #[serde(default)]
    end: Option<RawTime>,
    #[serde(default)]
    updated: Option<String>,
    #[serde(default)]
    transparency: Option<String>,
    #[serde(default)]
    extended_properties: Option<RawExtendedProperties>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTime {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    date_time: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawExtendedProperties {
    #[serde(default)]
    private: BTreeMap<String, String>,
}

/// `events.watch`'s channel.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawChannel {
    #[serde(default)]
    id: Option<String>,
    resource_id: String,
    #[serde(default)]
    expiration: Option<Value>,
}

impl RawTime {
    fn parse(&self, event_id: &str, which: &str) -> Result<Option<EventTime>, ProviderError> {
        let bad = || {
            http::permanent(
                PROVIDER,
                &format!(
                    "unexpected response: the {which} of event `{}` is not a date or time",
                    http::truncate(event_id, 64)
                ),
            )
        };
        if let Some(text) = &self.date_time {
            let at = DateTime::parse_from_rfc3339(text).map_err(|_| bad())?;
            return Ok(Some(EventTime::At(at.with_timezone(&Utc))));
        }
        if let Some(text) = &self.date {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?;
            return Ok(Some(EventTime::AllDay(date)));
        }
        Ok(None)
    }
}

impl RawEvent {
    fn into_event(self) -> Result<CalendarEvent, ProviderError> {
        let start = match &self.start {
            Some(t) => t.parse(&self.id, "start")?,
            None => None,
        };
        let end = match &self.end {
            Some(t) => t.parse(&self.id, "end")?,
            None => None,
        };
        let updated = self
            .updated
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        Ok(CalendarEvent {
            status: EventStatus::parse(self.status.as_deref()),
            summary: self.summary,
            description: self.description,
            location: self.location,
            start,
            end,
            time_zone: self.start.and_then(|t| t.time_zone),
            updated,
            transparency: Transparency::parse(self.transparency.as_deref()),
            private_properties: self
                .extended_properties
                .map(|p| p.private)
                .unwrap_or_default(),
            id: self.id,
        })
    }
}

/// Google's JSON for a start or end.
fn time_json(time: &EventTime, time_zone: Option<&str>) -> Value {
    let mut object = Map::new();
    match time {
        EventTime::At(at) => {
            object.insert(
                "dateTime".into(),
                Value::String(at.to_rfc3339_opts(SecondsFormat::Secs, true)),
            );
        }
        EventTime::AllDay(date) => {
            object.insert(
                "date".into(),
                Value::String(date.format("%Y-%m-%d").to_string()),
            );
        }
    }
    if let Some(zone) = time_zone {
        object.insert("timeZone".into(), Value::String(zone.to_string()));
    }
    Value::Object(object)
}

/// A calendar id as one path segment: any printable text (ids hold `@`, `#` and `.`), which
/// the URL builder percent-encodes; never empty, `.` or `..`.
fn calendar_segment(calendar_id: &str) -> Result<&str, ProviderError> {
    let ok = !calendar_id.is_empty()
        && calendar_id.len() <= 1024
        && calendar_id != "."
        && calendar_id != ".."
        && !calendar_id.chars().any(char::is_control);
    if ok {
        Ok(calendar_id)
    } else {
        Err(http::permanent(
            PROVIDER,
            &format!(
                "the calendar id `{}` is not valid",
                http::truncate(calendar_id, 64)
            ),
        ))
    }
}

/// An event or channel id as one path segment or body field: ASCII letters, digits, `_`, `-`,
/// `.` and `@` (Google's ids of recurring instances hold `_` and capitals).
fn id_text<'a>(what: &str, id: &'a str) -> Result<&'a str, ProviderError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'));
    if ok {
        Ok(id)
    } else {
        Err(http::permanent(
            PROVIDER,
            &format!("the {what} `{}` is not valid", http::truncate(id, 64)),
        ))
    }
}

/// Google's API error: its message, and the `reason`s and `domain`s of its `errors`.
fn api_error_details(body: Option<&Value>) -> (Option<String>, Vec<String>) {
    let Some(error) = body.and_then(|b| b.get("error")) else {
        return (None, Vec::new());
    };
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let mut labels = Vec::new();
    if let Some(errors) = error.get("errors").and_then(Value::as_array) {
        for item in errors {
            for key in ["reason", "domain"] {
                if let Some(label) = item.get(key).and_then(Value::as_str) {
                    labels.push(label.to_string());
                }
            }
        }
    }
    // The newer format puts the reason in `details[].reason` (ErrorInfo).
    if let Some(details) = error.get("details").and_then(Value::as_array) {
        for item in details {
            if let Some(label) = item.get("reason").and_then(Value::as_str) {
                labels.push(label.to_string());
            }
        }
    }
    (message, labels)
}

/// Milliseconds since the epoch, as Google writes `expiration` (a string, sometimes a number).
fn expiration(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let millis = match value? {
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    DateTime::from_timestamp_millis(millis)
}

impl GoogleCalendarClient {
    /// Builds a client for the configured OAuth client; `public_url` is this deployment's
    /// public base URL, to which the settings' redirect path is appended. Fails on an empty
    /// client id or secret, or an unusable URL.
    pub fn new(settings: &GoogleCalendarSettings, public_url: &str) -> Result<Self, ProviderError> {
        let client_id = settings.client_id.trim();
        if client_id.is_empty() || !client_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(http::permanent(
                PROVIDER,
                "providers.google_calendar.client_id must be an OAuth client id",
            ));
        }
        if settings.client_secret.expose_secret().trim().is_empty() {
            return Err(http::permanent(
                PROVIDER,
                "providers.google_calendar.client_secret is empty",
            ));
        }
        let oauth = http::base_url(PROVIDER, &settings.oauth_base_url)?;
        let public = http::base_url(PROVIDER, public_url)?;
        let redirect_path = settings.redirect_path.trim();
        if !redirect_path.starts_with('/') || redirect_path.starts_with("//") {
            return Err(http::permanent(
                PROVIDER,
                "providers.google_calendar.redirect_path must start with a single /",
            ));
        }
        let redirect_uri = format!("{}{redirect_path}", public.as_str().trim_end_matches('/'));
        Ok(Self {
            http: http::client(PROVIDER, settings.timeout_ms)?,
            client_id: client_id.to_string(),
            client_secret: settings.client_secret.clone(),
            authorization_url: http::base_url(PROVIDER, &settings.authorization_url)?,
            token_url: http::join(&oauth, &["token"]),
            revoke_url: http::join(&oauth, &["revoke"]),
            api: http::base_url(PROVIDER, &settings.api_base_url)?,
            redirect_uri,
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `clock` to date token expiries.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The redirect URI to register with the OAuth client.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Sends a request; a failure is returned as read, for the caller to sort.
    async fn exchange(
        &self,
        request: RequestBuilder,
    ) -> Result<Result<Response, http::Failure>, ProviderError> {
        let response = request
            .send()
            .await
            .map_err(|e| http::transport_error(PROVIDER, e))?;
        Ok(http::success(PROVIDER, response).await)
    }

    /// Sends an API request with the access token.
    async fn api_exchange(
        &self,
        access_token: &SecretString,
        request: RequestBuilder,
    ) -> Result<Result<Response, http::Failure>, ProviderError> {
        if access_token.expose_secret().trim().is_empty() {
            return Err(ProviderError::AccessTokenRejected { provider: PROVIDER });
        }
        self.exchange(request.bearer_auth(access_token.expose_secret()))
            .await
    }

    /// Sends an API request and sorts any failure.
    async fn api_send(
        &self,
        access_token: &SecretString,
        request: RequestBuilder,
    ) -> Result<Response, ProviderError> {
        self.api_exchange(access_token, request)
            .await?
            .map_err(|f| self.sort_api(f, access_token))
    }

    /// Sorts a failed Calendar API call.
    fn sort_api(&self, failure: http::Failure, access_token: &SecretString) -> ProviderError {
        let secrets = [
            access_token.expose_secret(),
            self.client_secret.expose_secret(),
        ];
        let status = failure.status.as_u16();
        let (message, labels) = api_error_details(failure.body.as_ref());
        let detail = message.map(|m| http::truncate(&http::redact(&m, &secrets), 300));
        let with_detail = |lead: String| match &detail {
            Some(d) => format!("{lead}: {d}"),
            None => lead,
        };
        let rate_limited = status == 403
            && labels
                .iter()
                .any(|l| l == "usageLimits" || RATE_LIMIT_REASONS.contains(&l.as_str()));
        match status {
            401 => ProviderError::AccessTokenRejected { provider: PROVIDER },
            403 if rate_limited => ProviderError::Transient {
                provider: PROVIDER,
                message: with_detail("over quota (HTTP 403)".to_string()),
                retry_after: failure.retry_after,
            },
            404 | 410 => ProviderError::NotFound { provider: PROVIDER },
            408 | 429 | 500..=599 => failure.into_error(PROVIDER, &secrets),
            code => ProviderError::Permanent {
                provider: PROVIDER,
                message: with_detail(format!("request refused (HTTP {code})")),
            },
        }
    }

    /// Sorts a failed OAuth call: `invalid_grant` means the grant is gone.
    fn sort_oauth(&self, failure: http::Failure, secrets: &[&str]) -> ProviderError {
        let mut all_secrets = vec![self.client_secret.expose_secret()];
        all_secrets.extend_from_slice(secrets);
        let field = |key: &str| {
            failure
                .body
                .as_ref()
                .and_then(|b| b.get(key))
                .and_then(Value::as_str)
                .map(|s| http::truncate(&http::redact(s.trim(), &all_secrets), 300))
        };
        let error = field("error");
        let description = field("error_description");
        let status = failure.status.as_u16();
        if error.as_deref() == Some("invalid_grant") {
            return ProviderError::ReconnectNeeded {
                provider: PROVIDER,
                message: match description {
                    Some(d) if !d.is_empty() => format!("invalid_grant: {d}"),
                    _ => "invalid_grant".to_string(),
                },
            };
        }
        if matches!(status, 408 | 429 | 500..=599) {
            return failure.into_error(PROVIDER, &all_secrets);
        }
        let detail = match (error, description) {
            (Some(e), Some(d)) if !d.is_empty() => format!(": {e}: {d}"),
            (Some(e), _) => format!(": {e}"),
            (None, _) => String::new(),
        };
        ProviderError::Permanent {
            provider: PROVIDER,
            message: format!("the OAuth request was refused (HTTP {status}){detail}"),
        }
    }

    /// Posts a form to the token endpoint and reads the grant.
    async fn token_request(
        &self,
        form: &[(&str, &str)],
        secrets: &[&str],
    ) -> Result<TokenGrant, ProviderError> {
        let mut body: Vec<(&str, &str)> = form.to_vec();
        body.push(("client_id", &self.client_id));
        body.push(("client_secret", self.client_secret.expose_secret()));
        let request = self.http.post(self.token_url.clone()).form(&body);
        let response = self
            .exchange(request)
            .await?
            .map_err(|f| self.sort_oauth(f, secrets))?;
        let token: TokenResponse = http::json(PROVIDER, response).await?;
        if token.access_token.trim().is_empty() {
            return Err(http::permanent(
                PROVIDER,
                "unexpected response: the access token is empty",
            ));
        }
        Ok(TokenGrant {
            access_token: SecretString::from(token.access_token),
            expires_at: self.clock.now() + TimeDelta::seconds(token.expires_in.max(0)),
            refresh_token: token
                .refresh_token
                .filter(|t| !t.trim().is_empty())
                .map(SecretString::from),
            scopes: token
                .scope
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        http::join(&self.api, segments)
    }
}

#[async_trait]
impl CalendarProvider for GoogleCalendarClient {
    fn begin_authorization(&self, state: &str) -> Result<AuthorizationStart, ProviderError> {
        validate_state(PROVIDER, state)?;
        let pkce = Pkce::generate();
        let scope = SCOPES.join(" ");
        let mut url = self.authorization_url.clone();
        url.query_pairs_mut().extend_pairs(authorization_query(
            &self.client_id,
            &self.redirect_uri,
            state,
            pkce.challenge(),
            &scope,
        ));
        Ok(AuthorizationStart {
            url: url.into(),
            code_verifier: pkce.verifier().clone(),
            redirect_uri: self.redirect_uri.clone(),
        })
    }

    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &SecretString,
        redirect_uri: &str,
    ) -> Result<TokenGrant, ProviderError> {
        if code.trim().is_empty() {
            return Err(http::permanent(PROVIDER, "the authorization code is empty"));
        }
        Pkce::from_verifier(code_verifier.expose_secret()).map_err(|_| {
            http::permanent(PROVIDER, "the PKCE code verifier is not a valid verifier")
        })?;
        self.token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", code_verifier.expose_secret()),
                ("redirect_uri", redirect_uri),
            ],
            &[code, code_verifier.expose_secret()],
        )
        .await
    }

    async fn refresh_access_token(
        &self,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, ProviderError> {
        if refresh_token.expose_secret().trim().is_empty() {
            return Err(ProviderError::ReconnectNeeded {
                provider: PROVIDER,
                message: "no refresh token is stored".into(),
            });
        }
        self.token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose_secret()),
            ],
            &[refresh_token.expose_secret()],
        )
        .await
    }

    async fn revoke_token(&self, token: &SecretString) -> Result<(), ProviderError> {
        if token.expose_secret().trim().is_empty() {
            return Ok(());
        }
        let request = self
            .http
            .post(self.revoke_url.clone())
            .form(&[("token", token.expose_secret())]);
        match self.exchange(request).await? {
            Ok(_) => Ok(()),
            // Google answers 400 `invalid_token` for a token already revoked or expired.
            Err(failure)
                if failure.status == StatusCode::BAD_REQUEST
                    && failure
                        .body
                        .as_ref()
                        .and_then(|b| b.get("error"))
                        .and_then(Value::as_str)
                        == Some("invalid_token") =>
            {
                Ok(())
            }
            Err(failure) => Err(self.sort_oauth(failure, &[token.expose_secret()])),
        }
    }

    async fn list_calendars(
        &self,
        access_token: &SecretString,
    ) -> Result<Vec<CalendarInfo>, ProviderError> {
        let mut calendars = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_CALENDAR_PAGES {
            let mut url = self.url(&["users", "me", "calendarList"]);
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("maxResults", CALENDARS_PER_PAGE);
                if let Some(token) = &page_token {
                    query.append_pair("pageToken", token);
                }
            }
            let response = self.api_send(access_token, self.http.get(url)).await?;
            let page: CalendarListPage = http::json(PROVIDER, response).await?;
            calendars.extend(page.items.into_iter().map(|c| {
                CalendarInfo {
                    summary: c
                        .summary_override
                        .filter(|s| !s.trim().is_empty())
                        .or(c.summary)
                        .unwrap_or_else(|| c.id.clone()),
                    primary: c.primary,
                    time_zone: c.time_zone,
                    access_role: c.access_role.as_deref().and_then(AccessRole::parse),
                    id: c.id,
                }
            }));
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if page_token.as_deref() != Some(next.as_str()) => {
                    page_token = Some(next);
                }
                Some(_) => {
                    return Err(http::permanent(
                        PROVIDER,
                        "unexpected response: the calendar list repeats its page token",
                    ));
                }
                None => return Ok(calendars),
            }
        }
        Err(http::permanent(
            PROVIDER,
            "unexpected response: the calendar list has too many pages",
        ))
    }

    async fn list_events(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        query: &EventQuery,
    ) -> Result<EventPage, ProviderError> {
        query.validate(PROVIDER)?;
        let calendar = calendar_segment(calendar_id)?;
        let mut url = self.url(&["calendars", calendar, "events"]);
        {
            let mut pairs = url.query_pairs_mut();
            // Recurring events come expanded into instances, in the full and the incremental
            // sync alike (a sync token keeps the options of the sync that made it).
            pairs.append_pair("singleEvents", "true");
            match query {
                EventQuery::Full {
                    time_min,
                    time_max,
                    page_size,
                    ..
                } => {
                    pairs.append_pair(
                        "timeMin",
                        &time_min.to_rfc3339_opts(SecondsFormat::Secs, true),
                    );
                    pairs.append_pair(
                        "timeMax",
                        &time_max.to_rfc3339_opts(SecondsFormat::Secs, true),
                    );
                    pairs.append_pair("maxResults", &page_size.to_string());
                }
                // Google refuses a sync token with a time window or most other filters.
                EventQuery::Incremental {
                    sync_token,
                    page_size,
                    ..
                } => {
                    pairs.append_pair("syncToken", sync_token);
                    pairs.append_pair("maxResults", &page_size.to_string());
                }
            }
            if let Some(token) = query.page_token().filter(|t| !t.is_empty()) {
                pairs.append_pair("pageToken", token);
            }
        }
        let response = match self.api_exchange(access_token, self.http.get(url)).await? {
            Ok(response) => response,
            Err(failure)
                if failure.status == StatusCode::GONE
                    && matches!(query, EventQuery::Incremental { .. }) =>
            {
                return Err(ProviderError::SyncTokenExpired { provider: PROVIDER });
            }
            Err(failure) => return Err(self.sort_api(failure, access_token)),
        };
        let page: EventsPage = http::json(PROVIDER, response).await?;
        Ok(EventPage {
            events: page
                .items
                .into_iter()
                .map(RawEvent::into_event)
                .collect::<Result<_, _>>()?,
            next_page_token: page.next_page_token.filter(|t| !t.is_empty()),
            next_sync_token: page.next_sync_token.filter(|t| !t.is_empty()),
            time_zone: page.time_zone,
        })
    }

    async fn get_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<CalendarEvent, ProviderError> {
        let calendar = calendar_segment(calendar_id)?;
        let event = id_text("event id", event_id)?;
        let response = self
            .api_send(
                access_token,
                self.http
                    .get(self.url(&["calendars", calendar, "events", event])),
            )
            .await?;
        http::json::<RawEvent>(PROVIDER, response)
            .await?
            .into_event()
    }

    async fn insert_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event: &NewEvent,
    ) -> Result<InsertedEvent, ProviderError> {
        event.validate(PROVIDER)?;
        let calendar = calendar_segment(calendar_id)?;
        let zone = event.time_zone.as_deref();
        let mut body = json!({
            "id": event.id,
            "summary": event.summary,
            "start": time_json(&event.start, zone),
            "end": time_json(&event.end, zone),
            "transparency": event.transparency.as_str(),
        });
        if let Some(description) = &event.description {
            body["description"] = json!(description);
        }
        if let Some(location) = &event.location {
            body["location"] = json!(location);
        }
        if !event.private_properties.is_empty() {
            body["extendedProperties"] = json!({ "private": event.private_properties });
        }
        let request = self
            .http
            .post(self.url(&["calendars", calendar, "events"]))
            .json(&body);
        match self.api_exchange(access_token, request).await? {
            Ok(response) => Ok(InsertedEvent {
                event: http::json::<RawEvent>(PROVIDER, response)
                    .await?
                    .into_event()?,
                created: true,
            }),
            // The id is taken: an earlier run of the same insertion created it.
            Err(failure) if failure.status == StatusCode::CONFLICT => {
                let existing = match self.get_event(access_token, calendar_id, &event.id).await {
                    Err(ProviderError::NotFound { .. }) => {
                        return Err(http::permanent(
                            PROVIDER,
                            &format!(
                                "the event id `{}` is taken but its event cannot be read",
                                event.id
                            ),
                        ));
                    }
                    other => other?,
                };
                Ok(InsertedEvent {
                    event: existing,
                    created: false,
                })
            }
            Err(failure) => Err(self.sort_api(failure, access_token)),
        }
    }

    async fn patch_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event_id: &str,
        patch: &EventPatch,
    ) -> Result<CalendarEvent, ProviderError> {
        let calendar = calendar_segment(calendar_id)?;
        let event = id_text("event id", event_id)?;
        if let (Some(start), Some(end)) = (&patch.start, &patch.end) {
            validate_span(PROVIDER, start, end)?;
        }
        if patch.is_empty() {
            return self.get_event(access_token, calendar_id, event_id).await;
        }
        let zone = patch.time_zone.as_deref();
        let mut body = Map::new();
        if let Some(summary) = &patch.summary {
            body.insert("summary".into(), json!(summary));
        }
        if let Some(description) = &patch.description {
            body.insert("description".into(), json!(description));
        }
        if let Some(location) = &patch.location {
            body.insert("location".into(), json!(location));
        }
        if let Some(start) = &patch.start {
            body.insert("start".into(), time_json(start, zone));
        }
        if let Some(end) = &patch.end {
            body.insert("end".into(), time_json(end, zone));
        }
        if let Some(transparency) = patch.transparency {
            body.insert("transparency".into(), json!(transparency.as_str()));
        }
        if !patch.private_properties.is_empty() {
            body.insert(
                "extendedProperties".into(),
                json!({ "private": patch.private_properties }),
            );
        }
        let request = self
            .http
            .patch(self.url(&["calendars", calendar, "events", event]))
            .json(&Value::Object(body));
        let response = self.api_send(access_token, request).await?;
        http::json::<RawEvent>(PROVIDER, response)
            .await?
            .into_event()
    }

    async fn delete_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<(), ProviderError> {
        let calendar = calendar_segment(calendar_id)?;
        let event = id_text("event id", event_id)?;
        let request = self
            .http
            .delete(self.url(&["calendars", calendar, "events", event]));
        match self.api_exchange(access_token, request).await? {
            Ok(_) => Ok(()),
            // Google answers 410 for an event already deleted.
            Err(failure) if failure.status == StatusCode::GONE => Ok(()),
            Err(failure) => Err(self.sort_api(failure, access_token)),
        }
    }

    async fn watch_events(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        request: &WatchRequest,
    ) -> Result<WatchChannel, ProviderError> {
        let calendar = calendar_segment(calendar_id)?;
        let channel_id = id_text("channel id", &request.channel_id)?;
        let address = Url::parse(request.address.trim()).map_err(|e| {
            http::permanent(
                PROVIDER,
                &format!("the notification address is not a URL: {e}"),
            )
        })?;
        if !matches!(address.scheme(), "http" | "https") {
            return Err(http::permanent(
                PROVIDER,
                "the notification address must be an https URL",
            ));
        }
        let mut body = json!({
            "id": channel_id,
            "type": "web_hook",
            "address": address.as_str(),
            "token": request.token.expose_secret(),
        });
        if let Some(ttl) = request.ttl {
            body["params"] = json!({ "ttl": ttl.as_secs().max(1).to_string() });
        }
        let http_request = self
            .http
            .post(self.url(&["calendars", calendar, "events", "watch"]))
            .json(&body);
        let response = self.api_send(access_token, http_request).await?;
        let channel: RawChannel = http::json(PROVIDER, response).await?;
        Ok(WatchChannel {
            channel_id: channel.id.unwrap_or_else(|| channel_id.to_string()),
            resource_id: channel.resource_id,
            expiration: expiration(channel.expiration.as_ref()),
        })
    }

    async fn stop_channel(
        &self,
        access_token: &SecretString,
        channel_id: &str,
        resource_id: &str,
    ) -> Result<(), ProviderError> {
        let id = id_text("channel id", channel_id)?;
        let resource = id_text("resource id", resource_id)?;
        let request = self
            .http
            .post(self.url(&["channels", "stop"]))
            .json(&json!({ "id": id, "resourceId": resource }));
        self.api_send(access_token, request).await?;
        Ok(())
    }
}
