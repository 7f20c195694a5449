//! `/v1/billing/payments`: the organisation's payment history, one entry per finalized Stripe
//! invoice (what was asked, whether and when it was paid, the latest failed attempt), with our
//! invoice document when it is issued.

use std::collections::HashMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::{invoices, stripe_invoices};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Query;
use crate::http::pagination::{Page, PageParams, page_limit};
use crate::openapi::{BadRequest, V1Errors};

/// Payment routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// One invoice's payment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PaymentView {
    /// Always `payment`.
    #[schema(schema_with = payment_object)]
    object: &'static str,
    /// Stripe's invoice (`in_...`): the cursor of this list.
    stripe_invoice_id: String,
    /// `open`, `paid`, `uncollectible` or `void`.
    status: String,
    /// The amount asked, tax included, in minor units.
    amount: i64,
    /// ISO 4217, lower case.
    currency: String,
    /// When the invoice was finalized.
    #[schema(required = true)]
    finalized_at: Option<DateTime<Utc>>,
    /// When it was paid.
    #[schema(required = true)]
    paid_at: Option<DateTime<Utc>>,
    /// The latest failed payment attempt.
    #[schema(required = true)]
    payment_failed_at: Option<DateTime<Utc>>,
    /// Stripe's page to see and pay it.
    #[schema(required = true)]
    hosted_url: Option<String>,
    /// Our invoice (`inv_...`), once issued.
    #[schema(required = true)]
    invoice_id: Option<String>,
    /// Our invoice's number, once issued.
    #[schema(required = true)]
    invoice_number: Option<String>,
}

fn payment_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("payment")
}

/// Lists the payment history, newest first.
#[utoipa::path(
    get,
    path = "/v1/billing/payments",
    tag = "billing",
    operation_id = "list_payments",
    summary = "List payments",
    description = "Each finalized Stripe invoice with its payment state, newest first, and our \
        invoice when issued. Needs the `read` scope.",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of payments", body = inline(Page<PaymentView>)),
        (status = 400, response = BadRequest),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<PaymentView>>, ApiError> {
    caller.require(Scope::Read)?;
    let limit = page_limit(params.limit)?;
    let org_id = caller.org_id();
    // A few invoices a month per organisation: read them all, order them here.
    let mut rows: Vec<_> = stripe_invoices::list(&state.db, org_id)
        .await?
        .into_iter()
        .filter(|i| i.status != "draft")
        .collect();
    // Stripe's times are whole seconds: its own per-customer number orders invoices of one
    // second.
    rows.sort_by(|a, b| {
        (b.finalized_at, &b.number, &b.stripe_invoice_id).cmp(&(
            a.finalized_at,
            &a.number,
            &a.stripe_invoice_id,
        ))
    });
    if let Some(after) = &params.starting_after {
        let at = rows
            .iter()
            .position(|r| &r.stripe_invoice_id == after)
            .ok_or_else(|| ApiError::BadRequest(format!("starting_after: no payment {after}")))?;
        rows.drain(..=at);
    }
    rows.truncate(limit as usize + 1);
    let ours: HashMap<String, (String, String)> = invoices::references(&state.db, org_id)
        .await?
        .into_iter()
        .map(|(stripe_id, id, number)| (stripe_id, (id, number)))
        .collect();
    let mut views = Vec::with_capacity(rows.len());
    for r in rows {
        let ours = ours.get(&r.stripe_invoice_id).cloned();
        views.push(PaymentView {
            object: "payment",
            stripe_invoice_id: r.stripe_invoice_id,
            status: r.status,
            amount: r.total,
            currency: r.currency,
            finalized_at: r.finalized_at,
            paid_at: r.paid_at,
            payment_failed_at: r.payment_failed_at,
            hosted_url: r.hosted_url,
            invoice_id: ours.as_ref().map(|(id, _)| id.clone()),
            invoice_number: ours.map(|(_, number)| number),
        });
    }
    Ok(axum::Json(Page::of(views, limit, |v: &PaymentView| {
        v.stripe_invoice_id.clone()
    })))
}
