//! The payload of every job kind. Handlers live in the worker crate, one module each.

use serde::{Deserialize, Serialize};

use zencall_queue::Job;

use super::QueueName;

/// Create an assistant at the voice platform, buy and attach its number, activate it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionAssistant {
    /// Owning organisation.
    pub org_id: String,
    /// The assistant.
    pub assistant_id: String,
}

impl Job for ProvisionAssistant {
    const KIND: &'static str = "ProvisionAssistant";
    const QUEUE: &'static str = QueueName::Provisioning.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(10);
}

/// Create or update an organisation's configurator at the voice platform: its prompt, and our
/// MCP server as its tool server with a fresh key (the previous one is revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionConfigurator {
    /// Owning organisation.
    pub org_id: String,
    /// The configurator (`cfg_...`).
    pub configurator_id: String,
}

impl Job for ProvisionConfigurator {
    const KIND: &'static str = "ProvisionConfigurator";
    const QUEUE: &'static str = QueueName::Provisioning.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(10);
}

/// Remove an organisation's configurator from the voice platform, revoke its key, forget it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteConfigurator {
    /// Owning organisation.
    pub org_id: String,
    /// The configurator (`cfg_...`).
    pub configurator_id: String,
}

impl Job for DeleteConfigurator {
    const KIND: &'static str = "DeleteConfigurator";
    const QUEUE: &'static str = QueueName::Provisioning.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(12);
}

/// Push an assistant's latest prompt, voice and greeting to the voice platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAssistant {
    /// Owning organisation.
    pub org_id: String,
    /// The assistant.
    pub assistant_id: String,
    /// The config version that asked for this sync.
    pub version: i64,
}

impl Job for SyncAssistant {
    const KIND: &'static str = "SyncAssistant";
    const QUEUE: &'static str = QueueName::Provisioning.as_str();
}

/// Remove an assistant from the voice platform and release its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteAssistant {
    /// Owning organisation.
    pub org_id: String,
    /// The assistant.
    pub assistant_id: String,
}

impl Job for DeleteAssistant {
    const KIND: &'static str = "DeleteAssistant";
    const QUEUE: &'static str = QueueName::Provisioning.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(12);
}

/// Turn a stored provider event into domain changes (calls, and later billing and calendars).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInboundEvent {
    /// The stored event (`evt_...`).
    pub event_id: String,
}

impl Job for ProcessInboundEvent {
    const KIND: &'static str = "ProcessInboundEvent";
    const QUEUE: &'static str = QueueName::Webhooks.as_str();
}

/// Deliver one of our events to one customer endpoint, signed; retried for about a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverWebhook {
    /// Owning organisation.
    pub org_id: String,
    /// The delivery (`whdl_...`).
    pub delivery_id: String,
}

impl Job for DeliverWebhook {
    const KIND: &'static str = "DeliverWebhook";
    const QUEUE: &'static str = QueueName::Webhooks.as_str();
}

/// Plan one campaign: pick its due contacts inside their calling window, up to its free
/// concurrency, and queue a [`DialContact`] for each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCampaign {
    /// Owning organisation.
    pub org_id: String,
    /// The campaign.
    pub campaign_id: String,
}

impl Job for PlanCampaign {
    const KIND: &'static str = "PlanCampaign";
    const QUEUE: &'static str = QueueName::Campaigns.as_str();
}

impl PlanCampaign {
    /// Queues a planning pass of the campaign now, inside `tx` (after a state change or the
    /// end of a call, so a freed slot is used at once). Passes take turns on the campaign's
    /// lock, so several queued at once plan nothing twice.
    pub async fn enqueue_now(
        tx: &mut crate::store::Tx,
        org_id: &str,
        campaign_id: &str,
    ) -> Result<(), crate::store::StoreError> {
        let job = PlanCampaign {
            org_id: org_id.to_string(),
            campaign_id: campaign_id.to_string(),
        };
        zencall_queue::enqueue_in(tx, &job, zencall_queue::EnqueueOptions::default(), 5).await?;
        Ok(())
    }
}

/// Queue a [`PlanCampaign`] for every scheduled or running campaign (the scheduler's tick).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCampaigns {}

impl Job for PlanCampaigns {
    const KIND: &'static str = "PlanCampaigns";
    const QUEUE: &'static str = QueueName::Campaigns.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(3);
}

/// Place one planned call attempt through the voice platform, after checking every rule again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialContact {
    /// Owning organisation.
    pub org_id: String,
    /// The attempt (`att_...`), also the call's idempotency key.
    pub attempt_id: String,
}

impl Job for DialContact {
    const KIND: &'static str = "DialContact";
    const QUEUE: &'static str = QueueName::Dialing.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(8);
}

/// Analyse a call's transcript (sentiment, intents, summary, tags, actions) and make the
/// result the call's current analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzeTranscript {
    /// Owning organisation.
    pub org_id: String,
    /// The call.
    pub call_id: String,
    /// `auto:{analyzer version}` for the analysis made when the call ends, or the id of a
    /// re-analysis request: one analysis is stored per call and request key.
    pub request_key: String,
}

impl Job for AnalyzeTranscript {
    const KIND: &'static str = "AnalyzeTranscript";
    const QUEUE: &'static str = QueueName::Analysis.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(6);
}

impl AnalyzeTranscript {
    /// The request key of the analysis made when a call ends, per analyzer version.
    pub fn auto_request_key(analyzer_version: &str) -> String {
        format!("auto:{analyzer_version}")
    }

    /// Queues the analysis of a call that just ended with a transcript, inside `tx` (the
    /// transaction that stores the transcript). Unique per call and analyzer version, so a
    /// repeated end-of-call report analyses once.
    pub async fn enqueue_for_ended_call(
        tx: &mut crate::store::Tx,
        org_id: &str,
        call_id: &str,
        analyzer_version: &str,
    ) -> Result<zencall_queue::Enqueued, crate::store::StoreError> {
        let request_key = Self::auto_request_key(analyzer_version);
        let job = AnalyzeTranscript {
            org_id: org_id.to_string(),
            call_id: call_id.to_string(),
            request_key: request_key.clone(),
        };
        let options =
            zencall_queue::EnqueueOptions::unique(format!("analysis:{call_id}:{request_key}"));
        zencall_queue::enqueue_in(tx, &job, options, 6).await
    }
}

/// Delete finished jobs past their retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneJobs {}

impl Job for PruneJobs {
    const KIND: &'static str = "PruneJobs";
    const QUEUE: &'static str = QueueName::Maintenance.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(3);
}

/// Put back jobs held by a live worker for longer than any run can take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescueStuckJobs {}

impl Job for RescueStuckJobs {
    const KIND: &'static str = "RescueStuckJobs";
    const QUEUE: &'static str = QueueName::Maintenance.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(3);
}

/// Read the changes of a calendar connection's calendar: in full (a window of days) until a
/// sync token is kept, incrementally afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCalendar {
    /// Owning organisation.
    pub org_id: String,
    /// The connection (`ccon_...`).
    pub connection_id: String,
    /// The connection's sync generation when the sync was asked for (see [`SyncCalendar::enqueue`]).
    pub generation: i64,
}

impl Job for SyncCalendar {
    const KIND: &'static str = "SyncCalendar";
    const QUEUE: &'static str = QueueName::Calendar.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(10);
}

impl SyncCalendar {
    /// Queues a sync of the connection inside `tx`, given its current sync generation. The
    /// unique key holds the generation, and a sync bumps the generation before it reads
    /// anything: while a sync is pending, more requests are duplicates (a burst of
    /// notifications costs one run); once it has started, the next request queues a new one,
    /// so a change made during a run is read by the next.
    pub async fn enqueue(
        tx: &mut crate::store::Tx,
        org_id: &str,
        connection_id: &str,
        generation: i64,
    ) -> Result<zencall_queue::Enqueued, crate::store::StoreError> {
        let job = SyncCalendar {
            org_id: org_id.to_string(),
            connection_id: connection_id.to_string(),
            generation,
        };
        let options = zencall_queue::EnqueueOptions::unique(format!(
            "calendar-sync:{connection_id}:{generation}"
        ));
        zencall_queue::enqueue_in(tx, &job, options, 10).await
    }
}

/// Open a push-notification channel on a connection's calendar; the channel it replaces is
/// stopped afterwards by [`RenewCalendarChannels`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchCalendar {
    /// Owning organisation.
    pub org_id: String,
    /// The connection (`ccon_...`).
    pub connection_id: String,
}

impl Job for WatchCalendar {
    const KIND: &'static str = "WatchCalendar";
    const QUEUE: &'static str = QueueName::Calendar.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(10);
}

impl WatchCalendar {
    /// Queues a watch of the connection inside `tx`, once per `reason` (the connection and its
    /// calendar, or the channel being renewed).
    pub async fn enqueue(
        tx: &mut crate::store::Tx,
        org_id: &str,
        connection_id: &str,
        reason: &str,
    ) -> Result<zencall_queue::Enqueued, crate::store::StoreError> {
        let job = WatchCalendar {
            org_id: org_id.to_string(),
            connection_id: connection_id.to_string(),
        };
        let options = zencall_queue::EnqueueOptions::unique(format!(
            "calendar-watch:{connection_id}:{reason}"
        ));
        zencall_queue::enqueue_in(tx, &job, options, 10).await
    }
}

/// Renew the channels that expire soon, stop the replaced ones, forget expired OAuth states
/// (the scheduler's tick).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewCalendarChannels {}

impl Job for RenewCalendarChannels {
    const KIND: &'static str = "RenewCalendarChannels";
    const QUEUE: &'static str = QueueName::Calendar.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(3);
}

/// Send the reminders of the booked appointments now within `appointments.reminder_before`
/// of their start (the scheduler's minute tick).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReminders {}

impl Job for SendReminders {
    const KIND: &'static str = "SendReminders";
    const QUEUE: &'static str = QueueName::Calendar.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(3);
}

/// Write an appointment to its assistant's calendar as it now stands: create its event (with
/// an id derived from the appointment, so a re-run finds it), move it if the appointment moved,
/// delete it once the appointment is cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushAppointment {
    /// Owning organisation.
    pub org_id: String,
    /// The appointment (`appt_...`).
    pub appointment_id: String,
}

impl Job for PushAppointment {
    const KIND: &'static str = "PushAppointment";
    const QUEUE: &'static str = QueueName::Calendar.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(10);
}

impl PushAppointment {
    /// Queues the push of an appointment's change inside `tx` (the transaction that makes the
    /// change). Unique per appointment and `change` (`booked`, `cancelled`): a repeated
    /// change queues one push, and each push writes the appointment as it stands when it runs.
    pub async fn enqueue(
        tx: &mut crate::store::Tx,
        org_id: &str,
        appointment_id: &str,
        change: &str,
    ) -> Result<zencall_queue::Enqueued, crate::store::StoreError> {
        let job = PushAppointment {
            org_id: org_id.to_string(),
            appointment_id: appointment_id.to_string(),
        };
        let options = zencall_queue::EnqueueOptions::unique(format!(
            "appointment-push:{appointment_id}:{change}"
        ));
        zencall_queue::enqueue_in(tx, &job, options, 10).await
    }
}

/// Apply one stored Stripe event to billing: the organisation's subscription or an invoice's
/// state, read back from Stripe where the order of events matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyStripeEvent {
    /// The stored event (`evt_...`, our id in the webhook inbox).
    pub event_id: String,
}

impl Job for ApplyStripeEvent {
    const KIND: &'static str = "ApplyStripeEvent";
    const QUEUE: &'static str = QueueName::Billing.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(12);
}

impl ApplyStripeEvent {
    /// The unique key of the job of stored event `event_id`.
    pub fn unique_key(event_id: &str) -> String {
        format!("stripe-event:{event_id}")
    }
}

/// Report one ended call's minutes to the billing meter of the organisation's plan, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportUsage {
    /// Owning organisation.
    pub org_id: String,
    /// The call (`call_...`): the meter event's identifier.
    pub call_id: String,
}

impl Job for ReportUsage {
    const KIND: &'static str = "ReportUsage";
    const QUEUE: &'static str = QueueName::Billing.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(12);
}

impl ReportUsage {
    /// Queues the report of a call's usage inside `tx` (the transaction that writes its ledger
    /// row). Unique per call, so a repeated end of call queues one report.
    pub async fn enqueue_for_call(
        tx: &mut crate::store::Tx,
        org_id: &str,
        call_id: &str,
    ) -> Result<zencall_queue::Enqueued, crate::store::StoreError> {
        let job = ReportUsage {
            org_id: org_id.to_string(),
            call_id: call_id.to_string(),
        };
        let options = zencall_queue::EnqueueOptions::unique(format!("usage:{call_id}"));
        zencall_queue::enqueue_in(tx, &job, options, 12).await
    }
}

/// Issue our invoice document (numbered, with its PDF) for a finalized Stripe invoice, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueInvoice {
    /// Owning organisation.
    pub org_id: String,
    /// The Stripe invoice (`in_...`).
    pub stripe_invoice_id: String,
}

impl Job for IssueInvoice {
    const KIND: &'static str = "IssueInvoice";
    const QUEUE: &'static str = QueueName::Billing.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(12);
}

impl IssueInvoice {
    /// Queues the issue of the document of `stripe_invoice_id`; unique per Stripe invoice, so
    /// the several events about one invoice queue one job.
    pub async fn enqueue(
        db: &crate::store::Db,
        org_id: &str,
        stripe_invoice_id: &str,
    ) -> Result<zencall_queue::Enqueued, crate::store::StoreError> {
        let job = IssueInvoice {
            org_id: org_id.to_string(),
            stripe_invoice_id: stripe_invoice_id.to_string(),
        };
        let options = zencall_queue::EnqueueOptions::unique(format!("invoice:{stripe_invoice_id}"));
        zencall_queue::enqueue(db, &job, options, 12).await
    }
}

/// Issue the credit note that cancels our invoice of a Stripe invoice voided after we issued
/// it, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueCreditNote {
    /// Owning organisation.
    pub org_id: String,
    /// The voided Stripe invoice (`in_...`).
    pub stripe_invoice_id: String,
}

impl Job for IssueCreditNote {
    const KIND: &'static str = "IssueCreditNote";
    const QUEUE: &'static str = QueueName::Billing.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(12);
}

impl IssueCreditNote {
    /// Queues the credit note of voided `stripe_invoice_id`; unique per Stripe invoice.
    pub async fn enqueue(
        db: &crate::store::Db,
        org_id: &str,
        stripe_invoice_id: &str,
    ) -> Result<zencall_queue::Enqueued, crate::store::StoreError> {
        let job = IssueCreditNote {
            org_id: org_id.to_string(),
            stripe_invoice_id: stripe_invoice_id.to_string(),
        };
        let options =
            zencall_queue::EnqueueOptions::unique(format!("credit-note:{stripe_invoice_id}"));
        zencall_queue::enqueue(db, &job, options, 12).await
    }
}

/// Compare every metered subscription's reported minutes with the meter's totals at Stripe
/// (daily); differences go to the log and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileUsage {}

impl Job for ReconcileUsage {
    const KIND: &'static str = "ReconcileUsage";
    const QUEUE: &'static str = QueueName::Billing.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(5);
}

/// Send one email of the outbox (`email_messages`), once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendEmail {
    /// Owning organisation.
    pub org_id: String,
    /// The email (`email_...`).
    pub email_id: String,
}

impl Job for SendEmail {
    const KIND: &'static str = "SendEmail";
    const QUEUE: &'static str = QueueName::Billing.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(12);
}

impl SendEmail {
    /// Queues the sending of email `email_id` inside `tx` (the transaction that stores it; see
    /// [`crate::store::email_messages::queue_and_send`]). Unique per email.
    pub async fn enqueue_for(
        tx: &mut crate::store::Tx,
        org_id: &str,
        email_id: &str,
    ) -> Result<zencall_queue::Enqueued, crate::store::StoreError> {
        let job = SendEmail {
            org_id: org_id.to_string(),
            email_id: email_id.to_string(),
        };
        let options = zencall_queue::EnqueueOptions::unique(format!("email:{email_id}"));
        zencall_queue::enqueue_in(tx, &job, options, 12).await
    }
}
