-- Calendar connections (Google Calendar): the OAuth states of connections being made, the
-- connections with their tokens sealed at rest (AES-256-GCM, the key id inside each value),
-- their push-notification channels, and the events read from the chosen calendar.

-- A begun connection, until the owner comes back from Google's consent page. Only the
-- SHA-256 of the state is kept; consuming it deletes it, so it is single use.
CREATE TABLE calendar_oauth_states (
    state_hash       TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    sealed_verifier  TEXT NOT NULL,
    redirect_uri     TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX calendar_oauth_states_by_expiry ON calendar_oauth_states (expires_at);

-- One Google account of one organisation.
CREATE TABLE calendar_connections (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organisations (id),
    account               TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('active', 'needs_reconnect', 'disconnected')),
    status_reason         TEXT,
    sealed_refresh_token  TEXT,
    sealed_access_token   TEXT,
    access_expires_at     TIMESTAMPTZ,
    -- The granted scopes, space-separated.
    scopes                TEXT NOT NULL,
    -- The account's calendars as last listed (JSON), and the one synced.
    calendars             TEXT NOT NULL,
    calendar_id           TEXT NOT NULL,
    sync_token            TEXT,
    -- Bumped when a sync starts: a sync asked for afterwards is a new job (unique key per
    -- generation), so a burst of notifications costs one pending run.
    sync_generation       BIGINT NOT NULL DEFAULT 0,
    last_synced_at        TIMESTAMPTZ,
    connected_at          TIMESTAMPTZ NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, account)
);
CREATE INDEX calendar_connections_by_org ON calendar_connections (org_id, id);

-- Push-notification channels on a connection's calendar. Only the SHA-256 of each channel's
-- token is kept. A renewal opens a new channel and marks the old one replaced until stopped.
CREATE TABLE calendar_channels (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organisations (id),
    connection_id  TEXT NOT NULL REFERENCES calendar_connections (id),
    calendar_id    TEXT NOT NULL,
    token_hash     TEXT NOT NULL,
    resource_id    TEXT,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'active', 'replaced', 'stopped')),
    expires_at     TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX calendar_channels_by_connection ON calendar_channels (connection_id, status);
CREATE INDEX calendar_channels_by_status_expiry ON calendar_channels (status, expires_at);

-- The events of a connection's calendar as last synced (cancelled ones are deleted).
CREATE TABLE calendar_events (
    connection_id  TEXT NOT NULL REFERENCES calendar_connections (id),
    event_id       TEXT NOT NULL,
    org_id         TEXT NOT NULL REFERENCES organisations (id),
    status         TEXT NOT NULL CHECK (status IN ('confirmed', 'tentative')),
    -- Timed events have instants; all-day events have dates (YYYY-MM-DD, the end exclusive).
    starts_at      TIMESTAMPTZ,
    ends_at        TIMESTAMPTZ,
    start_date     TEXT,
    end_date       TEXT,
    summary        TEXT,
    transparency   TEXT NOT NULL CHECK (transparency IN ('opaque', 'transparent')),
    updated_at     TIMESTAMPTZ,
    synced_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connection_id, event_id)
);
CREATE INDEX calendar_events_by_start ON calendar_events (connection_id, starts_at);

-- The calendar an assistant books into.
ALTER TABLE assistants ADD COLUMN calendar_connection_id TEXT REFERENCES calendar_connections (id);
ALTER TABLE assistants ADD COLUMN calendar_id TEXT;
