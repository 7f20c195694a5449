//! Billing emails, end to end: an email queued through the outbox (with its `SendEmail` job, in
//! one transaction) reaches a local SMTP server once with its attachment, however often it is
//! queued; a refusal for good is noted on the email; a temporary one is retried until the
//! server takes it; without SMTP the message is written as an `.eml` file.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use secrecy::SecretString;
use zencall::Providers;
use zencall_core::clock::SystemClock;
use zencall_core::config::{Settings, SimulateMode};
use zencall_core::store::email_messages::{self, EmailKind, EmailMessage, NewAttachment, NewEmail};
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulator::Simulator;
use zencall_providers::smtp_sink::{SinkReply, SmtpSink};
use zencall_queue::board::admin::{self, JobState};

use crate::test_app::{TestApp, simulated, test_settings};

/// Polls `check` every 50 ms until it gives a value; fails after 30 s with `what`.
async fn await_some<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The PDF bytes of the tests (not a real PDF: bytes of every value, to check the encoding).
fn pdf() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.extend((0..=255u8).cycle().take(3000));
    bytes
}

fn invoice_email(org_id: &str) -> NewEmail {
    NewEmail {
        org_id: org_id.into(),
        kind: EmailKind::Invoice,
        document_key: "2026-000001".into(),
        recipient: "compta@boulangerie-petit.example".into(),
        subject: "Facture n° 2026-000001 – Zencall".into(),
        body_text: "Bonjour,\n\nVotre facture de novembre est jointe.\n".into(),
        attachments: vec![NewAttachment {
            file_name: "facture-2026-000001.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: pdf(),
        }],
        message_id_domain: "zencall.example".into(),
    }
}

/// The platform without its scheduler (so the billing queue holds only what a test queues).
async fn spawn(db: TestDb, settings: Settings) -> TestApp {
    let providers: Providers = simulated(&Simulator::new(&settings.providers.simulator));
    TestApp::spawn_on_clock(db, settings, providers, Arc::new(SystemClock), false).await
}

/// Queues `new` and its job in one transaction; returns the email and whether it was created.
async fn queue(app: &TestApp, new: &NewEmail) -> (EmailMessage, bool) {
    let mut tx = app.test_db.db.begin().await.unwrap();
    let out = email_messages::queue_and_send(&mut tx, new, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    out
}

/// Waits until the billing queue's jobs are all in `state`, and returns how many there are.
async fn await_billing_jobs(app: &TestApp, state: JobState) -> i64 {
    await_some(&format!("billing jobs {state:?}"), || async {
        let counts = admin::counts(&app.test_db.db, "billing").await.unwrap();
        let total: i64 = counts.values().sum();
        let in_state = counts.get(&state).copied().unwrap_or(0);
        (total > 0 && in_state == total).then_some(total)
    })
    .await
}

/// The attachment part's decoded bytes, and its headers.
fn attachment(message: &str) -> (String, Vec<u8>) {
    let part = message
        .split("\r\n--")
        .find(|p| p.contains("Content-Disposition: attachment"))
        .unwrap();
    let (headers, body) = part.split_once("\r\n\r\n").unwrap();
    let body: String = body.split_whitespace().collect();
    (
        headers.to_string(),
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap(),
    )
}

#[tokio::test]
async fn an_invoice_email_queued_twice_reaches_the_smtp_server_once_with_its_pdf() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for db in TestDb::all().await {
        let sink = SmtpSink::start().await;
        let mut settings = test_settings();
        settings.email.smtp_url = SecretString::from(sink.url());
        settings.email.reply_to = "support@zencall.example".into();
        let app = spawn(db, settings).await;

        let (email, created) = queue(&app, &invoice_email(&app.org_id)).await;
        assert!(created);
        let (again, created) = queue(&app, &invoice_email(&app.org_id)).await;
        assert!(!created);
        assert_eq!(again.id, email.id);

        let received = sink.received(1).await;
        assert_eq!(await_billing_jobs(&app, JobState::Done).await, 1);
        let sent = await_some("the email marked sent", || async {
            email_messages::find(&app.test_db.db, &app.org_id, &email.id)
                .await
                .unwrap()
                .filter(|e| e.sent_at.is_some())
        })
        .await;
        assert_eq!(sent.attempts, 0);
        assert_eq!(sink.messages().len(), 1, "{received:?}");

        let m = &received[0];
        assert_eq!(m.mail_from, "facturation@zencall.example");
        assert_eq!(m.rcpt_to, vec!["compta@boulangerie-petit.example"]);
        let text = m.text();
        assert!(
            text.contains(&format!("Message-ID: {}", email.message_id)),
            "{text}"
        );
        assert!(text.contains("Reply-To: support@zencall.example"), "{text}");
        assert!(
            text.contains("To: compta@boulangerie-petit.example"),
            "{text}"
        );
        let (headers, bytes) = attachment(&text);
        assert!(headers.contains("application/pdf"), "{headers}");
        assert!(headers.contains("facture-2026-000001.pdf"), "{headers}");
        assert_eq!(bytes, pdf());
        app.stop().await;
    }
}

#[tokio::test]
async fn a_refused_recipient_fails_the_email_with_the_servers_reason() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for db in TestDb::all().await {
        let sink = SmtpSink::start().await;
        sink.reply_to_recipients(SinkReply::Refuse);
        let mut settings = test_settings();
        settings.email.smtp_url = SecretString::from(sink.url());
        let app = spawn(db, settings).await;

        let (email, _) = queue(&app, &invoice_email(&app.org_id)).await;
        assert_eq!(await_billing_jobs(&app, JobState::Dead).await, 1);
        let failed = email_messages::find(&app.test_db.db, &app.org_id, &email.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.sent_at, None);
        assert!(failed.failed_at.is_some());
        assert_eq!(failed.attempts, 1);
        let reason = failed.last_error.unwrap();
        assert!(reason.contains("550"), "{reason}");
        assert!(sink.messages().is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn a_server_that_says_try_later_gets_the_email_on_a_later_attempt() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for db in TestDb::all().await {
        let sink = SmtpSink::start().await;
        sink.reply_to_recipients(SinkReply::TryLater);
        let mut settings = test_settings();
        settings.email.smtp_url = SecretString::from(sink.url());
        let app = spawn(db, settings).await;

        let (email, _) = queue(&app, &invoice_email(&app.org_id)).await;
        let noted = await_some("a transient failure noted", || async {
            email_messages::find(&app.test_db.db, &app.org_id, &email.id)
                .await
                .unwrap()
                .filter(|e| e.attempts >= 1)
        })
        .await;
        assert!(noted.last_error.as_deref().unwrap().contains("451"));
        assert_eq!(noted.failed_at, None);

        sink.reply_to_recipients(SinkReply::Accept);
        assert_eq!(sink.received(1).await.len(), 1);
        assert_eq!(await_billing_jobs(&app, JobState::Done).await, 1);
        let sent = email_messages::find(&app.test_db.db, &app.org_id, &email.id)
            .await
            .unwrap()
            .unwrap();
        assert!(sent.sent_at.is_some());
        assert_eq!(sent.failed_at, None);
        app.stop().await;
    }
}

#[tokio::test]
async fn without_smtp_the_email_is_written_as_an_eml_file() {
    for db in TestDb::all().await {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = test_settings();
        settings.email.eml_dir = dir.path().join("emails").display().to_string();
        let app = spawn(db, settings).await;

        queue(&app, &invoice_email(&app.org_id)).await;
        assert_eq!(await_billing_jobs(&app, JobState::Done).await, 1);
        let files: Vec<_> = std::fs::read_dir(dir.path().join("emails"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].extension().unwrap(), "eml");
        let text = String::from_utf8(std::fs::read(&files[0]).unwrap()).unwrap();
        assert_eq!(attachment(&text).1, pdf());
        app.stop().await;
    }
}

#[tokio::test]
async fn the_mailer_is_refused_without_smtp_when_simulating_is_forbidden_or_with_a_bad_sender() {
    let mut settings = test_settings();
    settings.providers.simulate = SimulateMode::Never;
    let err = zencall::mailer(&settings).err().unwrap().to_string();
    assert!(err.contains("email.smtp_url"), "{err}");

    let mut settings = test_settings();
    settings.email.from_address = "facturation@exa mple.fr".into();
    let err = zencall::mailer(&settings).err().unwrap().to_string();
    assert!(err.contains("email.from_address"), "{err}");

    let mut settings = test_settings();
    settings.email.smtp_url = SecretString::from("smtp://user:hunter2@smtp.example.com:25");
    let err = zencall::mailer(&settings).err().unwrap().to_string();
    assert!(err.contains("without encryption"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
