//! One module per job kind, and the list that registers them all.

pub mod delete_assistant;
pub mod process_inbound_event;
pub mod provision_assistant;
pub mod prune_jobs;
pub mod rescue_stuck_jobs;
pub mod sync_assistant;

use zencall_core::domain::sector::Language;
use zencall_core::jobs::payloads::{
    DeleteAssistant, ProcessInboundEvent, ProvisionAssistant, PruneJobs, RescueStuckJobs,
    SyncAssistant,
};
use zencall_core::jobs::runner::Registry;
use zencall_core::store::assistants::Assistant;
use zencall_providers::voice::AssistantSpec;

use crate::JobContext;

/// Every job kind with its handler.
pub fn registry(ctx: JobContext) -> Registry {
    let mut r = Registry::default();
    let c = ctx.clone();
    r.register::<ProvisionAssistant, _, _>(move |job, run| {
        let c = c.clone();
        async move { provision_assistant::run(&c, job, run).await }
    });
    let c = ctx.clone();
    r.register::<SyncAssistant, _, _>(move |job, run| {
        let c = c.clone();
        async move { sync_assistant::run(&c, job, run).await }
    });
    let c = ctx.clone();
    r.register::<DeleteAssistant, _, _>(move |job, run| {
        let c = c.clone();
        async move { delete_assistant::run(&c, job, run).await }
    });
    let c = ctx.clone();
    r.register::<ProcessInboundEvent, _, _>(move |job, run| {
        let c = c.clone();
        async move { process_inbound_event::run(&c, job, run).await }
    });
    let c = ctx.clone();
    r.register::<PruneJobs, _, _>(move |job, run| {
        let c = c.clone();
        async move { prune_jobs::run(&c, job, run).await }
    });
    let c = ctx;
    r.register::<RescueStuckJobs, _, _>(move |job, run| {
        let c = c.clone();
        async move { rescue_stuck_jobs::run(&c, job, run).await }
    });
    r
}

/// What the voice platform should hold for `assistant`.
pub(crate) fn assistant_spec(ctx: &JobContext, assistant: &Assistant) -> AssistantSpec {
    AssistantSpec {
        external_id: assistant.id.clone(),
        name: assistant.name.clone(),
        language: match assistant.language {
            Language::Fr => "fr".into(),
            Language::En => "en".into(),
        },
        system_prompt: assistant.system_prompt.clone(),
        greeting: assistant.greeting.clone(),
        voice: assistant.voice.clone(),
        server_url: format!(
            "{}/webhooks/vapi",
            ctx.settings.server.public_url.trim_end_matches('/')
        ),
    }
}
