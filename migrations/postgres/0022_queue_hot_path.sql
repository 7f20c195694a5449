-- Two costs every job paid on the queue's hot path, and one trap.
--
-- The foreign key from a job's lock holder to apalis.workers ran a referential check on every
-- claim (a `SELECT ... FOR KEY SHARE` of the worker's row, per job: about a quarter of the
-- claim's time, and every replica's claims share-locked the same few worker rows). A worker
-- name is registered when its replica starts and never removed while it holds jobs, and the
-- rescue finds held jobs by name: the constraint guarded nothing the queue relies on.
ALTER TABLE apalis.jobs DROP CONSTRAINT IF EXISTS fk_worker_lock_by;

-- The index on the lock holder held every job, finished ones too (a done job keeps the worker
-- that ran it), so each job's final version added an entry, and one worker name grew to hold
-- every job it ever ran: a lookup by holder read them all. Only held jobs are looked up by
-- holder (giving back, rescuing, counting a replica's jobs in flight).
DROP INDEX IF EXISTS apalis.idx_apalis_jobs_lock_by;
CREATE INDEX IF NOT EXISTS zencall_jobs_held
    ON apalis.jobs (lock_by)
    WHERE status IN ('Queued', 'Running');

-- Each job leaves about four dead versions of its row behind; at thousands of jobs a second
-- the default thresholds (a fifth of the table) let them pile up between vacuums, and every
-- claim reads through them. Vacuum the queue's tables after a small share has changed, and
-- without pausing.
ALTER TABLE apalis.jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE job_attempts SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 0);
