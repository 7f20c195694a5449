//! The campaign benchmark (`zencall bench campaign`): a CSV of N contacts uploaded through the
//! HTTP API as a customer would, then planning passes over the campaign timed one by one: the
//! first pass (fills the free concurrency), a pass with no free slot, and passes over a
//! campaign of the same size whose calling window is closed (nothing may be read).

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

    let providers = Providers::simulated(sim);
    let ctx = JobContext {
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
    };
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
