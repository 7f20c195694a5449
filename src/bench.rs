//! The campaign benchmark (`zencall bench campaign`): a CSV of N contacts uploaded through the
//! HTTP API as a customer would, then planning passes over the campaign timed one by one: the
//! first pass (fills the free concurrency), a pass with no free slot, and passes over a
//! campaign of the same size whose calling window is closed (nothing may be read).
//!
//! The queue board benchmark (`zencall bench board`): N jobs seeded in SQL with a realistic mix
//! of queues, kinds, organisations and states, and an hour of attempts; then every kind of
//! board list, a deep page and the queue overview, each timed over several runs.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{Datelike, Utc};
use serde_json::{Value, json};
use zencall_core::clock::SystemClock;
use zencall_core::config::Settings;
use zencall_core::jobs::QueueName;
use zencall_core::store::Db;
use zencall_core::store::api_keys::{self, Scope};
use zencall_core::store::organisations;
use zencall_providers::simulator::Simulator;
use zencall_providers::webhook_sender::{SenderSettings, WebhookSender};
use zencall_worker::JobContext;
use zencall_worker::jobs::plan_campaign;

use crate::{Providers, Roles};

/// Time zones the contacts are spread over.
const ZONES: [&str; 5] = [
    "Europe/Paris",
    "America/New_York",
    "Pacific/Auckland",
    "Asia/Tokyo",
    "America/Los_Angeles",
];
/// Calls the open campaign may have at once: what its first pass plans.
const CONCURRENCY: u32 = 100;
/// Passes timed in each repeated case.
const PASSES: usize = 5;

/// What the campaign benchmark measured.
#[derive(Debug, Clone)]
pub struct CampaignReport {
    /// Contacts per campaign.
    pub contacts: u64,
    /// Size of the uploaded CSV, in bytes.
    pub csv_bytes: usize,
    /// Each upload's time (two campaigns).
    pub imports: Vec<Duration>,
    /// The first planning pass of the open campaign, and the calls it planned.
    pub first_pass: (Duration, u32),
    /// Later passes of the open campaign, every slot taken.
    pub full_passes: Vec<Duration>,
    /// Passes of the campaign whose window is closed.
    pub closed_passes: Vec<Duration>,
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

impl fmt::Display for CampaignReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(
            f,
            "CSV import of {} contacts ({:.1} MB) through POST /v1/campaigns/{{id}}/contacts:",
            self.contacts,
            self.csv_bytes as f64 / 1e6
        )?;
        for (i, d) in self.imports.iter().enumerate() {
            writeln!(
                f,
                "  upload {}: {:.2} s ({:.0} rows/s)",
                i + 1,
                d.as_secs_f64(),
                self.contacts as f64 / d.as_secs_f64()
            )?;
        }
        writeln!(
            f,
            "planning pass, open window, {} free slots: {:.1} ms, {} calls planned",
            CONCURRENCY,
            ms(self.first_pass.0),
            self.first_pass.1
        )?;
        writeln!(
            f,
            "planning pass, open window, no free slot: median {:.1} ms of {}",
            ms(median(&self.full_passes)),
            self.full_passes.len()
        )?;
        write!(
            f,
            "planning pass, window closed in every zone: median {:.1} ms of {}",
            ms(median(&self.closed_passes)),
            self.closed_passes.len()
        )
    }
}

/// A CSV of `n` distinct French mobile numbers spread over [`ZONES`].
pub fn contacts_csv(n: u64) -> String {
    let mut csv = String::with_capacity(n as usize * 60);
    csv.push_str("telephone;nom;fuseau;note\n");
    for i in 0..n {
        csv.push_str(&format!(
            "+336{:08};Client {i};{};rappel du rendez-vous\n",
            10_000_000 + i,
            ZONES[i as usize % ZONES.len()]
        ));
    }
    csv
}

/// Runs the benchmark on `db` (migrated) with `contacts` per campaign.
pub async fn campaign(settings: Settings, db: Db, contacts: u64) -> anyhow::Result<CampaignReport> {
    let sim = Simulator::new(&settings.providers.simulator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let running = crate::start(
        settings.clone(),
        db.clone(),
        Roles {
            api: true,
            // Provisioning only: planning passes are run and timed here, not by a worker.
            queues: vec![QueueName::Provisioning],
            scheduler: false,
        },
        Some(listener),
        Some(Providers::simulated(&sim)),
    )
    .await?;
    let base = format!("http://{}", running.addr.context("the API did not start")?);
    let result = measure(&settings, &db, &sim, &base, contacts).await;
    running.shutdown().await?;
    result
}

async fn measure(
    settings: &Settings,
    db: &Db,
    sim: &Simulator,
    base: &str,
    contacts: u64,
) -> anyhow::Result<CampaignReport> {
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let org = organisations::create(&mut tx, "Benchmark", now).await?;
    let key = api_keys::create(&mut tx, &org.id, "bench", Scope::Admin, now).await?;
    tx.commit().await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&key.secret);
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move {
            let resp = req.send().await?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                bail!("{status}: {body}");
            }
            anyhow::Ok(body)
        }
    };

    let assistant = call(
        reqwest::Method::POST,
        "/v1/assistants",
        Some(json!({
            "name": "Cabinet Benchmark", "sector": "liberal_profession", "language": "fr",
            "business": {"name": "Cabinet Benchmark", "address": "1 rue de la Paix, 75002 Paris",
                         "opening_hours": "lundi-vendredi 9h-18h", "services": ["consultation"]},
            "phone_number": {"country": "FR", "area_code": null}
        })),
    )
    .await?;
    let assistant_id = assistant["id"]
        .as_str()
        .context("assistant id")?
        .to_string();
    let caller = loop {
        let a = call(
            reqwest::Method::GET,
            &format!("/v1/assistants/{assistant_id}"),
            None,
        )
        .await?;
        if a["status"] == "active" {
            break a["phone_number"].as_str().context("number")?.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // One campaign open at every hour; one open only two days from now, so closed now.
    let every_day = json!([{"start": "00:00", "end": "24:00"}]);
    let open = json!({"schedule": {
        "monday": every_day, "tuesday": every_day, "wednesday": every_day, "thursday": every_day,
        "friday": every_day, "saturday": every_day, "sunday": every_day}, "holidays": "none"});
    let later = (now + chrono::TimeDelta::days(2)).weekday();
    let day_name = |d: chrono::Weekday| match d {
        chrono::Weekday::Mon => "monday",
        chrono::Weekday::Tue => "tuesday",
        chrono::Weekday::Wed => "wednesday",
        chrono::Weekday::Thu => "thursday",
        chrono::Weekday::Fri => "friday",
        chrono::Weekday::Sat => "saturday",
        chrono::Weekday::Sun => "sunday",
    };
    // Closed now in every zone: the only open hour is two days away in each of them.
    let closed = json!({"schedule": {day_name(later): [{"start": "12:00", "end": "13:00"}]},
                        "holidays": "none"});
    let csv = contacts_csv(contacts);
    let mut ids = Vec::new();
    let mut imports = Vec::new();
    for (name, rules) in [("Ouvert", open), ("Fermé", closed)] {
        let campaign = call(
            reqwest::Method::POST,
            "/v1/campaigns",
            Some(
                json!({"name": name, "assistant_id": assistant_id, "caller_number": caller,
                        "purpose": "service", "calling_rules": rules,
                        "time_zone": "Europe/Paris", "max_attempts": 3,
                        "max_concurrent_calls": CONCURRENCY}),
            ),
        )
        .await?;
        let id = campaign["id"].as_str().context("campaign id")?.to_string();
        let started = Instant::now();
        let resp = client
            .post(format!("{base}/v1/campaigns/{id}/contacts"))
            .bearer_auth(&key.secret)
            .header("content-type", "text/csv")
            .body(csv.clone())
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        imports.push(started.elapsed());
        if !status.is_success() || body["imported"] != json!(contacts) {
            bail!("the import of {contacts} contacts answered {status}: {body}");
        }
        call(
            reqwest::Method::POST,
            &format!("/v1/campaigns/{id}/start"),
            None,
        )
        .await?;
        ids.push(id);
    }

    let ctx = simulated_context(settings, db, sim).await?;
    let pass = |id: String| {
        let ctx = &ctx;
        let org = org.id.clone();
        async move {
            let started = Instant::now();
            let report = plan_campaign::plan(ctx, &org, &id)
                .await
                .map_err(|e| anyhow::anyhow!("planning pass failed: {e}"))?;
            anyhow::Ok((started.elapsed(), report.planned))
        }
    };
    let first_pass = pass(ids[0].clone()).await?;
    let mut full_passes = Vec::new();
    let mut closed_passes = Vec::new();
    for _ in 0..PASSES {
        full_passes.push(pass(ids[0].clone()).await?.0);
        closed_passes.push(pass(ids[1].clone()).await?.0);
    }
    Ok(CampaignReport {
        contacts,
        csv_bytes: csv.len(),
        imports,
        first_pass,
        full_passes,
        closed_passes,
    })
}

/// What job handlers get when every provider is simulated (the benchmarks run handlers
/// directly, without a worker).
pub async fn simulated_context(
    settings: &Settings,
    db: &Db,
    sim: &Simulator,
) -> anyhow::Result<JobContext> {
    let providers = Providers::simulated(sim);
    Ok(JobContext {
        db: db.clone(),
        voice: providers.voice,
        telephony: providers.telephony,
        clock: Arc::new(SystemClock),
        settings: Arc::new(settings.clone()),
        webhooks: Arc::new(WebhookSender::new(&SenderSettings {
            timeout_ms: 1000,
            allow_private_networks: false,
            allow_plain_http: false,
        })?),
        pacer: Arc::new(
            zencall_core::rate_limiter::KeyedRateLimiter::from_settings(&settings.redis).await?,
        ),
        analyzer: providers.analyzer,
        calendar: Arc::new(zencall_providers::SimulatedCalendar::new(
            &settings.providers.google_calendar,
            &settings.server.public_url,
        )),
        sealer: Arc::new(zencall_core::domain::sealed::Sealer::disabled()),
        payments: Arc::new(zencall_providers::SimulatedPayments::new(
            zencall_providers::simulated_payments::SimulatedPaymentsSettings::for_plans(
                &settings.billing,
                &settings.server.public_url,
                secrecy::SecretString::from("whsec_bench"),
            ),
        )?),
        // The benchmarks send no email; any would be written as files.
        mailer: Arc::new(zencall_providers::FileMailer::new(
            std::env::temp_dir().join("zencall-bench-emails"),
        )),
    })
}

/// Runs of each timed board query.
const BOARD_RUNS: usize = 20;
/// Jobs per seeding statement.
const SEED_CHUNK: u64 = 50_000;
/// The rare text a few dead jobs hold.
pub const RARE_MARKER: &str = "ZX-RARE-7Q42";
/// Kinds of the seeded jobs, with their queues.
const BOARD_KINDS: [(&str, &str); 20] = [
    ("provisioning", "ProvisionAssistant"),
    ("provisioning", "SyncAssistant"),
    ("provisioning", "DeleteAssistant"),
    ("dialing", "DialContact"),
    ("dialing", "RedialContact"),
    ("campaigns", "PlanCampaign"),
    ("campaigns", "CloseCampaign"),
    ("webhooks", "ProcessInboundEvent"),
    ("webhooks", "DeliverWebhook"),
    ("analysis", "AnalyzeTranscript"),
    ("analysis", "SummarizeCall"),
    ("calendar", "SyncCalendar"),
    ("calendar", "PushAppointment"),
    ("billing", "ReportUsage"),
    ("billing", "IssueInvoices"),
    ("billing", "RenderInvoice"),
    ("billing", "SendEmail"),
    ("maintenance", "PruneJobs"),
    ("maintenance", "PurgeExpiredRecordings"),
    ("maintenance", "ExportOrgData"),
];
const SURNAMES: [&str; 12] = [
    "Dupont", "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
    "Leroy", "Moreau", "Lefèvre",
];

/// What the board benchmark measured: per query, its runs' times.
#[derive(Debug, Clone)]
pub struct BoardReport {
    /// Backend measured.
    pub backend: zencall_core::store::Backend,
    /// Jobs seeded.
    pub jobs: u64,
    /// Attempts seeded in the last hour.
    pub attempts: u64,
    /// Seeding time (jobs, attempts, statistics).
    pub seeding: Duration,
    /// Each query's name, rows of its first run, and run times.
    pub queries: Vec<(String, usize, Vec<Duration>)>,
}

impl fmt::Display for BoardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(
            f,
            "backend={:?} jobs={} attempts_last_hour={} seeding={:.1}s ({} runs per query)",
            self.backend,
            self.jobs,
            self.attempts,
            self.seeding.as_secs_f64(),
            BOARD_RUNS
        )?;
        for (name, rows, runs) in &self.queries {
            let mut sorted = runs.clone();
            sorted.sort();
            let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
            writeln!(
                f,
                "  {name:<44} rows={rows:<4} p50={:>8.2}ms p95={:>8.2}ms",
                ms(q(0.5)),
                ms(q(0.95))
            )?;
        }
        Ok(())
    }
}

/// Seeds `jobs` jobs and an hour of attempts into `db` (migrated; best empty), then times the
/// board's lists and overview.
pub async fn board(db: Db, jobs: u64) -> anyhow::Result<BoardReport> {
    use zencall_queue::board::admin::JobState;
    use zencall_queue::board::search::{self, JobFilter};
    use zencall_queue::board::stats;

    anyhow::ensure!(jobs >= 1_000, "--jobs must be at least 1000");
    let now = Utc::now();
    let attempts = (jobs / 10).max(1);
    let started = Instant::now();
    let ids = seed_jobs(&db, jobs, now).await?;
    seed_attempts(&db, attempts, now).await?;
    analyze(&db).await?;
    let seeding = started.elapsed();

    let f = JobFilter::default;
    let day = chrono::TimeDelta::days(1);
    let middle = ids[ids.len() / 2].clone();
    let org = "org_1042".to_string();
    let cases: Vec<(&str, JobFilter, Option<String>)> = vec![
        ("no filter", f(), None),
        (
            "queue=dialing state=dead",
            JobFilter {
                queue: Some("dialing".into()),
                state: Some(JobState::Dead),
                ..f()
            },
            None,
        ),
        (
            "queue=billing state=done",
            JobFilter {
                queue: Some("billing".into()),
                state: Some(JobState::Done),
                ..f()
            },
            None,
        ),
        (
            "queue=calendar state=retrying",
            JobFilter {
                queue: Some("calendar".into()),
                state: Some(JobState::Retrying),
                ..f()
            },
            None,
        ),
        (
            "queue=webhooks state=scheduled",
            JobFilter {
                queue: Some("webhooks".into()),
                state: Some(JobState::Scheduled),
                ..f()
            },
            None,
        ),
        (
            "state=pending",
            JobFilter {
                state: Some(JobState::Pending),
                ..f()
            },
            None,
        ),
        (
            "state=cancelled (none)",
            JobFilter {
                state: Some(JobState::Cancelled),
                ..f()
            },
            None,
        ),
        (
            "kind=SendEmail",
            JobFilter {
                kind: Some("SendEmail".into()),
                ..f()
            },
            None,
        ),
        (
            "org",
            JobFilter {
                org_id: Some(org.clone()),
                ..f()
            },
            None,
        ),
        (
            "text rare marker",
            JobFilter {
                text: Some(RARE_MARKER.to_lowercase()),
                ..f()
            },
            None,
        ),
        (
            "text common (dupont)",
            JobFilter {
                text: Some("dupont".into()),
                ..f()
            },
            None,
        ),
        (
            "text phone digits",
            JobFilter {
                text: Some("+3361004".into()),
                ..f()
            },
            None,
        ),
        (
            "text absent",
            JobFilter {
                text: Some("nothing-like-this".into()),
                ..f()
            },
            None,
        ),
        (
            "time range (one day, 3 days ago)",
            JobFilter {
                enqueued_after: Some(now - day * 3),
                enqueued_before: Some(now - day * 2),
                ..f()
            },
            None,
        ),
        (
            "org + state=dead",
            JobFilter {
                org_id: Some(org.clone()),
                state: Some(JobState::Dead),
                ..f()
            },
            None,
        ),
        (
            "kind + text",
            JobFilter {
                kind: Some("DialContact".into()),
                text: Some("martin".into()),
                ..f()
            },
            None,
        ),
        (
            "queue + state=dead + text rare",
            JobFilter {
                queue: Some("dialing".into()),
                state: Some(JobState::Dead),
                text: Some(RARE_MARKER.into()),
                ..f()
            },
            None,
        ),
        (
            "kind + time range + state=done",
            JobFilter {
                kind: Some("DialContact".into()),
                state: Some(JobState::Done),
                enqueued_after: Some(now - day * 5),
                enqueued_before: Some(now - day * 4),
                ..f()
            },
            None,
        ),
        (
            "deep page (before the middle id)",
            f(),
            Some(middle.clone()),
        ),
        (
            "deep page, kind",
            JobFilter {
                kind: Some("SyncCalendar".into()),
                ..f()
            },
            Some(middle.clone()),
        ),
        (
            "deep page, queue=dialing state=done",
            JobFilter {
                queue: Some("dialing".into()),
                state: Some(JobState::Done),
                ..f()
            },
            Some(middle),
        ),
    ];
    let mut queries = Vec::new();
    for (name, filter, before) in cases {
        let mut runs = Vec::new();
        let mut rows = 0;
        for run in 0..BOARD_RUNS {
            let started = Instant::now();
            let page = search::list(&db, &filter, before.as_deref(), 50, Utc::now()).await?;
            runs.push(started.elapsed());
            if run == 0 {
                rows = page.len();
            }
        }
        queries.push((name.to_string(), rows, runs));
    }
    let mut runs = Vec::new();
    let mut rows = 0;
    for _ in 0..BOARD_RUNS {
        let started = Instant::now();
        rows = stats::overview(&db, &QueueName::names(), Utc::now())
            .await?
            .len();
        runs.push(started.elapsed());
    }
    queries.push(("overview".to_string(), rows, runs));
    Ok(BoardReport {
        backend: db.backend(),
        jobs,
        attempts,
        seeding,
        queries,
    })
}

/// The SQL computing one seeded job from its number `n` and id; `{now}` is the bench's start
/// in the backend's form of `run_at`, `{rows}` a row source of `(id, n)`.
fn job_select(backend: zencall_core::store::Backend) -> String {
    use zencall_core::store::Backend;
    let kinds = BOARD_KINDS
        .iter()
        .enumerate()
        .map(|(i, (q, k))| format!("({i}, '{q}', '{k}')"))
        .collect::<Vec<_>>()
        .join(", ");
    let names = SURNAMES
        .iter()
        .enumerate()
        .map(|(i, n)| format!("({i}, '{n}')"))
        .collect::<Vec<_>>()
        .join(", ");
    // r: a scrambled number per job; the state from r % 100 (90 % done, 4 % dead, 2 % each of
    // retrying, scheduled and pending), a rare marker on a few dead jobs.
    let (json_blob, later, earlier, table) = match backend {
        Backend::Postgres => (
            "convert_to(doc, 'UTF8')",
            "{now} + make_interval(secs => 600 + r % 86400)",
            "{now} - make_interval(secs => r % 600)",
            "apalis.jobs",
        ),
        Backend::Sqlite => (
            "CAST(doc AS BLOB)",
            "{now} + 600 + r % 86400",
            "{now} - r % 600",
            "Jobs",
        ),
    };
    format!(
        "WITH kinds(k, queue, kind) AS (VALUES {kinds}), names(k, name) AS (VALUES {names}), \
         base AS (SELECT id, n, (n * 2654435761) % 4294967291 AS r FROM {{rows}}), \
         shaped AS (SELECT id, n, r, \
             CASE WHEN n % 199999 = 7 THEN 'dead' WHEN r % 100 < 90 THEN 'done' WHEN r % 100 < 94 THEN 'dead' \
                  WHEN r % 100 < 96 THEN 'retrying' WHEN r % 100 < 98 THEN 'scheduled' ELSE 'pending' END AS state, \
             kinds.queue, kinds.kind, names.name, 'org_' || (1000 + (r / 100) % 1000) AS org \
             FROM base JOIN kinds ON kinds.k = n % 20 JOIN names ON names.k = (r / 7) % 12) \
         INSERT INTO {table} (id, job_type, job, status, attempts, max_attempts, run_at, done_at, priority) \
         SELECT id, queue, {json_blob}, \
             CASE state WHEN 'done' THEN 'Done' WHEN 'dead' THEN 'Killed' WHEN 'retrying' THEN 'Failed' ELSE 'Pending' END, \
             CASE state WHEN 'done' THEN 1 WHEN 'dead' THEN 8 WHEN 'retrying' THEN 1 + r % 3 ELSE 0 END, 8, \
             CASE WHEN state IN ('retrying', 'scheduled') THEN {later} ELSE {earlier} END, \
             CASE WHEN state IN ('done', 'dead') THEN {earlier} END, 0 \
         FROM (SELECT *, '{{\"kind\":\"' || kind || '\",\"args\":{{\"org_id\":\"' || org || \
             '\",\"contact_id\":\"ct_' || n || '\",\"name\":\"' || name || ' ' || (r % 977) || \
             '\",\"phone\":\"+336' || (10000000 + r % 89999999) || '\",\"campaign_id\":\"cmp_' || (r % 5000) || \
             '\",\"note\":\"' || CASE WHEN n % 199999 = 7 THEN 'carte refusée {RARE_MARKER}' ELSE 'rappel du rendez-vous' END || \
             '\"}}}}' AS doc FROM shaped) AS docs"
    )
}

async fn seed_jobs(db: &Db, jobs: u64, now: chrono::DateTime<Utc>) -> anyhow::Result<Vec<String>> {
    use zencall_core::store::Pool;
    // Ids spread over the last week, oldest first, as a week of enqueues would make them.
    let week_ms = 7 * 24 * 3600 * 1000u64;
    let start_ms = u64::try_from(now.timestamp_millis())? - week_ms;
    let ids: Vec<String> = (0..jobs)
        .map(|n| {
            ulid::Ulid::from_parts(start_ms + n * week_ms / jobs, u128::from(n) * 7919 + 1)
                .to_string()
        })
        .collect();
    let select = job_select(db.backend());
    for (chunk_no, chunk) in ids.chunks(SEED_CHUNK as usize).enumerate() {
        let offset = chunk_no as u64 * SEED_CHUNK;
        match db.pool() {
            Pool::Postgres(p) => {
                let sql = select
                    .replace("{rows}", &format!("(SELECT id, k + {offset} AS n FROM UNNEST($1::text[]) WITH ORDINALITY AS t(id, k)) AS rows"))
                    .replace("{now}", "$2::timestamptz");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(chunk)
                    .bind(now)
                    .execute(p)
                    .await?;
            }
            Pool::Sqlite(p) => {
                let sql = select
                    .replace("{rows}", &format!("(SELECT value AS id, key + 1 + {offset} AS n FROM json_each($1)) AS rows"))
                    .replace("{now}", "$2");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(serde_json::Value::from(chunk.to_vec()).to_string())
                    .bind(now.timestamp())
                    .execute(p)
                    .await?;
            }
        }
    }
    Ok(ids)
}

/// `attempts` attempts finished over the last hour, on every queue.
async fn seed_attempts(db: &Db, attempts: u64, now: chrono::DateTime<Utc>) -> anyhow::Result<()> {
    use zencall_core::store::Pool;
    let queues: Vec<&str> = QueueName::ALL.iter().map(|q| q.as_str()).collect();
    let queues = queues
        .iter()
        .enumerate()
        .map(|(i, q)| format!("({i}, '{q}')"))
        .collect::<Vec<_>>()
        .join(", ");
    let outcome =
        "CASE WHEN n % 100 < 95 THEN 'done' WHEN n % 100 < 99 THEN 'retry' ELSE 'dead' END";
    match db.pool() {
        Pool::Postgres(p) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH queues(k, queue) AS (VALUES {queues}) \
                 INSERT INTO job_attempts (job_id, attempt, queue, kind, worker, started_at, finished_at, outcome, error, due_at) \
                 SELECT 'bench_' || n, 1, queue, 'Bench', 'bench-worker', f - interval '200 milliseconds', f, {outcome}, NULL, \
                        f - interval '200 milliseconds' - make_interval(secs => (n * 37 % 500) / 1000.0) \
                 FROM (SELECT n, $1::timestamptz - make_interval(secs => (n * 3600.0 / $2)) AS f FROM generate_series(1, $2) AS n) AS a \
                 JOIN queues ON queues.k = n % 8"
            )))
            .bind(now)
            .bind(i64::try_from(attempts)?)
            .execute(p)
            .await?;
        }
        Pool::Sqlite(p) => {
            // Times as the runner writes them (RFC 3339 text), so they compare as it does.
            let at = |expr: &str| {
                format!("strftime('%Y-%m-%dT%H:%M:%f', {expr}, 'unixepoch') || '+00:00'")
            };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < $2), \
                 queues(k, queue) AS (VALUES {queues}) \
                 INSERT INTO job_attempts (job_id, attempt, queue, kind, worker, started_at, finished_at, outcome, error, due_at) \
                 SELECT 'bench_' || n, 1, queue, 'Bench', 'bench-worker', {started}, {finished}, {outcome}, NULL, {due} \
                 FROM (SELECT n, $1 - n * 3600.0 / $2 AS f FROM series) AS a JOIN queues ON queues.k = n % 8",
                started = at("f - 0.2"),
                finished = at("f"),
                due = at("f - 0.2 - (n * 37 % 500) / 1000.0"),
            )))
            .bind(now.timestamp_micros() as f64 / 1e6)
            .bind(i64::try_from(attempts)?)
            .execute(p)
            .await?;
        }
    }
    Ok(())
}

/// Fresh planner statistics (and, on PostgreSQL, a visibility map for index-only counts), as
/// autovacuum or `ANALYZE` would leave them on a live database.
async fn analyze(db: &Db) -> anyhow::Result<()> {
    use zencall_core::store::Pool;
    match db.pool() {
        Pool::Postgres(p) => {
            for table in ["apalis.jobs", "job_search", "job_attempts"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                    .execute(p)
                    .await?;
            }
        }
        Pool::Sqlite(p) => {
            sqlx::query("ANALYZE").execute(p).await?;
        }
    }
    Ok(())
}
