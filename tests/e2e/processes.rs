//! Real `zencall` processes: the newcomer's `up`, a worker killed in the middle of a job, a
//! graceful SIGTERM, and start-up refusing a bad configuration.

use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zencall_core::domain::assistant::AssistantRequest;
use zencall_core::jobs::payloads::ProvisionAssistant;
use zencall_core::store::test_db::TestDb;
use zencall_core::store::{assistants, organisations};
use zencall_queue::board::admin::{self, JobState};
use zencall_queue::{EnqueueOptions, Enqueued, enqueue_in};

use crate::test_app::marcel;

fn zencall() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zencall"));
    // Tests run in parallel: each worker or scheduler takes a free operations port.
    c.env_remove("RUST_LOG")
        .env("ZENCALL__OPS__PORT", "0")
        .kill_on_drop(true);
    c
}

fn worker(url: &str, latency_ms: u64, shutdown_secs: u64) -> Child {
    zencall()
        .args(["worker", "--queues", "provisioning"])
        .env("ZENCALL__DATABASE__URL", url)
        .env("ZENCALL__QUEUE__HEARTBEAT_SECS", "1")
        .env("ZENCALL__QUEUE__MISSED_HEARTBEATS", "2")
        .env("ZENCALL__QUEUE__RETRY_BASE_SECS", "1")
        .env(
            "ZENCALL__QUEUE__SHUTDOWN_TIMEOUT_SECS",
            shutdown_secs.to_string(),
        )
        .env(
            "ZENCALL__PROVIDERS__SIMULATOR__LATENCY_MS",
            latency_ms.to_string(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Stores an assistant and enqueues its provisioning; returns (org, assistant, job) ids.
pub async fn provisioning_job(t: &TestDb) -> (String, String, String) {
    let mut tx = t.db.begin().await.unwrap();
    let org = organisations::create(&mut tx, "Proc", chrono::Utc::now())
        .await
        .unwrap();
    let request: AssistantRequest = serde_json::from_value(marcel()).unwrap();
    let a = assistants::insert(
        &mut tx,
        &org.id,
        &request.validate().unwrap(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let job = ProvisionAssistant {
        org_id: org.id.clone(),
        assistant_id: a.id.clone(),
    };
    let Enqueued::New(job_id) = enqueue_in(&mut tx, &job, EnqueueOptions::default(), 8)
        .await
        .unwrap()
    else {
        panic!()
    };
    tx.commit().await.unwrap();
    (org.id, a.id, job_id)
}

/// Waits until `predicate` holds for the job; fails after `secs`.
async fn await_job(
    t: &TestDb,
    id: &str,
    secs: u64,
    what: &str,
    predicate: impl Fn(&admin::JobRecord) -> bool,
) -> admin::JobRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let job = admin::find(&t.db, id).await.unwrap().unwrap();
        if predicate(&job) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never {what}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn terminate(child: &Child) {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_job_held_by_a_killed_worker_is_finished_by_another_worker() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let (org, assistant, job_id) = provisioning_job(&t).await;
    // Each provider call takes about 1.5 s: the job is still running when its worker dies.
    let mut first = worker(&t.url, 1500, 30);
    let running = await_job(&t, &job_id, 60, "started", |j| j.state == JobState::Running).await;
    let doomed = running.worker.clone().unwrap();
    let mut second = worker(&t.url, 10, 30);
    first.kill().await.unwrap();
    let done = await_job(&t, &job_id, 90, "finished", |j| j.state == JobState::Done).await;
    assert_ne!(
        done.worker.as_deref(),
        Some(doomed.as_str()),
        "finished by the surviving worker"
    );
    let a = assistants::find(&t.db, &org, &assistant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.status.as_str(), "active");
    terminate(&second);
    assert!(second.wait().await.unwrap().success());
    t.drop_database().await;
}

#[tokio::test]
async fn on_sigterm_an_in_flight_job_finishes_before_the_worker_exits() {
    for t in TestDb::all().await {
        let (_, _, job_id) = provisioning_job(&t).await;
        let mut w = worker(&t.url, 400, 30);
        await_job(&t, &job_id, 60, "started", |j| j.state == JobState::Running).await;
        terminate(&w);
        assert!(w.wait().await.unwrap().success());
        let job = admin::find(&t.db, &job_id).await.unwrap().unwrap();
        assert_eq!(job.state, JobState::Done, "{:?}: {job:?}", t.backend());
        t.drop_database().await;
    }
}

#[tokio::test]
async fn on_sigterm_a_job_that_cannot_finish_in_the_grace_period_goes_back_to_the_queue() {
    for t in TestDb::all().await {
        let (_, _, job_id) = provisioning_job(&t).await;
        let mut w = worker(&t.url, 5000, 1);
        await_job(&t, &job_id, 60, "started", |j| j.state == JobState::Running).await;
        terminate(&w);
        assert!(w.wait().await.unwrap().success());
        let job = admin::find(&t.db, &job_id).await.unwrap().unwrap();
        assert!(
            matches!(job.state, JobState::Pending | JobState::Retrying),
            "{:?}: {job:?}",
            t.backend()
        );
        // And another worker takes it from there.
        let mut next = worker(&t.url, 10, 30);
        await_job(&t, &job_id, 60, "finished", |j| j.state == JobState::Done).await;
        terminate(&next);
        assert!(next.wait().await.unwrap().success());
        t.drop_database().await;
    }
}

#[tokio::test]
async fn up_prints_its_url_and_an_admin_key_that_provisions_an_assistant() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut up = zencall()
        .args(["up", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env("ZENCALL__PROVIDERS__SIMULATOR__LATENCY_MS", "5")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(up.stdout.take().unwrap()).lines();
    let (mut key, mut url) = (None, None);
    while url.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("up exited early");
        if let Some(k) = line.split_whitespace().find(|w| w.starts_with("zc_")) {
            key = Some(k.to_string());
        }
        if let Some(rest) = line.split("running at ").nth(1) {
            url = rest.split_whitespace().next().map(str::to_string);
        }
    }
    let (key, url) = (
        key.expect("an admin key is printed on a new database"),
        url.unwrap(),
    );
    let client = reqwest::Client::new();
    let created: serde_json::Value = client
        .post(format!("{url}/v1/assistants"))
        .bearer_auth(&key)
        .json(&marcel())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let resp = client
            .request(Method::GET, format!("{url}/v1/assistants/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let a: serde_json::Value = resp.json().await.unwrap();
        if a["status"] == "active" {
            assert!(a["phone_number"].as_str().unwrap().starts_with("+33"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never active: {a}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terminate(&up);
    assert!(up.wait().await.unwrap().success());

    // A second start on the same data keeps the organisation and prints no new key.
    let mut again = zencall()
        .args(["up", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(again.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.contains("running at"), "{first}");
    terminate(&again);
    assert!(again.wait().await.unwrap().success());
}

#[tokio::test]
async fn an_invalid_configuration_value_stops_start_up_naming_its_key() {
    let out = zencall()
        .arg("migrate")
        .env("ZENCALL__QUEUE__CONCURRENCY", "lots")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("queue.concurrency"), "{stderr}");
    let out = zencall()
        .arg("migrate")
        .env("ZENCALL__DATABASE__URL", "mysql://nope")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("database.url"));
}

#[tokio::test]
async fn roles_that_never_call_a_provider_start_without_provider_credentials() {
    let t = TestDb::sqlite().await;
    let mut scheduler = zencall()
        .arg("scheduler")
        .env("ZENCALL__DATABASE__URL", &t.url)
        .env("ZENCALL__PROVIDERS__SIMULATE", "never")
        .env("ZENCALL__LOG__LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(scheduler.stderr.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap()
            .unwrap();
        let line = line.expect("the scheduler exited before starting");
        if line.contains("cron scheduler started") {
            break;
        }
    }
    terminate(&scheduler);
    assert!(scheduler.wait().await.unwrap().success());
    // Workers do call them: without credentials under "never", start-up stops and says why.
    let out = zencall()
        .arg("worker")
        .env("ZENCALL__DATABASE__URL", &t.url)
        .env("ZENCALL__PROVIDERS__SIMULATE", "never")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("providers.vapi.api_key"));
    t.drop_database().await;
}

#[tokio::test]
async fn keys_made_with_the_command_line_can_be_revoked_with_it() {
    let t = TestDb::sqlite().await;
    let field = |out: &str, name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap()
    };
    let out = zencall()
        .args([
            "keys",
            "create",
            "--new-org",
            "Salon Dupont",
            "--scope",
            "write",
        ])
        .env("ZENCALL__DATABASE__URL", &t.url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (org, key_id, secret) = (
        field(&text, "organisation:"),
        field(&text, "key id:"),
        field(&text, "secret (shown once):"),
    );
    assert!(
        zencall_core::store::api_keys::authenticate(&t.db, &secret)
            .await
            .unwrap()
            .is_some()
    );
    let revoke = |org: String, key: String| {
        zencall()
            .args(["keys", "revoke", "--org", &org, "--key", &key])
            .env("ZENCALL__DATABASE__URL", &t.url)
            .output()
    };
    let out = revoke(org.clone(), key_id.clone()).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        zencall_core::store::api_keys::authenticate(&t.db, &secret)
            .await
            .unwrap()
            .is_none()
    );
    let again = revoke(org, key_id).await.unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--key"));
    t.drop_database().await;
}

#[tokio::test]
async fn the_queue_benchmark_can_spread_its_workers_over_several_processes() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let out = zencall()
        .args(["bench", "queue", "--database-url", &t.url])
        .args(["--jobs", "300", "--concurrency", "4", "--processes", "2"])
        .stderr(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        line.starts_with(
            "peer=zencall backend=postgres jobs=300 concurrency=4 processes=2 throughput_jobs_s="
        ),
        "{line}"
    );
    assert!(line.contains(" pickup_samples=200"), "{line}");
    // The workers stopped cleanly and nothing is left in the bench queue.
    let replicas = zencall_queue::runtime::replicas::list(&t.db, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(replicas.len(), 2, "{replicas:?}");
    assert!(
        replicas
            .iter()
            .all(|r| r.status == zencall_queue::runtime::replicas::ReplicaStatus::Stopped),
        "{replicas:?}"
    );
    let counts = admin::counts(&t.db, "bench").await.unwrap();
    assert!(counts.values().all(|n| *n == 0), "{counts:?}");
    t.drop_database().await;
}
