//! Calendar upkeep end to end, on a clock the test moves, with the simulated Google: a push
//! channel about to expire is renewed (a new channel opens, the old one is stopped, and changes
//! keep reaching us), and an expired sync token (410) makes the next sync start over in full.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use zencall_core::clock::{Clock, ManualClock};
use zencall_core::jobs::payloads::RenewCalendarChannels;
use zencall_core::store::test_db::TestDb;
use zencall_providers::SimulatedCalendar;
use zencall_providers::calendar::{EventTime, NewEvent, Transparency, event_id_for};
use zencall_providers::calendar_notifier::CalendarNotifier;
use zencall_providers::simulated_calendar::ACCOUNT_EMAIL;
use zencall_providers::simulator::Simulator;
use zencall_queue::board::admin::{self, JobState};
use zencall_queue::{EnqueueOptions, Enqueued, enqueue};

use crate::billing::await_some;
use crate::calendar::{await_event_count, connect};
use crate::test_app::{TestApp, simulated, test_settings};

fn event(key: &str, start: chrono::DateTime<Utc>) -> NewEvent {
    NewEvent {
        id: event_id_for(key),
        summary: format!("Rendez-vous {key}"),
        description: None,
        location: None,
        start: EventTime::At(start),
        end: EventTime::At(start + TimeDelta::minutes(45)),
        time_zone: Some("Europe/Paris".into()),
        transparency: Transparency::Opaque,
        private_properties: Default::default(),
    }
}

/// Runs the renewal now and waits for it.
async fn renew(app: &TestApp) {
    let Enqueued::New(job_id) = enqueue(
        &app.test_db.db,
        &RenewCalendarChannels {},
        EnqueueOptions::default(),
        3,
    )
    .await
    .unwrap() else {
        panic!("a job without unique key is always new");
    };
    await_some("the renewal finished", || async {
        let job = admin::find(&app.test_db.db, &job_id).await.unwrap()?;
        (job.state == JobState::Done).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_channel_about_to_expire_is_renewed_and_an_expired_sync_token_syncs_in_full() {
    for test_db in TestDb::all().await {
        let settings = test_settings();
        let clock = ManualClock::new(Utc::now());
        let sim = Simulator::new(&settings.providers.simulator);
        let calendar = SimulatedCalendar::new(
            &settings.providers.google_calendar,
            &settings.server.public_url,
        )
        .with_clock(Arc::new(clock.clone()));
        let providers = simulated(&sim).with_simulated_calendar(calendar.clone());
        let app = TestApp::spawn_on_clock(
            test_db,
            settings.clone(),
            providers,
            Arc::new(clock.clone()),
            false,
        )
        .await;
        let connection = connect(&app).await;
        let id = connection["id"].as_str().unwrap().to_string();
        let first = await_some("a channel", || async {
            let open = calendar.open_channels();
            (open.len() == 1).then(|| open[0].0.clone())
        })
        .await;

        // A week less an hour later the channel expires within the renewal window: a new one
        // opens; the next run stops the one it replaced.
        clock.advance(
            TimeDelta::hours(i64::try_from(settings.calendar.channel_ttl_hours).unwrap())
                - TimeDelta::hours(1),
        );
        renew(&app).await;
        let second = await_some("a second channel", || async {
            calendar
                .open_channels()
                .into_iter()
                .map(|(channel, _)| channel)
                .find(|channel| *channel != first)
        })
        .await;
        renew(&app).await;
        await_some("the first channel stopped", || async {
            let open: Vec<String> = calendar.open_channels().into_iter().map(|c| c.0).collect();
            (open == [second.clone()]).then_some(())
        })
        .await;

        // Changes reach us through the new channel.
        let notifier = CalendarNotifier::new(&app.base).unwrap();
        let start = clock.now() + TimeDelta::days(2);
        let notes = calendar
            .add_event_in_google(ACCOUNT_EMAIL, &event("renewed", start))
            .unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].channel_id, second);
        assert_eq!(notifier.deliver(&notes[0]).await.unwrap(), 200);
        await_event_count(&app, &id, 1).await;

        // Google forgets our sync token: the next sync gets 410, wipes and syncs in full, and
        // ends with the calendar as it is.
        calendar.expire_sync_tokens();
        let notes = calendar
            .add_event_in_google(
                ACCOUNT_EMAIL,
                &event("after-410", start + TimeDelta::hours(2)),
            )
            .unwrap();
        assert_eq!(notifier.deliver(&notes[0]).await.unwrap(), 200);
        await_event_count(&app, &id, 2).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let dead = admin::counts(&app.test_db.db, "calendar").await.unwrap();
        assert_eq!(
            dead.get(&JobState::Dead).copied().unwrap_or(0),
            0,
            "{dead:?}"
        );
        app.stop().await;
    }
}
