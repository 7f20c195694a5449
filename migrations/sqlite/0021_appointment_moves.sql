-- Appointments move: through the API, or in the calendar (the calendar wins on time). Each
-- move is a `moved` entry of the appointment's history, with who moved it (`calendar` for a
-- change made in the calendar). SQLite cannot change a check: the table is rebuilt.
CREATE TABLE appointment_changes_rebuilt (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    appointment_id  TEXT NOT NULL REFERENCES appointments (id),
    kind            TEXT NOT NULL CHECK (kind IN ('booked', 'moved', 'cancelled')),
    -- The slot after the change.
    starts_at       TEXT NOT NULL,
    ends_at         TEXT NOT NULL,
    -- Who made it: `assistant` (during a call), `api`, `calendar`.
    actor           TEXT NOT NULL,
    reason          TEXT,
    created_at      TEXT NOT NULL
);
INSERT INTO appointment_changes_rebuilt
    SELECT id, org_id, appointment_id, kind, starts_at, ends_at, actor, reason, created_at
    FROM appointment_changes;
DROP TABLE appointment_changes;
ALTER TABLE appointment_changes_rebuilt RENAME TO appointment_changes;
CREATE INDEX appointment_changes_by_appointment ON appointment_changes (appointment_id, id);
