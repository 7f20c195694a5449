//! IssueCreditNote: the credit note (avoir) that cancels our invoice of a Stripe invoice voided
//! after we issued it. French law forbids changing or deleting an issued invoice; a credit note
//! numbered from its own continuous sequence cancels it, names it, and goes to the buyer's
//! billing address with its PDF. A Stripe invoice voided before we issued anything gets
//! neither document.

use zencall_core::jobs::payloads::IssueCreditNote;
use zencall_core::store::billing_profiles;
use zencall_providers::payments::InvoiceStatus;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;
use crate::billing_emails::Addressing;
use crate::invoicing;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: IssueCreditNote, _run: JobRun) -> Result<(), JobError> {
    let stripe = super::issue_invoice::retrieve(ctx, &job.stripe_invoice_id).await?;
    if stripe.status != InvoiceStatus::Void {
        // Void is final at Stripe: an invoice read back in another state was never voided.
        return Err(JobError::permanent(format!(
            "Stripe invoice {} is {}, not void: nothing to cancel",
            stripe.id,
            stripe.status.as_str()
        )));
    }
    let to = billing_profiles::find(&ctx.db, &job.org_id)
        .await?
        .map(|profile| Addressing {
            org_id: job.org_id.clone(),
            recipient: profile.email,
            message_id_domain: ctx.settings.email.message_id_domain().to_string(),
        });
    let reason = match &stripe.number {
        Some(number) => format!("facture Stripe {number} annulée"),
        None => format!("facture Stripe {} annulée", stripe.id),
    };
    let issued = invoicing::issue_credit_note(
        &ctx.db,
        &job.org_id,
        &stripe.id,
        &reason,
        &ctx.settings.billing.invoices,
        to.as_ref(),
        ctx.clock.now(),
    )
    .await?;
    match issued {
        Some(issued) if issued.created => {
            tracing::info!(org_id = %job.org_id, credit_note = %issued.invoice.id, number = %issued.invoice.number, stripe_invoice = %stripe.id, "credit note issued");
        }
        Some(_) => {}
        None => {
            tracing::info!(org_id = %job.org_id, stripe_invoice = %stripe.id, "no credit note: no invoice of the organisation was issued for the voided Stripe invoice");
        }
    }
    Ok(())
}
