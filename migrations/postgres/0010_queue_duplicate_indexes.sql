-- apalis creates two indexes that repeat others: `unique_job_id` repeats the primary key and
-- `lidx` repeats `idx_apalis_jobs_lock_by`. Every new version of a job row (a job's row changes
-- about four times: enqueued, fetched, claimed, finished) wrote into both for nothing.
DROP INDEX IF EXISTS apalis.unique_job_id;
DROP INDEX IF EXISTS apalis.lidx;
