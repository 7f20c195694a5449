//! The full-sync half of `zencall bench calendar`: N events read through the real Google
//! Calendar adapter (over HTTP, from a local server that answers `events.list` as Google does,
//! page by page, with the bearer token checked) and written to the store by the `SyncCalendar`
//! job's own code, timed from the first request to the committed sync token.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{SecondsFormat, TimeDelta, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use zencall_core::config::Settings;
use zencall_core::domain::sealed::Sealer;
use zencall_core::jobs::payloads::SyncCalendar;
use zencall_core::store::calendar_connections::{self, CalendarEntry, Connected};
use zencall_core::store::{Backend, Db, calendar_events, organisations};
use zencall_providers::GoogleCalendarClient;
use zencall_providers::calendar_session::{access_token_context, refresh_token_context};
use zencall_providers::simulator::Simulator;
use zencall_queue::JobRun;

/// The calendar the fake Google serves.
const CALENDAR_ID: &str = "salon-sync-bench@example.fr";
/// The access token it accepts.
const ACCESS_TOKEN: &str = "bench-access-token";

/// What the full sync measured.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// The database's backend.
    pub backend: Backend,
    /// Events synced.
    pub events: usize,
    /// Pages read.
    pub pages: usize,
    /// Events per page asked for (`calendar.page_size`).
    pub page_size: u32,
    /// From the first request to the committed sync token.
    pub elapsed: Duration,
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "bench=calendar-full-sync backend={} events={} pages={} page_size={} seconds={:.2} events_per_s={:.0}",
            self.backend.as_str(),
            self.events,
            self.pages,
            self.page_size,
            secs,
            self.events as f64 / secs.max(f64::EPSILON)
        )
    }
}

/// The fake Google's pages, made before the clock starts.
struct Pages {
    bodies: Vec<String>,
    served: std::sync::atomic::AtomicUsize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    page_token: Option<String>,
}

async fn list_events(
    State(pages): State<Arc<Pages>>,
    Path(calendar): Path<String>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {ACCESS_TOKEN}"));
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    if calendar != CALENDAR_ID {
        return (StatusCode::NOT_FOUND, "no such calendar").into_response();
    }
    let page = match query.page_token.as_deref().map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) if n < pages.bodies.len() => n,
        Some(_) => return (StatusCode::BAD_REQUEST, "bad page token").into_response(),
    };
    pages
        .served
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (
        [("content-type", "application/json")],
        pages.bodies[page].clone(),
    )
        .into_response()
}

/// `events` events over a year either side of now, as `events.list` pages of `page_size`.
fn pages(events: usize, page_size: usize) -> Vec<String> {
    let now = Utc::now();
    let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let items: Vec<serde_json::Value> = (0..events)
        .map(|n| {
            let start =
                now + TimeDelta::minutes(((n as i64 * 7_919) % (730 * 24 * 60)) - 365 * 24 * 60);
            json!({
                "id": format!("bench{n:08}"), "status": "confirmed",
                "summary": format!("Client {n}"),
                "start": {"dateTime": at(start), "timeZone": "Europe/Paris"},
                "end": {"dateTime": at(start + TimeDelta::minutes(45)), "timeZone": "Europe/Paris"},
                "updated": at(now), "transparency": "opaque",
            })
        })
        .collect();
    let chunks: Vec<&[serde_json::Value]> = items.chunks(page_size.max(1)).collect();
    let count = chunks.len().max(1);
    (0..count)
        .map(|i| {
            let data = chunks.get(i).copied().unwrap_or(&[]);
            let mut body =
                json!({"kind": "calendar#events", "timeZone": "Europe/Paris", "items": data});
            if i + 1 < count {
                body["nextPageToken"] = json!((i + 1).to_string());
            } else {
                body["nextSyncToken"] = json!("bench-sync-token");
            }
            body.to_string()
        })
        .collect()
}

/// Serves `events` events from a local fake Google and times their full sync into `db`.
pub async fn full_sync(settings: &Settings, db: Db, events: usize) -> anyhow::Result<SyncReport> {
    let page_size = settings.calendar.page_size;
    let served = Arc::new(Pages {
        bodies: pages(events, page_size as usize),
        served: Default::default(),
    });
    let app = Router::new()
        .route("/calendar/v3/calendars/{calendar}/events", get(list_events))
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut settings = settings.clone();
    let google = &mut settings.providers.google_calendar;
    google.client_id = "bench-client".into();
    google.client_secret = SecretString::from("bench-secret");
    google.api_base_url = format!("http://{addr}/calendar/v3");
    google.oauth_base_url = format!("http://{addr}/oauth");
    let calendar = GoogleCalendarClient::new(google, &settings.server.public_url)
        .context("the Google adapter")?;
    let keys = std::collections::HashMap::from([(
        "bench".to_string(),
        Sealer::generate_key().context("a sealing key")?,
    )]);
    let sealer = Sealer::from_config(&keys, "bench").context("the sealer")?;

    let now = Utc::now();
    let mut tx = db.begin().await?;
    let org = organisations::create(&mut tx, "Calendar sync bench", now).await?;
    let id = calendar_connections::new_connection_id();
    let calendars = [CalendarEntry {
        id: CALENDAR_ID.into(),
        summary: "Salon".into(),
        primary: true,
        time_zone: Some("Europe/Paris".into()),
        access_role: Some("owner".into()),
        writable: true,
    }];
    let refresh = sealer.seal(
        &SecretString::from("bench-refresh-token"),
        &refresh_token_context(&id),
    )?;
    let access = sealer.seal(
        &SecretString::from(ACCESS_TOKEN),
        &access_token_context(&id),
    )?;
    let connection = calendar_connections::upsert_connected(
        &mut tx,
        &id,
        &Connected {
            org_id: &org.id,
            account: CALENDAR_ID,
            calendars: &calendars,
            default_calendar_id: CALENDAR_ID,
            scopes: &[],
        },
        &refresh,
        &access,
        now + TimeDelta::hours(1),
        now,
    )
    .await?;
    tx.commit().await?;

    let sim = Simulator::new(&settings.providers.simulator);
    let mut ctx = crate::bench::simulated_context(&settings, &db, &sim).await?;
    ctx.calendar = Arc::new(calendar);
    ctx.sealer = Arc::new(sealer);
    let job = SyncCalendar {
        org_id: org.id.clone(),
        connection_id: connection.id.clone(),
        generation: 0,
    };
    let run = JobRun {
        id: "bench-sync".into(),
        kind: "SyncCalendar".into(),
        attempt: 1,
        max_attempts: 1,
        worker: "bench".into(),
    };
    let started = Instant::now();
    zencall_worker::jobs::sync_calendar::run(&ctx, job, run)
        .await
        .map_err(|e| anyhow::anyhow!("the sync failed: {e:?}"))?;
    let elapsed = started.elapsed();
    server.abort();

    let stored = calendar_events::count(&db, &org.id, &connection.id).await?;
    anyhow::ensure!(
        usize::try_from(stored).ok() == Some(events),
        "{stored} events stored, {events} served"
    );
    Ok(SyncReport {
        backend: db.backend(),
        events,
        pages: served.served.load(std::sync::atomic::Ordering::Relaxed),
        page_size,
        elapsed,
    })
}
