-- Appointments booked with an assistant, and the history of each. Structured opening hours
-- need no column: they live in the assistant's `business` JSON, next to the free text.

CREATE TABLE appointments (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organisations (id),
    assistant_id   TEXT NOT NULL REFERENCES assistants (id),
    starts_at      TIMESTAMPTZ NOT NULL,
    ends_at        TIMESTAMPTZ NOT NULL,
    caller_name    TEXT NOT NULL,
    -- E.164.
    caller_number  TEXT NOT NULL,
    service        TEXT,
    -- The call it was booked in, when it was (the voice platform's call id).
    call_id        TEXT,
    status         TEXT NOT NULL CHECK (status IN ('booked', 'cancelled')),
    cancel_reason  TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    cancelled_at   TIMESTAMPTZ,
    CHECK (ends_at > starts_at),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
-- Bookings lock the assistant's row, then look for an overlap, then insert: that is what
-- keeps two bookings off one slot. This index is the second guard: two booked appointments
-- of one assistant can never start at the same instant, whatever path wrote them.
CREATE UNIQUE INDEX appointments_one_booking_per_start ON appointments (assistant_id, starts_at)
    WHERE status = 'booked';
CREATE INDEX appointments_by_assistant_start ON appointments (org_id, assistant_id, starts_at);

-- What happened to each appointment, oldest first: booked, cancelled (moves later).
CREATE TABLE appointment_changes (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    appointment_id  TEXT NOT NULL REFERENCES appointments (id),
    kind            TEXT NOT NULL CHECK (kind IN ('booked', 'cancelled')),
    -- The slot after the change.
    starts_at       TIMESTAMPTZ NOT NULL,
    ends_at         TIMESTAMPTZ NOT NULL,
    -- Who made it: `assistant` (during a call), `api`, ...
    actor           TEXT NOT NULL,
    reason          TEXT,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX appointment_changes_by_appointment ON appointment_changes (appointment_id, id);

-- Availability reads the busy events of a window: those ending after its start.
CREATE INDEX calendar_events_by_end ON calendar_events (connection_id, ends_at);
