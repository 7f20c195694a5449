//! The do-not-call list and the consent registry end to end, on every backend: numbers added,
//! looked up (national numbers normalised, `+` encoded or not) and removed; bulk imports that
//! take the valid rows and report the others by index; consents withdrawn with their proof
//! kept; each invalid field named; scopes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::test_db::TestDb;
use zencall_core::store::{consents, dnc};
use zencall_providers::simulator::Simulator;

use crate::test_app::{TestApp, key_for, test_settings};

async fn spawn(db: TestDb) -> TestApp {
    let sim = Simulator::new(&test_settings().providers.simulator);
    TestApp::spawn(db, &sim).await
}

/// The `field`s of a 422 problem's `errors`.
fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no field errors: {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

/// A consent body for `number`, given on 1 September 2026.
fn consent(number: &str, proof: &str) -> Value {
    json!({"number": number, "given_at": "2026-09-01T10:00:00Z", "method": "web_form", "proof": proof})
}

#[tokio::test]
async fn a_dnc_number_is_added_once_found_in_either_spelling_and_removed() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let app = spawn(db).await;
        let key = Some(app.key.as_str());
        let body = json!({"number": "06 12 34 56 78", "reason": "  asked not to be called  "});
        let (status, entry) = app.call(Method::POST, "/v1/dnc", key, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{backend:?}: {entry}");
        assert_eq!(entry["number"], "+33612345678");
        assert_eq!(entry["reason"], "asked not to be called");
        assert_eq!(entry["source"], "api");
        let again = json!({"number": "+33 6 12 34 56 78", "reason": "another reason"});
        let (status, same) = app.call(Method::POST, "/v1/dnc", key, Some(again)).await;
        assert_eq!(status, StatusCode::OK, "{same}");
        assert_eq!(same, entry);

        for path in ["/v1/dnc/+33612345678", "/v1/dnc/%2B33612345678"] {
            let (status, found) = app.call(Method::GET, path, key, None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {found}");
            assert_eq!(found, entry);
        }
        let (_, list) = app.call(Method::GET, "/v1/dnc", key, None).await;
        assert_eq!(list["data"], json!([entry]));
        assert!(
            dnc::is_listed(&app.test_db.db, &app.org_id, "+33612345678")
                .await
                .unwrap()
        );

        let (status, _) = app
            .call(Method::DELETE, "/v1/dnc/%2B33612345678", key, None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        for method in [Method::GET, Method::DELETE] {
            let (status, problem) = app
                .call(method.clone(), "/v1/dnc/+33612345678", key, None)
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {problem}");
        }
        assert!(
            !dnc::is_listed(&app.test_db.db, &app.org_id, "+33612345678")
                .await
                .unwrap()
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_dnc_import_lists_the_valid_rows_and_reports_each_invalid_one_by_index() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let app = spawn(db).await;
        let key = Some(app.key.as_str());
        let (status, _) = app
            .call(
                Method::POST,
                "/v1/dnc",
                key,
                Some(json!({"number": "+33698765432", "reason": "first"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let body = json!({"entries": [
            {"number": "06 12 34 56 78", "reason": "refused on the phone"},
            {"number": "not a number"},
            {"number": "+33698765432", "reason": "imported"},
            {"number": "(415) 555-2671", "default_country": "US"},
            {"reason": "no number"},
            {"number": "0612345678"},
            {"number": "0612345679", "default_country": "XX"},
        ]});
        let (status, result) = app
            .call(Method::POST, "/v1/dnc/import", key, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {result}");
        assert_eq!(result["added"], 2, "{result}");
        assert_eq!(result["already_listed"], 2, "{result}");
        let invalid = result["invalid"].as_array().unwrap();
        let indexes: Vec<u64> = invalid
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect();
        assert_eq!(indexes, [1, 4, 6]);
        assert_eq!(invalid[0]["number"], "not a number");
        assert!(
            invalid[0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("number:")
        );
        assert_eq!(invalid[1]["number"], Value::Null);
        assert!(
            invalid[2]["reason"]
                .as_str()
                .unwrap()
                .contains("default_country")
        );

        let (_, page) = app.call(Method::GET, "/v1/dnc?limit=2", key, None).await;
        let numbers: Vec<&str> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["number"].as_str().unwrap())
            .collect();
        assert_eq!(numbers, ["+14155552671", "+33612345678"]);
        assert_eq!(page["has_more"], true);
        let next = format!(
            "/v1/dnc?limit=2&starting_after={}",
            page["next_cursor"].as_str().unwrap().replace('+', "%2B")
        );
        let (_, last) = app.call(Method::GET, &next, key, None).await;
        assert_eq!(last["data"][0]["number"], "+33698765432");
        assert_eq!(last["data"][0]["reason"], "first", "the first entry stays");
        assert_eq!(last["has_more"], false);
        let (_, imported) = app
            .call(Method::GET, "/v1/dnc/+33612345678", key, None)
            .await;
        assert_eq!(imported["source"], "import");
        assert_eq!(imported["reason"], "refused on the phone");
        app.stop().await;
    }
}

#[tokio::test]
async fn ten_thousand_numbers_are_imported_in_one_request_and_more_are_refused() {
    for db in TestDb::all().await {
        let app = spawn(db).await;
        let key = Some(app.key.as_str());
        let entries: Vec<Value> = (0..10_000)
            .map(|i| json!({"number": format!("06{:08}", 10_000_000 + i)}))
            .collect();
        let (status, result) = app
            .call(
                Method::POST,
                "/v1/dnc/import",
                key,
                Some(json!({"entries": entries})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{result}");
        assert_eq!(result["added"], 10_000);
        assert_eq!(result["invalid"], json!([]));
        let mut too_many = entries.clone();
        too_many.push(json!({"number": "+33612345678"}));
        let (status, problem) = app
            .call(
                Method::POST,
                "/v1/dnc/import",
                key,
                Some(json!({"entries": too_many})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(fields(&problem), ["entries"]);
        assert!(
            !dnc::is_listed(&app.test_db.db, &app.org_id, "+33612345678")
                .await
                .unwrap()
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_withdrawn_consent_keeps_its_proof_and_recording_it_again_restores_it() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let app = spawn(db).await;
        let key = Some(app.key.as_str());
        let mut body = consent("06 12 34 56 78", "web form #4521, IP 203.0.113.7");
        body["expires_at"] = json!("2029-09-01T10:00:00Z");
        let (status, recorded) = app
            .call(Method::POST, "/v1/consents", key, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{backend:?}: {recorded}");
        assert_eq!(recorded["number"], "+33612345678");
        assert_eq!(recorded["method"], "web_form");
        assert_eq!(recorded["withdrawn_at"], Value::Null);
        assert!(recorded["id"].as_str().unwrap().starts_with("cons_"));
        let (status, found) = app
            .call(Method::GET, "/v1/consents/%2B33612345678", key, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(found, recorded);
        let now = chrono::Utc::now();
        assert!(
            consents::valid_at(&app.test_db.db, &app.org_id, "+33612345678", now)
                .await
                .unwrap()
        );

        let (status, withdrawn) = app
            .call(Method::DELETE, "/v1/consents/+33612345678", key, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{withdrawn}");
        assert_eq!(withdrawn["proof"], "web form #4521, IP 203.0.113.7");
        assert_eq!(withdrawn["id"], recorded["id"]);
        assert!(withdrawn["withdrawn_at"].is_string(), "{withdrawn}");
        let (_, kept) = app
            .call(Method::GET, "/v1/consents/+33612345678", key, None)
            .await;
        assert_eq!(kept, withdrawn);
        let (_, listed) = app.call(Method::GET, "/v1/consents", key, None).await;
        assert_eq!(listed["data"], json!([withdrawn]));
        let after = chrono::Utc::now();
        assert!(
            !consents::valid_at(&app.test_db.db, &app.org_id, "+33612345678", after)
                .await
                .unwrap()
        );

        let (status, renewed) = app
            .call(
                Method::POST,
                "/v1/consents",
                key,
                Some(consent("+33612345678", "signed paper form")),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{renewed}");
        assert_eq!(renewed["id"], recorded["id"]);
        assert_eq!(renewed["proof"], "signed paper form");
        assert_eq!(renewed["withdrawn_at"], Value::Null);
        assert_eq!(renewed["expires_at"], Value::Null);
        assert!(
            consents::valid_at(
                &app.test_db.db,
                &app.org_id,
                "+33612345678",
                chrono::Utc::now()
            )
            .await
            .unwrap()
        );
        let (status, _) = app
            .call(Method::DELETE, "/v1/consents/+33698765432", key, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_consent_import_records_the_valid_rows_and_reports_each_invalid_one_by_index() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let app = spawn(db).await;
        let key = Some(app.key.as_str());
        let mut future = consent("0698765432", "form");
        future["given_at"] = json!("2999-01-01T00:00:00Z");
        let mut fax = consent("0698765433", "fax");
        fax["method"] = json!("fax");
        let body = json!({"consents": [
            consent("06 12 34 56 78", "form #1"),
            future,
            consent("(415) 555-2671", "form #2"),
            fax,
            consent("0612345678", "form #3"),
            json!({"number": "0698765434"}),
        ], "default_country": "FR"});
        let (status, result) = app
            .call(Method::POST, "/v1/consents/import", key, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {result}");
        assert_eq!(result["recorded"], 1, "{result}");
        let invalid = result["invalid"].as_array().unwrap();
        let indexes: Vec<u64> = invalid
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect();
        assert_eq!(indexes, [1, 2, 3, 5], "{result}");
        let reason = |i: usize| invalid[i]["reason"].as_str().unwrap();
        assert!(reason(0).contains("given_at"), "{}", reason(0));
        assert!(reason(1).contains("number"), "{}", reason(1));
        assert!(reason(2).contains("method"), "{}", reason(2));
        assert!(reason(3).contains("proof") && reason(3).contains("given_at"));
        let (_, found) = app
            .call(Method::GET, "/v1/consents/+33612345678", key, None)
            .await;
        assert_eq!(found["proof"], "form #3", "the last row of a number wins");
        app.stop().await;
    }
}

#[tokio::test]
async fn invalid_fields_get_a_422_naming_each_field() {
    let app = spawn(TestDb::sqlite().await).await;
    let key = Some(app.key.as_str());
    let cases = [
        ("/v1/dnc", json!({"number": "12"}), vec!["number"]),
        ("/v1/dnc", json!({}), vec!["number"]),
        (
            "/v1/dnc",
            json!({"number": "0612345678", "default_country": "XX", "reason": "x".repeat(501)}),
            vec!["default_country", "reason"],
        ),
        (
            "/v1/dnc/import",
            json!({"entries": [], "default_country": "France"}),
            vec!["default_country"],
        ),
        ("/v1/dnc/import", json!({}), vec!["entries"]),
        (
            "/v1/consents",
            json!({"number": "hello", "given_at": "2999-01-01T00:00:00Z", "method": "pigeon",
                   "proof": "", "expires_at": "soon"}),
            vec!["number", "given_at", "expires_at", "method", "proof"],
        ),
        (
            "/v1/consents",
            json!({"number": "+33612345678", "given_at": "2026-09-01T10:00:00Z",
                   "method": "email", "proof": "p".repeat(2001)}),
            vec!["proof"],
        ),
        (
            "/v1/consents",
            json!({"number": "+33612345678", "given_at": "2026-09-01T10:00:00Z",
                   "method": "email", "proof": "mail", "expires_at": "2026-08-01T10:00:00Z"}),
            vec!["expires_at"],
        ),
        ("/v1/consents/import", json!({}), vec!["consents"]),
    ];
    for (path, body, expected) in cases {
        let (status, problem) = app.call(Method::POST, path, key, Some(body)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        assert_eq!(fields(&problem), expected, "{path}: {problem}");
    }
    for path in ["/v1/dnc/0612345678", "/v1/consents/hello"] {
        let (status, problem) = app.call(Method::GET, path, key, None).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        assert_eq!(fields(&problem), ["number"]);
    }
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/dnc",
            key,
            Some(json!({"number": "+33612345678", "colour": "red"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().unwrap().contains("colour"));
    let (_, list) = app.call(Method::GET, "/v1/dnc", key, None).await;
    assert_eq!(list["data"], json!([]), "nothing invalid was listed");
    app.stop().await;
}

#[tokio::test]
async fn a_read_key_reads_the_lists_but_cannot_change_them() {
    for db in TestDb::all().await {
        let app = spawn(db).await;
        let read = key_for(&app.test_db, &app.org_id, Scope::Read).await;
        let write = key_for(&app.test_db, &app.org_id, Scope::Write).await;
        for (path, body) in [
            ("/v1/dnc", json!({"number": "+33612345678"})),
            ("/v1/consents", consent("+33612345678", "form")),
        ] {
            let (status, created) = app.call(Method::POST, path, Some(&write), Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
        }
        let attempts = [
            (
                Method::POST,
                "/v1/dnc",
                Some(json!({"number": "+33698765432"})),
            ),
            (
                Method::POST,
                "/v1/dnc/import",
                Some(json!({"entries": [{"number": "+33698765432"}]})),
            ),
            (Method::DELETE, "/v1/dnc/+33612345678", None),
            (
                Method::POST,
                "/v1/consents",
                Some(consent("+33698765432", "form")),
            ),
            (
                Method::POST,
                "/v1/consents/import",
                Some(json!({"consents": [consent("+33698765432", "form")]})),
            ),
            (Method::DELETE, "/v1/consents/+33612345678", None),
        ];
        for (method, path, body) in attempts {
            let (status, problem) = app.call(method.clone(), path, Some(&read), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
            assert!(problem["detail"].as_str().unwrap().contains("write"));
        }
        for path in [
            "/v1/dnc",
            "/v1/dnc/+33612345678",
            "/v1/consents",
            "/v1/consents/+33612345678",
        ] {
            let (status, body) = app.call(Method::GET, path, Some(&read), None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
        }
        let (_, dnc) = app.call(Method::GET, "/v1/dnc", Some(&read), None).await;
        assert_eq!(dnc["data"].as_array().unwrap().len(), 1);
        let (_, consent) = app
            .call(Method::GET, "/v1/consents/+33612345678", Some(&read), None)
            .await;
        assert_eq!(consent["withdrawn_at"], Value::Null);
        app.stop().await;
    }
}
