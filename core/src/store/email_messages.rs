//! The email outbox: each billing email of an organisation, queued once per kind and document
//! (an invoice, the failed payment of an invoice, the end of a trial), with its attachments and
//! what became of sending it.
//!
//! To send one, call [`queue_and_send`] inside the transaction that decides it (the one that
//! stores the invoice, or applies the Stripe event): it stores the email and queues its
//! `SendEmail` job together, so an email is never decided without being sent, nor sent twice
//! because its cause was handled twice: queueing the same `(kind, document_key)` again returns
//! the first email and queues nothing.

use chrono::{DateTime, Utc};

use super::{Db, StoreError, Tx};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// What an email is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    /// An invoice, with its PDF attached.
    Invoice,
    /// A credit note cancelling an invoice, with its PDF attached.
    CreditNote,
    /// A payment that failed.
    PaymentFailed,
    /// A free trial about to end.
    TrialEnding,
}

impl EmailKind {
    /// Every kind.
    pub const ALL: [EmailKind; 4] = [
        EmailKind::Invoice,
        EmailKind::CreditNote,
        EmailKind::PaymentFailed,
        EmailKind::TrialEnding,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EmailKind::Invoice => "invoice",
            EmailKind::CreditNote => "credit_note",
            EmailKind::PaymentFailed => "payment_failed",
            EmailKind::TrialEnding => "trial_ending",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A file to send with an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    /// The file name the recipient sees (`facture-2026-000001.pdf`).
    pub file_name: String,
    /// Its MIME type (`application/pdf`).
    pub content_type: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// An email to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmail {
    /// The organisation it is sent for.
    pub org_id: String,
    /// What it is about.
    pub kind: EmailKind,
    /// Which document of that kind (an invoice number, `{subscription}:{trial end}`, ...):
    /// one email per organisation, kind and document.
    pub document_key: String,
    /// The recipient's address (the organisation's billing address).
    pub recipient: String,
    /// The subject, one line.
    pub subject: String,
    /// The plain-text body.
    pub body_text: String,
    /// Files sent with it, in order.
    pub attachments: Vec<NewAttachment>,
    /// The right-hand side of its Message-ID: the domain of the from address
    /// ([`crate::config::EmailSettings::message_id_domain`]).
    pub message_id_domain: String,
}

/// An email as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    /// Our id (`email_...`).
    pub id: String,
    /// The organisation it is sent for.
    pub org_id: String,
    /// What it is about.
    pub kind: EmailKind,
    /// Which document of that kind.
    pub document_key: String,
    /// The recipient's address.
    pub recipient: String,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub body_text: String,
    /// Its Message-ID header (`<email_...@domain>`), the same for every send.
    pub message_id: String,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When the server accepted it (or its file was written); `None` until then.
    pub sent_at: Option<DateTime<Utc>>,
    /// Failed attempts to send it.
    pub attempts: i32,
    /// Why the latest attempt failed.
    pub last_error: Option<String>,
    /// When the latest attempt failed.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When sending failed for good; `None` while sent or still being tried.
    pub failed_at: Option<DateTime<Utc>>,
}

/// A file sent with an email, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredAttachment {
    /// Its place among the email's attachments, from 0.
    pub position: i32,
    /// The file name.
    pub file_name: String,
    /// Its MIME type.
    pub content_type: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct EmailRow {
    id: String,
    org_id: String,
    kind: String,
    document_key: String,
    recipient: String,
    subject: String,
    body_text: String,
    message_id: String,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    attempts: i32,
    last_error: Option<String>,
    last_attempt_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, org_id, kind, document_key, recipient, subject, body_text, message_id, \
    created_at, sent_at, attempts, last_error, last_attempt_at, failed_at";

impl TryFrom<EmailRow> for EmailMessage {
    type Error = StoreError;
    fn try_from(r: EmailRow) -> Result<Self, StoreError> {
        Ok(EmailMessage {
            kind: EmailKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("email {}: kind {:?}", r.id, r.kind)))?,
            id: r.id,
            org_id: r.org_id,
            document_key: r.document_key,
            recipient: r.recipient,
            subject: r.subject,
            body_text: r.body_text,
            message_id: r.message_id,
            created_at: r.created_at,
            sent_at: r.sent_at,
            attempts: r.attempts,
            last_error: r.last_error,
            last_attempt_at: r.last_attempt_at,
            failed_at: r.failed_at,
        })
    }
}

/// Stores `new` with its attachments inside `tx`, unless the organisation has an email of the
/// same kind for the same document: then that one is returned, unchanged. The flag is true
/// when the email was created now. The caller queues its sending ([`queue_and_send`] does both).
pub async fn queue(
    tx: &mut Tx,
    new: &NewEmail,
    now: DateTime<Utc>,
) -> Result<(EmailMessage, bool), StoreError> {
    let id = new_id("email");
    let domain = new.message_id_domain.trim();
    let domain = if domain.is_empty() {
        "localhost"
    } else {
        domain
    };
    let message_id = format!("<{id}@{domain}>");
    let now = super::now_micros(now);
    // ON CONFLICT DO NOTHING: a unique violation would abort the caller's transaction on
    // PostgreSQL.
    let inserted = on_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO email_messages (id, org_id, kind, document_key, recipient, subject, body_text, message_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (org_id, kind, document_key) DO NOTHING",
        )
        .bind(&id)
        .bind(&new.org_id)
        .bind(new.kind.as_str())
        .bind(&new.document_key)
        .bind(&new.recipient)
        .bind(&new.subject)
        .bind(&new.body_text)
        .bind(&message_id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })? == 1;
    if inserted {
        for (position, attachment) in new.attachments.iter().enumerate() {
            let position = i32::try_from(position)
                .map_err(|_| StoreError::Corrupt(format!("email {id}: too many attachments")))?;
            on_tx!(tx, |c| {
                sqlx::query(
                    "INSERT INTO email_attachments (email_id, position, file_name, content_type, bytes) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&id)
                .bind(position)
                .bind(&attachment.file_name)
                .bind(&attachment.content_type)
                .bind(&attachment.bytes)
                .execute(c)
                .await
                .map(|_| ())
            })?;
        }
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM email_messages WHERE org_id = $1 AND kind = $2 AND document_key = $3"
    );
    let row = on_tx!(tx, |c| sqlx::query_as::<_, EmailRow>(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(&new.org_id)
    .bind(new.kind.as_str())
    .bind(&new.document_key)
    .fetch_one(c)
    .await)?;
    Ok((EmailMessage::try_from(row)?, inserted))
}

/// Stores `new` like [`queue`] and, when it is new, queues its `SendEmail` job in the same
/// transaction. Returns the email and whether it was created now; an email queued before is
/// returned as it is (sent, failed or still being tried) and no second job is queued.
pub async fn queue_and_send(
    tx: &mut Tx,
    new: &NewEmail,
    now: DateTime<Utc>,
) -> Result<(EmailMessage, bool), StoreError> {
    let (email, created) = queue(tx, new, now).await?;
    if created {
        crate::jobs::payloads::SendEmail::enqueue_for(tx, &email.org_id, &email.id).await?;
    }
    Ok((email, created))
}

/// Email `id` of `org_id`.
pub async fn find(db: &Db, org_id: &str, id: &str) -> Result<Option<EmailMessage>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM email_messages WHERE org_id = $1 AND id = $2");
    let row = on_pool!(db, |p| sqlx::query_as::<_, EmailRow>(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(EmailMessage::try_from).transpose()
}

/// The attachments of email `email_id` of `org_id`, in order.
pub async fn attachments(
    db: &Db,
    org_id: &str,
    email_id: &str,
) -> Result<Vec<StoredAttachment>, StoreError> {
    Ok(on_pool!(db, |p| sqlx::query_as::<_, StoredAttachment>(
        "SELECT a.position, a.file_name, a.content_type, a.bytes FROM email_attachments a \
         JOIN email_messages m ON m.id = a.email_id \
         WHERE m.org_id = $1 AND a.email_id = $2 ORDER BY a.position"
    )
    .bind(org_id)
    .bind(email_id)
    .fetch_all(p)
    .await)?)
}

/// Marks the email sent at `now`, once: false when it was already (or does not exist). A
/// failure noted before is cleared.
pub async fn mark_sent(
    db: &Db,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| sqlx::query(
        "UPDATE email_messages SET sent_at = $1, failed_at = NULL \
         WHERE org_id = $2 AND id = $3 AND sent_at IS NULL"
    )
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Notes a failed attempt to send the email, with its reason; `final_failure` when no attempt
/// will follow (a permanent refusal, or the job's last attempt). Nothing changes on a sent
/// email. False when nothing was noted.
pub async fn note_failure(
    db: &Db,
    org_id: &str,
    id: &str,
    error: &str,
    final_failure: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let now = super::now_micros(now);
    let error: String = error.chars().take(2000).collect();
    let n = on_pool!(db, |p| {
        sqlx::query(
        "UPDATE email_messages SET attempts = attempts + 1, last_error = $1, last_attempt_at = $2, \
         failed_at = CASE WHEN $3 THEN $2 ELSE NULL END \
         WHERE org_id = $4 AND id = $5 AND sent_at IS NULL"
    )
    .bind(&error)
    .bind(now)
    .bind(final_failure)
    .bind(org_id)
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// The organisation's emails, newest first, at most `limit`.
pub async fn list_for_org(
    db: &Db,
    org_id: &str,
    limit: u32,
) -> Result<Vec<EmailMessage>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM email_messages WHERE org_id = $1 ORDER BY id DESC LIMIT $2");
    let rows = on_pool!(db, |p| sqlx::query_as::<_, EmailRow>(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(org_id)
    .bind(i64::from(limit))
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(EmailMessage::try_from).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::jobs::payloads::SendEmail;
    use crate::store::organisations;
    use crate::store::test_db::TestDb;

    async fn org(db: &Db) -> String {
        let mut tx = db.begin().await.unwrap();
        let o = organisations::create(&mut tx, "Boulangerie Petit", Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        o.id
    }

    fn invoice(org_id: &str, number: &str) -> NewEmail {
        NewEmail {
            org_id: org_id.into(),
            kind: EmailKind::Invoice,
            document_key: number.into(),
            recipient: "compta@boulangerie-petit.example".into(),
            subject: format!("Facture n° {number} – Zencall"),
            body_text: "Bonjour,\nveuillez trouver votre facture ci-jointe.".into(),
            attachments: vec![
                NewAttachment {
                    file_name: format!("facture-{number}.pdf"),
                    content_type: "application/pdf".into(),
                    bytes: vec![0x25, 0x50, 0x44, 0x46, 0x00, 0xff],
                },
                NewAttachment {
                    file_name: "conditions.txt".into(),
                    content_type: "text/plain; charset=utf-8".into(),
                    bytes: "Conditions générales".as_bytes().to_vec(),
                },
            ],
            message_id_domain: "zencall.example".into(),
        }
    }

    async fn queue_committed(db: &Db, new: &NewEmail) -> (EmailMessage, bool) {
        let mut tx = db.begin().await.unwrap();
        let out = queue_and_send(&mut tx, new, Utc::now()).await.unwrap();
        tx.commit().await.unwrap();
        out
    }

    async fn send_email_jobs(db: &Db) -> i64 {
        let queue = <SendEmail as zencall_queue::Job>::QUEUE;
        zencall_queue::board::admin::counts(db, queue)
            .await
            .unwrap()
            .values()
            .sum()
    }

    #[tokio::test]
    async fn queueing_the_same_document_twice_returns_the_first_email_and_one_job() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let (first, created) = queue_committed(db, &invoice(&o, "2026-000001")).await;
            assert!(created);
            assert!(first.id.starts_with("email_"));
            assert_eq!(first.message_id, format!("<{}@zencall.example>", first.id));
            assert_eq!(first.kind, EmailKind::Invoice);
            assert_eq!(first.sent_at, None);
            assert_eq!(first.attempts, 0);
            let mut again = invoice(&o, "2026-000001");
            again.subject = "Another subject".into();
            let (second, created) = queue_committed(db, &again).await;
            assert!(!created);
            assert_eq!(second, first);
            assert_eq!(send_email_jobs(db).await, 1);
            // Another kind, or another document, is another email.
            let mut failed = invoice(&o, "2026-000001");
            failed.kind = EmailKind::PaymentFailed;
            assert!(queue_committed(db, &failed).await.1);
            assert!(queue_committed(db, &invoice(&o, "2026-000002")).await.1);
            assert_eq!(send_email_jobs(db).await, 3);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn attachments_come_back_in_order_with_their_bytes() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let new = invoice(&o, "2026-000001");
            let (email, _) = queue_committed(db, &new).await;
            let stored = attachments(db, &o, &email.id).await.unwrap();
            assert_eq!(stored.len(), 2);
            for (i, (s, n)) in stored.iter().zip(&new.attachments).enumerate() {
                assert_eq!(s.position, i as i32);
                assert_eq!(s.file_name, n.file_name);
                assert_eq!(s.content_type, n.content_type);
                assert_eq!(s.bytes, n.bytes);
            }
            let other = org(db).await;
            assert!(attachments(db, &other, &email.id).await.unwrap().is_empty());
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_queued_email_rolled_back_with_its_transaction_leaves_nothing() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let mut tx = db.begin().await.unwrap();
            let (email, created) = queue_and_send(&mut tx, &invoice(&o, "2026-000001"), Utc::now())
                .await
                .unwrap();
            assert!(created);
            tx.rollback().await.unwrap();
            assert_eq!(find(db, &o, &email.id).await.unwrap(), None);
            assert_eq!(send_email_jobs(db).await, 0);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn failures_are_counted_until_sent_and_a_sent_email_stays_sent() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let (email, _) = queue_committed(db, &invoice(&o, "2026-000001")).await;
            let now = Utc::now();
            assert!(
                note_failure(db, &o, &email.id, "smtp: 451 try later", false, now)
                    .await
                    .unwrap()
            );
            let e = find(db, &o, &email.id).await.unwrap().unwrap();
            assert_eq!(e.attempts, 1);
            assert_eq!(e.last_error.as_deref(), Some("smtp: 451 try later"));
            assert!(e.last_attempt_at.is_some());
            assert_eq!(e.failed_at, None);
            assert!(
                note_failure(db, &o, &email.id, "smtp: 550 refused", true, now)
                    .await
                    .unwrap()
            );
            let e = find(db, &o, &email.id).await.unwrap().unwrap();
            assert_eq!(e.attempts, 2);
            assert!(e.failed_at.is_some());
            // Another organisation cannot touch it.
            let other = org(db).await;
            assert!(!mark_sent(db, &other, &email.id, now).await.unwrap());
            assert_eq!(find(db, &other, &email.id).await.unwrap(), None);
            // Sent after a retry from the board: the failure is cleared, and it is sent once.
            assert!(mark_sent(db, &o, &email.id, now).await.unwrap());
            assert!(!mark_sent(db, &o, &email.id, now).await.unwrap());
            assert!(
                !note_failure(db, &o, &email.id, "late", true, now)
                    .await
                    .unwrap()
            );
            let e = find(db, &o, &email.id).await.unwrap().unwrap();
            assert!(e.sent_at.is_some());
            assert_eq!(e.failed_at, None);
            assert_eq!(e.attempts, 2);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn an_organisation_lists_its_own_emails_newest_first() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let other = org(db).await;
            let (a, _) = queue_committed(db, &invoice(&o, "A")).await;
            let (b, _) = queue_committed(db, &invoice(&o, "B")).await;
            queue_committed(db, &invoice(&other, "A")).await;
            let ids: Vec<String> = list_for_org(db, &o, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect();
            assert_eq!(ids, vec![b.id.clone(), a.id.clone()]);
            assert_eq!(list_for_org(db, &o, 1).await.unwrap().len(), 1);
            t.drop_database().await;
        }
    }
}
