//! Appointments booked with an assistant, each with its history of changes.
//!
//! Two bookings can never hold one slot, even when they arrive at once: a booking runs in one
//! transaction that first locks the assistant's row (PostgreSQL `FOR UPDATE`; SQLite
//! transactions take the write lock at `BEGIN IMMEDIATE`), then checks the slot against the
//! opening hours, the calendar's busy events and the booked appointments, and only then
//! inserts. A partial unique index on `(assistant_id, starts_at)` of booked appointments is a
//! second guard; a booking it refuses is reported as [`Booking::SlotTaken`] too.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Backend, Db, StoreError, Tx};
use crate::domain::availability::{self, Busy, Unavailable};
use crate::domain::business_hours::BusinessHours;
use crate::domain::ids::new_id;
use crate::domain::phone::PhoneNumber;
use crate::domain::sector::BusinessDetails;
use zencall_queue::{on_pool, on_tx};

/// Where an appointment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    /// The slot is held.
    Booked,
    /// Cancelled; the slot is free again.
    Cancelled,
}

impl AppointmentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Booked, Self::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Who changed an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The assistant, during a call.
    Assistant,
    /// A user of the API.
    Api,
    /// Someone who changed its event in the calendar.
    Calendar,
}

impl Actor {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assistant => "assistant",
            Self::Api => "api",
            Self::Calendar => "calendar",
        }
    }
}

/// What happened to an appointment, in its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChangeKind {
    Booked,
    Moved,
    Cancelled,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Moved => "moved",
            Self::Cancelled => "cancelled",
        }
    }
}

/// How a move is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveRule {
    /// As a booking is: inside the opening hours, free, with the minimum notice.
    LikeABooking,
    /// As the calendar says, for its change made at the given time: the calendar wins on time
    /// (it can still not put two booked appointments of one assistant at the same start), unless
    /// the appointment changed since (read under the lock): then that newer change stands.
    AsTheCalendarSays(Option<DateTime<Utc>>),
}

/// What a move came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rescheduling {
    /// Moved.
    Moved(Box<Appointment>),
    /// It already had these times, or the calendar's change is older than its last change;
    /// nothing changed.
    Unchanged(Box<Appointment>),
    /// It is cancelled; nothing changed.
    NotBooked(Box<Appointment>),
    /// No appointment of the organisation has this id.
    NotFound,
    /// Another appointment or a busy event overlaps the new slot.
    SlotTaken,
    /// The new slot is not inside the opening hours.
    Closed,
    /// The new slot starts in the past or sooner than the minimum notice.
    TooSoon,
    /// The assistant has no structured opening hours to check the new slot against.
    NoHours,
}

/// An appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appointment {
    /// `appt_...`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// The assistant it was booked with.
    pub assistant_id: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End, exclusive.
    pub ends_at: DateTime<Utc>,
    /// The caller's name, as given.
    pub caller_name: String,
    /// The caller's number, E.164.
    pub caller_number: String,
    /// The service booked, when named.
    pub service: Option<String>,
    /// The call it was booked in.
    pub call_id: Option<String>,
    /// Booked or cancelled.
    pub status: AppointmentStatus,
    /// Why it was cancelled, when it was and a reason was given.
    pub cancel_reason: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The calendar event it was written to, once PushAppointment has written it.
    pub calendar_event: Option<AppointmentEvent>,
}

/// Where an appointment's calendar event is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppointmentEvent {
    /// The calendar connection (`ccon_...`).
    pub connection_id: String,
    /// The calendar's id at the provider.
    pub calendar_id: String,
    /// The event's id in that calendar.
    pub event_id: String,
}

/// One entry of an appointment's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppointmentChange {
    /// `apch_...`, in the order the changes were made.
    pub id: String,
    /// `booked` or `cancelled`.
    pub kind: String,
    /// The slot after the change.
    pub starts_at: DateTime<Utc>,
    /// Its end.
    pub ends_at: DateTime<Utc>,
    /// `assistant` or `api`.
    pub actor: String,
    /// Why, when a reason was given.
    pub reason: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A booking to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppointment {
    /// The assistant booked with.
    pub assistant_id: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End, exclusive; after the start.
    pub ends_at: DateTime<Utc>,
    /// The caller's name.
    pub caller_name: String,
    /// The caller's number.
    pub caller_number: PhoneNumber,
    /// The service, when named.
    pub service: Option<String>,
    /// The call it is booked in.
    pub call_id: Option<String>,
    /// Who books.
    pub actor: Actor,
}

/// What a booking came to, for the assistant to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Booking {
    /// Booked.
    Booked(Box<Appointment>),
    /// Another appointment or a busy event of the calendar overlaps the slot.
    SlotTaken,
    /// The slot is not inside the opening hours, or falls on a holiday or a closed date.
    Closed,
    /// The slot starts in the past or sooner than the business's minimum notice.
    TooSoon,
    /// The assistant has no structured opening hours to book against.
    NoHours,
    /// No live assistant of the organisation has this id.
    UnknownAssistant,
}

/// What a cancellation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancellation {
    /// Cancelled now.
    Cancelled(Appointment),
    /// It was cancelled before; nothing changed.
    AlreadyCancelled(Appointment),
}

#[derive(sqlx::FromRow)]
struct AppointmentRow {
    id: String,
    org_id: String,
    assistant_id: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    caller_name: String,
    caller_number: String,
    service: Option<String>,
    call_id: Option<String>,
    status: String,
    cancel_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    calendar_connection_id: Option<String>,
    calendar_id: Option<String>,
    calendar_event_id: Option<String>,
}

const COLUMNS: &str = "id, org_id, assistant_id, starts_at, ends_at, caller_name, caller_number, \
    service, call_id, status, cancel_reason, created_at, updated_at, cancelled_at, \
    calendar_connection_id, calendar_id, calendar_event_id";

impl TryFrom<AppointmentRow> for Appointment {
    type Error = StoreError;
    fn try_from(r: AppointmentRow) -> Result<Self, StoreError> {
        Ok(Appointment {
            status: AppointmentStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("appointment {}: status", r.id)))?,
            id: r.id,
            org_id: r.org_id,
            assistant_id: r.assistant_id,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            caller_name: r.caller_name,
            caller_number: r.caller_number,
            service: r.service,
            call_id: r.call_id,
            cancel_reason: r.cancel_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
            cancelled_at: r.cancelled_at,
            calendar_event: match (r.calendar_connection_id, r.calendar_id, r.calendar_event_id) {
                (Some(connection_id), Some(calendar_id), Some(event_id)) => {
                    Some(AppointmentEvent {
                        connection_id,
                        calendar_id,
                        event_id,
                    })
                }
                _ => None,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: String,
    kind: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    actor: String,
    reason: Option<String>,
    created_at: DateTime<Utc>,
}

/// What a booking needs to know of its assistant, read under the lock.
#[derive(sqlx::FromRow)]
struct BookingTarget {
    business: String,
    calendar_connection_id: Option<String>,
}

/// Books `new` for `org_id`: see the module's documentation for why two bookings of one slot
/// cannot both succeed.
pub async fn book(
    db: &Db,
    org_id: &str,
    new: &NewAppointment,
    now: DateTime<Utc>,
) -> Result<Booking, StoreError> {
    let mut tx = db.begin().await?;
    let booking = book_in(&mut tx, org_id, new, now).await?;
    match booking {
        Booking::Booked(_) => tx.commit().await?,
        _ => tx.rollback().await?,
    }
    Ok(booking)
}

/// [`book`] inside `tx`, which must be fresh (the assistant's row is locked first), so that
/// what follows a booking (its calendar push, its event) is written with it. Commit only on
/// [`Booking::Booked`]; roll back on anything else (a refused insert aborts the transaction on
/// PostgreSQL).
pub async fn book_in(
    tx: &mut Tx,
    org_id: &str,
    new: &NewAppointment,
    now: DateTime<Utc>,
) -> Result<Booking, StoreError> {
    let now = super::now_micros(now);
    let (starts_at, ends_at) = (
        super::now_micros(new.starts_at),
        super::now_micros(new.ends_at),
    );
    let lock = match tx.db().backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT business, calendar_connection_id FROM assistants WHERE org_id = $1 AND id = $2 \
         AND status IN ('provisioning', 'active'){lock}"
    );
    let target = on_tx!(tx, |c| sqlx::query_as::<_, BookingTarget>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(&new.assistant_id)
    .fetch_optional(c)
    .await)?;
    let Some(target) = target else {
        return Ok(Booking::UnknownAssistant);
    };
    let Some(hours) = hours_of(&new.assistant_id, &target.business)? else {
        return Ok(Booking::NoHours);
    };
    let mut busy = match &target.calendar_connection_id {
        Some(connection_id) => {
            super::calendar_events::busy_between_in(
                tx,
                org_id,
                connection_id,
                starts_at,
                ends_at,
                None,
            )
            .await?
        }
        None => Vec::new(),
    };
    busy.extend(booked_between_in(tx, org_id, &new.assistant_id, starts_at, ends_at, None).await?);
    match availability::check_slot(&hours, &busy, starts_at, ends_at, now) {
        Ok(()) => {}
        Err(Unavailable::TooSoon) => return Ok(Booking::TooSoon),
        Err(Unavailable::Closed) => return Ok(Booking::Closed),
        Err(Unavailable::Busy) => return Ok(Booking::SlotTaken),
    }
    let appointment = Appointment {
        id: new_id("appt"),
        org_id: org_id.to_string(),
        assistant_id: new.assistant_id.clone(),
        starts_at,
        ends_at,
        caller_name: new.caller_name.clone(),
        caller_number: new.caller_number.as_str().to_string(),
        service: new.service.clone(),
        call_id: new.call_id.clone(),
        status: AppointmentStatus::Booked,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
        cancelled_at: None,
        calendar_event: None,
    };
    let inserted = on_tx!(tx, |c| sqlx::query(
        "INSERT INTO appointments (id, org_id, assistant_id, starts_at, ends_at, caller_name, \
         caller_number, service, call_id, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'booked', $10, $10)"
    )
    .bind(&appointment.id)
    .bind(org_id)
    .bind(&appointment.assistant_id)
    .bind(starts_at)
    .bind(ends_at)
    .bind(&appointment.caller_name)
    .bind(&appointment.caller_number)
    .bind(&appointment.service)
    .bind(&appointment.call_id)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()));
    match inserted {
        Ok(()) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Ok(Booking::SlotTaken);
        }
        Err(e) => return Err(e.into()),
    }
    record_change(tx, &appointment, ChangeKind::Booked, new.actor, None).await?;
    Ok(Booking::Booked(Box::new(appointment)))
}

/// The structured hours in a stored `business` JSON, if it has some.
fn hours_of(assistant_id: &str, business: &str) -> Result<Option<BusinessHours>, StoreError> {
    let details: BusinessDetails = serde_json::from_str(business)
        .map_err(|_| StoreError::Corrupt(format!("assistant {assistant_id}: business")))?;
    Ok(details.hours)
}

async fn record_change(
    tx: &mut Tx,
    appointment: &Appointment,
    kind: ChangeKind,
    actor: Actor,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO appointment_changes (id, org_id, appointment_id, kind, starts_at, ends_at, actor, \
         reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(new_id("apch"))
    .bind(&appointment.org_id)
    .bind(&appointment.id)
    .bind(kind.as_str())
    .bind(appointment.starts_at)
    .bind(appointment.ends_at)
    .bind(actor.as_str())
    .bind(reason)
    .bind(appointment.updated_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Cancels appointment `id` of `org_id`, freeing its slot; `None` when there is no such
/// appointment. Cancelling twice changes nothing the second time.
pub async fn cancel(
    db: &Db,
    org_id: &str,
    id: &str,
    actor: Actor,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Cancellation>, StoreError> {
    let mut tx = db.begin().await?;
    let outcome = cancel_in(&mut tx, org_id, id, actor, reason, now).await?;
    match outcome {
        Some(Cancellation::Cancelled(_)) => tx.commit().await?,
        _ => tx.rollback().await?,
    }
    Ok(outcome)
}

/// [`cancel`] inside `tx`, so that what follows a cancellation (its calendar push, its event)
/// is written with it.
pub async fn cancel_in(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    actor: Actor,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Cancellation>, StoreError> {
    let now = super::now_micros(now);
    let sql = format!(
        "UPDATE appointments SET status = 'cancelled', cancel_reason = $1, cancelled_at = $2, \
         updated_at = $2 WHERE org_id = $3 AND id = $4 AND status = 'booked' RETURNING {COLUMNS}"
    );
    let row = on_tx!(tx, |c| sqlx::query_as::<_, AppointmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(reason)
    .bind(now)
    .bind(org_id)
    .bind(id)
    .fetch_optional(c)
    .await)?;
    let Some(row) = row else {
        return Ok(find_in(tx, org_id, id)
            .await?
            .map(Cancellation::AlreadyCancelled));
    };
    let appointment = Appointment::try_from(row)?;
    record_change(tx, &appointment, ChangeKind::Cancelled, actor, reason).await?;
    Ok(Some(Cancellation::Cancelled(appointment)))
}

/// Moves appointment `id` of `org_id` to `[starts_at, ends_at)` inside `tx` (fresh: the
/// assistant's row is locked first, as a booking does), checked by `rule`, and records the
/// move in its history. Commit only on [`Rescheduling::Moved`].
#[allow(clippy::too_many_arguments)]
pub async fn reschedule_in(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    rule: MoveRule,
    actor: Actor,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Rescheduling, StoreError> {
    let now = super::now_micros(now);
    let (starts_at, ends_at) = (super::now_micros(starts_at), super::now_micros(ends_at));
    let Some(found) = find_in(tx, org_id, id).await? else {
        return Ok(Rescheduling::NotFound);
    };
    // The assistant's row first, as a booking takes it, then the appointment as it now is.
    let lock = match tx.db().backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT business, calendar_connection_id FROM assistants WHERE org_id = $1 AND id = $2{lock}"
    );
    let target = on_tx!(tx, |c| sqlx::query_as::<_, BookingTarget>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(&found.assistant_id)
    .fetch_optional(c)
    .await)?;
    let Some(current) = find_in(tx, org_id, id).await? else {
        return Ok(Rescheduling::NotFound);
    };
    if current.status != AppointmentStatus::Booked {
        return Ok(Rescheduling::NotBooked(Box::new(current)));
    }
    let superseded =
        matches!(rule, MoveRule::AsTheCalendarSays(Some(changed)) if changed <= current.updated_at);
    if superseded || (current.starts_at, current.ends_at) == (starts_at, ends_at) {
        return Ok(Rescheduling::Unchanged(Box::new(current)));
    }
    if rule == MoveRule::LikeABooking {
        let Some(target) = target else {
            return Ok(Rescheduling::NoHours);
        };
        let Some(hours) = hours_of(&current.assistant_id, &target.business)? else {
            return Ok(Rescheduling::NoHours);
        };
        let mut busy = match &target.calendar_connection_id {
            Some(connection_id) => {
                // The appointment's own event is where it is now, not busy time.
                let own = current
                    .calendar_event
                    .as_ref()
                    .filter(|e| &e.connection_id == connection_id)
                    .map(|e| e.event_id.as_str());
                super::calendar_events::busy_between_in(
                    tx,
                    org_id,
                    connection_id,
                    starts_at,
                    ends_at,
                    own,
                )
                .await?
            }
            None => Vec::new(),
        };
        busy.extend(
            booked_between_in(
                tx,
                org_id,
                &current.assistant_id,
                starts_at,
                ends_at,
                Some(&current.id),
            )
            .await?,
        );
        match availability::check_slot(&hours, &busy, starts_at, ends_at, now) {
            Ok(()) => {}
            Err(Unavailable::TooSoon) => return Ok(Rescheduling::TooSoon),
            Err(Unavailable::Closed) => return Ok(Rescheduling::Closed),
            Err(Unavailable::Busy) => return Ok(Rescheduling::SlotTaken),
        }
    }
    // Under the assistant's lock: no other booked appointment may start at the same instant
    // (the unique index would refuse it, and on PostgreSQL abort the caller's transaction).
    let same_start = on_tx!(tx, |c| sqlx::query_scalar::<_, String>(
        "SELECT id FROM appointments WHERE assistant_id = $1 AND starts_at = $2 \
         AND status = 'booked' AND id <> $3"
    )
    .bind(&current.assistant_id)
    .bind(starts_at)
    .bind(&current.id)
    .fetch_optional(c)
    .await)?;
    if same_start.is_some() {
        return Ok(Rescheduling::SlotTaken);
    }
    let sql = format!(
        "UPDATE appointments SET starts_at = $1, ends_at = $2, updated_at = $3 \
         WHERE org_id = $4 AND id = $5 AND status = 'booked' RETURNING {COLUMNS}"
    );
    let moved = on_tx!(tx, |c| sqlx::query_as::<_, AppointmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(starts_at)
    .bind(ends_at)
    .bind(now)
    .bind(org_id)
    .bind(id)
    .fetch_optional(c)
    .await);
    let row = match moved {
        Ok(Some(row)) => row,
        Ok(None) => return Ok(Rescheduling::NotFound),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Ok(Rescheduling::SlotTaken);
        }
        Err(e) => return Err(e.into()),
    };
    let appointment = Appointment::try_from(row)?;
    record_change(tx, &appointment, ChangeKind::Moved, actor, reason).await?;
    Ok(Rescheduling::Moved(Box::new(appointment)))
}

/// The booked appointments of `org_id` whose event is in calendar `connection_id`, by the
/// event's id, read in `tx`.
pub async fn booked_with_events_in(
    tx: &mut Tx,
    org_id: &str,
    connection_id: &str,
) -> Result<std::collections::HashMap<String, Appointment>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appointments WHERE org_id = $1 AND calendar_connection_id = $2 \
         AND status = 'booked' AND calendar_event_id IS NOT NULL"
    );
    let rows = on_tx!(tx, |c| sqlx::query_as::<_, AppointmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(connection_id)
    .fetch_all(c)
    .await)?;
    let mut by_event = std::collections::HashMap::new();
    for row in rows {
        let appointment = Appointment::try_from(row)?;
        if let Some(event) = &appointment.calendar_event {
            by_event.insert(event.event_id.clone(), appointment.clone());
        }
    }
    Ok(by_event)
}

/// Appointment `id` of `org_id`, read in `tx`.
pub async fn find_in(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
) -> Result<Option<Appointment>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM appointments WHERE org_id = $1 AND id = $2");
    let row = on_tx!(tx, |c| sqlx::query_as::<_, AppointmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(c)
    .await)?;
    row.map(Appointment::try_from).transpose()
}

/// Appointment `id` of `org_id`.
pub async fn find(db: &Db, org_id: &str, id: &str) -> Result<Option<Appointment>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM appointments WHERE org_id = $1 AND id = $2");
    let row = on_pool!(db, |p| sqlx::query_as::<_, AppointmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(Appointment::try_from).transpose()
}

/// Booked appointments of every organisation starting in `(now, until]` that have no reminder
/// for their start yet, soonest first, at most `limit`.
pub async fn awaiting_reminder(
    db: &Db,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Appointment>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appointments a WHERE status = 'booked' AND starts_at > $1 AND starts_at <= $2 \
         AND NOT EXISTS (SELECT 1 FROM appointment_reminders r \
                         WHERE r.appointment_id = a.id AND r.starts_at = a.starts_at) \
         ORDER BY starts_at LIMIT $3"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, AppointmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(super::now_micros(now))
    .bind(super::now_micros(until))
    .bind(limit)
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Appointment::try_from).collect()
}

/// The appointments of an assistant that meet `[from, to)`, by start; only those in `status`
/// when given.
pub async fn list_between(
    db: &Db,
    org_id: &str,
    assistant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    status: Option<AppointmentStatus>,
) -> Result<Vec<Appointment>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appointments WHERE org_id = $1 AND assistant_id = $2 \
         AND starts_at < $3 AND ends_at > $4 AND ($5 IS NULL OR status = $5) ORDER BY starts_at, id"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, AppointmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(assistant_id)
    .bind(super::now_micros(to))
    .bind(super::now_micros(from))
    .bind(status.map(AppointmentStatus::as_str))
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Appointment::try_from).collect()
}

/// What a list of appointments keeps: each filter applies when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only the appointments of this assistant.
    pub assistant_id: Option<String>,
    /// Only those in this status.
    pub status: Option<AppointmentStatus>,
    /// Only those starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only those starting before this instant.
    pub to: Option<DateTime<Utc>>,
}

/// The appointments of `org_id` kept by `filter`, latest start first (then by id, descending),
/// at most `limit`, after `after` (the start and id of the previous page's last one) when given.
pub async fn list(
    db: &Db,
    org_id: &str,
    filter: &ListFilter,
    after: Option<(DateTime<Utc>, &str)>,
    limit: i64,
) -> Result<Vec<Appointment>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appointments WHERE org_id = $1 \
         AND ($2 IS NULL OR assistant_id = $2) AND ($3 IS NULL OR status = $3) \
         AND ($4 IS NULL OR starts_at >= $4) AND ($5 IS NULL OR starts_at < $5) \
         AND ($6 IS NULL OR starts_at < $6 OR (starts_at = $6 AND id < $7)) \
         ORDER BY starts_at DESC, id DESC LIMIT $8"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, AppointmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(filter.assistant_id.as_deref())
    .bind(filter.status.map(AppointmentStatus::as_str))
    .bind(filter.from.map(super::now_micros))
    .bind(filter.to.map(super::now_micros))
    .bind(after.map(|(starts_at, _)| starts_at))
    .bind(after.map(|(_, id)| id).unwrap_or(""))
    .bind(limit)
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Appointment::try_from).collect()
}

/// The history of appointment `id` of `org_id`, oldest first.
pub async fn history(
    db: &Db,
    org_id: &str,
    id: &str,
) -> Result<Vec<AppointmentChange>, StoreError> {
    let rows = on_pool!(db, |p| {
        sqlx::query_as::<_, ChangeRow>(
        "SELECT id, kind, starts_at, ends_at, actor, reason, created_at FROM appointment_changes \
         WHERE org_id = $1 AND appointment_id = $2 ORDER BY id"
    )
    .bind(org_id)
    .bind(id)
    .fetch_all(p)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| AppointmentChange {
            id: r.id,
            kind: r.kind,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            actor: r.actor,
            reason: r.reason,
            created_at: r.created_at,
        })
        .collect())
}

/// The booked appointments of an assistant for `caller_number` that start at or after `from`,
/// by start (at most 20): what a caller may cancel.
pub async fn booked_for_caller(
    db: &Db,
    org_id: &str,
    assistant_id: &str,
    caller_number: &str,
    from: DateTime<Utc>,
) -> Result<Vec<Appointment>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appointments WHERE org_id = $1 AND assistant_id = $2 \
         AND caller_number = $3 AND status = 'booked' AND starts_at >= $4 \
         ORDER BY starts_at, id LIMIT 20"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, AppointmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(assistant_id)
    .bind(caller_number)
    .bind(super::now_micros(from))
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Appointment::try_from).collect()
}

/// The booked appointment of an assistant that starts at `starts_at`, if any.
pub async fn booked_at(
    db: &Db,
    org_id: &str,
    assistant_id: &str,
    starts_at: DateTime<Utc>,
) -> Result<Option<Appointment>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appointments WHERE org_id = $1 AND assistant_id = $2 \
         AND starts_at = $3 AND status = 'booked'"
    );
    let row = on_pool!(db, |p| sqlx::query_as::<_, AppointmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(assistant_id)
    .bind(super::now_micros(starts_at))
    .fetch_optional(p)
    .await)?;
    row.map(Appointment::try_from).transpose()
}

/// Records where appointment `id`'s calendar event is (`None`: it has none, its event was
/// deleted); false when there is no such appointment.
pub async fn set_calendar_event(
    db: &Db,
    org_id: &str,
    id: &str,
    event: Option<&AppointmentEvent>,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| sqlx::query(
        "UPDATE appointments SET calendar_connection_id = $1, calendar_id = $2, \
         calendar_event_id = $3 WHERE org_id = $4 AND id = $5"
    )
    .bind(event.map(|e| e.connection_id.as_str()))
    .bind(event.map(|e| e.calendar_id.as_str()))
    .bind(event.map(|e| e.event_id.as_str()))
    .bind(org_id)
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

const BOOKED_BETWEEN: &str = "SELECT starts_at, ends_at FROM appointments WHERE org_id = $1 \
    AND assistant_id = $2 AND status = 'booked' AND starts_at < $3 AND ends_at > $4 AND id <> $5";

/// The booked appointments of an assistant that meet `[from, to)`, as busy time.
pub async fn booked_between(
    db: &Db,
    org_id: &str,
    assistant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Busy>, StoreError> {
    let rows = on_pool!(db, |p| sqlx::query_as::<_, (DateTime<Utc>, DateTime<Utc>)>(
        BOOKED_BETWEEN
    )
    .bind(org_id)
    .bind(assistant_id)
    .bind(super::now_micros(to))
    .bind(super::now_micros(from))
    // Ids are never empty: nothing is left out.
    .bind("")
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().map(|(s, e)| Busy::Between(s, e)).collect())
}

/// [`booked_between`] inside `tx`, leaving out appointment `except` (the one being moved).
async fn booked_between_in(
    tx: &mut Tx,
    org_id: &str,
    assistant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except: Option<&str>,
) -> Result<Vec<Busy>, StoreError> {
    let rows = on_tx!(tx, |c| sqlx::query_as::<_, (DateTime<Utc>, DateTime<Utc>)>(
        BOOKED_BETWEEN
    )
    .bind(org_id)
    .bind(assistant_id)
    .bind(to)
    .bind(from)
    .bind(except.unwrap_or(""))
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(|(s, e)| Busy::Between(s, e)).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use chrono::{NaiveDate, TimeDelta};
    use serde_json::json;

    use super::*;
    use crate::domain::assistant::AssistantRequest;
    use crate::store::calendar_connections::{self, CalendarEntry, Connected};
    use crate::store::calendar_events::{self, EventSpan, SyncedEvent};
    use crate::store::test_db::TestDb;
    use crate::store::{assistants, organisations};

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// A Monday long before every slot booked here, so the notice never gets in the way.
    fn now() -> DateTime<Utc> {
        utc("2026-06-01T06:00:00Z")
    }

    async fn org(db: &Db) -> String {
        let mut tx = db.begin().await.unwrap();
        let o = organisations::create(&mut tx, "Salon", Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        o.id
    }

    /// An assistant of `org_id` open on Tuesdays 09:00-12:00 and 14:00-18:00, Paris time (or
    /// with no structured hours).
    async fn assistant(db: &Db, org_id: &str, with_hours: bool) -> String {
        let mut business = json!({"name": "Salon Léa"});
        if with_hours {
            business["hours"] = json!({
                "time_zone": "Europe/Paris",
                "weekly": {"tuesday": [["09:00", "12:00"], ["14:00", "18:00"]]},
                "holidays": "fr", "min_notice_minutes": 60
            });
        }
        let request: AssistantRequest = serde_json::from_value(json!({
            "name": "Léa", "sector": "hair_beauty_salon", "business": business
        }))
        .unwrap();
        let new = request.validate().unwrap();
        let mut tx = db.begin().await.unwrap();
        let a = assistants::insert(&mut tx, org_id, &new, Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        a.id
    }

    fn booking(assistant_id: &str, start: &str, minutes: i64, caller: &str) -> NewAppointment {
        let starts_at = utc(start);
        NewAppointment {
            assistant_id: assistant_id.to_string(),
            starts_at,
            ends_at: starts_at + TimeDelta::minutes(minutes),
            caller_name: caller.to_string(),
            caller_number: PhoneNumber::parse("+33612345678", None).unwrap(),
            service: Some("coupe".into()),
            call_id: Some("call-1".into()),
            actor: Actor::Assistant,
        }
    }

    fn booked(outcome: Booking) -> Appointment {
        match outcome {
            Booking::Booked(a) => *a,
            other => panic!("not booked: {other:?}"),
        }
    }

    async fn reschedule(
        db: &Db,
        org_id: &str,
        id: &str,
        start: &str,
        minutes: i64,
        rule: MoveRule,
    ) -> Rescheduling {
        let starts_at = utc(start);
        let mut tx = db.begin().await.unwrap();
        let actor = match rule {
            MoveRule::LikeABooking => Actor::Api,
            MoveRule::AsTheCalendarSays(_) => Actor::Calendar,
        };
        let outcome = reschedule_in(
            &mut tx,
            org_id,
            id,
            starts_at,
            starts_at + TimeDelta::minutes(minutes),
            rule,
            actor,
            Some("moved"),
            now(),
        )
        .await
        .unwrap();
        match outcome {
            Rescheduling::Moved(_) => tx.commit().await.unwrap(),
            _ => tx.rollback().await.unwrap(),
        }
        outcome
    }

    #[tokio::test]
    async fn a_move_is_checked_like_a_booking_unless_the_calendar_made_it() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let asst = assistant(db, &org_id, true).await;
            // Tuesday 2026-06-09, 10:00-10:30 and 11:00-11:30 in Paris.
            let first = booked(
                book(
                    db,
                    &org_id,
                    &booking(&asst, "2026-06-09T08:00:00Z", 30, "A"),
                    now(),
                )
                .await
                .unwrap(),
            );
            let second = booked(
                book(
                    db,
                    &org_id,
                    &booking(&asst, "2026-06-09T09:00:00Z", 30, "B"),
                    now(),
                )
                .await
                .unwrap(),
            );
            let rule = MoveRule::LikeABooking;
            // Over the second, outside the hours, in the past: refused, nothing changes.
            assert_eq!(
                reschedule(db, &org_id, &first.id, "2026-06-09T08:45:00Z", 30, rule).await,
                Rescheduling::SlotTaken
            );
            assert_eq!(
                reschedule(db, &org_id, &first.id, "2026-06-09T10:00:00Z", 30, rule).await,
                Rescheduling::Closed
            );
            assert_eq!(
                reschedule(db, &org_id, &first.id, "2026-05-26T08:00:00Z", 30, rule).await,
                Rescheduling::TooSoon
            );
            // Overlapping its own slot is fine: it leaves it.
            let Rescheduling::Moved(moved) =
                reschedule(db, &org_id, &first.id, "2026-06-09T08:15:00Z", 30, rule).await
            else {
                panic!("not moved");
            };
            assert_eq!(moved.starts_at, utc("2026-06-09T08:15:00Z"));
            assert!(matches!(
                reschedule(db, &org_id, &first.id, "2026-06-09T08:15:00Z", 30, rule).await,
                Rescheduling::Unchanged(_)
            ));
            // The old slot is free again.
            booked(
                book(
                    db,
                    &org_id,
                    &booking(&asst, "2026-06-09T07:30:00Z", 30, "C"),
                    now(),
                )
                .await
                .unwrap(),
            );
            // The calendar wins on time: out of hours is accepted, the same start as another
            // booked appointment is not.
            assert!(matches!(
                reschedule(
                    db,
                    &org_id,
                    &first.id,
                    "2026-06-09T19:00:00Z",
                    30,
                    MoveRule::AsTheCalendarSays(None)
                )
                .await,
                Rescheduling::Moved(_)
            ));
            assert_eq!(
                reschedule(
                    db,
                    &org_id,
                    &first.id,
                    "2026-06-09T09:00:00Z",
                    30,
                    MoveRule::AsTheCalendarSays(None)
                )
                .await,
                Rescheduling::SlotTaken
            );
            // A calendar change older than the appointment's last change is overtaken by it.
            assert!(matches!(
                reschedule(
                    db,
                    &org_id,
                    &first.id,
                    "2026-06-09T13:00:00Z",
                    30,
                    MoveRule::AsTheCalendarSays(Some(utc("2026-01-01T00:00:00Z")))
                )
                .await,
                Rescheduling::Unchanged(_)
            ));
            let kinds: Vec<(String, String)> = history(db, &org_id, &first.id)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.kind, c.actor))
                .collect();
            assert_eq!(
                kinds,
                [
                    ("booked".to_string(), "assistant".to_string()),
                    ("moved".into(), "api".into()),
                    ("moved".into(), "calendar".into())
                ]
            );
            // Cancelled or unknown: nothing moves.
            cancel(db, &org_id, &second.id, Actor::Api, None, now())
                .await
                .unwrap();
            assert!(matches!(
                reschedule(db, &org_id, &second.id, "2026-06-09T14:00:00Z", 30, rule).await,
                Rescheduling::NotBooked(_)
            ));
            assert_eq!(
                reschedule(db, &org_id, "appt_nope", "2026-06-09T14:00:00Z", 30, rule).await,
                Rescheduling::NotFound
            );
            let other = org(db).await;
            assert_eq!(
                reschedule(db, &other, &first.id, "2026-06-09T14:00:00Z", 30, rule).await,
                Rescheduling::NotFound
            );
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_booking_holds_its_slot_until_cancelled_and_keeps_its_history() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let asst = assistant(db, &org_id, true).await;
            // Tuesday 2026-06-09, 10:00-10:45 in Paris.
            let first = booked(
                book(
                    db,
                    &org_id,
                    &booking(&asst, "2026-06-09T08:00:00Z", 45, "Léa"),
                    now(),
                )
                .await
                .unwrap(),
            );
            assert_eq!(first.status, AppointmentStatus::Booked);
            assert_eq!(first.caller_number, "+33612345678");
            assert_eq!(
                find(db, &org_id, &first.id).await.unwrap(),
                Some(first.clone())
            );

            // Overlapping at either end, or the same start: taken.
            for (start, minutes) in [
                ("2026-06-09T08:00:00Z", 30),
                ("2026-06-09T07:30:00Z", 45),
                ("2026-06-09T08:30:00Z", 60),
                ("2026-06-09T08:10:00Z", 10),
            ] {
                assert_eq!(
                    book(db, &org_id, &booking(&asst, start, minutes, "B"), now())
                        .await
                        .unwrap(),
                    Booking::SlotTaken,
                    "{start}"
                );
            }
            // Touching is fine.
            let next = booked(
                book(
                    db,
                    &org_id,
                    &booking(&asst, "2026-06-09T08:45:00Z", 15, "C"),
                    now(),
                )
                .await
                .unwrap(),
            );

            // Outside the hours, over lunch, on a Monday, on a holiday; too soon.
            for (start, minutes) in [
                ("2026-06-09T06:30:00Z", 60),
                ("2026-06-09T09:30:00Z", 60),
                ("2026-06-08T08:00:00Z", 30),
                ("2026-07-14T08:00:00Z", 30),
            ] {
                assert_eq!(
                    book(db, &org_id, &booking(&asst, start, minutes, "D"), now())
                        .await
                        .unwrap(),
                    Booking::Closed,
                    "{start}"
                );
            }
            assert_eq!(
                book(
                    db,
                    &org_id,
                    &booking(&asst, "2026-06-09T08:00:00Z", 30, "E"),
                    utc("2026-06-09T07:30:00Z")
                )
                .await
                .unwrap(),
                Booking::TooSoon
            );

            // Another organisation sees nothing and books nothing with our assistant.
            let other = org(db).await;
            assert_eq!(find(db, &other, &first.id).await.unwrap(), None);
            assert_eq!(
                book(
                    db,
                    &other,
                    &booking(&asst, "2026-06-16T08:00:00Z", 30, "F"),
                    now()
                )
                .await
                .unwrap(),
                Booking::UnknownAssistant
            );
            assert_eq!(
                cancel(db, &other, &first.id, Actor::Api, None, now())
                    .await
                    .unwrap(),
                None
            );

            let listed = list_between(
                db,
                &org_id,
                &asst,
                utc("2026-06-09T00:00:00Z"),
                utc("2026-06-10T00:00:00Z"),
                None,
            )
            .await
            .unwrap();
            assert_eq!(
                listed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
                [first.id.as_str(), next.id.as_str()]
            );

            // Cancelled, the slot is free again; cancelling twice changes nothing.
            let later = now() + TimeDelta::hours(1);
            let Some(Cancellation::Cancelled(c)) =
                cancel(db, &org_id, &first.id, Actor::Api, Some("malade"), later)
                    .await
                    .unwrap()
            else {
                panic!("not cancelled");
            };
            assert_eq!(c.status, AppointmentStatus::Cancelled);
            assert_eq!(c.cancel_reason.as_deref(), Some("malade"));
            assert!(c.cancelled_at.is_some());
            assert!(matches!(
                cancel(db, &org_id, &first.id, Actor::Api, None, later)
                    .await
                    .unwrap(),
                Some(Cancellation::AlreadyCancelled(_))
            ));
            let again = booked(
                book(
                    db,
                    &org_id,
                    &booking(&asst, "2026-06-09T08:00:00Z", 45, "G"),
                    now(),
                )
                .await
                .unwrap(),
            );
            let booked_only = list_between(
                db,
                &org_id,
                &asst,
                utc("2026-06-09T00:00:00Z"),
                utc("2026-06-10T00:00:00Z"),
                Some(AppointmentStatus::Booked),
            )
            .await
            .unwrap();
            assert_eq!(booked_only.len(), 2);
            assert!(booked_only.iter().any(|a| a.id == again.id));

            let changes = history(db, &org_id, &first.id).await.unwrap();
            let kinds: Vec<_> = changes
                .iter()
                .map(|c| (c.kind.as_str(), c.actor.as_str()))
                .collect();
            assert_eq!(kinds, [("booked", "assistant"), ("cancelled", "api")]);
            assert_eq!(changes[1].reason.as_deref(), Some("malade"));
            assert!(history(db, &other, &first.id).await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn an_assistant_without_hours_books_nothing_and_busy_calendar_events_count() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let bare = assistant(db, &org_id, false).await;
            assert_eq!(
                book(
                    db,
                    &org_id,
                    &booking(&bare, "2026-06-09T08:00:00Z", 30, "A"),
                    now()
                )
                .await
                .unwrap(),
                Booking::NoHours
            );

            let asst = assistant(db, &org_id, true).await;
            let calendars = [CalendarEntry {
                id: "lea@example.fr".into(),
                summary: "Léa".into(),
                primary: true,
                time_zone: Some("Europe/Paris".into()),
                access_role: Some("owner".into()),
                writable: true,
            }];
            let mut tx = db.begin().await.unwrap();
            let connection = calendar_connections::upsert_connected(
                &mut tx,
                &calendar_connections::new_connection_id(),
                &Connected {
                    org_id: &org_id,
                    account: "lea@example.fr",
                    calendars: &calendars,
                    default_calendar_id: "lea@example.fr",
                    scopes: &[],
                },
                "sealed-refresh",
                "sealed-access",
                Utc::now() + TimeDelta::hours(1),
                Utc::now(),
            )
            .await
            .unwrap();
            let calendar = assistants::AssistantCalendar {
                connection_id: connection.id.clone(),
                calendar_id: "lea@example.fr".into(),
            };
            assistants::set_calendar(&mut tx, &org_id, &asst, Some(&calendar), Utc::now())
                .await
                .unwrap();
            let event = |id: &str, span: EventSpan, transparency: &str| SyncedEvent {
                event_id: id.into(),
                status: "confirmed".into(),
                span,
                summary: None,
                transparency: transparency.into(),
                updated: None,
            };
            let day = NaiveDate::from_ymd_opt(2026, 6, 16).unwrap();
            for e in [
                event(
                    "dentist",
                    EventSpan::Timed {
                        start: utc("2026-06-09T08:00:00Z"),
                        end: utc("2026-06-09T09:00:00Z"),
                    },
                    "opaque",
                ),
                event(
                    "reminder",
                    EventSpan::Timed {
                        start: utc("2026-06-09T12:00:00Z"),
                        end: utc("2026-06-09T13:00:00Z"),
                    },
                    "transparent",
                ),
                event(
                    "training",
                    EventSpan::AllDay {
                        start: day,
                        end: day.succ_opt().unwrap(),
                    },
                    "opaque",
                ),
            ] {
                calendar_events::upsert(&mut tx, &org_id, &connection.id, &e, Utc::now())
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();

            for (start, expected) in [
                ("2026-06-09T08:30:00Z", Booking::SlotTaken),
                ("2026-06-16T12:00:00Z", Booking::SlotTaken),
            ] {
                assert_eq!(
                    book(db, &org_id, &booking(&asst, start, 30, "B"), now())
                        .await
                        .unwrap(),
                    expected,
                    "{start}"
                );
            }
            // A transparent event leaves its time free.
            booked(
                book(
                    db,
                    &org_id,
                    &booking(&asst, "2026-06-09T12:00:00Z", 30, "C"),
                    now(),
                )
                .await
                .unwrap(),
            );
        }
    }

    #[tokio::test]
    async fn the_database_refuses_a_second_booked_appointment_at_the_same_start() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let asst = assistant(db, &org_id, true).await;
            let first = booked(
                book(
                    db,
                    &org_id,
                    &booking(&asst, "2026-06-09T08:00:00Z", 30, "A"),
                    now(),
                )
                .await
                .unwrap(),
            );
            // Written past the booking's checks, as a buggy path would: the index refuses it
            // while the first is booked, and accepts it once the first is cancelled.
            let insert = |id: &'static str| {
                let (org_id, asst) = (org_id.clone(), asst.clone());
                async move {
                    let start = utc("2026-06-09T08:00:00Z");
                    on_pool!(db, |p| sqlx::query(
                        "INSERT INTO appointments (id, org_id, assistant_id, starts_at, ends_at, \
                         caller_name, caller_number, status, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, 'B', '+33612345678', 'booked', $6, $6)"
                    )
                    .bind(id)
                    .bind(&org_id)
                    .bind(&asst)
                    .bind(start)
                    .bind(start + TimeDelta::minutes(15))
                    .bind(now())
                    .execute(p)
                    .await
                    .map(|_| ()))
                }
            };
            let refused = insert("appt_raw1").await.unwrap_err();
            assert!(
                refused
                    .as_database_error()
                    .is_some_and(|e| e.is_unique_violation()),
                "{refused}"
            );
            cancel(db, &org_id, &first.id, Actor::Api, None, now())
                .await
                .unwrap();
            insert("appt_raw2").await.unwrap();
        }
    }

    #[tokio::test]
    async fn twenty_concurrent_bookings_of_one_slot_give_exactly_one_appointment() {
        for t in TestDb::all().await {
            let db = t.db.clone();
            let org_id = Arc::new(org(&db).await);
            let asst = assistant(&db, &org_id, true).await;
            let mut tasks = Vec::new();
            for i in 0..20 {
                let (db, org_id) = (db.clone(), org_id.clone());
                // Half on the same start, half overlapping it from a quarter of an hour later.
                let start = if i % 2 == 0 {
                    "2026-06-09T08:00:00Z"
                } else {
                    "2026-06-09T08:15:00Z"
                };
                let new = booking(&asst, start, 30, &format!("caller {i}"));
                tasks.push(tokio::spawn(async move {
                    book(&db, &org_id, &new, now()).await
                }));
            }
            let mut booked_count = 0;
            for task in tasks {
                match task.await.unwrap().unwrap() {
                    Booking::Booked(_) => booked_count += 1,
                    Booking::SlotTaken => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(booked_count, 1, "{:?}", t.backend());
            let rows = list_between(
                &db,
                &org_id,
                &asst,
                utc("2026-06-09T00:00:00Z"),
                utc("2026-06-10T00:00:00Z"),
                None,
            )
            .await
            .unwrap();
            assert_eq!(rows.len(), 1);
        }
    }
}
