-- The queue board: searching a million jobs, and pickup latency per attempt.
--
-- Search. apalis stores a job's payload as bytea, so its kind, organisation and arguments are
-- copied once, when the job is inserted, into `job_search` (kept by triggers, so every insert
-- path is covered), and searched there: by kind, by organisation, and by a substring of the
-- arguments through a trigram index. Expression indexes on apalis.jobs itself would be
-- recomputed (the payload parsed as JSON, its trigrams extracted) on every status change,
-- since apalis's fetch and ack are never HOT updates there (lock_by and status are indexed):
-- three times per job; this table is written once per job.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE job_search (
    -- The job's id (apalis.jobs.id); the row goes when the job goes.
    id      TEXT PRIMARY KEY,
    -- The payload's `kind`.
    kind    TEXT NOT NULL,
    -- The payload's `args.org_id`, when it is a string.
    org_id  TEXT,
    -- The payload's `args`, as JSON text exactly as stored.
    args    TEXT NOT NULL
);

CREATE FUNCTION zencall_job_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_search (id, kind, org_id, args)
    SELECT id,
           COALESCE(doc ->> 'kind', 'unknown'),
           CASE WHEN json_typeof(doc -> 'args' -> 'org_id') = 'string' THEN doc -> 'args' ->> 'org_id' END,
           COALESCE((doc -> 'args')::text, 'null')
    FROM (SELECT id, convert_from(job, 'UTF8')::json AS doc FROM inserted_jobs) AS j
    ON CONFLICT (id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION zencall_job_search_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_search WHERE id IN (SELECT id FROM deleted_jobs);
    RETURN NULL;
END
$$;

-- Statement triggers with transition tables: one statement per bulk insert or prune.
CREATE TRIGGER zencall_job_search_insert AFTER INSERT ON apalis.jobs
    REFERENCING NEW TABLE AS inserted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION zencall_job_search_insert();
CREATE TRIGGER zencall_job_search_delete AFTER DELETE ON apalis.jobs
    REFERENCING OLD TABLE AS deleted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION zencall_job_search_delete();

INSERT INTO job_search (id, kind, org_id, args)
SELECT id,
       COALESCE(doc ->> 'kind', 'unknown'),
       CASE WHEN json_typeof(doc -> 'args' -> 'org_id') = 'string' THEN doc -> 'args' ->> 'org_id' END,
       COALESCE((doc -> 'args')::text, 'null')
FROM (SELECT id, convert_from(job, 'UTF8')::json AS doc FROM apalis.jobs) AS j;

-- Newest first within a kind or an organisation.
CREATE INDEX job_search_kind ON job_search (kind, id);
CREATE INDEX job_search_org ON job_search (org_id, id) WHERE org_id IS NOT NULL;
-- Case-insensitive substring search (ILIKE) in the arguments.
CREATE INDEX job_search_args ON job_search USING gin (args gin_trgm_ops);

-- No more indexes on apalis.jobs for the lists: every status change there inserts into every
-- index (apalis's updates are never HOT), so each one slows the queue. A queue or state
-- filter reads the primary key backwards (done jobs, most of the table, come at once) or the
-- partial index of unfinished jobs (migration 0005) for the rarer states.

-- Done jobs per queue for the board's overview: few distinct keys, so the index stays small
-- (deduplicated) and an index-only count reads little.
CREATE INDEX IF NOT EXISTS zencall_jobs_done_by_queue ON apalis.jobs (job_type) WHERE status = 'Done';

-- Pickup latency per attempt: when the job was due (its run_at when the attempt was claimed).
ALTER TABLE job_attempts ADD COLUMN due_at TIMESTAMPTZ;
