//! IssueInvoice: our invoice document for a finalized Stripe invoice. The invoice is read back
//! from Stripe (the event that queued the job may be stale), checked against the French VAT
//! rule for the buyer's billing profile, numbered, rendered to PDF and stored once, and its
//! email (the PDF attached, to the profile's address) queued with it. What
//! cannot be issued fails with the reason (no billing profile, Stripe's tax disagreeing), to be
//! retried from the board once fixed.

use zencall_core::domain::invoice;
use zencall_core::jobs::payloads::IssueInvoice;
use zencall_core::store::{billing_customers, billing_profiles};
use zencall_providers::ProviderError;
use zencall_providers::payments::{Invoice, InvoiceStatus};
use zencall_queue::{JobError, JobRun};

use crate::JobContext;
use crate::billing_emails::Addressing;
use crate::invoicing;

/// Stripe invoice `id` as Stripe holds it now; one that does not exist fails for good.
pub(crate) async fn retrieve(ctx: &JobContext, id: &str) -> Result<Invoice, JobError> {
    match ctx.payments.retrieve_invoice(id).await {
        Ok(i) => Ok(i),
        Err(ProviderError::NotFound { .. }) => Err(JobError::permanent(format!(
            "Stripe invoice {id} does not exist"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: IssueInvoice, _run: JobRun) -> Result<(), JobError> {
    let stripe = retrieve(ctx, &job.stripe_invoice_id).await?;
    let ours = billing_customers::find(&ctx.db, &job.org_id).await?;
    if ours.as_ref().map(|c| c.stripe_customer_id.as_str()) != Some(stripe.customer_id.as_str()) {
        return Err(JobError::permanent(format!(
            "Stripe invoice {} belongs to customer {}, which is not organisation {}'s",
            stripe.id, stripe.customer_id, job.org_id
        )));
    }
    if matches!(stripe.status, InvoiceStatus::Draft | InvoiceStatus::Void) {
        tracing::info!(stripe_invoice = %stripe.id, status = %stripe.status.as_str(), "no invoice document for a draft or void Stripe invoice");
        return Ok(());
    }
    let Some(charged) = invoicing::charged(&stripe) else {
        return Err(JobError::permanent(format!(
            "Stripe invoice {} is {} but has no finalization time",
            stripe.id,
            stripe.status.as_str()
        )));
    };
    let Some(profile) = billing_profiles::find(&ctx.db, &job.org_id).await? else {
        return Err(JobError::permanent(format!(
            "organisation {} has no billing profile: the invoice needs the buyer's name and address \
             (PUT /v1/billing/profile), then retry this job",
            job.org_id
        )));
    };
    let billing = &ctx.settings.billing;
    let document = invoice::build(
        &charged,
        &profile.profile(),
        &billing.seller,
        &billing.invoices,
        &billing.plans,
    )
    .map_err(JobError::permanent)?;
    let to = Addressing {
        org_id: job.org_id.clone(),
        recipient: profile.email.clone(),
        message_id_domain: ctx.settings.email.message_id_domain().to_string(),
    };
    let issued = invoicing::issue(
        &ctx.db,
        &job.org_id,
        document,
        &billing.invoices,
        Some(&to),
        ctx.clock.now(),
    )
    .await?;
    match issued {
        Some(issued) if issued.created => {
            tracing::info!(org_id = %job.org_id, invoice = %issued.invoice.id, number = %issued.invoice.number, stripe_invoice = %stripe.id, "invoice issued");
        }
        Some(_) => {}
        None => {
            tracing::info!(org_id = %job.org_id, stripe_invoice = %stripe.id, "no invoice document: the Stripe invoice was voided meanwhile");
        }
    }
    Ok(())
}
