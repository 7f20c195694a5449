//! The provisioning saga through the real Vapi and Twilio adapters against local fake servers,
//! and its resumption after replies lost at every step.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_partial_json, body_string_contains, header, method, path, path_regex,
};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zencall_core::config::Settings;
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulator::Simulator;
use zencall_providers::telephony::{AvailableNumber, NumberSearch, OwnedNumber, Sms, SmsFailure};
use zencall_providers::voice::{AssistantSpec, NumberImport, OutboundCall};
use zencall_providers::{ProviderError, Telephony, VoicePlatform};

use zencall::Providers;

use crate::test_app::{TestApp, marcel, test_settings};

const TWILIO_BASE: &str = "/2010-04-01/Accounts/AC0123456789abcdef";

struct Fakes {
    vapi: MockServer,
    twilio: MockServer,
}

impl Fakes {
    async fn start() -> Fakes {
        Fakes {
            vapi: MockServer::start().await,
            twilio: MockServer::start().await,
        }
    }

    fn settings(&self) -> Settings {
        let mut s = test_settings();
        s.providers.vapi.base_url = self.vapi.uri();
        s.providers.vapi.api_key = SecretString::from("vapi-private-key");
        s.providers.twilio.base_url = self.twilio.uri();
        s.providers.twilio.account_sid = "AC0123456789abcdef".into();
        s.providers.twilio.auth_token = SecretString::from("twilio-token");
        s
    }

    async fn spawn(&self, db: TestDb) -> TestApp {
        let settings = self.settings();
        let providers = zencall::providers(&settings).unwrap();
        TestApp::spawn_with(db, settings, providers).await
    }

    async fn numbers_available(&self) {
        Mock::given(method("GET"))
            .and(path(format!(
                "{TWILIO_BASE}/AvailablePhoneNumbers/FR/Local.json"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "available_phone_numbers": [{"phone_number": "+33142868001", "locality": "Paris"}]
            })))
            .mount(&self.twilio)
            .await;
    }

    async fn purchase_and_import_succeed(&self) {
        Mock::given(method("POST"))
            .and(path(format!("{TWILIO_BASE}/IncomingPhoneNumbers.json")))
            .and(header("authorization", "Basic QUMwMTIzNDU2Nzg5YWJjZGVmOnR3aWxpby10b2tlbg=="))
            .and(body_string_contains("PhoneNumber=%2B33142868001"))
            .and(body_string_contains("FriendlyName=zencall%3Aasst_"))
            .and(body_string_contains("StatusCallback=https%3A%2F%2Fzencall.example%2Fwebhooks%2Ftwilio%2Fvoice-status"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": "PN0123456789abcdef0123456789abcdef", "phone_number": "+33142868001"})))
            .expect(1)
            .mount(&self.twilio)
            .await;
        Mock::given(method("POST"))
            .and(path("/phone-number"))
            .and(header("authorization", "Bearer vapi-private-key"))
            .and(body_partial_json(json!({"provider": "twilio", "number": "+33142868001", "assistantId": "vapi-asst-1",
                                         "twilioAccountSid": "AC0123456789abcdef", "twilioAuthToken": "twilio-token"})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "vapi-num-1", "number": "+33142868001"})))
            .expect(1)
            .mount(&self.vapi)
            .await;
    }
}

fn assistant_created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"id": "vapi-asst-1"}))
}

#[tokio::test]
async fn provisioning_calls_vapi_and_twilio_with_the_expected_requests() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path("/assistant"))
        .and(header("authorization", "Bearer vapi-private-key"))
        .and(body_partial_json(json!({
            "name": "Chez Marcel",
            "firstMessage": "Bonjour, vous êtes bien chez Chez Marcel. Je suis l'assistant virtuel, que puis-je faire pour vous ?",
            "transcriber": {"language": "fr"},
            "server": {"url": "https://zencall.example/webhooks/vapi", "secret": "vapi-webhook-secret"},
        })))
        .respond_with(assistant_created())
        .expect(1)
        .mount(&fakes.vapi)
        .await;
    fakes.numbers_available().await;
    fakes.purchase_and_import_succeed().await;
    let app = fakes.spawn(TestDb::sqlite().await).await;
    let id = app.create_assistant(marcel()).await;
    let active = app.await_assistant(&id, "active").await;
    assert_eq!(active["phone_number"], "+33142868001");
    app.stop().await;
    fakes.vapi.verify().await;
    fakes.twilio.verify().await;
}

#[tokio::test]
async fn a_5xx_from_the_voice_platform_is_retried_with_backoff_until_it_succeeds() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path("/assistant"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"message": "overloaded"})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fakes.vapi)
        .await;
    Mock::given(method("POST"))
        .and(path("/assistant"))
        .respond_with(assistant_created())
        .expect(1)
        .mount(&fakes.vapi)
        .await;
    // The retry first looks for an assistant the failed attempt may have created.
    Mock::given(method("GET"))
        .and(path("/assistant"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&fakes.vapi)
        .await;
    Mock::given(method("GET"))
        .and(path("/phone-number"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&fakes.vapi)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{TWILIO_BASE}/IncomingPhoneNumbers.json")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"incoming_phone_numbers": []})),
        )
        .mount(&fakes.twilio)
        .await;
    fakes.numbers_available().await;
    fakes.purchase_and_import_succeed().await;
    let app = fakes.spawn(TestDb::sqlite().await).await;
    let id = app.create_assistant(marcel()).await;
    app.await_assistant(&id, "active").await;
    app.stop().await;
    fakes.vapi.verify().await;
    fakes.twilio.verify().await;
}

#[tokio::test]
async fn no_number_available_in_the_area_ends_failed_with_a_readable_reason() {
    for db in TestDb::all().await {
        let fakes = Fakes::start().await;
        Mock::given(method("POST"))
            .and(path("/assistant"))
            .respond_with(assistant_created())
            .mount(&fakes.vapi)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"/AvailablePhoneNumbers/FR/Local\.json$"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"available_phone_numbers": []})),
            )
            .mount(&fakes.twilio)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{TWILIO_BASE}/IncomingPhoneNumbers.json")))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&fakes.twilio)
            .await;
        let app = fakes.spawn(db).await;
        let mut body = marcel();
        body["phone_number"] = json!({"country": "FR", "area_code": "4"});
        let id = app.create_assistant(body).await;
        let failed = app.await_assistant(&id, "failed").await;
        assert_eq!(
            failed["failure_reason"],
            "no phone number is available in FR with area code 4"
        );
        app.stop().await;
        fakes.twilio.verify().await;
    }
}

#[tokio::test]
async fn rejected_credentials_end_failed_without_retrying() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path("/assistant"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa."})))
        .expect(1)
        .mount(&fakes.vapi)
        .await;
    let app = fakes.spawn(TestDb::sqlite().await).await;
    let id = app.create_assistant(marcel()).await;
    let failed = app.await_assistant(&id, "failed").await;
    let reason = failed["failure_reason"].as_str().unwrap();
    assert!(reason.contains("credentials"), "{reason}");
    assert!(
        !reason.contains("vapi-private-key"),
        "a secret leaked: {reason}"
    );
    app.stop().await;
    fakes.vapi.verify().await;
}

/// Providers whose first reply to each creating call is lost after the call took effect, as
/// when a worker dies between the provider's success and our record of it.
struct LostReplies {
    sim: Simulator,
    lost: Mutex<HashSet<&'static str>>,
}

impl LostReplies {
    fn lose_first<T>(
        &self,
        call: &'static str,
        result: Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let first = self.lost.lock().unwrap().insert(call);
        match result {
            Ok(_) if first => Err(ProviderError::Transient {
                provider: "test",
                message: "connection reset".into(),
                retry_after: None,
            }),
            other => other,
        }
    }
}

#[async_trait]
impl VoicePlatform for LostReplies {
    async fn create_assistant(&self, spec: &AssistantSpec) -> Result<String, ProviderError> {
        self.lose_first("create_assistant", self.sim.create_assistant(spec).await)
    }
    async fn find_assistant(
        &self,
        external_id: &str,
        after: DateTime<Utc>,
    ) -> Result<Option<String>, ProviderError> {
        self.sim.find_assistant(external_id, after).await
    }
    async fn update_assistant(&self, id: &str, spec: &AssistantSpec) -> Result<(), ProviderError> {
        self.sim.update_assistant(id, spec).await
    }
    async fn delete_assistant(&self, id: &str) -> Result<(), ProviderError> {
        self.sim.delete_assistant(id).await
    }
    async fn import_number(&self, import: &NumberImport) -> Result<String, ProviderError> {
        self.lose_first("import_number", self.sim.import_number(import).await)
    }
    async fn find_number(&self, number: &str) -> Result<Option<String>, ProviderError> {
        self.sim.find_number(number).await
    }
    async fn delete_number(&self, id: &str) -> Result<(), ProviderError> {
        self.sim.delete_number(id).await
    }
    async fn place_call(&self, call: &OutboundCall) -> Result<String, ProviderError> {
        self.lose_first("place_call", self.sim.place_call(call).await)
    }
    async fn find_call(
        &self,
        attempt_id: &str,
        assistant_id: &str,
        after: DateTime<Utc>,
    ) -> Result<Option<String>, ProviderError> {
        self.sim.find_call(attempt_id, assistant_id, after).await
    }
}

#[async_trait]
impl Telephony for LostReplies {
    async fn search_numbers(
        &self,
        search: &NumberSearch,
    ) -> Result<Vec<AvailableNumber>, ProviderError> {
        self.sim.search_numbers(search).await
    }
    async fn buy_number(&self, number: &str, label: &str) -> Result<OwnedNumber, ProviderError> {
        self.lose_first("buy_number", self.sim.buy_number(number, label).await)
    }
    async fn find_owned_number(&self, label: &str) -> Result<Option<OwnedNumber>, ProviderError> {
        self.sim.find_owned_number(label).await
    }
    async fn release_number(&self, sid: &str) -> Result<(), ProviderError> {
        self.sim.release_number(sid).await
    }
    async fn send_sms(&self, sms: &Sms) -> Result<String, SmsFailure> {
        self.sim.send_sms(sms).await
    }
}

#[tokio::test]
async fn a_rerun_after_lost_replies_never_creates_a_second_assistant_or_buys_a_second_number() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let lossy = Arc::new(LostReplies {
            sim: sim.clone(),
            lost: Mutex::new(HashSet::new()),
        });
        let app =
            TestApp::spawn_with(db, test_settings(), Providers::real(lossy.clone(), lossy)).await;
        let id = app.create_assistant(marcel()).await;
        let active = app.await_assistant(&id, "active").await;
        assert_eq!(
            sim.assistant_count(),
            1,
            "one assistant at the voice platform"
        );
        assert_eq!(
            sim.owned_numbers(),
            vec![active["phone_number"].as_str().unwrap().to_string()],
            "one number bought"
        );
        assert_eq!(sim.imported_count(), 1, "one number imported");
        app.stop().await;
    }
}
