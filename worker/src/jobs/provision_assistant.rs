//! ProvisionAssistant: create the assistant at the voice platform, buy a number in the
//! requested country and area, import it into the voice platform attached to the assistant,
//! and activate it. A saga: each step is recorded as soon as it succeeds, and a re-run after
//! a crash looks up what a lost reply may have created (by our id or label) before creating
//! anything, so it never makes a second assistant or buys a second number.

use zencall_core::domain::assistant::AssistantStatus;
use zencall_core::events::EventType;
use zencall_core::jobs::payloads::ProvisionAssistant;
use zencall_core::store::assistants::{self, Assistant, Step};
use zencall_core::views::AssistantView;
use zencall_providers::ProviderError;
use zencall_providers::telephony::{NumberSearch, OwnedNumber};
use zencall_providers::voice::NumberImport;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Numbers tried, in the order offered, before searching again later.
const PURCHASE_TRIES: usize = 3;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: ProvisionAssistant, run: JobRun) -> Result<(), JobError> {
    let Some(assistant) = assistants::find(&ctx.db, &job.org_id, &job.assistant_id).await? else {
        return Err(JobError::permanent(format!(
            "assistant {} does not exist",
            job.assistant_id
        )));
    };
    if assistant.status != AssistantStatus::Provisioning {
        tracing::info!(
            status = assistant.status.as_str(),
            "assistant no longer provisioning; nothing to do"
        );
        // A run that stopped between the last step and its event may have left it unsent.
        announce(ctx, &assistant.org_id, &assistant.id).await?;
        return Ok(());
    }
    let outcome = match provision(ctx, &assistant, &run).await {
        Ok(()) => Ok(()),
        Err(JobError::Permanent(reason)) => {
            assistants::record(
                &ctx.db,
                &assistant.org_id,
                &assistant.id,
                Step::Failed(&reason),
                ctx.clock.now(),
            )
            .await?;
            Err(JobError::Permanent(reason))
        }
        Err(JobError::Transient {
            message,
            retry_after,
        }) if run.is_last_attempt() => {
            let reason = format!("gave up after {} attempts: {message}", run.attempt);
            assistants::record(
                &ctx.db,
                &assistant.org_id,
                &assistant.id,
                Step::Failed(&reason),
                ctx.clock.now(),
            )
            .await?;
            Err(JobError::Transient {
                message,
                retry_after,
            })
        }
        Err(e) => Err(e),
    };
    announce(ctx, &assistant.org_id, &assistant.id).await?;
    outcome
}

/// Emits `assistant.provisioned` or `assistant.failed` once the assistant is active or failed.
async fn announce(ctx: &JobContext, org_id: &str, id: &str) -> Result<(), JobError> {
    let Some(a) = assistants::find(&ctx.db, org_id, id).await? else {
        return Ok(());
    };
    let event = match a.status {
        AssistantStatus::Active => EventType::AssistantProvisioned,
        AssistantStatus::Failed => EventType::AssistantFailed,
        _ => return Ok(()),
    };
    let org_id = a.org_id.clone();
    let subject = a.id.clone();
    ctx.emit(&org_id, event, &subject, &AssistantView::from(a))
        .await?;
    Ok(())
}

async fn provision(ctx: &JobContext, a: &Assistant, run: &JobRun) -> Result<(), JobError> {
    // A previous attempt may have died between a provider's success and our record of it.
    let may_have_partial_effects = run.attempt > 1;
    let now = || ctx.clock.now();

    let vapi_assistant_id = match &a.vapi_assistant_id {
        Some(id) => id.clone(),
        None => {
            let spec = super::assistant_spec(ctx, a);
            let found = if may_have_partial_effects {
                ctx.voice
                    .find_assistant(&a.id, a.created_at - chrono::Duration::minutes(5))
                    .await?
            } else {
                None
            };
            let id = match found {
                Some(id) => id,
                None => ctx.voice.create_assistant(&spec).await?,
            };
            assistants::record(
                &ctx.db,
                &a.org_id,
                &a.id,
                Step::VapiAssistantCreated(&id),
                now(),
            )
            .await?;
            assistants::record(
                &ctx.db,
                &a.org_id,
                &a.id,
                Step::Synced(a.config_version),
                now(),
            )
            .await?;
            id
        }
    };

    let number = match (&a.twilio_number_sid, &a.phone_number) {
        (Some(_), Some(number)) => number.clone(),
        _ => {
            // The assistant may have been deleted while we were creating it: buy nothing then.
            let current = assistants::find(&ctx.db, &a.org_id, &a.id).await?;
            if current.as_ref().map(|c| c.status) != Some(AssistantStatus::Provisioning) {
                return Ok(());
            }
            let label = purchase_label(a);
            let owned = if may_have_partial_effects {
                ctx.telephony.find_owned_number(&label).await?
            } else {
                None
            };
            let owned = match owned {
                Some(owned) => owned,
                None => buy_number(ctx, a, &label).await?,
            };
            assistants::record(
                &ctx.db,
                &a.org_id,
                &a.id,
                Step::NumberBought {
                    sid: &owned.sid,
                    number: &owned.number,
                },
                now(),
            )
            .await?;
            owned.number
        }
    };

    if a.vapi_phone_number_id.is_none() {
        let found = if may_have_partial_effects {
            ctx.voice.find_number(&number).await?
        } else {
            None
        };
        let id = match found {
            Some(id) => id,
            None => {
                let import = NumberImport {
                    number: number.clone(),
                    assistant_id: vapi_assistant_id.clone(),
                    name: a.name.clone(),
                };
                ctx.voice.import_number(&import).await?
            }
        };
        assistants::record(&ctx.db, &a.org_id, &a.id, Step::NumberImported(&id), now()).await?;
    }

    assistants::record(&ctx.db, &a.org_id, &a.id, Step::Activated, now()).await?;
    tracing::info!(assistant.id = %a.id, number = %number, "assistant active");
    Ok(())
}

/// The label a number is bought under: our assistant id, so a lost reply can be found again.
pub fn purchase_label(a: &Assistant) -> String {
    format!("zencall:{}", a.id)
}

async fn buy_number(ctx: &JobContext, a: &Assistant, label: &str) -> Result<OwnedNumber, JobError> {
    let search = NumberSearch {
        country: a.phone_country.clone(),
        area_code: a.area_code.clone(),
    };
    let offered = ctx.telephony.search_numbers(&search).await?;
    if offered.is_empty() {
        let place = match &a.area_code {
            Some(area) => format!("{} with area code {area}", a.phone_country),
            None => a.phone_country.clone(),
        };
        return Err(JobError::permanent(format!(
            "no phone number is available in {place}"
        )));
    }
    for candidate in offered.iter().take(PURCHASE_TRIES) {
        match ctx.telephony.buy_number(&candidate.number, label).await {
            Ok(owned) => return Ok(owned),
            Err(ProviderError::NumberUnavailable { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(JobError::transient(
        "every number offered was taken before we could buy it; searching again later",
    ))
}
