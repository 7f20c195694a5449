-- Appointment reminders: one text message per appointment and start, sent
-- appointments.reminder_before_minutes ahead by the send-reminders cron entry. The row is
-- written as 'sending' before the provider is called, and its key is the appointment and its
-- start, so a reminder is never sent twice: a crash in between leaves it unsent. A moved
-- appointment (a new start) gets a reminder of its new start.

CREATE TABLE appointment_reminders (
    appointment_id  TEXT NOT NULL REFERENCES appointments (id),
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    -- The start it reminds of.
    starts_at       TIMESTAMPTZ NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('sms')),
    -- E.164.
    recipient       TEXT NOT NULL,
    -- sending: handed to the provider, its answer not recorded (yet); sent; unconfirmed: no
    -- answer came back, it may have been sent; failed: refused, with the error; skipped: not
    -- sent, with why (booked within the reminder window, no number to send from).
    status          TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'unconfirmed', 'failed', 'skipped')),
    provider_id     TEXT,
    error           TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    PRIMARY KEY (appointment_id, starts_at)
);
-- The reminder sweep reads booked appointments by start.
CREATE INDEX appointments_booked_by_start ON appointments (starts_at) WHERE status = 'booked';
