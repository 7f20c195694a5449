//! Payments (Stripe Billing): one customer per organisation, a subscription bought through a
//! hosted checkout, self-service through a customer portal, call minutes reported as meter
//! events, and the subscriptions, invoices and meter totals read back.
//!
//! Every write carries an idempotency key, so a job that re-runs after a lost reply never creates
//! a second customer or counts a call twice. The types here are plain domain types: amounts in
//! minor units of `currency` (cents), times in UTC.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ProviderError;

/// A postal address, as printed on invoices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalAddress {
    /// Street and number.
    pub line1: String,
    /// Building, floor, suite, if any.
    pub line2: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// Town.
    pub city: String,
    /// ISO 3166-1 alpha-2 country code (`FR`).
    pub country: String,
}

/// What the payment provider should know about an organisation that pays us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSpec {
    /// Our organisation id; the idempotency key and the customer's metadata derive from it.
    pub org_id: String,
    /// The organisation's legal name.
    pub name: String,
    /// Where invoices and payment notices go.
    pub email: String,
    /// The billing address, if known.
    pub address: Option<PostalAddress>,
    /// The intra-community VAT number (`FR12345678901`), if the buyer has one.
    pub vat_id: Option<String>,
}

impl CustomerSpec {
    /// The idempotency key of the creation of this organisation's customer.
    pub fn idempotency_key(&self) -> String {
        format!("customer:{}", self.org_id)
    }
}

/// A customer at the payment provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The provider's id (`cus_...`).
    pub id: String,
}

/// A hosted checkout that starts a subscription to one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// Our organisation id, given back on the session and the subscription.
    pub org_id: String,
    /// The paying customer (`cus_...`).
    pub customer_id: String,
    /// The plan's monthly fee price (`price_...`), bought once.
    pub fee_price_id: String,
    /// The plan's metered price (`price_...`), attached to the minutes meter; billed on usage.
    pub metered_price_id: String,
    /// Free trial days before the first charge; 0 for none.
    pub trial_days: u32,
    /// Where the buyer lands after paying.
    pub success_url: String,
    /// Where the buyer lands after giving up.
    pub cancel_url: String,
    /// Our key for this checkout (one per attempt to buy, such as the API request's id).
    pub idempotency_key: String,
}

/// A hosted checkout page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// The provider's id (`cs_...`).
    pub id: String,
    /// The page to send the buyer to.
    pub url: String,
}

/// A hosted customer portal (plan changes, payment methods, cancellation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalRequest {
    /// The customer (`cus_...`).
    pub customer_id: String,
    /// Where the portal's "back" link leads.
    pub return_url: String,
    /// Our key for this portal session (one per request).
    pub idempotency_key: String,
}

/// A customer portal page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    /// The page to send the customer to.
    pub url: String,
}

/// Usage to report to a billing meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterEvent {
    /// The meter's event name (`call_minutes`).
    pub event_name: String,
    /// The customer the usage is billed to (`cus_...`).
    pub customer_id: String,
    /// How much was used (minutes).
    pub value: u64,
    /// Unique per usage (the call id): the provider counts an identifier once, so a replay is
    /// harmless. Also the base of the idempotency key.
    pub identifier: String,
    /// When the usage happened.
    pub timestamp: DateTime<Utc>,
}

impl MeterEvent {
    /// The idempotency key of the report of this event: the same for every replay.
    pub fn idempotency_key(&self) -> String {
        format!("meter-event:{}", self.identifier)
    }
}

/// Where a subscription stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionStatus {
    /// In its free trial.
    Trialing,
    /// Paid up.
    Active,
    /// The last payment failed; the provider is retrying.
    PastDue,
    /// Ended.
    Canceled,
    /// Retries are exhausted; invoices stay open.
    Unpaid,
    /// The first payment has not succeeded yet.
    Incomplete,
    /// The first payment never succeeded; the subscription is dead.
    IncompleteExpired,
    /// Paused at the end of a trial without a payment method.
    Paused,
    /// A status this code does not know yet, as the provider spells it.
    Other(String),
}

impl SubscriptionStatus {
    /// Reads the provider's spelling (`past_due`).
    pub fn parse(text: &str) -> Self {
        match text {
            "trialing" => Self::Trialing,
            "active" => Self::Active,
            "past_due" => Self::PastDue,
            "canceled" => Self::Canceled,
            "unpaid" => Self::Unpaid,
            "incomplete" => Self::Incomplete,
            "incomplete_expired" => Self::IncompleteExpired,
            "paused" => Self::Paused,
            other => Self::Other(other.to_string()),
        }
    }

    /// The provider's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Unpaid => "unpaid",
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Paused => "paused",
            Self::Other(other) => other,
        }
    }
}

/// A subscription as the provider has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The provider's id (`sub_...`).
    pub id: String,
    /// The customer (`cus_...`).
    pub customer_id: String,
    /// Our organisation id, from the subscription's metadata, when it carries one.
    pub org_id: Option<String>,
    /// Where it stands.
    pub status: SubscriptionStatus,
    /// The prices subscribed to, in the provider's order.
    pub price_ids: Vec<String>,
    /// Start of the current billing period.
    pub current_period_start: DateTime<Utc>,
    /// End of the current billing period.
    pub current_period_end: DateTime<Utc>,
    /// End of the trial, if there is or was one.
    pub trial_end: Option<DateTime<Utc>>,
    /// Whether it ends at the end of the current period.
    pub cancel_at_period_end: bool,
}

/// Where an invoice stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceStatus {
    /// Being prepared; may still change.
    Draft,
    /// Finalized, awaiting payment.
    Open,
    /// Paid.
    Paid,
    /// Given up on.
    Uncollectible,
    /// Cancelled after finalization.
    Void,
    /// A status this code does not know yet, as the provider spells it.
    Other(String),
}

impl InvoiceStatus {
    /// Reads the provider's spelling (`open`).
    pub fn parse(text: &str) -> Self {
        match text {
            "draft" => Self::Draft,
            "open" => Self::Open,
            "paid" => Self::Paid,
            "uncollectible" => Self::Uncollectible,
            "void" => Self::Void,
            other => Self::Other(other.to_string()),
        }
    }

    /// The provider's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Uncollectible => "uncollectible",
            Self::Void => "void",
            Self::Other(other) => other,
        }
    }
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    /// The provider's id of the line.
    pub id: String,
    /// The line's text, as the provider wrote it.
    pub description: Option<String>,
    /// The price billed (`price_...`), when the line comes from a price.
    pub price_id: Option<String>,
    /// How many units (months, minutes).
    pub quantity: Option<u64>,
    /// The line's amount before tax, in minor units.
    pub amount: i64,
    /// Start of the period the line covers.
    pub period_start: DateTime<Utc>,
    /// End of the period the line covers.
    pub period_end: DateTime<Utc>,
}

/// An invoice as the provider has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// The provider's id (`in_...`).
    pub id: String,
    /// The provider's invoice number, once finalized.
    pub number: Option<String>,
    /// Where it stands.
    pub status: InvoiceStatus,
    /// The customer billed (`cus_...`).
    pub customer_id: String,
    /// The subscription it bills, if any (`sub_...`).
    pub subscription_id: Option<String>,
    /// ISO 4217 code, lower case (`eur`).
    pub currency: String,
    /// Every line, in the provider's order.
    pub lines: Vec<InvoiceLine>,
    /// Total before tax and after line-level discounts, in minor units.
    pub subtotal: i64,
    /// Total tax, in minor units.
    pub tax: i64,
    /// Total with tax, in minor units.
    pub total: i64,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// When it was finalized, once it is.
    pub finalized_at: Option<DateTime<Utc>>,
    /// When it was paid, once it is.
    pub paid_at: Option<DateTime<Utc>>,
    /// When payment is due, for invoices sent to be paid by transfer.
    pub due_date: Option<DateTime<Utc>>,
    /// The provider's page where the customer can see and pay it.
    pub hosted_url: Option<String>,
}

/// The total of a meter's events for one customer over a span of time.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterEventSummary {
    /// Start of the span (inclusive).
    pub start: DateTime<Utc>,
    /// End of the span (exclusive).
    pub end: DateTime<Utc>,
    /// The sum of the values reported in the span.
    pub aggregated_value: f64,
}

/// Reads a Stripe `subscription` object as a webhook event carries it (`data.object`), with
/// the same rules as a subscription read back from Stripe. For the rare case where it cannot be
/// read back any more.
pub fn subscription_from_event_object(json: &str) -> Result<Subscription, ProviderError> {
    crate::stripe_objects::read::<crate::stripe_objects::WireSubscription>("stripe", json)?
        .into_domain("stripe")
}

/// The payment provider's capabilities used by Zencall's billing.
#[async_trait]
pub trait Payments: Send + Sync {
    /// Creates the organisation's customer, with its name, email, address and VAT id, under the
    /// idempotency key [`CustomerSpec::idempotency_key`]: retries within the provider's key
    /// retention give the same customer. The caller keeps the id and never calls this again for
    /// the same organisation once it has one.
    async fn create_customer(&self, spec: &CustomerSpec) -> Result<Customer, ProviderError>;

    /// Creates a hosted checkout in subscription mode for the plan's fee and metered prices,
    /// with its trial, tagged with the organisation id.
    async fn create_checkout_session(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CheckoutSession, ProviderError>;

    /// Creates a customer portal session.
    async fn create_portal_session(
        &self,
        request: &PortalRequest,
    ) -> Result<PortalSession, ProviderError>;

    /// Reports usage to a meter; a replay of the same [`MeterEvent::identifier`] is counted once.
    async fn report_meter_event(&self, event: &MeterEvent) -> Result<(), ProviderError>;

    /// Reads a subscription; [`ProviderError::NotFound`] when there is none with that id.
    async fn retrieve_subscription(&self, id: &str) -> Result<Subscription, ProviderError>;

    /// Reads an invoice with all its lines; [`ProviderError::NotFound`] when there is none.
    async fn retrieve_invoice(&self, id: &str) -> Result<Invoice, ProviderError>;

    /// The totals of the meter `meter_id` (`mtr_...`) for `customer_id` between `start`
    /// (inclusive) and `end` (exclusive), both on whole minutes; for reconciling our own ledger.
    async fn list_meter_event_summaries(
        &self,
        meter_id: &str,
        customer_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MeterEventSummary>, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_the_providers_spelling() {
        for text in [
            "trialing",
            "active",
            "past_due",
            "canceled",
            "unpaid",
            "incomplete",
            "incomplete_expired",
            "paused",
            "something_new",
        ] {
            assert_eq!(SubscriptionStatus::parse(text).as_str(), text);
        }
        assert_eq!(
            SubscriptionStatus::parse("past_due"),
            SubscriptionStatus::PastDue
        );
        for text in ["draft", "open", "paid", "uncollectible", "void", "deleted"] {
            assert_eq!(InvoiceStatus::parse(text).as_str(), text);
        }
        assert_eq!(InvoiceStatus::parse("void"), InvoiceStatus::Void);
    }

    #[test]
    fn idempotency_keys_derive_from_the_business_keys() {
        let spec = CustomerSpec {
            org_id: "org_01J".into(),
            name: "Salon Dupont".into(),
            email: "compta@dupont.fr".into(),
            address: None,
            vat_id: None,
        };
        assert_eq!(spec.idempotency_key(), "customer:org_01J");
        let event = MeterEvent {
            event_name: "call_minutes".into(),
            customer_id: "cus_1".into(),
            value: 3,
            identifier: "call_01J".into(),
            timestamp: Utc::now(),
        };
        assert_eq!(event.idempotency_key(), "meter-event:call_01J");
    }
}
