//! `[billing]`: the plans an organisation can subscribe to, and the rules of billing (grace
//! period, rounding of call minutes, where Checkout sends the buyer back). Validated at start-up
//! with errors that name the key; the plans are looked up by name (checkout) or by their Stripe
//! prices (a subscription read back from Stripe).

use serde::Deserialize;

use crate::domain::billing::MinuteRounding;
use crate::invoice_settings::{AccountingSettings, InvoiceSettings, SellerSettings};

/// `[billing]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSettings {
    /// Days an organisation may create assistants and start campaigns without a live
    /// subscription: from its creation, and again from the end of its last subscription.
    pub grace_period_days: u32,
    /// How a call's duration becomes billable minutes.
    pub minute_rounding: MinuteRounding,
    /// Where Checkout sends the buyer after paying, a path under `server.public_url`.
    pub success_path: String,
    /// Where Checkout sends the buyer who gives up, a path under `server.public_url`.
    pub cancel_path: String,
    /// Where the customer portal's "back" link leads, a path under `server.public_url`.
    pub portal_return_path: String,
    /// ISO 4217 code of the plans' prices, lower case (`eur`).
    pub currency: String,
    /// VAT the simulated payments provider adds to its invoices, in basis points (2000 = 20 %).
    pub simulated_tax_rate_basis_points: u32,
    /// The plans, in the order they are offered.
    pub plans: Vec<PlanSettings>,
    /// Who issues the invoices.
    pub seller: SellerSettings,
    /// Numbering and terms of the invoices.
    pub invoices: InvoiceSettings,
    /// The accounts of the sales journal export.
    pub accounting: AccountingSettings,
}

/// `[[billing.plans]]`: one plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// The plan's name, as `POST /v1/billing/checkout` takes it (`starter`).
    pub name: String,
    /// The Stripe price of the monthly fee (`price_...`), a licensed recurring price.
    pub fee_price_id: String,
    /// Minutes of calls included in the fee each month (the metered price's free tier at Stripe).
    pub included_minutes: u32,
    /// The Stripe metered price of call minutes (`price_...`), attached to the meter below.
    pub metered_price_id: String,
    /// The event name of the Billing Meter that counts call minutes (`call_minutes`).
    pub meter_event_name: String,
    /// The Billing Meter's id (`mtr_...`), for reading its totals back.
    pub meter_id: String,
    /// Free trial days of a new subscription; 0 for none.
    pub trial_days: u32,
    /// The monthly fee in minor units (cents): what the simulated provider charges, and the
    /// list price shown; with Stripe, the fee price's own amount is what is charged.
    pub monthly_fee_cents: i64,
    /// The price of one minute in minor units, as for `monthly_fee_cents`.
    pub minute_price_cents: i64,
}

/// Stripe's longest trial.
const MAX_TRIAL_DAYS: u32 = 730;

/// Longest grace period accepted.
const MAX_GRACE_DAYS: u32 = 365;

impl BillingSettings {
    /// The plan called `name`.
    pub fn plan(&self, name: &str) -> Option<&PlanSettings> {
        self.plans.iter().find(|p| p.name == name)
    }

    /// The plan a subscription to these prices is on: the one whose fee price is among them.
    pub fn plan_of_prices<'a>(
        &self,
        price_ids: impl IntoIterator<Item = &'a str>,
    ) -> Option<&PlanSettings> {
        let prices: Vec<&str> = price_ids.into_iter().collect();
        self.plans
            .iter()
            .find(|p| prices.contains(&p.fee_price_id.as_str()))
    }

    /// The plan whose meter counts events named `event_name`.
    pub fn plan_of_meter_event(&self, event_name: &str) -> Option<&PlanSettings> {
        self.plans.iter().find(|p| p.meter_event_name == event_name)
    }

    /// Checks every key; the error names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        if self.grace_period_days > MAX_GRACE_DAYS {
            return Err(format!(
                "billing.grace_period_days: must be at most {MAX_GRACE_DAYS}"
            ));
        }
        for (key, path) in [
            ("billing.success_path", &self.success_path),
            ("billing.cancel_path", &self.cancel_path),
            ("billing.portal_return_path", &self.portal_return_path),
        ] {
            let valid = path.starts_with('/')
                && !path.starts_with("//")
                && path.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
            if !valid {
                return Err(format!(
                    "{key}: {path:?} must be a path under server.public_url, such as /billing/done"
                ));
            }
        }
        let currency = &self.currency;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(format!(
                "billing.currency: {currency:?} must be an ISO 4217 code in lower case, such as \"eur\""
            ));
        }
        if self.simulated_tax_rate_basis_points > 10_000 {
            return Err(
                "billing.simulated_tax_rate_basis_points: must be at most 10000 (100 %)".into(),
            );
        }
        self.seller.validate()?;
        self.invoices.validate()?;
        self.accounting.validate()?;
        if self.plans.is_empty() {
            return Err("billing.plans: at least one plan is needed".into());
        }
        for (i, plan) in self.plans.iter().enumerate() {
            let at = format!("billing.plans[{i}]");
            plan.validate(&at)?;
            if self.plans[..i].iter().any(|p| p.name == plan.name) {
                return Err(format!(
                    "{at}.name: {:?} is used by another plan",
                    plan.name
                ));
            }
            if self.plans[..i]
                .iter()
                .any(|p| p.fee_price_id == plan.fee_price_id)
            {
                return Err(format!(
                    "{at}.fee_price_id: {:?} is the fee of another plan; a subscription's plan is found by its fee price",
                    plan.fee_price_id
                ));
            }
        }
        Ok(())
    }
}

impl PlanSettings {
    fn validate(&self, at: &str) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 40
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(format!(
                "{at}.name: {:?} must be 1 to 40 lower-case letters, digits, '-' or '_'",
                self.name
            ));
        }
        for (key, value, prefix) in [
            ("fee_price_id", &self.fee_price_id, "price_"),
            ("metered_price_id", &self.metered_price_id, "price_"),
            ("meter_id", &self.meter_id, "mtr_"),
        ] {
            if !value.starts_with(prefix)
                || value.len() <= prefix.len()
                || !value.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(format!(
                    "{at}.{key}: {value:?} must be a Stripe id starting with {prefix}"
                ));
            }
        }
        if self.fee_price_id == self.metered_price_id {
            return Err(format!(
                "{at}.metered_price_id: must differ from fee_price_id"
            ));
        }
        let event_ok = !self.meter_event_name.is_empty()
            && self.meter_event_name.len() <= 100
            && self
                .meter_event_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !event_ok {
            return Err(format!(
                "{at}.meter_event_name: {:?} must be a Billing Meter event name such as call_minutes",
                self.meter_event_name
            ));
        }
        if self.trial_days > MAX_TRIAL_DAYS {
            return Err(format!(
                "{at}.trial_days: must be at most {MAX_TRIAL_DAYS} (Stripe's limit)"
            ));
        }
        for (key, value) in [
            ("monthly_fee_cents", self.monthly_fee_cents),
            ("minute_price_cents", self.minute_price_cents),
        ] {
            if value < 0 {
                return Err(format!("{at}.{key}: must not be negative"));
            }
        }
        Ok(())
    }
}
