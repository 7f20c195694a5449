//! The Google Calendar adapter: [`CalendarProvider`] over Google's OAuth 2.0 endpoints
//! (form-encoded, client id and secret in the body) and the Calendar API v3 (JSON,
//! `Authorization: Bearer <access token>`). Every base URL comes from configuration.
//!
//! Google's answers are sorted so the caller can act: `invalid_grant` means the account must
//! be connected again; 401 means the access token must be refreshed; 410 on an event list (the
//! sync token expired) means a full sync is needed; 429, and 403 with a `usageLimits` reason,
//! are quota answers to retry later (with `Retry-After` when given); other 4xx are permanent,
//! with Google's message.

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
            // On a list, Google's 410 (`fullSyncRequired`) means the tokens in hand are stale:
            // the sync must start over in full.
            Err(failure) if failure.status == StatusCode::GONE => {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use chrono::TimeZone;
    use serde_json::json;
    use wiremock::matchers::{
        body_json, header, method, path, query_param, query_param_is_missing,
    };
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};
    use zencall_core::clock::ManualClock;

    use super::*;
    use crate::calendar::{CALENDAR_LIST_SCOPE, EVENTS_SCOPE, challenge_of};

    const CLIENT_ID: &str = "1234-abc.apps.googleusercontent.com";
    const CLIENT_SECRET: &str = "GOCSPX-client-secret";
    const ACCESS: &str = "ya29.access-token";
    const REFRESH: &str = "1//refresh-token";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CALENDAR: &str = "salon@example.com";
    const EVENTS_PATH: &str = "/calendar/v3/calendars/salon@example.com/events";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("time")
    }

    fn settings(server: &str, timeout_ms: u64) -> GoogleCalendarSettings {
        GoogleCalendarSettings {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(CLIENT_SECRET),
            authorization_url: "https://accounts.example/o/oauth2/v2/auth".into(),
            oauth_base_url: server.to_string(),
            api_base_url: format!("{server}/calendar/v3"),
            redirect_path: "/oauth/google/callback".into(),
            timeout_ms,
        }
    }

    fn client_with(settings: &GoogleCalendarSettings) -> GoogleCalendarClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        GoogleCalendarClient::new(settings, "https://zencall.example/")
            .expect("client")
            .with_clock(Arc::new(ManualClock::new(now())))
    }

    fn client(server: &MockServer) -> GoogleCalendarClient {
        client_with(&settings(&server.uri(), 2000))
    }

    fn access() -> SecretString {
        SecretString::from(ACCESS)
    }

    fn bearer() -> wiremock::matchers::HeaderExactMatcher {
        header("authorization", format!("Bearer {ACCESS}").as_str())
    }

    /// The request's form-encoded body as a map.
    fn form(request: &Request) -> HashMap<String, String> {
        let body = String::from_utf8_lossy(&request.body);
        Url::parse(&format!("http://form/?{body}"))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default()
    }

    /// A matcher on the form fields: every pair given must be there with that value.
    fn form_has(
        fields: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
        move |request: &Request| {
            let form = form(request);
            fields
                .iter()
                .all(|(k, v)| form.get(*k).map(String::as_str) == Some(*v))
        }
    }

    fn event_json(id: &str, start: &str, end: &str) -> Value {
        json!({
            "kind": "calendar#event",
            "id": id,
            "status": "confirmed",
            "summary": format!("Event {id}"),
            "start": { "dateTime": start, "timeZone": "Europe/Paris" },
            "end": { "dateTime": end, "timeZone": "Europe/Paris" },
            "updated": "2026-03-01T08:00:00.000Z",
        })
    }

    fn full_query(page_token: Option<&str>) -> EventQuery {
        EventQuery::Full {
            time_min: now() - TimeDelta::days(30),
            time_max: now() + TimeDelta::days(90),
            page_size: 2,
            page_token: page_token.map(str::to_string),
        }
    }

    fn incremental(sync_token: &str) -> EventQuery {
        EventQuery::Incremental {
            sync_token: sync_token.into(),
            page_size: 250,
            page_token: None,
        }
    }

    fn new_event(id: &str) -> NewEvent {
        NewEvent {
            id: id.into(),
            summary: "Coupe — Marie Martin".into(),
            description: Some("Booked by phone".into()),
            location: None,
            start: EventTime::At(now() + TimeDelta::hours(24)),
            end: EventTime::At(now() + TimeDelta::hours(25)),
            time_zone: Some("Europe/Paris".into()),
            transparency: Transparency::Opaque,
            private_properties: BTreeMap::from([(
                "zencall_appointment_id".to_string(),
                "01JAPPT".to_string(),
            )]),
        }
    }

    #[test]
    fn the_authorization_url_asks_for_offline_access_with_a_pkce_challenge_and_the_state() {
        let google = client_with(&settings("http://127.0.0.1:9", 1000));
        let start = google.begin_authorization("org-01J:nonce").expect("url");
        let url = Url::parse(&start.url).expect("url");
        assert_eq!(
            format!("{}{}", url.origin().ascii_serialization(), url.path()),
            "https://accounts.example/o/oauth2/v2/auth"
        );
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let field = |k: &str| query.get(k).map(String::as_str);
        assert_eq!(field("client_id"), Some(CLIENT_ID));
        assert_eq!(
            field("redirect_uri"),
            Some("https://zencall.example/oauth/google/callback")
        );
        assert_eq!(
            start.redirect_uri,
            "https://zencall.example/oauth/google/callback"
        );
        assert_eq!(field("response_type"), Some("code"));
        assert_eq!(
            field("scope"),
            Some(format!("{EVENTS_SCOPE} {CALENDAR_LIST_SCOPE}").as_str())
        );
        assert_eq!(field("access_type"), Some("offline"));
        assert_eq!(field("prompt"), Some("consent"));
        assert_eq!(field("state"), Some("org-01J:nonce"));
        assert_eq!(field("code_challenge_method"), Some("S256"));
        assert_eq!(
            field("code_challenge"),
            Some(challenge_of(start.code_verifier.expose_secret()).as_str())
        );
        assert!(!start.url.contains(CLIENT_SECRET));
        assert!(!start.url.contains(start.code_verifier.expose_secret()));
        assert!(google.begin_authorization("").is_err());
        assert!(google.begin_authorization("a b").is_err());
    }

    #[tokio::test]
    async fn a_code_is_exchanged_with_its_verifier_for_tokens() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(form_has(&[
                ("grant_type", "authorization_code"),
                ("code", "4/0AQ-code"),
                ("code_verifier", VERIFIER),
                (
                    "redirect_uri",
                    "https://zencall.example/oauth/google/callback",
                ),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ]))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": ACCESS,
                "expires_in": 3599,
                "refresh_token": REFRESH,
                "scope": format!("{CALENDAR_LIST_SCOPE} {EVENTS_SCOPE}"),
                "token_type": "Bearer"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let grant = client(&server)
            .exchange_code(
                "4/0AQ-code",
                &SecretString::from(VERIFIER),
                "https://zencall.example/oauth/google/callback",
            )
            .await
            .expect("tokens");
        assert_eq!(grant.access_token.expose_secret(), ACCESS);
        assert_eq!(grant.expires_at, now() + TimeDelta::seconds(3599));
        assert_eq!(
            grant.refresh_token.as_ref().map(|t| t.expose_secret()),
            Some(REFRESH)
        );
        assert_eq!(grant.scopes, vec![CALENDAR_LIST_SCOPE, EVENTS_SCOPE]);
        assert!(grant.missing_scopes().is_empty());
    }

    #[tokio::test]
    async fn a_refresh_posts_the_refresh_token_and_keeps_no_new_refresh_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(form_has(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", REFRESH),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ]))
            .and(|r: &Request| !form(r).contains_key("code"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "ya29.new",
                "expires_in": 3599,
                "scope": EVENTS_SCOPE,
                "token_type": "Bearer"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let grant = client(&server)
            .refresh_access_token(&SecretString::from(REFRESH))
            .await
            .expect("refreshed");
        assert_eq!(grant.access_token.expose_secret(), "ya29.new");
        assert!(grant.refresh_token.is_none());
        assert_eq!(grant.missing_scopes(), vec![CALENDAR_LIST_SCOPE]);
    }

    #[tokio::test]
    async fn invalid_grant_means_the_account_must_be_connected_again() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "error": "invalid_grant",
                "error_description": format!("Token has been expired or revoked. {REFRESH}")
            })))
            .expect(2)
            .mount(&server)
            .await;
        let google = client(&server);
        let err = google
            .refresh_access_token(&SecretString::from(REFRESH))
            .await
            .expect_err("revoked");
        let ProviderError::ReconnectNeeded { message, .. } = &err else {
            panic!("not a reconnect: {err:?}")
        };
        assert!(message.contains("expired or revoked"), "{message}");
        assert!(!message.contains(REFRESH), "the token leaked: {message}");
        assert!(!err.is_transient());
        let err = google
            .exchange_code(
                "4/spent",
                &SecretString::from(VERIFIER),
                google.redirect_uri(),
            )
            .await
            .expect_err("spent");
        assert!(
            matches!(err, ProviderError::ReconnectNeeded { .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_oauth_client_is_permanent_and_a_token_server_error_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(form_has(&[("refresh_token", "bad-client")]))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_client",
                "error_description": "The OAuth client was not found."
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(form_has(&[("refresh_token", "busy")]))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let google = client(&server);
        let err = google
            .refresh_access_token(&SecretString::from("bad-client"))
            .await
            .expect_err("refused");
        let ProviderError::Permanent { message, .. } = &err else {
            panic!("not permanent: {err:?}")
        };
        assert!(
            message.contains("HTTP 401") && message.contains("invalid_client"),
            "{message}"
        );
        let err = google
            .refresh_access_token(&SecretString::from("busy"))
            .await
            .expect_err("unavailable");
        assert!(err.is_transient(), "{err:?}");
    }

    #[tokio::test]
    async fn a_full_sync_pages_through_three_pages_and_ends_with_a_sync_token() {
        let server = MockServer::start().await;
        let window = |mock: wiremock::MockBuilder| {
            mock.and(query_param("singleEvents", "true"))
                .and(query_param("timeMin", "2026-01-31T09:00:00Z"))
                .and(query_param("timeMax", "2026-05-31T09:00:00Z"))
                .and(query_param("maxResults", "2"))
                .and(query_param_is_missing("syncToken"))
                .and(bearer())
        };
        window(Mock::given(method("GET")).and(path(EVENTS_PATH)))
            .and(query_param_is_missing("pageToken"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "kind": "calendar#events",
                "timeZone": "Europe/Paris",
                "items": [
                    event_json("evt1", "2026-03-02T10:00:00+01:00", "2026-03-02T11:00:00+01:00"),
                    {
                        "id": "evt2",
                        "status": "tentative",
                        "summary": "Congés",
                        "start": { "date": "2026-03-05" },
                        "end": { "date": "2026-03-07" },
                        "transparency": "transparent",
                        "extendedProperties": { "private": { "zencall_appointment_id": "01JX" } }
                    }
                ],
                "nextPageToken": "page-2"
            })))
            .expect(1)
            .mount(&server)
            .await;
        window(Mock::given(method("GET")).and(path(EVENTS_PATH)))
            .and(query_param("pageToken", "page-2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "items": [
                    event_json("evt3", "2026-03-09T14:00:00Z", "2026-03-09T15:00:00Z"),
                    event_json("evt4", "2026-03-10T14:00:00Z", "2026-03-10T15:00:00Z"),
                ],
                "nextPageToken": "page-3"
            })))
            .expect(1)
            .mount(&server)
            .await;
        window(Mock::given(method("GET")).and(path(EVENTS_PATH)))
            .and(query_param("pageToken", "page-3"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "items": [event_json("evt5", "2026-04-01T08:00:00Z", "2026-04-01T09:00:00Z")],
                "nextSyncToken": "sync-1"
            })))
            .expect(1)
            .mount(&server)
            .await;

        let google = client(&server);
        let mut pages = Vec::new();
        let mut page_token = None;
        loop {
            let page = google
                .list_events(&access(), CALENDAR, &full_query(page_token.as_deref()))
                .await
                .expect("page");
            page_token = page.next_page_token.clone();
            pages.push(page);
            if page_token.is_none() {
                break;
            }
        }
        assert_eq!(pages.len(), 3);
        assert!(pages[..2].iter().all(|p| p.next_sync_token.is_none()));
        assert_eq!(pages[2].next_sync_token.as_deref(), Some("sync-1"));
        let ids: Vec<&str> = pages
            .iter()
            .flat_map(|p| p.events.iter().map(|e| e.id.as_str()))
            .collect();
        assert_eq!(ids, ["evt1", "evt2", "evt3", "evt4", "evt5"]);
        let first = &pages[0].events[0];
        assert_eq!(
            first.start,
            Some(EventTime::At(
                Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
                    .single()
                    .expect("t")
            ))
        );
        assert_eq!(first.time_zone.as_deref(), Some("Europe/Paris"));
        assert_eq!(first.status, EventStatus::Confirmed);
        assert_eq!(first.transparency, Transparency::Opaque);
        assert!(first.updated.is_some());
        let all_day = &pages[0].events[1];
        assert_eq!(all_day.status, EventStatus::Tentative);
        assert_eq!(
            all_day.start,
            Some(EventTime::AllDay(
                NaiveDate::from_ymd_opt(2026, 3, 5).expect("d")
            ))
        );
        assert_eq!(all_day.transparency, Transparency::Transparent);
        assert_eq!(
            all_day
                .private_properties
                .get("zencall_appointment_id")
                .map(String::as_str),
            Some("01JX")
        );
        assert_eq!(pages[0].time_zone.as_deref(), Some("Europe/Paris"));
    }

    #[tokio::test]
    async fn an_incremental_sync_sends_only_the_sync_token_and_reports_cancelled_events() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(EVENTS_PATH))
            .and(bearer())
            .and(query_param("syncToken", "sync-1"))
            .and(query_param("singleEvents", "true"))
            .and(query_param_is_missing("timeMin"))
            .and(query_param_is_missing("timeMax"))
            .and(query_param_is_missing("pageToken"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "items": [
                    { "kind": "calendar#event", "id": "evt3", "status": "cancelled" },
                    event_json("evt6", "2026-03-11T10:00:00Z", "2026-03-11T10:30:00Z"),
                ],
                "nextSyncToken": "sync-2"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let page = client(&server)
            .list_events(&access(), CALENDAR, &incremental("sync-1"))
            .await
            .expect("changes");
        assert_eq!(page.events.len(), 2);
        assert_eq!(page.events[0].id, "evt3");
        assert_eq!(page.events[0].status, EventStatus::Cancelled);
        assert_eq!(page.events[0].start, None);
        assert_eq!(page.events[1].status, EventStatus::Confirmed);
        assert_eq!(page.next_sync_token.as_deref(), Some("sync-2"));
        assert_eq!(page.next_page_token, None);
    }

    #[tokio::test]
    async fn gone_on_an_incremental_sync_means_the_sync_token_expired() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(EVENTS_PATH))
            .and(query_param("syncToken", "old"))
            .respond_with(ResponseTemplate::new(410).set_body_json(json!({
                "error": {
                    "errors": [{ "domain": "calendar", "reason": "fullSyncRequired",
                                 "message": "Sync token is no longer valid, a full sync is required." }],
                    "code": 410,
                    "message": "Sync token is no longer valid, a full sync is required."
                }
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(EVENTS_PATH))
            .and(query_param("pageToken", "stale"))
            .respond_with(ResponseTemplate::new(410))
            .expect(1)
            .mount(&server)
            .await;
        let google = client(&server);
        let err = google
            .list_events(&access(), CALENDAR, &incremental("old"))
            .await
            .expect_err("expired");
        assert_eq!(
            err,
            ProviderError::SyncTokenExpired {
                provider: "google-calendar"
            }
        );
        // A full sync whose page token went stale must start over too.
        assert_eq!(
            google
                .list_events(&access(), CALENDAR, &full_query(Some("stale")))
                .await,
            Err(ProviderError::SyncTokenExpired {
                provider: "google-calendar"
            })
        );
    }

    #[tokio::test]
    async fn too_many_requests_is_transient_with_its_retry_after() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(EVENTS_PATH))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "30")
                    .set_body_json(json!({
                        "error": {
                            "errors": [{ "domain": "usageLimits", "reason": "rateLimitExceeded",
                                         "message": "Rate Limit Exceeded" }],
                            "code": 429,
                            "message": "Rate Limit Exceeded"
                        }
                    })),
            )
            .mount(&server)
            .await;
        let err = client(&server)
            .list_events(&access(), CALENDAR, &full_query(None))
            .await
            .expect_err("limited");
        let ProviderError::Transient { retry_after, .. } = err else {
            panic!("not transient: {err:?}")
        };
        assert_eq!(retry_after, Some(Duration::from_secs(30)));
    }

    #[tokio::test]
    async fn forbidden_over_quota_is_transient_but_forbidden_otherwise_is_permanent() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(EVENTS_PATH))
            .respond_with(
                ResponseTemplate::new(403)
                    .insert_header("Retry-After", "12")
                    .set_body_json(json!({
                        "error": {
                            "errors": [{ "domain": "usageLimits", "reason": "userRateLimitExceeded",
                                         "message": "User Rate Limit Exceeded" }],
                            "code": 403,
                            "message": "User Rate Limit Exceeded"
                        }
                    })),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(EVENTS_PATH))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "error": {
                    "errors": [{ "domain": "calendar", "reason": "requiredAccessLevel",
                                 "message": "You need to have writer access to this calendar." }],
                    "code": 403,
                    "message": "You need to have writer access to this calendar."
                }
            })))
            .mount(&server)
            .await;
        let google = client(&server);
        let err = google
            .list_events(&access(), CALENDAR, &full_query(None))
            .await
            .expect_err("over quota");
        let ProviderError::Transient {
            retry_after,
            message,
            ..
        } = &err
        else {
            panic!("not transient: {err:?}")
        };
        assert_eq!(*retry_after, Some(Duration::from_secs(12)));
        assert!(message.contains("User Rate Limit Exceeded"), "{message}");
        let err = google
            .insert_event(&access(), CALENDAR, &new_event("abc0123456"))
            .await
            .expect_err("read-only");
        let ProviderError::Permanent { message, .. } = &err else {
            panic!("not permanent: {err:?}")
        };
        assert!(
            message.contains("HTTP 403") && message.contains("writer access"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_refused_access_token_asks_for_a_refresh_and_a_server_error_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/calendar/v3/users/me/calendarList"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "error": { "code": 401, "message": "Invalid Credentials",
                           "errors": [{ "domain": "global", "reason": "authError" }] }
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(EVENTS_PATH))
            .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
            .mount(&server)
            .await;
        let google = client(&server);
        assert_eq!(
            google.list_calendars(&access()).await,
            Err(ProviderError::AccessTokenRejected {
                provider: "google-calendar"
            })
        );
        let err = google
            .list_events(&access(), CALENDAR, &full_query(None))
            .await
            .expect_err("down");
        assert!(err.is_transient(), "{err:?}");
    }

    #[tokio::test]
    async fn a_request_that_times_out_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "items": [] }))
                    .set_delay(Duration::from_secs(2)),
            )
            .mount(&server)
            .await;
        let google = client_with(&settings(&server.uri(), 100));
        let err = google
            .list_events(&access(), CALENDAR, &full_query(None))
            .await
            .expect_err("timed out");
        assert!(err.is_transient(), "{err:?}");
    }

    #[tokio::test]
    async fn calendars_are_listed_over_every_page() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/calendar/v3/users/me/calendarList"))
            .and(bearer())
            .and(query_param("maxResults", "250"))
            .and(query_param_is_missing("pageToken"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "items": [{
                    "id": CALENDAR, "summary": CALENDAR, "primary": true,
                    "timeZone": "Europe/Paris", "accessRole": "owner"
                }],
                "nextPageToken": "cal-2"
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/calendar/v3/users/me/calendarList"))
            .and(query_param("pageToken", "cal-2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "items": [{
                    "id": "fr.french#holiday@group.v.calendar.google.com",
                    "summary": "Holidays in France", "summaryOverride": "Jours fériés",
                    "timeZone": "Europe/Paris", "accessRole": "reader"
                }, {
                    "id": "odd@group.calendar.google.com", "accessRole": "somethingNew"
                }],
                "nextSyncToken": "ignored"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let calendars = client(&server)
            .list_calendars(&access())
            .await
            .expect("calendars");
        assert_eq!(calendars.len(), 3);
        assert_eq!(
            calendars[0],
            CalendarInfo {
                id: CALENDAR.into(),
                summary: CALENDAR.into(),
                primary: true,
                time_zone: Some("Europe/Paris".into()),
                access_role: Some(AccessRole::Owner),
            }
        );
        assert_eq!(calendars[1].summary, "Jours fériés");
        assert!(!calendars[1].primary);
        assert_eq!(calendars[1].access_role, Some(AccessRole::Reader));
        assert_eq!(calendars[2].summary, "odd@group.calendar.google.com");
        assert_eq!(calendars[2].access_role, None);
    }

    #[tokio::test]
    async fn an_insert_sends_our_id_and_a_taken_id_returns_the_existing_event() {
        let server = MockServer::start().await;
        let id = crate::calendar::event_id_for("appointment:01JAPPT");
        let expected_body = json!({
            "id": id,
            "summary": "Coupe — Marie Martin",
            "description": "Booked by phone",
            "start": { "dateTime": "2026-03-03T09:00:00Z", "timeZone": "Europe/Paris" },
            "end": { "dateTime": "2026-03-03T10:00:00Z", "timeZone": "Europe/Paris" },
            "transparency": "opaque",
            "extendedProperties": { "private": { "zencall_appointment_id": "01JAPPT" } }
        });
        let stored = {
            let mut e = event_json(
                &id,
                "2026-03-03T10:00:00+01:00",
                "2026-03-03T11:00:00+01:00",
            );
            e["extendedProperties"] = json!({ "private": { "zencall_appointment_id": "01JAPPT" } });
            e
        };
        Mock::given(method("POST"))
            .and(path(EVENTS_PATH))
            .and(bearer())
            .and(body_json(&expected_body))
            .respond_with(ResponseTemplate::new(200).set_body_json(&stored))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        let google = client(&server);
        let event = new_event(&id);
        let first = google
            .insert_event(&access(), CALENDAR, &event)
            .await
            .expect("created");
        assert!(first.created);
        assert_eq!(first.event.id, id);

        // The re-run: Google refuses the id, the event is read instead.
        Mock::given(method("POST"))
            .and(path(EVENTS_PATH))
            .respond_with(ResponseTemplate::new(409).set_body_json(json!({
                "error": {
                    "errors": [{ "domain": "global", "reason": "duplicate",
                                 "message": "The requested identifier already exists." }],
                    "code": 409,
                    "message": "The requested identifier already exists."
                }
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{EVENTS_PATH}/{id}")))
            .and(bearer())
            .respond_with(ResponseTemplate::new(200).set_body_json(&stored))
            .expect(1)
            .mount(&server)
            .await;
        let again = google
            .insert_event(&access(), CALENDAR, &event)
            .await
            .expect("existing");
        assert!(!again.created);
        assert_eq!(again.event, first.event);
    }

    #[tokio::test]
    async fn an_insert_with_an_invalid_id_or_span_is_refused_before_any_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let google = client(&server);
        let bad_id = new_event("Not-Base32");
        assert!(matches!(
            google.insert_event(&access(), CALENDAR, &bad_id).await,
            Err(ProviderError::Permanent { .. })
        ));
        let mut backwards = new_event("abcdef0123");
        backwards.end = EventTime::At(now());
        assert!(matches!(
            google.insert_event(&access(), CALENDAR, &backwards).await,
            Err(ProviderError::Permanent { .. })
        ));
    }

    #[tokio::test]
    async fn a_patch_sends_only_what_changes() {
        let server = MockServer::start().await;
        Mock::given(method("PATCH"))
            .and(path(format!("{EVENTS_PATH}/evt1")))
            .and(bearer())
            .and(body_json(json!({
                "start": { "dateTime": "2026-03-03T13:00:00Z" },
                "end": { "dateTime": "2026-03-03T14:00:00Z" },
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(event_json(
                "evt1",
                "2026-03-03T13:00:00Z",
                "2026-03-03T14:00:00Z",
            )))
            .expect(1)
            .mount(&server)
            .await;
        let patch = EventPatch {
            start: Some(EventTime::At(now() + TimeDelta::hours(28))),
            end: Some(EventTime::At(now() + TimeDelta::hours(29))),
            ..EventPatch::default()
        };
        let event = client(&server)
            .patch_event(&access(), CALENDAR, "evt1", &patch)
            .await
            .expect("patched");
        assert_eq!(
            event.start,
            Some(EventTime::At(now() + TimeDelta::hours(28)))
        );
    }

    #[tokio::test]
    async fn a_delete_of_an_event_already_deleted_succeeds_and_of_an_unknown_one_is_not_found() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .and(path(format!("{EVENTS_PATH}/live1")))
            .and(bearer())
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!("{EVENTS_PATH}/gone1")))
            .respond_with(ResponseTemplate::new(410).set_body_json(json!({
                "error": { "code": 410, "message": "Resource has been deleted" }
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!("{EVENTS_PATH}/never")))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({
                "error": { "code": 404, "message": "Not Found" }
            })))
            .expect(1)
            .mount(&server)
            .await;
        let google = client(&server);
        assert_eq!(
            google.delete_event(&access(), CALENDAR, "live1").await,
            Ok(())
        );
        assert_eq!(
            google.delete_event(&access(), CALENDAR, "gone1").await,
            Ok(())
        );
        assert_eq!(
            google.delete_event(&access(), CALENDAR, "never").await,
            Err(ProviderError::NotFound {
                provider: "google-calendar"
            })
        );
        assert!(
            google
                .delete_event(&access(), CALENDAR, "../x")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn watching_a_calendar_opens_a_web_hook_channel_with_our_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("{EVENTS_PATH}/watch")))
            .and(bearer())
            .and(body_json(json!({
                "id": "01JCHANNEL",
                "type": "web_hook",
                "address": "https://zencall.example/webhooks/google-calendar",
                "token": "channel-token-1",
                "params": { "ttl": "86400" }
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "kind": "api#channel",
                "id": "01JCHANNEL",
                "resourceId": "ret08u3rv24htgh289g",
                "resourceUri": "https://www.googleapis.com/calendar/v3/calendars/salon@example.com/events",
                "token": "channel-token-1",
                "expiration": "1772528400000"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let channel = client(&server)
            .watch_events(
                &access(),
                CALENDAR,
                &WatchRequest {
                    channel_id: "01JCHANNEL".into(),
                    token: SecretString::from("channel-token-1"),
                    address: "https://zencall.example/webhooks/google-calendar".into(),
                    ttl: Some(Duration::from_secs(86_400)),
                },
            )
            .await
            .expect("watching");
        assert_eq!(
            channel,
            WatchChannel {
                channel_id: "01JCHANNEL".into(),
                resource_id: "ret08u3rv24htgh289g".into(),
                expiration: DateTime::from_timestamp_millis(1_772_528_400_000),
            }
        );
    }

    #[tokio::test]
    async fn stopping_a_channel_names_it_and_its_resource() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/calendar/v3/channels/stop"))
            .and(bearer())
            .and(body_json(
                json!({ "id": "01JCHANNEL", "resourceId": "ret08u3rv24htgh289g" }),
            ))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/calendar/v3/channels/stop"))
            .and(body_json(json!({ "id": "unknown", "resourceId": "r1" })))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({
                "error": { "code": 404, "message": "Channel 'unknown' not found for project '1'" }
            })))
            .mount(&server)
            .await;
        let google = client(&server);
        google
            .stop_channel(&access(), "01JCHANNEL", "ret08u3rv24htgh289g")
            .await
            .expect("stopped");
        assert_eq!(
            google.stop_channel(&access(), "unknown", "r1").await,
            Err(ProviderError::NotFound {
                provider: "google-calendar"
            })
        );
    }

    #[tokio::test]
    async fn revoking_posts_the_token_and_a_token_already_revoked_counts_as_revoked() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/revoke"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(form_has(&[("token", REFRESH)]))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/revoke"))
            .and(form_has(&[("token", "already-revoked")]))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "error": "invalid_token", "error_description": "Token expired or revoked"
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/revoke"))
            .and(form_has(&[("token", "during-outage")]))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        let google = client(&server);
        google
            .revoke_token(&SecretString::from(REFRESH))
            .await
            .expect("revoked");
        google
            .revoke_token(&SecretString::from("already-revoked"))
            .await
            .expect("already revoked");
        let err = google
            .revoke_token(&SecretString::from("during-outage"))
            .await
            .expect_err("outage");
        assert!(err.is_transient(), "{err:?}");
    }

    #[test]
    fn missing_credentials_or_a_bad_redirect_path_are_refused_at_construction() {
        let base = settings("https://oauth2.googleapis.com", 1000);
        let mut s = base.clone();
        s.client_id = " ".into();
        assert!(GoogleCalendarClient::new(&s, "https://zencall.example").is_err());
        let mut s = base.clone();
        s.client_secret = SecretString::from("");
        assert!(GoogleCalendarClient::new(&s, "https://zencall.example").is_err());
        let mut s = base.clone();
        s.redirect_path = "//evil.example/cb".into();
        assert!(GoogleCalendarClient::new(&s, "https://zencall.example").is_err());
        let mut s = base;
        s.api_base_url = "not a url".into();
        assert!(GoogleCalendarClient::new(&s, "https://zencall.example").is_err());
    }
}
