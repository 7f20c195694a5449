//! An assistant's free slots over a window, read from storage: its structured hours, the busy
//! events of its calendar and its booked appointments, put through
//! [`free_slots`](crate::domain::availability::free_slots). What the availability route, the
//! calendar benchmark and the assistant's tools all call.

use chrono::{DateTime, TimeDelta, Utc};

use super::assistants::Assistant;
use super::{Db, StoreError, appointments, calendar_events};
use crate::domain::availability::{self, Slot};

/// The free slots of `duration` of `assistant` in `[from, to)` at `now`; `None` when it has
/// no structured opening hours.
pub async fn free_slots(
    db: &Db,
    assistant: &Assistant,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    duration: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Slot>>, StoreError> {
    let Some(hours) = &assistant.business.hours else {
        return Ok(None);
    };
    let org_id = &assistant.org_id;
    let mut busy = match &assistant.calendar {
        Some(calendar) => {
            calendar_events::busy_between(db, org_id, &calendar.connection_id, from, to).await?
        }
        None => Vec::new(),
    };
    busy.extend(appointments::booked_between(db, org_id, &assistant.id, from, to).await?);
    Ok(Some(availability::free_slots(
        hours, &busy, from, to, duration, now,
    )))
}
