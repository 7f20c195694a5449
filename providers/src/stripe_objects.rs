//! Stripe's JSON objects as Zencall reads them: only the fields billing uses, every other field
//! ignored, then turned into the domain types of [`crate::payments`]. The real adapter reads API
//! responses with these, and the simulator reads the objects it puts in its webhooks with the
//! same code, so both describe a subscription or an invoice the same way.
//!
//! Why not async-stripe's generated types: they require every documented field to be present and
//! fail the whole response otherwise, and a write whose reply cannot be read would be retried by
//! the job even though Stripe carried it out.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::ProviderError;
use crate::http;
use crate::payments::{
    Invoice, InvoiceLine, InvoiceStatus, MeterEventSummary, Subscription, SubscriptionStatus,
};

/// A reference to another object: its id, or the object itself when expanded.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Ref {
    /// Not expanded.
    Id(String),
    /// Expanded.
    Object {
        /// The object's id.
        id: String,
    },
}

impl Ref {
    fn into_id(self) -> String {
        match self {
            Ref::Id(id) | Ref::Object { id } => id,
        }
    }
}

/// A page of a list.
#[derive(Debug, Deserialize)]
pub(crate) struct List<T> {
    /// The items of this page.
    #[serde(default = "Vec::new")]
    pub(crate) data: Vec<T>,
    /// Whether more pages follow.
    #[serde(default)]
    pub(crate) has_more: bool,
}

/// Anything with an id: a customer, a checkout or portal session, a list item.
#[derive(Debug, Deserialize)]
pub(crate) struct Created {
    /// The new object's id.
    pub(crate) id: String,
    /// The hosted page, for sessions.
    #[serde(default)]
    pub(crate) url: Option<String>,
}

/// `subscription`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireSubscription {
    id: String,
    customer: Ref,
    status: String,
    items: List<WireSubscriptionItem>,
    /// Before API version 2025-03-31 the period was on the subscription; since, on each item.
    #[serde(default)]
    current_period_start: Option<i64>,
    #[serde(default)]
    current_period_end: Option<i64>,
    #[serde(default)]
    trial_end: Option<i64>,
    #[serde(default)]
    cancel_at_period_end: bool,
    #[serde(default)]
    metadata: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct WireSubscriptionItem {
    price: Ref,
    #[serde(default)]
    current_period_start: Option<i64>,
    #[serde(default)]
    current_period_end: Option<i64>,
}

/// `invoice`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireInvoice {
    id: String,
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    customer: Option<Ref>,
    currency: String,
    /// The first page of its lines.
    pub(crate) lines: List<WireInvoiceLine>,
    subtotal: i64,
    total: i64,
    /// Since API version 2025-03-31.
    #[serde(default)]
    total_taxes: Option<Vec<WireTax>>,
    /// Before API version 2025-03-31.
    #[serde(default)]
    tax: Option<i64>,
    created: i64,
    #[serde(default)]
    status_transitions: Option<WireStatusTransitions>,
    #[serde(default)]
    due_date: Option<i64>,
    #[serde(default)]
    hosted_invoice_url: Option<String>,
    /// Since API version 2025-03-31.
    #[serde(default)]
    parent: Option<WireInvoiceParent>,
    /// Before API version 2025-03-31.
    #[serde(default)]
    subscription: Option<Ref>,
}

#[derive(Debug, Deserialize)]
struct WireTax {
    amount: i64,
}

#[derive(Debug, Deserialize)]
struct WireStatusTransitions {
    #[serde(default)]
    finalized_at: Option<i64>,
    #[serde(default)]
    paid_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct WireInvoiceParent {
    #[serde(default)]
    subscription_details: Option<WireSubscriptionDetails>,
}

#[derive(Debug, Deserialize)]
struct WireSubscriptionDetails {
    #[serde(default)]
    subscription: Option<Ref>,
}

/// `line_item` of an invoice.
#[derive(Debug, Deserialize)]
pub(crate) struct WireInvoiceLine {
    /// The line's id, where the next page starts after.
    pub(crate) id: String,
    #[serde(default)]
    description: Option<String>,
    amount: i64,
    #[serde(default)]
    quantity: Option<u64>,
    period: WirePeriod,
    /// Since API version 2025-03-31.
    #[serde(default)]
    pricing: Option<WirePricing>,
    /// Before API version 2025-03-31.
    #[serde(default)]
    price: Option<Ref>,
}

#[derive(Debug, Deserialize)]
struct WirePeriod {
    start: i64,
    end: i64,
}

#[derive(Debug, Deserialize)]
struct WirePricing {
    #[serde(default)]
    price_details: Option<WirePriceDetails>,
}

#[derive(Debug, Deserialize)]
struct WirePriceDetails {
    price: Ref,
}

/// `billing.meter_event_summary`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireMeterEventSummary {
    /// The summary's id, where the next page starts after.
    pub(crate) id: String,
    aggregated_value: f64,
    start_time: i64,
    end_time: i64,
}

/// A Unix time in seconds as a UTC time; out of range is an unexpected response.
fn time(provider: &'static str, field: &str, seconds: i64) -> Result<DateTime<Utc>, ProviderError> {
    DateTime::from_timestamp(seconds, 0).ok_or_else(|| {
        http::permanent(
            provider,
            &format!("unexpected response: {field} = {seconds} is not a time"),
        )
    })
}

fn optional_time(
    provider: &'static str,
    field: &str,
    seconds: Option<i64>,
) -> Result<Option<DateTime<Utc>>, ProviderError> {
    seconds.map(|s| time(provider, field, s)).transpose()
}

impl WireSubscription {
    /// The domain subscription; its current period spans its items' periods.
    pub(crate) fn into_domain(self, provider: &'static str) -> Result<Subscription, ProviderError> {
        let starts = self
            .items
            .data
            .iter()
            .filter_map(|i| i.current_period_start);
        let ends = self.items.data.iter().filter_map(|i| i.current_period_end);
        let start = starts.min().or(self.current_period_start);
        let end = ends.max().or(self.current_period_end);
        let (Some(start), Some(end)) = (start, end) else {
            return Err(http::permanent(
                provider,
                &format!(
                    "unexpected response: the subscription {} has no current period",
                    self.id
                ),
            ));
        };
        Ok(Subscription {
            customer_id: self.customer.into_id(),
            org_id: self.metadata.get("org_id").cloned(),
            status: SubscriptionStatus::parse(&self.status),
            price_ids: self
                .items
                .data
                .into_iter()
                .map(|i| i.price.into_id())
                .collect(),
            current_period_start: time(provider, "current_period_start", start)?,
            current_period_end: time(provider, "current_period_end", end)?,
            trial_end: optional_time(provider, "trial_end", self.trial_end)?,
            cancel_at_period_end: self.cancel_at_period_end,
            id: self.id,
        })
    }
}

impl WireInvoiceLine {
    fn into_domain(self, provider: &'static str) -> Result<InvoiceLine, ProviderError> {
        let price = self
            .pricing
            .and_then(|p| p.price_details)
            .map(|d| d.price)
            .or(self.price);
        Ok(InvoiceLine {
            id: self.id,
            description: self.description,
            price_id: price.map(Ref::into_id),
            quantity: self.quantity,
            amount: self.amount,
            period_start: time(provider, "period.start", self.period.start)?,
            period_end: time(provider, "period.end", self.period.end)?,
        })
    }
}

impl WireInvoice {
    /// The domain invoice, with `more_lines` (fetched from the following pages) after its own.
    pub(crate) fn into_domain(
        self,
        provider: &'static str,
        more_lines: Vec<WireInvoiceLine>,
    ) -> Result<Invoice, ProviderError> {
        let customer_id = self.customer.map(Ref::into_id).ok_or_else(|| {
            http::permanent(
                provider,
                &format!(
                    "unexpected response: the invoice {} has no customer",
                    self.id
                ),
            )
        })?;
        let tax = match (&self.total_taxes, self.tax) {
            (Some(taxes), _) => taxes.iter().map(|t| t.amount).sum(),
            (None, Some(tax)) => tax,
            (None, None) => 0,
        };
        let subscription_id = self
            .parent
            .and_then(|p| p.subscription_details)
            .and_then(|d| d.subscription)
            .or(self.subscription)
            .map(Ref::into_id);
        let transitions = self.status_transitions;
        let lines = self
            .lines
            .data
            .into_iter()
            .chain(more_lines)
            .map(|line| line.into_domain(provider))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Invoice {
            number: self.number,
            status: InvoiceStatus::parse(self.status.as_deref().unwrap_or("draft")),
            customer_id,
            subscription_id,
            currency: self.currency.to_ascii_lowercase(),
            lines,
            subtotal: self.subtotal,
            tax,
            total: self.total,
            created: time(provider, "created", self.created)?,
            finalized_at: optional_time(
                provider,
                "finalized_at",
                transitions.as_ref().and_then(|t| t.finalized_at),
            )?,
            paid_at: optional_time(
                provider,
                "paid_at",
                transitions.as_ref().and_then(|t| t.paid_at),
            )?,
            due_date: optional_time(provider, "due_date", self.due_date)?,
            hosted_url: self.hosted_invoice_url,
            id: self.id,
        })
    }
}

impl WireMeterEventSummary {
    /// The domain summary.
    pub(crate) fn into_domain(
        self,
        provider: &'static str,
    ) -> Result<MeterEventSummary, ProviderError> {
        Ok(MeterEventSummary {
            start: time(provider, "start_time", self.start_time)?,
            end: time(provider, "end_time", self.end_time)?,
            aggregated_value: self.aggregated_value,
        })
    }
}

/// Reads a JSON object of type `T`, or says what did not fit.
pub(crate) fn read<T: serde::de::DeserializeOwned>(
    provider: &'static str,
    json: &str,
) -> Result<T, ProviderError> {
    serde_json::from_str(json)
        .map_err(|e| http::permanent(provider, &format!("unexpected response: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_subscription_of_an_older_api_version_reads_its_period_from_the_top() {
        let wire: WireSubscription = read(
            "test",
            &json!({
                "id": "sub_1", "customer": {"id": "cus_1", "object": "customer"},
                "status": "past_due",
                "items": {"object": "list", "data": [{"price": {"id": "price_fee"}}]},
                "current_period_start": 1_700_000_000, "current_period_end": 1_702_592_000,
                "trial_end": null
            })
            .to_string(),
        )
        .expect("read");
        let sub = wire.into_domain("test").expect("domain");
        assert_eq!(sub.customer_id, "cus_1");
        assert_eq!(sub.status, SubscriptionStatus::PastDue);
        assert_eq!(sub.current_period_start.timestamp(), 1_700_000_000);
        assert_eq!(sub.current_period_end.timestamp(), 1_702_592_000);
        assert_eq!(sub.price_ids, vec!["price_fee".to_string()]);
        assert_eq!(sub.org_id, None);
    }

    #[test]
    fn a_subscription_without_any_period_is_an_unexpected_response() {
        let wire: WireSubscription = read(
            "test",
            &json!({"id": "sub_1", "customer": "cus_1", "status": "active",
                    "items": {"data": [{"price": "price_fee"}]}})
            .to_string(),
        )
        .expect("read");
        let err = wire.into_domain("test").expect_err("no period");
        assert!(err.to_string().contains("no current period"), "{err}");
    }

    #[test]
    fn an_invoice_of_an_older_api_version_reads_tax_price_and_subscription() {
        let wire: WireInvoice = read(
            "test",
            &json!({
                "id": "in_1", "number": "ABC-0001", "status": "open", "customer": "cus_1",
                "currency": "EUR", "subtotal": 1000, "total": 1200, "tax": 200,
                "created": 1_700_000_000, "subscription": "sub_1",
                "lines": {"data": [{"id": "il_1", "amount": 1000, "quantity": 1,
                                     "price": {"id": "price_fee"},
                                     "period": {"start": 1_700_000_000, "end": 1_702_592_000}}]}
            })
            .to_string(),
        )
        .expect("read");
        let invoice = wire.into_domain("test", Vec::new()).expect("domain");
        assert_eq!(invoice.tax, 200);
        assert_eq!(invoice.currency, "eur");
        assert_eq!(invoice.subscription_id.as_deref(), Some("sub_1"));
        assert_eq!(invoice.lines[0].price_id.as_deref(), Some("price_fee"));
        assert_eq!(invoice.finalized_at, None);
    }

    #[test]
    fn a_time_out_of_range_is_refused_not_a_panic() {
        let err = time("test", "created", i64::MAX).expect_err("out of range");
        assert!(err.to_string().contains("created"), "{err}");
    }
}
