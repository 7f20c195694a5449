//! The events of a connection's calendar, as the last sync left them: what availability will
//! be computed from. Cancelled events are deleted, not kept.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{Db, StoreError, Tx};
use crate::domain::availability::Busy;
use zencall_queue::{on_pool, on_tx};

/// When a synced event starts and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventSpan {
    /// A timed event, `[start, end)`.
    Timed {
        /// Start.
        start: DateTime<Utc>,
        /// End, exclusive.
        end: DateTime<Utc>,
    },
    /// An all-day event, `[start, end)` in the calendar's own days.
    AllDay {
        /// First day.
        start: NaiveDate,
        /// The day after the last.
        end: NaiveDate,
    },
}

/// One synced event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncedEvent {
    /// The event's id at Google.
    pub event_id: String,
    /// `confirmed` or `tentative`.
    pub status: String,
    /// When it happens.
    pub span: EventSpan,
    /// Its title.
    pub summary: Option<String>,
    /// `opaque` (busy) or `transparent` (free).
    pub transparency: String,
    /// When it last changed at Google.
    pub updated: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    event_id: String,
    status: String,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    start_date: Option<String>,
    end_date: Option<String>,
    summary: Option<String>,
    transparency: String,
    updated_at: Option<DateTime<Utc>>,
}

impl TryFrom<EventRow> for SyncedEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("calendar event {}: span", r.event_id));
        let span = match (r.starts_at, r.ends_at, &r.start_date, &r.end_date) {
            (Some(start), Some(end), None, None) => EventSpan::Timed { start, end },
            (None, None, Some(s), Some(e)) => EventSpan::AllDay {
                start: s.parse().map_err(|_| corrupt())?,
                end: e.parse().map_err(|_| corrupt())?,
            },
            _ => return Err(corrupt()),
        };
        Ok(SyncedEvent {
            event_id: r.event_id,
            status: r.status,
            span,
            summary: r.summary,
            transparency: r.transparency,
            updated: r.updated_at,
        })
    }
}

/// Stores `event` (new or changed) for the connection inside `tx`.
pub async fn upsert(
    tx: &mut Tx,
    org_id: &str,
    connection_id: &str,
    event: &SyncedEvent,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (starts_at, ends_at, start_date, end_date) = match event.span {
        EventSpan::Timed { start, end } => (
            Some(super::now_micros(start)),
            Some(super::now_micros(end)),
            None,
            None,
        ),
        EventSpan::AllDay { start, end } => {
            (None, None, Some(start.to_string()), Some(end.to_string()))
        }
    };
    on_tx!(tx, |t| {
        sqlx::query(
        "INSERT INTO calendar_events (connection_id, event_id, org_id, status, starts_at, ends_at, start_date, \
         end_date, summary, transparency, updated_at, synced_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (connection_id, event_id) DO UPDATE SET status = excluded.status, \
         starts_at = excluded.starts_at, ends_at = excluded.ends_at, start_date = excluded.start_date, \
         end_date = excluded.end_date, summary = excluded.summary, transparency = excluded.transparency, \
         updated_at = excluded.updated_at, synced_at = excluded.synced_at"
    )
    .bind(connection_id)
    .bind(&event.event_id)
    .bind(org_id)
    .bind(&event.status)
    .bind(starts_at)
    .bind(ends_at)
    .bind(&start_date)
    .bind(&end_date)
    .bind(&event.summary)
    .bind(&event.transparency)
    .bind(event.updated.map(super::now_micros))
    .bind(super::now_micros(now))
    .execute(t)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Removes one event of the connection inside `tx` (cancelled at Google); false when it was
/// not stored.
pub async fn delete(
    tx: &mut Tx,
    org_id: &str,
    connection_id: &str,
    event_id: &str,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |t| sqlx::query(
        "DELETE FROM calendar_events WHERE org_id = $1 AND connection_id = $2 AND event_id = $3"
    )
    .bind(org_id)
    .bind(connection_id)
    .bind(event_id)
    .execute(t)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Removes every event of the connection inside `tx` (before a full sync starts over).
pub async fn delete_all(tx: &mut Tx, org_id: &str, connection_id: &str) -> Result<(), StoreError> {
    on_tx!(tx, |t| sqlx::query(
        "DELETE FROM calendar_events WHERE org_id = $1 AND connection_id = $2"
    )
    .bind(org_id)
    .bind(connection_id)
    .execute(t)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// The connection's events, timed ones by start then all-day ones, at most `limit`.
pub async fn list(
    db: &Db,
    org_id: &str,
    connection_id: &str,
    limit: u32,
) -> Result<Vec<SyncedEvent>, StoreError> {
    let rows = on_pool!(db, |p| {
        sqlx::query_as::<_, EventRow>(
        "SELECT event_id, status, starts_at, ends_at, start_date, end_date, summary, transparency, updated_at \
         FROM calendar_events WHERE org_id = $1 AND connection_id = $2 \
         ORDER BY starts_at IS NULL, starts_at, start_date, event_id LIMIT $3"
    )
    .bind(org_id)
    .bind(connection_id)
    .bind(i64::from(limit))
    .fetch_all(p)
    .await
    })?;
    rows.into_iter().map(SyncedEvent::try_from).collect()
}

/// How many events the connection has.
pub async fn count(db: &Db, org_id: &str, connection_id: &str) -> Result<i64, StoreError> {
    let n = on_pool!(db, |p| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM calendar_events WHERE org_id = $1 AND connection_id = $2"
    )
    .bind(org_id)
    .bind(connection_id)
    .fetch_one(p)
    .await)?;
    Ok(n)
}

/// The busy events of a connection that meet `[from, to)`: opaque ones, timed or all-day
/// (all-day ones a day either side, since their days are local: the caller places them).
/// Tentative events count as busy, as in Google's free/busy. All-day events are the rows
/// without `starts_at`: that test lets the index on `(connection_id, starts_at)` find them.
const BUSY_BETWEEN: &str = "SELECT starts_at, ends_at, start_date, end_date FROM calendar_events \
    WHERE org_id = $1 AND connection_id = $2 AND transparency = 'opaque' \
    AND starts_at < $3 AND ends_at > $4 AND event_id <> $7 \
    UNION ALL \
    SELECT starts_at, ends_at, start_date, end_date FROM calendar_events \
    WHERE org_id = $1 AND connection_id = $2 AND starts_at IS NULL AND transparency = 'opaque' \
    AND start_date <= $5 AND end_date >= $6 AND event_id <> $7";

type BusyRow = (
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
);

fn busy_rows(rows: Vec<BusyRow>) -> Result<Vec<Busy>, StoreError> {
    rows.into_iter()
        .map(|row| match row {
            (Some(start), Some(end), None, None) => Ok(Busy::Between(start, end)),
            (None, None, Some(first), Some(end)) => {
                match (first.parse::<NaiveDate>(), end.parse::<NaiveDate>()) {
                    (Ok(first), Ok(end)) => Ok(Busy::Days(first, end)),
                    _ => Err(StoreError::Corrupt(format!(
                        "calendar event dates {first}..{end}"
                    ))),
                }
            }
            _ => Err(StoreError::Corrupt("calendar event span".into())),
        })
        .collect()
}

/// The dates bounding the all-day events that can meet `[from, to)` in any time zone.
fn date_bounds(from: DateTime<Utc>, to: DateTime<Utc>) -> (String, String) {
    let day = chrono::TimeDelta::days(1);
    (
        (to + day).date_naive().to_string(),
        (from - day).date_naive().to_string(),
    )
}

/// The connection's busy time in `[from, to)`, for availability.
pub async fn busy_between(
    db: &Db,
    org_id: &str,
    connection_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Busy>, StoreError> {
    let (last_date, first_date) = date_bounds(from, to);
    let rows = on_pool!(db, |p| sqlx::query_as::<_, BusyRow>(BUSY_BETWEEN)
        .bind(org_id)
        .bind(connection_id)
        .bind(super::now_micros(to))
        .bind(super::now_micros(from))
        .bind(&last_date)
        .bind(&first_date)
        // Event ids are never empty: nothing is left out.
        .bind("")
        .fetch_all(p)
        .await)?;
    busy_rows(rows)
}

/// [`busy_between`] inside `tx`, for a booking or a move, leaving out event `except` (the
/// moved appointment's own event).
pub async fn busy_between_in(
    tx: &mut Tx,
    org_id: &str,
    connection_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except: Option<&str>,
) -> Result<Vec<Busy>, StoreError> {
    let (last_date, first_date) = date_bounds(from, to);
    let rows = on_tx!(tx, |c| sqlx::query_as::<_, BusyRow>(BUSY_BETWEEN)
        .bind(org_id)
        .bind(connection_id)
        .bind(super::now_micros(to))
        .bind(super::now_micros(from))
        .bind(&last_date)
        .bind(&first_date)
        .bind(except.unwrap_or(""))
        .fetch_all(c)
        .await)?;
    busy_rows(rows)
}
