//! Usage metering across worker crashes: real worker processes report ended calls to a fake
//! Stripe that answers slowly, and are killed outright (SIGKILL) again and again while they do.
//! A report cut short runs again, so Stripe may receive a call twice; every copy carries the
//! same identifier (the call id), idempotency key and value, which Stripe counts once. No call
//! is left unreported, none is marked reported twice, and the meter's sum is the ledger's.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::process::{Child, Command};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zencall_core::jobs::payloads::ReportUsage;
use zencall_core::store::billing_subscriptions::{self, SubscriptionState};
use zencall_core::store::calls::{self, CallReport};
use zencall_core::store::test_db::TestDb;
use zencall_core::store::{Pool, billing_customers, billing_usage, organisations};

const CALLS: usize = 400;
const KILLS: usize = 8;
const WORKERS: usize = 2;

fn billing_worker(url: &str, stripe: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_zencall"))
        .args(["worker", "--queues", "billing", "--concurrency", "8"])
        .env_remove("RUST_LOG")
        .env("ZENCALL__OPS__PORT", "0")
        .env("ZENCALL__DATABASE__URL", url)
        .env("ZENCALL__PROVIDERS__STRIPE__BASE_URL", stripe)
        .env("ZENCALL__PROVIDERS__STRIPE__SECRET_KEY", "sk_test_chaos")
        // A killed replica is dead after 2 s; the other rescues its jobs within a second.
        .env("ZENCALL__QUEUE__HEARTBEAT_SECS", "1")
        .env("ZENCALL__QUEUE__MISSED_HEARTBEATS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// One meter event Stripe received: (identifier, idempotency key, value).
fn meter_event(request: &wiremock::Request) -> (String, String, String) {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&request.body).unwrap();
    let key = request
        .headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        form.get("identifier").cloned().unwrap_or_default(),
        key,
        form.get("payload[value]").cloned().unwrap_or_default(),
    )
}

#[tokio::test]
async fn usage_is_reported_once_per_call_while_workers_are_killed() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let Pool::Postgres(pool) = t.db.pool().clone() else {
        unreachable!("a PostgreSQL test database")
    };
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/meter_events"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"object": "billing.meter_event"}))
                // Slow enough that kills land while reports are in flight.
                .set_delay(Duration::from_millis(120)),
        )
        .mount(&stripe)
        .await;

    // An organisation on the starter plan, and its ended calls in the ledger with their
    // reports queued, as the end of each call leaves them.
    let now = Utc::now();
    let mut tx = t.db.begin().await.unwrap();
    let org = organisations::create(&mut tx, "Chaos", now).await.unwrap();
    tx.commit().await.unwrap();
    billing_customers::record(&t.db, &org.id, "cus_chaos", now)
        .await
        .unwrap();
    let subscription = SubscriptionState {
        stripe_subscription_id: "sub_chaos".into(),
        stripe_customer_id: "cus_chaos".into(),
        plan: Some("starter".into()),
        status: "active".into(),
        current_period_start: now - TimeDelta::days(1),
        current_period_end: now + TimeDelta::days(29),
        trial_end: None,
        cancel_at_period_end: false,
    };
    billing_subscriptions::apply(&t.db, &org.id, &subscription, 1, now)
        .await
        .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let mut ledger_minutes = 0u64;
    for i in 0..CALLS {
        let ended = now - TimeDelta::minutes(10);
        let secs = 30 + (i as u64 * 37) % 600;
        let call = calls::merge_vapi_report(
            &mut tx,
            &org.id,
            None,
            &format!("vapi-chaos-{i}"),
            "inbound",
            &CallReport {
                status: Some("ended".into()),
                started_at: Some(ended - TimeDelta::seconds(secs as i64)),
                ended_at: Some(ended),
                ..CallReport::default()
            },
            now,
        )
        .await
        .unwrap();
        let minutes = secs.div_ceil(60);
        ledger_minutes += minutes;
        billing_usage::record(&mut tx, &org.id, &call.id, None, ended, secs, minutes, now)
            .await
            .unwrap();
        ReportUsage::enqueue_for_call(&mut tx, &org.id, &call.id)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let unreported = "SELECT COUNT(*) FROM billing_usage WHERE reported_at IS NULL";
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let mut workers: Vec<Child> = (0..WORKERS)
        .map(|_| billing_worker(&t.url, &stripe.uri()))
        .collect();
    // The first reports reach Stripe before the first kill.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while stripe
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no report reached Stripe"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut kills_during_the_backlog = 0;
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(200 + (kill as u64 * 97) % 250)).await;
        if count(unreported).await > 0 {
            kills_during_the_backlog += 1;
        }
        let victim = kill % WORKERS;
        workers[victim].kill().await.unwrap();
        workers[victim] = billing_worker(&t.url, &stripe.uri());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let left = count(unreported).await;
        if left == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left} calls never reported"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for worker in &mut workers {
        worker.kill().await.unwrap();
    }

    assert!(
        kills_during_the_backlog >= KILLS / 2,
        "only {kills_during_the_backlog} kills landed while calls were left to report"
    );
    // What Stripe received, per identifier: every copy the same event.
    let mut sent: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for request in stripe.received_requests().await.unwrap() {
        let (identifier, key, value) = meter_event(&request);
        sent.entry(identifier).or_default().push((key, value));
    }
    assert_eq!(sent.len(), CALLS, "one identifier per call");
    let mut metered = 0u64;
    let mut resent = 0;
    for (identifier, copies) in &sent {
        assert!(identifier.starts_with("call_"), "{identifier}");
        let (key, value) = &copies[0];
        assert_eq!(key, &format!("meter-event:{identifier}"));
        assert!(
            copies.iter().all(|c| c == &copies[0]),
            "{identifier} was sent as different events: {copies:?}"
        );
        metered += value.parse::<u64>().unwrap();
        resent += copies.len() - 1;
    }
    assert_eq!(
        metered, ledger_minutes,
        "Stripe counts what the ledger holds"
    );
    let reported = "SELECT COUNT(*) FROM billing_usage WHERE reported_at IS NOT NULL";
    assert_eq!(count(reported).await, CALLS as i64);
    let done = "SELECT COUNT(*) FROM job_attempts WHERE queue = 'billing' AND outcome = 'done'";
    assert_eq!(count(done).await, CALLS as i64, "each report finished once");
    println!("{KILLS} kills, {resent} of {CALLS} reports sent again after a kill");
    t.drop_database().await;
}
