//! Simulated payments: an in-memory stand-in for Stripe Billing that `zencall up` uses when no
//! Stripe key is configured, so that the whole billing flow runs without an account.
//!
//! It keeps customers, checkout sessions, subscriptions, invoices and meter events, and honours
//! idempotency keys and meter event identifiers as Stripe does. A checkout session's URL points
//! at our own simulator route (`{public_url}/simulator/stripe/checkout/{session_id}`), which
//! calls [`SimulatedPayments::complete_checkout`]; [`SimulatedPayments::close_period`] ends a
//! subscription's period now and invoices it. Both return the events Stripe would send, as the
//! JSON body and its `Stripe-Signature` header signed with the configured webhook secret, for
//! the caller to POST to our own `/webhooks/stripe`.
//!
//! Pricing follows Stripe's for a fee plus a metered price: the fee is billed in advance for the
//! period that starts, the metered usage in arrears for the period that ends, each at its price's
//! unit amount, plus tax at the configured rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Months, TimeDelta, Utc};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use zencall_core::clock::{Clock, SystemClock};
use zencall_core::domain::vat::{self, VatTreatment};

use crate::payments::{
    CheckoutRequest, CheckoutSession, Customer, CustomerSpec, Invoice, MeterEvent,
    MeterEventSummary, Payments, PortalRequest, PortalSession, Subscription,
};
use crate::signatures;
use crate::stripe_objects::{self, WireInvoice, WireSubscription};
use crate::{ProviderError, http};

/// The provider name in errors.
const PROVIDER: &str = "stripe-simulator";

/// A billing meter of the simulated account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedMeter {
    /// The meter's id (`mtr_...`).
    pub id: String,
    /// The event name its events are reported under (`call_minutes`).
    pub event_name: String,
}

/// A monthly price of the simulated account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedPrice {
    /// The price's id (`price_...`), as the plans configuration names it.
    pub id: String,
    /// What the invoice line says (`Zencall Pro`).
    pub description: String,
    /// The amount of one unit (a month for a fee, a minute for a metered price), in minor units.
    pub unit_amount: i64,
    /// The meter it bills, for a metered price; none for a fee.
    pub meter_id: Option<String>,
    /// Units of each period billed at 0 before `unit_amount` applies (the free first tier of
    /// a graduated metered price); 0 for a fee.
    pub free_units: u64,
}

/// How the simulated account is set up.
#[derive(Debug, Clone)]
pub struct SimulatedPaymentsSettings {
    /// This deployment's public base URL, where the simulator routes are served.
    pub public_url: String,
    /// The secret the returned events are signed with (`webhooks.stripe_secret`).
    pub webhook_secret: SecretString,
    /// ISO 4217 code of every price (`eur`).
    pub currency: String,
    /// Tax added to each invoice, in basis points of its subtotal (2000 = 20 %).
    pub tax_rate_basis_points: u32,
    /// The prices checkouts may buy.
    pub prices: Vec<SimulatedPrice>,
    /// The meters metered prices bill.
    pub meters: Vec<SimulatedMeter>,
}

impl SimulatedPaymentsSettings {
    /// A simulated account selling the configured plans: each plan's fee and metered price at
    /// its configured amounts, and its meter.
    pub fn for_plans(
        billing: &zencall_core::config::BillingSettings,
        public_url: &str,
        webhook_secret: SecretString,
    ) -> Self {
        let mut prices = Vec::new();
        let mut meters: Vec<SimulatedMeter> = Vec::new();
        for plan in &billing.plans {
            prices.push(SimulatedPrice {
                id: plan.fee_price_id.clone(),
                description: format!("Zencall {}", plan.name),
                unit_amount: plan.monthly_fee_cents,
                meter_id: None,
                free_units: 0,
            });
            prices.push(SimulatedPrice {
                id: plan.metered_price_id.clone(),
                description: format!("Zencall {} minutes", plan.name),
                unit_amount: plan.minute_price_cents,
                meter_id: Some(plan.meter_id.clone()),
                free_units: u64::from(plan.included_minutes),
            });
            if !meters.iter().any(|m| m.id == plan.meter_id) {
                meters.push(SimulatedMeter {
                    id: plan.meter_id.clone(),
                    event_name: plan.meter_event_name.clone(),
                });
            }
        }
        Self {
            public_url: public_url.to_string(),
            webhook_secret,
            currency: billing.currency.clone(),
            tax_rate_basis_points: billing.simulated_tax_rate_basis_points,
            prices,
            meters,
        }
    }
}

/// An event as Stripe would POST it to our webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEvent {
    /// The event's id (`evt_...`).
    pub id: String,
    /// The event's type (`invoice.paid`).
    pub event_type: String,
    /// The raw JSON body.
    pub body: String,
    /// The `Stripe-Signature` header value for `body`.
    pub signature: String,
}

/// Simulated Stripe Billing; clones share the same account.
#[derive(Debug, Clone)]
pub struct SimulatedPayments {
    settings: Arc<SimulatedPaymentsSettings>,
    public_url: String,
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default)]
struct State {
    /// Customers by id.
    customers: HashMap<String, CustomerRecord>,
    /// Checkout sessions by id.
    sessions: HashMap<String, SessionRecord>,
    /// Subscriptions by id.
    subscriptions: HashMap<String, SubscriptionRecord>,
    /// Invoices by id, as Stripe's JSON objects in their latest state.
    invoices: HashMap<String, Value>,
    /// Meter events by identifier: a second event with the same identifier is dropped.
    meter_events: HashMap<String, MeterRecord>,
    /// The reply saved for each idempotency key, and what the request was, as Stripe keeps them.
    replies: HashMap<String, Saved>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Saved {
    Customer(CustomerSpec, String),
    Checkout(CheckoutRequest, String),
    Portal(PortalRequest, String),
}

#[derive(Debug)]
struct CustomerRecord {
    spec: CustomerSpec,
    /// The prefix of its invoice numbers, as Stripe gives each customer.
    invoice_prefix: String,
    /// Invoices numbered so far.
    invoice_count: u32,
}

#[derive(Debug)]
struct SessionRecord {
    request: CheckoutRequest,
    url: String,
    subscription_id: Option<String>,
    created: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct SubscriptionRecord {
    customer_id: String,
    org_id: String,
    fee: SimulatedPrice,
    metered: SimulatedPrice,
    /// The event name of the metered price's meter.
    event_name: String,
    fee_item_id: String,
    metered_item_id: String,
    status: &'static str,
    created: DateTime<Utc>,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    trial_start: Option<DateTime<Utc>>,
    trial_end: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct MeterRecord {
    event_name: String,
    customer_id: String,
    value: u64,
    timestamp: DateTime<Utc>,
    /// Whether an invoice has counted it.
    billed: bool,
}

/// One line to invoice.
struct LineSpec<'a> {
    price: &'a SimulatedPrice,
    quantity: u64,
    amount: i64,
    description: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// `prefix` followed by 24 random letters and digits, like Stripe's ids.
fn random_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let tail: String = (0..24)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{prefix}{tail}")
}

fn not_found() -> ProviderError {
    ProviderError::NotFound { provider: PROVIDER }
}

/// What the customer's card does when an invoice is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payment {
    /// Charged: the invoice is paid.
    Paid,
    /// Declined: the invoice stays open.
    Declined,
}

fn refused(message: String) -> ProviderError {
    ProviderError::Permanent {
        provider: PROVIDER,
        message,
    }
}

/// `seconds` past the epoch of `at`.
fn unix(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

/// One month after `at` (clamped to the month's last day, as Stripe does).
fn month_after(at: DateTime<Utc>) -> Result<DateTime<Utc>, ProviderError> {
    at.checked_add_months(Months::new(1))
        .ok_or_else(|| refused(format!("{at} is too far in the future")))
}

impl SimulatedPayments {
    /// A simulated account with the given prices and meters, on the system clock. Fails when a
    /// metered price names an unknown meter, an amount is negative, the public URL is not
    /// http(s), or the webhook secret is empty (its events could not be verified).
    pub fn new(settings: SimulatedPaymentsSettings) -> Result<Self, ProviderError> {
        let public_url = http::base_url(PROVIDER, &settings.public_url)?
            .as_str()
            .trim_end_matches('/')
            .to_string();
        if settings.webhook_secret.expose_secret().is_empty() {
            return Err(refused(
                "the webhook secret is empty: the simulated events could not be verified".into(),
            ));
        }
        let currency = settings.currency.trim().to_ascii_lowercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(refused(format!(
                "`{}` is not an ISO 4217 currency code",
                http::truncate(&settings.currency, 16)
            )));
        }
        for price in &settings.prices {
            if price.unit_amount < 0 {
                return Err(refused(format!(
                    "the price {} has a negative unit amount",
                    price.id
                )));
            }
            if let Some(meter) = &price.meter_id
                && !settings.meters.iter().any(|m| &m.id == meter)
            {
                return Err(refused(format!(
                    "the price {} bills the meter {meter}, which is not configured",
                    price.id
                )));
            }
        }
        Ok(Self {
            settings: Arc::new(SimulatedPaymentsSettings {
                currency,
                ..settings
            }),
            public_url,
            state: Arc::new(Mutex::new(State::default())),
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `clock` for every time the account records. Set it before cloning.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change is made of inserts into maps checked beforehand: a panic cannot leave a
        // half-made change behind.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn price(&self, id: &str) -> Result<&SimulatedPrice, ProviderError> {
        self.settings
            .prices
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| refused(format!("No such price: '{id}'")))
    }

    /// The checkout session `session_id` as it was asked for, while it is known.
    pub fn checkout_request(&self, session_id: &str) -> Option<CheckoutRequest> {
        self.state()
            .sessions
            .get(session_id)
            .map(|s| s.request.clone())
    }

    /// Completes the checkout `session_id` as if the buyer had paid: the subscription starts
    /// (trialing when the plan has trial days, else active) and its first invoice is paid (zero
    /// during a trial). Returns, in Stripe's order, `customer.subscription.created`,
    /// `invoice.finalized`, `invoice.paid` and `checkout.session.completed`.
    pub fn complete_checkout(&self, session_id: &str) -> Result<Vec<SignedEvent>, ProviderError> {
        let now = self.clock.now();
        let mut state = self.state();
        let session = state.sessions.get(session_id).ok_or_else(not_found)?;
        if session.subscription_id.is_some() {
            return Err(refused(format!(
                "the checkout session {session_id} is already complete"
            )));
        }
        let request = session.request.clone();
        let fee = self.price(&request.fee_price_id)?.clone();
        let metered = self.price(&request.metered_price_id)?.clone();
        let event_name = self.event_name_of(&metered)?;
        let trial_end =
            (request.trial_days > 0).then(|| now + TimeDelta::days(i64::from(request.trial_days)));
        let record = SubscriptionRecord {
            customer_id: request.customer_id.clone(),
            org_id: request.org_id.clone(),
            fee,
            metered,
            event_name,
            fee_item_id: random_id("si_"),
            metered_item_id: random_id("si_"),
            status: if trial_end.is_some() {
                "trialing"
            } else {
                "active"
            },
            created: now,
            period_start: now,
            period_end: match trial_end {
                Some(end) => end,
                None => month_after(now)?,
            },
            trial_start: trial_end.map(|_| now),
            trial_end,
        };
        let sub_id = random_id("sub_");
        let first_line = LineSpec {
            price: &record.fee,
            quantity: 1,
            amount: if trial_end.is_some() {
                0
            } else {
                record.fee.unit_amount
            },
            description: if trial_end.is_some() {
                format!("Trial period for {}", record.fee.description)
            } else {
                format!("1 × {}", record.fee.description)
            },
            start: record.period_start,
            end: record.period_end,
        };
        let (finalized, paid) = self.issue_invoice(
            &mut state,
            &sub_id,
            &record,
            vec![first_line],
            "subscription_create",
            Payment::Paid,
            now,
        )?;
        let subscription = self.subscription_json(&sub_id, &record);
        let mut session_json = json!({
            "id": session_id, "object": "checkout.session", "mode": "subscription",
            "status": "complete",
            "payment_status": if trial_end.is_some() { "no_payment_required" } else { "paid" },
            "customer": request.customer_id, "subscription": sub_id,
            "client_reference_id": request.org_id,
            "metadata": {"org_id": request.org_id},
            "success_url": request.success_url, "cancel_url": request.cancel_url,
            "currency": self.settings.currency, "url": null,
            "livemode": false,
        });
        if let Some(session) = state.sessions.get_mut(session_id) {
            session.subscription_id = Some(sub_id.clone());
            session_json["created"] = json!(unix(session.created));
        }
        state.subscriptions.insert(sub_id, record);
        drop(state);
        Ok(vec![
            self.event("customer.subscription.created", subscription, None, now),
            self.event("invoice.finalized", finalized, None, now),
            self.event("invoice.paid", paid, None, now),
            self.event("checkout.session.completed", session_json, None, now),
        ])
    }

    /// Ends the current period of `customer_id`'s live subscription now and invoices it: the
    /// usage of its meter not invoiced yet (each identifier once) at the metered price, and the
    /// fee for the period that starts. A trial ends. Returns `invoice.finalized`, `invoice.paid`
    /// and `customer.subscription.updated`.
    pub fn close_period(&self, customer_id: &str) -> Result<Vec<SignedEvent>, ProviderError> {
        self.close(customer_id, Payment::Paid)
    }

    /// As [`Self::close_period`], with the card declined: the invoice stays open, the
    /// subscription goes `past_due`. Returns `invoice.finalized`, `invoice.payment_failed` and
    /// `customer.subscription.updated`.
    pub fn close_period_declined(
        &self,
        customer_id: &str,
    ) -> Result<Vec<SignedEvent>, ProviderError> {
        self.close(customer_id, Payment::Declined)
    }

    /// Voids invoice `invoice_id`, as Stripe does for an open or uncollectible invoice (a paid
    /// one cannot be voided). Returns `invoice.voided`.
    pub fn void_invoice(&self, invoice_id: &str) -> Result<Vec<SignedEvent>, ProviderError> {
        let now = self.clock.now();
        let mut state = self.state();
        let invoice = state
            .invoices
            .get_mut(invoice_id)
            .ok_or_else(|| refused(format!("No such invoice: '{invoice_id}'")))?;
        let status = invoice["status"].as_str().unwrap_or_default().to_string();
        if !matches!(status.as_str(), "open" | "uncollectible") {
            return Err(refused(format!(
                "You can only void open or uncollectible invoices; invoice {invoice_id} is {status}"
            )));
        }
        invoice["status"] = json!("void");
        invoice["amount_remaining"] = json!(0);
        invoice["status_transitions"]["voided_at"] = json!(unix(now));
        let voided = invoice.clone();
        drop(state);
        Ok(vec![self.event(
            "invoice.voided",
            voided,
            Some(json!({"status": status})),
            now,
        )])
    }

    fn close(
        &self,
        customer_id: &str,
        payment: Payment,
    ) -> Result<Vec<SignedEvent>, ProviderError> {
        let now = self.clock.now();
        let mut state = self.state();
        let (sub_id, mut record) = state
            .subscriptions
            .iter()
            .filter(|(_, s)| s.customer_id == customer_id)
            // Stripe goes on invoicing a subscription whose last payment failed.
            .filter(|(_, s)| matches!(s.status, "trialing" | "active" | "past_due"))
            .max_by_key(|(_, s)| s.created)
            .map(|(id, s)| (id.clone(), s.clone()))
            .ok_or_else(|| {
                refused(format!(
                    "the customer {customer_id} has no trialing, active or past-due subscription"
                ))
            })?;
        let mut usage: u64 = 0;
        for event in state.meter_events.values_mut().filter(|e| {
            !e.billed
                && e.customer_id == customer_id
                && e.event_name == record.event_name
                && e.timestamp <= now
        }) {
            usage = usage.saturating_add(event.value);
            event.billed = true;
        }
        let next_end = month_after(now)?;
        // Graduated like Stripe's tiers: the free units first, one line per tier used.
        let free = usage.min(record.metered.free_units);
        let paid = usage - free;
        let paid_amount = i64::try_from(paid)
            .ok()
            .and_then(|u| u.checked_mul(record.metered.unit_amount))
            .ok_or_else(|| refused(format!("the usage {usage} is too large to invoice")))?;
        let mut lines = Vec::new();
        if free > 0 || paid == 0 {
            lines.push(LineSpec {
                price: &record.metered,
                quantity: free,
                amount: 0,
                description: format!("{free} × {} (tier 1 at 0.00)", record.metered.description),
                start: record.period_start,
                end: now,
            });
        }
        if paid > 0 {
            lines.push(LineSpec {
                price: &record.metered,
                quantity: paid,
                amount: paid_amount,
                description: format!("{paid} × {} (tier 2)", record.metered.description),
                start: record.period_start,
                end: now,
            });
        }
        lines.push(LineSpec {
            price: &record.fee,
            quantity: 1,
            amount: record.fee.unit_amount,
            description: format!("1 × {}", record.fee.description),
            start: now,
            end: next_end,
        });
        let (finalized, settled) = self.issue_invoice(
            &mut state,
            &sub_id,
            &record,
            lines,
            "subscription_cycle",
            payment,
            now,
        )?;
        let previous = json!({
            "status": record.status,
            "items": {"data": [
                {"id": record.fee_item_id,
                 "current_period_start": unix(record.period_start),
                 "current_period_end": unix(record.period_end)},
                {"id": record.metered_item_id,
                 "current_period_start": unix(record.period_start),
                 "current_period_end": unix(record.period_end)}
            ]}
        });
        record.status = match payment {
            Payment::Paid => "active",
            Payment::Declined => "past_due",
        };
        record.period_start = now;
        record.period_end = next_end;
        let subscription = self.subscription_json(&sub_id, &record);
        state.subscriptions.insert(sub_id, record);
        drop(state);
        let settled_type = match payment {
            Payment::Paid => "invoice.paid",
            Payment::Declined => "invoice.payment_failed",
        };
        Ok(vec![
            self.event("invoice.finalized", finalized, None, now),
            self.event(settled_type, settled, None, now),
            self.event(
                "customer.subscription.updated",
                subscription,
                Some(previous),
                now,
            ),
        ])
    }

    fn event_name_of(&self, price: &SimulatedPrice) -> Result<String, ProviderError> {
        let meter_id = price
            .meter_id
            .as_deref()
            .ok_or_else(|| refused(format!("the price {} is not metered", price.id)))?;
        self.settings
            .meters
            .iter()
            .find(|m| m.id == meter_id)
            .map(|m| m.event_name.clone())
            .ok_or_else(|| refused(format!("No such meter: '{meter_id}'")))
    }

    fn price_json(&self, price: &SimulatedPrice) -> Value {
        json!({
            "id": price.id, "object": "price", "currency": self.settings.currency,
            "unit_amount": price.unit_amount, "nickname": price.description,
            "recurring": {
                "interval": "month", "interval_count": 1,
                "usage_type": if price.meter_id.is_some() { "metered" } else { "licensed" },
                "meter": price.meter_id,
            },
        })
    }

    fn subscription_json(&self, id: &str, record: &SubscriptionRecord) -> Value {
        let item = |item_id: &str, price: &SimulatedPrice, quantity: Option<u64>| {
            json!({
                "id": item_id, "object": "subscription_item", "subscription": id,
                "price": self.price_json(price), "quantity": quantity,
                "current_period_start": unix(record.period_start),
                "current_period_end": unix(record.period_end),
            })
        };
        json!({
            "id": id, "object": "subscription", "customer": record.customer_id,
            "status": record.status, "currency": self.settings.currency,
            "created": unix(record.created), "start_date": unix(record.created),
            "cancel_at_period_end": false, "cancel_at": null, "canceled_at": null,
            "trial_start": record.trial_start.map(unix), "trial_end": record.trial_end.map(unix),
            "collection_method": "charge_automatically", "livemode": false,
            "metadata": {"org_id": record.org_id},
            "items": {"object": "list", "has_more": false, "data": [
                item(&record.fee_item_id, &record.fee, Some(1)),
                item(&record.metered_item_id, &record.metered, None),
            ]},
        })
    }

    /// Numbers, finalizes and pays an invoice of `lines`; returns its object as finalized and
    /// as paid, and keeps the latter.
    #[allow(clippy::too_many_arguments)]
    fn issue_invoice(
        &self,
        state: &mut State,
        sub_id: &str,
        record: &SubscriptionRecord,
        lines: Vec<LineSpec<'_>>,
        billing_reason: &str,
        payment: Payment,
        now: DateTime<Utc>,
    ) -> Result<(Value, Value), ProviderError> {
        let customer = state
            .customers
            .get_mut(&record.customer_id)
            .ok_or_else(|| refused(format!("No such customer: '{}'", record.customer_id)))?;
        let subtotal = lines
            .iter()
            .try_fold(0i64, |sum, line| sum.checked_add(line.amount))
            .ok_or_else(|| refused("the invoice total is too large".into()))?;
        // As Stripe Tax does for a French seller: French VAT, except reverse charge for an EU
        // business abroad with a VAT number, and none for a buyer outside the EU.
        let spec = &customer.spec;
        let country = spec
            .address
            .as_ref()
            .map(|a| a.country.to_ascii_uppercase())
            .unwrap_or_else(|| "FR".into());
        let rate = match vat::treatment(&country, spec.vat_id.as_deref()) {
            VatTreatment::Standard => i64::from(self.settings.tax_rate_basis_points),
            VatTreatment::ReverseCharge | VatTreatment::OutsideScope => 0,
        };
        // Rounded half up, to the cent.
        let tax = subtotal
            .checked_mul(rate)
            .map(|t| (t + 5_000) / 10_000)
            .ok_or_else(|| refused("the invoice total is too large".into()))?;
        let total = subtotal + tax;
        customer.invoice_count += 1;
        let number = format!("{}-{:04}", customer.invoice_prefix, customer.invoice_count);
        let id = random_id("in_");
        let spec = &customer.spec;
        let address = spec.address.as_ref().map(|a| {
            json!({"line1": a.line1, "line2": a.line2, "postal_code": a.postal_code,
                   "city": a.city, "country": a.country, "state": null})
        });
        let lines: Vec<Value> = lines
            .iter()
            .map(|line| {
                json!({
                    "id": random_id("il_"), "object": "line_item", "invoice": id,
                    "amount": line.amount, "currency": self.settings.currency,
                    "description": line.description, "quantity": line.quantity,
                    "period": {"start": unix(line.start), "end": unix(line.end)},
                    "pricing": {"type": "price_details",
                                "unit_amount_decimal": line.price.unit_amount.to_string(),
                                "price_details": {"price": line.price.id, "product": format!("prod_{}", line.price.id)}},
                    "parent": {"type": "subscription_item_details",
                               "subscription_item_details": {"subscription": sub_id}},
                })
            })
            .collect();
        let finalized = json!({
            "id": id, "object": "invoice", "number": number, "status": "open",
            "customer": record.customer_id, "customer_name": spec.name,
            "customer_email": spec.email, "customer_address": address,
            "customer_tax_ids": spec.vat_id.as_ref().map(|v| vec![json!({"type": "eu_vat", "value": v})]),
            "currency": self.settings.currency, "collection_method": "charge_automatically",
            "billing_reason": billing_reason, "livemode": false,
            "lines": {"object": "list", "has_more": false, "data": lines},
            "subtotal": subtotal, "subtotal_excluding_tax": subtotal,
            "total_taxes": [{"amount": tax, "tax_behavior": "exclusive",
                             "taxable_amount": subtotal, "type": "tax_rate_details",
                             "taxability_reason": "standard_rated"}],
            "total": total, "total_excluding_tax": subtotal,
            "amount_due": total, "amount_paid": 0, "amount_remaining": total,
            "created": unix(now), "due_date": null,
            "period_start": unix(record.period_start), "period_end": unix(now),
            "status_transitions": {"finalized_at": unix(now), "paid_at": null,
                                   "voided_at": null, "marked_uncollectible_at": null},
            "hosted_invoice_url": format!("{}/simulator/stripe/invoices/{id}", self.public_url),
            "parent": {"type": "subscription_details",
                       "subscription_details": {"subscription": sub_id,
                                                "metadata": {"org_id": record.org_id}}},
        });
        let mut settled = finalized.clone();
        match payment {
            Payment::Paid => {
                settled["status"] = json!("paid");
                settled["amount_paid"] = json!(total);
                settled["amount_remaining"] = json!(0);
                settled["status_transitions"]["paid_at"] = json!(unix(now));
            }
            Payment::Declined => {
                settled["attempt_count"] = json!(1);
                settled["attempted"] = json!(true);
            }
        }
        state.invoices.insert(id, settled.clone());
        Ok((finalized, settled))
    }

    /// The event `event_type` about `object`, signed.
    fn event(
        &self,
        event_type: &str,
        object: Value,
        previous_attributes: Option<Value>,
        now: DateTime<Utc>,
    ) -> SignedEvent {
        let id = random_id("evt_");
        let mut data = json!({ "object": object });
        if let Some(previous) = previous_attributes {
            data["previous_attributes"] = previous;
        }
        let body = json!({
            "id": id, "object": "event", "type": event_type, "created": unix(now),
            "livemode": false, "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "data": data,
        })
        .to_string();
        let signature = signatures::stripe::sign(
            self.settings.webhook_secret.expose_secret().as_bytes(),
            unix(now),
            body.as_bytes(),
        );
        SignedEvent {
            id,
            event_type: event_type.to_string(),
            body,
            signature,
        }
    }

    /// Returns the reply saved under `key`, or refuses a reuse of the key for another request,
    /// as Stripe does.
    fn replay(state: &State, key: &str, saved: &Saved) -> Result<Option<String>, ProviderError> {
        let found = state.replies.get(key);
        match (found, saved) {
            (None, _) => Ok(None),
            (Some(Saved::Customer(a, id)), Saved::Customer(b, _)) if a == b => Ok(Some(id.clone())),
            (Some(Saved::Checkout(a, id)), Saved::Checkout(b, _)) if a == b => Ok(Some(id.clone())),
            (Some(Saved::Portal(a, url)), Saved::Portal(b, _)) if a == b => Ok(Some(url.clone())),
            (Some(_), _) => Err(refused(format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with (key `{}`)",
                http::truncate(key, 64)
            ))),
        }
    }
}

#[async_trait]
impl Payments for SimulatedPayments {
    async fn create_customer(&self, spec: &CustomerSpec) -> Result<Customer, ProviderError> {
        let key = spec.idempotency_key();
        let probe = Saved::Customer(spec.clone(), String::new());
        let mut state = self.state();
        if let Some(id) = Self::replay(&state, &key, &probe)? {
            return Ok(Customer { id });
        }
        let id = random_id("cus_");
        let prefix: String = random_id("")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>()
            .to_ascii_uppercase();
        state.customers.insert(
            id.clone(),
            CustomerRecord {
                spec: spec.clone(),
                invoice_prefix: prefix,
                invoice_count: 0,
            },
        );
        state
            .replies
            .insert(key, Saved::Customer(spec.clone(), id.clone()));
        Ok(Customer { id })
    }

    async fn create_checkout_session(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CheckoutSession, ProviderError> {
        let probe = Saved::Checkout(request.clone(), String::new());
        let mut state = self.state();
        if let Some(id) = Self::replay(&state, &request.idempotency_key, &probe)? {
            let url = state
                .sessions
                .get(&id)
                .map(|s| s.url.clone())
                .ok_or_else(not_found)?;
            return Ok(CheckoutSession { id, url });
        }
        if !state.customers.contains_key(&request.customer_id) {
            return Err(refused(format!(
                "No such customer: '{}'",
                request.customer_id
            )));
        }
        let fee = self.price(&request.fee_price_id)?;
        if fee.meter_id.is_some() {
            return Err(refused(format!(
                "the fee price {} is metered; it must be a fixed monthly price",
                fee.id
            )));
        }
        let metered = self.price(&request.metered_price_id)?;
        self.event_name_of(metered)?;
        let id = random_id("cs_test_");
        let url = format!("{}/simulator/stripe/checkout/{id}", self.public_url);
        state.sessions.insert(
            id.clone(),
            SessionRecord {
                request: request.clone(),
                url: url.clone(),
                subscription_id: None,
                created: self.clock.now(),
            },
        );
        state.replies.insert(
            request.idempotency_key.clone(),
            Saved::Checkout(request.clone(), id.clone()),
        );
        Ok(CheckoutSession { id, url })
    }

    async fn create_portal_session(
        &self,
        request: &PortalRequest,
    ) -> Result<PortalSession, ProviderError> {
        let probe = Saved::Portal(request.clone(), String::new());
        let mut state = self.state();
        if let Some(url) = Self::replay(&state, &request.idempotency_key, &probe)? {
            return Ok(PortalSession { url });
        }
        if !state.customers.contains_key(&request.customer_id) {
            return Err(refused(format!(
                "No such customer: '{}'",
                request.customer_id
            )));
        }
        let url = format!(
            "{}/simulator/stripe/portal/{}",
            self.public_url,
            random_id("bps_")
        );
        state.replies.insert(
            request.idempotency_key.clone(),
            Saved::Portal(request.clone(), url.clone()),
        );
        Ok(PortalSession { url })
    }

    async fn report_meter_event(&self, event: &MeterEvent) -> Result<(), ProviderError> {
        if event.identifier.trim().is_empty() {
            return Err(refused("a meter event needs an identifier".into()));
        }
        if !self
            .settings
            .meters
            .iter()
            .any(|m| m.event_name == event.event_name)
        {
            return Err(refused(format!(
                "No active meter was found for the event name '{}'",
                event.event_name
            )));
        }
        let mut state = self.state();
        if !state.customers.contains_key(&event.customer_id) {
            return Err(refused(format!(
                "No such customer: '{}'",
                event.customer_id
            )));
        }
        // Stripe counts an identifier once; a replay is accepted and ignored.
        state
            .meter_events
            .entry(event.identifier.clone())
            .or_insert_with(|| MeterRecord {
                event_name: event.event_name.clone(),
                customer_id: event.customer_id.clone(),
                value: event.value,
                timestamp: event.timestamp,
                billed: false,
            });
        Ok(())
    }

    async fn retrieve_subscription(&self, id: &str) -> Result<Subscription, ProviderError> {
        let json = {
            let state = self.state();
            let record = state.subscriptions.get(id).ok_or_else(not_found)?;
            self.subscription_json(id, record).to_string()
        };
        stripe_objects::read::<WireSubscription>(PROVIDER, &json)?.into_domain(PROVIDER)
    }

    async fn retrieve_invoice(&self, id: &str) -> Result<Invoice, ProviderError> {
        let json = self
            .state()
            .invoices
            .get(id)
            .map(Value::to_string)
            .ok_or_else(not_found)?;
        stripe_objects::read::<WireInvoice>(PROVIDER, &json)?.into_domain(PROVIDER, Vec::new())
    }

    async fn list_meter_event_summaries(
        &self,
        meter_id: &str,
        customer_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MeterEventSummary>, ProviderError> {
        if end <= start {
            return Err(refused(
                "a meter summary needs an end after its start".into(),
            ));
        }
        let event_name = self
            .settings
            .meters
            .iter()
            .find(|m| m.id == meter_id)
            .map(|m| m.event_name.clone())
            .ok_or_else(not_found)?;
        let total: u64 = self
            .state()
            .meter_events
            .values()
            .filter(|e| {
                e.customer_id == customer_id
                    && e.event_name == event_name
                    && e.timestamp >= start
                    && e.timestamp < end
            })
            .map(|e| e.value)
            .fold(0u64, u64::saturating_add);
        Ok(vec![MeterEventSummary {
            start,
            end,
            aggregated_value: total as f64,
        }])
    }
}

#[cfg(test)]
mod tests {
    use zencall_core::clock::ManualClock;

    use super::*;
    use crate::payments::{InvoiceStatus, PostalAddress, SubscriptionStatus};
    use crate::signatures::SignatureError;

    const SECRET: &str = "whsec_simulated";

    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).expect("time") // 2026-01-01T00:00:00Z
    }

    fn settings() -> SimulatedPaymentsSettings {
        SimulatedPaymentsSettings {
            public_url: "http://127.0.0.1:8080/".into(),
            webhook_secret: SecretString::from(SECRET),
            currency: "EUR".into(),
            tax_rate_basis_points: 2000,
            prices: vec![
                SimulatedPrice {
                    id: "price_pro".into(),
                    description: "Zencall Pro".into(),
                    unit_amount: 4900,
                    meter_id: None,
                    free_units: 0,
                },
                SimulatedPrice {
                    id: "price_minutes".into(),
                    description: "Minutes d'appel".into(),
                    unit_amount: 15,
                    meter_id: Some("mtr_minutes".into()),
                    free_units: 0,
                },
            ],
            meters: vec![SimulatedMeter {
                id: "mtr_minutes".into(),
                event_name: "call_minutes".into(),
            }],
        }
    }

    fn simulator(clock: &ManualClock) -> SimulatedPayments {
        SimulatedPayments::new(settings())
            .expect("simulator")
            .with_clock(Arc::new(clock.clone()))
    }

    fn spec(org_id: &str) -> CustomerSpec {
        CustomerSpec {
            org_id: org_id.into(),
            name: "Salon Dupont SARL".into(),
            email: "compta@dupont.fr".into(),
            address: Some(PostalAddress {
                line1: "12 rue de la Paix".into(),
                line2: None,
                postal_code: "75002".into(),
                city: "Paris".into(),
                country: "FR".into(),
            }),
            vat_id: None,
        }
    }

    fn checkout(customer_id: &str, trial_days: u32, key: &str) -> CheckoutRequest {
        CheckoutRequest {
            org_id: "org_1".into(),
            customer_id: customer_id.into(),
            fee_price_id: "price_pro".into(),
            metered_price_id: "price_minutes".into(),
            trial_days,
            success_url: "http://127.0.0.1:8080/billing?ok=1".into(),
            cancel_url: "http://127.0.0.1:8080/billing".into(),
            idempotency_key: key.into(),
        }
    }

    fn minutes(customer_id: &str, call: &str, value: u64, at: DateTime<Utc>) -> MeterEvent {
        MeterEvent {
            event_name: "call_minutes".into(),
            customer_id: customer_id.into(),
            value,
            identifier: call.into(),
            timestamp: at,
        }
    }

    fn body(event: &SignedEvent) -> Value {
        serde_json::from_str(&event.body).expect("json body")
    }

    fn types(events: &[SignedEvent]) -> Vec<&str> {
        events.iter().map(|e| e.event_type.as_str()).collect()
    }

    /// A subscribed customer: its id and the checkout's events.
    async fn subscribed(
        payments: &SimulatedPayments,
        trial_days: u32,
    ) -> (String, Vec<SignedEvent>) {
        let customer = payments
            .create_customer(&spec("org_1"))
            .await
            .expect("customer");
        let session = payments
            .create_checkout_session(&checkout(&customer.id, trial_days, "checkout:1"))
            .await
            .expect("session");
        let events = payments.complete_checkout(&session.id).expect("completed");
        (customer.id, events)
    }

    #[tokio::test]
    async fn every_event_verifies_with_the_webhook_verifier_and_only_with_its_secret() {
        let clock = ManualClock::new(start());
        let payments = simulator(&clock);
        let (customer, mut events) = subscribed(&payments, 0).await;
        clock.advance(TimeDelta::days(31));
        events.extend(payments.close_period(&customer).expect("closed"));
        assert_eq!(events.len(), 7);
        for event in &events {
            let created = body(event)["created"].as_i64().expect("created");
            assert_eq!(
                signatures::stripe::verify(
                    Some(&event.signature),
                    event.body.as_bytes(),
                    &[SECRET.as_bytes()],
                    created
                ),
                Ok(()),
                "{}",
                event.event_type
            );
            assert_eq!(
                signatures::stripe::verify(
                    Some(&event.signature),
                    event.body.as_bytes(),
                    &[b"whsec_other".as_slice()],
                    created
                ),
                Err(SignatureError::Mismatch)
            );
            let value = body(event);
            assert_eq!(value["id"].as_str(), Some(event.id.as_str()));
            assert!(event.id.starts_with("evt_"));
            assert_eq!(value["type"].as_str(), Some(event.event_type.as_str()));
            assert!(value["data"]["object"]["id"].is_string());
        }
        let ids: std::collections::HashSet<_> = events.iter().map(|e| &e.id).collect();
        assert_eq!(ids.len(), events.len(), "event ids are unique");
    }

    #[tokio::test]
    async fn a_checkout_url_points_at_the_simulator_route_and_its_key_gives_it_back() {
        let clock = ManualClock::new(start());
        let payments = simulator(&clock);
        let customer = payments
            .create_customer(&spec("org_1"))
            .await
            .expect("customer");
        let again = payments
            .create_customer(&spec("org_1"))
            .await
            .expect("again");
        assert_eq!(customer, again, "the org's key gives the same customer");
        let other = payments
            .create_customer(&spec("org_2"))
            .await
            .expect("other");
        assert_ne!(customer, other);
        let session = payments
            .create_checkout_session(&checkout(&customer.id, 14, "checkout:1"))
            .await
            .expect("session");
        assert_eq!(
            session.url,
            format!(
                "http://127.0.0.1:8080/simulator/stripe/checkout/{}",
                session.id
            )
        );
        let replay = payments
            .create_checkout_session(&checkout(&customer.id, 14, "checkout:1"))
            .await
            .expect("replay");
        assert_eq!(replay, session);
        let misuse = payments
            .create_checkout_session(&checkout(&customer.id, 0, "checkout:1"))
            .await
            .expect_err("same key, other parameters");
        assert!(misuse.to_string().contains("same parameters"), "{misuse}");
        assert_eq!(
            payments.checkout_request(&session.id).map(|r| r.trial_days),
            Some(14)
        );
    }

    #[tokio::test]
    async fn completing_a_checkout_with_a_trial_starts_a_trialing_subscription() {
        let clock = ManualClock::new(start());
        let payments = simulator(&clock);
        let (customer, events) = subscribed(&payments, 14).await;
        assert_eq!(
            types(&events),
            vec![
                "customer.subscription.created",
                "invoice.finalized",
                "invoice.paid",
                "checkout.session.completed"
            ]
        );
        let completed = body(&events[3]);
        let object = &completed["data"]["object"];
        assert_eq!(object["client_reference_id"], "org_1");
        assert_eq!(object["customer"], customer.as_str());
        assert_eq!(object["status"], "complete");
        let sub_id = object["subscription"].as_str().expect("subscription id");
        let sub = payments.retrieve_subscription(sub_id).await.expect("sub");
        assert_eq!(sub.status, SubscriptionStatus::Trialing);
        assert_eq!(sub.customer_id, customer);
        assert_eq!(sub.org_id.as_deref(), Some("org_1"));
        assert_eq!(sub.price_ids, vec!["price_pro", "price_minutes"]);
        assert_eq!(sub.current_period_start, start());
        assert_eq!(sub.trial_end, Some(start() + TimeDelta::days(14)));
        assert_eq!(sub.current_period_end, start() + TimeDelta::days(14));
        // The subscription in the event reads the same as the one retrieved.
        let in_event: WireSubscription =
            serde_json::from_value(body(&events[0])["data"]["object"].clone()).expect("wire");
        assert_eq!(in_event.into_domain(PROVIDER).expect("domain"), sub);
        // The trial's first invoice is free.
        let invoice_id = body(&events[2])["data"]["object"]["id"]
            .as_str()
            .expect("invoice id")
            .to_string();
        let invoice = payments
            .retrieve_invoice(&invoice_id)
            .await
            .expect("invoice");
        assert_eq!((invoice.subtotal, invoice.tax, invoice.total), (0, 0, 0));
        assert_eq!(invoice.status, InvoiceStatus::Paid);
        assert_eq!(payments.complete_checkout("cs_unknown"), Err(not_found()));
        let session_id = completed["data"]["object"]["id"].as_str().expect("id");
        assert!(payments.complete_checkout(session_id).is_err(), "twice");
    }

    #[tokio::test]
    async fn completing_a_checkout_without_trial_charges_the_first_month() {
        let clock = ManualClock::new(start());
        let payments = simulator(&clock);
        let (_, events) = subscribed(&payments, 0).await;
        let paid = body(&events[2]);
        let invoice = &paid["data"]["object"];
        assert_eq!(invoice["status"], "paid");
        assert_eq!(invoice["subtotal"], 4900);
        assert_eq!(invoice["total"], 5880);
        let sub_id = body(&events[0])["data"]["object"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        let sub = payments.retrieve_subscription(&sub_id).await.expect("sub");
        assert_eq!(sub.status, SubscriptionStatus::Active);
        assert_eq!(sub.trial_end, None);
        // 2026-01-01 plus one month.
        assert_eq!(
            sub.current_period_end,
            DateTime::from_timestamp(1_769_904_000, 0).expect("time")
        );
    }

    #[tokio::test]
    async fn duplicate_meter_identifiers_are_counted_once() {
        let clock = ManualClock::new(start());
        let payments = simulator(&clock);
        let (customer, _) = subscribed(&payments, 14).await;
        let t = start() + TimeDelta::hours(2);
        for event in [
            minutes(&customer, "call_A", 3, t),
            minutes(&customer, "call_B", 5, t + TimeDelta::minutes(10)),
            minutes(&customer, "call_A", 3, t),
            // The same identifier with another value is still the first event.
            minutes(&customer, "call_B", 50, t + TimeDelta::minutes(10)),
        ] {
            payments.report_meter_event(&event).await.expect("reported");
        }
        let summaries = payments
            .list_meter_event_summaries(
                "mtr_minutes",
                &customer,
                start(),
                start() + TimeDelta::days(1),
            )
            .await
            .expect("summaries");
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].aggregated_value, 8.0);
        let outside = payments
            .list_meter_event_summaries(
                "mtr_minutes",
                &customer,
                start() + TimeDelta::days(1),
                start() + TimeDelta::days(2),
            )
            .await
            .expect("summaries");
        assert_eq!(outside[0].aggregated_value, 0.0);

        clock.advance(TimeDelta::days(14));
        let events = payments.close_period(&customer).expect("closed");
        let invoice: Value = body(&events[1])["data"]["object"].clone();
        let metered = &invoice["lines"]["data"][0];
        assert_eq!(metered["quantity"], 8);
        assert_eq!(metered["amount"], 8 * 15);
    }

    #[tokio::test]
    async fn closing_a_period_invoices_the_usage_and_the_next_fee_and_ends_the_trial() {
        let clock = ManualClock::new(start());
        let payments = simulator(&clock);
        let (customer, checkout_events) = subscribed(&payments, 14).await;
        let sub_id = body(&checkout_events[0])["data"]["object"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        payments
            .report_meter_event(&minutes(
                &customer,
                "call_1",
                40,
                start() + TimeDelta::days(3),
            ))
            .await
            .expect("reported");
        payments
            .report_meter_event(&minutes(
                &customer,
                "call_2",
                15,
                start() + TimeDelta::days(9),
            ))
            .await
            .expect("reported");
        clock.advance(TimeDelta::days(14));
        let closed_at = clock.now();
        let events = payments.close_period(&customer).expect("closed");
        assert_eq!(
            types(&events),
            vec![
                "invoice.finalized",
                "invoice.paid",
                "customer.subscription.updated"
            ]
        );
        let finalized = body(&events[0]);
        assert_eq!(finalized["data"]["object"]["status"], "open");
        let invoice_id = finalized["data"]["object"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        let invoice = payments
            .retrieve_invoice(&invoice_id)
            .await
            .expect("invoice");
        assert_eq!(invoice.status, InvoiceStatus::Paid);
        assert_eq!(invoice.customer_id, customer);
        assert_eq!(invoice.subscription_id.as_deref(), Some(sub_id.as_str()));
        assert_eq!(invoice.currency, "eur");
        let lines: Vec<_> = invoice
            .lines
            .iter()
            .map(|l| (l.price_id.as_deref(), l.quantity, l.amount))
            .collect();
        assert_eq!(
            lines,
            vec![
                (Some("price_minutes"), Some(55), 55 * 15),
                (Some("price_pro"), Some(1), 4900)
            ]
        );
        assert_eq!(invoice.lines[0].period_start, start());
        assert_eq!(invoice.lines[0].period_end, closed_at);
        assert_eq!(invoice.lines[1].period_start, closed_at);
        assert_eq!(invoice.subtotal, 5725);
        assert_eq!(invoice.tax, 1145);
        assert_eq!(invoice.total, 6870);
        assert_eq!(invoice.finalized_at, Some(closed_at));
        assert_eq!(invoice.paid_at, Some(closed_at));
        let number = invoice.number.clone().expect("number");
        assert!(number.ends_with("-0002"), "{number}");
        // The invoice in the paid event reads the same as the one retrieved.
        let in_event: WireInvoice =
            serde_json::from_value(body(&events[1])["data"]["object"].clone()).expect("wire");
        assert_eq!(
            in_event.into_domain(PROVIDER, Vec::new()).expect("domain"),
            invoice
        );

        let updated = body(&events[2]);
        assert_eq!(updated["data"]["object"]["status"], "active");
        assert_eq!(updated["data"]["previous_attributes"]["status"], "trialing");
        let sub = payments.retrieve_subscription(&sub_id).await.expect("sub");
        assert_eq!(sub.status, SubscriptionStatus::Active);
        assert_eq!(sub.current_period_start, closed_at);

        // Usage already invoiced is not invoiced again.
        clock.advance(TimeDelta::days(31));
        let next = payments.close_period(&customer).expect("closed again");
        let invoice = &body(&next[1])["data"]["object"];
        assert_eq!(invoice["lines"]["data"][0]["quantity"], 0);
        assert_eq!(invoice["subtotal"], 4900);
    }

    #[tokio::test]
    async fn a_declined_card_leaves_the_invoice_open_until_it_is_voided() {
        let clock = ManualClock::new(start());
        let payments = simulator(&clock);
        let customer = payments
            .create_customer(&spec("org_1"))
            .await
            .expect("customer")
            .id;
        let session = payments
            .create_checkout_session(&checkout(&customer, 0, "checkout:1"))
            .await
            .expect("session");
        payments.complete_checkout(&session.id).expect("completed");
        clock.advance(TimeDelta::days(30));
        let paid_id = |events: &[SignedEvent], i: usize| {
            body(&events[i])["data"]["object"]["id"]
                .as_str()
                .expect("id")
                .to_string()
        };
        let events = payments.close_period_declined(&customer).expect("closed");
        assert_eq!(
            types(&events),
            vec![
                "invoice.finalized",
                "invoice.payment_failed",
                "customer.subscription.updated"
            ]
        );
        assert_eq!(body(&events[2])["data"]["object"]["status"], "past_due");
        let open = paid_id(&events, 1);
        let invoice = payments.retrieve_invoice(&open).await.expect("invoice");
        assert_eq!(invoice.status, InvoiceStatus::Open);
        assert_eq!(invoice.paid_at, None);

        let voided = payments.void_invoice(&open).expect("voided");
        assert_eq!(types(&voided), vec!["invoice.voided"]);
        assert_eq!(body(&voided[0])["data"]["object"]["status"], "void");
        assert_eq!(
            body(&voided[0])["data"]["previous_attributes"]["status"],
            "open"
        );
        let invoice = payments.retrieve_invoice(&open).await.expect("invoice");
        assert_eq!(invoice.status, InvoiceStatus::Void);
        // Void is final, a paid invoice cannot be voided, and an unknown one is refused.
        let err = payments.void_invoice(&open).expect_err("void twice");
        assert!(err.to_string().contains("is void"), "{err}");
        clock.advance(TimeDelta::days(30));
        let paid = payments.close_period(&customer).expect("closed");
        let err = payments
            .void_invoice(&paid_id(&paid, 1))
            .expect_err("a paid invoice");
        assert!(err.to_string().contains("is paid"), "{err}");
        assert!(payments.void_invoice("in_nope").is_err());
    }

    #[tokio::test]
    async fn bad_input_is_refused_with_a_clear_error() {
        let clock = ManualClock::new(start());
        let payments = simulator(&clock);
        assert!(payments.close_period("cus_nobody").is_err());
        let customer = payments
            .create_customer(&spec("org_1"))
            .await
            .expect("customer");
        let mut swapped = checkout(&customer.id, 0, "checkout:swapped");
        swapped.fee_price_id = "price_minutes".into();
        swapped.metered_price_id = "price_pro".into();
        let err = payments
            .create_checkout_session(&swapped)
            .await
            .expect_err("a metered fee");
        assert!(err.to_string().contains("metered"), "{err}");
        let err = payments
            .create_checkout_session(&checkout("cus_nobody", 0, "checkout:2"))
            .await
            .expect_err("unknown customer");
        assert!(err.to_string().contains("No such customer"), "{err}");
        let mut unknown_meter = minutes(&customer.id, "call_1", 1, start());
        unknown_meter.event_name = "sms".into();
        assert!(payments.report_meter_event(&unknown_meter).await.is_err());
        assert!(
            payments
                .report_meter_event(&minutes(&customer.id, " ", 1, start()))
                .await
                .is_err()
        );
        assert_eq!(
            payments.retrieve_invoice("in_nothing").await,
            Err(not_found())
        );
        assert_eq!(
            payments.retrieve_subscription("sub_nothing").await,
            Err(not_found())
        );
        assert!(
            payments
                .list_meter_event_summaries("mtr_minutes", &customer.id, start(), start())
                .await
                .is_err()
        );
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let mut s = settings();
        s.prices[1].meter_id = Some("mtr_missing".into());
        assert!(SimulatedPayments::new(s).is_err());
        let mut s = settings();
        s.webhook_secret = SecretString::from("");
        assert!(SimulatedPayments::new(s).is_err());
        let mut s = settings();
        s.prices[0].unit_amount = -1;
        assert!(SimulatedPayments::new(s).is_err());
        let mut s = settings();
        s.public_url = "not a url".into();
        assert!(SimulatedPayments::new(s).is_err());
        let mut s = settings();
        s.currency = "euro".into();
        assert!(SimulatedPayments::new(s).is_err());
    }

    #[tokio::test]
    async fn a_portal_session_points_at_the_simulator_and_its_key_gives_it_back() {
        let clock = ManualClock::new(start());
        let payments = simulator(&clock);
        let customer = payments
            .create_customer(&spec("org_1"))
            .await
            .expect("customer");
        let request = PortalRequest {
            customer_id: customer.id,
            return_url: "http://127.0.0.1:8080/billing".into(),
            idempotency_key: "portal:1".into(),
        };
        let portal = payments
            .create_portal_session(&request)
            .await
            .expect("portal");
        assert!(
            portal
                .url
                .starts_with("http://127.0.0.1:8080/simulator/stripe/portal/bps_"),
            "{}",
            portal.url
        );
        assert_eq!(
            payments
                .create_portal_session(&request)
                .await
                .expect("again"),
            portal
        );
    }
}
