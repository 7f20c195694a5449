-- Outbound campaigns: campaigns, their contacts, every call attempt, and each organisation's
-- do-not-call list and consent registry.

CREATE TABLE campaigns (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organisations (id),
    name                  TEXT NOT NULL,
    assistant_id          TEXT NOT NULL REFERENCES assistants (id),
    caller_number         TEXT NOT NULL,
    purpose               TEXT NOT NULL CHECK (purpose IN ('prospecting', 'service')),
    -- JSON: {"preset": "fr-consumer"} or {"schedule": {...}, "holidays": "france"}.
    calling_rules         TEXT NOT NULL,
    time_zone             TEXT NOT NULL,
    default_country       TEXT NOT NULL,
    starts_at             TEXT NOT NULL,
    ends_at               TEXT,
    max_attempts          INTEGER NOT NULL,
    -- JSON: when to try again after each outcome.
    retry_policy          TEXT NOT NULL,
    max_concurrent_calls  INTEGER NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN
                              ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')),
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    finished_at           TEXT
);
CREATE INDEX campaigns_by_org ON campaigns (org_id, id);
CREATE INDEX campaigns_by_state ON campaigns (state, id);

CREATE TABLE campaign_contacts (
    id               TEXT PRIMARY KEY,
    campaign_id      TEXT NOT NULL REFERENCES campaigns (id),
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    number           TEXT NOT NULL,
    name             TEXT,
    time_zone        TEXT NOT NULL,
    -- JSON object passed to the assistant.
    variables        TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN
                         ('pending', 'dialing', 'completed', 'failed', 'skipped', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- When a pending contact is due; NULL in every other state.
    next_attempt_at  TEXT,
    last_outcome     TEXT,
    skip_reason      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (campaign_id, number)
);
CREATE INDEX campaign_contacts_list ON campaign_contacts (campaign_id, id);
CREATE INDEX campaign_contacts_by_state ON campaign_contacts (campaign_id, state);
-- The planner reads only due contacts, one time zone at a time.
CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign_id, time_zone, next_attempt_at)
    WHERE state = 'pending';

CREATE TABLE call_attempts (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organisations (id),
    campaign_id   TEXT NOT NULL REFERENCES campaigns (id),
    contact_id    TEXT NOT NULL REFERENCES campaign_contacts (id),
    number        TEXT NOT NULL,
    attempt_no    INTEGER NOT NULL,
    -- planned: a DialContact job is queued; placing: the call is being placed; placed: the
    -- voice platform took it; ended: its report came (or never did, past the bound);
    -- cancelled: never placed.
    state         TEXT NOT NULL CHECK (state IN ('planned', 'placing', 'placed', 'ended', 'cancelled')),
    planned_at    TEXT NOT NULL,
    placed_at     TEXT,
    ended_at      TEXT,
    vapi_call_id  TEXT UNIQUE,
    call_id       TEXT,
    outcome       TEXT CHECK (outcome IN
                      ('completed', 'no_answer', 'busy', 'voicemail', 'failed', 'refused')),
    detail        TEXT,
    UNIQUE (contact_id, attempt_no)
);
-- Never two calls at once to one person of an organisation, whatever the campaign.
CREATE UNIQUE INDEX call_attempts_one_open_per_number ON call_attempts (org_id, number)
    WHERE state IN ('planned', 'placing', 'placed');
CREATE INDEX call_attempts_open_by_campaign ON call_attempts (campaign_id, state)
    WHERE state IN ('planned', 'placing', 'placed');
-- The legal caps: attempts per person over 30 days, refusals over 60.
CREATE INDEX call_attempts_by_number ON call_attempts (org_id, number, planned_at);
CREATE INDEX call_attempts_ended_by_campaign ON call_attempts (campaign_id, ended_at);

CREATE TABLE dnc_entries (
    org_id      TEXT NOT NULL REFERENCES organisations (id),
    number      TEXT NOT NULL,
    reason      TEXT,
    -- api, import, or call (the person refused during a call).
    source      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, number)
);

CREATE TABLE consents (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organisations (id),
    number        TEXT NOT NULL,
    -- When and how the person consented, and what proves it.
    given_at      TEXT NOT NULL,
    method        TEXT NOT NULL,
    proof         TEXT NOT NULL,
    expires_at    TEXT,
    withdrawn_at  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (org_id, number)
);
CREATE INDEX consents_by_org ON consents (org_id, id);
