//! The Stripe adapter: [`Payments`] over Stripe's API through async-stripe, which builds the
//! form-encoded requests, sends them with the secret key as a bearer token, pins the API version
//! and sets the `Idempotency-Key` header. Each request is sent once: retries belong to the job
//! that made the call, which sorts the error ([`ProviderError`]) and backs off.
//!
//! Responses are decoded into the few fields billing reads ([`crate::stripe_objects`] says why),
//! by asking async-stripe for the response as a generic JSON value.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use stripe_billing::billing_meter_event_summary::ListIdBillingMeterEventSummary;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::RetrieveInvoice;
use stripe_billing::invoice_line_item::ListInvoiceInvoiceLineItem;
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::{
    CreateCustomer, CreateCustomerTaxIdData, CreateCustomerTaxIdDataType,
    OptionalFieldsCustomerAddress,
};
use zencall_core::config::StripeSettings;

use crate::payments::{
    CheckoutRequest, CheckoutSession, Customer, CustomerSpec, Invoice, MeterEvent,
    MeterEventSummary, Payments, PortalRequest, PortalSession, Subscription,
};
use crate::stripe_objects::{
    self, Created, List, WireInvoice, WireInvoiceLine, WireMeterEventSummary, WireSubscription,
};
use crate::{ProviderError, http};

/// The provider name in errors.
const PROVIDER: &str = "stripe";

/// Items asked per page of a list (Stripe's maximum).
const PAGE_SIZE: i64 = 100;

/// Pages read at most from one list; past it the answer would be too large to be right.
const MAX_PAGES: usize = 100;

/// The metadata key carrying our organisation id on Stripe's objects.
const ORG_ID: &str = "org_id";

/// A Stripe client for one account, cheap to clone.
#[derive(Debug, Clone)]
pub struct StripePayments {
    client: stripe::Client,
    secret_key: SecretString,
}

impl StripePayments {
    /// Builds a client for the configured account. Fails on an empty or publishable key, an
    /// unusable base URL, or a zero timeout.
    pub fn new(settings: &StripeSettings) -> Result<Self, ProviderError> {
        let key = settings.secret_key.expose_secret().trim();
        if key.is_empty() {
            return Err(http::permanent(
                PROVIDER,
                "providers.stripe.secret_key is empty",
            ));
        }
        if key.starts_with("pk_") {
            return Err(http::permanent(
                PROVIDER,
                "providers.stripe.secret_key is a publishable key (pk_...); a secret key (sk_... or rk_...) is needed",
            ));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(http::permanent(
                PROVIDER,
                "providers.stripe.secret_key holds characters a key cannot have",
            ));
        }
        if settings.timeout_ms == 0 {
            return Err(http::permanent(
                PROVIDER,
                "providers.stripe.timeout_ms must be greater than 0",
            ));
        }
        // async-stripe appends `v1/...` to the base as written, so it must end with a slash.
        let mut base = http::base_url(PROVIDER, &settings.base_url)?.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        let client = stripe::ClientBuilder::new(key)
            .url(base)
            .timeout(Duration::from_millis(settings.timeout_ms))
            .app_info("zencall", Some(env!("CARGO_PKG_VERSION").to_string()), None)
            .build()
            .map_err(|e| {
                http::permanent(PROVIDER, &format!("cannot build the Stripe client: {e}"))
            })?;
        Ok(Self {
            client,
            secret_key: SecretString::from(key),
        })
    }

    /// Sends `request` once, with `idempotency_key` if it is a write, and reads the reply as `T`.
    async fn send<T: DeserializeOwned>(
        &self,
        request: &impl StripeRequest,
        idempotency_key: Option<&str>,
    ) -> Result<T, ProviderError> {
        let mut customized = request.build().customize::<miniserde::json::Value>();
        if let Some(key) = idempotency_key {
            let key = IdempotencyKey::new(key).map_err(|e| {
                http::permanent(
                    PROVIDER,
                    &format!(
                        "the idempotency key `{}` is unusable: {e}",
                        http::truncate(key, 64)
                    ),
                )
            })?;
            customized = customized.request_strategy(RequestStrategy::Idempotent(key));
        }
        let value = customized
            .send(&self.client)
            .await
            .map_err(|e| self.sort(e))?;
        stripe_objects::read(PROVIDER, &miniserde::json::to_string(&value))
    }

    /// Sorts async-stripe's error into a [`ProviderError`], with Stripe's own message.
    fn sort(&self, error: StripeError) -> ProviderError {
        let secrets = [self.secret_key.expose_secret()];
        match error {
            StripeError::Stripe(api, status) => {
                let mut message = api.message.clone().unwrap_or_default();
                if let Some(code) = &api.code {
                    message = format!("{message} ({})", code.as_str());
                }
                let failure = http::Failure {
                    status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                    retry_after: None,
                    body: Some(serde_json::json!({ "message": message.trim() })),
                    text: String::new(),
                };
                match failure.status {
                    // Another request with the same idempotency key is still being processed:
                    // trying again later gets its saved reply.
                    StatusCode::CONFLICT => ProviderError::Transient {
                        provider: PROVIDER,
                        message: http::truncate(
                            &http::redact(&format!("conflict (HTTP 409): {message}"), &secrets),
                            300,
                        ),
                        retry_after: None,
                    },
                    _ => failure.into_error(PROVIDER, &secrets),
                }
            }
            StripeError::Timeout => ProviderError::Transient {
                provider: PROVIDER,
                message: "the request timed out".into(),
                retry_after: None,
            },
            StripeError::ClientError(message) => ProviderError::Transient {
                provider: PROVIDER,
                message: format!(
                    "the request failed: {}",
                    http::truncate(&http::redact(&message, &secrets), 300)
                ),
                retry_after: None,
            },
            // async-stripe gives no status when an error's body is not Stripe's JSON, which is
            // what a proxy or load balancer in front of Stripe sends when it fails: retry.
            StripeError::JSONDeserialize(message) if message.contains("Stripe error") => {
                ProviderError::Transient {
                    provider: PROVIDER,
                    message: "Stripe answered an error that is not Stripe's JSON".into(),
                    retry_after: None,
                }
            }
            StripeError::JSONDeserialize(message) => {
                http::permanent(PROVIDER, &format!("unexpected response: {message}"))
            }
            StripeError::ConfigError(message) => http::permanent(
                PROVIDER,
                &format!("the Stripe client is misconfigured: {message}"),
            ),
        }
    }
}

/// The Stripe tax id type of an intra-community (or UK, Swiss, Norwegian) VAT number, read
/// from its country prefix.
fn vat_id_type(vat_id: &str) -> Result<CreateCustomerTaxIdDataType, ProviderError> {
    const EU: [&str; 28] = [
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE",
        "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI",
    ];
    let prefix: String = vat_id
        .trim()
        .chars()
        .take(2)
        .collect::<String>()
        .to_ascii_uppercase();
    Ok(match prefix.as_str() {
        p if EU.contains(&p) => CreateCustomerTaxIdDataType::EuVat,
        "GB" => CreateCustomerTaxIdDataType::GbVat,
        "CH" => CreateCustomerTaxIdDataType::ChVat,
        "NO" => CreateCustomerTaxIdDataType::NoVat,
        _ => {
            return Err(http::permanent(
                PROVIDER,
                &format!(
                    "the VAT id `{}` does not start with the code of an EU country, GB, CH or NO",
                    http::truncate(vat_id, 32)
                ),
            ));
        }
    })
}

/// A non-empty identifier that can stand in a path.
fn id<'a>(what: &str, value: &'a str) -> Result<&'a str, ProviderError> {
    http::segment(PROVIDER, what, value)
}

#[async_trait]
impl Payments for StripePayments {
    async fn create_customer(&self, spec: &CustomerSpec) -> Result<Customer, ProviderError> {
        let mut request = CreateCustomer::new()
            .name(spec.name.as_str())
            .email(spec.email.as_str())
            .metadata(HashMap::from([(ORG_ID.to_string(), spec.org_id.clone())]));
        if let Some(address) = &spec.address {
            let mut fields = OptionalFieldsCustomerAddress::new();
            fields.line1 = Some(address.line1.clone());
            fields.line2 = address.line2.clone().filter(|l| !l.trim().is_empty());
            fields.postal_code = Some(address.postal_code.clone());
            fields.city = Some(address.city.clone());
            fields.country = Some(address.country.to_ascii_uppercase());
            request = request.address(fields);
        }
        if let Some(vat_id) = spec.vat_id.as_deref().filter(|v| !v.trim().is_empty()) {
            request = request.tax_id_data(vec![CreateCustomerTaxIdData::new(
                vat_id_type(vat_id)?,
                vat_id.trim(),
            )]);
        }
        let created: Created = self.send(&request, Some(&spec.idempotency_key())).await?;
        Ok(Customer { id: created.id })
    }

    async fn create_checkout_session(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CheckoutSession, ProviderError> {
        let metadata = HashMap::from([(ORG_ID.to_string(), request.org_id.clone())]);
        let mut fee = CreateCheckoutSessionLineItems::new();
        fee.price = Some(request.fee_price_id.clone());
        fee.quantity = Some(1);
        // A metered price takes no quantity: usage comes from the meter.
        let mut metered = CreateCheckoutSessionLineItems::new();
        metered.price = Some(request.metered_price_id.clone());
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(metadata.clone());
        if request.trial_days > 0 {
            subscription.trial_period_days = Some(request.trial_days);
        }
        let session = CreateCheckoutSession::new()
            .mode(stripe_checkout::CheckoutSessionMode::Subscription)
            .customer(request.customer_id.as_str())
            .client_reference_id(request.org_id.as_str())
            .line_items(vec![fee, metered])
            .subscription_data(subscription)
            .metadata(metadata)
            .success_url(request.success_url.as_str())
            .cancel_url(request.cancel_url.as_str());
        let created: Created = self.send(&session, Some(&request.idempotency_key)).await?;
        let url = created.url.filter(|u| !u.is_empty()).ok_or_else(|| {
            http::permanent(
                PROVIDER,
                &format!(
                    "unexpected response: the checkout session {} has no URL",
                    created.id
                ),
            )
        })?;
        Ok(CheckoutSession {
            id: created.id,
            url,
        })
    }

    async fn create_portal_session(
        &self,
        request: &PortalRequest,
    ) -> Result<PortalSession, ProviderError> {
        let session = CreateBillingPortalSession::new()
            .customer(request.customer_id.as_str())
            .return_url(request.return_url.as_str());
        let created: Created = self.send(&session, Some(&request.idempotency_key)).await?;
        let url = created.url.filter(|u| !u.is_empty()).ok_or_else(|| {
            http::permanent(
                PROVIDER,
                "unexpected response: the portal session has no URL",
            )
        })?;
        Ok(PortalSession { url })
    }

    async fn report_meter_event(&self, event: &MeterEvent) -> Result<(), ProviderError> {
        if event.identifier.trim().is_empty() {
            return Err(http::permanent(
                PROVIDER,
                "a meter event needs an identifier",
            ));
        }
        let payload = HashMap::from([
            ("stripe_customer_id".to_string(), event.customer_id.clone()),
            ("value".to_string(), event.value.to_string()),
        ]);
        let request = CreateBillingMeterEvent::new(event.event_name.as_str(), payload)
            .identifier(event.identifier.as_str())
            .timestamp(event.timestamp.timestamp());
        let _: serde_json::Value = self.send(&request, Some(&event.idempotency_key())).await?;
        Ok(())
    }

    async fn retrieve_subscription(&self, sub_id: &str) -> Result<Subscription, ProviderError> {
        let request = RetrieveSubscription::new(id("subscription id", sub_id)?);
        let wire: WireSubscription = self.send(&request, None).await?;
        wire.into_domain(PROVIDER)
    }

    async fn retrieve_invoice(&self, invoice_id: &str) -> Result<Invoice, ProviderError> {
        let invoice_id = id("invoice id", invoice_id)?;
        let wire: WireInvoice = self.send(&RetrieveInvoice::new(invoice_id), None).await?;
        // The invoice carries its first lines only; the rest are read page by page.
        let mut more = Vec::new();
        let mut has_more = wire.lines.has_more;
        let mut after = wire.lines.data.last().map(|l| l.id.clone());
        for _ in 0..MAX_PAGES {
            let (true, Some(last)) = (has_more, after.clone()) else {
                return wire.into_domain(PROVIDER, more);
            };
            let request = ListInvoiceInvoiceLineItem::new(invoice_id)
                .limit(PAGE_SIZE)
                .starting_after(last);
            let page: List<WireInvoiceLine> = self.send(&request, None).await?;
            has_more = page.has_more;
            after = page.data.last().map(|l| l.id.clone());
            more.extend(page.data);
        }
        Err(http::permanent(
            PROVIDER,
            &format!("the invoice {invoice_id} has more lines than can be read"),
        ))
    }

    async fn list_meter_event_summaries(
        &self,
        meter_id: &str,
        customer_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MeterEventSummary>, ProviderError> {
        let meter_id = id("meter id", meter_id)?;
        if end <= start {
            return Err(http::permanent(
                PROVIDER,
                "a meter summary needs an end after its start",
            ));
        }
        let mut summaries = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut request = ListIdBillingMeterEventSummary::new(
                meter_id,
                customer_id,
                end.timestamp(),
                start.timestamp(),
            )
            .limit(PAGE_SIZE);
            if let Some(last) = &after {
                request = request.starting_after(last.as_str());
            }
            let page: List<WireMeterEventSummary> = self.send(&request, None).await?;
            after = page.data.last().map(|s| s.id.clone());
            let has_more = page.has_more && after.is_some();
            for summary in page.data {
                summaries.push(summary.into_domain(PROVIDER)?);
            }
            if !has_more {
                return Ok(summaries);
            }
        }
        Err(http::permanent(
            PROVIDER,
            "the meter has more summaries than can be read",
        ))
    }
}
