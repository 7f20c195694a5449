-- apalis notified each inserted job on its own, with the job's id in the payload, so
-- PostgreSQL could fold none of them together: a bulk enqueue of 20,000 jobs sent 20,000
-- notifications, and each woke every listening replica. Listeners only need to know which
-- queue got due jobs: one notification per queue per statement (and identical ones within a
-- transaction are delivered once). Jobs scheduled for later are still found by the poll.
DROP TRIGGER IF EXISTS notify_workers ON apalis.jobs;

CREATE OR REPLACE FUNCTION zencall_notify_new_jobs() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('apalis::job::insert', json_build_object('job_type', q.job_type)::text)
    FROM (SELECT DISTINCT job_type FROM inserted_jobs WHERE run_at <= now()) AS q;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER zencall_notify_new_jobs AFTER INSERT ON apalis.jobs
    REFERENCING NEW TABLE AS inserted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION zencall_notify_new_jobs();
