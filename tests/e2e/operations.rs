//! Operations endpoints on every role: `/healthz`, `/readyz` and `/metrics` answer on the
//! operations port of workers and schedulers, as they do on the API's port.

use reqwest::StatusCode;
use zencall_core::store::test_db::TestDb;

use crate::spawned::{Spawned, client, zencall_json};

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
