//! Booking during the call, end to end on both backends: Vapi's signed `tool-calls` messages to
//! `/webhooks/vapi` answered at once (free slots, a booking, a cancellation, in the assistant's
//! language), the appointment stored, `PushAppointment` writing its event to the simulated
//! Google calendar once however often it runs and deleting it once cancelled, the
//! `appointment.*` events delivered; twenty concurrent bookings of one slot, a bad signature,
//! nonsense arguments; and a simulated call that books through the same tools.

use chrono::{Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use chrono_tz::Europe::Paris;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};
use zencall_core::jobs::payloads::PushAppointment;
use zencall_core::store::appointments::{self, Appointment, AppointmentStatus};
use zencall_core::store::test_db::TestDb;
use zencall_providers::calendar::{CalendarEvent, EventStatus, event_id_for};
use zencall_providers::signatures;
use zencall_providers::simulated_calendar::ACCOUNT_EMAIL;
use zencall_queue::board::admin::{self, JobState};
use zencall_queue::{EnqueueOptions, Enqueued, enqueue};

use crate::billing::await_some;
use crate::calendar::{connect, spawn};
use crate::test_app::{TestApp, VAPI_SECRET, marcel};

/// A Tuesday at least eight days ahead, so the minimum notice never matters.
pub(crate) fn tuesday() -> NaiveDate {
    let mut day = Utc::now().with_timezone(&Paris).date_naive() + TimeDelta::days(8);
    while day.weekday() != Weekday::Tue {
        day = day.succ_opt().unwrap();
    }
    day
}

/// Marcel's restaurant, open on Tuesdays 09:00-12:00 and 14:00-18:00 (Paris).
pub(crate) fn with_hours() -> Value {
    let mut body = marcel();
    body["business"]["hours"] = json!({
        "time_zone": "Europe/Paris",
        "weekly": {"tuesday": [["09:00", "12:00"], ["14:00", "18:00"]]},
        "holidays": "none"
    });
    body
}

/// An active assistant with hours (and, when asked, the simulated calendar attached): its id
/// and number.
pub(crate) async fn assistant(
    app: &TestApp,
    body: Value,
    calendar: Option<&str>,
) -> (String, String) {
    let id = app.create_assistant(body).await;
    if let Some(connection_id) = calendar {
        let (status, attached) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{id}"),
                Some(&app.key),
                Some(json!({"calendar": {"connection_id": connection_id, "calendar_id": ACCOUNT_EMAIL}})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{attached}");
    }
    let active = app.await_assistant(&id, "active").await;
    (id, active["phone_number"].as_str().unwrap().to_string())
}

/// A `tool-calls` message of call `call_id` from `caller` to the assistant numbered `ours`.
fn tool_calls(call_id: &str, ours: &str, caller: &str, calls: &[(&str, Value)]) -> Value {
    let list: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(n, (name, arguments))| {
            json!({"id": format!("{call_id}-tc{n}"), "type": "function",
                   "function": {"name": name, "arguments": arguments}})
        })
        .collect();
    json!({"message": {
        "type": "tool-calls",
        "call": {"id": call_id, "type": "inboundPhoneCall", "customer": {"number": caller}},
        "phoneNumber": {"number": ours},
        "toolCallList": list,
    }})
}

/// Posts `body` to the Vapi webhook signed with HMAC (or with `secret` in `X-Vapi-Secret`).
async fn post(app: &TestApp, body: &Value, secret: Option<&str>) -> (StatusCode, Value) {
    let bytes = body.to_string().into_bytes();
    let headers = match secret {
        Some(secret) => vec![("x-vapi-secret", secret.to_string())],
        None => {
            let ts = Utc::now().timestamp();
            vec![
                ("content-type", "application/json".to_string()),
                ("x-timestamp", ts.to_string()),
                (
                    "x-signature",
                    signatures::vapi::sign(VAPI_SECRET.as_bytes(), ts, &bytes),
                ),
            ]
        }
    };
    let (status, text) = app.post_raw("/webhooks/vapi", &headers, bytes).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The results of a signed tool-calls message, which must be answered 200.
async fn results(app: &TestApp, body: &Value) -> Vec<Value> {
    let (status, answer) = post(app, body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["results"].as_array().unwrap().clone()
}

async fn appointment(app: &TestApp, id: &str) -> Appointment {
    appointments::find(&app.test_db.db, &app.org_id, id)
        .await
        .unwrap()
        .unwrap()
}

/// The simulated calendar's event of appointment `id`, once it has one matching `check`.
pub(crate) async fn await_event(
    calendar: &zencall_providers::SimulatedCalendar,
    appointment_id: &str,
    what: &str,
    check: impl Fn(&CalendarEvent) -> bool,
) -> CalendarEvent {
    let id = event_id_for(&format!("appointment:{appointment_id}"));
    await_some(what, || async {
        calendar
            .events_in_google(ACCOUNT_EMAIL)
            .into_iter()
            .find(|e| e.id == id && check(e))
    })
    .await
}

#[tokio::test]
async fn a_signed_tool_call_books_pushes_one_event_and_a_cancellation_deletes_it() {
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
                            "event_types": ["appointment.booked", "appointment.cancelled"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{endpoint}");
        let connection = connect(&app).await;
        let connection_id = connection["id"].as_str().unwrap().to_string();
        let (_, ours) = assistant(&app, with_hours(), Some(&connection_id)).await;
        let day = tuesday();
        let caller = "+33612345678";

        // Free slots of the day, in French, with the starts to book.
        let answered = results(
            &app,
            &tool_calls(
                "call-1",
                &ours,
                caller,
                &[("check_availability", json!({"date": day.to_string()}))],
            ),
        )
        .await;
        assert_eq!(answered.len(), 1);
        assert_eq!(answered[0]["toolCallId"], "call-1-tc0");
        assert_eq!(answered[0]["name"], "check_availability");
        let text = answered[0]["result"].as_str().unwrap();
        assert!(
            text.starts_with("Créneaux libres de 30 minutes : "),
            "{text}"
        );
        assert_eq!(answered[0]["metadata"]["slots"][0], format!("{day}T09:00"));

        // Booked at 10:00 in Paris, with the call's number.
        let start = format!("{day}T10:00");
        let answered = results(
            &app,
            &tool_calls(
                "call-1",
                &ours,
                caller,
                &[(
                    "book_appointment",
                    json!({"start": start, "caller_name": "Jeanne Martin", "service": "dîner"}),
                )],
            ),
        )
        .await;
        let text = answered[0]["result"].as_str().unwrap();
        assert!(text.starts_with("Rendez-vous réservé le mardi "), "{text}");
        assert!(
            text.contains("à 10 h (30 minutes) au nom de Jeanne Martin"),
            "{text}"
        );
        let id = answered[0]["metadata"]["appointment_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.ends_with(&format!("Référence : {id}.")), "{text}");
        let booked = appointment(&app, &id).await;
        assert_eq!(booked.status, AppointmentStatus::Booked);
        assert_eq!(booked.call_id.as_deref(), Some("call-1"));
        assert_eq!(booked.caller_number, caller);
        assert_eq!(booked.service.as_deref(), Some("dîner"));
        assert_eq!(
            booked
                .starts_at
                .with_timezone(&Paris)
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
            start
        );

        // The same delivery again (Vapi retried) is the same booking, not a refusal.
        let again = results(
            &app,
            &tool_calls(
                "call-1",
                &ours,
                caller,
                &[(
                    "book_appointment",
                    json!({"start": start, "caller_name": "Jeanne Martin", "service": "dîner"}),
                )],
            ),
        )
        .await;
        assert_eq!(again[0]["metadata"]["appointment_id"], id.as_str());

        // Another caller is offered the next free slots instead.
        let other = results(
            &app,
            &tool_calls(
                "call-2",
                &ours,
                "+33611111111",
                &[(
                    "book_appointment",
                    json!({"start": start, "caller_name": "Paul"}),
                )],
            ),
        )
        .await;
        let text = other[0]["result"].as_str().unwrap();
        assert!(
            text.starts_with("Ce créneau n'est plus libre. Prochains créneaux libres : "),
            "{text}"
        );
        assert_eq!(other[0]["metadata"]["slots"][0], format!("{day}T10:30"));

        // PushAppointment wrote the event, with our id in it, and recorded where.
        let event = await_event(&calendar, &id, "the appointment's event", |e| {
            e.status != EventStatus::Cancelled
        })
        .await;
        assert_eq!(
            event.private_properties.get("zencall_appointment_id"),
            Some(&id)
        );
        assert!(event.summary.as_deref().unwrap().contains("Jeanne Martin"));
        let pushed = await_some("the event recorded", || async {
            appointment(&app, &id).await.calendar_event
        })
        .await;
        assert_eq!(pushed.connection_id, connection_id);
        assert_eq!(pushed.event_id, event.id);

        // Running it again finds the event: still one.
        let Enqueued::New(job_id) = enqueue(
            &app.test_db.db,
            &PushAppointment {
                org_id: app.org_id.clone(),
                appointment_id: id.clone(),
            },
            EnqueueOptions::default(),
            3,
        )
        .await
        .unwrap() else {
            panic!("a job without unique key is always new");
        };
        await_some("the second push finished", || async {
            let job = admin::find(&app.test_db.db, &job_id).await.unwrap()?;
            (job.state == JobState::Done).then_some(())
        })
        .await;
        let ours_in_google: Vec<CalendarEvent> = calendar
            .events_in_google(ACCOUNT_EMAIL)
            .into_iter()
            .filter(|e| e.private_properties.get("zencall_appointment_id") == Some(&id))
            .collect();
        assert_eq!(ours_in_google.len(), 1, "{ours_in_google:?}");

        // The caller cancels their booking (found by their number); the event is deleted.
        let cancelled = results(
            &app,
            &tool_calls(
                "call-3",
                &ours,
                caller,
                &[("cancel_appointment", json!({}))],
            ),
        )
        .await;
        let text = cancelled[0]["result"].as_str().unwrap();
        assert!(
            text.starts_with("Le rendez-vous du mardi ") && text.ends_with("à 10 h est annulé."),
            "{text}"
        );
        assert_eq!(
            appointment(&app, &id).await.status,
            AppointmentStatus::Cancelled
        );
        await_event(&calendar, &id, "the event deleted", |e| {
            e.status == EventStatus::Cancelled
        })
        .await;
        let history = appointments::history(&app.test_db.db, &app.org_id, &id)
            .await
            .unwrap();
        let kinds: Vec<(&str, &str)> = history
            .iter()
            .map(|c| (c.kind.as_str(), c.actor.as_str()))
            .collect();
        assert_eq!(kinds, [("booked", "assistant"), ("cancelled", "assistant")]);

        // Our endpoint heard of both, once each.
        let types = await_some("both events delivered", || async {
            let types: Vec<String> = hooks
                .received_requests()
                .await
                .unwrap()
                .iter()
                .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
                .filter(|e| e["data"]["id"] == id.as_str())
                .map(|e| e["type"].as_str().unwrap().to_string())
                .collect();
            (types.len() >= 2).then_some(types)
        })
        .await;
        assert_eq!(types, ["appointment.booked", "appointment.cancelled"]);
        app.stop().await;
    }
}

#[tokio::test]
async fn twenty_concurrent_book_tool_calls_of_one_slot_give_exactly_one_appointment() {
    for test_db in TestDb::all().await {
        let (app, _calendar) = spawn(test_db).await;
        let (assistant_id, ours) = assistant(&app, with_hours(), None).await;
        let day = tuesday();
        let start = format!("{day}T14:00");
        let bookings = (0..20).map(|n| {
            let body = tool_calls(
                &format!("race-{n}"),
                &ours,
                &format!("+336120000{n:02}"),
                &[(
                    "book_appointment",
                    json!({"start": start, "caller_name": format!("Caller {n}")}),
                )],
            );
            let app = &app;
            async move { results(app, &body).await }
        });
        let answers = futures::future::join_all(bookings).await;
        let booked = answers
            .iter()
            .filter(|r| {
                r[0]["result"]
                    .as_str()
                    .unwrap()
                    .starts_with("Rendez-vous réservé")
            })
            .count();
        let refused = answers
            .iter()
            .filter(|r| {
                r[0]["result"]
                    .as_str()
                    .unwrap()
                    .starts_with("Ce créneau n'est plus libre.")
            })
            .count();
        assert_eq!((booked, refused), (1, 19), "{answers:?}");
        let from = Utc::now();
        let stored = appointments::list_between(
            &app.test_db.db,
            &app.org_id,
            &assistant_id,
            from,
            from + TimeDelta::days(40),
            Some(AppointmentStatus::Booked),
        )
        .await
        .unwrap();
        assert_eq!(stored.len(), 1, "{stored:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_bad_signature_is_refused_and_nonsense_arguments_get_a_tool_error_never_a_5xx() {
    for test_db in TestDb::all().await {
        let (app, _calendar) = spawn(test_db).await;
        let (assistant_id, ours) = assistant(&app, with_hours(), None).await;
        let day = tuesday();
        let booking = tool_calls(
            "call-x",
            &ours,
            "+33612345678",
            &[(
                "book_appointment",
                json!({"start": format!("{day}T09:00"), "caller_name": "Eve"}),
            )],
        );

        // A wrong secret, and a signature over other bytes: 401, nothing booked.
        let (status, _) = post(&app, &booking, Some("not-the-secret")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let ts = Utc::now().timestamp();
        let (status, _) = app
            .post_raw(
                "/webhooks/vapi",
                &[
                    ("x-timestamp", ts.to_string()),
                    (
                        "x-signature",
                        signatures::vapi::sign(VAPI_SECRET.as_bytes(), ts, b"{}"),
                    ),
                ],
                booking.to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let from = Utc::now();
        let none = appointments::list_between(
            &app.test_db.db,
            &app.org_id,
            &assistant_id,
            from,
            from + TimeDelta::days(40),
            None,
        )
        .await
        .unwrap();
        assert!(none.is_empty(), "{none:?}");

        // Nonsense arguments: each call answered with an error that says what to send.
        let calls = [
            (
                "book_appointment",
                json!({"start": "tomorrow at ten", "caller_name": "Eve"}),
            ),
            ("book_appointment", json!({"start": format!("{day}T09:00")})),
            (
                "book_appointment",
                json!({"start": format!("{day}T09:00"), "caller_name": "Eve",
                                        "caller_number": "call me maybe"}),
            ),
            ("check_availability", json!({"date": "next tuesday"})),
            ("check_availability", json!({"duration_minutes": 100000})),
            ("check_availability", json!(42)),
            ("cancel_appointment", json!({"reference": "../../etc"})),
            ("order_pizza", json!({})),
        ];
        let answered = results(&app, &tool_calls("call-x", &ours, "+33612345678", &calls)).await;
        assert_eq!(answered.len(), calls.len());
        let errors: Vec<&str> = answered
            .iter()
            .map(|r| {
                assert!(r.get("result").is_none(), "{r}");
                r["error"].as_str().unwrap()
            })
            .collect();
        assert!(
            errors[0].contains("une date et une heure comme 2026-12-07T10:00"),
            "{errors:?}"
        );
        assert!(errors[1].contains("caller_name"), "{errors:?}");
        assert!(errors[2].contains("caller_number"), "{errors:?}");
        assert!(
            errors[3].contains("une date comme 2026-12-07"),
            "{errors:?}"
        );
        assert!(errors[4].contains("duration_minutes"), "{errors:?}");
        assert!(errors[5].contains("objet JSON"), "{errors:?}");
        assert!(errors[6].contains("reference"), "{errors:?}");
        assert!(errors[7].contains("order_pizza"), "{errors:?}");

        // A message without its list of calls is refused naming it, not a server error.
        let mut empty = booking.clone();
        empty["message"]
            .as_object_mut()
            .unwrap()
            .remove("toolCallList");
        let (status, problem) = post(&app, &empty, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("toolCallList"),
            "{problem}"
        );

        // An assistant without structured hours cannot book: the tools say so.
        let (_, plain) = assistant(&app, marcel(), None).await;
        let answered = results(
            &app,
            &tool_calls("call-y", &plain, "+33612345678", &calls[..1]),
        )
        .await;
        assert!(
            answered[0]["error"]
                .as_str()
                .unwrap()
                .contains("horaires d'ouverture"),
            "{answered:?}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_simulated_call_to_an_assistant_with_hours_books_through_its_tools() {
    for test_db in TestDb::all().await {
        let (app, calendar) = spawn(test_db).await;
        let connection = connect(&app).await;
        let connection_id = connection["id"].as_str().unwrap().to_string();
        let (assistant_id, _) = assistant(&app, with_hours(), Some(&connection_id)).await;
        let (status, call) = app
            .call(
                Method::POST,
                "/v1/simulator/calls",
                Some(&app.key),
                Some(json!({"assistant_id": assistant_id, "customer_number": "06 12 34 56 78"})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{call}");
        let vapi_call_id = call["vapi_call_id"].as_str().unwrap().to_string();
        let booked = await_some("the simulated caller's appointment", || async {
            let from = Utc::now();
            appointments::list_between(
                &app.test_db.db,
                &app.org_id,
                &assistant_id,
                from,
                from + TimeDelta::days(40),
                Some(AppointmentStatus::Booked),
            )
            .await
            .unwrap()
            .into_iter()
            .next()
        })
        .await;
        assert_eq!(booked.call_id.as_deref(), Some(vapi_call_id.as_str()));
        assert_eq!(booked.caller_name, "Camille Martin");
        assert_eq!(booked.caller_number, "+33612345678");
        assert_eq!(booked.service.as_deref(), Some("déjeuner"));
        await_event(
            &calendar,
            &booked.id,
            "the simulated booking's event",
            |e| e.status != EventStatus::Cancelled,
        )
        .await;
        // The call itself is reported as usual.
        await_some("the call ended", || async {
            let (_, calls) = app
                .call(Method::GET, "/v1/calls", Some(&app.key), None)
                .await;
            (calls["data"][0]["status"] == "ended").then_some(())
        })
        .await;
        app.stop().await;
    }
}
