//! ProcessInboundEvent: turn a stored, verified provider event into domain changes. Vapi's
//! `status-update` and `end-of-call-report`, and Twilio's status callbacks, update the call
//! they are about. Events are processed at least once, and a merge is idempotent, so a
//! re-run changes nothing. Parsing is pure (and property-tested): provider input is outside
//! input even when its signature is good.

use chrono::{DateTime, Utc};
use serde_json::Value;
use zencall_core::domain::billing::billable_minutes;
use zencall_core::domain::campaign::Outcome;
use zencall_core::events::EventType;
use zencall_core::jobs::payloads::ProcessInboundEvent;
use zencall_core::jobs::payloads::{AnalyzeTranscript, PlanCampaign, ReportUsage};
use zencall_core::store::assistants;
use zencall_core::store::calls::{self, Call, CallReport};
use zencall_core::store::webhook_events::{self, InboundEvent};
use zencall_core::store::{Tx, billing_usage, call_attempts, campaigns, now_micros};
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: ProcessInboundEvent, _run: JobRun) -> Result<(), JobError> {
    let Some(event) = webhook_events::find(&ctx.db, &job.event_id).await? else {
        return Err(JobError::permanent(format!(
            "event {} does not exist",
            job.event_id
        )));
    };
    if event.processed_at.is_some() {
        return Ok(());
    }
    let outcome = match event.provider.as_str() {
        "vapi" => vapi(ctx, &event).await?,
        "twilio" => twilio(ctx, &event).await?,
        other => format!("no processing for {other} events yet"),
    };
    webhook_events::mark_processed(&ctx.db, &event.id, &outcome, ctx.clock.now()).await?;
    Ok(())
}

/// What a Vapi server message says about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VapiCallEvent {
    /// The call's id at Vapi.
    pub vapi_call_id: String,
    /// The assistant's id at Vapi.
    pub vapi_assistant_id: Option<String>,
    /// Our number, when the message says.
    pub our_number: Option<String>,
    /// The other party's number.
    pub customer_number: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// The report, without the numbers (they depend on the assistant).
    pub report: CallReport,
    /// Our attempt id, from the call's metadata, for a campaign call.
    pub attempt_id: Option<String>,
    /// The call's analysis says the person asked not to be called again.
    pub do_not_call: bool,
}

/// What a Twilio status callback says about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioCallEvent {
    /// The call's SID.
    pub sid: String,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// Our number: `To` for an inbound call, `From` for an outbound one.
    pub our_number: Option<String>,
    /// The report.
    pub report: CallReport,
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
        .map(|s| s.chars().take(100_000).collect::<String>())
        .filter(|s| !s.is_empty())
}

fn time(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    text(v, path)
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Vapi's call statuses in ours.
fn vapi_status(status: &str) -> Option<&'static str> {
    match status {
        "scheduled" | "queued" => Some("queued"),
        "ringing" => Some("ringing"),
        "in-progress" => Some("in_progress"),
        "forwarding" => Some("forwarding"),
        "ended" => Some("ended"),
        _ => None,
    }
}

/// Reads a Vapi server message. `Ok(None)`: it changes no call.
pub fn parse_vapi(event_type: &str, payload: &str) -> Result<Option<VapiCallEvent>, String> {
    let body: Value =
        serde_json::from_str(payload).map_err(|e| format!("unreadable Vapi event: {e}"))?;
    let message = body.get("message").unwrap_or(&Value::Null);
    let call = message.get("call").unwrap_or(&Value::Null);
    let Some(vapi_call_id) = text(call, &["id"]) else {
        return Ok(None);
    };
    let mut report = CallReport {
        twilio_call_sid: text(call, &["phoneCallProviderId"]),
        ..Default::default()
    };
    match event_type {
        "status-update" => {
            report.status = text(message, &["status"])
                .and_then(|s| vapi_status(&s))
                .map(str::to_string);
            if report.status.as_deref() == Some("ended") {
                report.ended_reason = text(message, &["endedReason"]);
            }
        }
        "end-of-call-report" => {
            report.status = Some("ended".into());
            report.ended_reason = text(message, &["endedReason"]);
            report.started_at =
                time(message, &["startedAt"]).or_else(|| time(call, &["startedAt"]));
            report.ended_at = time(message, &["endedAt"]).or_else(|| time(call, &["endedAt"]));
            report.cost_usd = message
                .get("cost")
                .and_then(Value::as_f64)
                .filter(|c| c.is_finite() && (0.0..1e9).contains(c))
                .map(|c| format!("{c:.4}"));
            report.transcript = text(message, &["artifact", "transcript"])
                .or_else(|| text(message, &["transcript"]));
            report.recording_url = text(message, &["artifact", "recordingUrl"])
                .or_else(|| text(message, &["artifact", "recording", "mono", "combinedUrl"]))
                .or_else(|| text(message, &["recordingUrl"]));
            report.summary =
                text(message, &["analysis", "summary"]).or_else(|| text(message, &["summary"]));
            report.provider_analysis = provider_analysis(message);
        }
        _ => return Ok(None),
    }
    Ok(Some(VapiCallEvent {
        vapi_call_id,
        vapi_assistant_id: text(call, &["assistantId"]),
        our_number: text(message, &["phoneNumber", "number"]),
        customer_number: text(call, &["customer", "number"]),
        direction: if text(call, &["type"]).as_deref() == Some("outboundPhoneCall") {
            "outbound"
        } else {
            "inbound"
        },
        report,
        attempt_id: text(call, &["metadata", "zencall_attempt_id"]),
        do_not_call: ["doNotCall", "do_not_call"].iter().any(|key| {
            message
                .get("analysis")
                .and_then(|a| a.get("structuredData"))
                .and_then(|d| d.get(key))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        }),
    }))
}

/// Longest provider analysis kept, in bytes of JSON.
const MAX_PROVIDER_ANALYSIS_BYTES: usize = 32 * 1024;

/// The voice platform's own analysis (`summary`, `successEvaluation`, `structuredData`), as
/// JSON, when the report carries a non-empty one of reasonable size.
fn provider_analysis(message: &Value) -> Option<String> {
    let analysis = message.get("analysis")?.as_object()?;
    let kept: serde_json::Map<String, Value> = ["summary", "successEvaluation", "structuredData"]
        .into_iter()
        .filter_map(|key| {
            analysis
                .get(key)
                .filter(|v| !v.is_null())
                .map(|v| (key.to_string(), v.clone()))
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    let text = Value::Object(kept).to_string();
    (text.len() <= MAX_PROVIDER_ANALYSIS_BYTES).then_some(text)
}

/// Twilio's call statuses in ours; the ending ones say why the call ended.
fn twilio_status(status: &str) -> Option<(&'static str, Option<&'static str>)> {
    match status {
        "queued" | "initiated" => Some(("queued", None)),
        "ringing" => Some(("ringing", None)),
        "in-progress" | "answered" => Some(("in_progress", None)),
        "completed" => Some(("ended", Some("completed"))),
        "busy" => Some(("ended", Some("busy"))),
        "no-answer" => Some(("ended", Some("no-answer"))),
        "failed" => Some(("ended", Some("failed"))),
        "canceled" => Some(("ended", Some("canceled"))),
        _ => None,
    }
}

/// Reads a stored Twilio status callback (its form as JSON pairs). `Ok(None)`: no call status.
pub fn parse_twilio(payload: &str) -> Result<Option<TwilioCallEvent>, String> {
    let form: Vec<(String, String)> =
        serde_json::from_str(payload).map_err(|e| format!("unreadable Twilio event: {e}"))?;
    let get = |key: &str| {
        form.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let (Some(sid), Some((status, reason))) = (
        get("CallSid"),
        get("CallStatus").as_deref().and_then(twilio_status),
    ) else {
        return Ok(None);
    };
    let outbound = get("Direction").is_some_and(|d| d.starts_with("outbound"));
    Ok(Some(TwilioCallEvent {
        sid,
        direction: if outbound { "outbound" } else { "inbound" },
        our_number: if outbound { get("From") } else { get("To") },
        report: CallReport {
            status: Some(status.to_string()),
            ended_reason: reason.map(str::to_string),
            from_number: get("From"),
            to_number: get("To"),
            ..Default::default()
        },
    }))
}

async fn vapi(ctx: &JobContext, event: &InboundEvent) -> Result<String, JobError> {
    let Some(parsed) =
        parse_vapi(&event.event_type, &event.payload).map_err(JobError::permanent)?
    else {
        return Ok(format!(
            "ignored: Vapi {} messages change no call",
            event.event_type
        ));
    };
    let mut assistant = match &parsed.vapi_assistant_id {
        Some(id) => assistants::find_by_vapi_id(&ctx.db, id).await?,
        None => None,
    };
    if assistant.is_none()
        && let Some(number) = &parsed.our_number
    {
        assistant = assistants::find_by_number(&ctx.db, number).await?;
    }
    let Some(assistant) = assistant else {
        return Ok(format!(
            "ignored: call {} is not for one of our assistants",
            parsed.vapi_call_id
        ));
    };
    let ours = parsed
        .our_number
        .clone()
        .or_else(|| assistant.phone_number.clone());
    let mut report = parsed.report;
    (report.from_number, report.to_number) = if parsed.direction == "inbound" {
        (parsed.customer_number, ours)
    } else {
        (ours, parsed.customer_number)
    };
    let end_report = event.event_type == "end-of-call-report";
    let mut tx = ctx.db.begin().await?;
    let call = calls::merge_vapi_report(
        &mut tx,
        &assistant.org_id,
        Some(&assistant.id),
        &parsed.vapi_call_id,
        parsed.direction,
        &report,
        ctx.clock.now(),
    )
    .await?;
    // An answered call's transcript is analysed once per analyzer version, however often
    // its report comes; the job is queued with the transcript it reads.
    if end_report
        && call.status == "ended"
        && (call.transcript.is_some() || call.started_at.is_some())
    {
        AnalyzeTranscript::enqueue_for_ended_call(
            &mut tx,
            &call.org_id,
            &call.id,
            &ctx.analyzer.version(),
        )
        .await?;
    }
    if end_report && call.status == "ended" {
        record_usage(ctx, &mut tx, &call).await?;
    }
    tx.commit().await?;
    announce_call(ctx, &call, end_report).await?;
    if end_report && parsed.direction == "outbound" {
        let attempt = record_attempt_outcome(
            ctx,
            &call,
            &parsed.vapi_call_id,
            parsed.attempt_id.as_deref(),
            parsed.do_not_call,
        )
        .await?;
        if let Some(outcome) = attempt {
            return Ok(format!("call {} is {}; {outcome}", call.id, call.status));
        }
    }
    Ok(format!("call {} is {}", call.id, call.status))
}

/// Writes the ledger row of a call that just ended, in the transaction that records its end,
/// and queues its report to the billing meter; a repeated end-of-call report writes and queues
/// nothing (the first row stays).
async fn record_usage(ctx: &JobContext, tx: &mut Tx, call: &Call) -> Result<(), JobError> {
    let duration = call
        .duration_secs
        .and_then(|secs| u64::try_from(secs).ok())
        .unwrap_or(0);
    let minutes = billable_minutes(duration, ctx.settings.billing.minute_rounding);
    let ended_at = call.ended_at.unwrap_or(call.updated_at);
    let written = billing_usage::record(
        tx,
        &call.org_id,
        &call.id,
        call.assistant_id.as_deref(),
        ended_at,
        duration,
        minutes,
        ctx.clock.now(),
    )
    .await?;
    if written {
        ReportUsage::enqueue_for_call(tx, &call.org_id, &call.id).await?;
    }
    Ok(())
}

/// Emits `call.started` once the call has been answered, and `call.ended` when the voice
/// platform's end-of-call report, the one that carries the transcript, has been merged. Both
/// happen once per call, so a re-run or a late duplicate report emits nothing new.
async fn announce_call(ctx: &JobContext, call: &Call, end_report: bool) -> Result<(), JobError> {
    let answered =
        call.started_at.is_some() || matches!(call.status.as_str(), "in_progress" | "forwarding");
    if answered {
        ctx.emit(&call.org_id, EventType::CallStarted, &call.id, call)
            .await?;
    }
    if end_report && call.status == "ended" {
        ctx.emit(&call.org_id, EventType::CallEnded, &call.id, call)
            .await?;
    }
    Ok(())
}

/// Records the outcome of the campaign attempt an outbound call belongs to (found by the
/// call's id, or by the attempt id in its metadata when the report outran the dialer's
/// write), and queues a planning pass for the freed slot. `None` when it is no campaign call.
async fn record_attempt_outcome(
    ctx: &JobContext,
    call: &Call,
    vapi_call_id: &str,
    attempt_id: Option<&str>,
    do_not_call: bool,
) -> Result<Option<String>, JobError> {
    let mut attempt = call_attempts::find_by_vapi_call(&ctx.db, vapi_call_id).await?;
    if attempt.is_none()
        && let Some(id) = attempt_id
    {
        attempt = call_attempts::find(&ctx.db, id).await?;
    }
    let Some(attempt) = attempt.filter(|a| a.org_id == call.org_id) else {
        return Ok(None);
    };
    let Some(campaign) = campaigns::find(&ctx.db, &attempt.org_id, &attempt.campaign_id).await?
    else {
        return Ok(None);
    };
    let outcome = Outcome::from_ended_reason(
        call.ended_reason.as_deref().unwrap_or_default(),
        do_not_call,
    );
    let now = now_micros(ctx.clock.now());
    let mut tx = ctx.db.begin().await?;
    let recorded = call_attempts::record_outcome(
        &mut tx,
        &campaign,
        &attempt,
        outcome,
        call.ended_reason.as_deref(),
        Some(&call.id),
        now,
    )
    .await?;
    if recorded {
        PlanCampaign::enqueue_now(&mut tx, &campaign.org_id, &campaign.id).await?;
    }
    tx.commit().await?;
    if recorded {
        call_attempts::mark_placed(&ctx.db, &attempt.id, vapi_call_id).await?;
    }
    Ok(Some(format!(
        "attempt {} ended: {}",
        attempt.id,
        outcome.as_str()
    )))
}

async fn twilio(ctx: &JobContext, event: &InboundEvent) -> Result<String, JobError> {
    let Some(parsed) = parse_twilio(&event.payload).map_err(JobError::permanent)? else {
        return Ok("ignored: no call status".into());
    };
    let Some(assistant) = (match &parsed.our_number {
        Some(number) => assistants::find_by_number(&ctx.db, number).await?,
        None => None,
    }) else {
        return Ok(format!(
            "ignored: call {} is not on one of our numbers",
            parsed.sid
        ));
    };
    let call = calls::merge_twilio_report(
        &ctx.db,
        &assistant.org_id,
        Some(&assistant.id),
        &parsed.sid,
        parsed.direction,
        &parsed.report,
        ctx.clock.now(),
    )
    .await?;
    announce_call(ctx, &call, false).await?;
    Ok(format!("call {} is {}", call.id, call.status))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn an_end_of_call_report_gives_the_whole_report() {
        let payload = json!({"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call", "cost": 0.12,
            "startedAt": "2026-11-20T10:00:00Z", "endedAt": "2026-11-20T10:01:00Z",
            "artifact": {"transcript": "AI: Bonjour", "recording": {"mono": {"combinedUrl": "https://r/1.wav"}}},
            "call": {"id": "c1", "assistantId": "a1", "type": "outboundPhoneCall", "customer": {"number": "+33612345678"}}}})
        .to_string();
        let e = parse_vapi("end-of-call-report", &payload).unwrap().unwrap();
        assert_eq!((e.vapi_call_id.as_str(), e.direction), ("c1", "outbound"));
        assert_eq!(e.report.cost_usd.as_deref(), Some("0.1200"));
        assert_eq!(e.report.recording_url.as_deref(), Some("https://r/1.wav"));
        assert_eq!(
            e.report.ended_at.unwrap() - e.report.started_at.unwrap(),
            chrono::Duration::seconds(60)
        );
    }

    #[test]
    fn messages_about_no_call_or_of_other_types_change_nothing() {
        assert_eq!(
            parse_vapi("status-update", r#"{"message": {"type": "status-update"}}"#),
            Ok(None)
        );
        assert_eq!(
            parse_vapi("transcript", r#"{"message": {"call": {"id": "c"}}}"#),
            Ok(None)
        );
        assert!(parse_vapi("status-update", "not json").is_err());
        assert_eq!(
            parse_twilio(r#"[["CallSid", "CA1"], ["CallStatus", "teleported"]]"#),
            Ok(None)
        );
    }

    #[test]
    fn a_twilio_callback_names_our_number_by_direction() {
        let e = parse_twilio(r#"[["CallSid","CA1"],["CallStatus","no-answer"],["Direction","outbound-api"],["From","+33100000000"],["To","+33600000000"]]"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.direction, e.our_number.as_deref()),
            ("outbound", Some("+33100000000"))
        );
        assert_eq!(
            (e.report.status.as_deref(), e.report.ended_reason.as_deref()),
            (Some("ended"), Some("no-answer"))
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(|f| json!(f)),
            any::<i64>().prop_map(|i| json!(i)),
            ".{0,40}".prop_map(Value::String),
            prop_oneof![
                Just("2026-11-20T10:00:00Z"),
                Just("-999999-01-01T00:00:00Z"),
                Just("ended"),
                Just("outboundPhoneCall")
            ]
            .prop_map(|s| Value::String(s.to_string())),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            let keys = prop_oneof![
                Just("message"),
                Just("call"),
                Just("id"),
                Just("type"),
                Just("status"),
                Just("cost"),
                Just("startedAt"),
                Just("endedAt"),
                Just("artifact"),
                Just("transcript"),
                Just("customer"),
                Just("number"),
                Just("phoneNumber"),
                Just("assistantId"),
                Just("recording"),
                Just("mono"),
                Just("combinedUrl"),
                Just("analysis"),
                Just("summary"),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys.prop_map(str::to_string), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_vapi_messages_never_panic(value in json_value(), kind in prop_oneof![Just("status-update"), Just("end-of-call-report"), Just("other")]) {
            let _ = parse_vapi(kind, &json!({"message": value}).to_string());
            let _ = parse_vapi(kind, &value.to_string());
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = parse_vapi("end-of-call-report", &text);
            let _ = parse_twilio(&text);
        }

        #[test]
        fn arbitrary_twilio_forms_never_panic(form in prop::collection::vec((prop_oneof![Just("CallSid".to_string()), Just("CallStatus".to_string()), Just("Direction".to_string()), ".{0,10}"], ".{0,20}"), 0..8)) {
            let _ = parse_twilio(&serde_json::to_string(&form).unwrap());
        }
    }
}
