//! The calendar an assistant books into, as `PATCH /v1/assistants/{id}` sets it: checked
//! against the organisation's connection (active, the calendar listed and writable), and made
//! the connection's synced calendar.

use chrono::{DateTime, Utc};
use zencall_core::domain::assistant::{CalendarChoice, FieldError};
use zencall_core::jobs::payloads::{SyncCalendar, WatchCalendar};
use zencall_core::store::Tx;
use zencall_core::store::assistants::AssistantCalendar;
use zencall_core::store::calendar_connections::{self, ConnectionStatus};

use crate::error::ApiError;

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::Invalid(vec![FieldError::new(field, message)])
}

/// Checks `choice` against the connection it names, inside `tx`.
pub async fn check(
    tx: &mut Tx,
    org_id: &str,
    choice: &CalendarChoice,
) -> Result<AssistantCalendar, ApiError> {
    let connection_id = choice.connection_id.trim();
    let calendar_id = choice.calendar_id.trim();
    let connection = calendar_connections::find_in(tx, org_id, connection_id)
        .await?
        .ok_or_else(|| {
            invalid(
                "calendar.connection_id",
                format!("no calendar connection {connection_id} in this organisation"),
            )
        })?;
    if connection.status != ConnectionStatus::Active {
        return Err(invalid(
            "calendar.connection_id",
            format!(
                "the connection is {}; connect the account again",
                connection.status.as_str()
            ),
        ));
    }
    let calendar = connection.calendar(calendar_id).ok_or_else(|| {
        invalid(
            "calendar.calendar_id",
            format!("{calendar_id} is not a calendar of {}", connection.account),
        )
    })?;
    if !calendar.writable {
        return Err(invalid(
            "calendar.calendar_id",
            format!("{calendar_id} is read-only for {}", connection.account),
        ));
    }
    Ok(AssistantCalendar {
        calendar_id: calendar.id.clone(),
        connection_id: connection.id.clone(),
    })
}

/// Makes the chosen calendar the connection's synced one, inside `tx`; when it changes, its
/// sync starts over and a new channel watches it.
pub async fn sync_chosen(
    tx: &mut Tx,
    org_id: &str,
    calendar: &AssistantCalendar,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let connection_id = calendar.connection_id.as_str();
    if calendar_connections::select_calendar(tx, org_id, connection_id, &calendar.calendar_id, now)
        .await?
    {
        let connection = calendar_connections::find_in(tx, org_id, connection_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("calendar connection {connection_id}")))?;
        SyncCalendar::enqueue(tx, org_id, connection_id, connection.sync_generation).await?;
        WatchCalendar::enqueue(
            tx,
            org_id,
            connection_id,
            &format!(
                "calendar:{}:{}",
                calendar.calendar_id,
                zencall_core::store::now_micros(now).timestamp_micros()
            ),
        )
        .await?;
    }
    Ok(())
}
