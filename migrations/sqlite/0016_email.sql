-- The email outbox: each billing email (an invoice, a failed payment, a trial ending) queued
-- once per organisation, kind and document, with its attachments, and what became of sending
-- it. The SendEmail job is queued in the same transaction as the row.

CREATE TABLE email_messages (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    -- invoice, payment_failed, trial_ending
    kind             TEXT NOT NULL,
    -- What the email is about (an invoice number, a subscription and its trial end, ...):
    -- queueing the same kind for the same document again returns the first row.
    document_key     TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body_text        TEXT NOT NULL,
    -- The Message-ID header, the same for every send of this email.
    message_id       TEXT NOT NULL UNIQUE,
    created_at       TEXT NOT NULL,
    -- When the server accepted it (or the .eml file was written); NULL until then.
    sent_at          TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    last_attempt_at  TEXT,
    -- When sending failed for good (a permanent refusal, or the job's last attempt).
    failed_at        TEXT,
    UNIQUE (org_id, kind, document_key)
);
CREATE INDEX email_messages_by_org ON email_messages (org_id, created_at);

-- The files sent with an email, in order.
CREATE TABLE email_attachments (
    email_id      TEXT NOT NULL REFERENCES email_messages (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    file_name     TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    bytes         BLOB NOT NULL,
    PRIMARY KEY (email_id, position)
);
