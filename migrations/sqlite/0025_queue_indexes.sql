-- The jobs table had seventeen indexes on SQLite: apalis's own, made for its fetch and acks
-- (no longer used: our feeder claims, our completer writes outcomes), ours for the same fetch
-- before it, and the board's. A claim (status, holder and lock time change) and an outcome
-- each rewrote about a dozen index entries, every one of them a page to change under the one
-- write lock. PostgreSQL dropped its equivalents in migrations 0010, 0011 and 0022; these
-- are SQLite's. What each remaining index serves:
--   idx_jobs_pending           the claim: due pending jobs of a queue in claim order
--   zencall_jobs_held          held jobs by holder: giving back, rescues, replicas' counts
--   zencall_jobs_unique_key    unique keys, for the jobs that have one
--   zencall_jobs_unfinished    /metrics counts
--   zencall_jobs_board, zencall_jobs_unfinished_by_id, zencall_jobs_done_by_queue
--                              the board's lists and overview
--   zencall_jobs_done_at       pruning finished jobs by age

-- apalis's fetch and acks.
DROP INDEX IF EXISTS LIdx;
DROP INDEX IF EXISTS idx_jobs_job_type_status_run_at;
DROP INDEX IF EXISTS idx_jobs_status_run_at;
DROP INDEX IF EXISTS idx_jobs_completed_done_at;
DROP INDEX IF EXISTS idx_jobs_running;
DROP INDEX IF EXISTS idx_jobs_failed;
DROP INDEX IF EXISTS idx_jobs_claimable;
-- Our earlier fetch; the claim reads idx_jobs_pending, whose filter is exactly its own.
DROP INDEX IF EXISTS zencall_jobs_fetch;

-- A done job keeps the worker that ran it, so an index on every holder grew to hold every
-- finished job, and a lookup by holder read all the jobs that worker ever ran. Only held jobs
-- are looked up by holder; the statements that do name this filter word for word, as SQLite
-- uses a partial index only then.
DROP INDEX IF EXISTS zencall_jobs_lock_by;
CREATE INDEX IF NOT EXISTS zencall_jobs_held ON Jobs (lock_by)
    WHERE status IN ('Queued', 'Running');

-- apalis's unique index on (queue, unique key) held every job, though most carry no key.
-- The enqueue names the same filter in its ON CONFLICT.
DROP INDEX IF EXISTS idx_jobs_idempotency_key;
CREATE UNIQUE INDEX IF NOT EXISTS zencall_jobs_unique_key ON Jobs (job_type, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
