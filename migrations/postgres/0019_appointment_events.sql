-- The calendar event PushAppointment wrote for each appointment: the connection and calendar
-- it went to (the assistant's calendar may change afterwards, and a cancellation must delete
-- the event where it is), and the event's id there.

ALTER TABLE appointments ADD COLUMN calendar_connection_id TEXT REFERENCES calendar_connections (id);
ALTER TABLE appointments ADD COLUMN calendar_id TEXT;
ALTER TABLE appointments ADD COLUMN calendar_event_id TEXT;
