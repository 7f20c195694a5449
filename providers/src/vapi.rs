//! The Vapi adapter: [`VoicePlatform`] over Vapi's REST API (`Authorization: Bearer <key>`).
//! Assistants carry our assistant id in `metadata.zencall_assistant_id`, so a creation whose reply
//! was lost can be found again; phone numbers are imported from Twilio with the account's
//! credentials, which never appear in an error message. Outbound calls carry our attempt id in
//! `metadata.zencall_attempt_id` and as their `Idempotency-Key`, for the same reason.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{RequestBuilder, Response, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use zencall_core::config::{TwilioSettings, VapiSettings};

use crate::ProviderError;
use crate::http;
use crate::voice::{
    AssistantSpec, BookingTools, McpToolServer, NumberImport, OutboundCall, VoicePlatform,
};
use zencall_core::domain::booking_tools::{
    BOOK_APPOINTMENT, CANCEL_APPOINTMENT, CHECK_AVAILABILITY,
};

/// The provider name in errors.
const PROVIDER: &str = "vapi";

/// Voice provider used when an assistant's voice names none (`fr-FR-DeniseNeural`).
const DEFAULT_VOICE_PROVIDER: &str = "azure";

/// Largest page asked for when listing.
const LIST_LIMIT: &str = "1000";

/// The header that makes a retried creation create nothing new.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// A Vapi client, cheap to clone.
#[derive(Debug, Clone)]
pub struct VapiClient {
    http: reqwest::Client,
    base: Url,
    api_key: SecretString,
    twilio_account_sid: String,
    twilio_auth_token: SecretString,
    /// What Vapi echoes in `X-Vapi-Secret` on every server message; empty sends none.
    server_secret: SecretString,
}

/// An object with an id, as Vapi returns after creating one.
#[derive(Debug, Deserialize)]
struct Created {
    id: String,
}

/// One assistant in a list.
#[derive(Debug, Deserialize)]
struct ListedAssistant {
    id: String,
    #[serde(default)]
    metadata: Option<Value>,
}

/// One call in a list.
#[derive(Debug, Deserialize)]
struct ListedCall {
    id: String,
    #[serde(default)]
    metadata: Option<Value>,
}

/// One phone number in a list.
#[derive(Debug, Deserialize)]
struct ListedNumber {
    id: String,
    #[serde(default)]
    number: Option<String>,
}

/// A list reply: a bare array, or a page with `results`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum List<T> {
    Bare(Vec<T>),
    Page { results: Vec<T> },
}

impl<T> List<T> {
    fn into_items(self) -> Vec<T> {
        match self {
            List::Bare(items) | List::Page { results: items } => items,
        }
    }
}

impl VapiClient {
    /// Builds a client from the Vapi settings; the Twilio account SID and auth token are what
    /// Vapi needs to import a Twilio number. Fails on an empty API key or an unusable base URL.
    pub fn new(settings: &VapiSettings, twilio: &TwilioSettings) -> Result<Self, ProviderError> {
        if settings.api_key.expose_secret().trim().is_empty() {
            return Err(http::permanent(PROVIDER, "providers.vapi.api_key is empty"));
        }
        Ok(Self {
            http: http::client(PROVIDER, settings.timeout_ms)?,
            base: http::base_url(PROVIDER, &settings.base_url)?,
            api_key: settings.api_key.clone(),
            twilio_account_sid: twilio.account_sid.trim().to_string(),
            twilio_auth_token: twilio.auth_token.clone(),
            server_secret: SecretString::from(""),
        })
    }

    /// Gives every assistant this server secret, which Vapi then sends in `X-Vapi-Secret` with
    /// each server message (our webhook checks it: `webhooks.vapi_secret`).
    pub fn with_server_secret(mut self, secret: SecretString) -> Self {
        self.server_secret = secret;
        self
    }

    /// Sends an authenticated request and sorts any failure into a [`ProviderError`].
    async fn send(&self, request: RequestBuilder) -> Result<Response, ProviderError> {
        let response = request
            .bearer_auth(self.api_key.expose_secret())
            .send()
            .await
            .map_err(|e| http::transport_error(PROVIDER, e))?;
        match http::success(PROVIDER, response).await {
            Ok(response) => Ok(response),
            Err(failure) => Err(failure.into_error(PROVIDER, &self.secrets())),
        }
    }

    /// Every secret this client knows, to keep them out of error messages.
    fn secrets(&self) -> [&str; 3] {
        [
            self.api_key.expose_secret(),
            self.twilio_auth_token.expose_secret(),
            self.server_secret.expose_secret(),
        ]
    }

    fn url(&self, segments: &[&str]) -> Url {
        http::join(&self.base, segments)
    }
}

/// Splits `provider:voiceId`; a voice without a provider is an Azure voice.
fn split_voice(voice: &str) -> (&str, &str) {
    match voice.split_once(':') {
        Some((provider, id)) if !provider.trim().is_empty() => (provider.trim(), id.trim()),
        Some((_, id)) => (DEFAULT_VOICE_PROVIDER, id.trim()),
        None => (DEFAULT_VOICE_PROVIDER, voice.trim()),
    }
}

/// Whether an object's `metadata` holds `value` under `key`.
fn metadata_says(metadata: Option<&Value>, key: &str, value: &str) -> bool {
    metadata
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .is_some_and(|v| v == value)
}

/// The body of `POST /call`.
fn call_body(call: &OutboundCall) -> Value {
    let mut customer = json!({ "number": call.customer_number });
    if let Some(name) = call.customer_name.as_deref().map(str::trim)
        && !name.is_empty()
    {
        customer["name"] = json!(name);
    }
    json!({
        "assistantId": call.assistant_id,
        "phoneNumberId": call.phone_number_id,
        "customer": customer,
        "assistantOverrides": { "variableValues": call.variables },
        "metadata": { "zencall_attempt_id": call.attempt_id },
        "name": call.attempt_id,
    })
}

/// Vapi function tools for the booking tools, each calling `server` (our webhook) and waiting
/// for its answer. Dates and times are local to the business.
fn booking_tools_json(booking: &BookingTools, server: &Value) -> Value {
    let zone = &booking.time_zone;
    let local = format!("local date and time of the business ({zone}), like 2026-12-07T10:00");
    let duration = json!({
        "type": "integer", "minimum": 5, "maximum": 480,
        "description": "Length of the appointment in minutes; leave out for the usual length",
    });
    let mut service = json!({
        "type": "string",
        "description": "The service the caller wants, when they say",
    });
    if !booking.services.is_empty() {
        service["enum"] = json!(booking.services);
    }
    let tool = |name: &str, description: String, properties: Value, required: Vec<&str>| {
        json!({
            "type": "function",
            "async": false,
            "function": {
                "name": name,
                "description": description,
                "parameters": {"type": "object", "properties": properties, "required": required},
            },
            "server": server,
        })
    };
    json!([
        tool(
            CHECK_AVAILABILITY,
            format!(
                "Lists free appointment slots, on one day (date) or over a range (from, to); \
                 with neither, the next days. Offer the caller a few. Dates are local to the \
                 business ({zone})."
            ),
            json!({
                "date": {"type": "string", "description": format!("A local day ({zone}), like 2026-12-07")},
                "from": {"type": "string", "description": format!("Start of the range: a local day or {local}")},
                "to": {"type": "string", "description": format!("End of the range: a local day (included) or {local}")},
                "duration_minutes": duration,
                "service": service,
            }),
            vec![],
        ),
        tool(
            BOOK_APPOINTMENT,
            "Books a free slot for the caller once they have chosen it and given their name. \
             Read back the answer: it says whether it is booked, or which slots to offer instead."
                .to_string(),
            json!({
                "start": {"type": "string", "description": format!("The slot's start: {local}")},
                "caller_name": {"type": "string", "description": "The caller's name, as they give it"},
                "caller_number": {"type": "string", "description": "A number to reach the caller, only if they give another one than the number they call from"},
                "service": service,
                "duration_minutes": duration,
            }),
            vec!["start", "caller_name"],
        ),
        tool(
            CANCEL_APPOINTMENT,
            "Cancels one of the caller's upcoming appointments: the one with the reference they \
             give, or otherwise the one booked from the number they call from (give start when \
             they have several)."
                .to_string(),
            json!({
                "reference": {"type": "string", "description": "The appointment's reference, like appt_01JXYZ"},
                "start": {"type": "string", "description": format!("The appointment's start, to choose among several: {local}")},
                "caller_number": {"type": "string", "description": "The number the appointment was booked with, only if it is not the one they call from"},
            }),
            vec![],
        ),
    ])
}

/// Vapi's MCP tool: at the start of each call Vapi lists the server's tools (over streamable
/// HTTP, with our key as a bearer token) and lets the model call them.
fn mcp_tool_json(mcp: &McpToolServer) -> Value {
    json!({
        "type": "mcp",
        "name": "zencall",
        "server": {
            "url": mcp.url,
            "headers": { "Authorization": format!("Bearer {}", mcp.api_key) },
        },
        "metadata": { "protocol": "shttp" },
    })
}

/// The assistant fields shared by creation and update.
fn assistant_body(
    spec: &AssistantSpec,
    server_secret: &SecretString,
) -> serde_json::Map<String, Value> {
    let (voice_provider, voice_id) = split_voice(&spec.voice);
    let body = json!({
        "name": spec.name,
        "firstMessage": spec.greeting,
        "model": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "messages": [{ "role": "system", "content": spec.system_prompt }],
        },
        "voice": { "provider": voice_provider, "voiceId": voice_id },
        "transcriber": { "provider": "deepgram", "model": "nova-2", "language": spec.language },
        "server": { "url": spec.server_url },
    });
    let mut map = match body {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let secret = server_secret.expose_secret();
    let server = if secret.is_empty() {
        json!({ "url": spec.server_url })
    } else {
        json!({ "url": spec.server_url, "secret": secret })
    };
    let mut tools = match &spec.booking {
        Some(booking) => booking_tools_json(booking, &server),
        None => json!([]),
    };
    if let (Some(mcp), Value::Array(list)) = (&spec.tool_server, &mut tools) {
        list.push(mcp_tool_json(mcp));
    }
    if tools.as_array().is_some_and(|t| !t.is_empty())
        && let Some(model) = map.get_mut("model")
    {
        model["tools"] = tools;
    }
    map.insert("server".into(), server);
    map
}

#[async_trait]
impl VoicePlatform for VapiClient {
    async fn create_assistant(&self, spec: &AssistantSpec) -> Result<String, ProviderError> {
        let mut body = assistant_body(spec, &self.server_secret);
        body.insert(
            "metadata".into(),
            json!({ "zencall_assistant_id": spec.external_id }),
        );
        let response = self
            .send(self.http.post(self.url(&["assistant"])).json(&body))
            .await?;
        let created: Created = http::json(PROVIDER, response).await?;
        Ok(created.id)
    }

    async fn find_assistant(
        &self,
        external_id: &str,
        created_after: DateTime<Utc>,
    ) -> Result<Option<String>, ProviderError> {
        let mut url = self.url(&["assistant"]);
        url.query_pairs_mut()
            .append_pair(
                "createdAtGt",
                &created_after.to_rfc3339_opts(SecondsFormat::Millis, true),
            )
            .append_pair("limit", LIST_LIMIT);
        let response = self.send(self.http.get(url)).await?;
        let list: List<ListedAssistant> = http::json(PROVIDER, response).await?;
        Ok(list
            .into_items()
            .into_iter()
            .find(|a| metadata_says(a.metadata.as_ref(), "zencall_assistant_id", external_id))
            .map(|a| a.id))
    }

    async fn update_assistant(&self, id: &str, spec: &AssistantSpec) -> Result<(), ProviderError> {
        let id = http::segment(PROVIDER, "assistant id", id)?;
        let body = assistant_body(spec, &self.server_secret);
        self.send(self.http.patch(self.url(&["assistant", id])).json(&body))
            .await?;
        Ok(())
    }

    async fn delete_assistant(&self, id: &str) -> Result<(), ProviderError> {
        let id = http::segment(PROVIDER, "assistant id", id)?;
        self.send(self.http.delete(self.url(&["assistant", id])))
            .await?;
        Ok(())
    }

    async fn import_number(&self, import: &NumberImport) -> Result<String, ProviderError> {
        if self.twilio_account_sid.is_empty() || self.twilio_auth_token.expose_secret().is_empty() {
            return Err(http::permanent(
                PROVIDER,
                "importing a Twilio number needs providers.twilio.account_sid and auth_token",
            ));
        }
        let body = json!({
            "provider": "twilio",
            "number": import.number,
            "twilioAccountSid": self.twilio_account_sid,
            "twilioAuthToken": self.twilio_auth_token.expose_secret(),
            "assistantId": import.assistant_id,
            "name": import.name,
        });
        let response = self
            .send(self.http.post(self.url(&["phone-number"])).json(&body))
            .await?;
        let created: Created = http::json(PROVIDER, response).await?;
        Ok(created.id)
    }

    async fn find_number(&self, number: &str) -> Result<Option<String>, ProviderError> {
        let mut url = self.url(&["phone-number"]);
        url.query_pairs_mut().append_pair("limit", LIST_LIMIT);
        let response = self.send(self.http.get(url)).await?;
        let list: List<ListedNumber> = http::json(PROVIDER, response).await?;
        Ok(list
            .into_items()
            .into_iter()
            .find(|n| n.number.as_deref() == Some(number))
            .map(|n| n.id))
    }

    async fn delete_number(&self, id: &str) -> Result<(), ProviderError> {
        let id = http::segment(PROVIDER, "phone number id", id)?;
        self.send(self.http.delete(self.url(&["phone-number", id])))
            .await?;
        Ok(())
    }

    async fn place_call(&self, call: &OutboundCall) -> Result<String, ProviderError> {
        // The attempt id goes into a header: only a plain identifier may.
        let key = http::segment(PROVIDER, "attempt id", &call.attempt_id)?;
        let request = self
            .http
            .post(self.url(&["call"]))
            .header(IDEMPOTENCY_KEY, key)
            .json(&call_body(call));
        let response = self.send(request).await?;
        let created: Created = http::json(PROVIDER, response).await?;
        Ok(created.id)
    }

    async fn find_call(
        &self,
        attempt_id: &str,
        assistant_id: &str,
        created_after: DateTime<Utc>,
    ) -> Result<Option<String>, ProviderError> {
        let mut url = self.url(&["call"]);
        url.query_pairs_mut()
            .append_pair("assistantId", assistant_id)
            .append_pair(
                "createdAtGt",
                &created_after.to_rfc3339_opts(SecondsFormat::Millis, true),
            )
            .append_pair("limit", LIST_LIMIT);
        let response = self.send(self.http.get(url)).await?;
        let list: List<ListedCall> = http::json(PROVIDER, response).await?;
        Ok(list
            .into_items()
            .into_iter()
            .find(|c| metadata_says(c.metadata.as_ref(), "zencall_attempt_id", attempt_id))
            .map(|c| c.id))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wiremock::matchers::{body_json, body_partial_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const KEY: &str = "vapi-private-key-123";
    const TWILIO_TOKEN: &str = "twilio-token-456";
    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    fn client_with_timeout(base_url: &str, timeout_ms: u64) -> VapiClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let vapi = VapiSettings {
            base_url: base_url.to_string(),
            api_key: SecretString::from(KEY),
            timeout_ms,
        };
        let twilio = TwilioSettings {
            base_url: "https://api.twilio.com".into(),
            account_sid: ACCOUNT.into(),
            auth_token: SecretString::from(TWILIO_TOKEN),
            timeout_ms: 1000,
            bundle_sid: String::new(),
            address_sid: String::new(),
        };
        VapiClient::new(&vapi, &twilio).expect("client")
    }

    fn client(server: &MockServer) -> VapiClient {
        client_with_timeout(&server.uri(), 2000)
    }

    fn spec() -> AssistantSpec {
        AssistantSpec {
            external_id: "01JASSISTANT".into(),
            name: "Salon Dupont".into(),
            language: "fr".into(),
            system_prompt: "Tu es l'assistant du salon.".into(),
            greeting: "Bonjour, salon Dupont !".into(),
            voice: "azure:fr-FR-DeniseNeural".into(),
            server_url: "https://zencall.example/webhooks/vapi".into(),
            booking: None,
            tool_server: None,
        }
    }

    fn bearer() -> (&'static str, String) {
        ("authorization", format!("Bearer {KEY}"))
    }

    fn outbound() -> OutboundCall {
        let mut variables = serde_json::Map::new();
        variables.insert("prenom".into(), json!("Camille"));
        variables.insert("rendez_vous".into(), json!("jeudi 11 h 30"));
        OutboundCall {
            attempt_id: "att_01JATTEMPT".into(),
            assistant_id: "asst-1".into(),
            phone_number_id: "num-1".into(),
            caller_number: "+33142868000".into(),
            customer_number: "+33612345678".into(),
            customer_name: Some("Camille Martin".into()),
            variables,
        }
    }

    #[tokio::test]
    async fn creating_an_assistant_posts_its_spec_with_the_bearer_key_and_returns_its_id() {
        let server = MockServer::start().await;
        let (name, value) = bearer();
        Mock::given(method("POST"))
            .and(path("/assistant"))
            .and(header(name, value.as_str()))
            .and(body_json(json!({
                "name": "Salon Dupont",
                "firstMessage": "Bonjour, salon Dupont !",
                "model": {
                    "provider": "openai",
                    "model": "gpt-4o-mini",
                    "messages": [{ "role": "system", "content": "Tu es l'assistant du salon." }],
                },
                "voice": { "provider": "azure", "voiceId": "fr-FR-DeniseNeural" },
                "transcriber": { "provider": "deepgram", "model": "nova-2", "language": "fr" },
                "server": { "url": "https://zencall.example/webhooks/vapi" },
                "metadata": { "zencall_assistant_id": "01JASSISTANT" },
            })))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"id": "asst-1", "name": "Salon Dupont"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let id = client(&server)
            .create_assistant(&spec())
            .await
            .expect("created");
        assert_eq!(id, "asst-1");
    }

    #[test]
    fn a_voice_without_a_provider_is_an_azure_voice() {
        assert_eq!(
            split_voice("fr-FR-DeniseNeural"),
            ("azure", "fr-FR-DeniseNeural")
        );
        assert_eq!(split_voice("11labs:abc:def"), ("11labs", "abc:def"));
    }

    #[tokio::test]
    async fn finding_an_assistant_matches_our_id_in_its_metadata() {
        let server = MockServer::start().await;
        let (name, value) = bearer();
        let after = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        Mock::given(method("GET"))
            .and(path("/assistant"))
            .and(header(name, value.as_str()))
            .and(query_param("createdAtGt", "2026-11-22T10:00:00.000Z"))
            .and(query_param("limit", "1000"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                { "id": "other", "metadata": { "zencall_assistant_id": "01JOTHER" } },
                { "id": "no-metadata" },
                { "id": "asst-1", "metadata": { "zencall_assistant_id": "01JASSISTANT" } },
            ])))
            .mount(&server)
            .await;
        let vapi = client(&server);
        assert_eq!(
            vapi.find_assistant("01JASSISTANT", after)
                .await
                .expect("found"),
            Some("asst-1".into())
        );
        assert_eq!(
            vapi.find_assistant("01JMISSING", after)
                .await
                .expect("listed"),
            None
        );
    }

    #[tokio::test]
    async fn updating_an_assistant_patches_everything_but_its_metadata() {
        let server = MockServer::start().await;
        let (name, value) = bearer();
        Mock::given(method("PATCH"))
            .and(path("/assistant/asst-1"))
            .and(header(name, value.as_str()))
            .and(body_json(json!({
                "name": "Salon Dupont",
                "firstMessage": "Bonjour, salon Dupont !",
                "model": {
                    "provider": "openai",
                    "model": "gpt-4o-mini",
                    "messages": [{ "role": "system", "content": "Tu es l'assistant du salon." }],
                },
                "voice": { "provider": "azure", "voiceId": "fr-FR-DeniseNeural" },
                "transcriber": { "provider": "deepgram", "model": "nova-2", "language": "fr" },
                "server": { "url": "https://zencall.example/webhooks/vapi" },
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "asst-1"})))
            .expect(1)
            .mount(&server)
            .await;
        client(&server)
            .update_assistant("asst-1", &spec())
            .await
            .expect("updated");
    }

    #[tokio::test]
    async fn deleting_a_missing_assistant_is_not_found() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .and(path("/assistant/gone"))
            .respond_with(
                ResponseTemplate::new(404)
                    .set_body_json(json!({"message": "Not Found", "statusCode": 404})),
            )
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/assistant/asst-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "asst-1"})))
            .mount(&server)
            .await;
        let vapi = client(&server);
        assert_eq!(
            vapi.delete_assistant("gone").await,
            Err(ProviderError::NotFound { provider: "vapi" })
        );
        vapi.delete_assistant("asst-1").await.expect("deleted");
    }

    #[tokio::test]
    async fn an_id_with_path_characters_is_refused_before_any_request() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let vapi = client(&server);
        for bad in ["../phone-number", "a?b", "a#b", ""] {
            let err = vapi.delete_assistant(bad).await.expect_err("refused");
            assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
        }
    }

    #[tokio::test]
    async fn importing_a_number_sends_the_twilio_credentials_and_returns_its_id() {
        let server = MockServer::start().await;
        let (name, value) = bearer();
        Mock::given(method("POST"))
            .and(path("/phone-number"))
            .and(header(name, value.as_str()))
            .and(body_json(json!({
                "provider": "twilio",
                "number": "+33142868000",
                "twilioAccountSid": ACCOUNT,
                "twilioAuthToken": TWILIO_TOKEN,
                "assistantId": "asst-1",
                "name": "Salon Dupont",
            })))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"id": "num-1", "number": "+33142868000"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let import = NumberImport {
            number: "+33142868000".into(),
            assistant_id: "asst-1".into(),
            name: "Salon Dupont".into(),
        };
        assert_eq!(
            client(&server)
                .import_number(&import)
                .await
                .expect("imported"),
            "num-1"
        );
    }

    #[tokio::test]
    async fn finding_a_number_matches_its_e164_form_and_deleting_it_uses_its_id() {
        let server = MockServer::start().await;
        let (name, value) = bearer();
        Mock::given(method("GET"))
            .and(path("/phone-number"))
            .and(header(name, value.as_str()))
            .and(query_param("limit", "1000"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                { "id": "num-0", "number": "+14155550100" },
                { "id": "num-1", "number": "+33142868000" },
            ])))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/phone-number/num-1"))
            .and(header(name, value.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "num-1"})))
            .expect(1)
            .mount(&server)
            .await;
        let vapi = client(&server);
        assert_eq!(
            vapi.find_number("+33142868000").await.expect("found"),
            Some("num-1".into())
        );
        assert_eq!(
            vapi.find_number("+33999999999").await.expect("listed"),
            None
        );
        vapi.delete_number("num-1").await.expect("deleted");
    }

    #[tokio::test]
    async fn a_refused_request_is_permanent_and_carries_vapis_message() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/assistant"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "message": ["voice.voiceId must be a string", format!("bad key {KEY}")],
                "error": "Bad Request",
                "statusCode": 400,
            })))
            .mount(&server)
            .await;
        let err = client(&server)
            .create_assistant(&spec())
            .await
            .expect_err("refused");
        let ProviderError::Permanent { provider, message } = err else {
            panic!("not permanent: {err:?}")
        };
        assert_eq!(provider, "vapi");
        assert!(message.contains("HTTP 400"), "{message}");
        assert!(
            message.contains("voice.voiceId must be a string"),
            "{message}"
        );
        assert!(!message.contains(KEY), "the key leaked: {message}");
    }

    #[tokio::test]
    async fn refused_credentials_are_permanent_and_say_so() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(401)
                    .set_body_json(json!({"message": "Invalid Key", "statusCode": 401})),
            )
            .mount(&server)
            .await;
        let err = client(&server)
            .find_number("+33142868000")
            .await
            .expect_err("refused");
        let ProviderError::Permanent { message, .. } = err else {
            panic!("not permanent: {err:?}")
        };
        assert!(message.contains("credentials were refused"), "{message}");
    }

    #[tokio::test]
    async fn a_server_error_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
            .mount(&server)
            .await;
        let err = client(&server)
            .create_assistant(&spec())
            .await
            .expect_err("failed");
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("HTTP 503"), "{err}");
    }

    #[tokio::test]
    async fn a_rate_limited_request_is_transient_with_its_retry_after() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "7")
                    .set_body_json(json!({"message": "Too Many Requests"})),
            )
            .mount(&server)
            .await;
        let err = client(&server)
            .create_assistant(&spec())
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
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"id": "late"}))
                    .set_delay(Duration::from_secs(2)),
            )
            .mount(&server)
            .await;
        let vapi = client_with_timeout(&server.uri(), 100);
        let err = vapi.create_assistant(&spec()).await.expect_err("timed out");
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("timed out"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_transient() {
        let vapi = client_with_timeout("http://127.0.0.1:1", 1000);
        let err = vapi.delete_number("num-1").await.expect_err("unreachable");
        assert!(err.is_transient(), "{err:?}");
    }

    #[tokio::test]
    async fn placing_a_call_posts_it_keyed_by_our_attempt_and_returns_vapis_call_id() {
        let server = MockServer::start().await;
        let (name, value) = bearer();
        Mock::given(method("POST"))
            .and(path("/call"))
            .and(header(name, value.as_str()))
            .and(header("idempotency-key", "att_01JATTEMPT"))
            .and(header("content-type", "application/json"))
            .and(body_json(json!({
                "assistantId": "asst-1",
                "phoneNumberId": "num-1",
                "customer": { "number": "+33612345678", "name": "Camille Martin" },
                "assistantOverrides": {
                    "variableValues": { "prenom": "Camille", "rendez_vous": "jeudi 11 h 30" },
                },
                "metadata": { "zencall_attempt_id": "att_01JATTEMPT" },
                "name": "att_01JATTEMPT",
            })))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({ "id": "call-1", "status": "queued" })),
            )
            .expect(1)
            .mount(&server)
            .await;
        let id = client(&server)
            .place_call(&outbound())
            .await
            .expect("placed");
        assert_eq!(id, "call-1");
    }

    #[tokio::test]
    async fn a_customer_without_a_name_is_called_by_number_alone() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/call"))
            .and(body_json(json!({
                "assistantId": "asst-1",
                "phoneNumberId": "num-1",
                "customer": { "number": "+33612345678" },
                "assistantOverrides": { "variableValues": {} },
                "metadata": { "zencall_attempt_id": "att_01JATTEMPT" },
                "name": "att_01JATTEMPT",
            })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": "call-2" })))
            .expect(1)
            .mount(&server)
            .await;
        let call = OutboundCall {
            customer_name: None,
            variables: serde_json::Map::new(),
            ..outbound()
        };
        assert_eq!(
            client(&server).place_call(&call).await,
            Ok("call-2".to_string())
        );
    }

    #[tokio::test]
    async fn finding_a_call_lists_the_assistants_recent_calls_and_matches_our_attempt() {
        let server = MockServer::start().await;
        let (name, value) = bearer();
        let after = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        Mock::given(method("GET"))
            .and(path("/call"))
            .and(header(name, value.as_str()))
            .and(query_param("assistantId", "asst-1"))
            .and(query_param("createdAtGt", "2026-11-22T10:00:00.000Z"))
            .and(query_param("limit", "1000"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                { "id": "call-0", "metadata": { "zencall_attempt_id": "att_01JOTHER" } },
                { "id": "inbound-call" },
                { "id": "call-1", "metadata": { "zencall_attempt_id": "att_01JATTEMPT" } },
            ])))
            .expect(2)
            .mount(&server)
            .await;
        let vapi = client(&server);
        assert_eq!(
            vapi.find_call("att_01JATTEMPT", "asst-1", after)
                .await
                .expect("found"),
            Some("call-1".into())
        );
        assert_eq!(
            vapi.find_call("att_01JMISSING", "asst-1", after)
                .await
                .expect("listed"),
            None
        );
    }

    #[tokio::test]
    async fn a_refused_call_is_permanent_and_carries_vapis_message() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/call"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "message": ["customer.number must be a valid phone number in the E.164 format"],
                "error": "Bad Request",
                "statusCode": 400,
            })))
            .mount(&server)
            .await;
        let err = client(&server)
            .place_call(&outbound())
            .await
            .expect_err("refused");
        let ProviderError::Permanent { provider, message } = err else {
            panic!("not permanent: {err:?}")
        };
        assert_eq!(provider, "vapi");
        assert!(message.contains("HTTP 400"), "{message}");
        assert!(
            message.contains("customer.number must be a valid phone number"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_rate_limited_call_is_transient_with_its_retry_after() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/call"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "12")
                    .set_body_json(json!({ "message": "Over Concurrency Limit" })),
            )
            .mount(&server)
            .await;
        let err = client(&server)
            .place_call(&outbound())
            .await
            .expect_err("limited");
        let ProviderError::Transient {
            retry_after,
            message,
            ..
        } = err
        else {
            panic!("not transient: {err:?}")
        };
        assert_eq!(retry_after, Some(Duration::from_secs(12)));
        assert!(message.contains("Over Concurrency Limit"), "{message}");
    }

    #[tokio::test]
    async fn an_attempt_id_unfit_for_a_header_is_refused_before_any_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": "call-1" })))
            .expect(0)
            .mount(&server)
            .await;
        let vapi = client(&server);
        for bad in ["", "att 1", "att\n1"] {
            let call = OutboundCall {
                attempt_id: bad.into(),
                ..outbound()
            };
            let err = vapi.place_call(&call).await.expect_err("refused");
            assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
        }
    }

    #[test]
    fn an_empty_api_key_is_refused_at_construction() {
        let vapi = VapiSettings {
            base_url: "https://api.vapi.ai".into(),
            api_key: SecretString::from(""),
            timeout_ms: 1000,
        };
        let twilio = TwilioSettings {
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            auth_token: SecretString::from(""),
            timeout_ms: 1000,
            bundle_sid: String::new(),
            address_sid: String::new(),
        };
        assert!(VapiClient::new(&vapi, &twilio).is_err());
    }

    #[tokio::test]
    async fn assistants_carry_the_server_secret_vapi_must_echo_to_our_webhook() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/assistant"))
            .and(body_partial_json(json!({
                "server": { "url": "https://zencall.example/webhooks/vapi", "secret": "hook-secret" },
            })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": "a-1" })))
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server).with_server_secret(SecretString::from("hook-secret"));
        assert_eq!(
            client.create_assistant(&spec()).await,
            Ok("a-1".to_string())
        );
    }

    #[tokio::test]
    async fn an_assistant_with_hours_gets_the_three_booking_tools_served_by_our_webhook() {
        let server = MockServer::start().await;
        Mock::given(method("PATCH"))
            .and(path("/assistant/asst-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "asst-1"})))
            .expect(2)
            .mount(&server)
            .await;
        let client = client(&server).with_server_secret(SecretString::from("hook-secret"));
        let booking = AssistantSpec {
            booking: Some(BookingTools {
                time_zone: "Europe/Paris".into(),
                services: vec!["coupe".into(), "couleur".into()],
            }),
            ..spec()
        };
        client
            .update_assistant("asst-1", &booking)
            .await
            .expect("updated");
        client
            .update_assistant("asst-1", &spec())
            .await
            .expect("updated");
        let received = server.received_requests().await.expect("recorded");
        let with: Value = serde_json::from_slice(&received[0].body).expect("json");
        let tools = with["model"]["tools"].as_array().expect("tools");
        let names: Vec<&str> = tools
            .iter()
            .map(|t| t["function"]["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            names,
            [CHECK_AVAILABILITY, BOOK_APPOINTMENT, CANCEL_APPOINTMENT]
        );
        for tool in tools {
            assert_eq!(tool["type"], "function");
            assert_eq!(tool["async"], false);
            assert_eq!(
                tool["server"],
                json!({"url": "https://zencall.example/webhooks/vapi", "secret": "hook-secret"})
            );
            assert_eq!(tool["function"]["parameters"]["type"], "object");
        }
        let book = &tools[1]["function"]["parameters"];
        assert_eq!(book["required"], json!(["start", "caller_name"]));
        assert_eq!(
            book["properties"]["service"]["enum"],
            json!(["coupe", "couleur"])
        );
        assert!(
            book["properties"]["start"]["description"]
                .as_str()
                .expect("description")
                .contains("Europe/Paris"),
            "{book}"
        );
        // Without hours, the model is replaced without tools: they are taken away.
        let without: Value = serde_json::from_slice(&received[1].body).expect("json");
        assert!(without["model"].get("tools").is_none(), "{without}");
    }

    #[tokio::test]
    async fn a_configurator_gets_our_mcp_server_as_a_tool_with_its_key_as_bearer() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/assistant"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "cfg-1"})))
            .expect(1)
            .mount(&server)
            .await;
        let configurator = AssistantSpec {
            tool_server: Some(McpToolServer {
                url: "https://zencall.example/mcp".into(),
                api_key: "zc_secret".into(),
            }),
            ..spec()
        };
        assert!(!format!("{configurator:?}").contains("zc_secret"));
        let id = client(&server)
            .create_assistant(&configurator)
            .await
            .expect("created");
        assert_eq!(id, "cfg-1");
        let received = server.received_requests().await.expect("recorded");
        let body: Value = serde_json::from_slice(&received[0].body).expect("json");
        assert_eq!(
            body["model"]["tools"],
            json!([{
                "type": "mcp",
                "name": "zencall",
                "server": {
                    "url": "https://zencall.example/mcp",
                    "headers": {"Authorization": "Bearer zc_secret"},
                },
                "metadata": {"protocol": "shttp"},
            }])
        );
    }
}
