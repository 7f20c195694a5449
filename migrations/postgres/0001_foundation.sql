-- Tenancy, API keys, assistants, and the attempt history of queue jobs.

CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('admin', 'write', 'read')),
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_keys_by_org ON api_keys (org_id, id);

CREATE TABLE assistants (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organisations (id),
    name                  TEXT NOT NULL,
    sector                TEXT NOT NULL,
    language              TEXT NOT NULL,
    business              TEXT NOT NULL,
    phone_country         TEXT NOT NULL,
    area_code             TEXT,
    voice                 TEXT NOT NULL,
    greeting              TEXT NOT NULL,
    system_prompt         TEXT NOT NULL,
    config_version        BIGINT NOT NULL DEFAULT 1,
    synced_version        BIGINT NOT NULL DEFAULT 0,
    status                TEXT NOT NULL,
    failure_reason        TEXT,
    phone_number          TEXT,
    vapi_assistant_id     TEXT,
    twilio_number_sid     TEXT,
    vapi_phone_number_id  TEXT,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX assistants_by_org ON assistants (org_id, id);
CREATE INDEX assistants_by_org_status ON assistants (org_id, status, id);

-- One row per finished attempt of a queue job: the queue keeps only the latest state.
CREATE TABLE job_attempts (
    job_id       TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    queue        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    worker       TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('done', 'retry', 'dead')),
    error        TEXT,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX job_attempts_by_finished ON job_attempts (finished_at);

-- Pruning finished jobs by age.
CREATE INDEX IF NOT EXISTS zencall_jobs_done_at ON apalis.jobs (status, done_at) WHERE done_at IS NOT NULL;
