-- Appointments move: through the API, or in the calendar (the calendar wins on time). Each
-- move is a `moved` entry of the appointment's history, with who moved it (`calendar` for a
-- change made in the calendar).
ALTER TABLE appointment_changes DROP CONSTRAINT appointment_changes_kind_check;
ALTER TABLE appointment_changes ADD CONSTRAINT appointment_changes_kind_check
    CHECK (kind IN ('booked', 'moved', 'cancelled'));
