-- Queue controls for the board: paused queues, the worker replicas seen, and each cron
-- entry's last enqueued tick.

-- A queue listed here is paused: workers of every replica stop taking its jobs.
CREATE TABLE queue_pauses (
    queue      TEXT PRIMARY KEY,
    paused_at  TIMESTAMPTZ NOT NULL,
    paused_by  TEXT NOT NULL
);

-- One row per worker replica (process), written when it starts, at every heartbeat and at a
-- clean shutdown. A replica silent for dead_after_secs is dead.
CREATE TABLE worker_replicas (
    name             TEXT PRIMARY KEY,
    host             TEXT NOT NULL,
    pid              BIGINT NOT NULL,
    queues           TEXT NOT NULL,          -- comma-separated queue names
    concurrency      BIGINT NOT NULL,
    dead_after_secs  BIGINT NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    heartbeat_at     TIMESTAMPTZ NOT NULL,
    stopped_at       TIMESTAMPTZ
);

-- The last tick of each cron entry that enqueued a job (whichever scheduler replica did it).
CREATE TABLE cron_runs (
    name         TEXT PRIMARY KEY,
    last_tick    TIMESTAMPTZ NOT NULL,
    job_id       TEXT NOT NULL,
    enqueued_at  TIMESTAMPTZ NOT NULL
);
