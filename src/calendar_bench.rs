//! The calendar benchmark (`zencall bench calendar`): an assistant with structured opening
//! hours and a connected calendar of N synced events (two years of a busy business, some
//! all-day, some transparent), plus appointments booked through the store as the assistant
//! books them; then the availability of two-week windows, read and computed as the API does,
//! timed run by run. The full-sync half is in [`crate::calendar_sync_bench`].

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use serde_json::json;
use zencall_core::domain::assistant::AssistantRequest;
use zencall_core::domain::phone::PhoneNumber;
use zencall_core::store::appointments::{self, Actor, Booking, NewAppointment};
use zencall_core::store::assistants::{self, AssistantCalendar};
use zencall_core::store::calendar_connections::{self, CalendarEntry, Connected};
use zencall_core::store::calendar_events::{self, EventSpan, SyncedEvent};
use zencall_core::store::{Backend, Db, Pool, availability, organisations};

/// The window each run asks for.
const WINDOW_DAYS: i64 = 14;
/// The slot length each run asks for, in minutes.
const DURATION_MINUTES: i64 = 30;
/// Events written per transaction while seeding.
const SEED_CHUNK: usize = 1_000;

/// What the calendar benchmark measured.
#[derive(Debug, Clone)]
pub struct CalendarReport {
    /// The database's backend.
    pub backend: Backend,
    /// Synced events in the calendar.
    pub events: usize,
    /// Appointments booked.
    pub appointments: usize,
    /// How long seeding took.
    pub seeding: Duration,
    /// Each run's time: read the assistant, its busy time, compute the slots.
    pub runs: Vec<Duration>,
    /// Slots found, summed over the runs.
    pub slots: usize,
}

impl CalendarReport {
    fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.runs.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
        sorted.get(index).copied().unwrap_or_default()
    }
}

impl fmt::Display for CalendarReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "bench=calendar-availability backend={} events={} appointments={} window_days={WINDOW_DAYS} duration_min={DURATION_MINUTES} runs={} p50_ms={:.2} p99_ms={:.2} slots_per_run={} seed_s={:.1}",
            self.backend.as_str(),
            self.events,
            self.appointments,
            self.runs.len(),
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            self.slots / self.runs.len().max(1),
            self.seeding.as_secs_f64(),
        )
    }
}

/// A small deterministic generator, so every run seeds the same calendar.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// `minutes` after midnight of the local `day` in `tz`.
fn local<Z: TimeZone>(tz: &Z, day: NaiveDate, minutes: u64) -> DateTime<Utc> {
    let time = NaiveTime::MIN + TimeDelta::minutes(minutes as i64);
    tz.from_local_datetime(&day.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| day.and_time(time).and_utc())
}

/// Seeds the calendar (`events` events over a year either side of now, and up to
/// `appointments` bookings over the next year), then times `runs` availability reads of
/// two-week windows over the next year. The seeded rows stay: use a database of its own.
pub async fn calendar(
    db: Db,
    events: usize,
    appointments: usize,
    runs: usize,
) -> anyhow::Result<CalendarReport> {
    anyhow::ensure!(runs >= 1, "--runs must be at least 1");
    let now = Utc::now();
    let started = Instant::now();

    let mut tx = db.begin().await?;
    let org = organisations::create(&mut tx, "Calendar bench", now).await?;
    let request: AssistantRequest = serde_json::from_value(json!({
        "name": "Salon (bench)", "sector": "hair_beauty_salon",
        "business": {"name": "Salon (bench)", "hours": {
            "time_zone": "Europe/Paris",
            "weekly": {
                "tuesday": [["09:00", "12:00"], ["13:30", "19:00"]],
                "wednesday": [["09:00", "12:00"], ["13:30", "19:00"]],
                "thursday": [["09:00", "12:00"], ["13:30", "19:00"]],
                "friday": [["09:00", "12:00"], ["13:30", "20:00"]],
                "saturday": [["09:00", "18:00"]]
            },
            "holidays": "fr", "slot_step_minutes": 15, "min_notice_minutes": 60
        }}
    }))?;
    let new = request
        .validate()
        .map_err(|e| anyhow::anyhow!("bench assistant: {e:?}"))?;
    let assistant = assistants::insert(&mut tx, &org.id, &new, now).await?;
    let tz = assistant
        .business
        .hours
        .as_ref()
        .context("the bench assistant has no hours")?
        .time_zone();
    let today = now.with_timezone(&tz).date_naive();
    let calendars = [CalendarEntry {
        id: "salon-bench@example.fr".into(),
        summary: "Salon".into(),
        primary: true,
        time_zone: Some("Europe/Paris".into()),
        access_role: Some("owner".into()),
        writable: true,
    }];
    let connection = calendar_connections::upsert_connected(
        &mut tx,
        &calendar_connections::new_connection_id(),
        &Connected {
            org_id: &org.id,
            account: "salon-bench@example.fr",
            calendars: &calendars,
            default_calendar_id: "salon-bench@example.fr",
            scopes: &[],
        },
        "sealed-refresh",
        "sealed-access",
        now + TimeDelta::hours(1),
        now,
    )
    .await?;
    let calendar = AssistantCalendar {
        connection_id: connection.id.clone(),
        calendar_id: "salon-bench@example.fr".into(),
    };
    assistants::set_calendar(&mut tx, &org.id, &assistant.id, Some(&calendar), now).await?;
    tx.commit().await?;

    // Events over a year either side of today, between 07:00 and 20:00 local: 2% all-day,
    // 10% transparent.
    let mut rng = Lcg(42);
    for chunk in (0..events).collect::<Vec<_>>().chunks(SEED_CHUNK) {
        let mut tx = db.begin().await?;
        for &n in chunk {
            let day = today + TimeDelta::days(rng.below(730) as i64 - 365);
            let span = if rng.below(50) == 0 {
                EventSpan::AllDay {
                    start: day,
                    end: day + TimeDelta::days(1),
                }
            } else {
                let start = local(&tz, day, 7 * 60 + rng.below(13 * 4) * 15);
                EventSpan::Timed {
                    start,
                    end: start + TimeDelta::minutes(15 * (1 + rng.below(6) as i64)),
                }
            };
            let transparency = if rng.below(10) == 0 {
                "transparent"
            } else {
                "opaque"
            };
            let event = SyncedEvent {
                event_id: format!("bench-{n}"),
                status: "confirmed".into(),
                span,
                summary: Some(format!("Client {n}")),
                transparency: transparency.into(),
                updated: Some(now),
            };
            calendar_events::upsert(&mut tx, &org.id, &connection.id, &event, now).await?;
        }
        tx.commit().await?;
    }

    // Bookings through the store, as the assistant books: those that land on busy or closed
    // time are refused, as they would be.
    let caller = PhoneNumber::parse("+33612345678", None).context("bench caller number")?;
    let mut booked = 0;
    for n in 0..appointments {
        let day = today + TimeDelta::days(2 + rng.below(363) as i64);
        let start = local(&tz, day, 9 * 60 + rng.below(9 * 4) * 15);
        let new = NewAppointment {
            assistant_id: assistant.id.clone(),
            starts_at: start,
            ends_at: start + TimeDelta::minutes(30),
            caller_name: format!("Client {n}"),
            caller_number: caller.clone(),
            service: Some("coupe".into()),
            call_id: None,
            actor: Actor::Assistant,
        };
        if let Booking::Booked(_) = appointments::book(&db, &org.id, &new, now).await? {
            booked += 1;
        }
    }
    analyze(&db).await?;
    let seeding = started.elapsed();

    let mut timings = Vec::with_capacity(runs);
    let mut slots = 0;
    for run in 0..runs {
        let day = today + TimeDelta::days(1 + (run as i64 * 7) % 350);
        let from = local(&tz, day, 0);
        let to = from + TimeDelta::days(WINDOW_DAYS);
        let started = Instant::now();
        let assistant = assistants::find(&db, &org.id, &assistant.id)
            .await?
            .context("the bench assistant vanished")?;
        let found = availability::free_slots(
            &db,
            &assistant,
            from,
            to,
            TimeDelta::minutes(DURATION_MINUTES),
            now,
        )
        .await?
        .context("the bench assistant has no hours")?;
        timings.push(started.elapsed());
        slots += found.len();
    }
    Ok(CalendarReport {
        backend: db.backend(),
        events,
        appointments: booked,
        seeding,
        runs: timings,
        slots,
    })
}

async fn analyze(db: &Db) -> anyhow::Result<()> {
    match db.pool() {
        Pool::Postgres(p) => {
            for table in ["calendar_events", "appointments"] {
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
