//! Our outbound events: what customers can subscribe to, and emitting one. An event happens
//! once per deduplication key (`call.ended:call_...`), so the code that notices it may emit it
//! again after a crash or a re-run without the customer hearing of it twice. Emitting stores
//! the event, one delivery per endpoint that wants it, and a `DeliverWebhook` job for each, in
//! one transaction.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::ids::new_id;
use crate::jobs::payloads::DeliverWebhook;
use crate::store::{Db, StoreError, Tx, webhook_deliveries, webhook_endpoints};
use zencall_queue::{EnqueueOptions, enqueue_in};

/// The types of event customers can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// An assistant is active with its number.
    AssistantProvisioned,
    /// An assistant's provisioning failed for good.
    AssistantFailed,
    /// A call was answered.
    CallStarted,
    /// A call is over, with its report.
    CallEnded,
    /// A call's transcript was analysed (again, after a re-analysis).
    CallAnalyzed,
    /// A calendar connection lost its grant: the account must be connected again.
    CalendarDisconnected,
    /// An appointment was booked (by the assistant during a call).
    AppointmentBooked,
    /// An appointment was moved (through the API, or in the calendar).
    AppointmentUpdated,
    /// An appointment was cancelled.
    AppointmentCancelled,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 9] = [
        EventType::AssistantProvisioned,
        EventType::AssistantFailed,
        EventType::CallStarted,
        EventType::CallEnded,
        EventType::CallAnalyzed,
        EventType::CalendarDisconnected,
        EventType::AppointmentBooked,
        EventType::AppointmentUpdated,
        EventType::AppointmentCancelled,
    ];

    /// The name customers see (`call.ended`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssistantProvisioned => "assistant.provisioned",
            Self::AssistantFailed => "assistant.failed",
            Self::CallStarted => "call.started",
            Self::CallEnded => "call.ended",
            Self::CallAnalyzed => "call.analyzed",
            Self::CalendarDisconnected => "calendar.disconnected",
            Self::AppointmentBooked => "appointment.booked",
            Self::AppointmentUpdated => "appointment.updated",
            Self::AppointmentCancelled => "appointment.cancelled",
        }
    }

    /// Parses a name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// The body every endpoint receives.
#[derive(Debug, Serialize)]
struct Envelope<'a, T> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    created_at: String,
    org_id: &'a str,
    data: &'a T,
}

/// Emits an event of `event_type` about `subject` (the object's id: the event happens once per
/// type and subject) with `data` as its body's `data`. Returns the event id, or `None` when it
/// had already been emitted. `max_attempts` is each delivery's attempt budget.
pub async fn emit<T: Serialize>(
    db: &Db,
    org_id: &str,
    event_type: EventType,
    subject: &str,
    data: &T,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> Result<Option<String>, StoreError> {
    let mut tx = db.begin().await?;
    let id = emit_in(
        &mut tx,
        org_id,
        event_type,
        subject,
        data,
        now,
        max_attempts,
    )
    .await?;
    match id {
        Some(_) => tx.commit().await?,
        None => tx.rollback().await?,
    }
    Ok(id)
}

/// [`emit`] inside `tx`, the transaction that makes the change the event tells of: the event
/// and its deliveries are written if and only if the change is.
pub async fn emit_in<T: Serialize>(
    tx: &mut Tx,
    org_id: &str,
    event_type: EventType,
    subject: &str,
    data: &T,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> Result<Option<String>, StoreError> {
    let id = new_id("wevt");
    let name = event_type.as_str();
    let payload = serde_json::to_string(&Envelope {
        id: &id,
        event_type: name,
        created_at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        org_id,
        data,
    })
    .map_err(|e| StoreError::Corrupt(format!("cannot encode event {name}: {e}")))?;
    let dedup_key = format!("{name}:{subject}");
    if !webhook_deliveries::insert_event(tx, &id, org_id, name, &dedup_key, &payload, now).await? {
        return Ok(None);
    }
    for endpoint in webhook_endpoints::subscribed(tx, org_id, name).await? {
        let delivery_id =
            webhook_deliveries::insert_delivery(tx, org_id, &endpoint.id, &id, name, now).await?;
        let job = DeliverWebhook {
            org_id: org_id.to_string(),
            delivery_id,
        };
        let options = EnqueueOptions {
            max_attempts: Some(max_attempts),
            ..EnqueueOptions::default()
        };
        enqueue_in(tx, &job, options, max_attempts).await?;
    }
    tracing::info!(event.id = %id, event.kind = name, org_id, "event emitted");
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_back_from_its_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("call.unknown"), None);
    }
}
