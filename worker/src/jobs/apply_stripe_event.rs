//! ApplyStripeEvent: apply one stored, verified Stripe event to billing. Events arrive late,
//! twice and out of order, so an event is only a hint of what changed: the subscription or
//! invoice it names is read back from Stripe and stored with the time it was read, and a state
//! read earlier never overwrites one read later. An event is applied once (by Stripe's event
//! id), and one about a customer that is not ours changes nothing.

use chrono::{DateTime, Utc};
use serde_json::Value;
use zencall_core::jobs::payloads::{ApplyStripeEvent, IssueCreditNote, IssueInvoice};
use zencall_core::store::billing_subscriptions::{self, SubscriptionState};
use zencall_core::store::email_messages::{self, NewEmail};
use zencall_core::store::stripe_invoices::{self, InvoiceState};
use zencall_core::store::{
    billing_customers, billing_profiles, now_micros, stripe_events, webhook_events,
};
use zencall_providers::ProviderError;
use zencall_providers::payments::{self, InvoiceStatus, Subscription};
use zencall_queue::{JobError, JobRun};

use crate::JobContext;
use crate::billing_emails::{self, Addressing};

/// What billing reads of a Stripe event.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeEvent {
    /// Stripe's event id (`evt_...`).
    pub id: String,
    /// Its type (`invoice.paid`).
    pub event_type: String,
    /// When Stripe created it.
    pub created: DateTime<Utc>,
    /// The id of the object it is about (`sub_...`, `in_...`, `cs_...`).
    pub object_id: Option<String>,
    /// The customer the object belongs to.
    pub customer_id: Option<String>,
    /// The subscription a checkout session started.
    pub subscription_id: Option<String>,
    /// The object as the event carries it.
    pub object: Value,
}

/// An id, or an expanded object's id.
fn reference(value: Option<&Value>) -> Option<String> {
    let value = value?;
    value
        .as_str()
        .or_else(|| value.get("id").and_then(Value::as_str))
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .map(str::to_string)
}

/// Reads a stored Stripe event's body.
pub fn parse_stripe_event(payload: &str) -> Result<StripeEvent, String> {
    let body: Value =
        serde_json::from_str(payload).map_err(|e| format!("unreadable Stripe event: {e}"))?;
    let id = reference(body.get("id")).ok_or("the Stripe event has no id")?;
    let event_type = body
        .get("type")
        .and_then(Value::as_str)
        .ok_or("the Stripe event has no type")?
        .to_string();
    let created = body
        .get("created")
        .and_then(Value::as_i64)
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or("the Stripe event has no creation time")?;
    let object = body
        .get("data")
        .and_then(|d| d.get("object"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(StripeEvent {
        id,
        event_type,
        created,
        object_id: reference(object.get("id")),
        customer_id: reference(object.get("customer")),
        subscription_id: reference(object.get("subscription")),
        object,
    })
}

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: ApplyStripeEvent, _run: JobRun) -> Result<(), JobError> {
    let Some(event) = webhook_events::find(&ctx.db, &job.event_id).await? else {
        return Err(JobError::permanent(format!(
            "event {} does not exist",
            job.event_id
        )));
    };
    if event.provider != "stripe" {
        return Err(JobError::permanent(format!(
            "event {} is a {} event, not Stripe's",
            event.id, event.provider
        )));
    }
    if event.processed_at.is_some() {
        return Ok(());
    }
    if let Some(done) = stripe_events::find(&ctx.db, &event.provider_event_id).await? {
        webhook_events::mark_processed(&ctx.db, &event.id, &done.outcome, ctx.clock.now()).await?;
        return Ok(());
    }
    let parsed = parse_stripe_event(&event.payload).map_err(JobError::permanent)?;
    let (org_id, outcome) = apply(ctx, &parsed).await?;
    tracing::info!(stripe_event = %parsed.id, kind = %parsed.event_type, org_id = org_id.as_deref().unwrap_or("-"), %outcome, "Stripe event applied");
    stripe_events::record(
        &ctx.db,
        &parsed.id,
        &parsed.event_type,
        org_id.as_deref(),
        &outcome,
        ctx.clock.now(),
    )
    .await?;
    webhook_events::mark_processed(&ctx.db, &event.id, &outcome, ctx.clock.now()).await?;
    Ok(())
}

/// The organisation and what was done.
type Applied = (Option<String>, String);

async fn apply(ctx: &JobContext, event: &StripeEvent) -> Result<Applied, JobError> {
    match event.event_type.as_str() {
        "checkout.session.completed" => match &event.subscription_id {
            Some(id) => sync_subscription(ctx, event, id).await,
            None => Ok((
                None,
                "ignored: the checkout session started no subscription".into(),
            )),
        },
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "customer.subscription.trial_will_end" => match &event.object_id {
            Some(id) => sync_subscription(ctx, event, id).await,
            None => Err(JobError::permanent(
                "the subscription event names no subscription",
            )),
        },
        "invoice.finalized" | "invoice.paid" | "invoice.payment_failed" | "invoice.voided" => {
            match &event.object_id {
                Some(id) => sync_invoice(ctx, event, id).await,
                None => Err(JobError::permanent("the invoice event names no invoice")),
            }
        }
        other => Ok((
            None,
            format!("ignored: billing has no use for {other} events"),
        )),
    }
}

/// The organisation whose Stripe customer the event is about, or why there is none.
async fn our_org(
    ctx: &JobContext,
    event: &StripeEvent,
) -> Result<Result<String, String>, JobError> {
    let Some(customer) = &event.customer_id else {
        return Ok(Err("ignored: the event names no customer".into()));
    };
    Ok(billing_customers::org_of(&ctx.db, customer)
        .await?
        .ok_or_else(|| format!("ignored: customer {customer} is not one of ours")))
}

/// A version for a state read back now: it orders observations.
fn version_now(ctx: &JobContext) -> i64 {
    now_micros(ctx.clock.now()).timestamp_micros()
}

async fn sync_subscription(
    ctx: &JobContext,
    event: &StripeEvent,
    subscription_id: &str,
) -> Result<Applied, JobError> {
    let org_id = match our_org(ctx, event).await? {
        Ok(org) => org,
        Err(why) => return Ok((None, why)),
    };
    let (subscription, version) = match ctx.payments.retrieve_subscription(subscription_id).await {
        Ok(s) => (s, version_now(ctx)),
        // A deleted subscription Stripe no longer shows: the event's copy is the last state,
        // as new as the event.
        Err(ProviderError::NotFound { .. })
            if event.event_type == "customer.subscription.deleted" =>
        {
            let s = payments::subscription_from_event_object(&event.object.to_string())?;
            (s, now_micros(event.created).timestamp_micros())
        }
        Err(e) => return Err(e.into()),
    };
    let customer = event.customer_id.as_deref().unwrap_or_default();
    if subscription.customer_id != customer {
        return Ok((
            Some(org_id),
            format!(
                "ignored: subscription {} belongs to customer {}, not {customer}",
                subscription.id, subscription.customer_id
            ),
        ));
    }
    let state = subscription_state(ctx, &subscription);
    let written =
        billing_subscriptions::apply(&ctx.db, &org_id, &state, version, ctx.clock.now()).await?;
    let mut outcome = if written {
        format!(
            "subscription {} is {} on plan {}",
            state.stripe_subscription_id,
            state.status,
            state.plan.as_deref().unwrap_or("(unknown)")
        )
    } else {
        format!(
            "subscription {}: a state read later is stored already",
            state.stripe_subscription_id
        )
    };
    if event.event_type == "customer.subscription.trial_will_end"
        && let Some(end) = state.trial_end
    {
        outcome.push_str(&format!("; the trial ends on {}", end.format("%Y-%m-%d")));
        let seller = &ctx.settings.billing.seller.name;
        let queued = notify(ctx, &org_id, |to| {
            billing_emails::trial_ending(
                to,
                &state.stripe_subscription_id,
                state.plan.as_deref(),
                end,
                seller,
            )
        })
        .await?;
        outcome.push_str(queued);
    }
    Ok((Some(org_id), outcome))
}

/// Queues the email `make` builds for the organisation's billing address (once per its
/// kind and document); says what was done, for the event's outcome.
async fn notify(
    ctx: &JobContext,
    org_id: &str,
    make: impl FnOnce(&Addressing) -> NewEmail,
) -> Result<&'static str, JobError> {
    let Some(profile) = billing_profiles::find(&ctx.db, org_id).await? else {
        return Ok("; no billing profile, so no email");
    };
    let to = Addressing {
        org_id: org_id.to_string(),
        recipient: profile.email,
        message_id_domain: ctx.settings.email.message_id_domain().to_string(),
    };
    let mut tx = ctx.db.begin().await?;
    let (_, created) = email_messages::queue_and_send(&mut tx, &make(&to), ctx.clock.now()).await?;
    tx.commit().await?;
    Ok(if created {
        "; email queued"
    } else {
        "; email queued before"
    })
}

fn subscription_state(ctx: &JobContext, s: &Subscription) -> SubscriptionState {
    let plan = ctx
        .settings
        .billing
        .plan_of_prices(s.price_ids.iter().map(String::as_str))
        .map(|p| p.name.clone());
    SubscriptionState {
        stripe_subscription_id: s.id.clone(),
        stripe_customer_id: s.customer_id.clone(),
        plan,
        status: s.status.as_str().to_string(),
        current_period_start: s.current_period_start,
        current_period_end: s.current_period_end,
        trial_end: s.trial_end,
        cancel_at_period_end: s.cancel_at_period_end,
    }
}

async fn sync_invoice(
    ctx: &JobContext,
    event: &StripeEvent,
    invoice_id: &str,
) -> Result<Applied, JobError> {
    let org_id = match our_org(ctx, event).await? {
        Ok(org) => org,
        Err(why) => return Ok((None, why)),
    };
    let invoice = match ctx.payments.retrieve_invoice(invoice_id).await {
        Ok(i) => i,
        Err(ProviderError::NotFound { .. }) => {
            return Ok((
                Some(org_id),
                format!("ignored: invoice {invoice_id} no longer exists at Stripe"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let customer = event.customer_id.as_deref().unwrap_or_default();
    if invoice.customer_id != customer {
        return Ok((
            Some(org_id),
            format!(
                "ignored: invoice {} belongs to customer {}, not {customer}",
                invoice.id, invoice.customer_id
            ),
        ));
    }
    let state = InvoiceState {
        stripe_invoice_id: invoice.id.clone(),
        stripe_customer_id: invoice.customer_id.clone(),
        stripe_subscription_id: invoice.subscription_id.clone(),
        number: invoice.number.clone(),
        status: invoice.status.as_str().to_string(),
        currency: invoice.currency.clone(),
        subtotal: invoice.subtotal,
        tax: invoice.tax,
        total: invoice.total,
        finalized_at: invoice.finalized_at,
        paid_at: invoice.paid_at,
        hosted_url: invoice.hosted_url.clone(),
    };
    let written =
        stripe_invoices::apply(&ctx.db, &org_id, &state, version_now(ctx), ctx.clock.now()).await?;
    let mut outcome = if written {
        format!("invoice {} is {}", invoice.id, state.status)
    } else {
        format!(
            "invoice {}: a state read later is stored already",
            invoice.id
        )
    };
    if event.event_type == "invoice.payment_failed"
        && stripe_invoices::note_payment_failed(&ctx.db, &org_id, &invoice.id, event.created)
            .await?
    {
        outcome.push_str("; a payment attempt failed");
        let seller = &ctx.settings.billing.seller.name;
        let queued = notify(ctx, &org_id, |to| {
            billing_emails::payment_failed(
                to,
                &invoice.id,
                invoice.total,
                &invoice.currency,
                invoice.hosted_url.as_deref(),
                seller,
            )
        })
        .await?;
        outcome.push_str(queued);
    }
    // Whichever event comes first about a finalized invoice queues its document (one job per
    // Stripe invoice, by its unique key).
    if invoice.finalized_at.is_some()
        && !matches!(invoice.status, InvoiceStatus::Draft | InvoiceStatus::Void)
    {
        IssueInvoice::enqueue(&ctx.db, &org_id, &invoice.id).await?;
    }
    // A voided invoice (its state stored above first, so an invoice not issued yet never will
    // be) gets a credit note if we had issued its document.
    if invoice.status == InvoiceStatus::Void {
        IssueCreditNote::enqueue(&ctx.db, &org_id, &invoice.id).await?;
        outcome.push_str("; its credit note is queued");
    }
    Ok((Some(org_id), outcome))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_checkout_session_names_its_customer_and_subscription() {
        let payload = json!({"id": "evt_1", "type": "checkout.session.completed", "created": 1_790_000_000,
            "data": {"object": {"id": "cs_1", "customer": "cus_1", "subscription": {"id": "sub_1"}}}})
        .to_string();
        let e = parse_stripe_event(&payload).unwrap();
        assert_eq!(e.event_type, "checkout.session.completed");
        assert_eq!(e.object_id.as_deref(), Some("cs_1"));
        assert_eq!(e.customer_id.as_deref(), Some("cus_1"));
        assert_eq!(e.subscription_id.as_deref(), Some("sub_1"));
        assert_eq!(e.created.timestamp(), 1_790_000_000);
    }

    #[test]
    fn an_event_without_id_type_or_time_is_refused() {
        assert!(parse_stripe_event("nope").is_err());
        assert!(parse_stripe_event(r#"{"type": "invoice.paid", "created": 1}"#).is_err());
        assert!(parse_stripe_event(r#"{"id": "evt_1", "created": 1}"#).is_err());
        assert!(parse_stripe_event(r#"{"id": "evt_1", "type": "invoice.paid"}"#).is_err());
        let bare = parse_stripe_event(r#"{"id": "evt_1", "type": "x", "created": 1}"#).unwrap();
        assert_eq!(bare.object_id, None);
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = parse_stripe_event(&text);
        }

        #[test]
        fn arbitrary_objects_never_panic(id in proptest::option::of(".{0,10}"), customer in proptest::option::of(0i64..5), created in any::<i64>()) {
            let payload = json!({"id": "evt_1", "type": "invoice.paid", "created": created,
                "data": {"object": {"id": id, "customer": customer}}}).to_string();
            let _ = parse_stripe_event(&payload);
        }
    }
}
