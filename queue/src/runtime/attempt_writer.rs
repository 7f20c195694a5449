//! Outcomes of finished attempts, written in batches ([`Batcher`]): attempts that finish
//! together are recorded at once by the driver (one statement on PostgreSQL, one transaction
//! on SQLite). A job whose lease was lost meanwhile is not overwritten.

use std::sync::OnceLock;

use super::batch::Batcher;
use crate::db::{Db, StoreError};
pub(super) use crate::driver::Completion;

/// The runner's batch writer of outcomes, started on first use.
#[derive(Default)]
pub(super) struct AttemptWriter {
    completions: OnceLock<Batcher<Completion, bool>>,
}

impl AttemptWriter {
    /// Writes an attempt's outcome on its job and in `job_attempts`; false when the worker
    /// no longer held the job (its outcome is then dropped).
    pub(super) async fn complete(
        &self,
        db: &Db,
        completion: Completion,
    ) -> Result<bool, StoreError> {
        self.completions
            .get_or_init(|| {
                let db = db.clone();
                let in_flight = db.driver().concurrent_completions();
                Batcher::start(in_flight, move |batch| {
                    let db = db.clone();
                    async move {
                        db.driver()
                            .complete(&batch)
                            .await
                            .map_err(|e| e.to_string())
                    }
                })
            })
            .call(completion)
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::board::admin::{self, JobState};
    use crate::facade::Noop;
    use crate::facade::{EnqueueOptions, enqueue};
    use crate::runtime::claims::{claim, put_back, register_workers};
    use crate::test_db::TestDb;

    fn outcome(job_id: &str, status: &'static str, run_at: Option<DateTime<Utc>>) -> Completion {
        let now = crate::db::now_micros(Utc::now());
        Completion {
            job_id: job_id.to_string(),
            worker: "w1".into(),
            attempt: 1,
            status,
            result: r#"{"Ok": null}"#.into(),
            run_at,
            queue: "bench",
            kind: "Noop".into(),
            started_at: now,
            finished_at: now,
            outcome: if status == "Done" { "done" } else { "retry" },
            error: None,
            due_at: now,
        }
    }

    #[tokio::test]
    async fn outcomes_written_together_skip_a_job_whose_lease_was_lost() {
        for t in TestDb::all().await {
            let db = &t.db;
            for seq in 0..3 {
                enqueue(db, &Noop { seq }, EnqueueOptions::default(), 3)
                    .await
                    .unwrap();
            }
            register_workers(db, &["w1".into()]).await.unwrap();
            let held: Vec<String> = claim(db, "bench", "w1", 3)
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id)
                .collect();
            // One job is taken away from w1 (given back, as a rescue would) before w1 reports.
            put_back(db, "w1", &held[2..]).await.unwrap();
            let writer = AttemptWriter::default();
            let retry_at = Utc::now() + chrono::Duration::minutes(5);
            let (done, retried, lost) = tokio::join!(
                writer.complete(db, outcome(&held[0], "Done", None)),
                writer.complete(db, outcome(&held[1], "Pending", Some(retry_at))),
                writer.complete(db, outcome(&held[2], "Done", None)),
            );
            assert_eq!(
                (done.unwrap(), retried.unwrap(), lost.unwrap()),
                (true, true, false),
                "{:?}",
                t.backend()
            );
            let job = admin::find(db, &held[0]).await.unwrap().unwrap();
            assert_eq!((job.state, job.attempts), (JobState::Done, 1), "{job:?}");
            let job = admin::find(db, &held[1]).await.unwrap().unwrap();
            assert_eq!(job.state, JobState::Retrying, "{job:?}");
            assert_eq!(job.worker, None);
            assert!(job.run_at >= retry_at - chrono::Duration::seconds(1));
            let job = admin::find(db, &held[2]).await.unwrap().unwrap();
            assert_eq!(
                (job.state, job.attempts),
                (JobState::Pending, 0),
                "untouched: {job:?}"
            );
            assert_eq!(admin::attempts(db, &held[0]).await.unwrap().len(), 1);
            assert_eq!(admin::attempts(db, &held[1]).await.unwrap().len(), 1);
            assert!(admin::attempts(db, &held[2]).await.unwrap().is_empty());
            t.drop_database().await;
        }
    }
}
