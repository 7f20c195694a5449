//! Days of campaigns on a simulated clock: two campaigns of one organisation calling people in
//! Paris, New York and Auckland under `fr-consumer`, across the European and New Zealand
//! daylight-saving changes and Easter Monday, the simulator answering with its mix of outcomes.
//! The clock moves in half-hour steps (or jumps to the next due contact); at each step the
//! planning tick runs and the platform is left to settle. Then every attempt is checked
//! against the rules from the stored rows, with checks written independently of the code
//! under test (local hours and weekdays, not `is_open`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zencall_core::clock::{Clock, ManualClock};
use zencall_core::domain::campaign::Outcome;
use zencall_core::jobs::payloads::PlanCampaigns;
use zencall_core::store::call_attempts::{self, Attempt, AttemptState};
use zencall_core::store::campaign_contacts::{self, Contact, ContactState};
use zencall_core::store::test_db::TestDb;
use zencall_core::store::{Db, Pool};
use zencall_providers::simulator::Simulator;
use zencall_queue::{EnqueueOptions, enqueue};

use crate::test_app::{TestApp, marcel, simulated, test_settings};

/// Friday 26 March 2027, 07:00 UTC: Paris changes to summer time on Sunday 28, Easter Monday
/// is 29 March, Auckland leaves summer time on Sunday 4 April.
const START: &str = "2027-03-26T07:00:00Z";
/// The simulation gives up after this many simulated days.
const MAX_DAYS: i64 = 45;
const STEP: TimeDelta = TimeDelta::minutes(30);
const MAX_ATTEMPTS: u32 = 3;
const CONCURRENCY: u32 = 8;

fn zones() -> [(Tz, &'static str); 3] {
    [
        (chrono_tz::Europe::Paris, "+336123"),
        (chrono_tz::America::New_York, "+1212736"),
        (chrono_tz::Pacific::Auckland, "+64211"),
    ]
}

/// The `i`th contact of zone `z`: a valid mobile or city number.
fn number(prefix: &str, i: usize) -> String {
    let width = 12 - prefix.len();
    format!("{prefix}{i:0width$}")
}

/// Jobs neither done nor dead, in every queue.
async fn unfinished_jobs(db: &Db) -> (i64, i64) {
    match db.pool() {
        Pool::Postgres(p) => sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE status NOT IN ('Done', 'Killed')), \
             COUNT(*) FILTER (WHERE status = 'Killed') FROM apalis.jobs",
        )
        .fetch_one(p)
        .await
        .unwrap(),
        Pool::Sqlite(p) => sqlx::query_as(
            "SELECT COALESCE(SUM(status NOT IN ('Done', 'Killed')), 0), \
             COALESCE(SUM(status = 'Killed'), 0) FROM Jobs",
        )
        .fetch_one(p)
        .await
        .unwrap(),
    }
}

/// Open attempts of each campaign right now.
async fn open_attempts(db: &Db) -> Vec<(String, i64)> {
    let sql = "SELECT campaign_id, COUNT(*) FROM call_attempts \
               WHERE state IN ('planned', 'placing', 'placed') GROUP BY campaign_id";
    match db.pool() {
        Pool::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
        Pool::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
    }
}

/// Waits until every call was reported and every job finished; checks on the way that no
/// campaign ever has more calls open than it allows.
async fn settle(app: &TestApp, sim: &Simulator) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        sim.drain_reports().await;
        for (campaign, open) in open_attempts(&app.test_db.db).await {
            assert!(
                open <= i64::from(CONCURRENCY),
                "campaign {campaign} has {open} calls open"
            );
        }
        let (unfinished, dead) = unfinished_jobs(&app.test_db.db).await;
        assert_eq!(dead, 0, "a job died");
        if unfinished == 0 {
            sim.drain_reports().await;
            if unfinished_jobs(&app.test_db.db).await.0 == 0 {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the platform did not settle"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The earliest time a pending contact of a live campaign is due.
async fn next_due(db: &Db) -> Option<DateTime<Utc>> {
    let sql = "SELECT MIN(next_attempt_at) FROM campaign_contacts WHERE state = 'pending'";
    match db.pool() {
        Pool::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        Pool::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

async fn campaign_state(app: &TestApp, id: &str) -> Value {
    let (status, campaign) = app
        .call(
            Method::GET,
            &format!("/v1/campaigns/{id}"),
            Some(&app.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{campaign}");
    campaign
}

async fn all_contacts(db: &Db, campaign: &str) -> Vec<Contact> {
    let mut out: Vec<Contact> = Vec::new();
    loop {
        let after = out.last().map(|c| c.id.clone());
        let page = campaign_contacts::list(db, campaign, None, after.as_deref(), 100)
            .await
            .unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Whether `fr-consumer` allows a call at local time `local` (written out here, not asked of
/// the code under test): Monday to Friday, 10:00-13:00 and 14:00-20:00, not on a French
/// public holiday of the simulated weeks.
fn fr_consumer_allows(at: DateTime<Utc>, tz: Tz) -> bool {
    let local = at.with_timezone(&tz);
    let holidays = [
        NaiveDate::from_ymd_opt(2027, 3, 29).unwrap(), // Easter Monday
        NaiveDate::from_ymd_opt(2027, 5, 1).unwrap(),
        NaiveDate::from_ymd_opt(2027, 5, 6).unwrap(), // Ascension
        NaiveDate::from_ymd_opt(2027, 5, 8).unwrap(),
    ];
    let weekday = !matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
    let minutes = local.hour() * 60 + local.minute();
    let hours = (600..780).contains(&minutes) || (840..1200).contains(&minutes);
    weekday && hours && !holidays.contains(&local.date_naive())
}

/// The default retry policy's first delay after `outcome`, in minutes.
fn first_retry_minutes(outcome: Outcome) -> i64 {
    match outcome {
        Outcome::NoAnswer => 240,
        Outcome::Busy => 30,
        Outcome::Voicemail => 1440,
        Outcome::Failed => 60,
        _ => 0,
    }
}

#[tokio::test]
async fn weeks_of_campaigns_in_three_time_zones_on_a_simulated_clock_keep_every_rule() {
    for db in TestDb::all().await {
        let start: DateTime<Utc> = START.parse().unwrap();
        let clock = ManualClock::new(start);
        let mut settings = test_settings();
        settings.campaigns.calls_per_second_per_number = 1000.0;
        settings.providers.simulator.seed = 20270326;
        // The organisation is created on the real clock, months before the simulated start;
        // billing is not what this test is about: a grace period long enough to cover it.
        settings.billing.grace_period_days = 365;
        let sim = Simulator::new(&settings.providers.simulator)
            .with_clock(Arc::new(clock.clone()) as Arc<dyn Clock>);
        let app = TestApp::spawn_on_clock(
            db,
            settings,
            simulated(&sim),
            Arc::new(clock.clone()),
            false,
        )
        .await;
        let assistant = app.create_assistant(marcel()).await;
        let caller = app.await_assistant(&assistant, "active").await["phone_number"]
            .as_str()
            .unwrap()
            .to_string();

        // 300 people to remind of their appointment, 100 per time zone; 3 asked never to be
        // called.
        let mut service = Vec::new();
        for (tz, prefix) in zones() {
            for i in 0..100 {
                service.push(json!({"number": number(prefix, i), "time_zone": tz.name(),
                                    "name": format!("Client {i}"),
                                    "variables": {"rdv": "mardi 10h"}}));
            }
        }
        let listed: Vec<String> = (0..3).map(|i| number("+336123", i * 7)).collect();
        for n in &listed {
            let (status, body) = app
                .call(
                    Method::POST,
                    "/v1/dnc",
                    Some(&app.key),
                    Some(json!({"number": n})),
                )
                .await;
            assert!(status.is_success(), "{body}");
        }
        // 40 prospects, the first 20 also in the service campaign; every other one consented.
        let prospects: Vec<String> = (0..40).map(|i| number("+336123", i * 2)).collect();
        let consented: HashSet<String> = prospects.iter().step_by(2).cloned().collect();
        for n in &consented {
            let (status, body) = app
                .call(
                    Method::POST,
                    "/v1/consents",
                    Some(&app.key),
                    Some(json!({"number": n, "given_at": "2027-01-10T09:00:00Z",
                                "method": "web_form", "proof": format!("form #{n}")})),
                )
                .await;
            assert!(status.is_success(), "{body}");
        }

        let mut campaign_ids = Vec::new();
        for (name, purpose, contacts) in [
            ("Rappel rendez-vous", "service", service),
            (
                "Offre printemps",
                "prospecting",
                prospects
                    .iter()
                    .map(|n| json!({"number": n}))
                    .collect::<Vec<_>>(),
            ),
        ] {
            let (status, campaign) = app
                .call(
                    Method::POST,
                    "/v1/campaigns",
                    Some(&app.key),
                    Some(json!({
                        "name": name, "assistant_id": assistant, "caller_number": caller,
                        "purpose": purpose, "calling_rules": {"preset": "fr-consumer"},
                        "time_zone": "Europe/Paris", "max_attempts": MAX_ATTEMPTS,
                        "max_concurrent_calls": CONCURRENCY
                    })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{campaign}");
            let id = campaign["id"].as_str().unwrap().to_string();
            let (status, import) = app
                .call(
                    Method::POST,
                    &format!("/v1/campaigns/{id}/contacts"),
                    Some(&app.key),
                    Some(json!({ "contacts": contacts })),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{import}");
            assert_eq!(import["invalid_count"], 0, "{import}");
            let (status, started) = app
                .call(
                    Method::POST,
                    &format!("/v1/campaigns/{id}/start"),
                    Some(&app.key),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{started}");
            campaign_ids.push(id);
        }

        // Run the weeks.
        let db = app.test_db.db.clone();
        let mut steps = 0;
        loop {
            enqueue(&db, &PlanCampaigns {}, EnqueueOptions::default(), 8)
                .await
                .unwrap();
            settle(&app, &sim).await;
            steps += 1;
            let mut finished = true;
            for id in &campaign_ids {
                finished &= campaign_state(&app, id).await["state"] == "completed";
            }
            if finished {
                break;
            }
            let now = clock.now();
            assert!(
                now < start + TimeDelta::days(MAX_DAYS),
                "the campaigns did not complete in {MAX_DAYS} simulated days"
            );
            let next = next_due(&db).await.unwrap_or(now + STEP).max(now + STEP);
            clock.set(next);
        }

        // Check every attempt against the rules.
        let tz_of: HashMap<String, Tz> = zones()
            .iter()
            .flat_map(|(tz, prefix)| (0..100).map(move |i| (number(prefix, i), *tz)))
            .collect();
        let mut per_number: BTreeMap<String, Vec<Attempt>> = BTreeMap::new();
        let mut outcomes: BTreeMap<&'static str, u32> = BTreeMap::new();
        for (c, id) in campaign_ids.iter().enumerate() {
            let contacts = all_contacts(&db, id).await;
            assert_eq!(contacts.len(), if c == 0 { 300 } else { 40 });
            let ids: Vec<String> = contacts.iter().map(|c| c.id.clone()).collect();
            let attempts = call_attempts::for_contacts(&db, &ids).await.unwrap();
            for contact in &contacts {
                let mine: Vec<&Attempt> = attempts
                    .iter()
                    .filter(|a| a.contact_id == contact.id)
                    .collect();
                assert!(
                    mine.len() <= MAX_ATTEMPTS as usize,
                    "{contact:?} had {} attempts",
                    mine.len()
                );
                assert!(
                    matches!(
                        contact.state,
                        ContactState::Completed | ContactState::Failed | ContactState::Skipped
                    ),
                    "{contact:?}"
                );
                if listed.contains(&contact.number) {
                    assert_eq!(contact.state, ContactState::Skipped, "{contact:?}");
                    assert_eq!(contact.skip_reason.as_deref(), Some("do_not_call"));
                }
                if c == 1 && !consented.contains(&contact.number) {
                    assert!(mine.is_empty(), "{contact:?} was called without consent");
                    assert_eq!(contact.state, ContactState::Skipped, "{contact:?}");
                }
                if contact.state == ContactState::Completed {
                    let last = mine.last().and_then(|a| a.outcome);
                    assert!(
                        matches!(last, Some(Outcome::Completed | Outcome::Refused)),
                        "{contact:?} completed after {last:?}"
                    );
                }
                // The next attempt waits for the retry delay of the previous outcome.
                let placed: Vec<&&Attempt> =
                    mine.iter().filter(|a| a.placed_at.is_some()).collect();
                for pair in placed.windows(2) {
                    let (before, after) = (pair[0], pair[1]);
                    let outcome = before.outcome.expect("an earlier attempt has an outcome");
                    assert!(
                        after.placed_at.unwrap()
                            >= before.ended_at.unwrap()
                                + TimeDelta::minutes(first_retry_minutes(outcome)),
                        "{before:?} then {after:?}"
                    );
                }
            }
            for a in attempts {
                if a.state == AttemptState::Ended {
                    *outcomes
                        .entry(a.outcome.map_or("none", |o| o.as_str()))
                        .or_default() += 1;
                }
                per_number.entry(a.number.clone()).or_default().push(a);
            }
            let progress = &campaign_state(&app, id).await["progress"];
            assert_eq!(progress["calls_in_progress"], 0, "{progress}");
        }
        let mut placed_total = 0;
        for (number, mut attempts) in per_number {
            assert!(
                !listed.contains(&number),
                "{number} is on the do-not-call list"
            );
            let tz = tz_of
                .get(&number)
                .copied()
                .unwrap_or(chrono_tz::Europe::Paris);
            // The clock stands still within a step, so calls of one step share their times;
            // attempt ids are ULIDs taken in real time when planned, and a person's attempts
            // never overlap, so the ids order them.
            attempts.sort_by(|a, b| (a.placed_at, &a.id).cmp(&(b.placed_at, &b.id)));
            let placed: Vec<&Attempt> = attempts.iter().filter(|a| a.placed_at.is_some()).collect();
            placed_total += placed.len();
            for (i, a) in placed.iter().enumerate() {
                let at = a.placed_at.unwrap();
                // fr-consumer: at most 4 calls per person in any 30 days, across campaigns.
                let in_30_days = placed[..=i]
                    .iter()
                    .filter(|b| b.placed_at.unwrap() > at - TimeDelta::days(30))
                    .count();
                assert!(
                    in_30_days <= 4,
                    "{number}: {in_30_days} calls in 30 days: {placed:#?}"
                );
                assert!(
                    fr_consumer_allows(at, tz),
                    "{number} called at {} local time",
                    at.with_timezone(&tz)
                );
                // Never two at once: each call ended before the next one was placed.
                if let Some(next) = placed.get(i + 1) {
                    assert!(
                        a.ended_at.is_some_and(|end| end <= next.placed_at.unwrap()),
                        "{number}: {a:?} overlaps {next:?}"
                    );
                }
                // No call for 60 days after a refusal.
                if a.outcome == Some(Outcome::Refused) {
                    assert!(
                        placed[i + 1..]
                            .iter()
                            .all(|b| b.placed_at.unwrap()
                                >= a.ended_at.unwrap() + TimeDelta::days(60)),
                        "{number} was called again after refusing: {placed:#?}"
                    );
                }
            }
        }
        assert!(placed_total > 300, "only {placed_total} calls were placed");
        for outcome in ["completed", "no_answer", "busy", "voicemail"] {
            assert!(
                outcomes.get(outcome).copied().unwrap_or(0) > 0,
                "no {outcome} in {outcomes:?}"
            );
        }
        eprintln!(
            "{:?}: {placed_total} calls over {} simulated hours in {steps} steps; outcomes {outcomes:?}",
            app.test_db.backend(),
            (clock.now() - start).num_hours()
        );
        app.stop().await;
    }
}
