//! The Twilio adapter: [`Telephony`] over Twilio's 2010-04-01 REST API, with HTTP Basic
//! authentication (`AccountSid:AuthToken`) and form-encoded writes. A bought number is labelled
//! with our idempotency key in its `FriendlyName`, and its voice webhooks point at this
//! deployment's public URL.

use async_trait::async_trait;
use reqwest::{RequestBuilder, Response, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zencall_core::config::TwilioSettings;

use crate::ProviderError;
use crate::http;
use crate::telephony::{AvailableNumber, NumberSearch, OwnedNumber, Sms, SmsFailure, Telephony};

/// The provider name in errors.
const PROVIDER: &str = "twilio";

/// Twilio error codes meaning the number cannot be bought (any more).
const NUMBER_UNAVAILABLE_CODES: [i64; 2] = [21421, 21422];

/// A Twilio client for one account, cheap to clone.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    /// `{base}/2010-04-01/Accounts/{AccountSid}`.
    account: Url,
    account_sid: String,
    auth_token: SecretString,
    voice_url: String,
    status_callback: String,
    bundle_sid: String,
    address_sid: String,
}

/// `AvailablePhoneNumbers/{CC}/Local.json`.
#[derive(Debug, Deserialize)]
struct AvailableList {
    #[serde(default)]
    available_phone_numbers: Vec<Available>,
}

#[derive(Debug, Deserialize)]
struct Available {
    phone_number: String,
    #[serde(default)]
    locality: Option<String>,
}

/// `IncomingPhoneNumbers.json`.
#[derive(Debug, Deserialize)]
struct IncomingList {
    #[serde(default)]
    incoming_phone_numbers: Vec<Incoming>,
}

#[derive(Debug, Deserialize)]
struct Incoming {
    sid: String,
    phone_number: String,
    #[serde(default)]
    friendly_name: Option<String>,
}

impl From<Incoming> for OwnedNumber {
    fn from(n: Incoming) -> Self {
        OwnedNumber {
            sid: n.sid,
            number: n.phone_number,
        }
    }
}

impl TwilioClient {
    /// Builds a client for the configured account; `public_url` is this deployment's public base
    /// URL, where Twilio will post the voice webhooks of the numbers bought. Fails on an empty or
    /// malformed account SID, an empty auth token, or an unusable base URL.
    pub fn new(settings: &TwilioSettings, public_url: &str) -> Result<Self, ProviderError> {
        let account_sid = settings.account_sid.trim();
        if account_sid.is_empty() || !account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(http::permanent(
                PROVIDER,
                "providers.twilio.account_sid must be an account SID (AC...)",
            ));
        }
        if settings.auth_token.expose_secret().trim().is_empty() {
            return Err(http::permanent(
                PROVIDER,
                "providers.twilio.auth_token is empty",
            ));
        }
        let base = http::base_url(PROVIDER, &settings.base_url)?;
        let public_url = public_url.trim().trim_end_matches('/');
        Ok(Self {
            http: http::client(PROVIDER, settings.timeout_ms)?,
            account: http::join(&base, &["2010-04-01", "Accounts", account_sid]),
            account_sid: account_sid.to_string(),
            auth_token: settings.auth_token.clone(),
            voice_url: format!("{public_url}/webhooks/twilio/voice"),
            status_callback: format!("{public_url}/webhooks/twilio/voice-status"),
            bundle_sid: settings.bundle_sid.trim().to_string(),
            address_sid: settings.address_sid.trim().to_string(),
        })
    }

    /// Sends an authenticated request; a failure is returned as read, for the caller to sort.
    async fn exchange(
        &self,
        request: RequestBuilder,
    ) -> Result<Result<Response, http::Failure>, ProviderError> {
        let response = request
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .send()
            .await
            .map_err(|e| http::transport_error(PROVIDER, e))?;
        Ok(http::success(PROVIDER, response).await)
    }

    /// Sends an authenticated request and sorts any failure into a [`ProviderError`].
    async fn send(&self, request: RequestBuilder) -> Result<Response, ProviderError> {
        self.exchange(request)
            .await?
            .map_err(|failure| self.sort(failure))
    }

    fn sort(&self, failure: http::Failure) -> ProviderError {
        failure.into_error(PROVIDER, &[self.auth_token.expose_secret()])
    }

    fn url(&self, segments: &[&str]) -> Url {
        http::join(&self.account, segments)
    }
}

/// The country calling code of the countries where an area code can be turned into a
/// `Contains=+{code}{area}` filter, and whether their national trunk prefix `0` is dropped.
fn calling_code(country: &str) -> Option<(&'static str, bool)> {
    Some(match country {
        "FR" => ("33", true),
        "GB" => ("44", true),
        "BE" => ("32", true),
        "CH" => ("41", true),
        "DE" => ("49", true),
        "ES" => ("34", false),
        "IT" => ("39", false),
        _ => return None,
    })
}

/// The query filter for an area code in `country`, if one applies.
fn area_filter(country: &str, area_code: Option<&str>) -> Option<(&'static str, String)> {
    let digits: String = area_code?
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if matches!(country, "US" | "CA") {
        return Some(("AreaCode", digits));
    }
    let (code, drop_trunk_zero) = calling_code(country)?;
    let area = if drop_trunk_zero {
        digits.strip_prefix('0').unwrap_or(&digits)
    } else {
        &digits
    };
    // Twilio accepts patterns of 2 to 16 characters.
    (!area.is_empty() && 1 + code.len() + area.len() <= 16)
        .then(|| ("Contains", format!("+{code}{area}")))
}

#[async_trait]
impl Telephony for TwilioClient {
    async fn search_numbers(
        &self,
        search: &NumberSearch,
    ) -> Result<Vec<AvailableNumber>, ProviderError> {
        let country = search.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(http::permanent(
                PROVIDER,
                &format!("`{}` is not a country code", http::truncate(&country, 16)),
            ));
        }
        let mut url = self.url(&["AvailablePhoneNumbers", &country, "Local.json"]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("VoiceEnabled", "true");
            if let Some((key, value)) = area_filter(&country, search.area_code.as_deref()) {
                query.append_pair(key, &value);
            }
        }
        let response = match self.send(self.http.get(url)).await {
            Ok(response) => response,
            // Twilio answers 404 for a country where it has no local numbers.
            Err(ProviderError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let list: AvailableList = http::json(PROVIDER, response).await?;
        Ok(list
            .available_phone_numbers
            .into_iter()
            .map(|n| AvailableNumber {
                number: n.phone_number,
                locality: n.locality.filter(|l| !l.trim().is_empty()),
            })
            .collect())
    }

    async fn buy_number(&self, number: &str, label: &str) -> Result<OwnedNumber, ProviderError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("PhoneNumber", number),
            ("FriendlyName", label),
            ("VoiceUrl", &self.voice_url),
            ("VoiceMethod", "POST"),
            ("StatusCallback", &self.status_callback),
            ("StatusCallbackMethod", "POST"),
        ];
        if !self.bundle_sid.is_empty() {
            form.push(("BundleSid", &self.bundle_sid));
        }
        if !self.address_sid.is_empty() {
            form.push(("AddressSid", &self.address_sid));
        }
        let request = self
            .http
            .post(self.url(&["IncomingPhoneNumbers.json"]))
            .form(&form);
        match self.exchange(request).await? {
            Ok(response) => Ok(http::json::<Incoming>(PROVIDER, response).await?.into()),
            Err(failure)
                if failure.status.is_client_error()
                    && failure
                        .code()
                        .is_some_and(|c| NUMBER_UNAVAILABLE_CODES.contains(&c)) =>
            {
                Err(ProviderError::NumberUnavailable {
                    provider: PROVIDER,
                    number: number.to_string(),
                })
            }
            Err(failure) => Err(self.sort(failure)),
        }
    }

    async fn find_owned_number(&self, label: &str) -> Result<Option<OwnedNumber>, ProviderError> {
        let mut url = self.url(&["IncomingPhoneNumbers.json"]);
        url.query_pairs_mut().append_pair("FriendlyName", label);
        let response = self.send(self.http.get(url)).await?;
        let list: IncomingList = http::json(PROVIDER, response).await?;
        Ok(list
            .incoming_phone_numbers
            .into_iter()
            .find(|n| n.friendly_name.as_deref().is_none_or(|name| name == label))
            .map(OwnedNumber::from))
    }

    async fn release_number(&self, sid: &str) -> Result<(), ProviderError> {
        let sid = http::segment(PROVIDER, "number SID", sid)?;
        let resource = format!("{sid}.json");
        self.send(
            self.http
                .delete(self.url(&["IncomingPhoneNumbers", &resource])),
        )
        .await?;
        Ok(())
    }

    async fn send_sms(&self, sms: &Sms) -> Result<String, SmsFailure> {
        let refused = |error| SmsFailure {
            error,
            maybe_sent: false,
        };
        for (field, number) in [("from", &sms.from), ("to", &sms.to)] {
            if !number.starts_with('+') || !number[1..].bytes().all(|b| b.is_ascii_digit()) {
                return Err(refused(http::permanent(
                    PROVIDER,
                    &format!("the message's {field} number {number:?} is not in E.164 form"),
                )));
            }
        }
        if sms.body.trim().is_empty() {
            return Err(refused(http::permanent(PROVIDER, "the message is empty")));
        }
        let request = self.http.post(self.url(&["Messages.json"])).form(&[
            ("To", &sms.to),
            ("From", &sms.from),
            ("Body", &sms.body),
        ]);
        let response = match self.exchange(request).await {
            Ok(Ok(response)) => response,
            // Twilio answered: it created no message.
            Ok(Err(failure)) => return Err(refused(self.sort(failure))),
            // No answer: it may have.
            Err(error) => {
                return Err(SmsFailure {
                    error,
                    maybe_sent: true,
                });
            }
        };
        #[derive(Deserialize)]
        struct Created {
            sid: String,
        }
        let created: Created =
            http::json(PROVIDER, response)
                .await
                .map_err(|error| SmsFailure {
                    error,
                    // Accepted, but its id could not be read.
                    maybe_sent: true,
                })?;
        Ok(created.sid)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use serde_json::json;
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    use super::*;

    const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const TOKEN: &str = "token-secret";
    /// `Basic base64("ACaaaa…:token-secret")`.
    const BASIC: &str = "Basic QUNhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYTp0b2tlbi1zZWNyZXQ=";
    const ACCOUNT_PATH: &str = "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn settings(base_url: &str, timeout_ms: u64) -> TwilioSettings {
        TwilioSettings {
            base_url: base_url.to_string(),
            account_sid: SID.into(),
            auth_token: SecretString::from(TOKEN),
            timeout_ms,
            bundle_sid: String::new(),
            address_sid: String::new(),
        }
    }

    fn client_with(settings: &TwilioSettings) -> TwilioClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        TwilioClient::new(settings, "https://zencall.example/").expect("client")
    }

    fn client(server: &MockServer) -> TwilioClient {
        client_with(&settings(&server.uri(), 2000))
    }

    /// The request's form-encoded body as a map.
    fn form(request: &Request) -> HashMap<String, String> {
        let body = String::from_utf8_lossy(&request.body);
        Url::parse(&format!("http://form/?{body}"))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default()
    }

    fn search(country: &str, area_code: Option<&str>) -> NumberSearch {
        NumberSearch {
            country: country.into(),
            area_code: area_code.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn searching_us_numbers_filters_by_area_code_with_basic_auth() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{ACCOUNT_PATH}/AvailablePhoneNumbers/US/Local.json")))
            .and(header("authorization", BASIC))
            .and(query_param("VoiceEnabled", "true"))
            .and(query_param("AreaCode", "415"))
            .and(query_param_is_missing("Contains"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "available_phone_numbers": [
                    { "phone_number": "+14155552671", "locality": "San Francisco", "friendly_name": "(415) 555-2671" },
                    { "phone_number": "+14155552672", "locality": "" },
                    { "phone_number": "+14155552673", "locality": null },
                ],
                "uri": "/2010-04-01/..."
            })))
            .expect(1)
            .mount(&server)
            .await;
        let found = client(&server)
            .search_numbers(&search("us", Some("415")))
            .await
            .expect("found");
        assert_eq!(
            found,
            vec![
                AvailableNumber {
                    number: "+14155552671".into(),
                    locality: Some("San Francisco".into())
                },
                AvailableNumber {
                    number: "+14155552672".into(),
                    locality: None
                },
                AvailableNumber {
                    number: "+14155552673".into(),
                    locality: None
                },
            ]
        );
    }

    #[tokio::test]
    async fn searching_french_numbers_turns_the_area_code_into_a_prefix_pattern() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!(
                "{ACCOUNT_PATH}/AvailablePhoneNumbers/FR/Local.json"
            )))
            .and(header("authorization", BASIC))
            .and(query_param("Contains", "+331"))
            .and(query_param_is_missing("AreaCode"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "available_phone_numbers": [{ "phone_number": "+33142868000", "locality": "Paris" }]
            })))
            .expect(1)
            .mount(&server)
            .await;
        let found = client(&server)
            .search_numbers(&search("FR", Some("01")))
            .await
            .expect("found");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].number, "+33142868000");
    }

    #[test]
    fn area_codes_apply_only_where_a_pattern_can_be_computed() {
        assert_eq!(
            area_filter("GB", Some("020")),
            Some(("Contains", "+4420".into()))
        );
        assert_eq!(
            area_filter("IT", Some("06")),
            Some(("Contains", "+3906".into()))
        );
        assert_eq!(
            area_filter("CA", Some("416")),
            Some(("AreaCode", "416".into()))
        );
        assert_eq!(area_filter("JP", Some("3")), None);
        assert_eq!(area_filter("FR", Some("1*")), None);
        assert_eq!(area_filter("FR", None), None);
    }

    #[tokio::test]
    async fn a_country_without_local_numbers_gives_an_empty_list() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(404)
                    .set_body_json(json!({"code": 20404, "message": "not found"})),
            )
            .mount(&server)
            .await;
        let found = client(&server)
            .search_numbers(&search("AQ", None))
            .await
            .expect("empty");
        assert!(found.is_empty());
    }

    #[tokio::test]
    async fn buying_a_number_posts_a_form_with_the_webhooks_and_regulatory_sids() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("{ACCOUNT_PATH}/IncomingPhoneNumbers.json")))
            .and(header("authorization", BASIC))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(|request: &Request| {
                let form = form(request);
                let field = |k: &str| form.get(k).map(String::as_str);
                field("PhoneNumber") == Some("+33142868000")
                    && field("FriendlyName") == Some("zencall-01JNUMBER")
                    && field("VoiceUrl") == Some("https://zencall.example/webhooks/twilio/voice")
                    && field("StatusCallback")
                        == Some("https://zencall.example/webhooks/twilio/voice-status")
                    && field("BundleSid") == Some("BU123")
                    && field("AddressSid") == Some("AD456")
            })
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "sid": "PN0123456789abcdef0123456789abcdef",
                "phone_number": "+33142868000",
                "friendly_name": "zencall-01JNUMBER"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let mut settings = settings(&server.uri(), 2000);
        settings.bundle_sid = "BU123".into();
        settings.address_sid = "AD456".into();
        let owned = client_with(&settings)
            .buy_number("+33142868000", "zencall-01JNUMBER")
            .await
            .expect("bought");
        assert_eq!(
            owned,
            OwnedNumber {
                sid: "PN0123456789abcdef0123456789abcdef".into(),
                number: "+33142868000".into()
            }
        );
    }

    fn reminder() -> Sms {
        Sms {
            from: "+33142868000".into(),
            to: "+33612345678".into(),
            body: "Rappel : rendez-vous demain à 10:00 chez Salon Dupont.".into(),
        }
    }

    #[tokio::test]
    async fn a_text_message_posts_its_numbers_and_text_and_returns_its_sid() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("{ACCOUNT_PATH}/Messages.json")))
            .and(header("authorization", BASIC))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(|request: &Request| {
                let form = form(request);
                let field = |k: &str| form.get(k).map(String::as_str);
                field("To") == Some("+33612345678")
                    && field("From") == Some("+33142868000")
                    && field("Body")
                        == Some("Rappel : rendez-vous demain à 10:00 chez Salon Dupont.")
            })
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let sid = client(&server).send_sms(&reminder()).await.expect("sent");
        assert_eq!(sid, "SM0123456789abcdef0123456789abcdef");
    }

    #[tokio::test]
    async fn a_refused_message_was_not_sent_and_a_lost_answer_may_have_been() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "code": 21610, "message": "Attempt to send to unsubscribed recipient"
            })))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        let c = client(&server);
        let refused = c.send_sms(&reminder()).await.expect_err("refused");
        assert!(!refused.maybe_sent);
        assert!(matches!(refused.error, ProviderError::Permanent { .. }));
        assert!(
            refused.error.to_string().contains("unsubscribed"),
            "{}",
            refused.error
        );
        let limited = c.send_sms(&reminder()).await.expect_err("rate limited");
        assert!(!limited.maybe_sent);
        assert!(matches!(limited.error, ProviderError::Transient { .. }));

        // No answer within the timeout: Twilio may have sent it.
        let slow = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_millis(500)))
            .mount(&slow)
            .await;
        let lost = client_with(&settings(&slow.uri(), 100))
            .send_sms(&reminder())
            .await
            .expect_err("timed out");
        assert!(lost.maybe_sent);

        // Bad numbers and an empty text never leave.
        let mut bad = reminder();
        bad.to = "06 12 34 56 78".into();
        let err = c.send_sms(&bad).await.expect_err("not E.164");
        assert!(!err.maybe_sent);
        assert!(err.error.to_string().contains("to number"), "{}", err.error);
        let mut empty = reminder();
        empty.body = " ".into();
        assert!(c.send_sms(&empty).await.is_err());
        assert_eq!(server.received_requests().await.expect("recorded").len(), 2);
    }

    #[tokio::test]
    async fn empty_regulatory_sids_are_not_sent() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(|request: &Request| {
                let form = form(request);
                form.contains_key("PhoneNumber")
                    && !form.contains_key("BundleSid")
                    && !form.contains_key("AddressSid")
            })
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"sid": "PN1", "phone_number": "+14155552671"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        client(&server)
            .buy_number("+14155552671", "label")
            .await
            .expect("bought");
    }

    #[tokio::test]
    async fn a_number_taken_meanwhile_is_unavailable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "code": 21422,
                "message": "PhoneNumber requested is not available",
                "more_info": "https://www.twilio.com/docs/errors/21422",
                "status": 400
            })))
            .mount(&server)
            .await;
        let err = client(&server)
            .buy_number("+33142868000", "label")
            .await
            .expect_err("taken");
        assert_eq!(
            err,
            ProviderError::NumberUnavailable {
                provider: "twilio",
                number: "+33142868000".into()
            }
        );
    }

    #[tokio::test]
    async fn a_refused_request_is_permanent_and_carries_twilios_message() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "code": 21631,
                "message": format!("An Address is required (token {TOKEN})"),
                "status": 400
            })))
            .mount(&server)
            .await;
        let err = client(&server)
            .buy_number("+33142868000", "label")
            .await
            .expect_err("refused");
        let ProviderError::Permanent { provider, message } = err else {
            panic!("not permanent: {err:?}")
        };
        assert_eq!(provider, "twilio");
        assert!(
            message.contains("HTTP 400") && message.contains("An Address is required"),
            "{message}"
        );
        assert!(!message.contains(TOKEN), "the token leaked: {message}");
    }

    #[tokio::test]
    async fn refused_credentials_are_permanent_and_say_so() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(401)
                    .set_body_json(json!({"code": 20003, "message": "Authenticate"})),
            )
            .mount(&server)
            .await;
        let err = client(&server)
            .find_owned_number("label")
            .await
            .expect_err("refused");
        let ProviderError::Permanent { message, .. } = err else {
            panic!("not permanent: {err:?}")
        };
        assert!(message.contains("credentials were refused"), "{message}");
    }

    #[tokio::test]
    async fn an_owned_number_is_found_by_its_label() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{ACCOUNT_PATH}/IncomingPhoneNumbers.json")))
            .and(header("authorization", BASIC))
            .and(query_param("FriendlyName", "zencall-01JNUMBER"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "incoming_phone_numbers": [
                    { "sid": "PN1", "phone_number": "+33142868000", "friendly_name": "zencall-01JNUMBER" }
                ]
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{ACCOUNT_PATH}/IncomingPhoneNumbers.json")))
            .and(query_param("FriendlyName", "nothing"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({ "incoming_phone_numbers": [] })),
            )
            .mount(&server)
            .await;
        let twilio = client(&server);
        assert_eq!(
            twilio
                .find_owned_number("zencall-01JNUMBER")
                .await
                .expect("found"),
            Some(OwnedNumber {
                sid: "PN1".into(),
                number: "+33142868000".into()
            })
        );
        assert_eq!(
            twilio.find_owned_number("nothing").await.expect("listed"),
            None
        );
    }

    #[tokio::test]
    async fn releasing_a_number_deletes_it_and_a_released_one_is_not_found() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .and(path(format!(
                "{ACCOUNT_PATH}/IncomingPhoneNumbers/PN1.json"
            )))
            .and(header("authorization", BASIC))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!(
                "{ACCOUNT_PATH}/IncomingPhoneNumbers/PN2.json"
            )))
            .respond_with(
                ResponseTemplate::new(404)
                    .set_body_json(json!({"code": 20404, "message": "not found"})),
            )
            .mount(&server)
            .await;
        let twilio = client(&server);
        twilio.release_number("PN1").await.expect("released");
        assert_eq!(
            twilio.release_number("PN2").await,
            Err(ProviderError::NotFound { provider: "twilio" })
        );
        assert!(matches!(
            twilio.release_number("../PN1").await,
            Err(ProviderError::Permanent { .. })
        ));
    }

    #[tokio::test]
    async fn a_server_error_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(500)
                    .set_body_json(json!({"code": 20500, "message": "Internal"})),
            )
            .mount(&server)
            .await;
        let err = client(&server)
            .search_numbers(&search("FR", None))
            .await
            .expect_err("failed");
        assert!(err.is_transient(), "{err:?}");
    }

    #[tokio::test]
    async fn a_rate_limited_request_is_transient_with_its_retry_after() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "7")
                    .set_body_json(json!({"code": 20429, "message": "Too Many Requests"})),
            )
            .mount(&server)
            .await;
        let err = client(&server)
            .buy_number("+33142868000", "label")
            .await
            .expect_err("limited");
        let ProviderError::Transient { retry_after, .. } = err else {
            panic!("not transient: {err:?}")
        };
        assert_eq!(retry_after, Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn a_request_that_times_out_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "incoming_phone_numbers": [] }))
                    .set_delay(Duration::from_secs(2)),
            )
            .mount(&server)
            .await;
        let twilio = client_with(&settings(&server.uri(), 100));
        let err = twilio
            .find_owned_number("label")
            .await
            .expect_err("timed out");
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("timed out"), "{err}");
    }

    #[test]
    fn missing_credentials_are_refused_at_construction() {
        let mut s = settings("https://api.twilio.com", 1000);
        s.account_sid = String::new();
        assert!(TwilioClient::new(&s, "https://zencall.example").is_err());
        let mut s = settings("https://api.twilio.com", 1000);
        s.account_sid = "AC/../x".into();
        assert!(TwilioClient::new(&s, "https://zencall.example").is_err());
        let mut s = settings("https://api.twilio.com", 1000);
        s.auth_token = SecretString::from("");
        assert!(TwilioClient::new(&s, "https://zencall.example").is_err());
    }
}
