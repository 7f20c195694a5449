-- The queue board: searching a million jobs, and pickup latency per attempt.
--
-- Search. apalis stores a job's payload as a BLOB, so its kind, organisation and arguments are
-- copied once, when the job is inserted, into `job_search` (kept by triggers, so every insert
-- path is covered), and searched there: by kind and by organisation through indexes; a
-- substring of the arguments by reading the table newest first (SQLite has no trigram index).
CREATE TABLE job_search (
    -- The job's id (Jobs.id); the row goes when the job goes.
    id      TEXT PRIMARY KEY,
    -- The payload's `kind`.
    kind    TEXT NOT NULL,
    -- The payload's `args.org_id`, when it is a string.
    org_id  TEXT,
    -- The payload's `args`, as JSON text.
    args    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER zencall_job_search_insert AFTER INSERT ON Jobs
BEGIN
    INSERT OR IGNORE INTO job_search (id, kind, org_id, args)
    SELECT NEW.id,
           CASE WHEN json_valid(doc) THEN COALESCE(json_extract(doc, '$.kind'), 'unknown') ELSE 'unknown' END,
           CASE WHEN json_valid(doc) AND json_type(doc, '$.args.org_id') = 'text' THEN json_extract(doc, '$.args.org_id') END,
           CASE WHEN json_valid(doc) THEN COALESCE(doc -> '$.args', 'null') ELSE 'null' END
    FROM (SELECT CAST(NEW.job AS TEXT) AS doc);
END;

CREATE TRIGGER zencall_job_search_delete AFTER DELETE ON Jobs
BEGIN
    DELETE FROM job_search WHERE id = OLD.id;
END;

INSERT OR IGNORE INTO job_search (id, kind, org_id, args)
SELECT id,
       CASE WHEN json_valid(doc) THEN COALESCE(json_extract(doc, '$.kind'), 'unknown') ELSE 'unknown' END,
       CASE WHEN json_valid(doc) AND json_type(doc, '$.args.org_id') = 'text' THEN json_extract(doc, '$.args.org_id') END,
       CASE WHEN json_valid(doc) THEN COALESCE(doc -> '$.args', 'null') ELSE 'null' END
FROM (SELECT id, CAST(job AS TEXT) AS doc FROM Jobs);

-- Newest first within a kind or an organisation.
CREATE INDEX job_search_kind ON job_search (kind, id);
CREATE INDEX job_search_org ON job_search (org_id, id) WHERE org_id IS NOT NULL;

-- Newest first within a queue and status (and counts per status); the unfinished statuses
-- alone, across queues.
CREATE INDEX IF NOT EXISTS zencall_jobs_board ON Jobs (job_type, status, id);
CREATE INDEX IF NOT EXISTS zencall_jobs_unfinished_by_id ON Jobs (status, id)
    WHERE status <> 'Done';

-- Done jobs per queue for the board's overview: few distinct keys, so the index stays small
-- (deduplicated) and an index-only count reads little.
CREATE INDEX IF NOT EXISTS zencall_jobs_done_by_queue ON Jobs (job_type) WHERE status = 'Done';

-- Pickup latency per attempt: when the job was due (its run_at when the attempt was claimed).
ALTER TABLE job_attempts ADD COLUMN due_at TEXT;
