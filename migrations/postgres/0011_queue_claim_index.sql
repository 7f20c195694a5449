-- The claim takes the due pending jobs of one queue by priority, then due time, `LIMIT n`. It
-- must read them from an index already in that order: when the table grew fast since it was
-- last analysed (a bulk enqueue, a large campaign) the planner expects a handful of rows, and
-- any index that matches the filter but not the order (this one had `attempts` before
-- `run_at`) makes every claim sort all pending jobs, so a backlog is drained in quadratic
-- time. This index now serves both the claim and the unfinished-job counts; apalis's own
-- fetch index is no longer read (apalis does not fetch any more) and only slowed inserts.
DROP INDEX IF EXISTS apalis.zencall_jobs_unfinished;
CREATE INDEX IF NOT EXISTS zencall_jobs_unfinished
    ON apalis.jobs (job_type, status, priority DESC, run_at, attempts)
    WHERE status <> 'Done';
DROP INDEX IF EXISTS apalis.idx_apalis_jobs_fetch_partial;

-- apalis's unique index on (queue, unique key) holds every job, though most carry no key:
-- every new version of every job row (a claim, an outcome) added an entry to it. Only jobs
-- with a key need to be in it; the enqueue names the same predicate in its ON CONFLICT.
CREATE UNIQUE INDEX IF NOT EXISTS zencall_jobs_unique_key
    ON apalis.jobs (job_type, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
DROP INDEX IF EXISTS apalis.idx_jobs_idempotency_key;
