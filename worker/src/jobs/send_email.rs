//! SendEmail: send one email of the outbox through the configured mailer (SMTP, or `.eml` files
//! without SMTP), then mark it sent. A sent email is never sent again by this job.
//!
//! Which way a crash errs: the email is marked sent only after the server accepted it, so a
//! crash (or a lost reply) between the server's acceptance and `mark_sent` sends it a second
//! time when the job re-runs; it is never lost. The copy carries the same Message-ID, so mail
//! clients thread it with the first or drop it as a duplicate.
//!
//! A refusal for good (a 5xx reply, an address that cannot be written) fails the job at once,
//! with the reason noted on the email; a transient failure is noted and retried with backoff,
//! and the last attempt's failure is noted as final.

use zencall_core::jobs::payloads::SendEmail;
use zencall_core::store::email_messages;
use zencall_providers::mailer::{EmailAttachment, Mailbox, OutgoingEmail, Sender};
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: SendEmail, run: JobRun) -> Result<(), JobError> {
    let Some(email) = email_messages::find(&ctx.db, &job.org_id, &job.email_id).await? else {
        return Err(JobError::permanent(format!(
            "email {} of {} does not exist",
            job.email_id, job.org_id
        )));
    };
    if email.sent_at.is_some() {
        return Ok(());
    }
    let sender = Sender::from_settings(&ctx.settings.email).map_err(JobError::permanent)?;
    let attachments = email_messages::attachments(&ctx.db, &job.org_id, &email.id)
        .await?
        .into_iter()
        .map(|a| EmailAttachment {
            file_name: a.file_name,
            content_type: a.content_type,
            bytes: a.bytes,
        })
        .collect();
    let outgoing = OutgoingEmail {
        from: sender.from,
        to: Mailbox::address(email.recipient.clone()),
        reply_to: sender.reply_to,
        subject: email.subject.clone(),
        text: email.body_text.clone(),
        attachments,
        message_id: email.message_id.clone(),
    };
    match ctx.mailer.send(&outgoing).await {
        Ok(()) => {
            email_messages::mark_sent(&ctx.db, &job.org_id, &email.id, ctx.clock.now()).await?;
            tracing::info!(org_id = %job.org_id, email_id = %email.id, kind = email.kind.as_str(), "email sent");
            Ok(())
        }
        Err(e) => {
            let final_failure = !e.is_transient() || run.is_last_attempt();
            email_messages::note_failure(
                &ctx.db,
                &job.org_id,
                &email.id,
                &e.to_string(),
                final_failure,
                ctx.clock.now(),
            )
            .await?;
            tracing::warn!(org_id = %job.org_id, email_id = %email.id, error = %e, final_failure, "email not sent");
            Err(e.into())
        }
    }
}
