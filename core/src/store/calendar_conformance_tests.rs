//! The calendar stores' conformance suite: OAuth states, connections, channels, synced events
//! and the assistant's calendar, each run against every backend (SQLite always, PostgreSQL
//! when ZENCALL_TEST_DATABASE_URL is set).

#![allow(clippy::unwrap_used)]

use chrono::{Duration, NaiveDate, TimeZone, Utc};

use super::assistants::{self, AssistantCalendar};
use super::calendar_channels::{self, ChannelStatus};
use super::calendar_connections::{self, CalendarEntry, Connected, ConnectionStatus};
use super::calendar_events::{self, EventSpan, SyncedEvent};
use super::calendar_oauth_states::{self, NewOAuthState};
use super::test_db::TestDb;
use super::{Db, organisations};
use crate::domain::assistant::AssistantRequest;

async fn org(db: &Db, name: &str) -> String {
    let mut tx = db.begin().await.unwrap();
    let o = organisations::create(&mut tx, name, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    o.id
}

fn calendars() -> Vec<CalendarEntry> {
    vec![
        CalendarEntry {
            id: "owner@example.com".into(),
            summary: "Owner".into(),
            primary: true,
            time_zone: Some("Europe/Paris".into()),
            access_role: Some("owner".into()),
            writable: true,
        },
        CalendarEntry {
            id: "team@group.calendar.google.com".into(),
            summary: "Team".into(),
            primary: false,
            time_zone: None,
            access_role: Some("writer".into()),
            writable: true,
        },
    ]
}

async fn connect(db: &Db, org_id: &str, account: &str) -> calendar_connections::Connection {
    let cals = calendars();
    let scopes = vec!["a".to_string(), "b".to_string()];
    let mut tx = db.begin().await.unwrap();
    let c = calendar_connections::upsert_connected(
        &mut tx,
        &calendar_connections::new_connection_id(),
        &Connected {
            org_id,
            account,
            calendars: &cals,
            default_calendar_id: "owner@example.com",
            scopes: &scopes,
        },
        "v1.k.refresh",
        "v1.k.access",
        Utc::now() + Duration::hours(1),
        Utc::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    c
}

#[tokio::test]
async fn an_oauth_state_is_consumed_once_and_expired_ones_are_pruned() {
    for t in TestDb::all().await {
        let org_id = org(&t.db, "A").await;
        let now = Utc::now();
        for (hash, expires) in [
            ("h-live", now + Duration::minutes(10)),
            ("h-old", now - Duration::minutes(1)),
        ] {
            calendar_oauth_states::insert(
                &t.db,
                &NewOAuthState {
                    state_hash: hash,
                    org_id: &org_id,
                    sealed_verifier: "v1.k.verifier",
                    redirect_uri: "https://x/cb",
                    expires_at: expires,
                },
                now,
            )
            .await
            .unwrap();
        }
        let state = calendar_oauth_states::consume(&t.db, "h-live")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.org_id, org_id);
        assert_eq!(state.sealed_verifier, "v1.k.verifier");
        assert!(state.expires_at > now);
        assert_eq!(
            calendar_oauth_states::consume(&t.db, "h-live")
                .await
                .unwrap(),
            None,
            "{:?}",
            t.backend()
        );
        assert_eq!(
            calendar_oauth_states::prune_expired(&t.db, now)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            calendar_oauth_states::consume(&t.db, "h-old")
                .await
                .unwrap(),
            None
        );
        t.drop_database().await;
    }
}

#[tokio::test]
async fn connecting_an_account_again_updates_its_connection_and_restarts_its_sync() {
    for t in TestDb::all().await {
        let org_id = org(&t.db, "A").await;
        let other = org(&t.db, "B").await;
        let first = connect(&t.db, &org_id, "owner@example.com").await;
        assert_eq!(first.status, ConnectionStatus::Active);
        assert_eq!(first.calendar_id, "owner@example.com");
        assert_eq!(first.calendars, calendars());
        assert_eq!(first.scopes, vec!["a", "b"]);
        assert_eq!(first.sealed_refresh_token.as_deref(), Some("v1.k.refresh"));

        let mut tx = t.db.begin().await.unwrap();
        calendar_connections::finish_sync(
            &mut tx,
            &org_id,
            &first.id,
            "owner@example.com",
            None,
            "sync-1",
            Utc::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert!(
            calendar_connections::mark_needs_reconnect(
                &t.db,
                &org_id,
                &first.id,
                "invalid_grant",
                Utc::now()
            )
            .await
            .unwrap()
        );
        assert!(
            !calendar_connections::mark_needs_reconnect(
                &t.db,
                &org_id,
                &first.id,
                "again",
                Utc::now()
            )
            .await
            .unwrap(),
            "only an active connection changes"
        );

        let again = connect(&t.db, &org_id, "owner@example.com").await;
        assert_eq!(again.id, first.id, "{:?}", t.backend());
        assert_eq!(again.status, ConnectionStatus::Active);
        assert_eq!(again.status_reason, None);
        assert_eq!(again.sync_token, None);
        assert_eq!(
            calendar_connections::list(&t.db, &org_id)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            calendar_connections::find(&t.db, &other, &first.id)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            calendar_connections::find_by_account(&t.db, &org_id, "owner@example.com")
                .await
                .unwrap()
                .map(|c| c.id),
            Some(first.id.clone())
        );
        t.drop_database().await;
    }
}

#[tokio::test]
async fn tokens_are_replaced_only_on_active_connections_and_forgotten_on_disconnect() {
    for t in TestDb::all().await {
        let org_id = org(&t.db, "A").await;
        let c = connect(&t.db, &org_id, "owner@example.com").await;
        let expires = Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap();
        assert!(
            calendar_connections::store_tokens(
                &t.db,
                &org_id,
                &c.id,
                "v1.k.access2",
                expires,
                None,
                Utc::now()
            )
            .await
            .unwrap()
        );
        let c2 = calendar_connections::find(&t.db, &org_id, &c.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c2.sealed_access_token.as_deref(), Some("v1.k.access2"));
        assert_eq!(c2.sealed_refresh_token.as_deref(), Some("v1.k.refresh"));
        assert_eq!(c2.access_expires_at, Some(expires));

        let mut tx = t.db.begin().await.unwrap();
        assert!(
            calendar_connections::mark_disconnected(&mut tx, &org_id, &c.id, Utc::now())
                .await
                .unwrap()
        );
        assert!(
            !calendar_connections::mark_disconnected(&mut tx, &org_id, &c.id, Utc::now())
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let gone = calendar_connections::find(&t.db, &org_id, &c.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(gone.status, ConnectionStatus::Disconnected);
        assert_eq!(gone.sealed_refresh_token, None);
        assert_eq!(gone.sealed_access_token, None);
        assert!(
            !calendar_connections::store_tokens(
                &t.db,
                &org_id,
                &c.id,
                "v1.k.x",
                expires,
                None,
                Utc::now()
            )
            .await
            .unwrap()
        );
        t.drop_database().await;
    }
}

fn timed(id: &str, hour: u32) -> SyncedEvent {
    SyncedEvent {
        event_id: id.into(),
        status: "confirmed".into(),
        span: EventSpan::Timed {
            start: Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 3, 2, hour + 1, 0, 0).unwrap(),
        },
        summary: Some(format!("event {id}")),
        transparency: "opaque".into(),
        updated: Some(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()),
    }
}

#[tokio::test]
async fn synced_events_are_upserted_deleted_and_wiped_per_connection() {
    for t in TestDb::all().await {
        let org_id = org(&t.db, "A").await;
        let c = connect(&t.db, &org_id, "owner@example.com").await;
        let other = connect(&t.db, &org_id, "second@example.com").await;
        let all_day = SyncedEvent {
            event_id: "holiday".into(),
            status: "tentative".into(),
            span: EventSpan::AllDay {
                start: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
                end: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
            },
            summary: None,
            transparency: "transparent".into(),
            updated: None,
        };
        let mut tx = t.db.begin().await.unwrap();
        for e in [timed("b", 11), timed("a", 9), all_day.clone()] {
            calendar_events::upsert(&mut tx, &org_id, &c.id, &e, Utc::now())
                .await
                .unwrap();
        }
        calendar_events::upsert(&mut tx, &org_id, &other.id, &timed("z", 7), Utc::now())
            .await
            .unwrap();
        // A change of an event already stored replaces it.
        calendar_events::upsert(&mut tx, &org_id, &c.id, &timed("b", 14), Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let events = calendar_events::list(&t.db, &org_id, &c.id, 100)
            .await
            .unwrap();
        assert_eq!(
            events,
            vec![timed("a", 9), timed("b", 14), all_day],
            "{:?}",
            t.backend()
        );

        let mut tx = t.db.begin().await.unwrap();
        assert!(
            calendar_events::delete(&mut tx, &org_id, &c.id, "a")
                .await
                .unwrap()
        );
        assert!(
            !calendar_events::delete(&mut tx, &org_id, &c.id, "a")
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        assert_eq!(
            calendar_events::count(&t.db, &org_id, &c.id).await.unwrap(),
            2
        );

        let mut tx = t.db.begin().await.unwrap();
        calendar_connections::restart_sync(&mut tx, &org_id, &c.id)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            calendar_events::count(&t.db, &org_id, &c.id).await.unwrap(),
            0
        );
        assert_eq!(
            calendar_events::count(&t.db, &org_id, &other.id)
                .await
                .unwrap(),
            1
        );
        t.drop_database().await;
    }
}

#[tokio::test]
async fn a_sync_token_is_kept_only_if_no_other_run_moved_it_and_the_calendar_is_unchanged() {
    for t in TestDb::all().await {
        let org_id = org(&t.db, "A").await;
        let c = connect(&t.db, &org_id, "owner@example.com").await;
        assert_eq!(
            calendar_connections::begin_sync(&t.db, &org_id, &c.id)
                .await
                .unwrap(),
            Some(1)
        );
        assert_eq!(
            calendar_connections::begin_sync(&t.db, &org_id, "ccon_nope")
                .await
                .unwrap(),
            None
        );
        let cal = "owner@example.com";
        let mut tx = t.db.begin().await.unwrap();
        assert!(
            calendar_connections::finish_sync(&mut tx, &org_id, &c.id, cal, None, "s1", Utc::now())
                .await
                .unwrap()
        );
        assert!(
            !calendar_connections::finish_sync(
                &mut tx,
                &org_id,
                &c.id,
                cal,
                None,
                "s1b",
                Utc::now()
            )
            .await
            .unwrap()
        );
        assert!(
            calendar_connections::finish_sync(
                &mut tx,
                &org_id,
                &c.id,
                cal,
                Some("s1"),
                "s2",
                Utc::now()
            )
            .await
            .unwrap()
        );
        tx.commit().await.unwrap();

        let mut tx = t.db.begin().await.unwrap();
        calendar_events::upsert(&mut tx, &org_id, &c.id, &timed("a", 9), Utc::now())
            .await
            .unwrap();
        assert!(
            calendar_connections::select_calendar(
                &mut tx,
                &org_id,
                &c.id,
                "team@group.calendar.google.com",
                Utc::now()
            )
            .await
            .unwrap()
        );
        assert!(
            !calendar_connections::select_calendar(
                &mut tx,
                &org_id,
                &c.id,
                "team@group.calendar.google.com",
                Utc::now()
            )
            .await
            .unwrap()
        );
        assert!(
            !calendar_connections::finish_sync(
                &mut tx,
                &org_id,
                &c.id,
                cal,
                None,
                "s3",
                Utc::now()
            )
            .await
            .unwrap()
        );
        tx.commit().await.unwrap();
        let c = calendar_connections::find(&t.db, &org_id, &c.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.calendar_id, "team@group.calendar.google.com");
        assert_eq!(c.sync_token, None);
        assert!(c.last_synced_at.is_some());
        assert_eq!(
            calendar_events::count(&t.db, &org_id, &c.id).await.unwrap(),
            0
        );
        t.drop_database().await;
    }
}

#[tokio::test]
async fn a_renewed_channel_replaces_the_old_one_which_is_then_listed_to_stop() {
    for t in TestDb::all().await {
        let org_id = org(&t.db, "A").await;
        let c = connect(&t.db, &org_id, "owner@example.com").await;
        let now = Utc::now();
        let cal = "owner@example.com";
        calendar_channels::insert_pending(&t.db, "chan_1", &org_id, &c.id, cal, "hash1", now)
            .await
            .unwrap();
        calendar_channels::activate(
            &t.db,
            &org_id,
            "chan_1",
            "res-1",
            Some(now + Duration::hours(3)),
            now,
        )
        .await
        .unwrap();
        let expiring = calendar_channels::expiring(&t.db, now + Duration::hours(24), 10)
            .await
            .unwrap();
        assert_eq!(
            expiring.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            vec!["chan_1"]
        );
        assert!(
            calendar_channels::expiring(&t.db, now + Duration::hours(1), 10)
                .await
                .unwrap()
                .is_empty()
        );

        calendar_channels::insert_pending(&t.db, "chan_2", &org_id, &c.id, cal, "hash2", now)
            .await
            .unwrap();
        calendar_channels::activate(
            &t.db,
            &org_id,
            "chan_2",
            "res-2",
            Some(now + Duration::days(7)),
            now,
        )
        .await
        .unwrap();
        let old = calendar_channels::find(&t.db, "chan_1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(old.status, ChannelStatus::Replaced, "{:?}", t.backend());
        let new = calendar_channels::find(&t.db, "chan_2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(new.status, ChannelStatus::Active);
        assert_eq!(new.resource_id.as_deref(), Some("res-2"));
        assert_eq!(new.token_hash, "hash2");

        let to_stop = calendar_channels::to_stop(&t.db, now - Duration::hours(1), 10)
            .await
            .unwrap();
        assert_eq!(
            to_stop.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            vec!["chan_1"]
        );
        calendar_channels::mark_stopped(&t.db, &org_id, "chan_1", now)
            .await
            .unwrap();
        assert!(
            calendar_channels::to_stop(&t.db, now - Duration::hours(1), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let live = calendar_channels::live_for_connection(&t.db, &org_id, &c.id)
            .await
            .unwrap();
        assert_eq!(
            live.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            vec!["chan_2"]
        );
        // A pending channel whose opening never finished is stopped once stale.
        calendar_channels::insert_pending(
            &t.db,
            "chan_3",
            &org_id,
            &c.id,
            cal,
            "hash3",
            now - Duration::hours(2),
        )
        .await
        .unwrap();
        let to_stop = calendar_channels::to_stop(&t.db, now - Duration::hours(1), 10)
            .await
            .unwrap();
        assert_eq!(
            to_stop.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            vec!["chan_3"]
        );
        t.drop_database().await;
    }
}

#[tokio::test]
async fn an_assistant_gets_and_loses_a_calendar() {
    for t in TestDb::all().await {
        let org_id = org(&t.db, "A").await;
        let c = connect(&t.db, &org_id, "owner@example.com").await;
        let request: AssistantRequest = serde_json::from_value(serde_json::json!({
            "name": "Salon", "sector": "hair_beauty_salon",
            "business": {"name": "Salon", "services": ["coupe"]},
        }))
        .unwrap();
        let new = request.validate().unwrap();
        let mut tx = t.db.begin().await.unwrap();
        let a = assistants::insert(&mut tx, &org_id, &new, Utc::now())
            .await
            .unwrap();
        let cal = AssistantCalendar {
            connection_id: c.id.clone(),
            calendar_id: "owner@example.com".into(),
        };
        assert!(
            assistants::set_calendar(&mut tx, &org_id, &a.id, Some(&cal), Utc::now())
                .await
                .unwrap()
        );
        assert!(
            !assistants::set_calendar(&mut tx, "org_other", &a.id, Some(&cal), Utc::now())
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let found = assistants::find(&t.db, &org_id, &a.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.calendar, Some(cal));

        let mut tx = t.db.begin().await.unwrap();
        assert!(
            assistants::set_calendar(&mut tx, &org_id, &a.id, None, Utc::now())
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let found = assistants::find(&t.db, &org_id, &a.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.calendar, None, "{:?}", t.backend());
        t.drop_database().await;
    }
}
