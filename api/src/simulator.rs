//! `POST /v1/simulator/calls`: with simulated providers (`zencall up` without credentials), a
//! call to or from one of your assistants, so you can watch calls and webhooks work before any
//! real number rings. The simulator reports it as Vapi and Twilio would: signed webhooks to our
//! own `/webhooks/*` endpoints, a few moments apart. Without the simulator the route answers 404.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::assistant::{AssistantStatus, FieldError};
use zencall_core::domain::phone::{CountryCode, PhoneNumber};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::assistants;
use zencall_providers::simulated_calls::{CallOutcome, Direction, Scenario, Script};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::{Conflict, Forbidden, JsonBodyErrors, NotFound, V1Errors};

/// Simulator routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create))
}

/// The simulated providers of this process, or a 404 saying they run only in simulation.
pub(crate) fn simulator(
    state: &AppState,
) -> Result<&zencall_providers::simulator::Simulator, ApiError> {
    state.simulator.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "the call simulator (it runs only with simulated providers, as `zencall up` without credentials)"
                .into(),
        )
    })
}

/// Longest simulated conversation, in seconds.
const MAX_TALK_SECS: u32 = 3600;

/// The body of `POST /v1/simulator/calls`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CallRequest {
    /// The assistant (`asst_...`): active, with a number.
    assistant_id: String,
    /// The customer's number, national (read in the assistant's country) or international.
    #[schema(examples("06 12 34 56 78"))]
    customer_number: String,
    /// `inbound` (the customer calls; the default) or `outbound`.
    #[serde(default)]
    #[schema(schema_with = direction_schema, required = false)]
    direction: Option<String>,
    /// `answered` (the default), `busy` or `no-answer`.
    #[serde(default)]
    #[schema(schema_with = outcome_schema, required = false)]
    outcome: Option<String>,
    /// How long an answered call talks, in seconds: 1 to 3600, 95 by default.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3600)]
    talk_secs: Option<u32>,
    /// What the caller of an answered call wants: `booking`, `complaint`, `reschedule`,
    /// `quote_request` or `information`, said in the assistant's language. Without it, the
    /// caller takes an appointment (in French). A caller taking an appointment on an inbound
    /// call to an assistant with structured opening hours books the first free slot through
    /// the assistant's tools, as `Camille Martin`.
    #[serde(default)]
    #[schema(schema_with = scenario_schema, required = false)]
    scenario: Option<String>,
}

fn scenario_schema() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(Scenario::ALL.map(|(_, name)| name))
}

/// The call the simulator will report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CallView {
    /// Always `simulated_call`.
    #[schema(schema_with = simulated_call_object)]
    object: &'static str,
    /// The assistant.
    assistant_id: String,
    /// The call's id at the (simulated) voice platform.
    vapi_call_id: String,
    /// The call's id at the (simulated) telephony provider.
    twilio_call_sid: String,
    /// `inbound` or `outbound`.
    #[schema(schema_with = direction_schema)]
    direction: &'static str,
    /// `answered`, `busy` or `no-answer`.
    #[schema(schema_with = outcome_schema)]
    outcome: &'static str,
    /// Caller, E.164.
    from_number: String,
    /// Callee, E.164.
    to_number: String,
}

fn direction_schema() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(["inbound", "outbound"])
}

fn outcome_schema() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(["answered", "busy", "no-answer"])
}

fn simulated_call_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("simulated_call")
}

/// The request's fields, checked.
fn validate(
    r: &CallRequest,
    country: Option<CountryCode>,
) -> Result<(PhoneNumber, Direction, CallOutcome), Vec<FieldError>> {
    let mut errors = Vec::new();
    let number = PhoneNumber::parse(&r.customer_number, country)
        .map_err(|e| errors.push(FieldError::new("customer_number", e.to_string())))
        .ok();
    let direction = match r.direction.as_deref().unwrap_or("inbound") {
        "inbound" => Some(Direction::Inbound),
        "outbound" => Some(Direction::Outbound),
        _ => {
            errors.push(FieldError::new("direction", "must be inbound or outbound"));
            None
        }
    };
    let talk_secs = r.talk_secs.unwrap_or(95);
    if talk_secs == 0 || talk_secs > MAX_TALK_SECS {
        errors.push(FieldError::new(
            "talk_secs",
            format!("must be between 1 and {MAX_TALK_SECS}"),
        ));
    }
    let outcome = match r.outcome.as_deref().unwrap_or("answered") {
        "answered" => Some(CallOutcome::Answered { talk_secs }),
        "busy" => Some(CallOutcome::Busy),
        "no-answer" => Some(CallOutcome::NoAnswer),
        _ => {
            errors.push(FieldError::new(
                "outcome",
                "must be answered, busy or no-answer",
            ));
            None
        }
    };
    match (number, direction, outcome) {
        (Some(n), Some(d), Some(o)) if errors.is_empty() => Ok((n, d, o)),
        _ => Err(errors),
    }
}

/// Simulates a call to or from one of your assistants.
#[utoipa::path(
    post,
    path = "/v1/simulator/calls",
    tag = "simulator",
    operation_id = "simulate_call",
    summary = "Simulate a call",
    description = "With simulated providers only (404 otherwise): the simulator reports the call \
        as Vapi and Twilio would, with signed webhooks to `/webhooks/*`, and it shows in \
        `GET /v1/calls`. An inbound call whose caller takes an appointment (the default, or \
        `scenario: booking`) to an assistant with structured opening hours books the first free \
        slot through the assistant's tools (`tool-calls` messages to `/webhooks/vapi`). The \
        assistant must be active with a number (409). Needs the `write` scope.",
    request_body = CallRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The call the simulator will report", body = CallView),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CallRequest>,
) -> Result<(StatusCode, axum::Json<CallView>), ApiError> {
    caller.require(Scope::Write)?;
    let sim = simulator(&state)?;
    let assistant = assistants::find(&state.db, caller.org_id(), &request.assistant_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {}", request.assistant_id)))?;
    let country = CountryCode::parse(&assistant.phone_country).ok();
    let (customer, direction, outcome) = validate(&request, country).map_err(ApiError::Invalid)?;
    let script = match request.scenario.as_deref() {
        None => None,
        Some(name) => Some(Script {
            scenario: Scenario::parse(name).ok_or_else(|| {
                ApiError::Invalid(vec![FieldError::new(
                    "scenario",
                    "must be booking, complaint, reschedule, quote_request or information",
                )])
            })?,
            english: assistant.language == zencall_core::domain::sector::Language::En,
        }),
    };
    let (Some(ours), AssistantStatus::Active) = (&assistant.phone_number, assistant.status) else {
        return Err(ApiError::Conflict(format!(
            "assistant {} is {}: only an active assistant with a number takes calls",
            assistant.id,
            assistant.status.as_str()
        )));
    };
    let call = sim
        .simulate_call(ours, customer.as_str(), direction, outcome, script)
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    let (from_number, to_number) = match direction {
        Direction::Inbound => (call.customer_number.clone(), call.our_number.clone()),
        Direction::Outbound => (call.our_number.clone(), call.customer_number.clone()),
    };
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(CallView {
            object: "simulated_call",
            assistant_id: assistant.id,
            vapi_call_id: call.vapi_call_id,
            twilio_call_sid: call.twilio_call_sid,
            direction: match direction {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            },
            outcome: match outcome {
                CallOutcome::Answered { .. } => "answered",
                CallOutcome::Busy => "busy",
                CallOutcome::NoAnswer => "no-answer",
                // Only placed outbound calls draw these; `validate` never asks for them.
                CallOutcome::Voicemail => "voicemail",
                CallOutcome::Failed => "failed",
                CallOutcome::Refused { .. } => "refused",
            },
            from_number,
            to_number,
        }),
    ))
}
