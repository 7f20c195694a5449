//! The queue board over HTTP: who may sign in, the session cookie, CSRF, the pages, the
//! actions on jobs and queues, and the live event stream. The same flows in a real browser
//! are in `board_browser.rs`.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use zencall_core::jobs::QueueName;
use zencall_core::store::api_keys::{self, Scope};
use zencall_core::store::organisations;
use zencall_core::store::test_db::TestDb;
use zencall_core::store::{Db, Pool};
use zencall_providers::simulator::Simulator;
use zencall_queue::board::admin;
use zencall_queue::facade::enqueue_many_raw;
use zencall_queue::runtime::pauses;

use crate::test_app::TestApp;

/// An admin key of a new organisation that operates the platform.
pub async fn operator_key(db: &Db, scope: Scope) -> String {
    let now = chrono::Utc::now();
    let mut tx = db.begin().await.unwrap();
    let org = organisations::create(&mut tx, "Zencall operations", now)
        .await
        .unwrap();
    organisations::set_operates_platform(&mut tx, &org.id, true)
        .await
        .unwrap();
    let key = api_keys::create(&mut tx, &org.id, "ops on call", scope, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    key.secret
}

/// Enqueues jobs on the benchmark queue, which `TestApp`'s workers do not serve, so they stay
/// where the test puts them: `pending` waiting jobs and `dead` dead ones, each holding
/// `marker` and its number in its arguments. Returns their ids, oldest first.
pub async fn seed_bench_jobs(db: &Db, pending: usize, dead: usize, marker: &str) -> Vec<String> {
    let payloads: Vec<Vec<u8>> = (0..pending + dead)
        .map(|i| {
            serde_json::to_vec(&serde_json::json!({
                "kind": "SendReminder",
                "args": {"org_id": "org_board_test", "note": format!("{marker} #{i}"), "to": "+33612345678"}
            }))
            .unwrap()
        })
        .collect();
    let mut tx = db.begin().await.unwrap();
    enqueue_many_raw(&mut tx, QueueName::Bench.as_str(), payloads, 3)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let ids: Vec<String> = match db.pool() {
        Pool::Postgres(p) => sqlx::query_scalar(
            "SELECT id FROM apalis.jobs WHERE job_type = 'bench' AND convert_from(job, 'UTF8') LIKE '%' || $1 || '%' ORDER BY id",
        )
        .bind(marker)
        .fetch_all(p)
        .await
        .unwrap(),
        Pool::Sqlite(p) => sqlx::query_scalar(
            "SELECT id FROM Jobs WHERE job_type = 'bench' AND CAST(job AS TEXT) LIKE '%' || $1 || '%' ORDER BY id",
        )
        .bind(marker)
        .fetch_all(p)
        .await
        .unwrap(),
    };
    assert_eq!(ids.len(), pending + dead);
    for id in &ids[pending..] {
        let kill = "SET status = 'Killed', attempts = 3, last_result = '{\"Err\": \"recipient unreachable\"}'";
        match db.pool() {
            Pool::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE apalis.jobs {kill}, done_at = now() WHERE id = $1"
            )))
            .bind(id)
            .execute(p)
            .await
            .unwrap()
            .rows_affected(),
            Pool::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE Jobs {kill}, done_at = strftime('%s', 'now') WHERE id = $1"
            )))
            .bind(id)
            .execute(p)
            .await
            .unwrap()
            .rows_affected(),
        };
    }
    ids
}

struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: String,
}

impl Browser {
    fn new(base: &str) -> Self {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
            cookie: String::new(),
        }
    }

    async fn sign_in(&mut self, key: &str) -> reqwest::Response {
        let response = self
            .client
            .post(format!("{}/board/sign-in", self.base))
            .form(&[("key", key)])
            .send()
            .await
            .unwrap();
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let set = set.to_str().unwrap();
            self.cookie = set.split(';').next().unwrap().to_string();
        }
        response
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token the board's pages carry.
    async fn csrf(&self) -> String {
        let (_, page) = self.get("/board").await;
        let start = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        page[start..start + 64].to_string()
    }
}

async fn sign_in_rules(test_db: TestDb) {
    let sim = Simulator::new(&crate::test_app::test_settings().providers.simulator);
    let app = TestApp::spawn(test_db, &sim).await;
    let db = app.test_db.db.clone();
    let mut browser = Browser::new(&app.base);

    // Nobody signed in: pages send to the sign-in form, the script's requests get 401.
    let (status, _) = browser.get("/board/jobs").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let response = browser
        .client
        .get(format!("{}/board", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[LOCATION], "/board/sign-in");
    let response = browser
        .client
        .get(format!("{}/board/events", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, page) = browser.get("/board/sign-in").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"key\""));

    // A customer's admin key (TestApp's own organisation does not operate the platform),
    // a narrower key of the operator, an unknown key and no key are all refused.
    let response = browser.sign_in(&app.key).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(page.contains("does not operate the platform"), "{page}");
    let write = operator_key(&db, Scope::Write).await;
    let response = browser.sign_in(&write).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("admin scope"));
    let response = browser.sign_in(&format!("zc_{}", "0".repeat(64))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = browser.sign_in("").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("key:"));
    assert!(browser.cookie.is_empty());

    // Sign-in from another site is refused even with the right key.
    let admin = operator_key(&db, Scope::Admin).await;
    let response = browser
        .client
        .post(format!("{}/board/sign-in", app.base))
        .header("origin", "https://evil.example")
        .form(&[("key", admin.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(SET_COOKIE).is_none());

    // The operator's admin key opens a session with a strict, HttpOnly cookie.
    let response = browser.sign_in(&admin).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/board");
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(set.starts_with("zc_board=zcb_"), "{set}");
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/board",
        "Max-Age=28800",
    ] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP here: {set}");
    let (status, page) = browser.get("/board").await;
    assert_eq!(status, StatusCode::OK);
    for queue in QueueName::ALL {
        assert!(page.contains(&format!("data-queue=\"{}\"", queue.as_str())));
    }
    assert!(page.contains("Retention: done jobs are deleted 7 days"));
    assert!(page.contains("ops on call"));
    // Behind a TLS-terminating proxy the cookie is Secure.
    let response = browser
        .client
        .post(format!("{}/board/sign-in", app.base))
        .header("x-forwarded-proto", "https")
        .form(&[("key", admin.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );

    // Every page answers, with the security headers of the API.
    for path in ["/board/jobs", "/board/workers", "/board/cron"] {
        let response = browser
            .client
            .get(format!("{}{path}", app.base))
            .header(COOKIE, &browser.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}");
    }
    let (status, page) = browser.get("/board/cron").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("prune-jobs"), "{page}");

    // Signing out ends the session for good.
    let csrf = browser.csrf().await;
    let response = browser.post("/board/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _) = browser.get("/board").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    app.stop().await;
}

async fn actions_need_the_csrf_token_and_work(test_db: TestDb) {
    let mut settings = crate::test_app::test_settings();
    settings.board.page_size = 4;
    let sim = Simulator::new(&settings.providers.simulator);
    let app = TestApp::spawn_with(test_db, settings, crate::test_app::simulated(&sim)).await;
    let db = app.test_db.db.clone();
    let ids = seed_bench_jobs(&db, 3, 4, "needle-4711").await;
    let mut browser = Browser::new(&app.base);
    browser
        .sign_in(&operator_key(&db, Scope::Admin).await)
        .await;
    let csrf = browser.csrf().await;

    // Without the token, with another session's token, or from another site: refused.
    let response = browser.post("/board/queues/bench/pause", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = browser
        .post("/board/queues/bench/pause", &[("csrf", &"f".repeat(64))])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = browser
        .client
        .post(format!("{}/board/queues/bench/pause", app.base))
        .header(COOKIE, &browser.cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(pauses::list(&db).await.unwrap().is_empty());

    // Pause and resume.
    let response = browser
        .post("/board/queues/bench/pause", &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let paused = pauses::list(&db).await.unwrap();
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0].queue, "bench");
    assert!(paused[0].paused_by.contains("ops on call"));
    let (_, page) = browser.get("/board").await;
    assert!(page.contains("/board/queues/bench/resume"));
    let response = browser
        .post("/board/queues/nowhere/pause", &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    browser
        .post("/board/queues/bench/resume", &[("csrf", &csrf)])
        .await;
    assert!(pauses::list(&db).await.unwrap().is_empty());

    // The dead jobs are found by a text in their arguments.
    let (status, page) = browser
        .get("/board/jobs?queue=bench&state=dead&q=NEEDLE-4711")
        .await;
    assert_eq!(status, StatusCode::OK);
    for id in &ids[3..] {
        assert!(page.contains(id.as_str()), "dead job {id} listed");
    }
    for id in &ids[..3] {
        assert!(!page.contains(id.as_str()), "pending job {id} not listed");
    }
    // Page by page, newest first: 4, then the other 3, and no further page.
    let (_, first) = browser.get("/board/jobs?queue=bench&q=needle-4711").await;
    let start = first.find("rel=\"next\" href=\"").unwrap() + 17;
    let next = first[start..start + first[start..].find('"').unwrap()].replace("&amp;", "&");
    assert!(next.contains("before="), "{next}");
    let (_, second) = browser.get(&next).await;
    for (i, id) in ids.iter().rev().enumerate() {
        let (on, off) = if i < 4 {
            (&first, &second)
        } else {
            (&second, &first)
        };
        assert!(
            on.contains(id.as_str()) && !off.contains(id.as_str()),
            "job {i}"
        );
    }
    assert!(!second.contains("rel=\"next\""), "no page after the second");
    assert!(second.contains("Newest"));
    let (status, page) = browser.get("/board/jobs?state=exploded").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("state: there is no state"));

    // One job: its detail, then retry.
    let dead = &ids[3];
    let (status, page) = browser.get(&format!("/board/jobs/{dead}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("recipient unreachable"));
    assert!(page.contains("needle-4711 #"));
    assert!(page.contains(&format!("/board/jobs/{dead}/retry")));
    let response = browser
        .post(&format!("/board/jobs/{dead}/retry"), &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Due now, with its earlier attempts: retrying, and one more attempt allowed.
    let job = admin::find(&db, dead).await.unwrap().unwrap();
    assert_eq!(job.state, admin::JobState::Retrying);
    assert_eq!(job.max_attempts, 4);
    // A pending job is due already: retrying it is refused, and says why.
    let response = browser
        .post(&format!("/board/jobs/{}/retry", ids[2]), &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("it is pending now"));
    let (status, _) = browser.get("/board/jobs/01NOSUCHJOB").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bulk: a filter is required, then every matching dead job is retried.
    let response = browser
        .post("/board/jobs/bulk", &[("csrf", &csrf), ("action", "retry")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = browser
        .post(
            "/board/jobs/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("action", "retry"),
                ("queue", "bench"),
                ("state", "dead"),
                ("q", "needle-4711"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(location.ends_with("done=retry&count=3"), "{location}");
    let (_, page) = browser.get(&location).await;
    assert!(page.contains("3 jobs retried."));
    for id in &ids[3..] {
        let job = admin::find(&db, id).await.unwrap().unwrap();
        assert_eq!(job.state, admin::JobState::Retrying, "{id}");
    }

    // Cancel one, discard another.
    let response = browser
        .post(
            &format!("/board/jobs/{}/cancel", ids[0]),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        admin::find(&db, &ids[0]).await.unwrap().unwrap().state,
        admin::JobState::Cancelled
    );
    let response = browser
        .post(
            &format!("/board/jobs/{}/discard", ids[1]),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(admin::find(&db, &ids[1]).await.unwrap().is_none());
    app.stop().await;
}

async fn pages_are_told_when_the_queue_changes(test_db: TestDb) {
    let sim = Simulator::new(&crate::test_app::test_settings().providers.simulator);
    let mut settings = crate::test_app::test_settings();
    settings.board.refresh_ms = 200;
    let app = TestApp::spawn_with(test_db, settings, crate::test_app::simulated(&sim)).await;
    let db = app.test_db.db.clone();
    let mut browser = Browser::new(&app.base);
    browser
        .sign_in(&operator_key(&db, Scope::Admin).await)
        .await;
    let mut response = browser
        .client
        .get(format!("{}/board/events", app.base))
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    let mut read_until = async |needle: &str, seen: &mut String| {
        tokio::time::timeout(Duration::from_secs(20), async {
            while !seen.contains(needle) {
                let chunk = response.chunk().await.unwrap().unwrap();
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {needle:?} in the event stream: {seen}"));
    };
    read_until("event: ready", &mut seen).await;
    seed_bench_jobs(&db, 1, 0, "live-update").await;
    read_until("event: change", &mut seen).await;
    app.stop().await;
}

#[tokio::test]
async fn board_sign_in_on_sqlite() {
    sign_in_rules(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn board_sign_in_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        sign_in_rules(db).await;
    }
}

#[tokio::test]
async fn board_actions_on_sqlite() {
    actions_need_the_csrf_token_and_work(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn board_actions_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        actions_need_the_csrf_token_and_work(db).await;
    }
}

#[tokio::test]
async fn board_live_updates_on_sqlite() {
    pages_are_told_when_the_queue_changes(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn board_live_updates_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        pages_are_told_when_the_queue_changes(db).await;
    }
}
