//! The MCP server at `/mcp`, end to end through rmcp's own client over streamable HTTP, on
//! every backend, with the simulated providers: the tools and their schemas, an assistant
//! created, provisioned, listed and changed through them, and every refusal (bad argument,
//! scope, missing key) answered the way an agent can act on.

use std::time::Duration;

use reqwest::StatusCode;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulator::Simulator;

use crate::test_app::{TestApp, key_for, marcel, test_settings};

/// An MCP client session.
pub type McpClient = RunningService<RoleClient, ClientConfig>;

/// The seven tools, sorted.
const TOOLS: [&str; 8] = [
    "create_assistant_and_provision_number",
    "get_assistant",
    "get_assistant_config_schema",
    "get_sector_template",
    "list_assistants",
    "provision_phone_number",
    "update_assistant",
    "validate_assistant_config",
];

/// Connects to `app`'s `/mcp` with `key` (initialize included).
pub async fn connect(app: &TestApp, key: &str) -> McpClient {
    let config =
        StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", app.base)).auth_header(key);
    ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap()
}

/// Calls tool `name` with `args`; a protocol error fails the test.
pub async fn call(client: &McpClient, name: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("tool arguments must be an object: {args}")
    };
    client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{name}: protocol error {e}"))
}

/// The structured result of a successful call.
pub fn ok(result: CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "tool error: {}", text(&result));
    result.structured_content.expect("structured content")
}

/// The text of a tool error.
pub fn refusal(result: CallToolResult) -> String {
    assert_eq!(result.is_error, Some(true), "not an error: {result:?}");
    text(&result)
}

fn text(result: &CallToolResult) -> String {
    let content = serde_json::to_value(&result.content).unwrap();
    content
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Polls `get_assistant` until assistant `id` has `status`; fails after 30 s.
async fn await_status(client: &McpClient, id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = ok(call(client, "get_assistant", json!({"assistant_id": id})).await);
        if got["assistant"]["status"] == status {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "assistant {id} never became {status}: {got}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn tools_list_names_the_eight_tools_with_their_input_and_output_schemas() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let client = connect(&app, &app.key).await;
        let info = client.peer_info().unwrap();
        assert_eq!(info.server_info.as_ref().unwrap().name, "zencall");
        let mut tools = client.list_all_tools().await.unwrap();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, TOOLS);
        for tool in &tools {
            assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
            assert!(
                tool.output_schema.is_some(),
                "{} has no output schema",
                tool.name
            );
            assert!(tool.description.as_ref().is_some_and(|d| d.len() > 40));
        }
        let create = &tools[0];
        let props = &create.input_schema["properties"];
        assert!(props["business"].is_object(), "{props}");
        assert!(props["phone_number"].is_object(), "{props}");
        let required = create.input_schema["required"].as_array().unwrap();
        for field in ["name", "sector", "business"] {
            assert!(required.contains(&json!(field)), "{field} not required");
        }
        let get = tools.iter().find(|t| t.name == "get_assistant").unwrap();
        let out = serde_json::to_string(get.output_schema.as_ref().unwrap()).unwrap();
        assert!(
            out.contains("phone_number") && out.contains("answered"),
            "{out}"
        );
        client.cancel().await.unwrap();
        app.stop().await;
    }
}

#[tokio::test]
async fn an_assistant_created_through_mcp_becomes_active_and_is_listed_read_and_changed() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let client = connect(&app, &app.key).await;

        let checked = ok(call(&client, "validate_assistant_config", marcel()).await);
        assert_eq!(checked, json!({"valid": true, "errors": []}), "{backend:?}");
        assert_eq!(
            ok(call(&client, "list_assistants", json!({})).await)["data"],
            json!([]),
            "validating stores nothing"
        );

        let created = ok(call(&client, "create_assistant_and_provision_number", marcel()).await);
        assert_eq!(created["status"], "provisioning", "{created}");
        assert!(created["phone_number"].is_null());
        let id = created["id"].as_str().unwrap().to_string();
        let active = await_status(&client, &id, "active").await;
        let number = active["assistant"]["phone_number"].as_str().unwrap();
        assert!(number.starts_with("+33"), "{number}");
        assert_eq!(sim.owned_numbers(), vec![number.to_string()]);
        assert_eq!(active["stats"]["calls"], 0, "{active}");
        assert_eq!(active["stats"]["assistant_id"], id.as_str());
        // REST sees the same assistant.
        let rest = app.await_assistant(&id, "active").await;
        assert_eq!(rest["phone_number"], number);

        let page = ok(call(&client, "list_assistants", json!({"status": "active"})).await);
        assert_eq!(page["data"][0]["id"], id.as_str(), "{page}");
        assert_eq!(page["has_more"], false);
        let none = ok(call(&client, "list_assistants", json!({"status": "failed"})).await);
        assert_eq!(none["data"], json!([]));
        let second = ok(call(&client, "create_assistant_and_provision_number", marcel()).await);
        let first_page = ok(call(&client, "list_assistants", json!({"limit": 1})).await);
        assert_eq!(first_page["data"][0]["id"], second["id"], "newest first");
        assert_eq!(first_page["has_more"], true);
        let cursor = first_page["next_cursor"].as_str().unwrap();
        let next = ok(call(
            &client,
            "list_assistants",
            json!({"limit": 1, "starting_after": cursor}),
        )
        .await);
        assert_eq!(next["data"][0]["id"], id.as_str());

        let changed = ok(call(
            &client,
            "update_assistant",
            json!({"assistant_id": id, "greeting": "Bonjour, Chez Marcel !"}),
        )
        .await);
        assert_eq!(changed["greeting"], "Bonjour, Chez Marcel !");
        assert_eq!(changed["config_version"], 2);

        let template = ok(call(
            &client,
            "get_sector_template",
            json!({"sector": "craftsman", "language": "en"}),
        )
        .await);
        assert!(
            template["system_prompt_template"]
                .as_str()
                .unwrap()
                .contains("{business.name}"),
            "{template}"
        );
        assert!(template["duties"].as_str().unwrap().contains("emergencies"));
        let asked: Vec<&str> = template["questions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["field"].as_str().unwrap())
            .collect();
        assert_eq!(asked[0], "business.name");
        assert!(
            asked.contains(&"sector_details.emergencies.surcharge_cents"),
            "{asked:?}"
        );
        client.cancel().await.unwrap();
        app.stop().await;
    }
}

#[tokio::test]
async fn an_assistant_whose_provisioning_failed_gets_a_number_through_provision_phone_number() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let client = connect(&app, &app.key).await;
        let mut body = marcel();
        // No geographic number starts with 9 in France.
        body["phone_number"] = json!({"country": "FR", "area_code": "9"});
        let created = ok(call(&client, "create_assistant_and_provision_number", body).await);
        let id = created["id"].as_str().unwrap().to_string();
        let failed = await_status(&client, &id, "failed").await;
        assert!(
            failed["assistant"]["failure_reason"]
                .as_str()
                .unwrap()
                .contains("area code 9"),
            "{failed}"
        );

        let retried = ok(call(
            &client,
            "provision_phone_number",
            json!({"assistant_id": id, "country": "FR", "area_code": "1"}),
        )
        .await);
        assert_eq!(retried["status"], "provisioning", "{retried}");
        assert_eq!(retried["area_code"], "1");
        let active = await_status(&client, &id, "active").await;
        let number = active["assistant"]["phone_number"].as_str().unwrap();
        assert!(number.starts_with("+331"), "{number}");
        assert_eq!(sim.owned_numbers(), vec![number.to_string()]);
        assert_eq!(
            sim.assistant_count(),
            1,
            "the voice assistant is not made twice"
        );

        let again = refusal(
            call(
                &client,
                "provision_phone_number",
                json!({"assistant_id": id, "area_code": "2"}),
            )
            .await,
        );
        assert!(again.contains("already has the number"), "{again}");
        client.cancel().await.unwrap();
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_arguments_get_a_tool_error_naming_the_field() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let client = connect(&app, &app.key).await;
        let mut body = marcel();
        body["business"]["transfer_number"] = json!("12");
        let text = refusal(
            call(
                &client,
                "create_assistant_and_provision_number",
                body.clone(),
            )
            .await,
        );
        assert!(text.starts_with("business.transfer_number: "), "{text}");
        let checked = ok(call(&client, "validate_assistant_config", body).await);
        assert_eq!(checked["valid"], false);
        assert_eq!(checked["errors"][0]["field"], "business.transfer_number");

        let cases = [
            (
                "create_assistant_and_provision_number",
                json!({"sector": "bakery"}),
                "sector: the sector must be one of",
            ),
            (
                "create_assistant_and_provision_number",
                json!({"name": 7}),
                "name: invalid type",
            ),
            (
                "create_assistant_and_provision_number",
                json!({"nmae": "x"}),
                "nmae: unknown field `nmae`",
            ),
            (
                "list_assistants",
                json!({"limit": "ten"}),
                "limit: invalid type",
            ),
            (
                "list_assistants",
                json!({"limit": 500}),
                "limit: must be between 1 and 100",
            ),
            (
                "list_assistants",
                json!({"status": "sleeping"}),
                "status: must be one of",
            ),
            (
                "get_assistant",
                json!({}),
                "assistant_id: missing field `assistant_id`",
            ),
            (
                "provision_phone_number",
                json!({"assistant_id": "asst_x", "area_code": "1a"}),
                "area_code: the area code must be 1 to 6 digits",
            ),
            (
                "provision_phone_number",
                json!({"assistant_id": "asst_x", "country": "ZZ"}),
                "country: ",
            ),
            (
                "update_assistant",
                json!({"assistant_id": "asst_x", "voice": " "}),
                "voice: ",
            ),
            (
                "get_sector_template",
                json!({"sector": "bakery"}),
                "sector: must be one of",
            ),
        ];
        for (tool, args, expected) in cases {
            let text = refusal(call(&client, tool, args.clone()).await);
            assert!(text.contains(expected), "{tool} {args}: {text}");
        }
        let checked = ok(call(&client, "validate_assistant_config", json!({"name": 7})).await);
        assert_eq!(checked["errors"][0]["field"], "name", "{checked}");
        let checked = ok(call(&client, "validate_assistant_config", json!({"nmae": "x"})).await);
        assert_eq!(checked["errors"][0]["field"], "nmae", "{checked}");
        let missing = refusal(
            call(
                &client,
                "get_assistant",
                json!({"assistant_id": "asst_none"}),
            )
            .await,
        );
        assert_eq!(missing, "assistant asst_none not found");
        client.cancel().await.unwrap();
        app.stop().await;
    }
}

#[tokio::test]
async fn a_read_only_key_is_refused_the_write_tools_and_no_key_gets_401() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let id = app.create_assistant(marcel()).await;
        let read_key = key_for(&app.test_db, &app.org_id, Scope::Read).await;
        let client = connect(&app, &read_key).await;
        for (tool, args) in [
            ("create_assistant_and_provision_number", marcel()),
            (
                "update_assistant",
                json!({"assistant_id": id, "greeting": "Bonjour"}),
            ),
            (
                "provision_phone_number",
                json!({"assistant_id": id, "area_code": "1"}),
            ),
        ] {
            let text = refusal(call(&client, tool, args).await);
            assert!(text.contains("needs the write scope"), "{tool}: {text}");
        }
        let got = ok(call(&client, "get_assistant", json!({"assistant_id": id})).await);
        assert_eq!(got["assistant"]["id"], id.as_str());
        assert_eq!(
            got["assistant"]["greeting"],
            app.await_assistant(&id, "active").await["greeting"]
        );
        let page = ok(call(&client, "list_assistants", json!({})).await);
        assert_eq!(page["data"].as_array().unwrap().len(), 1);
        client.cancel().await.unwrap();

        let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"}}});
        let http = reqwest::Client::new();
        for key in [None, Some("zc_not_a_key")] {
            let mut request = http
                .post(format!("{}/mcp", app.base))
                .header("accept", "application/json, text/event-stream")
                .json(&initialize);
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{key:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["status"], 401, "{problem}");
        }
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", app.base));
        let refused = ClientConfig::default()
            .serve(StreamableHttpClientTransport::from_config(config))
            .await;
        assert!(refused.is_err(), "a client without a key must not get in");
        // With a key, a host that is not allowed is refused (DNS rebinding).
        let response = http
            .post(format!("{}/mcp", app.base))
            .bearer_auth(&app.key)
            .header("host", "evil.example")
            .header("accept", "application/json, text/event-stream")
            .json(&initialize)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_mcp_door_counts_against_the_same_per_key_quota_as_rest() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let mut settings = test_settings();
    settings.rate_limits.admin_per_minute = 3;
    let app = TestApp::spawn_with(
        TestDb::sqlite().await,
        settings,
        crate::test_app::simulated(&sim),
    )
    .await;
    for _ in 0..3 {
        let (status, _) = app
            .call(reqwest::Method::GET, "/v1/assistants", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let response = reqwest::Client::new()
        .post(format!("{}/mcp", app.base))
        .bearer_auth(&app.key)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    app.stop().await;
}

#[tokio::test]
async fn a_salon_configured_through_mcp_stores_its_services_and_its_prompt_says_them() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let client = connect(&app, &app.key).await;

        let schema = ok(call(&client, "get_assistant_config_schema", json!({})).await);
        assert_eq!(schema["title"], "AssistantConfig", "{backend:?}");
        assert!(
            schema["properties"]["sector_details"].is_object(),
            "{schema}"
        );
        let (_, rest) = app
            .call(
                reqwest::Method::GET,
                "/v1/assistant-config/schema",
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(schema, rest, "both doors answer the same schema");
        let text = refusal(call(&client, "get_assistant_config_schema", json!({"x": 1})).await);
        assert!(text.starts_with("x: unknown field"), "{text}");

        let mut bad = crate::assistants::salon();
        bad["sector_details"]["services"][0]["duration_minutes"] = json!(2);
        let text = refusal(
            call(
                &client,
                "create_assistant_and_provision_number",
                bad.clone(),
            )
            .await,
        );
        assert_eq!(
            text,
            "sector_details.services[0].duration_minutes: the duration must be between 5 and 480 minutes"
        );
        let checked = ok(call(&client, "validate_assistant_config", bad).await);
        assert_eq!(checked["valid"], false);
        assert_eq!(
            checked["errors"][0]["field"],
            "sector_details.services[0].duration_minutes"
        );

        let created = ok(call(
            &client,
            "create_assistant_and_provision_number",
            crate::assistants::salon(),
        )
        .await);
        let id = created["id"].as_str().unwrap().to_string();
        let shown = ok(call(&client, "get_assistant", json!({"assistant_id": id})).await);
        assert_eq!(
            shown["assistant"]["sector_details"]["services"][1],
            json!({"name": "Balayage", "duration_minutes": 120, "price_cents": null}),
            "{backend:?}: {shown}"
        );
        let prompt = shown["assistant"]["system_prompt"].as_str().unwrap();
        assert!(prompt.contains("Balayage (120 min)"), "{prompt}");

        let changed = ok(call(
            &client,
            "update_assistant",
            json!({"assistant_id": id, "sector_details": {"sector": "hair_beauty_salon",
                "services": [{"name": "Manucure", "duration_minutes": 40, "price_cents": 2500}]}}),
        )
        .await);
        assert!(
            changed["system_prompt"]
                .as_str()
                .unwrap()
                .contains("Manucure (40 min, 25,00 €)"),
            "{changed}"
        );
        let text = refusal(
            call(
                &client,
                "update_assistant",
                json!({"assistant_id": id, "sector_details": {"sector": "craftsman", "trades": ["plumbing"]}}),
            )
            .await,
        );
        assert!(
            text.starts_with("sector_details: these details are for a craftsman"),
            "{text}"
        );
        client.cancel().await.unwrap();
        app.stop().await;
    }
}
