//! `/v1/billing`: subscribe to a plan through Stripe Checkout, manage it in Stripe's customer
//! portal, read the subscription and the minutes used per assistant. Also the entitlement
//! check other resources call before they let an organisation grow (402 when it may not).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::assistant::FieldError;
use zencall_core::domain::billing::{BillingPeriod, Entitlement, is_live_status};
use zencall_core::domain::ids::new_id;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::billing_customers::BillingCustomer;
use zencall_core::store::{
    billing_customers, billing_profiles, billing_subscriptions, billing_usage, organisations,
};
use zencall_providers::ProviderError;
use zencall_providers::payments::{CheckoutRequest, CustomerSpec, PortalRequest, PostalAddress};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::openapi::{BadRequest, Conflict, Forbidden, JsonBodyErrors, Unprocessable, V1Errors};

/// Billing routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout))
        .routes(routes!(portal))
        .routes(routes!(subscription))
        .routes(routes!(usage))
}

/// Fails with 402 when the organisation may not grow (no live subscription past the grace
/// period), saying why.
pub async fn require_entitlement(state: &AppState, org_id: &str) -> Result<(), ApiError> {
    match entitlement_of(state, org_id).await? {
        Entitlement::Lapsed { reason } => Err(ApiError::PaymentRequired(reason)),
        _ => Ok(()),
    }
}

async fn entitlement_of(state: &AppState, org_id: &str) -> Result<Entitlement, ApiError> {
    billing_subscriptions::entitlement_of(
        &state.db,
        org_id,
        state.settings.billing.grace_period_days,
        state.clock.now(),
    )
    .await?
    .ok_or_else(|| ApiError::Internal(format!("organisation {org_id} is missing")))
}

/// A failure of the payment provider, as the API answers it: retry later (503) or a fault of
/// ours to log (500).
fn provider_failure(e: ProviderError) -> ApiError {
    if e.is_transient() {
        tracing::warn!(error = %e, "the payment provider is unavailable");
        ApiError::Unavailable
    } else {
        ApiError::Internal(format!("the payment provider refused: {e}"))
    }
}

/// The body of `POST /v1/billing/checkout`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CheckoutBody {
    /// The plan's name, as configured (`starter`).
    #[schema(examples("starter"))]
    plan: String,
    /// Where invoices and payment notices go; needed the first time only (when the
    /// organisation's Stripe customer is created), and not at all when a billing profile is
    /// given (its email is used).
    #[serde(default)]
    #[schema(examples("compta@salon-dupont.fr"))]
    email: Option<String>,
}

/// A checkout page to send the buyer to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CheckoutView {
    /// Always `checkout_session`.
    #[schema(schema_with = checkout_object)]
    object: &'static str,
    /// Stripe's id of the session (`cs_...`).
    id: String,
    /// The page to open.
    url: String,
    /// The plan bought.
    plan: String,
    /// Free days before the first charge (0 when the organisation subscribed before).
    trial_days: u32,
}

fn checkout_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("checkout_session")
}

fn public_url(state: &AppState, path: &str) -> String {
    format!(
        "{}{path}",
        state.settings.server.public_url.trim_end_matches('/')
    )
}

/// Starts a subscription: a Stripe Checkout page for a plan, with its trial.
#[utoipa::path(
    post,
    path = "/v1/billing/checkout",
    tag = "billing",
    operation_id = "create_checkout",
    summary = "Subscribe to a plan",
    description = "Creates the organisation's Stripe customer the first time (then `email` is \
        required), and a Checkout Session for the plan's monthly fee and metered minutes, with \
        the plan's free trial unless the organisation subscribed before. Send the buyer to \
        `url`; the subscription shows at `GET /v1/billing/subscription` once Stripe confirms \
        it. 409 while a trialing or active subscription exists (change plans in the portal). \
        Needs the `admin` scope.",
    request_body = CheckoutBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The checkout page", body = CheckoutView),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CheckoutBody>,
) -> Result<(StatusCode, axum::Json<CheckoutView>), ApiError> {
    caller.require(Scope::Admin)?;
    let org_id = caller.org_id();
    let billing = &state.settings.billing;
    let plan = billing.plan(body.plan.trim()).ok_or_else(|| {
        let names: Vec<&str> = billing.plans.iter().map(|p| p.name.as_str()).collect();
        ApiError::Invalid(vec![FieldError::new(
            "plan",
            format!("must be one of: {}", names.join(", ")),
        )])
    })?;
    if let Some(email) = &body.email
        && !zencall_core::domain::email::is_plausible(email.trim())
    {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "email",
            "must be an email address such as compta@example.fr",
        )]));
    }
    let current = billing_subscriptions::current(&state.db, org_id).await?;
    if let Some(s) = current.as_ref().filter(|s| is_live_status(&s.status)) {
        return Err(ApiError::Conflict(format!(
            "the organisation already has a {} subscription ({}); change plans in the customer portal (POST /v1/billing/portal)",
            s.status, s.stripe_subscription_id
        )));
    }
    let customer = customer_for(&state, org_id, body.email.as_deref()).await?;
    // One trial per organisation.
    let trial_days = if current.is_some() {
        0
    } else {
        plan.trial_days
    };
    let request = CheckoutRequest {
        org_id: org_id.to_string(),
        customer_id: customer.stripe_customer_id,
        fee_price_id: plan.fee_price_id.clone(),
        metered_price_id: plan.metered_price_id.clone(),
        trial_days,
        success_url: public_url(&state, &billing.success_path),
        cancel_url: public_url(&state, &billing.cancel_path),
        idempotency_key: format!("checkout:{org_id}:{}", new_id("chk")),
    };
    let session = state
        .payments
        .create_checkout_session(&request)
        .await
        .map_err(provider_failure)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CheckoutView {
            object: "checkout_session",
            id: session.id,
            url: session.url,
            plan: plan.name.clone(),
            trial_days,
        }),
    ))
}

/// The organisation's Stripe customer, created (once) when it has none.
async fn customer_for(
    state: &AppState,
    org_id: &str,
    email: Option<&str>,
) -> Result<BillingCustomer, ApiError> {
    if let Some(found) = billing_customers::find(&state.db, org_id).await? {
        return Ok(found);
    }
    // The billing profile, when given, is the customer's identity at Stripe: its address and
    // VAT number are what Stripe Tax decides French VAT or reverse charge from.
    let profile = billing_profiles::find(&state.db, org_id).await?;
    let spec = match (profile, email.map(str::trim)) {
        (Some(p), email) => CustomerSpec {
            org_id: org_id.to_string(),
            name: p.legal_name,
            email: email.map(str::to_string).unwrap_or(p.email),
            address: Some(PostalAddress {
                line1: p.address_line1,
                line2: p.address_line2,
                postal_code: p.postal_code,
                city: p.city,
                country: p.country,
            }),
            vat_id: p.vat_id,
        },
        (None, Some(email)) => {
            let org = organisations::find(&state.db, org_id)
                .await?
                .ok_or_else(|| ApiError::Internal(format!("organisation {org_id} is missing")))?;
            CustomerSpec {
                org_id: org_id.to_string(),
                name: org.name,
                email: email.to_string(),
                address: None,
                vat_id: None,
            }
        }
        (None, None) => {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "email",
                "is required the first time unless a billing profile is given (PUT /v1/billing/profile): \
                 the address invoices and payment notices go to",
            )]));
        }
    };
    let created = state
        .payments
        .create_customer(&spec)
        .await
        .map_err(provider_failure)?;
    Ok(billing_customers::record(&state.db, org_id, &created.id, state.clock.now()).await?)
}

/// A customer portal page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PortalView {
    /// Always `portal_session`.
    #[schema(schema_with = portal_object)]
    object: &'static str,
    /// The page to open.
    url: String,
}

fn portal_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("portal_session")
}

/// Opens Stripe's customer portal: plan changes, payment methods, invoices, cancellation.
#[utoipa::path(
    post,
    path = "/v1/billing/portal",
    tag = "billing",
    operation_id = "create_portal_session",
    summary = "Open the customer portal",
    description = "A Stripe customer portal page for the organisation. 409 before its first \
        checkout (it has no Stripe customer yet). Needs the `admin` scope.",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The portal page", body = PortalView),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        V1Errors,
    )
)]
async fn portal(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, axum::Json<PortalView>), ApiError> {
    caller.require(Scope::Admin)?;
    let org_id = caller.org_id();
    let customer = billing_customers::find(&state.db, org_id)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(
                "the organisation has no Stripe customer yet; subscribe first (POST /v1/billing/checkout)"
                    .into(),
            )
        })?;
    let request = PortalRequest {
        customer_id: customer.stripe_customer_id,
        return_url: public_url(&state, &state.settings.billing.portal_return_path),
        idempotency_key: format!("portal:{org_id}:{}", new_id("bps")),
    };
    let session = state
        .payments
        .create_portal_session(&request)
        .await
        .map_err(provider_failure)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(PortalView {
            object: "portal_session",
            url: session.url,
        }),
    ))
}

/// A subscription as Stripe last showed it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SubscriptionDetails {
    /// Stripe's id (`sub_...`).
    id: String,
    /// The plan's name; null when its prices match no configured plan.
    #[schema(required = true)]
    plan: Option<String>,
    /// Stripe's status: `trialing`, `active`, `past_due`, `canceled`, `unpaid`, `incomplete`,
    /// `incomplete_expired` or `paused`.
    status: String,
    /// Start of the current period.
    current_period_start: DateTime<Utc>,
    /// End of the current period.
    current_period_end: DateTime<Utc>,
    /// End of the trial, if there is or was one.
    #[schema(required = true)]
    trial_end: Option<DateTime<Utc>>,
    /// Whether it ends at the end of the current period.
    cancel_at_period_end: bool,
}

/// What the organisation may do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EntitlementView {
    /// `subscribed`, `grace` (no live subscription, inside the grace period) or `lapsed`
    /// (new assistants and campaign starts are refused with 402).
    #[schema(schema_with = entitlement_status)]
    status: &'static str,
    /// End of the grace period, while in it.
    #[schema(required = true)]
    grace_until: Option<DateTime<Utc>>,
    /// Why it lapsed, when it did.
    #[schema(required = true)]
    reason: Option<String>,
}

fn entitlement_status() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(["subscribed", "grace", "lapsed"])
}

impl From<Entitlement> for EntitlementView {
    fn from(e: Entitlement) -> Self {
        match e {
            Entitlement::Subscribed => Self {
                status: "subscribed",
                grace_until: None,
                reason: None,
            },
            Entitlement::Grace { until } => Self {
                status: "grace",
                grace_until: Some(until),
                reason: None,
            },
            Entitlement::Lapsed { reason } => Self {
                status: "lapsed",
                grace_until: None,
                reason: Some(reason),
            },
        }
    }
}

/// The organisation's subscription and entitlement.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SubscriptionView {
    /// Always `billing_subscription`.
    #[schema(schema_with = subscription_object)]
    object: &'static str,
    /// The trialing or active subscription, else the latest one; null before any.
    #[schema(required = true)]
    subscription: Option<SubscriptionDetails>,
    /// What the organisation may do.
    entitlement: EntitlementView,
}

fn subscription_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("billing_subscription")
}

/// Reads the organisation's subscription.
#[utoipa::path(
    get,
    path = "/v1/billing/subscription",
    tag = "billing",
    operation_id = "get_subscription",
    summary = "Read the subscription",
    description = "The subscription as Stripe last showed it (applied from Stripe's events, by \
        the subscription's own state), and the entitlement it gives. Needs the `read` scope.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView),
        V1Errors,
    )
)]
async fn subscription(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<SubscriptionView>, ApiError> {
    caller.require(Scope::Read)?;
    let current = billing_subscriptions::current(&state.db, caller.org_id()).await?;
    let entitlement = entitlement_of(&state, caller.org_id()).await?;
    Ok(axum::Json(SubscriptionView {
        object: "billing_subscription",
        subscription: current.map(|s| SubscriptionDetails {
            id: s.stripe_subscription_id,
            plan: s.plan,
            status: s.status,
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            trial_end: s.trial_end,
            cancel_at_period_end: s.cancel_at_period_end,
        }),
        entitlement: entitlement.into(),
    }))
}

/// The query of `GET /v1/billing/usage`; any other parameter is refused (400).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UsageParams {
    /// The month, `YYYY-MM` (UTC); the current month by default.
    #[param(example = "2026-11")]
    period: Option<String>,
}

/// One assistant's usage.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AssistantUsageView {
    /// The assistant (`asst_...`); null for calls of no known assistant.
    #[schema(required = true)]
    assistant_id: Option<String>,
    /// Ended calls.
    calls: i64,
    /// Billable minutes.
    billable_minutes: i64,
    /// Seconds talked.
    duration_secs: i64,
}

/// Usage over a month.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UsageView {
    /// Always `billing_usage`.
    #[schema(schema_with = usage_object)]
    object: &'static str,
    /// The month, `YYYY-MM`.
    period: String,
    /// Its first instant.
    start: DateTime<Utc>,
    /// The first instant of the next month.
    end: DateTime<Utc>,
    /// How a call's duration becomes minutes: `per_started_minute` or `per_completed_minute`.
    minute_rounding: &'static str,
    /// Ended calls.
    calls: i64,
    /// Billable minutes.
    billable_minutes: i64,
    /// Minutes included in the current plan's fee; null without a plan.
    #[schema(required = true)]
    included_minutes: Option<u32>,
    /// Per assistant, by id.
    assistants: Vec<AssistantUsageView>,
}

fn usage_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("billing_usage")
}

/// Minutes and calls per assistant over a month.
#[utoipa::path(
    get,
    path = "/v1/billing/usage",
    tag = "billing",
    operation_id = "get_usage",
    summary = "Read the usage of a month",
    description = "The calls that ended in the month (UTC) and their billable minutes, per \
        assistant, from the usage ledger that is reported to Stripe's billing meter. Needs the \
        `read` scope.",
    params(UsageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The usage", body = UsageView),
        (status = 400, response = BadRequest),
        (status = 422, response = Unprocessable),
        V1Errors,
    )
)]
async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<UsageParams>,
) -> Result<axum::Json<UsageView>, ApiError> {
    caller.require(Scope::Read)?;
    let period = match params.period.as_deref() {
        Some(text) => BillingPeriod::parse(text.trim())
            .map_err(|e| ApiError::Invalid(vec![FieldError::new("period", e)]))?,
        None => BillingPeriod::containing(state.clock.now()),
    };
    let rows =
        billing_usage::per_assistant(&state.db, caller.org_id(), period.start(), period.end())
            .await?;
    let included_minutes = billing_subscriptions::current(&state.db, caller.org_id())
        .await?
        .and_then(|s| s.plan)
        .and_then(|name| {
            state
                .settings
                .billing
                .plan(&name)
                .map(|p| p.included_minutes)
        });
    Ok(axum::Json(UsageView {
        object: "billing_usage",
        period: period.label(),
        start: period.start(),
        end: period.end(),
        minute_rounding: state.settings.billing.minute_rounding.as_str(),
        calls: rows.iter().map(|r| r.calls).sum(),
        billable_minutes: rows.iter().map(|r| r.billable_minutes).sum(),
        included_minutes,
        assistants: rows
            .into_iter()
            .map(|r| AssistantUsageView {
                assistant_id: r.assistant_id,
                calls: r.calls,
                billable_minutes: r.billable_minutes,
                duration_secs: r.duration_secs,
            })
            .collect(),
    }))
}
