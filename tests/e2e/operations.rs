//! Operations: `/healthz`, `/readyz` and `/metrics` answer on the operations port of workers
//! and schedulers as they do on the API's port; metrics by job kind and route template; JSON
//! logs that name the job on every line of its work.

use reqwest::{Method, StatusCode};
use zencall_core::jobs::payloads::PruneJobs;
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulator::Simulator;
use zencall_queue::board::admin;
use zencall_queue::{EnqueueOptions, Enqueued, enqueue};

use crate::spawned::{Spawned, client, zencall_json};
use crate::test_app::{TestApp, marcel, test_settings};

/// The value of the first sample of `metrics` whose line starts with `name{` and holds every
/// one of `labels` (`key="value"`).
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Checks the three endpoints at `base`.
async fn assert_ops_endpoints(base: &str) {
    let client = client();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let content_type = metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let missing = client
        .get(format!("{base}/v1/assistants"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        missing.status(),
        StatusCode::NOT_FOUND,
        "no API on this port"
    );
}

#[tokio::test]
async fn workers_and_schedulers_serve_health_readiness_and_metrics_on_their_operations_port() {
    let t = TestDb::sqlite().await;
    // A job due in an hour: counted as scheduled, not run.
    let later = EnqueueOptions {
        run_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..EnqueueOptions::default()
    };
    enqueue(&t.db, &PruneJobs {}, later, 3).await.unwrap();
    let mut worker = Spawned::spawn({
        let mut c = zencall_json(&["worker", "--queues", "maintenance", "--ops-port", "0"]);
        c.env("ZENCALL__DATABASE__URL", &t.url);
        c
    });
    let mut scheduler = Spawned::spawn({
        let mut c = zencall_json(&["scheduler", "--ops-port", "0"]);
        c.env("ZENCALL__DATABASE__URL", &t.url);
        c
    });
    let worker_url = worker.ops_url().await;
    let scheduler_url = scheduler.ops_url().await;
    assert_ne!(worker_url, scheduler_url);
    assert_ops_endpoints(&worker_url).await;
    assert_ops_endpoints(&scheduler_url).await;
    let metrics = client()
        .get(format!("{worker_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jobs = |state: &str| {
        sample(
            &metrics,
            "zencall_jobs",
            &["queue=\"maintenance\"", &format!("state=\"{state}\"")],
        )
    };
    assert_eq!(jobs("scheduled"), Some(1.0), "{metrics}");
    assert_eq!(jobs("dead"), Some(0.0), "{metrics}");
    assert!(
        sample(
            &metrics,
            "zencall_http_requests_total",
            &["route=\"/readyz\"", "status=\"200\""]
        )
        .is_some(),
        "{metrics}"
    );
    worker.terminate().await;
    scheduler.terminate().await;
    t.drop_database().await;
}

#[tokio::test]
async fn a_busy_operations_port_stops_start_up_naming_its_key() {
    let t = TestDb::sqlite().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = zencall_json(&["scheduler", "--ops-port", &port])
        .env("ZENCALL__DATABASE__URL", &t.url)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ops.port"), "{stderr}");
    t.drop_database().await;
}

#[tokio::test]
async fn jobs_and_requests_are_measured_by_kind_and_route_template() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let app = TestApp::spawn(TestDb::sqlite().await, &sim).await;
    let id = app.create_assistant(marcel()).await;
    app.await_assistant(&id, "active").await;
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1/assistants/{id}"),
            Some(&app.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::GET, "/nowhere/at/all", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let metrics = client()
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The recorder is shared by the tests of this process: counts are at least ours.
    let job = ["queue=\"provisioning\"", "kind=\"ProvisionAssistant\""];
    let done = [job[0], job[1], "outcome=\"done\""];
    assert!(
        sample(&metrics, "zencall_job_attempts_total", &done).unwrap_or(0.0) >= 1.0,
        "{metrics}"
    );
    for histogram in ["zencall_job_pickup_seconds", "zencall_job_run_seconds"] {
        let inf = [job[0], job[1], "le=\"+Inf\""];
        assert!(
            sample(&metrics, &format!("{histogram}_bucket"), &inf).unwrap_or(0.0) >= 1.0,
            "{histogram} has buckets: {metrics}"
        );
        assert!(
            metrics.contains(&format!("# TYPE {histogram} histogram")),
            "{metrics}"
        );
    }
    let read = [
        "method=\"GET\"",
        "route=\"/v1/assistants/{id}\"",
        "status=\"200\"",
    ];
    assert!(
        sample(&metrics, "zencall_http_requests_total", &read).unwrap_or(0.0) >= 1.0,
        "{metrics}"
    );
    let timed = [read[0], read[1], read[2], "le=\"+Inf\""];
    assert!(
        sample(
            &metrics,
            "zencall_http_request_duration_seconds_bucket",
            &timed
        )
        .is_some(),
        "{metrics}"
    );
    let unmatched = ["route=\"unmatched\"", "status=\"404\""];
    assert!(
        sample(&metrics, "zencall_http_requests_total", &unmatched).is_some(),
        "{metrics}"
    );
    assert!(!metrics.contains(&id), "raw paths never become labels");
    assert!(
        !metrics.contains("/nowhere"),
        "raw paths never become labels"
    );
    app.stop().await;
}

/// Waits until job `id` is done; fails after `secs`.
async fn await_done(t: &TestDb, id: &str, secs: u64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let job = admin::find(&t.db, id).await.unwrap().unwrap();
        if job.state == admin::JobState::Done {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never done: {job:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The `job` span a JSON log line was emitted in, if any.
fn job_span(line: &serde_json::Value) -> Option<&serde_json::Value> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == "job")
}

#[tokio::test]
async fn with_json_logs_every_line_of_a_jobs_work_names_the_job_its_kind_and_organisation() {
    let t = TestDb::sqlite().await;
    let (org_id, _, provision_id) = crate::processes::provisioning_job(&t).await;
    // A job without an organisation.
    let Enqueued::New(prune_id) = enqueue(&t.db, &PruneJobs {}, EnqueueOptions::default(), 3)
        .await
        .unwrap()
    else {
        panic!("a new job")
    };
    let worker = Spawned::spawn({
        let mut c = zencall_json(&["worker", "--queues", "provisioning,maintenance"]);
        c.env("ZENCALL__DATABASE__URL", &t.url)
            .env("ZENCALL__PROVIDERS__SIMULATOR__LATENCY_MS", "0")
            .env(
                "ZENCALL__LOG__LEVEL",
                "info,zencall_core=debug,zencall_worker=debug,zencall_providers=debug",
            );
        c
    });
    await_done(&t, &provision_id, 120).await;
    await_done(&t, &prune_id, 120).await;
    let lines = worker.lines();
    worker.terminate().await;

    let jobs = [
        (
            &provision_id,
            "ProvisionAssistant",
            Some(org_id.as_str()),
            "provision_assistant",
        ),
        (&prune_id, "PruneJobs", None, "prune_jobs"),
    ];
    for (id, kind, org_id, module) in jobs {
        let mut seen = 0;
        for raw in &lines {
            let line: serde_json::Value = serde_json::from_str(raw)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {raw}"));
            let target = line["target"].as_str().unwrap_or_default();
            let of_this_job =
                raw.contains(id.as_str()) || target.ends_with(&format!("jobs::{module}"));
            if !of_this_job {
                continue;
            }
            seen += 1;
            let span = job_span(&line).unwrap_or_else(|| panic!("no job span: {raw}"));
            assert_eq!(span["job.id"], id.as_str(), "{raw}");
            assert_eq!(span["job.kind"], kind, "{raw}");
            match org_id {
                Some(org_id) => assert_eq!(span["org_id"], org_id, "{raw}"),
                None => assert!(span.get("org_id").is_none(), "{raw}"),
            }
        }
        // The handler's own lines and the outcome's, at least.
        assert!(seen >= 2, "{kind}: {seen} lines:\n{}", lines.join("\n"));
    }
    t.drop_database().await;
}
