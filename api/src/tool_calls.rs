//! Vapi's `tool-calls` server messages: the assistant's booking tools (`check_availability`,
//! `book_appointment`, `cancel_appointment`), answered in the webhook's response while the
//! caller waits. The message is verified like every Vapi request before it gets here; each
//! tool call is answered under its `toolCallId`, with a sentence in the assistant's language
//! (`result`), or a sentence saying what to correct (`error`) when the model sent nonsense.
//! Only storage is touched: no job runs before the answer. A booking writes the appointment,
//! its `PushAppointment` job and its `appointment.booked` event in one transaction (the
//! booking's lock and the unique index keep two callers off one slot); a cancellation likewise.
//!
//! A tool-calls message is not stored in the webhook inbox: the appointment and its history
//! are the record, and a repeated delivery is answered again (a booking repeated by the same
//! call is recognised and answered as booked).

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use zencall_core::domain::assistant::AssistantStatus;
use zencall_core::domain::availability::Slot;
use zencall_core::domain::booking_tools::{
    self, AvailabilityQuery, BookingRequest, CancelAnswer, CancelRequest, Refusal, ToolContext,
    ToolRequest,
};
use zencall_core::domain::phone::{CountryCode, PhoneNumber};
use zencall_core::events::{self, EventType};
use zencall_core::jobs::payloads::PushAppointment;
use zencall_core::store::appointments::{self, Actor, Appointment, Booking, Cancellation};
use zencall_core::store::assistants::{self, Assistant};
use zencall_core::store::availability;

use crate::AppState;
use crate::error::ApiError;

/// Tool calls answered per message; more are answered with an error.
const MAX_CALLS_PER_MESSAGE: usize = 10;

/// The answer to a `tool-calls` message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolCallsAnswer {
    /// One result per tool call of the message, in its order.
    results: Vec<ToolCallResult>,
}

/// The result of one tool call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallResult {
    /// The tool call's id, as the message gave it.
    tool_call_id: String,
    /// The tool's name, as the message gave it.
    name: String,
    /// What the assistant reads back when the tool ran: a sentence in its language.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<String>,
    /// Why the tool could not run as called: a sentence naming what to correct.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// For programs: the local `start` of the slots offered (`slots`), the appointment booked
    /// or cancelled (`appointment_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
}

impl ToolCallResult {
    fn ok(call: &CallRef, text: String, metadata: Option<Value>) -> Self {
        Self {
            tool_call_id: call.id.clone(),
            name: call.name.clone(),
            result: Some(text),
            error: None,
            metadata,
        }
    }

    fn error(call: &CallRef, text: String) -> Self {
        Self {
            tool_call_id: call.id.clone(),
            name: call.name.clone(),
            result: None,
            error: Some(text),
            metadata: None,
        }
    }
}

/// One tool call of the message.
struct CallRef {
    id: String,
    name: String,
    arguments: Option<Value>,
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(200).collect())
}

/// The tool calls of a message: `toolCallList` (`{id, function: {name, arguments}}`, or the
/// flat `{id, name, arguments}` of Vapi's examples), else the `toolCall` of each
/// `toolWithToolCallList` entry.
fn tool_calls(message: &Value) -> Option<Vec<CallRef>> {
    let list: Vec<&Value> = match message.get("toolCallList").and_then(Value::as_array) {
        Some(list) => list.iter().collect(),
        None => message
            .get("toolWithToolCallList")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(|t| t.get("toolCall"))
            .collect(),
    };
    Some(
        list.into_iter()
            .map(|call| {
                let function = call.get("function").unwrap_or(&Value::Null);
                CallRef {
                    id: text(call, &["id"]).unwrap_or_default(),
                    name: text(function, &["name"])
                        .or_else(|| text(call, &["name"]))
                        .unwrap_or_default(),
                    arguments: function
                        .get("arguments")
                        .or_else(|| function.get("parameters"))
                        .or_else(|| call.get("arguments"))
                        .cloned(),
                }
            })
            .collect(),
    )
}

/// The assistant a message is about: by the voice platform's assistant id, else by our number.
async fn find_assistant(state: &AppState, message: &Value) -> Result<Option<Assistant>, ApiError> {
    let vapi_id =
        text(message, &["call", "assistantId"]).or_else(|| text(message, &["assistant", "id"]));
    if let Some(id) = vapi_id
        && let Some(a) = assistants::find_by_vapi_id(&state.db, &id).await?
    {
        return Ok(Some(a));
    }
    match text(message, &["phoneNumber", "number"]) {
        Some(number) => Ok(assistants::find_by_number(&state.db, &number).await?),
        None => Ok(None),
    }
}

/// Answers every tool call of a verified `tool-calls` message.
pub async fn answer(state: &AppState, body: &Value) -> Result<ToolCallsAnswer, ApiError> {
    let message = body.get("message").unwrap_or(&Value::Null);
    let calls = tool_calls(message).ok_or_else(|| {
        ApiError::Unprocessable("message.toolCallList: missing (a list of tool calls)".into())
    })?;
    let assistant = find_assistant(state, message).await?;
    let live = assistant.filter(|a| {
        matches!(
            a.status,
            AssistantStatus::Active | AssistantStatus::Provisioning
        )
    });
    let Some(assistant) = live else {
        let text = "this call's assistant is not a live Zencall assistant".to_string();
        return Ok(ToolCallsAnswer {
            results: calls
                .iter()
                .map(|c| ToolCallResult::error(c, text.clone()))
                .collect(),
        });
    };
    let language = assistant.language;
    let Some(hours) = &assistant.business.hours else {
        let text = booking_tools::no_hours_message(language);
        return Ok(ToolCallsAnswer {
            results: calls
                .iter()
                .map(|c| ToolCallResult::error(c, text.clone()))
                .collect(),
        });
    };
    let country = CountryCode::parse(&assistant.phone_country).ok();
    let caller_number = text(message, &["call", "customer", "number"])
        .or_else(|| text(message, &["customer", "number"]))
        .and_then(|n| PhoneNumber::parse(&n, country.clone()).ok());
    let calendar = &state.settings.calendar;
    let ctx = ToolContext {
        time_zone: hours.time_zone(),
        language,
        default_duration: TimeDelta::minutes(i64::from(calendar.booking_duration_minutes)),
        search_days: i64::from(calendar.booking_search_days),
        country,
        caller_number,
        now: state.clock.now(),
    };
    let call_id = text(message, &["call", "id"]);
    let run = Run {
        state,
        assistant: &assistant,
        ctx: &ctx,
        call_id: call_id.as_deref(),
        notice_minutes: hours.min_notice().num_minutes(),
    };
    let mut results = Vec::with_capacity(calls.len());
    for (n, call) in calls.iter().enumerate() {
        if n >= MAX_CALLS_PER_MESSAGE {
            results.push(ToolCallResult::error(
                call,
                format!("at most {MAX_CALLS_PER_MESSAGE} tool calls are answered per message"),
            ));
            continue;
        }
        let request = booking_tools::arguments_object(call.arguments.as_ref())
            .and_then(|args| booking_tools::parse(&call.name, &args, &ctx));
        let result = match request {
            Err(e) => ToolCallResult::error(call, e.message(language)),
            Ok(ToolRequest::CheckAvailability(q)) => run.check(call, &q).await?,
            Ok(ToolRequest::Book(b)) => run.book(call, &b).await?,
            Ok(ToolRequest::Cancel(c)) => run.cancel(call, &c).await?,
        };
        tracing::info!(
            assistant.id = %assistant.id,
            org_id = %assistant.org_id,
            tool = %call.name,
            ok = result.error.is_none(),
            "tool call answered"
        );
        results.push(result);
    }
    Ok(ToolCallsAnswer { results })
}

/// What running the tools of one message needs.
struct Run<'a> {
    state: &'a AppState,
    assistant: &'a Assistant,
    ctx: &'a ToolContext,
    call_id: Option<&'a str>,
    notice_minutes: i64,
}

impl Run<'_> {
    /// The free slots of `duration` in `[from, to)`.
    async fn slots(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        duration: TimeDelta,
    ) -> Result<Vec<Slot>, ApiError> {
        Ok(availability::free_slots(
            &self.state.db,
            self.assistant,
            from,
            to,
            duration,
            self.ctx.now,
        )
        .await?
        .unwrap_or_default())
    }

    /// The first free slots from `from` over the search horizon.
    async fn offer(&self, from: DateTime<Utc>, duration: TimeDelta) -> Result<Vec<Slot>, ApiError> {
        let from = from.max(self.ctx.now);
        let mut slots = self
            .slots(from, from + TimeDelta::days(self.ctx.search_days), duration)
            .await?;
        slots.truncate(booking_tools::OFFERED_SLOTS);
        Ok(slots)
    }

    fn slot_metadata(&self, slots: &[Slot]) -> Value {
        let starts: Vec<String> = slots
            .iter()
            .map(|s| booking_tools::local_start(s.start, self.ctx.time_zone))
            .collect();
        json!({ "slots": starts })
    }

    async fn check(
        &self,
        call: &CallRef,
        q: &AvailabilityQuery,
    ) -> Result<ToolCallResult, ApiError> {
        let slots = self.slots(q.from, q.to, q.duration).await?;
        let later = if slots.is_empty() {
            self.offer(q.to, q.duration).await?
        } else {
            Vec::new()
        };
        let text = booking_tools::availability_answer(q, &slots, &later, self.ctx);
        let listed = if slots.is_empty() {
            &later[..]
        } else {
            &slots[..slots.len().min(booking_tools::LISTED_SLOTS)]
        };
        Ok(ToolCallResult::ok(
            call,
            text,
            Some(self.slot_metadata(listed)),
        ))
    }

    async fn book(&self, call: &CallRef, b: &BookingRequest) -> Result<ToolCallResult, ApiError> {
        let state = self.state;
        let org_id = &self.assistant.org_id;
        let new = appointments::NewAppointment {
            assistant_id: self.assistant.id.clone(),
            starts_at: b.start,
            ends_at: b.start + b.duration,
            caller_name: b.caller_name.clone(),
            caller_number: b.caller_number.clone(),
            service: b.service.clone(),
            call_id: self.call_id.map(str::to_string),
            actor: Actor::Assistant,
        };
        let mut tx = state.db.begin().await?;
        let refusal = match appointments::book_in(&mut tx, org_id, &new, self.ctx.now).await? {
            Booking::Booked(appointment) => {
                PushAppointment::enqueue(&mut tx, org_id, &appointment.id, "booked").await?;
                events::emit_in(
                    &mut tx,
                    org_id,
                    EventType::AppointmentBooked,
                    &appointment.id,
                    &*appointment,
                    self.ctx.now,
                    state.settings.webhooks.outbound.max_attempts,
                )
                .await?;
                tx.commit().await?;
                tracing::info!(appointment.id = %appointment.id, org_id = %org_id, "appointment booked during a call");
                return Ok(self.booked(call, &appointment));
            }
            Booking::SlotTaken => Refusal::Taken,
            Booking::Closed => Refusal::Closed,
            Booking::TooSoon => Refusal::TooSoon {
                notice_minutes: self.notice_minutes,
            },
            Booking::NoHours => {
                tx.rollback().await?;
                return Ok(ToolCallResult::error(
                    call,
                    booking_tools::no_hours_message(self.ctx.language),
                ));
            }
            Booking::UnknownAssistant => {
                tx.rollback().await?;
                return Ok(ToolCallResult::error(
                    call,
                    "this call's assistant is not a live Zencall assistant".into(),
                ));
            }
        };
        tx.rollback().await?;
        if refusal == Refusal::Taken
            && let Some(existing) =
                appointments::booked_at(&state.db, org_id, &self.assistant.id, b.start).await?
            && existing.call_id.is_some()
            && existing.call_id.as_deref() == self.call_id
            && existing.caller_number == b.caller_number.as_str()
            && existing.ends_at == new.ends_at
        {
            // The same booking, delivered again (the platform retried): it is this caller's.
            return Ok(self.booked(call, &existing));
        }
        let offered = self.offer(b.start, b.duration).await?;
        let text = booking_tools::refused_answer(refusal, &offered, self.ctx);
        Ok(ToolCallResult::ok(
            call,
            text,
            Some(self.slot_metadata(&offered)),
        ))
    }

    fn booked(&self, call: &CallRef, a: &Appointment) -> ToolCallResult {
        let minutes = (a.ends_at - a.starts_at).num_minutes();
        let text =
            booking_tools::booked_answer(&a.id, a.starts_at, minutes, &a.caller_name, self.ctx);
        ToolCallResult::ok(
            call,
            text,
            Some(json!({
                "appointment_id": a.id,
                "start": booking_tools::local_start(a.starts_at, self.ctx.time_zone),
            })),
        )
    }

    async fn cancel(&self, call: &CallRef, c: &CancelRequest) -> Result<ToolCallResult, ApiError> {
        let state = self.state;
        let (org_id, assistant_id) = (&self.assistant.org_id, &self.assistant.id);
        let target = match c {
            CancelRequest::Reference(id) => appointments::find(&state.db, org_id, id)
                .await?
                .filter(|a| &a.assistant_id == assistant_id),
            CancelRequest::Callers {
                caller_number,
                start,
            } => {
                let mine = appointments::booked_for_caller(
                    &state.db,
                    org_id,
                    assistant_id,
                    caller_number.as_str(),
                    self.ctx.now,
                )
                .await?;
                let mut mine: Vec<Appointment> = match start {
                    Some(start) => mine.into_iter().filter(|a| a.starts_at == *start).collect(),
                    None => mine,
                };
                if mine.len() > 1 {
                    let list = mine.iter().map(|a| (a.id.clone(), a.starts_at)).collect();
                    let text = booking_tools::cancel_answer(&CancelAnswer::Several(list), self.ctx);
                    return Ok(ToolCallResult::ok(call, text, None));
                }
                mine.pop()
            }
        };
        let Some(target) = target else {
            let text = booking_tools::cancel_answer(&CancelAnswer::NotFound, self.ctx);
            return Ok(ToolCallResult::ok(call, text, None));
        };
        let answer = |a: CancelAnswer, id: &str| {
            ToolCallResult::ok(
                call,
                booking_tools::cancel_answer(&a, self.ctx),
                Some(json!({ "appointment_id": id })),
            )
        };
        if target.status == appointments::AppointmentStatus::Cancelled {
            return Ok(answer(
                CancelAnswer::Cancelled {
                    start: target.starts_at,
                },
                &target.id,
            ));
        }
        if target.starts_at <= self.ctx.now {
            return Ok(answer(
                CancelAnswer::Past {
                    start: target.starts_at,
                },
                &target.id,
            ));
        }
        let reason = match self.call_id {
            Some(id) => format!("cancelled by the caller during call {id}"),
            None => "cancelled by the caller during a call".to_string(),
        };
        let mut tx = state.db.begin().await?;
        let outcome = appointments::cancel_in(
            &mut tx,
            org_id,
            &target.id,
            Actor::Assistant,
            Some(&reason),
            self.ctx.now,
        )
        .await?;
        match outcome {
            Some(Cancellation::Cancelled(cancelled)) => {
                PushAppointment::enqueue(&mut tx, org_id, &cancelled.id, "cancelled").await?;
                events::emit_in(
                    &mut tx,
                    org_id,
                    EventType::AppointmentCancelled,
                    &cancelled.id,
                    &cancelled,
                    self.ctx.now,
                    state.settings.webhooks.outbound.max_attempts,
                )
                .await?;
                tx.commit().await?;
                tracing::info!(appointment.id = %cancelled.id, org_id = %org_id, "appointment cancelled during a call");
            }
            _ => tx.rollback().await?,
        }
        Ok(answer(
            CancelAnswer::Cancelled {
                start: target.starts_at,
            },
            &target.id,
        ))
    }
}

/// Whether a verified Vapi body is a `tool-calls` message.
pub fn is_tool_calls(body: &Value) -> bool {
    body.get("message")
        .and_then(|m| m.get("type"))
        .and_then(Value::as_str)
        == Some("tool-calls")
}
