//! Stopping on SIGTERM (orchestrators) and Ctrl-C (people).

use std::future::Future;

/// Registers the handlers now, so a signal that comes before the returned future is first
/// polled is not lost (nor left to its default action, which ends the process at once).
/// The future resolves on the first SIGTERM or Ctrl-C.
pub fn terminate() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
