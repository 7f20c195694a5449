//! `/simulator/stripe/*`: with the simulated payments provider (no Stripe key configured), the
//! pages Stripe would host and the moments Stripe would decide. A checkout page shows its plan;
//! completing it, or closing an organisation's billing period now, makes the simulator emit the
//! events Stripe would send, signed, and posts them to our own `/webhooks/stripe`, where they are
//! verified, stored and applied like Stripe's. Mounted only while simulating.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::store::billing_customers;
use zencall_providers::ProviderError;
use zencall_providers::simulated_payments::{SignedEvent, SimulatedPayments};
use zencall_providers::stripe_event_poster::StripeEventPoster;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::openapi::{BadRequest, Conflict, JsonBodyErrors, NotFound};

/// The simulated payments provider, and the way its events reach our webhook.
#[derive(Debug, Clone)]
pub struct StripeSimulator {
    /// The simulated account (the same one the API and the workers use as [`crate::AppState::payments`]).
    pub payments: SimulatedPayments,
    /// Posts its events to our API.
    pub poster: StripeEventPoster,
}

/// The simulator's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_checkout))
        .routes(routes!(complete_checkout))
        .routes(routes!(close_period))
        .routes(routes!(void_invoice))
}

fn simulator(state: &AppState) -> Result<&StripeSimulator, ApiError> {
    state.stripe_simulator.as_ref().ok_or_else(|| {
        ApiError::NotFound("the Stripe simulator (no Stripe key is configured only)".into())
    })
}

/// A simulated checkout page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CheckoutPage {
    /// Always `simulated_checkout`.
    #[schema(schema_with = checkout_object)]
    object: &'static str,
    /// The session (`cs_test_...`).
    id: String,
    /// The organisation buying.
    org_id: String,
    /// The plan's name; null when its prices match no configured plan.
    #[schema(required = true)]
    plan: Option<String>,
    /// The monthly fee, in cents, as configured for the plan.
    #[schema(required = true)]
    monthly_fee_cents: Option<i64>,
    /// Minutes included each month.
    #[schema(required = true)]
    included_minutes: Option<u32>,
    /// Free days before the first charge.
    trial_days: u32,
    /// Where to POST to pay.
    complete_url: String,
}

fn checkout_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("simulated_checkout")
}

/// Shows a simulated checkout page.
#[utoipa::path(
    get,
    path = "/simulator/stripe/checkout/{id}",
    tag = "simulator",
    operation_id = "show_simulated_checkout",
    summary = "Show a simulated checkout",
    description = "The page `POST /v1/billing/checkout` sends the buyer to while payments are \
        simulated: the plan bought, and where to complete it. Served only while simulating.",
    params(("id" = String, Path, description = "The checkout session, `cs_test_...`")),
    responses(
        (status = 200, description = "The checkout", body = CheckoutPage),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn show_checkout(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<CheckoutPage>, ApiError> {
    let sim = simulator(&state)?;
    let request = sim
        .payments
        .checkout_request(&id)
        .ok_or_else(|| ApiError::NotFound(format!("checkout session {id}")))?;
    let plan = state
        .settings
        .billing
        .plan_of_prices([request.fee_price_id.as_str()]);
    Ok(axum::Json(CheckoutPage {
        object: "simulated_checkout",
        org_id: request.org_id,
        plan: plan.map(|p| p.name.clone()),
        monthly_fee_cents: plan.map(|p| p.monthly_fee_cents),
        included_minutes: plan.map(|p| p.included_minutes),
        trial_days: request.trial_days,
        complete_url: format!(
            "{}/simulator/stripe/checkout/{id}/complete",
            state.settings.server.public_url.trim_end_matches('/')
        ),
        id,
    }))
}

/// The events posted to our webhook, in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PostedEvents {
    /// Always `list`.
    #[schema(schema_with = list_object)]
    object: &'static str,
    /// Each event, as posted.
    data: Vec<PostedEvent>,
}

fn list_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("list")
}

/// One event posted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PostedEvent {
    /// Its id (`evt_...`).
    id: String,
    /// Its type (`invoice.paid`).
    #[serde(rename = "type")]
    event_type: String,
}

/// The simulator's refusal as the API answers it.
fn refusal(e: ProviderError) -> ApiError {
    match e {
        ProviderError::NotFound { .. } => ApiError::NotFound("checkout session".into()),
        other if other.is_transient() => ApiError::Unavailable,
        other => ApiError::Conflict(other.to_string()),
    }
}

/// Posts `events` to our webhook in order; each is stored before the next is sent.
async fn post_all(
    sim: &StripeSimulator,
    events: Vec<SignedEvent>,
) -> Result<PostedEvents, ApiError> {
    let mut data = Vec::with_capacity(events.len());
    for event in events {
        sim.poster.post(&event).await.map_err(|e| {
            ApiError::Internal(format!("the simulated Stripe event was not delivered: {e}"))
        })?;
        data.push(PostedEvent {
            id: event.id,
            event_type: event.event_type,
        });
    }
    Ok(PostedEvents {
        object: "list",
        data,
    })
}

/// Completes a simulated checkout, as if the buyer had paid.
#[utoipa::path(
    post,
    path = "/simulator/stripe/checkout/{id}/complete",
    tag = "simulator",
    operation_id = "complete_simulated_checkout",
    summary = "Complete a simulated checkout",
    description = "The subscription starts (trialing with a trial) and its first invoice is \
        paid; `customer.subscription.created`, `invoice.finalized`, `invoice.paid` and \
        `checkout.session.completed` are posted, signed, to `/webhooks/stripe`. 409 when the \
        session is already complete. Served only while simulating.",
    params(("id" = String, Path, description = "The checkout session, `cs_test_...`")),
    responses(
        (status = 200, description = "The events posted", body = PostedEvents),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn complete_checkout(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<PostedEvents>, ApiError> {
    let sim = simulator(&state)?;
    let events = sim.payments.complete_checkout(&id).map_err(refusal)?;
    Ok(axum::Json(post_all(sim, events).await?))
}

/// The body of `POST /simulator/stripe/close-period`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ClosePeriod {
    /// The organisation whose period ends now (`org_...`).
    org_id: String,
    /// What the card does: `paid` (the default) or `declined` (the invoice stays open and the
    /// subscription goes `past_due`).
    #[serde(default)]
    payment: CardOutcome,
}

/// What the simulated card does when the period's invoice is charged.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum CardOutcome {
    /// Charged: the invoice is paid.
    #[default]
    Paid,
    /// Declined: the invoice stays open.
    Declined,
}

/// Ends an organisation's billing period now, as Stripe does at the period's end.
#[utoipa::path(
    post,
    path = "/simulator/stripe/close-period",
    tag = "simulator",
    operation_id = "close_simulated_period",
    summary = "Close a simulated billing period",
    description = "Invoices the organisation's minutes reported since the period began and the \
        next month's fee, ends a trial, and posts `invoice.finalized`, `invoice.paid` (or \
        `invoice.payment_failed` with `\"payment\": \"declined\"`) and \
        `customer.subscription.updated`, signed, to `/webhooks/stripe`. 409 without a trialing, \
        active or past-due subscription. Served only while simulating.",
    request_body = ClosePeriod,
    responses(
        (status = 200, description = "The events posted", body = PostedEvents),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        JsonBodyErrors,
    )
)]
async fn close_period(
    State(state): State<AppState>,
    Json(body): Json<ClosePeriod>,
) -> Result<axum::Json<PostedEvents>, ApiError> {
    let sim = simulator(&state)?;
    let customer = billing_customers::find(&state.db, &body.org_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("the Stripe customer of {}", body.org_id)))?;
    let customer = &customer.stripe_customer_id;
    let events = match body.payment {
        CardOutcome::Paid => sim.payments.close_period(customer),
        CardOutcome::Declined => sim.payments.close_period_declined(customer),
    }
    .map_err(|e| ApiError::Conflict(e.to_string()))?;
    Ok(axum::Json(post_all(sim, events).await?))
}

/// Voids an open invoice, as an operator does in Stripe's dashboard.
#[utoipa::path(
    post,
    path = "/simulator/stripe/invoices/{id}/void",
    tag = "simulator",
    operation_id = "void_simulated_invoice",
    summary = "Void a simulated invoice",
    description = "Voids an open invoice (one whose payment was declined) and posts \
        `invoice.voided`, signed, to `/webhooks/stripe`: an invoice document we issued for it is \
        then cancelled by a credit note. 409 when the invoice is paid or void already; 404 when \
        there is no such invoice. Served only while simulating.",
    params(("id" = String, Path, description = "The invoice, `in_...`")),
    responses(
        (status = 200, description = "The events posted", body = PostedEvents),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn void_invoice(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<PostedEvents>, ApiError> {
    let sim = simulator(&state)?;
    if zencall_providers::payments::Payments::retrieve_invoice(&sim.payments, &id)
        .await
        .is_err()
    {
        return Err(ApiError::NotFound(format!("invoice {id}")));
    }
    let events = sim
        .payments
        .void_invoice(&id)
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    Ok(axum::Json(post_all(sim, events).await?))
}
