//! Calendar (Google Calendar v3): connecting a business's account with OAuth (authorization
//! code with PKCE), reading its calendars, syncing their events in full then incrementally,
//! writing the events of appointments, and watching a calendar for changes.
//!
//! The types here are plain domain values; the HTTP shapes stay in the adapter. Errors the
//! caller must act on have their own [`ProviderError`] variants: `ReconnectNeeded` (the grant
//! is gone), `AccessTokenRejected` (refresh, then retry), `SyncTokenExpired` (sync in full).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::ProviderError;

/// Read and write events on every calendar of the account (also needed to watch them).
pub const EVENTS_SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";
/// See which calendars the account has, and nothing of their events: the narrowest scope that
/// lets `calendarList.list` answer (`calendar.readonly` would also expose every event).
pub const CALENDAR_LIST_SCOPE: &str =
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly";
/// The scopes asked for when connecting an account.
pub const SCOPES: [&str; 2] = [EVENTS_SCOPE, CALENDAR_LIST_SCOPE];

/// Largest page of events Google returns (`maxResults`).
pub const MAX_EVENTS_PER_PAGE: u32 = 2500;

/// A PKCE pair (RFC 7636): the verifier stays with us until the code exchange, the challenge
/// (`S256`) goes into the authorization URL.
#[derive(Debug, Clone)]
pub struct Pkce {
    verifier: SecretString,
    challenge: String,
}

impl Pkce {
    /// A fresh pair: 32 random bytes as a 43-character base64url verifier.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::rng().random();
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = challenge_of(&verifier);
        Self {
            verifier: SecretString::from(verifier),
            challenge,
        }
    }

    /// The pair of a given verifier, which must be 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`.
    pub fn from_verifier(verifier: &str) -> Result<Self, ProviderError> {
        let valid = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !valid {
            return Err(ProviderError::Permanent {
                provider: "oauth",
                message: "a PKCE code verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~"
                    .into(),
            });
        }
        Ok(Self {
            challenge: challenge_of(verifier),
            verifier: SecretString::from(verifier.to_string()),
        })
    }

    /// The verifier, sent with the code exchange.
    pub fn verifier(&self) -> &SecretString {
        &self.verifier
    }

    /// The `S256` challenge, sent in the authorization URL.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
}

/// `base64url-no-pad(SHA-256(verifier))`, the `S256` code challenge.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Where to send the business owner to connect an account, and what to keep until the callback.
#[derive(Debug, Clone)]
pub struct AuthorizationStart {
    /// The consent page's URL, carrying the caller's `state` and the PKCE challenge.
    pub url: String,
    /// The PKCE verifier: keep it with the state, give it back to
    /// [`CalendarProvider::exchange_code`].
    pub code_verifier: SecretString,
    /// The redirect URI the code will be sent to; the exchange must name the same one.
    pub redirect_uri: String,
}

/// Tokens granted by an authorization code or a refresh.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The access token, for API calls.
    pub access_token: SecretString,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
    /// A refresh token: always given by an exchange with `prompt=consent`, usually absent from
    /// a refresh (keep the one you have).
    pub refresh_token: Option<SecretString>,
    /// The scopes the user actually granted (they may untick some).
    pub scopes: Vec<String>,
}

impl TokenGrant {
    /// The scopes of [`SCOPES`] the user did not grant; empty when everything needed is there.
    pub fn missing_scopes(&self) -> Vec<&'static str> {
        SCOPES
            .iter()
            .copied()
            .filter(|wanted| !self.scopes.iter().any(|granted| granted == wanted))
            .collect()
    }
}

/// The user's role on a calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRole {
    /// Sees only free/busy information.
    FreeBusyReader,
    /// Reads events that are not private.
    Reader,
    /// Reads and writes events, except private ones.
    WriterWithoutPrivateAccess,
    /// Reads and writes events.
    Writer,
    /// Reads and writes events and sharing.
    Owner,
}

impl AccessRole {
    /// Parses Google's `accessRole`; `None` for a role this code does not know.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "freeBusyReader" => AccessRole::FreeBusyReader,
            "reader" => AccessRole::Reader,
            "writerWithoutPrivateAccess" => AccessRole::WriterWithoutPrivateAccess,
            "writer" => AccessRole::Writer,
            "owner" => AccessRole::Owner,
            _ => return None,
        })
    }

    /// Google's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessRole::FreeBusyReader => "freeBusyReader",
            AccessRole::Reader => "reader",
            AccessRole::WriterWithoutPrivateAccess => "writerWithoutPrivateAccess",
            AccessRole::Writer => "writer",
            AccessRole::Owner => "owner",
        }
    }

    /// True when appointments can be written to the calendar.
    pub fn can_write(self) -> bool {
        matches!(
            self,
            AccessRole::Writer | AccessRole::Owner | AccessRole::WriterWithoutPrivateAccess
        )
    }
}

/// One calendar of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarInfo {
    /// The calendar's id (the primary calendar's is the account's email address).
    pub id: String,
    /// Its title.
    pub summary: String,
    /// True for the account's primary calendar.
    pub primary: bool,
    /// Its IANA time zone, when Google says.
    pub time_zone: Option<String>,
    /// The user's role on it; `None` for a role this code does not know.
    pub access_role: Option<AccessRole>,
}

/// An event's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Confirmed (Google's default).
    Confirmed,
    /// Tentative.
    Tentative,
    /// Deleted or cancelled: an incremental sync reports it so it can be removed locally.
    Cancelled,
}

impl EventStatus {
    /// Parses Google's `status`; anything else than `tentative` or `cancelled` is confirmed.
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("cancelled") => EventStatus::Cancelled,
            Some("tentative") => EventStatus::Tentative,
            _ => EventStatus::Confirmed,
        }
    }

    /// Google's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Confirmed => "confirmed",
            EventStatus::Tentative => "tentative",
            EventStatus::Cancelled => "cancelled",
        }
    }
}

/// Whether an event blocks time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transparency {
    /// The time is busy (Google's default).
    #[default]
    Opaque,
    /// The time stays free.
    Transparent,
}

impl Transparency {
    /// Parses Google's `transparency`; absent or unknown is opaque.
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("transparent") => Transparency::Transparent,
            _ => Transparency::Opaque,
        }
    }

    /// Google's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Transparency::Opaque => "opaque",
            Transparency::Transparent => "transparent",
        }
    }
}

/// When an event starts or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTime {
    /// An instant (`dateTime`).
    At(DateTime<Utc>),
    /// A whole day (`date`) of an all-day event; an end date is exclusive.
    AllDay(NaiveDate),
}

impl EventTime {
    /// The instant this time stands for, an all-day date taken at midnight UTC (for ordering and
    /// windows; the calendar's own zone decides the real midnight).
    pub fn approximate_instant(&self) -> DateTime<Utc> {
        match self {
            EventTime::At(at) => *at,
            EventTime::AllDay(date) => date.and_time(chrono::NaiveTime::MIN).and_utc(),
        }
    }
}

/// One event as read from the calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    /// The event's id, unique in its calendar.
    pub id: String,
    /// Its status; a cancelled event may carry nothing else.
    pub status: EventStatus,
    /// Its title.
    pub summary: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its location.
    pub location: Option<String>,
    /// When it starts (absent on some cancelled events).
    pub start: Option<EventTime>,
    /// When it ends, exclusive (absent on some cancelled events).
    pub end: Option<EventTime>,
    /// The IANA zone its start is expressed in, when given.
    pub time_zone: Option<String>,
    /// When it last changed.
    pub updated: Option<DateTime<Utc>>,
    /// Whether it blocks time.
    pub transparency: Transparency,
    /// Private extended properties: visible only to this calendar, where we keep our ids.
    pub private_properties: BTreeMap<String, String>,
}

/// An event to create, with the id chosen by the caller so that a re-run finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The id: 5 to 1024 characters of `a-v` and `0-9` (see [`event_id_for`]).
    pub id: String,
    /// Its title.
    pub summary: String,
    /// Its description.
    pub description: Option<String>,
    /// Its location.
    pub location: Option<String>,
    /// When it starts.
    pub start: EventTime,
    /// When it ends, after the start and of the same kind.
    pub end: EventTime,
    /// The IANA zone to show it in.
    pub time_zone: Option<String>,
    /// Whether it blocks time.
    pub transparency: Transparency,
    /// Private extended properties (our appointment id, for example).
    pub private_properties: BTreeMap<String, String>,
}

/// Changes to an event; what is `None` is left as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPatch {
    /// A new title.
    pub summary: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new location.
    pub location: Option<String>,
    /// A new start.
    pub start: Option<EventTime>,
    /// A new end.
    pub end: Option<EventTime>,
    /// A new zone for the start and end; applies only with a new start or end.
    pub time_zone: Option<String>,
    /// A new transparency.
    pub transparency: Option<Transparency>,
    /// Private properties to set (others are kept).
    pub private_properties: BTreeMap<String, String>,
}

impl EventPatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &EventPatch::default()
    }
}

/// What an insertion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertedEvent {
    /// The event as the calendar now has it.
    pub event: CalendarEvent,
    /// False when an event with this id already existed (an earlier run created it, or it was
    /// created then deleted: see its status).
    pub created: bool,
}

/// Which page of events to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventQuery {
    /// A full sync of the single events (recurring events expanded) overlapping a window.
    Full {
        /// Events ending after this instant.
        time_min: DateTime<Utc>,
        /// Events starting before this instant.
        time_max: DateTime<Utc>,
        /// Events per page, 1 to [`MAX_EVENTS_PER_PAGE`].
        page_size: u32,
        /// The `next_page_token` of the previous page; `None` for the first page.
        page_token: Option<String>,
    },
    /// The changes since a full or incremental sync ended, cancelled events included.
    Incremental {
        /// The `next_sync_token` of the last page of the previous sync.
        sync_token: String,
        /// Events per page, 1 to [`MAX_EVENTS_PER_PAGE`].
        page_size: u32,
        /// The `next_page_token` of the previous page; `None` for the first page.
        page_token: Option<String>,
    },
}

impl EventQuery {
    /// Checks the page size and, for a full sync, that the window is not empty.
    pub fn validate(&self, provider: &'static str) -> Result<(), ProviderError> {
        let page_size = match self {
            EventQuery::Full {
                time_min,
                time_max,
                page_size,
                ..
            } => {
                if time_max <= time_min {
                    return Err(ProviderError::Permanent {
                        provider,
                        message: "the sync window is empty: time_max must be after time_min".into(),
                    });
                }
                *page_size
            }
            EventQuery::Incremental {
                sync_token,
                page_size,
                ..
            } => {
                if sync_token.trim().is_empty() {
                    return Err(ProviderError::Permanent {
                        provider,
                        message: "an incremental sync needs a sync token".into(),
                    });
                }
                *page_size
            }
        };
        if !(1..=MAX_EVENTS_PER_PAGE).contains(&page_size) {
            return Err(ProviderError::Permanent {
                provider,
                message: format!(
                    "the page size must be 1 to {MAX_EVENTS_PER_PAGE}, not {page_size}"
                ),
            });
        }
        Ok(())
    }

    /// The page token asked for, if any.
    pub fn page_token(&self) -> Option<&str> {
        match self {
            EventQuery::Full { page_token, .. } | EventQuery::Incremental { page_token, .. } => {
                page_token.as_deref()
            }
        }
    }
}

/// One page of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    /// The events of this page (cancelled ones only in an incremental sync).
    pub events: Vec<CalendarEvent>,
    /// The token of the next page; `None` on the last page.
    pub next_page_token: Option<String>,
    /// On the last page only: the token of the next incremental sync.
    pub next_sync_token: Option<String>,
    /// The calendar's time zone, when given.
    pub time_zone: Option<String>,
}

/// A push-notification channel to open on a calendar's events.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    /// Our id for the channel (a UUID or a ULID), unique.
    pub channel_id: String,
    /// What notifications carry in `X-Goog-Channel-Token`, for us to verify them.
    pub token: SecretString,
    /// Where notifications are POSTed (Google requires https).
    pub address: String,
    /// How long the channel should live; Google may give less.
    pub ttl: Option<Duration>,
}

/// An open push-notification channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchChannel {
    /// Our id for it.
    pub channel_id: String,
    /// Google's id of the watched resource, needed to stop the channel.
    pub resource_id: String,
    /// When it stops by itself; renew it before.
    pub expiration: Option<DateTime<Utc>>,
}

/// A deterministic event id for `key` (an appointment id, say): the lowercase hex of its
/// SHA-256, 64 characters all within Google's `a-v 0-9` alphabet, so a re-run that inserts the
/// same appointment again asks for the same id and meets `409` instead of a second event.
pub fn event_id_for(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Checks an id chosen for a new event: 5 to 1024 characters of `a-v` and `0-9`.
pub fn validate_new_event_id(provider: &'static str, id: &str) -> Result<(), ProviderError> {
    let valid = (5..=1024).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b));
    if valid {
        Ok(())
    } else {
        Err(ProviderError::Permanent {
            provider,
            message: format!(
                "the event id `{}` must be 5 to 1024 characters of a-v and 0-9",
                crate::http::truncate(id, 64)
            ),
        })
    }
}

/// Checks that an event's start and end are of the same kind and in order.
pub fn validate_span(
    provider: &'static str,
    start: &EventTime,
    end: &EventTime,
) -> Result<(), ProviderError> {
    let ordered = match (start, end) {
        (EventTime::At(s), EventTime::At(e)) => e > s,
        (EventTime::AllDay(s), EventTime::AllDay(e)) => e > s,
        _ => {
            return Err(ProviderError::Permanent {
                provider,
                message: "an event's start and end must both be instants or both be dates".into(),
            });
        }
    };
    if ordered {
        Ok(())
    } else {
        Err(ProviderError::Permanent {
            provider,
            message: "an event must end after it starts".into(),
        })
    }
}

impl NewEvent {
    /// Checks the id, the span and the title.
    pub fn validate(&self, provider: &'static str) -> Result<(), ProviderError> {
        validate_new_event_id(provider, &self.id)?;
        validate_span(provider, &self.start, &self.end)?;
        if self.summary.trim().is_empty() {
            return Err(ProviderError::Permanent {
                provider,
                message: "an event needs a title".into(),
            });
        }
        Ok(())
    }
}

/// The calendar provider's capabilities used by Zencall. Every call but the OAuth ones takes
/// the account's current access token.
#[async_trait]
pub trait CalendarProvider: Send + Sync {
    /// Starts connecting an account: the consent URL carrying `state` (the caller's, bound to
    /// the organisation and single use) and a fresh PKCE challenge, offline access and the
    /// consent prompt (so a refresh token is always granted).
    fn begin_authorization(&self, state: &str) -> Result<AuthorizationStart, ProviderError>;

    /// Exchanges the code our callback received for tokens; a spent, expired or mismatched
    /// code gives [`ProviderError::ReconnectNeeded`].
    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &SecretString,
        redirect_uri: &str,
    ) -> Result<TokenGrant, ProviderError>;

    /// A new access token from the refresh token; a revoked or expired grant gives
    /// [`ProviderError::ReconnectNeeded`].
    async fn refresh_access_token(
        &self,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, ProviderError>;

    /// Revokes a refresh or access token (and with it the whole grant); a token already
    /// revoked or expired counts as revoked.
    async fn revoke_token(&self, token: &SecretString) -> Result<(), ProviderError>;

    /// The calendars of the account, every page.
    async fn list_calendars(
        &self,
        access_token: &SecretString,
    ) -> Result<Vec<CalendarInfo>, ProviderError>;

    /// One page of events; an expired sync token gives [`ProviderError::SyncTokenExpired`].
    async fn list_events(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        query: &EventQuery,
    ) -> Result<EventPage, ProviderError>;

    /// One event, cancelled ones included; [`ProviderError::NotFound`] if it never existed.
    async fn get_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<CalendarEvent, ProviderError>;

    /// Creates an event with its caller-chosen id; an id already taken returns the existing
    /// event with `created: false`.
    async fn insert_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event: &NewEvent,
    ) -> Result<InsertedEvent, ProviderError>;

    /// Changes an event; [`ProviderError::NotFound`] if it does not exist.
    async fn patch_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event_id: &str,
        patch: &EventPatch,
    ) -> Result<CalendarEvent, ProviderError>;

    /// Deletes (cancels) an event; one already deleted counts as deleted,
    /// [`ProviderError::NotFound`] if it never existed.
    async fn delete_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<(), ProviderError>;

    /// Opens a push-notification channel on a calendar's events.
    async fn watch_events(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        request: &WatchRequest,
    ) -> Result<WatchChannel, ProviderError>;

    /// Stops a channel; [`ProviderError::NotFound`] if it is unknown or already stopped.
    async fn stop_channel(
        &self,
        access_token: &SecretString,
        channel_id: &str,
        resource_id: &str,
    ) -> Result<(), ProviderError>;
}

/// The authorization URL's query, shared by the adapter and the simulator.
pub(crate) fn authorization_query<'a>(
    client_id: &'a str,
    redirect_uri: &'a str,
    state: &'a str,
    challenge: &'a str,
    scope: &'a str,
) -> [(&'static str, &'a str); 9] {
    [
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", scope),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// Checks the caller's `state`: present, at most 512 characters, printable ASCII.
pub(crate) fn validate_state(provider: &'static str, state: &str) -> Result<(), ProviderError> {
    if state.is_empty() || state.len() > 512 || !state.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ProviderError::Permanent {
            provider,
            message: "the OAuth state must be 1 to 512 printable ASCII characters".into(),
        });
    }
    Ok(())
}

/// True when `verifier` hashes to `challenge`.
pub(crate) fn verifier_matches(verifier: &SecretString, challenge: &str) -> bool {
    use subtle::ConstantTimeEq;
    challenge_of(verifier.expose_secret())
        .as_bytes()
        .ct_eq(challenge.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636, appendix B.
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_challenge_of_the_rfc_7636_example_verifier_is_the_rfc_s() {
        assert_eq!(challenge_of(RFC_VERIFIER), RFC_CHALLENGE);
        let pkce = Pkce::from_verifier(RFC_VERIFIER).expect("valid");
        assert_eq!(pkce.challenge(), RFC_CHALLENGE);
        assert_eq!(pkce.verifier().expose_secret(), RFC_VERIFIER);
        assert!(verifier_matches(pkce.verifier(), RFC_CHALLENGE));
        assert!(!verifier_matches(
            &SecretString::from(RFC_VERIFIER.replace('d', "e")),
            RFC_CHALLENGE
        ));
    }

    #[test]
    fn generated_verifiers_are_43_url_safe_characters_and_differ() {
        let a = Pkce::generate();
        let b = Pkce::generate();
        let verifier = a.verifier().expose_secret();
        assert_eq!(verifier.len(), 43);
        assert!(Pkce::from_verifier(verifier).is_ok());
        assert_eq!(a.challenge(), challenge_of(verifier));
        assert_eq!(a.challenge().len(), 43);
        assert_ne!(verifier, b.verifier().expose_secret());
    }

    #[test]
    fn verifiers_of_the_wrong_length_or_alphabet_are_refused() {
        for bad in ["short", &"a".repeat(129), &format!("{}+", "a".repeat(43))] {
            assert!(Pkce::from_verifier(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deterministic_event_ids_are_valid_and_stable() {
        let id = event_id_for("appointment:01JDX");
        assert_eq!(id, event_id_for("appointment:01JDX"));
        assert_ne!(id, event_id_for("appointment:01JDY"));
        assert_eq!(id.len(), 64);
        assert!(validate_new_event_id("test", &id).is_ok());
        for bad in ["abcd", "ABCDEF", "abcdwxyz", "abc_def", ""] {
            assert!(validate_new_event_id("test", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn spans_must_be_ordered_and_of_one_kind() {
        let at = |h: i64| EventTime::At(DateTime::from_timestamp(h * 3600, 0).expect("time"));
        let day = |d| EventTime::AllDay(NaiveDate::from_ymd_opt(2026, 3, d).expect("date"));
        assert!(validate_span("t", &at(1), &at(2)).is_ok());
        assert!(validate_span("t", &at(2), &at(2)).is_err());
        assert!(validate_span("t", &day(1), &day(2)).is_ok());
        assert!(validate_span("t", &day(2), &day(1)).is_err());
        assert!(validate_span("t", &at(1), &day(2)).is_err());
    }

    #[test]
    fn queries_check_their_page_size_window_and_token() {
        let t0 = DateTime::from_timestamp(0, 0).expect("time");
        let t1 = DateTime::from_timestamp(60, 0).expect("time");
        let full = |page_size, time_max| EventQuery::Full {
            time_min: t0,
            time_max,
            page_size,
            page_token: None,
        };
        assert!(full(250, t1).validate("t").is_ok());
        assert!(full(0, t1).validate("t").is_err());
        assert!(full(2501, t1).validate("t").is_err());
        assert!(full(250, t0).validate("t").is_err());
        let incremental = EventQuery::Incremental {
            sync_token: " ".into(),
            page_size: 10,
            page_token: None,
        };
        assert!(incremental.validate("t").is_err());
    }

    #[test]
    fn missing_scopes_are_those_not_granted() {
        let grant = TokenGrant {
            access_token: SecretString::from("a"),
            expires_at: Utc::now(),
            refresh_token: None,
            scopes: vec![EVENTS_SCOPE.to_string(), "openid".into()],
        };
        assert_eq!(grant.missing_scopes(), vec![CALENDAR_LIST_SCOPE]);
    }
}
