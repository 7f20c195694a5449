-- The inbox of verified provider events, the record of refused ones, and calls.

CREATE TABLE webhook_events (
    id                 TEXT PRIMARY KEY,
    provider           TEXT NOT NULL,
    provider_event_id  TEXT NOT NULL,
    event_type         TEXT NOT NULL,
    payload            TEXT NOT NULL,
    received_at        TEXT NOT NULL,
    processed_at       TEXT,
    outcome            TEXT,
    UNIQUE (provider, provider_event_id)
);

CREATE TABLE webhook_rejections (
    id           TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    source       TEXT NOT NULL,
    received_at  TEXT NOT NULL
);
CREATE INDEX webhook_rejections_by_time ON webhook_rejections (received_at);

CREATE TABLE calls (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    assistant_id     TEXT REFERENCES assistants (id),
    campaign_id      TEXT,
    vapi_call_id     TEXT UNIQUE,
    twilio_call_sid  TEXT UNIQUE,
    direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    status           TEXT NOT NULL,
    from_number      TEXT,
    to_number        TEXT,
    started_at       TEXT,
    ended_at         TEXT,
    duration_secs    INTEGER,
    ended_reason     TEXT,
    cost_usd         TEXT,
    transcript       TEXT,
    recording_url    TEXT,
    summary          TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX calls_by_org ON calls (org_id, id);
CREATE INDEX calls_by_org_assistant ON calls (org_id, assistant_id, id);
CREATE INDEX calls_by_org_status ON calls (org_id, status, id);

-- Finding an assistant from the ids the voice platform sends.
CREATE INDEX assistants_by_vapi_id ON assistants (vapi_assistant_id);
CREATE INDEX assistants_by_number ON assistants (phone_number);
