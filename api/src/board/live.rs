//! Live updates: open board pages hold a server-sent event stream and reload their live
//! region when told that something changed. One task per process polls a cheap fingerprint
//! of the queue (see `zencall_queue::board::activity`) while at least one page listens, so a
//! hundred open pages cost the database what one does.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::watch;
use zencall_core::clock::Clock;
use zencall_core::store::Db;
use zencall_queue::board::activity;

use super::session::Board;
use crate::AppState;

/// The process's change feed for board pages.
#[derive(Debug)]
pub struct LiveFeed {
    /// The latest fingerprint; None until the poller has read one.
    fingerprint: watch::Sender<Option<u64>>,
    closed: watch::Sender<bool>,
    polling: Mutex<bool>,
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self {
            fingerprint: watch::channel(None).0,
            closed: watch::channel(false).0,
            polling: Mutex::new(false),
        }
    }
}

impl LiveFeed {
    /// Listens for changes, starting the poller if it is not running.
    fn subscribe(
        self: &Arc<Self>,
        db: Db,
        clock: Arc<dyn Clock>,
        period: Duration,
    ) -> (watch::Receiver<Option<u64>>, watch::Receiver<bool>) {
        let receivers = (self.fingerprint.subscribe(), self.closed.subscribe());
        let mut polling = self.polling.lock().unwrap_or_else(|p| p.into_inner());
        if !*polling {
            *polling = true;
            tokio::spawn(self.clone().poll(db, clock, period));
        }
        receivers
    }

    async fn poll(self: Arc<Self>, db: Db, clock: Arc<dyn Clock>, period: Duration) {
        loop {
            match activity::fingerprint(&db, clock.now()).await {
                Ok(now) => {
                    self.fingerprint.send_if_modified(|last| {
                        let changed = *last != Some(now);
                        *last = Some(now);
                        changed
                    });
                }
                Err(e) => tracing::warn!(error = %e, "board live updates: cannot read the queue"),
            }
            tokio::time::sleep(period).await;
            let mut polling = self.polling.lock().unwrap_or_else(|p| p.into_inner());
            if self.fingerprint.receiver_count() == 0 || *self.closed.borrow() {
                // The next listener starts from a fresh reading.
                self.fingerprint.send_replace(None);
                *polling = false;
                return;
            }
        }
    }

    /// Ends every open stream, so the server can shut down without waiting for them.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}

/// `GET /board/events`: an event `change` whenever the queue changed; the page reloads its
/// live region then.
pub async fn events(
    State(state): State<AppState>,
    _board: Board,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let period = Duration::from_millis(state.settings.board.refresh_ms);
    let (version, closed) = state
        .live
        .subscribe(state.db.clone(), state.clock.clone(), period);
    // `ready` once the feed has a reading to compare with, then `change` at every new one.
    let stream = futures::stream::unfold(
        (true, version, closed),
        |(first, mut version, mut closed)| async move {
            if first {
                let ready = tokio::select! {
                    found = version.wait_for(Option::is_some) => found.is_ok(),
                    _ = closed.wait_for(|c| *c) => false,
                };
                if !ready {
                    return None;
                }
                version.mark_unchanged();
                let event = Event::default().event("ready").data("listening");
                return Some((Ok(event), (false, version, closed)));
            }
            if *closed.borrow() {
                return None;
            }
            tokio::select! {
                changed = version.changed() => {
                    changed.ok()?;
                    Some((Ok(Event::default().event("change").data("queue")), (false, version, closed)))
                }
                _ = closed.changed() => None,
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
