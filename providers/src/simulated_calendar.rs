//! The simulated calendar: an in-memory Google Calendar for `zencall up` without an OAuth
//! client, and for tests. It follows Google's flow closely enough that the code written against
//! [`CalendarProvider`] runs unchanged:
//!
//! - connecting: the authorization URL points at our own `/simulator/google/authorize` page;
//!   [`SimulatedCalendar::approve`] plays the owner's consent and gives the code (and the
//!   callback URL) our callback would receive. Codes are single use, expire after ten minutes
//!   and are bound to the PKCE challenge and redirect URI;
//! - tokens: access tokens expire (an hour by default) and are refused afterwards; refresh
//!   tokens work until revoked, then answer `ReconnectNeeded`;
//! - events: every change is numbered, so a sync token gives exactly the changes made since it
//!   was issued, cancelled events included; pages are cut by a cursor, so a change made while
//!   a sync pages through is delivered by the next incremental sync rather than lost;
//!   [`SimulatedCalendar::expire_sync_tokens`] makes the next incremental sync answer
//!   `SyncTokenExpired`;
//! - writes: a caller-chosen id already taken returns the existing event, as Google's 409 does;
//! - push: channels are kept with their token and expiry; an event moved, cancelled or added
//!   "in Google" returns the notifications Google would send to the channels watching it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use rand::RngExt;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zencall_core::clock::{Clock, SystemClock};
use zencall_core::config::GoogleCalendarSettings;

use crate::ProviderError;
use crate::calendar::{
    AccessRole, AuthorizationStart, CalendarEvent, CalendarInfo, CalendarProvider, EventPage,
    EventPatch, EventQuery, EventStatus, EventTime, InsertedEvent, NewEvent, Pkce, SCOPES,
    TokenGrant, WatchChannel, WatchRequest, authorization_query, validate_span, validate_state,
    verifier_matches,
};

/// The provider name in errors.
const PROVIDER: &str = "google-calendar-simulator";
/// The OAuth client id shown in simulated authorization URLs.
const CLIENT_ID: &str = "zencall-simulator";
/// The simulated account's address, which is also its primary calendar's id.
pub const ACCOUNT_EMAIL: &str = "owner@calendar.simulated";
/// The read-only holiday calendar every account has.
pub const HOLIDAY_CALENDAR_ID: &str = "fr.french#holiday@group.v.calendar.google.com";
/// How long an authorization code can be exchanged.
const CODE_LIFETIME: TimeDelta = TimeDelta::minutes(10);
/// How long a begun authorization waits for the owner's answer.
const PENDING_LIFETIME: TimeDelta = TimeDelta::hours(1);
/// How long a channel lives when no ttl is asked for (Google's default: a week).
const DEFAULT_CHANNEL_TTL: Duration = Duration::from_secs(604_800);

/// An in-memory Google Calendar; clones share the same account.
#[derive(Debug, Clone)]
pub struct SimulatedCalendar {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    authorize_url: String,
    redirect_uri: String,
    access_ttl: TimeDelta,
}

/// What the owner's consent gives back: the code and where the browser is sent with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The authorization code, for [`CalendarProvider::exchange_code`].
    pub code: String,
    /// Our callback URL with `code` and `state`, as Google redirects to it.
    pub callback_url: String,
}

/// A push notification Google would POST to a channel's address (headers only, no body).
#[derive(Debug, Clone)]
pub struct ChannelNotification {
    /// `X-Goog-Channel-ID`.
    pub channel_id: String,
    /// `X-Goog-Channel-Token`.
    pub token: SecretString,
    /// `X-Goog-Resource-ID`.
    pub resource_id: String,
    /// `X-Goog-Resource-State`: `sync` when the channel opens, `exists` after a change.
    pub resource_state: &'static str,
    /// `X-Goog-Message-Number`, increasing per channel.
    pub message_number: u64,
    /// Where it is POSTed.
    pub address: String,
}

#[derive(Debug)]
struct State {
    /// Authorizations begun, by state: the PKCE challenge and when it began.
    pending: HashMap<String, (String, DateTime<Utc>)>,
    /// Codes given by an approval.
    codes: HashMap<String, IssuedCode>,
    /// Grants by refresh token.
    grants: HashMap<String, Grant>,
    /// Access tokens: their grant's refresh token and expiry.
    access: HashMap<String, AccessToken>,
    calendars: Vec<Calendar>,
    channels: HashMap<String, Channel>,
    /// The number of the last change; sync tokens carry it.
    seq: u64,
    /// Sync tokens below this number have expired.
    sync_floor: u64,
    /// Notifications caused by writes made through the API, not yet taken.
    outbox: Vec<ChannelNotification>,
}

#[derive(Debug)]
struct IssuedCode {
    challenge: String,
    redirect_uri: String,
    expires_at: DateTime<Utc>,
    used: bool,
}

#[derive(Debug)]
struct Grant {
    revoked: bool,
}

#[derive(Debug)]
struct AccessToken {
    refresh_token: String,
    expires_at: DateTime<Utc>,
}

#[derive(Debug)]
struct Calendar {
    info: CalendarInfo,
    events: BTreeMap<String, Stored>,
}

#[derive(Debug)]
struct Stored {
    event: CalendarEvent,
    /// The number of the change that last touched it.
    seq: u64,
}

#[derive(Debug)]
struct Channel {
    calendar_id: String,
    resource_id: String,
    token: SecretString,
    address: String,
    expiration: DateTime<Utc>,
    messages: u64,
}

/// `prefix` followed by 32 random hex digits.
fn random_token(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::rng().random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// A short stable tag of a calendar id, carried in its sync and page tokens.
fn calendar_tag(calendar_id: &str) -> String {
    hex::encode(&Sha256::digest(calendar_id.as_bytes())[..4])
}

fn permanent(message: impl Into<String>) -> ProviderError {
    ProviderError::Permanent {
        provider: PROVIDER,
        message: message.into(),
    }
}

fn invalid_grant(message: &str) -> ProviderError {
    ProviderError::ReconnectNeeded {
        provider: PROVIDER,
        message: format!("invalid_grant: {message}"),
    }
}

/// Where a page of events starts.
#[derive(Debug, PartialEq, Eq)]
enum Cursor {
    /// A full sync: after this (start in milliseconds, id).
    Full { after: Option<(i64, String)> },
    /// An incremental sync: changes numbered after `after` (up to the snapshot).
    Incremental { after: u64 },
}

/// A page token: the calendar, the change number the sync started at, and the cursor.
fn page_token(tag: &str, snapshot: u64, cursor: &Cursor) -> String {
    match cursor {
        Cursor::Full {
            after: Some((at, id)),
        } => format!("f.{tag}.{snapshot}.{at}.{id}"),
        Cursor::Full { after: None } => format!("f.{tag}.{snapshot}"),
        Cursor::Incremental { after } => format!("i.{tag}.{snapshot}.{after}"),
    }
}

fn parse_page_token(tag: &str, token: &str) -> Option<(u64, Cursor)> {
    let mut parts = token.splitn(5, '.');
    let kind = parts.next()?;
    if parts.next()? != tag {
        return None;
    }
    let snapshot = parts.next()?.parse().ok()?;
    match kind {
        "f" => {
            let at = parts.next()?.parse().ok()?;
            let id = parts.next()?.to_string();
            Some((
                snapshot,
                Cursor::Full {
                    after: Some((at, id)),
                },
            ))
        }
        "i" => {
            let after = parts.next()?.parse().ok()?;
            Some((snapshot, Cursor::Incremental { after }))
        }
        _ => None,
    }
}

impl State {
    fn new() -> Self {
        let calendar = |id: &str, summary: &str, primary, role| Calendar {
            info: CalendarInfo {
                id: id.to_string(),
                summary: summary.to_string(),
                primary,
                time_zone: Some("Europe/Paris".into()),
                access_role: Some(role),
            },
            events: BTreeMap::new(),
        };
        Self {
            pending: HashMap::new(),
            codes: HashMap::new(),
            grants: HashMap::new(),
            access: HashMap::new(),
            calendars: vec![
                calendar(ACCOUNT_EMAIL, ACCOUNT_EMAIL, true, AccessRole::Owner),
                calendar(
                    HOLIDAY_CALENDAR_ID,
                    "Jours fériés en France",
                    false,
                    AccessRole::Reader,
                ),
            ],
            channels: HashMap::new(),
            seq: 0,
            sync_floor: 0,
            outbox: Vec::new(),
        }
    }

    /// The calendar named `id`, `primary` standing for the account's primary calendar.
    fn calendar_mut(&mut self, id: &str) -> Result<&mut Calendar, ProviderError> {
        self.calendars
            .iter_mut()
            .find(|c| c.info.id == id || (id == "primary" && c.info.primary))
            .ok_or(ProviderError::NotFound { provider: PROVIDER })
    }

    fn writable_calendar(&mut self, id: &str) -> Result<&mut Calendar, ProviderError> {
        let calendar = self.calendar_mut(id)?;
        if calendar.info.access_role.is_some_and(AccessRole::can_write) {
            Ok(calendar)
        } else {
            Err(permanent(
                "request refused (HTTP 403): You need to have writer access to this calendar.",
            ))
        }
    }

    /// Numbers a new change.
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The notifications Google sends after a change to `calendar_id`'s events.
    fn notify(&mut self, calendar_id: &str, now: DateTime<Utc>) -> Vec<ChannelNotification> {
        let mut sent: Vec<ChannelNotification> = self
            .channels
            .iter_mut()
            .filter(|(_, c)| c.calendar_id == calendar_id && c.expiration > now)
            .map(|(id, channel)| {
                channel.messages += 1;
                ChannelNotification {
                    channel_id: id.clone(),
                    token: channel.token.clone(),
                    resource_id: channel.resource_id.clone(),
                    resource_state: "exists",
                    message_number: channel.messages,
                    address: channel.address.clone(),
                }
            })
            .collect();
        sent.sort_by(|a, b| a.channel_id.cmp(&b.channel_id));
        sent
    }
}

impl SimulatedCalendar {
    /// An account with a primary calendar (owner, `Europe/Paris`) and a read-only holiday
    /// calendar, no events; its authorization page and redirect URI are under `public_url`.
    pub fn new(settings: &GoogleCalendarSettings, public_url: &str) -> Self {
        let public = public_url.trim().trim_end_matches('/');
        Self {
            state: Arc::new(Mutex::new(State::new())),
            authorize_url: format!("{public}/simulator/google/authorize"),
            redirect_uri: format!("{public}{}", settings.redirect_path.trim()),
            access_ttl: TimeDelta::hours(1),
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` for expiries and `updated` times. Set it before cloning.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Access tokens live `ttl` (an hour by default, as at Google). Set it before cloning.
    pub fn with_access_token_ttl(mut self, ttl: TimeDelta) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// The redirect URI codes are sent to.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change below is made whole under the lock; a panic cannot leave half of one.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Plays the owner consenting on the authorization page of `state`: the code our callback
    /// receives, and the callback URL Google would redirect the browser to.
    pub fn approve(&self, state: &str) -> Result<Approval, ProviderError> {
        let now = self.clock.now();
        let mut s = self.state();
        let (challenge, _) = s
            .pending
            .remove(state)
            .filter(|(_, begun)| now - *begun < PENDING_LIFETIME)
            .ok_or_else(|| permanent("no authorization is waiting for this state"))?;
        s.codes.retain(|_, c| !c.used && c.expires_at > now);
        let code = random_token("sim-code-");
        s.codes.insert(
            code.clone(),
            IssuedCode {
                challenge,
                redirect_uri: self.redirect_uri.clone(),
                expires_at: self.clock.now() + CODE_LIFETIME,
                used: false,
            },
        );
        let mut callback = Url::parse(&self.redirect_uri)
            .map_err(|e| permanent(format!("the redirect URI is not a URL: {e}")))?;
        callback
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", state);
        Ok(Approval {
            code,
            callback_url: callback.into(),
        })
    }

    /// Plays the owner refusing: the callback URL with `error=access_denied`.
    pub fn deny(&self, state: &str) -> Result<String, ProviderError> {
        self.state()
            .pending
            .remove(state)
            .ok_or_else(|| permanent("no authorization is waiting for this state"))?;
        let mut callback = Url::parse(&self.redirect_uri)
            .map_err(|e| permanent(format!("the redirect URI is not a URL: {e}")))?;
        callback
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", state);
        Ok(callback.into())
    }

    /// Plays the owner removing our access from their Google account: every grant is revoked.
    pub fn revoke_all_grants(&self) {
        let mut s = self.state();
        s.grants.values_mut().for_each(|g| g.revoked = true);
        s.access.clear();
    }

    /// Makes every sync token issued so far expire, as Google does now and then.
    pub fn expire_sync_tokens(&self) {
        let mut s = self.state();
        let seq = s.next_seq();
        s.sync_floor = seq;
    }

    /// Adds an event "in Google" (made by the owner); returns the notifications it causes.
    pub fn add_event_in_google(
        &self,
        calendar_id: &str,
        event: &NewEvent,
    ) -> Result<Vec<ChannelNotification>, ProviderError> {
        event.validate(PROVIDER)?;
        let now = self.clock.now();
        let mut s = self.state();
        let seq = s.next_seq();
        let calendar = s.calendar_mut(calendar_id)?;
        if calendar.events.contains_key(&event.id) {
            return Err(permanent("request refused (HTTP 409): duplicate event id"));
        }
        let id = calendar.info.id.clone();
        calendar.events.insert(
            event.id.clone(),
            Stored {
                event: created(event, now),
                seq,
            },
        );
        Ok(s.notify(&id, now))
    }

    /// Moves an event "in Google" (the owner drags it); returns the notifications it causes.
    pub fn move_event_in_google(
        &self,
        calendar_id: &str,
        event_id: &str,
        start: EventTime,
        end: EventTime,
    ) -> Result<Vec<ChannelNotification>, ProviderError> {
        validate_span(PROVIDER, &start, &end)?;
        self.change_in_google(calendar_id, event_id, |event| {
            event.start = Some(start);
            event.end = Some(end);
        })
    }

    /// Cancels an event "in Google" (the owner deletes it); returns the notifications it causes.
    pub fn cancel_event_in_google(
        &self,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<Vec<ChannelNotification>, ProviderError> {
        self.change_in_google(calendar_id, event_id, |event| {
            event.status = EventStatus::Cancelled;
        })
    }

    fn change_in_google(
        &self,
        calendar_id: &str,
        event_id: &str,
        change: impl FnOnce(&mut CalendarEvent),
    ) -> Result<Vec<ChannelNotification>, ProviderError> {
        let now = self.clock.now();
        let mut s = self.state();
        let seq = s.next_seq();
        let calendar = s.calendar_mut(calendar_id)?;
        let stored = calendar
            .events
            .get_mut(event_id)
            .filter(|e| e.event.status != EventStatus::Cancelled)
            .ok_or(ProviderError::NotFound { provider: PROVIDER })?;
        change(&mut stored.event);
        stored.event.updated = Some(now);
        stored.seq = seq;
        let id = calendar.info.id.clone();
        Ok(s.notify(&id, now))
    }

    /// Every event of a calendar, cancelled ones included, by id: what the owner would see
    /// in Google (and what was deleted). Empty for an unknown calendar.
    pub fn events_in_google(&self, calendar_id: &str) -> Vec<CalendarEvent> {
        self.state()
            .calendar_mut(calendar_id)
            .map(|c| c.events.values().map(|e| e.event.clone()).collect())
            .unwrap_or_default()
    }

    /// Takes the notifications caused by changes made through the API (inserts, patches,
    /// deletes, and the `sync` message of each new channel), oldest first.
    pub fn take_notifications(&self) -> Vec<ChannelNotification> {
        std::mem::take(&mut self.state().outbox)
    }

    /// Queues `notifications` (those a change made "in Google" caused) for delivery with the
    /// ones [`Self::take_notifications`] hands out.
    pub fn queue_notifications(&self, notifications: Vec<ChannelNotification>) {
        self.state().outbox.extend(notifications);
    }

    /// The channels still open (not stopped, not expired): (channel id, calendar id).
    pub fn open_channels(&self) -> Vec<(String, String)> {
        let now = self.clock.now();
        let mut open: Vec<(String, String)> = self
            .state()
            .channels
            .iter()
            .filter(|(_, c)| c.expiration > now)
            .map(|(id, c)| (id.clone(), c.calendar_id.clone()))
            .collect();
        open.sort();
        open
    }

    /// Checks an access token: known, not expired, its grant not revoked.
    fn authorize(&self, s: &State, access_token: &SecretString) -> Result<(), ProviderError> {
        let now = self.clock.now();
        let valid = s.access.get(access_token.expose_secret()).is_some_and(|a| {
            a.expires_at > now && s.grants.get(&a.refresh_token).is_some_and(|g| !g.revoked)
        });
        if valid {
            Ok(())
        } else {
            Err(ProviderError::AccessTokenRejected { provider: PROVIDER })
        }
    }

    /// A new access token for the grant of `refresh_token`.
    fn issue_access(&self, s: &mut State, refresh_token: &str) -> (SecretString, DateTime<Utc>) {
        let token = random_token("sim-access-");
        let expires_at = self.clock.now() + self.access_ttl;
        s.access.insert(
            token.clone(),
            AccessToken {
                refresh_token: refresh_token.to_string(),
                expires_at,
            },
        );
        (SecretString::from(token), expires_at)
    }
}

/// The stored form of a new event.
fn created(event: &NewEvent, now: DateTime<Utc>) -> CalendarEvent {
    CalendarEvent {
        id: event.id.clone(),
        status: EventStatus::Confirmed,
        summary: Some(event.summary.clone()),
        description: event.description.clone(),
        location: event.location.clone(),
        start: Some(event.start),
        end: Some(event.end),
        time_zone: event.time_zone.clone(),
        updated: Some(now),
        transparency: event.transparency,
        private_properties: event.private_properties.clone(),
    }
}

/// True when `event` overlaps the window `[min, max)`.
fn overlaps(event: &CalendarEvent, min: DateTime<Utc>, max: DateTime<Utc>) -> bool {
    match (&event.start, &event.end) {
        (Some(start), Some(end)) => {
            start.approximate_instant() < max && end.approximate_instant() > min
        }
        _ => false,
    }
}

/// The ordering key of a full sync's pages.
fn full_key(event: &CalendarEvent) -> (i64, String) {
    let at = event
        .start
        .map(|s| s.approximate_instant().timestamp_millis())
        .unwrap_or(i64::MIN);
    (at, event.id.clone())
}

#[async_trait]
impl CalendarProvider for SimulatedCalendar {
    fn begin_authorization(&self, state: &str) -> Result<AuthorizationStart, ProviderError> {
        validate_state(PROVIDER, state)?;
        let pkce = Pkce::generate();
        let scope = SCOPES.join(" ");
        let mut url = Url::parse(&self.authorize_url)
            .map_err(|e| permanent(format!("the public URL is not a URL: {e}")))?;
        url.query_pairs_mut().extend_pairs(authorization_query(
            CLIENT_ID,
            &self.redirect_uri,
            state,
            pkce.challenge(),
            &scope,
        ));
        let now = self.clock.now();
        let mut s = self.state();
        // Abandoned authorizations are forgotten, as Google's consent pages time out.
        s.pending
            .retain(|_, (_, begun)| now - *begun < PENDING_LIFETIME);
        s.pending
            .insert(state.to_string(), (pkce.challenge().to_string(), now));
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
        let now = self.clock.now();
        let mut s = self.state();
        let issued = s
            .codes
            .get_mut(code)
            .ok_or_else(|| invalid_grant("Malformed auth code."))?;
        if issued.used || issued.expires_at <= now {
            return Err(invalid_grant("Bad Request"));
        }
        // A code is spent by any attempt, as at Google.
        issued.used = true;
        if issued.redirect_uri != redirect_uri {
            return Err(permanent(
                "the OAuth request was refused (HTTP 400): redirect_uri_mismatch",
            ));
        }
        if !verifier_matches(code_verifier, &issued.challenge) {
            return Err(invalid_grant("Invalid code verifier."));
        }
        let refresh = random_token("sim-refresh-");
        s.grants.insert(refresh.clone(), Grant { revoked: false });
        let (access_token, expires_at) = self.issue_access(&mut s, &refresh);
        Ok(TokenGrant {
            access_token,
            expires_at,
            refresh_token: Some(SecretString::from(refresh)),
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
        })
    }

    async fn refresh_access_token(
        &self,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, ProviderError> {
        let mut s = self.state();
        let refresh = refresh_token.expose_secret();
        if s.grants.get(refresh).is_none_or(|g| g.revoked) {
            return Err(invalid_grant("Token has been expired or revoked."));
        }
        let (access_token, expires_at) = self.issue_access(&mut s, refresh);
        Ok(TokenGrant {
            access_token,
            expires_at,
            refresh_token: None,
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
        })
    }

    async fn revoke_token(&self, token: &SecretString) -> Result<(), ProviderError> {
        let mut s = self.state();
        let token = token.expose_secret();
        let refresh = if s.grants.contains_key(token) {
            Some(token.to_string())
        } else {
            s.access.get(token).map(|a| a.refresh_token.clone())
        };
        if let Some(refresh) = refresh {
            if let Some(grant) = s.grants.get_mut(&refresh) {
                grant.revoked = true;
            }
            s.access.retain(|_, a| a.refresh_token != refresh);
        }
        Ok(())
    }

    async fn list_calendars(
        &self,
        access_token: &SecretString,
    ) -> Result<Vec<CalendarInfo>, ProviderError> {
        let s = self.state();
        self.authorize(&s, access_token)?;
        Ok(s.calendars.iter().map(|c| c.info.clone()).collect())
    }

    async fn list_events(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        query: &EventQuery,
    ) -> Result<EventPage, ProviderError> {
        query.validate(PROVIDER)?;
        let mut s = self.state();
        self.authorize(&s, access_token)?;
        let (seq, floor) = (s.seq, s.sync_floor);
        let calendar = s.calendar_mut(calendar_id)?;
        let tag = calendar_tag(&calendar.info.id);
        let time_zone = calendar.info.time_zone.clone();
        let (snapshot, cursor, page_size) = match query {
            EventQuery::Full {
                page_size,
                page_token,
                ..
            } => match page_token.as_deref() {
                None => (seq, Cursor::Full { after: None }, *page_size),
                Some(token) => match parse_page_token(&tag, token) {
                    Some((snapshot, cursor @ Cursor::Full { .. })) => {
                        (snapshot, cursor, *page_size)
                    }
                    _ => return Err(permanent("request refused (HTTP 400): Invalid page token")),
                },
            },
            EventQuery::Incremental {
                sync_token,
                page_size,
                page_token,
            } => {
                let since = sync_token
                    .strip_prefix(&format!("s.{tag}."))
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|n| *n <= seq)
                    .ok_or_else(|| permanent("request refused (HTTP 400): Invalid sync token"))?;
                if since < floor {
                    return Err(ProviderError::SyncTokenExpired { provider: PROVIDER });
                }
                match page_token.as_deref() {
                    None => (seq, Cursor::Incremental { after: since }, *page_size),
                    Some(token) => match parse_page_token(&tag, token) {
                        Some((snapshot, cursor @ Cursor::Incremental { .. })) => {
                            (snapshot, cursor, *page_size)
                        }
                        _ => {
                            return Err(permanent(
                                "request refused (HTTP 400): Invalid page token",
                            ));
                        }
                    },
                }
            }
        };
        let page_size = usize::try_from(page_size).unwrap_or(usize::MAX);
        let (mut events, next_cursor): (Vec<CalendarEvent>, Option<Cursor>) = match (&cursor, query)
        {
            (
                Cursor::Full { after },
                EventQuery::Full {
                    time_min, time_max, ..
                },
            ) => {
                let mut matching: Vec<&Stored> = calendar
                    .events
                    .values()
                    .filter(|e| e.event.status != EventStatus::Cancelled)
                    .filter(|e| overlaps(&e.event, *time_min, *time_max))
                    .filter(|e| after.as_ref().is_none_or(|a| full_key(&e.event) > *a))
                    .collect();
                matching.sort_by_key(|e| full_key(&e.event));
                let more = matching.len() > page_size;
                let page: Vec<CalendarEvent> = matching
                    .into_iter()
                    .take(page_size)
                    .map(|e| e.event.clone())
                    .collect();
                let next = more.then(|| Cursor::Full {
                    after: page.last().map(full_key),
                });
                (page, next)
            }
            (Cursor::Incremental { after }, EventQuery::Incremental { .. }) => {
                let mut changed: Vec<&Stored> = calendar
                    .events
                    .values()
                    .filter(|e| e.seq > *after && e.seq <= snapshot)
                    .collect();
                changed.sort_by_key(|e| e.seq);
                let more = changed.len() > page_size;
                let page: Vec<&Stored> = changed.into_iter().take(page_size).collect();
                let next = more.then(|| Cursor::Incremental {
                    after: page.last().map_or(*after, |e| e.seq),
                });
                (page.into_iter().map(|e| e.event.clone()).collect(), next)
            }
            _ => return Err(permanent("request refused (HTTP 400): Invalid page token")),
        };
        // A cancelled event carries only its id and status in an incremental sync.
        for event in events.iter_mut() {
            if event.status == EventStatus::Cancelled {
                *event = CalendarEvent {
                    id: std::mem::take(&mut event.id),
                    status: EventStatus::Cancelled,
                    summary: None,
                    description: None,
                    location: None,
                    start: None,
                    end: None,
                    time_zone: None,
                    updated: event.updated,
                    transparency: Default::default(),
                    private_properties: BTreeMap::new(),
                };
            }
        }
        Ok(match next_cursor {
            Some(next) => EventPage {
                events,
                next_page_token: Some(page_token(&tag, snapshot, &next)),
                next_sync_token: None,
                time_zone,
            },
            None => EventPage {
                events,
                next_page_token: None,
                next_sync_token: Some(format!("s.{tag}.{snapshot}")),
                time_zone,
            },
        })
    }

    async fn get_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<CalendarEvent, ProviderError> {
        let mut s = self.state();
        self.authorize(&s, access_token)?;
        s.calendar_mut(calendar_id)?
            .events
            .get(event_id)
            .map(|e| e.event.clone())
            .ok_or(ProviderError::NotFound { provider: PROVIDER })
    }

    async fn insert_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event: &NewEvent,
    ) -> Result<InsertedEvent, ProviderError> {
        event.validate(PROVIDER)?;
        let now = self.clock.now();
        let mut s = self.state();
        self.authorize(&s, access_token)?;
        let calendar = s.writable_calendar(calendar_id)?;
        if let Some(existing) = calendar.events.get(&event.id) {
            return Ok(InsertedEvent {
                event: existing.event.clone(),
                created: false,
            });
        }
        let id = calendar.info.id.clone();
        let stored = created(event, now);
        let seq = s.next_seq();
        s.writable_calendar(&id)?.events.insert(
            event.id.clone(),
            Stored {
                event: stored.clone(),
                seq,
            },
        );
        let sent = s.notify(&id, now);
        s.outbox.extend(sent);
        Ok(InsertedEvent {
            event: stored,
            created: true,
        })
    }

    async fn patch_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event_id: &str,
        patch: &EventPatch,
    ) -> Result<CalendarEvent, ProviderError> {
        let now = self.clock.now();
        let mut s = self.state();
        self.authorize(&s, access_token)?;
        let calendar = s.writable_calendar(calendar_id)?;
        let id = calendar.info.id.clone();
        let stored = calendar
            .events
            .get(event_id)
            .ok_or(ProviderError::NotFound { provider: PROVIDER })?;
        if patch.is_empty() {
            return Ok(stored.event.clone());
        }
        let mut event = stored.event.clone();
        if let Some(summary) = &patch.summary {
            event.summary = Some(summary.clone());
        }
        if let Some(description) = &patch.description {
            event.description = Some(description.clone());
        }
        if let Some(location) = &patch.location {
            event.location = Some(location.clone());
        }
        if let Some(start) = patch.start {
            event.start = Some(start);
        }
        if let Some(end) = patch.end {
            event.end = Some(end);
        }
        if let Some(zone) = &patch.time_zone
            && (patch.start.is_some() || patch.end.is_some())
        {
            event.time_zone = Some(zone.clone());
        }
        if let Some(transparency) = patch.transparency {
            event.transparency = transparency;
        }
        event.private_properties.extend(
            patch
                .private_properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        if let (Some(start), Some(end)) = (&event.start, &event.end) {
            validate_span(PROVIDER, start, end)?;
        }
        event.updated = Some(now);
        let seq = s.next_seq();
        s.writable_calendar(&id)?.events.insert(
            event_id.to_string(),
            Stored {
                event: event.clone(),
                seq,
            },
        );
        let sent = s.notify(&id, now);
        s.outbox.extend(sent);
        Ok(event)
    }

    async fn delete_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<(), ProviderError> {
        let now = self.clock.now();
        let mut s = self.state();
        self.authorize(&s, access_token)?;
        let calendar = s.writable_calendar(calendar_id)?;
        let id = calendar.info.id.clone();
        match calendar.events.get(event_id) {
            None => return Err(ProviderError::NotFound { provider: PROVIDER }),
            Some(stored) if stored.event.status == EventStatus::Cancelled => return Ok(()),
            Some(_) => {}
        }
        let seq = s.next_seq();
        if let Some(stored) = s.writable_calendar(&id)?.events.get_mut(event_id) {
            stored.event.status = EventStatus::Cancelled;
            stored.event.updated = Some(now);
            stored.seq = seq;
        }
        let sent = s.notify(&id, now);
        s.outbox.extend(sent);
        Ok(())
    }

    async fn watch_events(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        request: &WatchRequest,
    ) -> Result<WatchChannel, ProviderError> {
        let now = self.clock.now();
        let mut s = self.state();
        self.authorize(&s, access_token)?;
        let calendar_id = s.calendar_mut(calendar_id)?.info.id.clone();
        let channel_id = request.channel_id.trim();
        if channel_id.is_empty() {
            return Err(permanent(
                "request refused (HTTP 400): the channel id is empty",
            ));
        }
        let address = Url::parse(request.address.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| permanent("request refused (HTTP 400): the address is not a URL"))?;
        if s.channels.contains_key(channel_id) {
            return Err(permanent(
                "request refused (HTTP 400): Channel id not unique",
            ));
        }
        let ttl = request.ttl.unwrap_or(DEFAULT_CHANNEL_TTL);
        let expiration = now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::days(7));
        let resource_id = format!("sim-resource-{}", calendar_tag(&calendar_id));
        s.channels.insert(
            channel_id.to_string(),
            Channel {
                calendar_id,
                resource_id: resource_id.clone(),
                token: request.token.clone(),
                address: address.to_string(),
                expiration,
                messages: 0,
            },
        );
        // Google confirms a new channel with a `sync` message, number 1.
        s.outbox.push(ChannelNotification {
            channel_id: channel_id.to_string(),
            token: request.token.clone(),
            resource_id: resource_id.clone(),
            resource_state: "sync",
            message_number: 1,
            address: address.to_string(),
        });
        if let Some(channel) = s.channels.get_mut(channel_id) {
            channel.messages = 1;
        }
        Ok(WatchChannel {
            channel_id: channel_id.to_string(),
            resource_id,
            expiration: Some(expiration),
        })
    }

    async fn stop_channel(
        &self,
        access_token: &SecretString,
        channel_id: &str,
        resource_id: &str,
    ) -> Result<(), ProviderError> {
        let mut s = self.state();
        self.authorize(&s, access_token)?;
        match s.channels.get(channel_id) {
            Some(channel) if channel.resource_id == resource_id => {
                s.channels.remove(channel_id);
                Ok(())
            }
            _ => Err(ProviderError::NotFound { provider: PROVIDER }),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use zencall_core::clock::ManualClock;

    use super::*;
    use crate::calendar::{Transparency, event_id_for};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("time")
    }

    fn settings() -> GoogleCalendarSettings {
        GoogleCalendarSettings {
            client_id: String::new(),
            client_secret: SecretString::from(""),
            authorization_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            oauth_base_url: "https://oauth2.googleapis.com".into(),
            api_base_url: "https://www.googleapis.com/calendar/v3".into(),
            redirect_path: "/oauth/google/callback".into(),
            timeout_ms: 1000,
        }
    }

    fn simulator() -> (SimulatedCalendar, ManualClock) {
        let clock = ManualClock::new(now());
        let sim = SimulatedCalendar::new(&settings(), "http://localhost:8080/")
            .with_clock(Arc::new(clock.clone()));
        (sim, clock)
    }

    /// Connects the simulated account and returns its tokens.
    async fn connect(sim: &SimulatedCalendar) -> TokenGrant {
        let start = sim.begin_authorization("state-1").expect("start");
        let approval = sim.approve("state-1").expect("approved");
        sim.exchange_code(&approval.code, &start.code_verifier, &start.redirect_uri)
            .await
            .expect("tokens")
    }

    fn event(key: &str, start_hours: i64, hours: i64) -> NewEvent {
        NewEvent {
            id: event_id_for(key),
            summary: format!("Appointment {key}"),
            description: None,
            location: None,
            start: EventTime::At(now() + TimeDelta::hours(start_hours)),
            end: EventTime::At(now() + TimeDelta::hours(start_hours + hours)),
            time_zone: Some("Europe/Paris".into()),
            transparency: Transparency::Opaque,
            private_properties: BTreeMap::from([("zencall_key".to_string(), key.to_string())]),
        }
    }

    fn full(page_size: u32, page_token: Option<String>) -> EventQuery {
        EventQuery::Full {
            time_min: now() - TimeDelta::days(7),
            time_max: now() + TimeDelta::days(30),
            page_size,
            page_token,
        }
    }

    fn since(sync_token: &str) -> EventQuery {
        EventQuery::Incremental {
            sync_token: sync_token.into(),
            page_size: 100,
            page_token: None,
        }
    }

    /// Every page of a query; the sync token of the last page.
    async fn all_pages(
        sim: &SimulatedCalendar,
        token: &SecretString,
        mut query: EventQuery,
    ) -> (Vec<Vec<CalendarEvent>>, String) {
        let mut pages = Vec::new();
        loop {
            let page = sim
                .list_events(token, "primary", &query)
                .await
                .expect("page");
            pages.push(page.events);
            match page.next_page_token {
                Some(next) => match &mut query {
                    EventQuery::Full { page_token, .. }
                    | EventQuery::Incremental { page_token, .. } => *page_token = Some(next),
                },
                None => return (pages, page.next_sync_token.expect("sync token at the end")),
            }
        }
    }

    #[tokio::test]
    async fn the_connect_flow_goes_through_our_local_authorization_page() {
        let (sim, _) = simulator();
        let start = sim.begin_authorization("org-1:abc").expect("start");
        assert!(
            start
                .url
                .starts_with("http://localhost:8080/simulator/google/authorize?"),
            "{}",
            start.url
        );
        let url = Url::parse(&start.url).expect("url");
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query.get("state").map(String::as_str), Some("org-1:abc"));
        assert_eq!(
            query.get("code_challenge").cloned(),
            Some(crate::calendar::challenge_of(
                start.code_verifier.expose_secret()
            ))
        );
        assert_eq!(
            start.redirect_uri,
            "http://localhost:8080/oauth/google/callback"
        );

        let approval = sim.approve("org-1:abc").expect("approved");
        let callback = Url::parse(&approval.callback_url).expect("callback");
        assert_eq!(callback.path(), "/oauth/google/callback");
        let pairs: HashMap<String, String> = callback.query_pairs().into_owned().collect();
        assert_eq!(pairs.get("code"), Some(&approval.code));
        assert_eq!(pairs.get("state").map(String::as_str), Some("org-1:abc"));
        // A state is approved once.
        assert!(sim.approve("org-1:abc").is_err());

        let grant = sim
            .exchange_code(&approval.code, &start.code_verifier, &start.redirect_uri)
            .await
            .expect("tokens");
        assert!(grant.refresh_token.is_some());
        assert!(grant.missing_scopes().is_empty());
        assert_eq!(grant.expires_at, now() + TimeDelta::hours(1));
        let calendars = sim
            .list_calendars(&grant.access_token)
            .await
            .expect("calendars");
        assert_eq!(calendars.len(), 2);
        assert!(calendars[0].primary);
        assert_eq!(calendars[0].access_role, Some(AccessRole::Owner));
        assert_eq!(calendars[1].access_role, Some(AccessRole::Reader));

        // A code is single use.
        let err = sim
            .exchange_code(&approval.code, &start.code_verifier, &start.redirect_uri)
            .await
            .expect_err("spent");
        assert!(
            matches!(err, ProviderError::ReconnectNeeded { .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_wrong_verifier_an_old_code_or_a_refusal_connect_nothing() {
        let (sim, clock) = simulator();
        let start = sim.begin_authorization("s1").expect("start");
        let approval = sim.approve("s1").expect("approved");
        let other = Pkce::generate();
        let err = sim
            .exchange_code(&approval.code, other.verifier(), &start.redirect_uri)
            .await
            .expect_err("wrong verifier");
        assert!(
            matches!(err, ProviderError::ReconnectNeeded { .. }),
            "{err:?}"
        );

        let start = sim.begin_authorization("s2").expect("start");
        let approval = sim.approve("s2").expect("approved");
        clock.advance(TimeDelta::minutes(11));
        let err = sim
            .exchange_code(&approval.code, &start.code_verifier, &start.redirect_uri)
            .await
            .expect_err("expired code");
        assert!(
            matches!(err, ProviderError::ReconnectNeeded { .. }),
            "{err:?}"
        );

        sim.begin_authorization("old").expect("start");
        clock.advance(TimeDelta::hours(2));
        assert!(
            sim.approve("old").is_err(),
            "an abandoned authorization expires"
        );

        sim.begin_authorization("s3").expect("start");
        let denied = sim.deny("s3").expect("denied");
        assert!(denied.contains("error=access_denied"), "{denied}");
        assert!(sim.approve("s3").is_err());
        assert!(sim.approve("never-begun").is_err());
    }

    #[tokio::test]
    async fn access_tokens_expire_and_refresh_until_the_grant_is_revoked() {
        let (sim, clock) = simulator();
        let grant = connect(&sim).await;
        let refresh = grant.refresh_token.clone().expect("refresh token");
        clock.advance(TimeDelta::minutes(61));
        assert_eq!(
            sim.list_calendars(&grant.access_token).await,
            Err(ProviderError::AccessTokenRejected { provider: PROVIDER })
        );
        let renewed = sim.refresh_access_token(&refresh).await.expect("refreshed");
        assert!(renewed.refresh_token.is_none());
        assert_eq!(renewed.expires_at, clock.now() + TimeDelta::hours(1));
        sim.list_calendars(&renewed.access_token)
            .await
            .expect("works again");

        sim.revoke_token(&renewed.access_token)
            .await
            .expect("revoked");
        assert!(matches!(
            sim.list_calendars(&renewed.access_token).await,
            Err(ProviderError::AccessTokenRejected { .. })
        ));
        assert!(matches!(
            sim.refresh_access_token(&refresh).await,
            Err(ProviderError::ReconnectNeeded { .. })
        ));
        // Revoking again, or an unknown token, is not an error.
        sim.revoke_token(&refresh).await.expect("already revoked");
    }

    #[tokio::test]
    async fn the_owner_removing_access_in_google_forces_a_reconnect() {
        let (sim, _) = simulator();
        let grant = connect(&sim).await;
        sim.revoke_all_grants();
        let refresh = grant.refresh_token.expect("refresh token");
        assert!(matches!(
            sim.refresh_access_token(&refresh).await,
            Err(ProviderError::ReconnectNeeded { .. })
        ));
        assert!(matches!(
            sim.list_calendars(&grant.access_token).await,
            Err(ProviderError::AccessTokenRejected { .. })
        ));
    }

    #[tokio::test]
    async fn a_full_sync_pages_through_the_window_then_incremental_syncs_give_only_changes() {
        let (sim, _) = simulator();
        let token = connect(&sim).await.access_token;
        for (i, hours) in [2, 26, 50, 74, 98].into_iter().enumerate() {
            sim.insert_event(&token, "primary", &event(&format!("a{i}"), hours, 1))
                .await
                .expect("inserted");
        }
        // Outside the window: never listed by the full sync.
        sim.insert_event(&token, "primary", &event("far", 24 * 60, 1))
            .await
            .expect("inserted");

        let (pages, sync_1) = all_pages(&sim, &token, full(2, None)).await;
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
        let keys: Vec<String> = pages
            .iter()
            .flatten()
            .map(|e| e.private_properties["zencall_key"].clone())
            .collect();
        assert_eq!(keys, ["a0", "a1", "a2", "a3", "a4"]);

        // Nothing changed: nothing to report.
        let (pages, sync_2) = all_pages(&sim, &token, since(&sync_1)).await;
        assert!(pages.iter().all(Vec::is_empty));

        let moved = event_id_for("a1");
        sim.move_event_in_google(
            ACCOUNT_EMAIL,
            &moved,
            EventTime::At(now() + TimeDelta::hours(30)),
            EventTime::At(now() + TimeDelta::hours(31)),
        )
        .expect("moved");
        sim.cancel_event_in_google(ACCOUNT_EMAIL, &event_id_for("a2"))
            .expect("cancelled");
        sim.delete_event(&token, "primary", &event_id_for("a3"))
            .await
            .expect("deleted");
        sim.insert_event(&token, "primary", &event("new", 5, 1))
            .await
            .expect("inserted");

        let (pages, sync_3) = all_pages(&sim, &token, since(&sync_2)).await;
        let changes: Vec<&CalendarEvent> = pages.iter().flatten().collect();
        assert_eq!(changes.len(), 4);
        assert_eq!(changes[0].id, moved);
        assert_eq!(
            changes[0].start,
            Some(EventTime::At(now() + TimeDelta::hours(30)))
        );
        assert_eq!(changes[1].id, event_id_for("a2"));
        assert_eq!(changes[1].status, EventStatus::Cancelled);
        assert_eq!(changes[1].start, None);
        assert_eq!(changes[2].id, event_id_for("a3"));
        assert_eq!(changes[2].status, EventStatus::Cancelled);
        assert_eq!(changes[3].id, event_id_for("new"));
        assert_eq!(changes[3].status, EventStatus::Confirmed);

        // An older token still gives every change since it was issued.
        let (pages, _) = all_pages(&sim, &token, since(&sync_1)).await;
        assert_eq!(pages.iter().flatten().count(), 4);
        let (pages, _) = all_pages(&sim, &token, since(&sync_3)).await;
        assert!(pages.iter().all(Vec::is_empty));

        // A new full sync no longer lists the cancelled events.
        let (pages, _) = all_pages(&sim, &token, full(100, None)).await;
        assert_eq!(pages.iter().flatten().count(), 4);
    }

    #[tokio::test]
    async fn incremental_changes_are_paged_too() {
        let (sim, _) = simulator();
        let token = connect(&sim).await.access_token;
        let (_, sync) = all_pages(&sim, &token, full(10, None)).await;
        for i in 0..5 {
            sim.insert_event(&token, "primary", &event(&format!("p{i}"), i + 1, 1))
                .await
                .expect("inserted");
        }
        let query = EventQuery::Incremental {
            sync_token: sync,
            page_size: 2,
            page_token: None,
        };
        let (pages, _) = all_pages(&sim, &token, query).await;
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    }

    #[tokio::test]
    async fn a_change_made_while_a_full_sync_pages_is_caught_by_the_next_incremental_sync() {
        let (sim, _) = simulator();
        let token = connect(&sim).await.access_token;
        for i in 0..4 {
            sim.insert_event(&token, "primary", &event(&format!("c{i}"), 10 * (i + 1), 1))
                .await
                .expect("inserted");
        }
        let first = sim
            .list_events(&token, "primary", &full(2, None))
            .await
            .expect("page 1");
        // Meanwhile an event already read moves after the cursor, one not yet read is deleted,
        // and one is added before the cursor.
        sim.move_event_in_google(
            ACCOUNT_EMAIL,
            &event_id_for("c0"),
            EventTime::At(now() + TimeDelta::hours(100)),
            EventTime::At(now() + TimeDelta::hours(101)),
        )
        .expect("moved");
        sim.delete_event(&token, "primary", &event_id_for("c3"))
            .await
            .expect("deleted");
        sim.insert_event(&token, "primary", &event("early", 1, 1))
            .await
            .expect("inserted");
        let (rest, sync) = all_pages(&sim, &token, full(2, first.next_page_token)).await;
        let read: Vec<String> = first
            .events
            .iter()
            .chain(rest.iter().flatten())
            .map(|e| e.id.clone())
            .collect();
        assert!(read.contains(&event_id_for("c2")));
        let (changes, _) = all_pages(&sim, &token, since(&sync)).await;
        let changed: Vec<&str> = changes.iter().flatten().map(|e| e.id.as_str()).collect();
        for key in ["c0", "c3", "early"] {
            assert!(
                changed.contains(&event_id_for(key).as_str()),
                "{key} missed"
            );
        }
    }

    #[tokio::test]
    async fn expired_sync_tokens_ask_for_a_full_sync() {
        let (sim, _) = simulator();
        let token = connect(&sim).await.access_token;
        let (_, sync) = all_pages(&sim, &token, full(10, None)).await;
        sim.expire_sync_tokens();
        assert_eq!(
            sim.list_events(&token, "primary", &since(&sync)).await,
            Err(ProviderError::SyncTokenExpired { provider: PROVIDER })
        );
        let (_, fresh) = all_pages(&sim, &token, full(10, None)).await;
        sim.list_events(&token, "primary", &since(&fresh))
            .await
            .expect("valid again");
        assert!(matches!(
            sim.list_events(&token, "primary", &since("garbage")).await,
            Err(ProviderError::Permanent { .. })
        ));
    }

    #[tokio::test]
    async fn inserting_an_id_twice_returns_the_first_event_and_changes_nothing() {
        let (sim, _) = simulator();
        let token = connect(&sim).await.access_token;
        let (_, sync) = all_pages(&sim, &token, full(10, None)).await;
        let appointment = event("appointment:01J", 24, 1);
        let first = sim
            .insert_event(&token, "primary", &appointment)
            .await
            .expect("created");
        assert!(first.created);
        let mut retried = appointment.clone();
        retried.summary = "Something else".into();
        let again = sim
            .insert_event(&token, "primary", &retried)
            .await
            .expect("existing");
        assert!(!again.created);
        assert_eq!(again.event, first.event);
        let (changes, _) = all_pages(&sim, &token, since(&sync)).await;
        assert_eq!(changes.iter().flatten().count(), 1);

        let mut bad = appointment;
        bad.id = "UPPER-case".into();
        assert!(sim.insert_event(&token, "primary", &bad).await.is_err());
    }

    #[tokio::test]
    async fn events_can_be_read_patched_and_deleted_once() {
        let (sim, clock) = simulator();
        let token = connect(&sim).await.access_token;
        let new = event("rw", 3, 1);
        sim.insert_event(&token, ACCOUNT_EMAIL, &new)
            .await
            .expect("created");
        clock.advance(TimeDelta::minutes(5));
        let patched = sim
            .patch_event(
                &token,
                "primary",
                &new.id,
                &EventPatch {
                    summary: Some("Renamed".into()),
                    private_properties: BTreeMap::from([("extra".into(), "1".into())]),
                    ..EventPatch::default()
                },
            )
            .await
            .expect("patched");
        assert_eq!(patched.summary.as_deref(), Some("Renamed"));
        assert_eq!(patched.private_properties.len(), 2);
        assert_eq!(patched.updated, Some(clock.now()));
        assert_eq!(sim.get_event(&token, "primary", &new.id).await, Ok(patched));
        let backwards = EventPatch {
            end: Some(EventTime::At(now())),
            ..EventPatch::default()
        };
        assert!(
            sim.patch_event(&token, "primary", &new.id, &backwards)
                .await
                .is_err()
        );
        sim.delete_event(&token, "primary", &new.id)
            .await
            .expect("deleted");
        sim.delete_event(&token, "primary", &new.id)
            .await
            .expect("deleting again is fine");
        assert_eq!(
            sim.get_event(&token, "primary", &new.id)
                .await
                .map(|e| e.status),
            Ok(EventStatus::Cancelled)
        );
        assert_eq!(
            sim.delete_event(&token, "primary", "nosuchevent").await,
            Err(ProviderError::NotFound { provider: PROVIDER })
        );
        assert_eq!(
            sim.get_event(&token, "nobody@example.com", &new.id).await,
            Err(ProviderError::NotFound { provider: PROVIDER })
        );
    }

    #[tokio::test]
    async fn a_read_only_calendar_refuses_writes() {
        let (sim, _) = simulator();
        let token = connect(&sim).await.access_token;
        let err = sim
            .insert_event(&token, HOLIDAY_CALENDAR_ID, &event("h", 1, 1))
            .await
            .expect_err("read-only");
        assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn changes_in_google_notify_the_live_channels_of_that_calendar_only() {
        let (sim, clock) = simulator();
        let token = connect(&sim).await.access_token;
        let watch = |id: &str, ttl_secs: u64| WatchRequest {
            channel_id: id.into(),
            token: SecretString::from(format!("token-{id}")),
            address: "http://localhost:8080/webhooks/google-calendar".into(),
            ttl: Some(Duration::from_secs(ttl_secs)),
        };
        let long = sim
            .watch_events(&token, "primary", &watch("ch-long", 86_400))
            .await
            .expect("watching");
        assert_eq!(long.expiration, Some(now() + TimeDelta::days(1)));
        sim.watch_events(&token, "primary", &watch("ch-short", 60))
            .await
            .expect("watching");
        sim.watch_events(&token, HOLIDAY_CALENDAR_ID, &watch("ch-holidays", 86_400))
            .await
            .expect("watching");
        let stopped = sim
            .watch_events(&token, "primary", &watch("ch-stopped", 86_400))
            .await
            .expect("watching");
        assert!(matches!(
            sim.watch_events(&token, "primary", &watch("ch-long", 60))
                .await,
            Err(ProviderError::Permanent { .. })
        ));
        sim.stop_channel(&token, "ch-stopped", &stopped.resource_id)
            .await
            .expect("stopped");
        assert_eq!(
            sim.stop_channel(&token, "ch-stopped", &stopped.resource_id)
                .await,
            Err(ProviderError::NotFound { provider: PROVIDER })
        );
        let opened = sim.take_notifications();
        assert_eq!(opened.len(), 4);
        assert!(
            opened
                .iter()
                .all(|n| n.resource_state == "sync" && n.message_number == 1)
        );

        sim.add_event_in_google(ACCOUNT_EMAIL, &event("busy", 4, 2))
            .expect("added");
        clock.advance(TimeDelta::minutes(2));
        let sent = sim
            .cancel_event_in_google(ACCOUNT_EMAIL, &event_id_for("busy"))
            .expect("cancelled");
        assert_eq!(sent.len(), 1);
        let notification = &sent[0];
        assert_eq!(notification.channel_id, "ch-long");
        assert_eq!(notification.token.expose_secret(), "token-ch-long");
        assert_eq!(notification.resource_id, long.resource_id);
        assert_eq!(notification.resource_state, "exists");
        assert_eq!(notification.message_number, 3);
        assert_eq!(
            notification.address,
            "http://localhost:8080/webhooks/google-calendar"
        );
        assert!(sim.take_notifications().is_empty());
        assert_eq!(
            sim.open_channels(),
            vec![
                ("ch-holidays".to_string(), HOLIDAY_CALENDAR_ID.to_string()),
                ("ch-long".to_string(), ACCOUNT_EMAIL.to_string()),
            ]
        );

        // Our own writes notify too, through the outbox.
        sim.insert_event(&token, "primary", &event("ours", 8, 1))
            .await
            .expect("inserted");
        let queued = sim.take_notifications();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].channel_id, "ch-long");
        assert_eq!(queued[0].message_number, 4);

        // A moved or cancelled event that does not exist is not found.
        assert!(matches!(
            sim.cancel_event_in_google(ACCOUNT_EMAIL, &event_id_for("busy")),
            Err(ProviderError::NotFound { .. })
        ));
    }
}
