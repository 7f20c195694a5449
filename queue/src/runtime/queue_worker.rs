//! One queue served by one replica: a feeder claims due jobs in batches and a fixed set of
//! slots runs them.
//!
//! The feeder keeps up to `concurrency + prefetch` jobs claimed (running or waiting in a small
//! in-memory buffer). It claims again, in one statement, as soon as the buffer is empty or at
//! least half the prefetch is free, so under load each claim brings several jobs and a slot
//! that finishes finds its next job already claimed. When a claim comes back short the queue
//! is dry: the feeder then waits for a wake-up (a new job, a resume, the fallback poll) rather
//! than asking again after every finished job.
//!
//! Jobs claimed but not started are given back (pending again, attempts unchanged) when the
//! queue is paused and when the replica stops; a slot about to start a job of a paused queue
//! gives it back too.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{Notify, Semaphore, watch};

use super::claims::{self, ClaimedJob};
use super::runner::Runner;

/// One queue's feeder and slots in this replica.
pub(super) struct QueueWorker {
    runner: Runner,
    queue: &'static str,
    /// The name its jobs are locked with: `{replica}-{queue}`.
    name: String,
    concurrency: usize,
    prefetch: usize,
    /// Claimed jobs no slot has started yet, in the order they should run.
    buffer: Mutex<VecDeque<ClaimedJob>>,
    /// Jobs claimed and not finished: buffered or running.
    held: AtomicUsize,
    /// Jobs were added to the buffer.
    available: Notify,
    /// A slot finished a job.
    finished: Notify,
    /// Ids that could not be given back yet (the database refused); retried by the feeder.
    unreturned: Mutex<Vec<String>>,
    /// One permit per outcome being written in the background; bounds them, and lets a
    /// stopping worker wait until every outcome is written.
    recording: Arc<Semaphore>,
}

/// Outcomes one queue worker writes in the background at most; a slot waits for room.
const MAX_RECORDING: u32 = 1024;

/// The longest wait between two tries after the database refused a claim.
const MAX_CLAIM_BACKOFF: Duration = Duration::from_secs(5);

impl QueueWorker {
    /// A worker of `queue` for `runner`'s replica.
    pub(super) fn new(
        runner: Runner,
        queue: &'static str,
        concurrency: usize,
        prefetch: usize,
    ) -> Self {
        Self {
            name: format!("{}-{}", runner.replica(), queue),
            runner,
            queue,
            concurrency: concurrency.max(1),
            prefetch,
            buffer: Mutex::new(VecDeque::new()),
            held: AtomicUsize::new(0),
            available: Notify::new(),
            finished: Notify::new(),
            unreturned: Mutex::new(Vec::new()),
            recording: Arc::new(Semaphore::new(MAX_RECORDING as usize)),
        }
    }

    /// The name its jobs are locked with.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Serves the queue until `stop` turns true, then gives back the jobs it claimed but did
    /// not start, waits for its slots to finish the jobs they run and for their outcomes to be
    /// written.
    pub(super) async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let slots: Vec<_> = (0..self.concurrency)
            .map(|_| tokio::spawn(self.clone().slot(stop.clone())))
            .collect();
        self.feed(stop).await;
        self.give_back_buffer("the replica is stopping").await;
        for slot in slots {
            if let Err(e) = slot.await {
                tracing::error!(queue = self.queue, error = %e, "a worker slot failed");
            }
        }
        let _ = self.recording.acquire_many(MAX_RECORDING).await;
    }

    /// Runs buffered jobs one after another until stopped.
    async fn slot(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let notified = self.available.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if *stop.borrow() {
                return;
            }
            let next = self.lock_buffer().pop_front();
            match next {
                Some(job) => {
                    self.run_one(job).await;
                    self.held.fetch_sub(1, Ordering::SeqCst);
                    self.finished.notify_one();
                }
                None => {
                    tokio::select! {
                        _ = &mut notified => {}
                        changed = stop.changed() => if changed.is_err() { return },
                    }
                }
            }
        }
    }

    async fn run_one(&self, job: ClaimedJob) {
        let db = self.runner.db();
        if db.wake_hub().is_paused(self.queue) {
            self.give_back(vec![job.id], "the queue is paused").await;
            return;
        }
        // Room for the outcome first: a job runs only when its outcome can be written.
        let Ok(permit) = self.recording.clone().acquire_owned().await else {
            return;
        };
        let record = self.runner.execute(job, &self.name).await;
        tokio::spawn(async move {
            record.await;
            drop(permit);
        });
    }

    /// Claims jobs whenever there is room and the queue is not dry, until stopped.
    async fn feed(&self, mut stop: watch::Receiver<bool>) {
        let hub = self.runner.db().wake_hub().clone();
        let queue = self.queue;
        let mut wake = hub.stream(queue, self.runner.settings().poll_interval);
        let mut pause_flag = hub.pause_flag(queue);
        let capacity = self.concurrency + self.prefetch;
        let refill_at = (self.prefetch / 2).max(1);
        let mut dry = false;
        let mut failures: u32 = 0;
        loop {
            if *stop.borrow() {
                return;
            }
            let paused = hub.is_paused(queue);
            if paused {
                self.give_back_buffer("the queue is paused").await;
            }
            self.retry_unreturned().await;
            let free = capacity.saturating_sub(self.held.load(Ordering::SeqCst));
            let buffered = self.lock_buffer().len();
            if !paused && !dry && free > 0 && (buffered == 0 || free >= refill_at) {
                match claims::claim(self.runner.db(), queue, &self.name, free).await {
                    Ok(jobs) => {
                        failures = 0;
                        dry = jobs.len() < free;
                        if !jobs.is_empty() {
                            self.held.fetch_add(jobs.len(), Ordering::SeqCst);
                            self.lock_buffer().extend(jobs);
                            self.available.notify_waiters();
                        }
                        if !dry {
                            continue;
                        }
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        let delay = Duration::from_millis(50)
                            .saturating_mul(1 << failures.min(8))
                            .min(MAX_CLAIM_BACKOFF);
                        tracing::warn!(queue, error = %e, retry_in_ms = delay.as_millis() as u64, "cannot claim jobs");
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            changed = stop.changed() => if changed.is_err() { return },
                        }
                        continue;
                    }
                }
            }
            let unreturned = !self.lock_unreturned().is_empty();
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { return },
                _ = self.finished.notified() => {}
                _ = wake.next(), if dry || paused => dry = false,
                changed = pause_flag.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    dry = false;
                }
                _ = tokio::time::sleep(Duration::from_secs(1)), if unreturned => {}
            }
        }
    }

    /// Gives back every buffered job.
    async fn give_back_buffer(&self, why: &str) {
        let ids: Vec<String> = self.lock_buffer().drain(..).map(|j| j.id).collect();
        if !ids.is_empty() {
            self.held.fetch_sub(ids.len(), Ordering::SeqCst);
            self.give_back(ids, why).await;
        }
    }

    /// Gives back jobs this worker claimed but will not start; what the database refuses is
    /// kept and tried again.
    async fn give_back(&self, ids: Vec<String>, why: &str) {
        let queue = self.queue;
        match claims::put_back(self.runner.db(), &self.name, &ids).await {
            Ok(0) => {}
            Ok(given_back) => tracing::info!(queue, given_back, why, "claimed jobs given back"),
            Err(e) => {
                tracing::warn!(queue, error = %e, why, "cannot give back claimed jobs; trying again");
                self.lock_unreturned().extend(ids);
            }
        }
    }

    async fn retry_unreturned(&self) {
        let ids = std::mem::take(&mut *self.lock_unreturned());
        if !ids.is_empty() {
            self.give_back(ids, "an earlier try failed").await;
        }
    }

    fn lock_buffer(&self) -> std::sync::MutexGuard<'_, VecDeque<ClaimedJob>> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_unreturned(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.unreturned.lock().unwrap_or_else(|p| p.into_inner())
    }
}
