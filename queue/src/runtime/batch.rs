//! Group commit for the queue's hot path: the outcomes of many attempts finishing at once
//! share one statement. Each caller sends its request and waits for its own answer; a background
//! task takes every request waiting (at once when the queue is idle, so a lone job waits for
//! no timer) and runs them as one batch. Under load the next batch gathers while the current
//! statement runs, so the number of statements per job falls as the load rises.

use std::future::Future;

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::db::StoreError;

/// Requests one statement takes at most.
pub const MAX_BATCH: usize = 512;

type Waiting<Req, Resp> = (Req, oneshot::Sender<Result<Resp, String>>);

/// Runs one flush and checks it answered every request.
async fn run<Req, Resp, F, Fut>(flush: &F, requests: Vec<Req>) -> Result<Vec<Resp>, String>
where
    F: Fn(Vec<Req>) -> Fut,
    Fut: Future<Output = Result<Vec<Resp>, String>>,
{
    let expected = requests.len();
    let answers = flush(requests).await?;
    if answers.len() == expected {
        Ok(answers)
    } else {
        Err(format!(
            "a batch of {expected} requests got {} answers",
            answers.len()
        ))
    }
}

/// Runs requests in batches through one flush function.
pub struct Batcher<Req, Resp> {
    sender: mpsc::UnboundedSender<Waiting<Req, Resp>>,
}

impl<Req: Clone + Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts the background task with up to `in_flight` batches written at once (while one
    /// commits, the next one runs; 1 where writers only queue for one lock, as on SQLite).
    /// `flush` answers a batch, one answer per request in order, or one error for all of them. When a batch of several fails, each of its requests is
    /// tried alone, so one bad request (a value the database refuses) fails only itself.
    /// The task ends when the batcher is dropped.
    pub fn start<F, Fut>(in_flight: usize, flush: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Resp>, String>> + Send,
    {
        let (sender, mut receiver) = mpsc::unbounded_channel::<Waiting<Req, Resp>>();
        let flush = Arc::new(flush);
        let in_flight = Arc::new(Semaphore::new(in_flight.max(1)));
        tokio::spawn(async move {
            // Wait for a free flush first: requests keep gathering while every flush is busy.
            while let Ok(permit) = in_flight.clone().acquire_owned().await {
                let Some(first) = receiver.recv().await else {
                    break;
                };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let flush = flush.clone();
                tokio::spawn(async move {
                    let (requests, waiters): (Vec<Req>, Vec<_>) = batch.into_iter().unzip();
                    let answers = match run(&*flush, requests.clone()).await {
                        Err(_) if requests.len() > 1 => {
                            let mut answers = Vec::with_capacity(requests.len());
                            for request in requests {
                                answers.push(run(&*flush, vec![request]).await.and_then(
                                    |mut one| one.pop().ok_or_else(|| "no answer".to_string()),
                                ));
                            }
                            answers
                        }
                        Err(error) => vec![Err(error)],
                        Ok(answers) => answers.into_iter().map(Ok).collect(),
                    };
                    drop(permit);
                    for (answer, waiter) in answers.into_iter().zip(waiters) {
                        let _ = waiter.send(answer);
                    }
                });
            }
        });
        Self { sender }
    }

    /// Sends `request` with the next batch and waits for its answer.
    pub async fn call(&self, request: Req) -> Result<Resp, StoreError> {
        let (answer, wait) = oneshot::channel();
        self.sender
            .send((request, answer))
            .map_err(|_| StoreError::Corrupt("the queue's batch writer has stopped".into()))?;
        match wait.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(StoreError::Database(sqlx::Error::Protocol(error))),
            Err(_) => Err(StoreError::Corrupt(
                "the queue's batch writer dropped a request".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_requests_share_batches_and_each_gets_its_own_answer() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let counted = flushes.clone();
        let batcher = Arc::new(Batcher::start(2, move |requests: Vec<u32>| {
            counted.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                Ok(requests.into_iter().map(|r| r * 2).collect())
            }
        }));
        let calls: Vec<_> = (0..200u32)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (i, batcher.call(i).await.unwrap()) })
            })
            .collect();
        for call in calls {
            let (i, answer) = call.await.unwrap();
            assert_eq!(answer, i * 2);
        }
        assert!(flushes.load(Ordering::Relaxed) < 200);
    }

    #[tokio::test]
    async fn a_bad_request_fails_alone_and_the_rest_of_its_batch_is_answered() {
        let batcher = Arc::new(Batcher::start(2, |requests: Vec<u32>| async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            if requests.contains(&13) {
                Err("13 is refused".to_string())
            } else {
                Ok(requests)
            }
        }));
        let calls: Vec<_> = (0..40u32)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (i, batcher.call(i).await) })
            })
            .collect();
        for call in calls {
            let (i, answer) = call.await.unwrap();
            if i == 13 {
                assert!(answer.unwrap_err().to_string().contains("refused"));
            } else {
                assert_eq!(answer.unwrap(), i);
            }
        }
    }

    #[tokio::test]
    async fn a_failed_flush_fails_every_request_of_its_batch() {
        let batcher = Batcher::start(1, |_: Vec<u32>| async {
            Err::<Vec<u32>, _>("refused".into())
        });
        let error = batcher.call(1).await.unwrap_err();
        assert!(error.to_string().contains("refused"), "{error}");
        let short = Batcher::start(1, |_: Vec<u32>| async { Ok(Vec::<u32>::new()) });
        assert!(short.call(1).await.is_err());
    }
}
