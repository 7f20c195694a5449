//! Appointment reminders end to end, on a clock the test moves: appointments booked a week
//! ahead get their text message once the day comes, from the assistant's number, in its
//! language; a cancelled one gets none, one booked inside the reminder window gets none, and
//! a second sweep sends nothing more.

use std::sync::Arc;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde_json::json;
use zencall_core::clock::{Clock, ManualClock};
use zencall_core::domain::phone::PhoneNumber;
use zencall_core::jobs::payloads::SendReminders;
use zencall_core::store::appointment_reminders::{self, ReminderStatus};
use zencall_core::store::appointments::{self, Actor, Booking, NewAppointment};
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulator::Simulator;
use zencall_queue::board::admin::{self, JobState};
use zencall_queue::{EnqueueOptions, Enqueued, enqueue};

use crate::availability::paris;
use crate::billing::await_some;
use crate::test_app::{TestApp, marcel, simulated, test_settings};
use crate::tool_calls::tuesday;

/// Runs the reminder sweep now and waits for it.
async fn sweep(app: &TestApp) {
    let Enqueued::New(job_id) = enqueue(
        &app.test_db.db,
        &SendReminders {},
        EnqueueOptions::default(),
        3,
    )
    .await
    .unwrap() else {
        panic!("a job without unique key is always new");
    };
    await_some("the reminder sweep finished", || async {
        let job = admin::find(&app.test_db.db, &job_id).await.unwrap()?;
        (job.state == JobState::Done).then_some(())
    })
    .await;
}

async fn book(
    app: &TestApp,
    assistant: &str,
    start: DateTime<Utc>,
    caller: &str,
    now: DateTime<Utc>,
) -> String {
    let booking = NewAppointment {
        assistant_id: assistant.to_string(),
        starts_at: start,
        ends_at: start + TimeDelta::minutes(30),
        caller_name: "Jeanne Martin".into(),
        caller_number: PhoneNumber::parse(caller, None).unwrap(),
        service: Some("dîner".into()),
        call_id: None,
        actor: Actor::Assistant,
    };
    match appointments::book(&app.test_db.db, &app.org_id, &booking, now)
        .await
        .unwrap()
    {
        Booking::Booked(appointment) => appointment.id,
        other => panic!("not booked: {other:?}"),
    }
}

#[tokio::test]
async fn each_appointment_is_reminded_once_the_day_before_and_only_when_it_should_be() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let clock = ManualClock::new(Utc::now());
        let app = TestApp::spawn_on_clock(
            db,
            test_settings(),
            simulated(&sim),
            Arc::new(clock.clone()),
            false,
        )
        .await;
        let mut body = marcel();
        body["business"]["hours"] = json!({
            "time_zone": "Europe/Paris",
            "weekly": {"tuesday": [["09:00", "12:00"]]},
        });
        let assistant = app.create_assistant(body).await;
        let active = app.await_assistant(&assistant, "active").await;
        let number = active["phone_number"].as_str().unwrap().to_string();

        let day = tuesday();
        let now = clock.now();
        let first = book(&app, &assistant, paris(day, 10, 0), "+33612345678", now).await;
        let second = book(&app, &assistant, paris(day, 10, 30), "+33698765432", now).await;
        let cancelled = book(&app, &assistant, paris(day, 11, 0), "+33611111111", now).await;
        appointments::cancel(
            &app.test_db.db,
            &app.org_id,
            &cancelled,
            Actor::Api,
            Some("changement de programme"),
            now,
        )
        .await
        .unwrap()
        .unwrap();

        // A week ahead: nothing is due.
        sweep(&app).await;
        assert!(sim.sent_messages().is_empty());

        // The day before, 23 hours ahead of the first: both booked ones are reminded.
        clock.set(paris(day, 10, 0) - TimeDelta::hours(23));
        sweep(&app).await;
        let sent = sim.sent_messages();
        assert_eq!(sent.len(), 2, "{sent:?}");
        let mut to: Vec<&str> = sent.iter().map(|m| m.to.as_str()).collect();
        to.sort_unstable();
        assert_eq!(to, ["+33612345678", "+33698765432"]);
        let first_text = &sent.iter().find(|m| m.to == "+33612345678").unwrap().body;
        assert!(sent.iter().all(|m| m.from == number));
        let date = format!("le mardi {} ", day.day());
        assert!(
            first_text.starts_with("Rappel : rendez-vous chez Chez Marcel")
                && first_text.contains(&date)
                && first_text.contains("à 10 h (dîner)")
                && first_text.contains(&number),
            "{first_text}"
        );
        for id in [&first, &second] {
            let reminders = appointment_reminders::of_appointment(&app.test_db.db, &app.org_id, id)
                .await
                .unwrap();
            assert_eq!(reminders.len(), 1);
            assert_eq!(reminders[0].status, ReminderStatus::Sent);
            assert!(
                reminders[0]
                    .provider_id
                    .as_deref()
                    .unwrap()
                    .starts_with("SM")
            );
        }
        assert!(
            appointment_reminders::of_appointment(&app.test_db.db, &app.org_id, &cancelled)
                .await
                .unwrap()
                .is_empty()
        );

        // Booked now, for tomorrow morning: inside the window, so no reminder; a second sweep sends
        // nothing more.
        let late = book(
            &app,
            &assistant,
            paris(day, 9, 0),
            "+33622222222",
            clock.now(),
        )
        .await;
        sweep(&app).await;
        assert_eq!(sim.sent_messages().len(), 2);
        let skipped = appointment_reminders::of_appointment(&app.test_db.db, &app.org_id, &late)
            .await
            .unwrap();
        assert_eq!(skipped[0].status, ReminderStatus::Skipped);
        assert!(
            skipped[0].error.as_deref().unwrap().contains("less than"),
            "{skipped:?}"
        );
        app.stop().await;
    }
}
