//! One module per job kind, and the list that registers them all.

pub mod analyze_transcript;
pub mod apply_stripe_event;
pub mod delete_assistant;
pub mod delete_configurator;
pub mod deliver_webhook;
pub mod dial_contact;
pub mod issue_credit_note;
pub mod issue_invoice;
pub mod noop;
pub mod plan_campaign;
pub mod plan_campaigns;
pub mod process_inbound_event;
pub mod provision_assistant;
pub mod provision_configurator;
pub mod prune_jobs;
pub mod push_appointment;
pub mod reconcile_usage;
pub mod renew_calendar_channels;
pub mod report_usage;
pub mod rescue_stuck_jobs;
pub mod send_email;
pub mod send_reminders;
pub mod sync_assistant;
pub mod sync_calendar;
pub mod watch_calendar;

use zencall_core::jobs::payloads::SendEmail;
use zencall_core::jobs::payloads::{
    AnalyzeTranscript, ApplyStripeEvent, DeleteAssistant, DeleteConfigurator, DeliverWebhook,
    DialContact, IssueCreditNote, IssueInvoice, PlanCampaign, PlanCampaigns, ProcessInboundEvent,
    ProvisionAssistant, ProvisionConfigurator, PruneJobs, PushAppointment, ReconcileUsage,
    RenewCalendarChannels, ReportUsage, RescueStuckJobs, SendReminders, SyncAssistant,
    SyncCalendar, WatchCalendar,
};
use zencall_core::store::assistants::Assistant;
use zencall_providers::voice::{AssistantSpec, BookingTools};
use zencall_queue::Noop;
use zencall_queue::runtime::runner::Registry;

use crate::JobContext;

/// Registers each `Kind => module` pair: the module's `run(&JobContext, Kind, JobRun)`.
macro_rules! register {
    ($registry:ident, $ctx:ident, $($kind:ty => $module:ident),* $(,)?) => {
        $(
            let c = $ctx.clone();
            $registry.register::<$kind, _, _>(move |job, run| {
                let c = c.clone();
                async move { $module::run(&c, job, run).await }
            });
        )*
    };
}

/// Every job kind with its handler.
pub fn registry(ctx: JobContext) -> Registry {
    let mut r = Registry::default();
    register!(r, ctx,
        ProvisionAssistant => provision_assistant,
        ProvisionConfigurator => provision_configurator,
        SyncAssistant => sync_assistant,
        DeleteAssistant => delete_assistant,
        DeleteConfigurator => delete_configurator,
        ProcessInboundEvent => process_inbound_event,
        DeliverWebhook => deliver_webhook,
        PlanCampaigns => plan_campaigns,
        PlanCampaign => plan_campaign,
        DialContact => dial_contact,
        PruneJobs => prune_jobs,
        RescueStuckJobs => rescue_stuck_jobs,
        AnalyzeTranscript => analyze_transcript,
        SyncCalendar => sync_calendar,
        WatchCalendar => watch_calendar,
        PushAppointment => push_appointment,
        RenewCalendarChannels => renew_calendar_channels,
        ApplyStripeEvent => apply_stripe_event,
        ReportUsage => report_usage,
        IssueInvoice => issue_invoice,
        IssueCreditNote => issue_credit_note,
        ReconcileUsage => reconcile_usage,
        SendEmail => send_email,
        SendReminders => send_reminders,
        Noop => noop,
    );
    r
}

/// What the voice platform should hold for `assistant`.
pub(crate) fn assistant_spec(ctx: &JobContext, assistant: &Assistant) -> AssistantSpec {
    AssistantSpec {
        external_id: assistant.id.clone(),
        name: assistant.name.clone(),
        language: assistant.language.code().into(),
        system_prompt: assistant.system_prompt.clone(),
        greeting: assistant.greeting.clone(),
        voice: assistant.voice.clone(),
        server_url: format!(
            "{}/webhooks/vapi",
            ctx.settings.server.public_url.trim_end_matches('/')
        ),
        // Only structured opening hours say when a slot can be booked.
        booking: assistant.business.hours.as_ref().map(|hours| BookingTools {
            time_zone: hours.time_zone().name().to_string(),
            services: assistant.business.services.clone(),
        }),
        tool_server: None,
    }
}
