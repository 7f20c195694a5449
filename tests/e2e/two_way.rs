//! Two-way calendar sync, end to end on both backends: an appointment written to the simulated
//! Google calendar, then its event moved by the owner in Google (the appointment follows, its
//! history says the calendar moved it, `appointment.updated` is delivered), then deleted there
//! (the appointment is cancelled, `appointment.cancelled` is delivered).

use chrono::Utc;

use reqwest::{Method, StatusCode};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};
use zencall_core::domain::phone::PhoneNumber;
use zencall_core::jobs::payloads::PushAppointment;
use zencall_core::store::appointments::{self, Actor, AppointmentStatus, Booking, NewAppointment};
use zencall_core::store::test_db::TestDb;
use zencall_providers::calendar::{EventStatus, EventTime};
use zencall_providers::calendar_notifier::CalendarNotifier;
use zencall_providers::simulated_calendar::ACCOUNT_EMAIL;

use crate::availability::paris;
use crate::billing::await_some;
use crate::calendar::{connect, spawn};
use crate::tool_calls::{assistant, await_event, tuesday, with_hours};

#[tokio::test]
async fn an_event_moved_or_deleted_in_the_calendar_moves_or_cancels_its_appointment() {
    for test_db in TestDb::all().await {
        let (app, calendar) = spawn(test_db).await;
        let hooks = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&hooks)
            .await;
        let (status, endpoint) = app
            .call(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(&app.key),
                Some(json!({"url": hooks.uri(),
                            "event_types": ["appointment.updated", "appointment.cancelled"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{endpoint}");
        let connection = connect(&app).await;
        let connection_id = connection["id"].as_str().unwrap().to_string();
        let (assistant_id, _) = assistant(&app, with_hours(), Some(&connection_id)).await;

        // Booked Tuesday 10:00-10:30 (Paris) and written to the calendar.
        let day = tuesday();
        let at = |hh: u32, mm: u32| paris(day, hh, mm);
        let new = NewAppointment {
            assistant_id,
            starts_at: at(10, 0),
            ends_at: at(10, 30),
            caller_name: "Jeanne Martin".into(),
            caller_number: PhoneNumber::parse("+33612345678", None).unwrap(),
            service: None,
            call_id: None,
            actor: Actor::Api,
        };
        let mut tx = app.test_db.db.begin().await.unwrap();
        let Booking::Booked(booked) = appointments::book_in(&mut tx, &app.org_id, &new, Utc::now())
            .await
            .unwrap()
        else {
            panic!("not booked");
        };
        PushAppointment::enqueue(&mut tx, &app.org_id, &booked.id, "booked")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let event = await_event(&calendar, &booked.id, "the appointment's event", |_| true).await;
        await_some("the event recorded on the appointment", || async {
            appointments::find(&app.test_db.db, &app.org_id, &booked.id)
                .await
                .unwrap()
                .filter(|a| a.calendar_event.is_some())
        })
        .await;

        // Google notifies only through a watch channel, which the connection opens in a job of
        // its own: without one, a change in Google would notify nobody.
        await_some("the calendar's watch channel", || async {
            calendar
                .open_channels()
                .iter()
                .any(|(_, calendar_id)| calendar_id == ACCOUNT_EMAIL)
                .then_some(())
        })
        .await;

        // The owner drags it to 14:00-14:45 in Google: the appointment follows.
        let notifier = CalendarNotifier::new(&app.base).unwrap();
        let notes = calendar
            .move_event_in_google(
                ACCOUNT_EMAIL,
                &event.id,
                EventTime::At(at(14, 0)),
                EventTime::At(at(14, 45)),
            )
            .unwrap();
        assert_eq!(notifier.deliver(&notes[0]).await.unwrap(), 200);
        let moved = await_some("the appointment moved", || async {
            appointments::find(&app.test_db.db, &app.org_id, &booked.id)
                .await
                .unwrap()
                .filter(|a| a.starts_at == at(14, 0))
        })
        .await;
        assert_eq!(moved.ends_at, at(14, 45));
        assert_eq!(moved.status, AppointmentStatus::Booked);
        let history = appointments::history(&app.test_db.db, &app.org_id, &booked.id)
            .await
            .unwrap();
        let changes: Vec<(&str, &str)> = history
            .iter()
            .map(|c| (c.kind.as_str(), c.actor.as_str()))
            .collect();
        assert_eq!(changes, [("booked", "api"), ("moved", "calendar")]);

        // Deleted in Google: the appointment is cancelled, and its slot is free again.
        let notes = calendar
            .cancel_event_in_google(ACCOUNT_EMAIL, &event.id)
            .unwrap();
        assert_eq!(notifier.deliver(&notes[0]).await.unwrap(), 200);
        let cancelled = await_some("the appointment cancelled", || async {
            appointments::find(&app.test_db.db, &app.org_id, &booked.id)
                .await
                .unwrap()
                .filter(|a| a.status == AppointmentStatus::Cancelled)
        })
        .await;
        assert_eq!(
            cancelled.cancel_reason.as_deref(),
            Some("deleted in the calendar")
        );
        assert!(
            calendar
                .events_in_google(ACCOUNT_EMAIL)
                .iter()
                .any(|e| e.id == event.id && e.status == EventStatus::Cancelled)
        );

        // Both changes reached the customer's endpoint, once each.
        let types = await_some("two deliveries", || async {
            let received = hooks.received_requests().await.unwrap_or_default();
            let types: Vec<String> = received
                .iter()
                .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
                .map(|b| b["type"].as_str().unwrap_or_default().to_string())
                .collect();
            (types.len() >= 2).then_some(types)
        })
        .await;
        assert_eq!(types, ["appointment.updated", "appointment.cancelled"]);
        app.stop().await;
    }
}
