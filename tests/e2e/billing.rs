//! Billing with the simulated payments provider, end to end: a checkout completed in the
//! simulator reaches us as signed Stripe events through `/webhooks/stripe`, becomes the
//! subscription, lifts the entitlement refusal; ended calls are metered once; duplicate and
//! stale events change nothing.

use std::sync::Arc;

use chrono::Datelike;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zencall_core::clock::ManualClock;
use zencall_core::jobs::payloads::{PlanCampaigns, ReconcileUsage, ReportUsage};
use zencall_core::store::test_db::TestDb;
use zencall_core::store::{billing_usage, stripe_invoices, usage_reconciliations, webhook_events};
use zencall_providers::signatures;
use zencall_providers::simulator::Simulator;
use zencall_queue::board::admin::{self, JobState};
use zencall_queue::{EnqueueOptions, Enqueued, enqueue};

use crate::test_app::{TestApp, marcel, simulated, test_settings};
use crate::webhooks::app_with_assistant;

/// Polls `check` every 50 ms until it gives a value; fails after 30 s with `what`.
pub(crate) async fn await_some<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn subscription(app: &TestApp) -> Value {
    let (status, json) = app
        .call(
            Method::GET,
            "/v1/billing/subscription",
            Some(&app.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json
}

pub(crate) async fn await_subscription(app: &TestApp, status: &str) -> Value {
    await_some(&format!("a {status} subscription"), || async {
        let json = subscription(app).await;
        (json["subscription"]["status"] == status).then_some(json)
    })
    .await
}

/// Starts a checkout of `plan` and completes it in the simulator; returns the events posted.
pub(crate) async fn subscribe(app: &TestApp, plan: &str) -> Value {
    let (status, session) = app
        .call(
            Method::POST,
            "/v1/billing/checkout",
            Some(&app.key),
            Some(json!({"plan": plan, "email": "compta@chez-marcel.fr"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["id"].as_str().unwrap();
    let (status, events) = app
        .call(
            Method::POST,
            &format!("/simulator/stripe/checkout/{id}/complete"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{events}");
    events
}

/// Waits until every stored Stripe event is processed; returns them.
pub(crate) async fn await_stripe_events_processed(
    app: &TestApp,
    count: usize,
) -> Vec<webhook_events::InboundEvent> {
    await_some(&format!("{count} Stripe events processed"), || async {
        let events = webhook_events::list(&app.test_db.db, "stripe", 100)
            .await
            .unwrap();
        (events.len() == count && events.iter().all(|e| e.processed_at.is_some())).then_some(events)
    })
    .await
}

/// Runs the usage reconciliation now and waits for it.
async fn reconcile(app: &TestApp) {
    let Enqueued::New(job_id) = enqueue(
        &app.test_db.db,
        &ReconcileUsage {},
        EnqueueOptions::default(),
        3,
    )
    .await
    .unwrap() else {
        panic!("a job without unique key is always new");
    };
    await_some("the reconciliation finished", || async {
        let job = admin::find(&app.test_db.db, &job_id).await.unwrap()?;
        (job.state == JobState::Done).then_some(())
    })
    .await;
}

/// The `/metrics` text.
async fn metrics(app: &TestApp) -> String {
    reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub(crate) fn field_of(problem: &Value) -> &str {
    problem["errors"][0]["field"].as_str().unwrap_or_default()
}

/// Posts `body` to `/webhooks/stripe`, signed as Stripe would.
pub(crate) async fn post_stripe(app: &TestApp, body: &str) -> StatusCode {
    let ts = chrono::Utc::now().timestamp();
    let signature = signatures::stripe::sign(b"whsec_current", ts, body.as_bytes());
    let (status, _) = app
        .post_raw(
            "/webhooks/stripe",
            &[
                ("stripe-signature", signature),
                ("content-type", "application/json".into()),
            ],
            body.as_bytes().to_vec(),
        )
        .await;
    status
}

#[tokio::test]
async fn a_checkout_gives_a_trialing_subscription_calls_are_metered_once_and_stale_events_change_nothing()
 {
    for db in TestDb::all().await {
        let (app, assistant_id, _, _) = app_with_assistant(db).await;
        let key = Some(app.key.as_str());

        // Bad input is refused naming the field.
        for (body, field) in [
            (json!({"plan": "gold", "email": "a@b.fr"}), "plan"),
            (json!({"plan": "starter"}), "email"),
            (json!({"plan": "starter", "email": "not an email"}), "email"),
        ] {
            let (status, problem) = app
                .call(Method::POST, "/v1/billing/checkout", key, Some(body))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
            assert_eq!(field_of(&problem), field, "{problem}");
        }
        let (status, problem) = app
            .call(Method::GET, "/v1/billing/usage?period=2026-13", key, None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(field_of(&problem), "period");
        let (status, _) = app
            .call(Method::GET, "/v1/billing/usage?month=2026-11", key, None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = app
            .call(Method::POST, "/v1/billing/portal", key, None)
            .await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "no customer before the first checkout"
        );

        // Before any checkout: no subscription, inside the grace period.
        let before = subscription(&app).await;
        assert_eq!(before["subscription"], Value::Null);
        assert_eq!(before["entitlement"]["status"], "grace");

        // Checkout, completed in the simulator.
        let (status, session) = app
            .call(
                Method::POST,
                "/v1/billing/checkout",
                key,
                Some(json!({"plan": "starter", "email": "compta@chez-marcel.fr"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        assert_eq!(session["trial_days"], 14);
        let url = session["url"].as_str().unwrap();
        let id = session["id"].as_str().unwrap();
        assert_eq!(
            url,
            format!("https://zencall.example/simulator/stripe/checkout/{id}")
        );
        let (status, page) = app
            .call(
                Method::GET,
                &format!("/simulator/stripe/checkout/{id}"),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            (page["plan"].as_str(), page["org_id"].as_str()),
            (Some("starter"), Some(app.org_id.as_str()))
        );
        let complete = format!("/simulator/stripe/checkout/{id}/complete");
        let (status, posted) = app.call(Method::POST, &complete, None, None).await;
        assert_eq!(status, StatusCode::OK, "{posted}");
        let types: Vec<&str> = posted["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "customer.subscription.created",
                "invoice.finalized",
                "invoice.paid",
                "checkout.session.completed"
            ]
        );
        let (status, _) = app.call(Method::POST, &complete, None, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "a session completes once");

        let trialing = await_subscription(&app, "trialing").await;
        assert_eq!(trialing["subscription"]["plan"], "starter");
        assert_eq!(trialing["entitlement"]["status"], "subscribed");
        assert!(trialing["subscription"]["trial_end"].is_string());
        await_stripe_events_processed(&app, 4).await;
        let invoices = stripe_invoices::list(&app.test_db.db, &app.org_id)
            .await
            .unwrap();
        assert_eq!(invoices.len(), 1);
        assert_eq!(
            (invoices[0].status.as_str(), invoices[0].total),
            ("paid", 0)
        );

        // While it is live, a second checkout is refused; the portal opens.
        let (status, _) = app
            .call(
                Method::POST,
                "/v1/billing/checkout",
                key,
                Some(json!({"plan": "pro"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, portal) = app
            .call(Method::POST, "/v1/billing/portal", key, None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{portal}");
        assert!(
            portal["url"]
                .as_str()
                .unwrap()
                .contains("/simulator/stripe/portal/")
        );

        // A call of 95 s ends: 2 minutes in the ledger, reported once.
        let (status, placed) = app
            .call(
                Method::POST,
                "/v1/simulator/calls",
                key,
                Some(json!({"assistant_id": assistant_id, "customer_number": "06 12 34 56 78", "talk_secs": 95})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{placed}");
        let vapi_call_id = placed["vapi_call_id"].as_str().unwrap().to_string();
        let call_id = await_some("the call ended", || async {
            let (_, list) = app
                .call(Method::GET, "/v1/calls?status=ended", key, None)
                .await;
            list["data"].as_array().and_then(|calls| {
                calls
                    .iter()
                    .find(|c| c["vapi_call_id"] == vapi_call_id.as_str())
                    .and_then(|c| c["id"].as_str().map(str::to_string))
            })
        })
        .await;
        let usage = await_some("the usage reported", || async {
            billing_usage::find(&app.test_db.db, &app.org_id, &call_id)
                .await
                .unwrap()
                .filter(|u| u.reported_at.is_some())
        })
        .await;
        assert_eq!((usage.duration_secs, usage.billable_minutes), (95, 2));

        // The report job runs a second time: nothing is sent or marked again.
        let again = ReportUsage {
            org_id: app.org_id.clone(),
            call_id: call_id.clone(),
        };
        let Enqueued::New(job_id) = enqueue(&app.test_db.db, &again, EnqueueOptions::default(), 3)
            .await
            .unwrap()
        else {
            panic!("a job without unique key is always new");
        };
        await_some("the second report finished", || async {
            let job = admin::find(&app.test_db.db, &job_id).await.unwrap()?;
            (job.state == JobState::Done).then_some(())
        })
        .await;
        let after = billing_usage::find(&app.test_db.db, &app.org_id, &call_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.reported_at, usage.reported_at);

        let period = usage.ended_at.format("%Y-%m").to_string();
        let (status, month) = app
            .call(
                Method::GET,
                &format!("/v1/billing/usage?period={period}"),
                key,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{month}");
        assert_eq!(
            (month["calls"].as_i64(), month["billable_minutes"].as_i64()),
            (Some(1), Some(2))
        );
        assert_eq!(month["included_minutes"], 100);
        assert_eq!(
            month["assistants"][0]["assistant_id"],
            assistant_id.as_str()
        );
        assert_eq!(month["assistants"][0]["duration_secs"], 95);

        // A duplicate delivery of a stored event is stored once; a stale copy of the first
        // subscription event (trialing) and a forged deletion, both under new ids, are applied by
        // the subscription's own state at Stripe, which is still trialing.
        let stored = webhook_events::list(&app.test_db.db, "stripe", 100)
            .await
            .unwrap();
        let created = stored
            .iter()
            .find(|e| e.event_type == "customer.subscription.created")
            .unwrap();
        assert_eq!(post_stripe(&app, &created.payload).await, StatusCode::OK);
        let mut stale: Value = serde_json::from_str(&created.payload).unwrap();
        stale["id"] = json!("evt_stale_copy");
        stale["type"] = json!("customer.subscription.updated");
        stale["data"]["object"]["status"] = json!("past_due");
        assert_eq!(post_stripe(&app, &stale.to_string()).await, StatusCode::OK);
        let mut deleted = stale.clone();
        deleted["id"] = json!("evt_forged_deletion");
        deleted["type"] = json!("customer.subscription.deleted");
        deleted["data"]["object"]["status"] = json!("canceled");
        assert_eq!(
            post_stripe(&app, &deleted.to_string()).await,
            StatusCode::OK
        );
        let events = await_stripe_events_processed(&app, 6).await;
        for event in events.iter().filter(|e| {
            e.provider_event_id.starts_with("evt_stale")
                || e.provider_event_id.starts_with("evt_forged")
        }) {
            // Applied as the subscription Stripe shows now (trialing), or found older than a
            // state read meanwhile: never as the past_due or canceled copy it carries.
            let outcome = event.outcome.as_deref().unwrap();
            assert!(
                outcome.contains("trialing") || outcome.contains("a state read later"),
                "{event:?}"
            );
        }
        let still = subscription(&app).await;
        assert_eq!(still["subscription"], trialing["subscription"]);

        // The daily reconciliation finds Stripe's meter and the ledger agreeing on 2 minutes;
        // once the ledger is tampered with, the difference shows on /metrics.
        reconcile(&app).await;
        let agreed = usage_reconciliations::all(&app.test_db.db).await.unwrap();
        assert_eq!(agreed.len(), 1);
        assert_eq!((agreed[0].ledger_minutes, agreed[0].stripe_minutes), (2, 2));
        assert!(
            metrics(&app)
                .await
                .contains("zencall_billing_usage_mismatched_subscriptions 0")
        );
        zencall_queue::on_pool!(&app.test_db.db, |p| sqlx::query(
            "UPDATE billing_usage SET billable_minutes = 5 WHERE call_id = $1"
        )
        .bind(&call_id)
        .execute(p)
        .await
        .map(|_| ()))
        .unwrap();
        reconcile(&app).await;
        let differs = usage_reconciliations::all(&app.test_db.db).await.unwrap();
        assert_eq!(differs[0].difference(), -3);
        let text = metrics(&app).await;
        assert!(
            text.contains("zencall_billing_usage_mismatched_subscriptions 1"),
            "{text}"
        );
        assert!(
            text.contains("zencall_billing_usage_difference_minutes 3"),
            "{text}"
        );

        // The period closes: the trial ends, and the invoice bills the 2 minutes once.
        let (status, closed) = app
            .call(
                Method::POST,
                "/simulator/stripe/close-period",
                None,
                Some(json!({"org_id": app.org_id})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{closed}");
        await_subscription(&app, "active").await;
        await_stripe_events_processed(&app, 9).await;
        let invoices = stripe_invoices::list(&app.test_db.db, &app.org_id)
            .await
            .unwrap();
        let cycle = invoices.iter().find(|i| i.subtotal > 0).unwrap();
        // The starter fee (2900); the 2 minutes are among the 100 the plan includes.
        assert_eq!(cycle.subtotal, 2900);
        assert_eq!(cycle.status, "paid");
        app.stop().await;
    }
}

#[tokio::test]
async fn without_a_subscription_past_the_grace_period_new_assistants_are_refused_until_a_checkout()
{
    for db in TestDb::all().await {
        let mut settings = test_settings();
        settings.billing.grace_period_days = 0;
        let sim = Simulator::new(&settings.providers.simulator);
        let app = TestApp::spawn_with(db, settings, simulated(&sim)).await;
        let key = Some(app.key.as_str());

        let (status, problem) = app
            .call(Method::POST, "/v1/assistants", key, Some(marcel()))
            .await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("no subscription"),
            "{problem}"
        );
        assert_eq!(subscription(&app).await["entitlement"]["status"], "lapsed");

        subscribe(&app, "pro").await;
        let json = await_subscription(&app, "trialing").await;
        assert_eq!(json["entitlement"]["status"], "subscribed");
        let id = app.create_assistant(marcel()).await;
        app.await_assistant(&id, "active").await;
        app.stop().await;
    }
}

/// A platform on `clock` with an active assistant and a draft campaign under the French rules;
/// returns it with the campaign's id.
async fn app_with_draft_campaign(db: TestDb, clock: &ManualClock) -> (TestApp, String) {
    let settings = test_settings();
    let sim = Simulator::new(&settings.providers.simulator);
    let app = TestApp::spawn_on_clock(
        db,
        settings,
        simulated(&sim),
        Arc::new(clock.clone()),
        false,
    )
    .await;
    let assistant = app.create_assistant(marcel()).await;
    let active = app.await_assistant(&assistant, "active").await;
    let (status, campaign) = app
        .call(
            Method::POST,
            "/v1/campaigns",
            Some(&app.key),
            Some(json!({
                "name": "Rappel rendez-vous", "assistant_id": assistant,
                "caller_number": active["phone_number"], "purpose": "service",
                "calling_rules": {"preset": "fr-consumer"}, "time_zone": "Europe/Paris",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap().to_string();
    (app, id)
}

#[tokio::test]
async fn a_campaign_start_past_the_grace_period_is_refused_until_the_organisation_subscribes() {
    for db in TestDb::all().await {
        let clock = ManualClock::new(chrono::Utc::now());
        let (app, id) = app_with_draft_campaign(db, &clock).await;
        let key = Some(app.key.as_str());
        let start = format!("/v1/campaigns/{id}/start");

        // Fifteen days later, the 14-day grace period of a new organisation is over.
        clock.advance(chrono::TimeDelta::days(15));
        let (status, problem) = app.call(Method::POST, &start, key, None).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("grace period"),
            "{problem}"
        );
        assert_eq!(problem["type"], "about:blank", "a problem body: {problem}");

        subscribe(&app, "starter").await;
        await_subscription(&app, "trialing").await;
        let (status, started) = app.call(Method::POST, &start, key, None).await;
        assert_eq!(status, StatusCode::OK, "{started}");
        app.stop().await;
    }
}

#[tokio::test]
async fn the_campaigns_of_an_organisation_whose_grace_period_ended_pause_until_it_subscribes() {
    for db in TestDb::all().await {
        // Sunday night in Paris, when the French rules allow no call: planning keeps the
        // campaign running with its contact waiting, and the organisation (created now) is
        // inside its grace period.
        let mut night = chrono::Utc::now()
            .date_naive()
            .and_hms_opt(2, 0, 0)
            .unwrap()
            .and_utc();
        while night.weekday() != chrono::Weekday::Sun || night <= chrono::Utc::now() {
            night += chrono::TimeDelta::days(1);
        }
        let clock = ManualClock::new(night);
        let (app, id) = app_with_draft_campaign(db, &clock).await;
        let key = Some(app.key.as_str());
        let (status, uploaded) = app
            .call(
                Method::POST,
                &format!("/v1/campaigns/{id}/contacts"),
                key,
                Some(json!({"contacts": [{"number": "+33612345678"}]})),
            )
            .await;
        assert!(status.is_success(), "{uploaded}");
        // Started inside the grace period of a new organisation.
        let (status, started) = app
            .call(
                Method::POST,
                &format!("/v1/campaigns/{id}/start"),
                key,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{started}");
        assert_eq!(started["state"], "running", "{started}");

        // A minute tick inside the grace period plans it and leaves it running.
        let tick = || async {
            enqueue(
                &app.test_db.db,
                &PlanCampaigns {},
                EnqueueOptions::default(),
                3,
            )
            .await
            .unwrap()
        };
        let Enqueued::New(first) = tick().await else {
            panic!("a new tick")
        };
        await_some("the first tick done", || async {
            let job = admin::find(&app.test_db.db, &first).await.unwrap()?;
            (job.state == JobState::Done).then_some(())
        })
        .await;
        let path = format!("/v1/campaigns/{id}");
        let state = || async {
            let (status, body) = app.call(Method::GET, &path, key, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["state"].as_str().unwrap().to_string()
        };
        assert_eq!(state().await, "running");

        // Fifteen days later (a Monday, 3 a.m. in Paris) the 14-day grace period is over: the
        // next tick pauses it.
        clock.advance(chrono::TimeDelta::days(15));
        tick().await;
        await_some("the campaign paused", || async {
            (state().await == "paused").then_some(())
        })
        .await;
        let resume = format!("/v1/campaigns/{id}/resume");
        let (status, problem) = app.call(Method::POST, &resume, key, None).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{problem}");

        // Paying lifts it: the campaign can be resumed.
        subscribe(&app, "starter").await;
        await_subscription(&app, "trialing").await;
        let (status, resumed) = app.call(Method::POST, &resume, key, None).await;
        assert_eq!(status, StatusCode::OK, "{resumed}");
        assert_eq!(resumed["state"], "running", "{resumed}");
        app.stop().await;
    }
}
