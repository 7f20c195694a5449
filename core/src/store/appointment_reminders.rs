//! Appointment reminders: one row per appointment and start, and the state of its one text
//! message. The row is written as `sending` before the provider is called, keyed by the
//! appointment and its start, so a reminder goes out at most once: a crash between the write
//! and the provider's answer leaves it unsent rather than sent twice. A moved appointment has
//! a new start, so it gets a reminder of its own.

use chrono::{DateTime, Utc};

use super::{Db, StoreError};
use zencall_queue::on_pool;

/// Where a reminder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderStatus {
    /// Handed to the provider; its answer is not recorded (yet).
    Sending,
    /// Sent.
    Sent,
    /// No answer came back: it may have been sent; it is not sent again.
    Unconfirmed,
    /// Refused by the provider, with the error.
    Failed,
    /// Not sent, with why.
    Skipped,
}

impl ReminderStatus {
    const ALL: [ReminderStatus; 5] = [
        ReminderStatus::Sending,
        ReminderStatus::Sent,
        ReminderStatus::Unconfirmed,
        ReminderStatus::Failed,
        ReminderStatus::Skipped,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReminderStatus::Sending => "sending",
            ReminderStatus::Sent => "sent",
            ReminderStatus::Unconfirmed => "unconfirmed",
            ReminderStatus::Failed => "failed",
            ReminderStatus::Skipped => "skipped",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    /// The appointment.
    pub appointment_id: String,
    /// Its organisation.
    pub org_id: String,
    /// The start it reminds of.
    pub starts_at: DateTime<Utc>,
    /// `sms`.
    pub channel: String,
    /// Who it goes to, E.164.
    pub recipient: String,
    /// Where it stands.
    pub status: ReminderStatus,
    /// The provider's id of the message, once sent.
    pub provider_id: Option<String>,
    /// Why it failed, was skipped or may not have been sent.
    pub error: Option<String>,
    /// When it was written (handed to the provider, or skipped).
    pub created_at: DateTime<Utc>,
    /// When it reached its final state.
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ReminderRow {
    appointment_id: String,
    org_id: String,
    starts_at: DateTime<Utc>,
    channel: String,
    recipient: String,
    status: String,
    provider_id: Option<String>,
    error: Option<String>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<ReminderRow> for Reminder {
    type Error = StoreError;
    fn try_from(r: ReminderRow) -> Result<Self, StoreError> {
        Ok(Reminder {
            status: ReminderStatus::parse(&r.status).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "reminder of {}: status {}",
                    r.appointment_id, r.status
                ))
            })?,
            appointment_id: r.appointment_id,
            org_id: r.org_id,
            starts_at: r.starts_at,
            channel: r.channel,
            recipient: r.recipient,
            provider_id: r.provider_id,
            error: r.error,
            created_at: r.created_at,
            finished_at: r.finished_at,
        })
    }
}

const COLUMNS: &str = "appointment_id, org_id, starts_at, channel, recipient, status, \
    provider_id, error, created_at, finished_at";

/// The reminder being written: which appointment and start, to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderKey<'a> {
    /// The organisation.
    pub org_id: &'a str,
    /// The appointment.
    pub appointment_id: &'a str,
    /// The start it reminds of.
    pub starts_at: DateTime<Utc>,
    /// Who it goes to, E.164.
    pub recipient: &'a str,
}

/// Writes the reminder of `key` as `sending` (about to be handed to the provider), or as
/// `skipped` with `why`. False when it exists already (another sender took it, or it was
/// handled before): then it must not be sent.
pub async fn begin(
    db: &Db,
    key: &ReminderKey<'_>,
    skipped: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let now = super::now_micros(now);
    let (status, finished) = match skipped {
        None => (ReminderStatus::Sending, None),
        Some(_) => (ReminderStatus::Skipped, Some(now)),
    };
    let n = on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO appointment_reminders (appointment_id, org_id, starts_at, channel, recipient, \
         status, error, created_at, finished_at) VALUES ($1, $2, $3, 'sms', $4, $5, $6, $7, $8) \
         ON CONFLICT (appointment_id, starts_at) DO NOTHING"
    )
    .bind(key.appointment_id)
    .bind(key.org_id)
    .bind(super::now_micros(key.starts_at))
    .bind(key.recipient)
    .bind(status.as_str())
    .bind(skipped)
    .bind(now)
    .bind(finished)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Records the provider's answer to a reminder being sent: `Sent` with the message's id,
/// `Unconfirmed` or `Failed` with the error. False when it was not `sending`.
pub async fn finish(
    db: &Db,
    key: &ReminderKey<'_>,
    status: ReminderStatus,
    provider_id: Option<&str>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| {
        sqlx::query(
        "UPDATE appointment_reminders SET status = $1, provider_id = $2, error = $3, finished_at = $4 \
         WHERE org_id = $5 AND appointment_id = $6 AND starts_at = $7 AND status = 'sending'"
    )
    .bind(status.as_str())
    .bind(provider_id)
    .bind(error)
    .bind(super::now_micros(now))
    .bind(key.org_id)
    .bind(key.appointment_id)
    .bind(super::now_micros(key.starts_at))
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Forgets a reminder being sent that the provider refused without sending (rate limited,
/// unavailable), so a later sweep sends it again. False when it was not `sending`.
pub async fn release(db: &Db, key: &ReminderKey<'_>) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| sqlx::query(
        "DELETE FROM appointment_reminders \
         WHERE org_id = $1 AND appointment_id = $2 AND starts_at = $3 AND status = 'sending'"
    )
    .bind(key.org_id)
    .bind(key.appointment_id)
    .bind(super::now_micros(key.starts_at))
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Every reminder of the appointment, by start.
pub async fn of_appointment(
    db: &Db,
    org_id: &str,
    appointment_id: &str,
) -> Result<Vec<Reminder>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appointment_reminders WHERE org_id = $1 AND appointment_id = $2 \
         ORDER BY starts_at"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, ReminderRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(appointment_id)
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Reminder::try_from).collect()
}
