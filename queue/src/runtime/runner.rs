//! Running jobs. Each queue a replica serves gets a `QueueWorker` (`queue_worker.rs`): it
//! claims due jobs in batches and runs them on a fixed number of slots. This module decides
//! what happens to each attempt: a handler's error is either transient (rescheduled with
//! exponential backoff and jitter, without holding a worker slot) or permanent; a permanent
//! error, or the last attempt, moves the job to the dead state. Every attempt is recorded with
//! its worker and error in `job_attempts`; the outcomes of attempts that finish together are
//! written in one batch (`attempt_writer`).
//!
//! A runner also keeps its replica's row of the worker registry fresh
//! ([`replicas`](super::replicas)), rescues the jobs of replicas that died, and follows the
//! queues' pause flags ([`pauses`](super::pauses)): a paused queue is not claimed, and jobs
//! claimed but not started when the pause lands are given back.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use rand::RngExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::attempt_writer::{AttemptWriter, Completion};
use super::claims::{self, ClaimedJob};
use super::queue_worker::QueueWorker;
use crate::backoff::Backoff;
use crate::db::{Db, StoreError};
use crate::facade::Job;

/// Why an attempt failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth retrying later (a timeout, a 5xx, a rate limit); `retry_after` is a minimum delay.
    #[error("{message}")]
    Transient {
        /// What went wrong.
        message: String,
        /// The provider's requested delay, if any.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (bad input, refused credentials, nothing available).
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    /// A transient error without a requested delay.
    pub fn transient(message: impl Into<String>) -> Self {
        JobError::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        JobError::Permanent(message.into())
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(m) => JobError::Permanent(m),
            other => JobError::transient(other.to_string()),
        }
    }
}

/// One attempt of one job, as handed to its handler.
#[derive(Debug, Clone)]
pub struct JobRun {
    /// The job's id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// The replica running it.
    pub worker: String,
}

impl JobRun {
    /// True when this is the last attempt the job gets.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

type HandlerFn = Arc<
    dyn Fn(serde_json::Value, JobRun) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync,
>;

/// The handlers of every job kind a worker can run.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, (&'static str, HandlerFn)>,
}

impl Registry {
    /// Registers the handler of job kind `J`.
    pub fn register<J, F, Fut>(&mut self, handler: F)
    where
        J: Job,
        F: Fn(J, JobRun) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let f: HandlerFn = Arc::new(move |args, run| {
            let handler = handler.clone();
            async move {
                let job: J = decode_args(args, J::KIND)?;
                handler(job, run).await
            }
            .boxed()
        });
        self.handlers.insert(J::KIND, (J::QUEUE, f));
    }
}

fn decode_args<T: DeserializeOwned>(args: serde_json::Value, kind: &str) -> Result<T, JobError> {
    serde_json::from_value(args)
        .map_err(|e| JobError::permanent(format!("unreadable arguments for {kind}: {e}")))
}

/// How the runner schedules, retries and stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerSettings {
    /// Retry delays.
    pub backoff: Backoff,
    /// Longest run of one attempt.
    pub job_timeout: Duration,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Missed heartbeats after which a replica is dead.
    pub missed_heartbeats: u32,
    /// Fallback poll for due jobs.
    pub poll_interval: Duration,
    /// Jobs at once per queue.
    pub concurrency: usize,
    /// Jobs claimed ahead of free slots per queue, so a slot that finishes finds its next job.
    pub prefetch: usize,
    /// Grace period at shutdown.
    pub shutdown_timeout: Duration,
    /// Default maximum attempts.
    pub max_attempts: u32,
    /// How often the paused queues are re-read from the database.
    pub pause_refresh: Duration,
}

impl Default for RunnerSettings {
    /// The defaults of the `[queue]` configuration.
    fn default() -> Self {
        Self {
            backoff: Backoff {
                base: Duration::from_secs(5),
                max: Duration::from_secs(3600),
            },
            job_timeout: Duration::from_secs(300),
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
            poll_interval: Duration::from_secs(1),
            concurrency: 8,
            prefetch: 4,
            shutdown_timeout: Duration::from_secs(30),
            max_attempts: 8,
            pause_refresh: Duration::from_secs(1),
        }
    }
}

/// Runs the jobs of some queues in this process.
#[derive(Clone)]
pub struct Runner {
    db: Db,
    registry: Arc<Registry>,
    settings: Arc<RunnerSettings>,
    host: Arc<str>,
    replica: Arc<str>,
    /// Claims and outcomes, written in batches.
    attempts: Arc<AttemptWriter>,
}

#[derive(Deserialize)]
struct StoredEnvelope {
    kind: String,
    #[serde(default)]
    args: serde_json::Value,
}

/// One attempt that has run, as `record` writes it.
#[derive(Clone, Copy)]
struct FinishedAttempt<'a> {
    job_id: &'a str,
    worker: &'a str,
    kind: &'a str,
    /// 1 for the first.
    number: u32,
    started_at: DateTime<Utc>,
    /// When the job was due, as its claim read it (before a retry moves `run_at`).
    due_at: DateTime<Utc>,
}

/// What became of one attempt.
enum Outcome {
    Done,
    Retry { at: DateTime<Utc>, error: String },
    Dead { error: String },
}

impl Runner {
    /// A runner for the handlers in `registry`.
    pub fn new(db: Db, registry: Registry, settings: RunnerSettings) -> Self {
        let host = host_name();
        let suffix: u32 = rand::rng().random();
        let replica = format!("{host}-{}-{suffix:08x}", std::process::id());
        Self {
            db,
            registry: Arc::new(registry),
            settings: Arc::new(settings),
            host: host.into(),
            replica: replica.into(),
            attempts: Arc::new(AttemptWriter::default()),
        }
    }

    /// This process's replica name: host, pid and a random suffix, so a restarted or cloned
    /// replica never takes a dead one's name (whose jobs would then never be rescued).
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The database.
    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    /// How this runner schedules, retries and stops.
    pub(super) fn settings(&self) -> &RunnerSettings {
        &self.settings
    }

    /// Serves `queues` until `shutdown` resolves, then lets in-flight jobs finish within the
    /// grace period and gives back any job this process still holds.
    pub async fn run(
        self,
        queues: &[&'static str],
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StoreError> {
        self.db.driver().follow_inserts(self.db.wake_hub().clone());
        let names: Vec<&'static str> = queues.to_vec();
        // Know the paused queues before the first claim.
        if let Err(e) = super::pauses::refresh(&self.db, &names).await {
            tracing::warn!(error = %e, "cannot read the paused queues; retrying in the background");
        }
        let workers: Vec<Arc<QueueWorker>> = queues
            .iter()
            .map(|q| {
                Arc::new(QueueWorker::new(
                    self.clone(),
                    q,
                    self.settings.concurrency,
                    self.settings.prefetch,
                ))
            })
            .collect();
        let worker_names: Vec<String> = workers.iter().map(|w| w.name().to_string()).collect();
        // A worker name must be registered before it locks a job; the database may be down at
        // start-up, so keep trying until it answers or the process is asked to stop.
        let mut shutdown = std::pin::pin!(shutdown);
        let mut delay = Duration::from_millis(100);
        while let Err(e) = claims::register_workers(&self.db, &worker_names).await {
            tracing::warn!(error = %e, "cannot register this replica's workers; trying again");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = &mut shutdown => return Ok(()),
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        self.beat(&names).await;
        let background = [
            tokio::spawn(self.clone().refresh_pauses(names.clone())),
            tokio::spawn(self.clone().heartbeats(names.clone())),
        ];
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let serving: Vec<_> = workers
            .into_iter()
            .map(|w| tokio::spawn(w.run(stopped.clone())))
            .collect();
        shutdown.await;
        let _ = stop.send(true);
        let drained = tokio::time::timeout(
            self.settings.shutdown_timeout,
            futures::future::join_all(serving),
        )
        .await;
        if drained.is_err() {
            tracing::warn!("some jobs did not finish within the shutdown grace period");
        }
        for task in background {
            task.abort();
        }
        let mut released = 0;
        for name in &worker_names {
            released += claims::release_worker(&self.db, name).await?;
        }
        if released > 0 {
            tracing::warn!(
                released,
                "put back jobs still running at the end of the shutdown grace period"
            );
        }
        if let Err(e) = super::replicas::stopped(&self.db, &self.replica, Utc::now()).await {
            tracing::warn!(error = %e, "cannot record this replica's shutdown");
        }
        Ok(())
    }

    /// Records this replica in the worker registry as alive now; a failure only logs.
    async fn beat(&self, queues: &[&str]) {
        let s = &self.settings;
        let dead_after = s.heartbeat.saturating_mul(s.missed_heartbeats.max(1));
        let beat = super::replicas::Beat {
            name: &self.replica,
            host: &self.host,
            pid: i64::from(std::process::id()),
            queues,
            concurrency: i64::try_from(s.concurrency).unwrap_or(i64::MAX),
            dead_after_secs: i64::try_from(dead_after.as_secs().max(1)).unwrap_or(i64::MAX),
        };
        if let Err(e) = super::replicas::beat(&self.db, &beat, Utc::now()).await {
            tracing::warn!(error = %e, "cannot record this replica's heartbeat");
        }
    }

    /// Beats every heartbeat period and rescues the jobs of dead replicas, until aborted.
    async fn heartbeats(self, queues: Vec<&'static str>) {
        let mut every = tokio::time::interval(self.settings.heartbeat.max(MIN_PERIOD));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            self.beat(&queues).await;
            match claims::rescue_dead_replicas(&self.db, Utc::now()).await {
                Ok(0) => {}
                Ok(rescued) => tracing::warn!(rescued, "put back jobs held by dead replicas"),
                Err(e) => tracing::warn!(error = %e, "cannot rescue the jobs of dead replicas"),
            }
        }
    }

    /// Re-reads the paused queues every `pause_refresh`, until aborted.
    async fn refresh_pauses(self, queues: Vec<&'static str>) {
        let mut every = tokio::time::interval(self.settings.pause_refresh.max(MIN_PERIOD));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = super::pauses::refresh(&self.db, &queues).await {
                tracing::warn!(error = %e, "cannot read the paused queues");
            }
        }
    }

    /// Runs one claimed job's handler with a timeout and panic guard, and returns the writing
    /// of its outcome, for the caller to run in the background: the slot moves on to its next
    /// job while outcomes are written in batches. An outcome that cannot be written even after
    /// a few tries is logged; its job stays held until a rescue puts it back.
    pub(super) async fn execute(&self, job: ClaimedJob, worker: &str) -> BoxFuture<'static, ()> {
        let job_id = job.id.as_str();
        let due_at = job.due_at;
        let (attempts, max_attempts) = (job.attempts, job.max_attempts);
        let started_at = Utc::now();
        let attempt = u32::try_from(attempts).unwrap_or(0).saturating_add(1);
        let max_attempts = u32::try_from(max_attempts).unwrap_or(1).max(1);
        let envelope: Result<StoredEnvelope, _> = serde_json::from_slice(&job.payload);
        // Every line logged while the job runs, and about its outcome, carries these fields.
        let span = tracing::info_span!(
            "job",
            job.id = job_id,
            job.kind = tracing::field::Empty,
            org_id = tracing::field::Empty,
            attempt
        );
        let (kind, result) = match envelope {
            Err(e) => (
                "unknown".to_string(),
                Err(JobError::permanent(format!("unreadable job payload: {e}"))),
            ),
            Ok(env) => {
                span.record("job.kind", env.kind.as_str());
                if let Some(org_id) = env.args.get("org_id").and_then(|v| v.as_str()) {
                    span.record("org_id", org_id);
                }
                let run = JobRun {
                    id: job_id.to_string(),
                    kind: env.kind.clone(),
                    attempt,
                    max_attempts,
                    worker: worker.to_string(),
                };
                let result = self
                    .run_handler(env.args, run)
                    .instrument(span.clone())
                    .await;
                (env.kind, result)
            }
        };
        let outcome = match result {
            Ok(()) => Outcome::Done,
            Err(JobError::Permanent(error)) => Outcome::Dead { error },
            Err(JobError::Transient { message, .. }) if attempt >= max_attempts => Outcome::Dead {
                error: format!("{message} (attempt {attempt} of {max_attempts})"),
            },
            Err(JobError::Transient {
                message,
                retry_after,
            }) => {
                let jitter: f64 = rand::rng().random();
                let mut delay = self.settings.backoff.delay_with_jitter(attempt, jitter);
                if let Some(min) = retry_after {
                    delay = delay.max(min);
                }
                let at = Utc::now()
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
                Outcome::Retry { at, error: message }
            }
        };
        span.in_scope(|| match &outcome {
            Outcome::Done => {
                tracing::debug!(job.id = job_id, job.kind = %kind, attempt, "job done")
            }
            Outcome::Retry { at, error } => {
                tracing::warn!(job.id = job_id, job.kind = %kind, attempt, retry_at = %at, error = %error, "job failed; retrying later")
            }
            Outcome::Dead { error } => {
                tracing::error!(job.id = job_id, job.kind = %kind, attempt, error = %error, "job is dead")
            }
        });
        let runner = self.clone();
        let (job_id, worker) = (job_id.to_string(), worker.to_string());
        async move {
            let finished = FinishedAttempt {
                job_id: &job_id,
                worker: &worker,
                kind: &kind,
                number: attempt,
                started_at,
                due_at,
            };
            if let Err(e) = runner
                .record_with_retries(&finished, &outcome)
                .instrument(span)
                .await
            {
                tracing::error!(job.id = %job_id, error = %e, "cannot record the job's outcome; it stays held until rescued");
                return;
            }
            let known = runner.registry.handlers.contains_key(kind.as_str());
            super::job_metrics::attempt_finished(
                queue_of(&runner.registry, &kind),
                if known { &kind } else { "unknown" },
                match outcome {
                    Outcome::Done => "done",
                    Outcome::Retry { .. } => "retry",
                    Outcome::Dead { .. } => "dead",
                },
                (started_at - due_at).to_std().unwrap_or_default(),
                (Utc::now() - started_at).to_std().unwrap_or_default(),
            );
        }
        .boxed()
    }

    async fn run_handler(&self, args: serde_json::Value, run: JobRun) -> Result<(), JobError> {
        let Some((_, handler)) = self.registry.handlers.get(run.kind.as_str()) else {
            return Err(JobError::permanent(format!(
                "no handler for job kind {}",
                run.kind
            )));
        };
        // A separate task, so a panic is caught as a JoinError and a timeout can abort it.
        let mut task = tokio::spawn(handler(args, run).in_current_span());
        match tokio::time::timeout(self.settings.job_timeout, &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) if e.is_panic() => {
                let panic = e.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(JobError::transient(format!("the job panicked: {message}")))
            }
            Ok(Err(e)) => Err(JobError::transient(format!("the job was cancelled: {e}"))),
            Err(_) => {
                task.abort();
                Err(JobError::transient(format!(
                    "timed out after {} s",
                    self.settings.job_timeout.as_secs()
                )))
            }
        }
    }

    /// Writes the outcome; a database blip must not leave the job stuck as running, so the
    /// write is tried again a few times before giving up.
    async fn record_with_retries(
        &self,
        attempt: &FinishedAttempt<'_>,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let mut delay = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            match self.record(attempt, outcome).await {
                Ok(()) => return Ok(()),
                Err(e) if tries < 6 => {
                    tracing::warn!(job.id = attempt.job_id, error = %e, "cannot record the job's outcome; trying again");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes an attempt's outcome on the job and in `job_attempts`.
    async fn record(
        &self,
        attempt: &FinishedAttempt<'_>,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let FinishedAttempt {
            job_id,
            worker,
            kind,
            number: attempt,
            started_at,
            due_at,
        } = *attempt;
        let finished_at = crate::db::now_micros(Utc::now());
        let started_at = crate::db::now_micros(started_at);
        let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
        let queue = queue_of(&self.registry, kind);
        let (label, error, result) = match outcome {
            Outcome::Done => ("done", None, serde_json::json!({"Ok": null})),
            Outcome::Retry { error, .. } => (
                "retry",
                Some(error.clone()),
                serde_json::json!({"Err": error}),
            ),
            Outcome::Dead { error } => (
                "dead",
                Some(error.clone()),
                serde_json::json!({"Err": error}),
            ),
        };
        let completion = Completion {
            job_id: job_id.to_string(),
            worker: worker.to_string(),
            attempt,
            status: match outcome {
                Outcome::Done => "Done",
                Outcome::Dead { .. } => "Killed",
                Outcome::Retry { .. } => "Pending",
            },
            result: result.to_string(),
            run_at: match outcome {
                Outcome::Retry { at, .. } => Some(*at),
                _ => None,
            },
            queue,
            kind: kind.to_string(),
            started_at,
            finished_at,
            outcome: label,
            error,
            due_at,
        };
        let updated = self.attempts.complete(&self.db, completion).await?;
        if !updated {
            tracing::warn!(
                job.id = job_id,
                worker,
                "lost the job while running it (declared dead?); its outcome is dropped"
            );
        } else if matches!(outcome, Outcome::Retry { .. }) {
            self.db.wake_hub().wake(queue);
        }
        Ok(())
    }
}

/// The shortest heartbeat or pause refresh period (a zero period would be a hot loop).
const MIN_PERIOD: Duration = Duration::from_millis(10);

fn queue_of(registry: &Registry, kind: &str) -> &'static str {
    registry
        .handlers
        .get(kind)
        .map(|(q, _)| *q)
        .unwrap_or("unknown")
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}
