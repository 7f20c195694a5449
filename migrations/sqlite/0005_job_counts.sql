-- /metrics counts unfinished jobs per queue and state at every scrape. Finished jobs are most
-- of the table, so this partial index holds only the others, with every column the count
-- reads: the count then costs in proportion to the unfinished jobs, not to the table's size.
CREATE INDEX IF NOT EXISTS zencall_jobs_unfinished ON Jobs (job_type, status, attempts, run_at)
    WHERE status <> 'Done';
