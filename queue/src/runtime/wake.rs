//! Prompt pickup. An idle queue worker waits on a stream of wake-ups that fires at once when
//! a job is enqueued in this process (after commit), when the driver hears of jobs inserted
//! by another process (PostgreSQL's insert notifications), and on a fallback poll for jobs that become due later (scheduled runs and
//! retries).
//!
//! The hub also holds each queue's pause flag: while a queue is paused its streams do not
//! yield; when it is resumed the streams yield at once and the workers claim.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use futures::Stream;
use tokio::sync::watch;
use tokio::time::Instant;

/// In-process wake-ups, one counter per queue, and each queue's pause flag.
#[derive(Debug, Default)]
pub struct WakeHub {
    queues: Mutex<HashMap<String, Signals>>,
}

/// The channels of one queue.
#[derive(Debug, Clone)]
struct Signals {
    wake: watch::Sender<u64>,
    paused: watch::Sender<bool>,
}

impl WakeHub {
    fn signals(&self, queue: &str) -> Signals {
        let mut queues = self
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        queues
            .entry(queue.to_string())
            .or_insert_with(|| Signals {
                wake: watch::channel(0).0,
                paused: watch::channel(false).0,
            })
            .clone()
    }

    /// Wakes the idle workers of `queue` in this process.
    pub fn wake(&self, queue: &str) {
        self.signals(queue)
            .wake
            .send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Marks `queue` paused or not in this process. Resuming makes its streams yield at once.
    pub fn set_paused(&self, queue: &str, paused: bool) {
        self.signals(queue).paused.send_if_modified(|p| {
            let changed = *p != paused;
            *p = paused;
            changed
        });
    }

    /// Whether `queue` is paused, as this process last heard.
    pub fn is_paused(&self, queue: &str) -> bool {
        *self.signals(queue).paused.borrow()
    }

    /// The pause flag of `queue` in this process, to follow its changes.
    pub fn pause_flag(&self, queue: &str) -> watch::Receiver<bool> {
        let mut rx = self.signals(queue).paused.subscribe();
        rx.mark_unchanged();
        rx
    }

    /// A stream that yields whenever `queue` should be fetched again, and never while it is
    /// paused.
    pub fn stream(&self, queue: &str, poll_interval: Duration) -> WakeStream {
        let signals = self.signals(queue);
        let mut rx = signals.wake.subscribe();
        rx.mark_unchanged();
        let mut paused = signals.paused.subscribe();
        paused.mark_unchanged();
        let state = State {
            rx,
            paused,
            poll: poll_interval,
            rechecks: Vec::new(),
            next_poll: Instant::now() + poll_interval,
        };
        WakeStream {
            next: Box::pin(state.next()),
        }
    }
}

/// A fetch wake-up stream for one queue (see the module documentation).
///
/// A consumer may poll this stream only now and then (a queue worker polls it only while the
/// queue is dry or paused), so the stream re-arms itself before it yields: it is never deaf,
/// whatever its consumer does.
pub struct WakeStream {
    next: Pin<Box<dyn Future<Output = State> + Send>>,
}

impl Stream for WakeStream {
    type Item = ();
    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<()>> {
        use std::task::Poll;
        let Poll::Ready(mut state) = self.next.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        // Re-arm at once; events already due are folded into this one item.
        loop {
            let mut next = Box::pin(state.next());
            match next.as_mut().poll(cx) {
                Poll::Ready(later) => state = later,
                Poll::Pending => {
                    self.next = next;
                    return Poll::Ready(Some(()));
                }
            }
        }
    }
}

/// A fetch already in flight when a wake-up arrives may have read the table before the new
/// job was committed, and come back empty after the wake-up was used. Only such a fetch can
/// miss the job, and a worker runs one fetch at a time: any fetch started later sees it. So a
/// wake-up is followed by a few more fetches, spaced out, and a job waits for the fallback
/// poll only if that one fetch outlasts them all.
const RECHECKS: [Duration; 4] = [
    Duration::from_millis(50),
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

struct State {
    rx: watch::Receiver<u64>,
    paused: watch::Receiver<bool>,
    poll: Duration,
    /// Pending re-checks, soonest first.
    rechecks: Vec<Instant>,
    next_poll: Instant,
}

impl State {
    /// Waits for the next reason to fetch, and hands the state back. Nothing is a reason while
    /// the queue is paused; being resumed is one, followed by re-checks as for a wake-up.
    async fn next(mut self) -> State {
        loop {
            if *self.paused.borrow_and_update() {
                changed_or_pending(&mut self.paused).await;
                if !*self.paused.borrow() {
                    self.rx.mark_unchanged();
                    self.woken();
                    return self;
                }
                continue;
            }
            let recheck = self.rechecks.first().copied();
            tokio::select! {
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        // The hub is gone: keep polling on the fallback interval only.
                        tokio::time::sleep_until(self.next_poll).await;
                        self.next_poll = Instant::now() + self.poll;
                        return self;
                    }
                    self.rx.mark_unchanged();
                    self.woken();
                }
                _ = sleep_until_opt(recheck) => {
                    self.rechecks.remove(0);
                }
                _ = tokio::time::sleep_until(self.next_poll) => {
                    self.next_poll = Instant::now() + self.poll;
                }
                // Paused (or a repeated value): look again at the top of the loop.
                _ = changed_or_pending(&mut self.paused) => continue,
            }
            return self;
        }
    }

    fn woken(&mut self) {
        let now = Instant::now();
        self.rechecks = RECHECKS.iter().map(|d| now + *d).collect();
    }
}

/// Waits for a change of `rx`; never returns if its sender is gone.
async fn changed_or_pending(rx: &mut watch::Receiver<bool>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn a_wake_up_fires_at_once_then_rechecks() {
        let hub = WakeHub::default();
        let mut s = hub.stream("q", Duration::from_secs(60));
        hub.wake("q");
        let t0 = Instant::now();
        s.next().await;
        assert!(t0.elapsed() < Duration::from_millis(1));
        for recheck in RECHECKS {
            s.next().await;
            assert_eq!(t0.elapsed(), recheck);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_wake_ups_the_fallback_poll_fires() {
        let hub = WakeHub::default();
        let mut s = hub.stream("q", Duration::from_secs(2));
        let t0 = Instant::now();
        s.next().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn other_queues_do_not_wake_this_one() {
        let hub = WakeHub::default();
        let mut s = hub.stream("q", Duration::from_secs(5));
        hub.wake("other");
        let t0 = Instant::now();
        s.next().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_queue_does_not_yield_and_yields_at_once_when_resumed() {
        let hub = WakeHub::default();
        let mut s = hub.stream("q", Duration::from_secs(1));
        hub.set_paused("q", true);
        assert!(hub.is_paused("q"));
        hub.wake("q");
        let waited = tokio::time::timeout(Duration::from_secs(10), s.next()).await;
        assert!(
            waited.is_err(),
            "neither a wake-up nor the poll fetches a paused queue"
        );
        let t0 = Instant::now();
        hub.set_paused("q", false);
        s.next().await;
        assert!(t0.elapsed() < Duration::from_millis(1));
        assert!(!hub.is_paused("other"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_created_on_a_paused_queue_waits_for_the_resume() {
        let hub = WakeHub::default();
        hub.set_paused("q", true);
        let mut s = hub.stream("q", Duration::from_secs(1));
        let waited = tokio::time::timeout(Duration::from_secs(5), s.next()).await;
        assert!(waited.is_err());
        hub.set_paused("q", false);
        let t0 = Instant::now();
        s.next().await;
        assert!(t0.elapsed() < Duration::from_millis(1));
    }
}

#[cfg(test)]
mod rearm_tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_stream_wakes_its_consumer_again_even_if_it_is_not_polled_after_an_item() {
        let hub = WakeHub::default();
        let mut s = hub.stream("q", Duration::from_secs(3600));
        hub.wake("q");
        s.next().await;
        // Poll once more with a counting waker, as apalis does, and get the re-check.
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let _ = Pin::new(&mut s).poll_next(&mut cx);
        tokio::time::sleep(RECHECKS[0] + Duration::from_millis(1)).await;
        assert!(
            count.load_woken() >= 1,
            "the first re-check woke the consumer"
        );
        // Consume it, then do NOT poll again (as apalis may): the next re-check still wakes.
        let before = count.load_woken();
        assert!(Pin::new(&mut s).poll_next(&mut cx).is_ready());
        tokio::time::sleep(RECHECKS[1]).await;
        assert!(count.load_woken() > before, "re-armed before yielding");
    }

    trait Woken {
        fn load_woken(&self) -> usize;
    }
    impl Woken for Arc<Count> {
        fn load_woken(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }
}
