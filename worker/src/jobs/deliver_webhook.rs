//! DeliverWebhook: POST one of our events to one customer endpoint, signed with the endpoint's
//! secret (`Zencall-Signature: t=...,v1=...`). A 2xx answer delivers it. Anything else (another
//! status, a timeout, a refused connection) is retried with the outbound backoff
//! (`webhooks.outbound`), about a day in all, after which the delivery is failed. An endpoint
//! whose address is, or has become, private is refused at once. Every attempt is recorded with
//! the status and the start of the body the endpoint answered.

use rand::RngExt;
use zencall_core::jobs::payloads::DeliverWebhook;
use zencall_core::store::webhook_deliveries::{
    self, Attempt, AttemptOutcome, Delivery, DeliveryStatus,
};
use zencall_core::store::webhook_endpoints;
use zencall_providers::signatures::zencall as signature;
use zencall_providers::webhook_sender::{DeliveryFailure, DeliveryResponse};
use zencall_queue::backoff::Backoff;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: DeliverWebhook, run: JobRun) -> Result<(), JobError> {
    let Some(delivery) = webhook_deliveries::find(&ctx.db, &job.delivery_id).await? else {
        return Err(JobError::permanent(format!(
            "delivery {} does not exist",
            job.delivery_id
        )));
    };
    if delivery.status != DeliveryStatus::Pending {
        return Ok(());
    }
    let endpoint = webhook_endpoints::find_any(&ctx.db, &delivery.endpoint_id).await?;
    let Some(endpoint) = endpoint.filter(|e| e.deleted_at.is_none()) else {
        webhook_deliveries::cancel(&ctx.db, &delivery.id, ctx.clock.now()).await?;
        return Ok(());
    };
    let Some(body) = webhook_deliveries::event_payload(&ctx.db, &delivery.event_id).await? else {
        return Err(JobError::permanent(format!(
            "event {} does not exist",
            delivery.event_id
        )));
    };
    let started = ctx.clock.now();
    let headers = [
        (
            signature::HEADER,
            signature::sign(
                endpoint.secret.as_bytes(),
                started.timestamp(),
                body.as_bytes(),
            ),
        ),
        ("Zencall-Event-Id", delivery.event_id.clone()),
        ("Zencall-Event-Type", delivery.event_type.clone()),
        ("Zencall-Delivery-Id", delivery.id.clone()),
    ];
    let result = ctx
        .webhooks
        .post(&endpoint.url, body.as_bytes(), &headers)
        .await;
    let verdict = judge(&result);
    let attempt = Attempt {
        delivery_id: delivery.id.clone(),
        attempt: delivery.attempts + 1,
        attempted_at: started,
        status_code: result.as_ref().ok().map(|r| i64::from(r.status)),
        response_body: result.as_ref().ok().map(|r| r.body.clone()),
        error: verdict.as_ref().err().map(|(message, _)| message.clone()),
        duration_ms: match &result {
            Ok(r) => i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
            Err(_) => (ctx.clock.now() - started).num_milliseconds(),
        },
    };
    settle(ctx, &delivery, attempt, verdict, &run).await
}

/// Whether an attempt delivered the event; if not, why, and whether trying again can help.
fn judge(result: &Result<DeliveryResponse, DeliveryFailure>) -> Result<(), (String, bool)> {
    match result {
        Ok(r) if (200..300).contains(&r.status) => Ok(()),
        Ok(r) => Err((format!("the endpoint answered {}", r.status), true)),
        Err(DeliveryFailure::Transport(reason)) => Err((reason.clone(), true)),
        Err(DeliveryFailure::Refused(reason)) => Err((reason.clone(), false)),
    }
}

/// Records the attempt and tells the queue what comes next.
async fn settle(
    ctx: &JobContext,
    delivery: &Delivery,
    mut attempt: Attempt,
    verdict: Result<(), (String, bool)>,
    run: &JobRun,
) -> Result<(), JobError> {
    let outbound = &ctx.settings.webhooks.outbound;
    let backoff = Backoff {
        base: std::time::Duration::from_secs(outbound.retry_base_secs),
        max: std::time::Duration::from_secs(outbound.retry_max_secs),
    };
    let (status, next, error) = match verdict {
        Ok(()) => (DeliveryStatus::Delivered, None, None),
        Err((message, true)) if !run.is_last_attempt() => {
            let delay = backoff.delay_with_jitter(run.attempt, rand::rng().random::<f64>());
            let next = attempt.attempted_at
                + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            (
                DeliveryStatus::Pending,
                Some(next),
                Some(JobError::Transient {
                    message,
                    retry_after: Some(delay),
                }),
            )
        }
        Err((message, retryable)) => {
            let message = if retryable {
                format!("gave up after {} attempts: {message}", attempt.attempt)
            } else {
                message
            };
            attempt.error = Some(message.clone());
            (
                DeliveryStatus::Failed,
                None,
                Some(JobError::Permanent(message)),
            )
        }
    };
    webhook_deliveries::record_attempt(
        &ctx.db,
        &AttemptOutcome {
            attempt,
            status,
            next_attempt_at: next,
        },
    )
    .await?;
    match (status, error) {
        (DeliveryStatus::Delivered, _) => {
            tracing::info!(delivery.id = %delivery.id, event.kind = %delivery.event_type, "webhook delivered");
            Ok(())
        }
        (_, Some(error)) => Err(error),
        (_, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use zencall_queue::backoff::Backoff;

    /// The default outbound policy (`config/default.toml`) spans about a day.
    #[test]
    fn the_default_retries_span_about_a_day() {
        let settings = zencall_core::config::Settings::load(None, &[]).unwrap_or_else(|e| {
            panic!("default settings: {e}");
        });
        let o = settings.webhooks.outbound;
        let backoff = Backoff {
            base: Duration::from_secs(o.retry_base_secs),
            max: Duration::from_secs(o.retry_max_secs),
        };
        // The delays between the attempts, without jitter (which adds up to 20 %).
        let total: Duration = (1..o.max_attempts).map(|n| backoff.delay(n)).sum();
        let hours = total.as_secs_f64() / 3600.0;
        assert!((22.0..=30.0).contains(&hours), "{hours} hours");
    }
}
