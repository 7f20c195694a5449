//! Noop: does nothing. The queue benchmark and the scale-out test measure the queue itself with
//! it; it runs on the `bench` queue, which only a worker started with `--queues bench` serves.

use zencall_queue::Noop;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Succeeds at once.
pub async fn run(_ctx: &JobContext, _job: Noop, _run: JobRun) -> Result<(), JobError> {
    Ok(())
}
