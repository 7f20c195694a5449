//! The test platform: spawned on port 0 with its own database, fakes as fields, and functions
//! that await a state instead of sleeping.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use zencall::{Providers, Roles, Running};
use zencall_core::clock::{Clock, SystemClock};
use zencall_core::config::Settings;
use zencall_core::jobs::QueueName;
use zencall_core::store::api_keys::{self, Scope};
use zencall_core::store::organisations;
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulator::Simulator;

/// Settings for tests: quick retries and polls, no simulated latency.
pub fn test_settings() -> Settings {
    let mut s = Settings::defaults().unwrap();
    s.server.port = 0;
    s.server.public_url = "https://zencall.example".into();
    s.queue.poll_interval_ms = 200;
    s.queue.retry_base_secs = 1;
    s.queue.retry_max_secs = 1;
    s.queue.concurrency = 4;
    s.providers.simulator.latency_ms = 0;
    s.webhooks.vapi_secret = SecretString::from(VAPI_SECRET);
    s.webhooks.vapi_previous_secret = SecretString::from("vapi-old-secret");
    s.webhooks.stripe_secret = SecretString::from("whsec_current");
    s.webhooks.stripe_previous_secret = SecretString::from("whsec_previous");
    s.webhooks.google_channel_token = SecretString::from("google-channel-token");
    // Twilio signs with the account's auth token; the simulator stays in use while Vapi has no key.
    s.providers.twilio.auth_token = SecretString::from(TWILIO_TOKEN);
    // Customers' endpoints are local fake servers here; retries come quickly.
    s.webhooks.outbound.allow_private_networks = true;
    s.webhooks.outbound.allow_plain_http = true;
    s.webhooks.outbound.retry_base_secs = 1;
    s.webhooks.outbound.retry_max_secs = 1;
    s.webhooks.outbound.timeout_ms = 2000;
    // Calendar tokens are sealed with a test key.
    s.calendar.encryption_keys = std::collections::HashMap::from([(
        "test-key".to_string(),
        SecretString::from("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
    )]);
    s.calendar.active_key_id = "test-key".into();
    s
}

/// The Vapi webhook secret of the test settings.
pub const VAPI_SECRET: &str = "vapi-webhook-secret";
/// The Twilio auth token of the test settings.
pub const TWILIO_TOKEN: &str = "twilio-token";

/// A running platform with an organisation and its admin key.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The first organisation.
    pub org_id: String,
    /// Its admin key.
    pub key: String,
    /// Storage.
    pub test_db: TestDb,
    client: reqwest::Client,
    running: Running,
}

/// The simulator as both providers.
pub fn simulated(sim: &Simulator) -> Providers {
    Providers::simulated(sim)
}

impl TestApp {
    /// Starts API, workers and scheduler on `test_db` with these providers and settings.
    pub async fn spawn_with(test_db: TestDb, settings: Settings, providers: Providers) -> TestApp {
        Self::spawn_on_clock(test_db, settings, providers, Arc::new(SystemClock), true).await
    }

    /// Starts API and workers reading the time from `clock`, and the cron scheduler when
    /// `scheduler` (its ticks follow the system clock whatever `clock` says).
    pub async fn spawn_on_clock(
        test_db: TestDb,
        settings: Settings,
        providers: Providers,
        clock: Arc<dyn Clock>,
        scheduler: bool,
    ) -> TestApp {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let roles = Roles {
            api: true,
            queues: QueueName::ALL.to_vec(),
            scheduler,
        };
        let running = zencall::start_on_clock(
            settings,
            test_db.db.clone(),
            roles,
            Some(listener),
            Some(providers),
            clock,
        )
        .await
        .unwrap();
        let base = format!("http://{}", running.addr.unwrap());
        let (org_id, key) = new_org_key(&test_db, Scope::Admin).await;
        TestApp {
            base,
            org_id,
            key,
            test_db,
            client: reqwest::Client::new(),
            running,
        }
    }

    /// Starts the platform with the simulator.
    pub async fn spawn(test_db: TestDb, sim: &Simulator) -> TestApp {
        Self::spawn_with(test_db, test_settings(), simulated(sim)).await
    }

    /// A request with `key`, returning status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A raw request (body as given), returning status, content type and body text.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, String, String) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ct, resp.text().await.unwrap())
    }

    /// A POST with raw body and headers, no API key; returns status and body text.
    pub async fn post_raw(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (StatusCode, String) {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// Creates an assistant with the admin key; returns its id.
    pub async fn create_assistant(&self, body: Value) -> String {
        let (status, json) = self
            .call(Method::POST, "/v1/assistants", Some(&self.key), Some(body))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{json}");
        json["id"].as_str().unwrap().to_string()
    }

    /// Waits until assistant `id` has `status`; fails after 30 s.
    pub async fn await_assistant(&self, id: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (code, json) = self
                .call(
                    Method::GET,
                    &format!("/v1/assistants/{id}"),
                    Some(&self.key),
                    None,
                )
                .await;
            assert_eq!(code, StatusCode::OK, "{json}");
            if json["status"] == status {
                return json;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "assistant {id} never became {status}: {json}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops the platform and deletes its database.
    pub async fn stop(self) {
        self.running.shutdown().await.unwrap();
        self.test_db.drop_database().await;
    }
}

/// A new organisation with a key of `scope`.
pub async fn new_org_key(test_db: &TestDb, scope: Scope) -> (String, String) {
    let mut tx = test_db.db.begin().await.unwrap();
    let org = organisations::create(&mut tx, "Test org", chrono::Utc::now())
        .await
        .unwrap();
    let key = api_keys::create(&mut tx, &org.id, "test", scope, chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (org.id, key.secret)
}

/// Another key of an existing organisation.
pub async fn key_for(test_db: &TestDb, org_id: &str, scope: Scope) -> String {
    let mut tx = test_db.db.begin().await.unwrap();
    let key = api_keys::create(&mut tx, org_id, "test", scope, chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    key.secret
}

/// The request body of the README's quick start.
pub fn marcel() -> Value {
    json!({
        "name": "Chez Marcel", "sector": "restaurant", "language": "fr",
        "business": {"name": "Chez Marcel", "address": "12 rue des Lilas, 75011 Paris",
                     "opening_hours": "mardi-samedi 12h-14h30, 19h-23h", "services": ["déjeuner", "dîner"],
                     "transfer_number": "+33142868000"},
        "phone_number": {"country": "FR", "area_code": null}
    })
}
