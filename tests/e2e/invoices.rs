//! Invoices end to end with the simulated payments provider: the buyer gives its billing
//! profile, subscribes, and each finalized Stripe invoice (signed events through
//! `/webhooks/stripe`) becomes one numbered French invoice with its PDF, read back here; a
//! replayed event issues nothing more; an EU business abroad is invoiced under reverse charge.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zencall_core::store::email_messages::{self, EmailKind};
use zencall_core::store::test_db::TestDb;
use zencall_core::store::webhook_events;

use crate::billing::{
    await_some, await_stripe_events_processed, await_subscription, field_of, post_stripe, subscribe,
};
use crate::test_app::TestApp;
use crate::webhooks::app_with_assistant;

fn profile(country: &str, vat_id: Option<&str>) -> Value {
    json!({
        "legal_name": "Chez Marcel SARL", "email": "compta@chez-marcel.fr",
        "address_line1": "12 rue des Lilas", "postal_code": "69003", "city": "Lyon",
        "country": country, "vat_id": vat_id,
    })
}

async fn put_profile(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        "/v1/billing/profile",
        Some(&app.key),
        Some(body),
    )
    .await
}

async fn invoices(app: &TestApp) -> Vec<Value> {
    let (status, page) = app
        .call(Method::GET, "/v1/invoices", Some(&app.key), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().unwrap().clone()
}

async fn await_invoices(app: &TestApp, count: usize) -> Vec<Value> {
    await_some(&format!("{count} invoices"), || async {
        let found = invoices(app).await;
        (found.len() == count).then_some(found)
    })
    .await
}

/// Closes the organisation's simulated billing period now.
async fn close_period(app: &TestApp) {
    let (status, closed) = app
        .call(
            Method::POST,
            "/simulator/stripe/close-period",
            None,
            Some(json!({"org_id": app.org_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
}

/// GETs `path` with our key: the status, the headers as text, the body.
async fn get_bytes(app: &TestApp, path: &str) -> (StatusCode, String, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = format!("{:?}", response.headers());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// The text of the invoice's PDF, as served.
async fn pdf_text(app: &TestApp, id: &str) -> String {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/invoices/{id}/pdf", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/pdf"
    );
    let bytes = response.bytes().await.unwrap();
    let doc = lopdf::Document::load_mem(&bytes).unwrap();
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).unwrap()
}

#[tokio::test]
async fn each_finalized_invoice_becomes_one_numbered_french_invoice_with_its_pdf() {
    for db in TestDb::all().await {
        let (app, _, _, _) = app_with_assistant(db).await;
        let (status, problem) = put_profile(
            &app,
            json!({"legal_name": "", "email": "nope", "country": "FR", "vat_id": "FR41303265045"}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(field_of(&problem), "legal_name");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        for f in ["email", "address_line1", "vat_id"] {
            assert!(fields.contains(&f), "{f} not in {problem}");
        }
        let (status, stored) = put_profile(&app, profile("FR", None)).await;
        assert_eq!(status, StatusCode::OK, "{stored}");
        assert_eq!(stored["vat_treatment"], "standard");

        // The trial's invoice (nothing to pay) is the first; closing the period gives the second.
        subscribe(&app, "starter").await;
        await_subscription(&app, "trialing").await;
        let first = await_invoices(&app, 1).await;
        assert_eq!(first[0]["number"], "F-000001");
        assert_eq!(first[0]["total_incl_tax"], 0);
        close_period(&app).await;
        await_subscription(&app, "active").await;
        let listed = await_invoices(&app, 2).await;
        let invoice = &listed[0];
        assert_eq!(invoice["number"], "F-000002", "{invoice}");
        assert_eq!(invoice["total_excl_tax"], 2900);
        assert_eq!(invoice["vat_amount"], 580);
        assert_eq!(invoice["total_incl_tax"], 3480);
        assert_eq!(invoice["vat_treatment"], "standard");
        let id = invoice["id"].as_str().unwrap();

        let (status, full) = app
            .call(
                Method::GET,
                &format!("/v1/invoices/{id}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{full}");
        let document = &full["document"];
        assert_eq!(document["buyer"]["name"], "Chez Marcel SARL");
        assert_eq!(document["seller"]["vat_id"], "FR68900000001");
        let lines = document["lines"].as_array().unwrap();
        assert!(
            lines.iter().any(|l| l["description"]
                .as_str()
                .unwrap()
                .starts_with("Abonnement mensuel Zencall starter")
                && l["amount_excl_tax"] == 2900),
            "{document}"
        );
        // Its email, the PDF attached, goes to the billing address once.
        let email = await_some("the invoice emailed", || async {
            email_messages::list_for_org(&app.test_db.db, &app.org_id, 50)
                .await
                .unwrap()
                .into_iter()
                .find(|e| e.kind == EmailKind::Invoice && e.document_key == "F-000002")
                .filter(|e| e.sent_at.is_some())
        })
        .await;
        assert_eq!(email.recipient, "compta@chez-marcel.fr");
        assert!(email.subject.contains("F-000002"), "{}", email.subject);
        assert!(email.body_text.contains("34,80 €"), "{}", email.body_text);
        let attached = email_messages::attachments(&app.test_db.db, &app.org_id, &email.id)
            .await
            .unwrap();
        assert_eq!(attached.len(), 1);
        assert_eq!(attached[0].file_name, "facture-F-000002.pdf");
        let text = pdf_text(&app, id).await;
        for expected in [
            "F-000002",
            "Chez Marcel SARL",
            "69003 Lyon",
            "Total HT",
            "29,00 €",
            "TVA 20 %",
            "5,80 €",
            "34,80 €",
            "40 €",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }

        // Stripe sends the finalization again, and a stale copy under another id: nothing new.
        let stored = webhook_events::list(&app.test_db.db, "stripe", 100)
            .await
            .unwrap();
        let before = stored.len();
        let finalized = stored
            .iter()
            .rev()
            .find(|e| e.event_type == "invoice.finalized")
            .unwrap();
        assert_eq!(post_stripe(&app, &finalized.payload).await, StatusCode::OK);
        let mut copy: Value = serde_json::from_str(&finalized.payload).unwrap();
        copy["id"] = json!("evt_finalized_again");
        assert_eq!(post_stripe(&app, &copy.to_string()).await, StatusCode::OK);
        await_stripe_events_processed(&app, before + 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let after = invoices(&app).await;
        assert_eq!(after.len(), 2);
        let emailed = email_messages::list_for_org(&app.test_db.db, &app.org_id, 50)
            .await
            .unwrap();
        assert_eq!(
            emailed
                .iter()
                .filter(|e| e.kind == EmailKind::Invoice)
                .count(),
            2
        );
        assert_eq!(after[0]["pdf_sha256"], invoice["pdf_sha256"]);

        // The payment history shows both, with our numbers.
        let (status, payments) = app
            .call(Method::GET, "/v1/billing/payments", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{payments}");
        let payments = payments["data"].as_array().unwrap();
        assert_eq!(payments.len(), 2, "{payments:?}");
        assert_eq!(payments[0]["invoice_number"], "F-000002");
        assert_eq!(payments[0]["status"], "paid");
        assert_eq!(payments[0]["amount"], 3480);
        assert!(payments[0]["paid_at"].is_string());

        // The accountant's exports: the FEC books the paying invoice (the trial's books nothing).
        let (status, headers, fec) = get_bytes(&app, "/v1/billing/exports/fec").await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.contains("iso-8859-15"), "{headers}");
        assert!(headers.contains("900000001FEC"), "{headers}");
        let fec: String = fec.iter().map(|&b| char::from(b)).collect();
        let rows: Vec<&str> = fec.split("\r\n").filter(|r| !r.is_empty()).collect();
        assert_eq!(rows.len(), 4, "{fec}");
        assert!(rows[0].starts_with("JournalCode|JournalLib|EcritureNum"));
        assert!(
            rows[1].contains("|411000|") && rows[1].contains("|34,80|0,00|"),
            "{fec}"
        );
        assert!(
            rows[3].contains("|445710|") && rows[3].contains("|0,00|5,80|"),
            "{fec}"
        );
        let (status, _, csv) = get_bytes(&app, "/v1/billing/exports/fec?format=csv").await;
        assert_eq!(status, StatusCode::OK);
        let csv = String::from_utf8(csv).unwrap();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(
            csv.contains("F-000002,") && csv.contains(",29.00,5.80,34.80,"),
            "{csv}"
        );
        for bad in [
            "/v1/billing/exports/fec?format=xml",
            "/v1/billing/exports/fec?from=2026-12-31&to=2026-01-01",
            "/v1/billing/exports/fec?from=2020-01-01&to=2026-01-01",
            "/v1/billing/exports/fec?from=yesterday",
        ] {
            let (status, _, _) = get_bytes(&app, bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        }

        // Pages, and an unknown invoice.
        let (status, page) = app
            .call(
                Method::GET,
                &format!("/v1/invoices?limit=1&starting_after={id}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["data"][0]["number"], "F-000001");
        assert_eq!(page["has_more"], false);
        let (status, _) = app
            .call(
                Method::GET,
                "/v1/invoices/inv_nope/pdf",
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.stop().await;
    }
}

#[tokio::test]
async fn an_eu_business_abroad_is_invoiced_under_reverse_charge() {
    for db in TestDb::all().await {
        let (app, _, _, _) = app_with_assistant(db).await;
        let (status, stored) = put_profile(&app, profile("DE", Some("DE 129 273 398"))).await;
        assert_eq!(status, StatusCode::OK, "{stored}");
        assert_eq!(stored["vat_id"], "DE129273398");
        assert_eq!(stored["vat_treatment"], "reverse_charge");
        subscribe(&app, "starter").await;
        await_subscription(&app, "trialing").await;
        // The trial's 0 € invoice first, so the period's invoice is the newer one.
        await_invoices(&app, 1).await;
        close_period(&app).await;
        let listed = await_invoices(&app, 2).await;
        let invoice = &listed[0];
        assert_eq!(invoice["vat_treatment"], "reverse_charge", "{invoice}");
        assert_eq!(invoice["vat_amount"], 0);
        assert_eq!(invoice["total_incl_tax"], 2900);
        let text = pdf_text(&app, invoice["id"].as_str().unwrap()).await;
        for expected in [
            "Autoliquidation",
            "DE129273398",
            "TVA (autoliquidation)",
            "29,00 €",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn an_invoice_voided_after_issue_is_cancelled_by_a_credit_note() {
    for db in TestDb::all().await {
        let (app, _, _, _) = app_with_assistant(db).await;
        let (status, stored) = put_profile(&app, profile("FR", None)).await;
        assert_eq!(status, StatusCode::OK, "{stored}");
        subscribe(&app, "starter").await;
        await_subscription(&app, "trialing").await;
        await_invoices(&app, 1).await;
        // The card is declined at the period's end: the invoice is issued and stays unpaid.
        let (status, closed) = app
            .call(
                Method::POST,
                "/simulator/stripe/close-period",
                None,
                Some(json!({"org_id": app.org_id, "payment": "declined"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{closed}");
        await_subscription(&app, "past_due").await;
        let listed = await_invoices(&app, 2).await;
        let invoice = listed[0].clone();
        assert_eq!(invoice["number"], "F-000002", "{invoice}");
        assert_eq!(invoice["kind"], "invoice");
        let stripe_id = invoice["stripe_invoice_id"].as_str().unwrap().to_string();

        // Voided at Stripe: a credit note cancels it, and is emailed with its PDF.
        let void = format!("/simulator/stripe/invoices/{stripe_id}/void");
        let (status, posted) = app.call(Method::POST, &void, None, None).await;
        assert_eq!(status, StatusCode::OK, "{posted}");
        let listed = await_invoices(&app, 3).await;
        let note = &listed[0];
        assert_eq!(note["kind"], "credit_note", "{note}");
        assert_eq!(note["number"], "AV-000001");
        assert_eq!(note["credited_invoice_id"], invoice["id"]);
        assert_eq!(note["stripe_invoice_id"], invoice["stripe_invoice_id"]);
        assert_eq!(note["total_incl_tax"], invoice["total_incl_tax"]);
        let note_id = note["id"].as_str().unwrap();
        let (status, full) = app
            .call(
                Method::GET,
                &format!("/v1/invoices/{note_id}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{full}");
        assert_eq!(full["document"]["credits"]["number"], "F-000002");
        let text = pdf_text(&app, note_id).await;
        for expected in [
            "AVOIR",
            "AV-000001",
            "Annule la facture F-000002",
            "Total TTC crédité",
            "34,80 €",
            "Avoir annulant intégralement la facture F-000002",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        let (_, headers, _) = get_bytes(&app, &format!("/v1/invoices/{note_id}/pdf")).await;
        assert!(headers.contains("avoir-AV-000001.pdf"), "{headers}");
        let email = await_some("the credit note emailed", || async {
            email_messages::list_for_org(&app.test_db.db, &app.org_id, 50)
                .await
                .unwrap()
                .into_iter()
                .find(|e| e.kind == EmailKind::CreditNote && e.document_key == "AV-000001")
                .filter(|e| e.sent_at.is_some())
        })
        .await;
        assert_eq!(email.recipient, "compta@chez-marcel.fr");
        assert!(
            email.body_text.contains("annule la facture F-000002"),
            "{}",
            email.body_text
        );
        let attached = email_messages::attachments(&app.test_db.db, &app.org_id, &email.id)
            .await
            .unwrap();
        assert_eq!(attached[0].file_name, "avoir-AV-000001.pdf");

        // Voiding again is refused; the voided event replayed issues nothing more.
        let (status, _) = app.call(Method::POST, &void, None, None).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = app
            .call(
                Method::POST,
                "/simulator/stripe/invoices/in_nope/void",
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let stored = webhook_events::list(&app.test_db.db, "stripe", 100)
            .await
            .unwrap();
        let before = stored.len();
        let voided = stored
            .iter()
            .find(|e| e.event_type == "invoice.voided")
            .unwrap();
        let mut copy: Value = serde_json::from_str(&voided.payload).unwrap();
        copy["id"] = json!("evt_voided_again");
        assert_eq!(post_stripe(&app, &copy.to_string()).await, StatusCode::OK);
        await_stripe_events_processed(&app, before + 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(invoices(&app).await.len(), 3);

        // The next invoice continues its own sequence; the journal books the credit note the
        // other way round, so the cancelled invoice leaves the customer owing nothing.
        close_period(&app).await;
        let listed = await_invoices(&app, 4).await;
        assert_eq!(listed[0]["number"], "F-000003");
        let (status, _, fec) = get_bytes(&app, "/v1/billing/exports/fec").await;
        assert_eq!(status, StatusCode::OK);
        let fec: String = fec.iter().map(|&b| char::from(b)).collect();
        let customer_rows: Vec<&str> = fec
            .split("\r\n")
            .filter(|r| r.contains("|411000|"))
            .collect();
        assert_eq!(customer_rows.len(), 3, "{fec}");
        assert!(
            customer_rows[1].starts_with("VE|Ventes|AV-000001|")
                && customer_rows[1].contains("|0,00|34,80|"),
            "{fec}"
        );
        let (_, _, csv) = get_bytes(&app, "/v1/billing/exports/fec?format=csv").await;
        let csv = String::from_utf8(csv).unwrap();
        assert!(
            csv.contains("AV-000001,credit_note,") && csv.contains(",-29.00,-5.80,-34.80,"),
            "{csv}"
        );
        app.stop().await;
    }
}
