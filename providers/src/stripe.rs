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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use reqwest::Url;
    use serde_json::json;
    use wiremock::matchers::{body_string_contains, header, method, path, query_param};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    use super::*;
    use crate::payments::{InvoiceStatus, PostalAddress, SubscriptionStatus};

    const KEY: &str = "sk_test_51Secret";
    const BEARER: &str = "Bearer sk_test_51Secret";

    fn settings(base_url: &str, timeout_ms: u64) -> StripeSettings {
        StripeSettings {
            base_url: base_url.to_string(),
            secret_key: SecretString::from(KEY),
            timeout_ms,
        }
    }

    fn client(server: &MockServer) -> StripePayments {
        let _ = rustls::crypto::ring::default_provider().install_default();
        StripePayments::new(&settings(&server.uri(), 2000)).expect("client")
    }

    /// The request's form-encoded body as a map of its (decoded) keys.
    fn form(request: &Request) -> HashMap<String, String> {
        let body = String::from_utf8_lossy(&request.body);
        Url::parse(&format!("http://form/?{body}"))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default()
    }

    fn idempotency_key(request: &Request) -> Option<String> {
        request
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("time")
    }

    fn spec() -> CustomerSpec {
        CustomerSpec {
            org_id: "org_01JORG".into(),
            name: "Salon Dupont SARL".into(),
            email: "compta@dupont.fr".into(),
            address: Some(PostalAddress {
                line1: "12 rue de la Paix".into(),
                line2: None,
                postal_code: "75002".into(),
                city: "Paris".into(),
                country: "fr".into(),
            }),
            vat_id: Some("FR40303265045".into()),
        }
    }

    fn meter_event() -> MeterEvent {
        MeterEvent {
            event_name: "call_minutes".into(),
            customer_id: "cus_123".into(),
            value: 7,
            identifier: "call_01JCALL".into(),
            timestamp: at(1_767_225_600),
        }
    }

    /// A Stripe error body.
    fn stripe_error(message: &str, code: &str) -> serde_json::Value {
        json!({"error": {"type": "invalid_request_error", "code": code, "message": message,
                         "param": "customer", "request_log_url": "https://dashboard.stripe.com/logs/req_1"}})
    }

    #[tokio::test]
    async fn creating_a_customer_posts_its_identity_with_the_org_idempotency_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .and(header("authorization", BEARER))
            .and(header("idempotency-key", "customer:org_01JORG"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(|request: &Request| {
                let form = form(request);
                let field = |k: &str| form.get(k).map(String::as_str);
                field("name") == Some("Salon Dupont SARL")
                    && field("email") == Some("compta@dupont.fr")
                    && field("address[line1]") == Some("12 rue de la Paix")
                    && field("address[postal_code]") == Some("75002")
                    && field("address[city]") == Some("Paris")
                    && field("address[country]") == Some("FR")
                    && !form.contains_key("address[line2]")
                    && field("tax_id_data[0][type]") == Some("eu_vat")
                    && field("tax_id_data[0][value]") == Some("FR40303265045")
                    && field("metadata[org_id]") == Some("org_01JORG")
            })
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": "cus_123", "object": "customer"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let customer = client(&server)
            .create_customer(&spec())
            .await
            .expect("created");
        assert_eq!(customer.id, "cus_123");
    }

    #[tokio::test]
    async fn a_customer_without_address_or_vat_id_sends_neither() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .and(|request: &Request| {
                let form = form(request);
                form.contains_key("name")
                    && !form
                        .keys()
                        .any(|k| k.starts_with("address") || k.starts_with("tax_id"))
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cus_9"})))
            .expect(1)
            .mount(&server)
            .await;
        let mut spec = spec();
        spec.address = None;
        spec.vat_id = Some("  ".into());
        assert_eq!(
            client(&server)
                .create_customer(&spec)
                .await
                .expect("created")
                .id,
            "cus_9"
        );
    }

    #[test]
    fn vat_ids_map_to_stripe_tax_id_types_by_country() {
        assert_eq!(
            vat_id_type("DE123456789").expect("eu"),
            CreateCustomerTaxIdDataType::EuVat
        );
        assert_eq!(
            vat_id_type("el123456789").expect("greece"),
            CreateCustomerTaxIdDataType::EuVat
        );
        assert_eq!(
            vat_id_type("GB123456789").expect("uk"),
            CreateCustomerTaxIdDataType::GbVat
        );
        assert_eq!(
            vat_id_type("CHE-123.456.789 MWST").expect("swiss"),
            CreateCustomerTaxIdDataType::ChVat
        );
        for bad in ["US12-3456789", "", "1"] {
            assert!(vat_id_type(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn an_unknown_vat_id_is_refused_before_any_request() {
        let server = MockServer::start().await;
        let mut spec = spec();
        spec.vat_id = Some("US123".into());
        let err = client(&server)
            .create_customer(&spec)
            .await
            .expect_err("refused");
        assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
        assert!(
            server
                .received_requests()
                .await
                .unwrap_or_default()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_checkout_session_buys_the_fee_and_the_metered_price_with_the_trial() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/checkout/sessions"))
            .and(header("authorization", BEARER))
            .and(header("idempotency-key", "checkout:req_42"))
            .and(|request: &Request| {
                let form = form(request);
                let field = |k: &str| form.get(k).map(String::as_str);
                field("mode") == Some("subscription")
                    && field("customer") == Some("cus_123")
                    && field("client_reference_id") == Some("org_01JORG")
                    && field("metadata[org_id]") == Some("org_01JORG")
                    && field("line_items[0][price]") == Some("price_fee")
                    && field("line_items[0][quantity]") == Some("1")
                    && field("line_items[1][price]") == Some("price_minutes")
                    && !form.contains_key("line_items[1][quantity]")
                    && field("subscription_data[trial_period_days]") == Some("14")
                    && field("subscription_data[metadata][org_id]") == Some("org_01JORG")
                    && field("success_url") == Some("https://app.zencall.example/billing?ok=1")
                    && field("cancel_url") == Some("https://app.zencall.example/billing")
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "cs_test_a1", "object": "checkout.session",
                "url": "https://checkout.stripe.com/c/pay/cs_test_a1"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let session = client(&server)
            .create_checkout_session(&checkout(14))
            .await
            .expect("session");
        assert_eq!(
            session,
            CheckoutSession {
                id: "cs_test_a1".into(),
                url: "https://checkout.stripe.com/c/pay/cs_test_a1".into()
            }
        );
    }

    fn checkout(trial_days: u32) -> CheckoutRequest {
        CheckoutRequest {
            org_id: "org_01JORG".into(),
            customer_id: "cus_123".into(),
            fee_price_id: "price_fee".into(),
            metered_price_id: "price_minutes".into(),
            trial_days,
            success_url: "https://app.zencall.example/billing?ok=1".into(),
            cancel_url: "https://app.zencall.example/billing".into(),
            idempotency_key: "checkout:req_42".into(),
        }
    }

    #[tokio::test]
    async fn a_checkout_without_trial_sends_no_trial_days() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/checkout/sessions"))
            .and(|request: &Request| {
                let form = form(request);
                form.contains_key("mode")
                    && !form.contains_key("subscription_data[trial_period_days]")
            })
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": "cs_2", "url": "https://checkout.stripe.com/x"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        client(&server)
            .create_checkout_session(&checkout(0))
            .await
            .expect("session");
    }

    #[tokio::test]
    async fn a_portal_session_gives_its_url() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/billing_portal/sessions"))
            .and(header("authorization", BEARER))
            .and(header("idempotency-key", "portal:req_7"))
            .and(|request: &Request| {
                let form = form(request);
                form.get("customer").map(String::as_str) == Some("cus_123")
                    && form.get("return_url").map(String::as_str)
                        == Some("https://app.zencall.example/billing")
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "bps_1", "object": "billing_portal.session",
                "url": "https://billing.stripe.com/p/session/test_1"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let portal = client(&server)
            .create_portal_session(&PortalRequest {
                customer_id: "cus_123".into(),
                return_url: "https://app.zencall.example/billing".into(),
                idempotency_key: "portal:req_7".into(),
            })
            .await
            .expect("portal");
        assert_eq!(portal.url, "https://billing.stripe.com/p/session/test_1");
    }

    #[tokio::test]
    async fn a_replayed_meter_event_sends_the_same_identifier_and_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/billing/meter_events"))
            .and(header("authorization", BEARER))
            .and(|request: &Request| {
                let form = form(request);
                let field = |k: &str| form.get(k).map(String::as_str);
                field("event_name") == Some("call_minutes")
                    && field("payload[stripe_customer_id]") == Some("cus_123")
                    && field("payload[value]") == Some("7")
                    && field("identifier") == Some("call_01JCALL")
                    && field("timestamp") == Some("1767225600")
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "object": "billing.meter_event", "event_name": "call_minutes",
                "identifier": "call_01JCALL", "livemode": false, "created": 1_767_225_601,
                "payload": {"stripe_customer_id": "cus_123", "value": "7"},
                "timestamp": 1_767_225_600
            })))
            .expect(2)
            .mount(&server)
            .await;
        let stripe = client(&server);
        stripe
            .report_meter_event(&meter_event())
            .await
            .expect("reported");
        stripe
            .report_meter_event(&meter_event())
            .await
            .expect("replayed");
        let requests = server.received_requests().await.expect("recorded");
        assert_eq!(requests.len(), 2);
        let keys: Vec<_> = requests.iter().map(idempotency_key).collect();
        assert_eq!(keys[0].as_deref(), Some("meter-event:call_01JCALL"));
        assert_eq!(keys[0], keys[1]);
        assert_eq!(
            form(&requests[0]).get("identifier"),
            form(&requests[1]).get("identifier")
        );
    }

    #[tokio::test]
    async fn a_subscription_is_read_with_its_items_period_and_trial() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/subscriptions/sub_1"))
            .and(header("authorization", BEARER))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "sub_1", "object": "subscription", "customer": "cus_123",
                "status": "trialing", "cancel_at_period_end": true,
                "trial_end": 1_768_435_200,
                "metadata": {"org_id": "org_01JORG"},
                "items": {"object": "list", "has_more": false, "data": [
                    {"id": "si_1", "price": {"id": "price_fee", "object": "price"},
                     "current_period_start": 1_767_225_600, "current_period_end": 1_768_435_200},
                    {"id": "si_2", "price": {"id": "price_minutes", "object": "price"},
                     "current_period_start": 1_767_225_600, "current_period_end": 1_768_435_200}
                ]}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let sub = client(&server)
            .retrieve_subscription("sub_1")
            .await
            .expect("read");
        assert_eq!(
            sub,
            Subscription {
                id: "sub_1".into(),
                customer_id: "cus_123".into(),
                org_id: Some("org_01JORG".into()),
                status: SubscriptionStatus::Trialing,
                price_ids: vec!["price_fee".into(), "price_minutes".into()],
                current_period_start: at(1_767_225_600),
                current_period_end: at(1_768_435_200),
                trial_end: Some(at(1_768_435_200)),
                cancel_at_period_end: true,
            }
        );
        // No write, so no idempotency key.
        let requests = server.received_requests().await.expect("recorded");
        assert_eq!(idempotency_key(&requests[0]), None);
    }

    fn line(id: &str, price: &str, quantity: u64, amount: i64) -> serde_json::Value {
        json!({"id": id, "object": "line_item", "amount": amount, "quantity": quantity,
               "description": format!("{quantity} × {price}"),
               "pricing": {"type": "price_details", "price_details": {"price": price, "product": "prod_1"}},
               "period": {"start": 1_767_225_600, "end": 1_769_904_000}})
    }

    #[tokio::test]
    async fn an_invoice_is_read_with_every_line_page_by_page() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/invoices/in_1"))
            .and(header("authorization", BEARER))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "in_1", "object": "invoice", "number": "ZC-0042", "status": "paid",
                "customer": "cus_123", "currency": "eur",
                "subtotal": 5450, "total": 6540,
                "total_taxes": [{"amount": 1000}, {"amount": 90}],
                "created": 1_769_904_000, "due_date": 1_771_113_600,
                "status_transitions": {"finalized_at": 1_769_907_600, "paid_at": 1_769_911_200},
                "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_1",
                "parent": {"type": "subscription_details",
                           "subscription_details": {"subscription": "sub_1"}},
                "lines": {"object": "list", "has_more": true,
                          "data": [line("il_1", "price_fee", 1, 4900)]}
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/invoices/in_1/lines"))
            .and(query_param("starting_after", "il_1"))
            .and(query_param("limit", "100"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "object": "list", "has_more": false,
                "data": [line("il_2", "price_minutes", 55, 550)]
            })))
            .expect(1)
            .mount(&server)
            .await;
        let invoice = client(&server)
            .retrieve_invoice("in_1")
            .await
            .expect("read");
        assert_eq!(invoice.number.as_deref(), Some("ZC-0042"));
        assert_eq!(invoice.status, InvoiceStatus::Paid);
        assert_eq!(invoice.customer_id, "cus_123");
        assert_eq!(invoice.subscription_id.as_deref(), Some("sub_1"));
        assert_eq!(
            (invoice.subtotal, invoice.tax, invoice.total),
            (5450, 1090, 6540)
        );
        assert_eq!(invoice.finalized_at, Some(at(1_769_907_600)));
        assert_eq!(invoice.paid_at, Some(at(1_769_911_200)));
        assert_eq!(invoice.due_date, Some(at(1_771_113_600)));
        assert_eq!(invoice.created, at(1_769_904_000));
        assert_eq!(
            invoice.hosted_url.as_deref(),
            Some("https://invoice.stripe.com/i/acct_1/test_1")
        );
        let lines: Vec<_> = invoice
            .lines
            .iter()
            .map(|l| (l.id.as_str(), l.price_id.as_deref(), l.quantity, l.amount))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("il_1", Some("price_fee"), Some(1), 4900),
                ("il_2", Some("price_minutes"), Some(55), 550)
            ]
        );
        assert_eq!(invoice.lines[1].period_start, at(1_767_225_600));
        assert_eq!(invoice.lines[1].period_end, at(1_769_904_000));
    }

    #[tokio::test]
    async fn meter_summaries_are_listed_for_the_customer_and_period() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/billing/meters/mtr_1/event_summaries"))
            .and(header("authorization", BEARER))
            .and(query_param("customer", "cus_123"))
            .and(query_param("start_time", "1767225600"))
            .and(query_param("end_time", "1769904000"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "object": "list", "has_more": false,
                "data": [{"id": "mtrusg_1", "object": "billing.meter_event_summary",
                          "aggregated_value": 55.0, "meter": "mtr_1", "livemode": false,
                          "start_time": 1_767_225_600, "end_time": 1_769_904_000}]
            })))
            .expect(1)
            .mount(&server)
            .await;
        let summaries = client(&server)
            .list_meter_event_summaries("mtr_1", "cus_123", at(1_767_225_600), at(1_769_904_000))
            .await
            .expect("listed");
        assert_eq!(
            summaries,
            vec![MeterEventSummary {
                start: at(1_767_225_600),
                end: at(1_769_904_000),
                aggregated_value: 55.0
            }]
        );
    }

    #[tokio::test]
    async fn identifiers_that_could_leave_their_path_are_refused() {
        let server = MockServer::start().await;
        let stripe = client(&server);
        assert!(stripe.retrieve_subscription("../customers").await.is_err());
        assert!(stripe.retrieve_invoice("in_1/lines").await.is_err());
        assert!(
            stripe
                .list_meter_event_summaries("mtr?x=1", "cus_1", at(0), at(60))
                .await
                .is_err()
        );
        assert!(
            server
                .received_requests()
                .await
                .unwrap_or_default()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_refused_request_is_permanent_with_stripes_message() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(stripe_error(
                &format!("No such customer: 'cus_404' (key {KEY})"),
                "resource_missing",
            )))
            .mount(&server)
            .await;
        let err = client(&server)
            .create_checkout_session(&checkout(0))
            .await
            .expect_err("refused");
        let ProviderError::Permanent { provider, message } = err else {
            panic!("not permanent: {err:?}")
        };
        assert_eq!(provider, "stripe");
        assert!(message.contains("HTTP 400"), "{message}");
        assert!(message.contains("No such customer: 'cus_404'"), "{message}");
        assert!(message.contains("resource_missing"), "{message}");
        assert!(!message.contains(KEY), "the key leaked: {message}");
    }

    #[tokio::test]
    async fn a_rate_limited_request_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/billing/meter_events"))
            .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error": {
                "type": "invalid_request_error", "code": "rate_limit",
                "message": "Too many requests hit the API too quickly."}})))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server)
            .report_meter_event(&meter_event())
            .await
            .expect_err("limited");
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("429"), "{err}");
    }

    #[tokio::test]
    async fn a_server_error_is_transient_and_sent_once() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": {
                "type": "api_error", "message": "Something went wrong on Stripe's end."}})))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server)
            .create_customer(&spec())
            .await
            .expect_err("failed");
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("Something went wrong"), "{err}");
    }

    #[tokio::test]
    async fn a_gateway_error_without_stripes_json_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
            .mount(&server)
            .await;
        let err = client(&server)
            .retrieve_invoice("in_1")
            .await
            .expect_err("failed");
        assert!(err.is_transient(), "{err:?}");
    }

    #[tokio::test]
    async fn a_concurrent_use_of_the_same_key_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(409).set_body_json(json!({"error": {
                "type": "idempotency_error",
                "message": "There is currently another in-progress request using this Idempotent Key."}})))
            .mount(&server)
            .await;
        let err = client(&server)
            .create_customer(&spec())
            .await
            .expect_err("conflict");
        assert!(err.is_transient(), "{err:?}");
    }

    #[tokio::test]
    async fn a_missing_object_is_not_found_and_refused_credentials_are_permanent() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/subscriptions/sub_gone"))
            .respond_with(ResponseTemplate::new(404).set_body_json(stripe_error(
                "No such subscription: 'sub_gone'",
                "resource_missing",
            )))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/invoices/in_1"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
                "type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****cret"}})))
            .mount(&server)
            .await;
        let stripe = client(&server);
        assert_eq!(
            stripe.retrieve_subscription("sub_gone").await,
            Err(ProviderError::NotFound { provider: "stripe" })
        );
        let err = stripe.retrieve_invoice("in_1").await.expect_err("refused");
        assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
        assert!(
            err.to_string().contains("credentials were refused"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_request_that_times_out_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"object": "list", "data": []}))
                    .set_delay(Duration::from_secs(2)),
            )
            .mount(&server)
            .await;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let stripe = StripePayments::new(&settings(&server.uri(), 100)).expect("client");
        let err = stripe
            .list_meter_event_summaries("mtr_1", "cus_1", at(0), at(60))
            .await
            .expect_err("timed out");
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("timed out"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_stripe_is_transient() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Port 9 (discard) is closed on test machines: the connection is refused.
        let stripe = StripePayments::new(&settings("http://127.0.0.1:9", 2000)).expect("client");
        let err = stripe
            .create_customer(&spec())
            .await
            .expect_err("unreachable");
        assert!(err.is_transient(), "{err:?}");
    }

    #[tokio::test]
    async fn a_reply_that_is_not_json_is_an_unexpected_response() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_string_contains("name="))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&server)
            .await;
        let err = client(&server)
            .create_customer(&spec())
            .await
            .expect_err("unreadable");
        assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    }

    #[test]
    fn unusable_settings_are_refused_at_construction() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut s = settings("https://api.stripe.com", 1000);
        s.secret_key = SecretString::from("");
        assert!(StripePayments::new(&s).is_err());
        s.secret_key = SecretString::from("pk_test_123");
        assert!(StripePayments::new(&s).is_err());
        s.secret_key = SecretString::from("sk_test\n123");
        assert!(StripePayments::new(&s).is_err());
        let mut s = settings("ftp://api.stripe.com", 1000);
        assert!(StripePayments::new(&s).is_err());
        s = settings("https://api.stripe.com", 0);
        assert!(StripePayments::new(&s).is_err());
        assert!(StripePayments::new(&settings("https://api.stripe.com", 1000)).is_ok());
    }

    #[tokio::test]
    async fn a_base_url_with_a_path_keeps_it() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/stripe/v1/subscriptions/sub_1"))
            .respond_with(
                ResponseTemplate::new(404)
                    .set_body_json(stripe_error("No such subscription", "resource_missing")),
            )
            .expect(1)
            .mount(&server)
            .await;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let stripe = StripePayments::new(&settings(&format!("{}/stripe", server.uri()), 2000))
            .expect("client");
        assert_eq!(
            stripe.retrieve_subscription("sub_1").await,
            Err(ProviderError::NotFound { provider: "stripe" })
        );
    }
}
