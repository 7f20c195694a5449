//! Pausing and resuming a queue from the board: every worker replica stops taking its jobs
//! (those already running finish), then takes them again.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use zencall_core::jobs::QueueName;
use zencall_queue::runtime::pauses;

use super::html;
use super::session::{Board, CsrfForm};
use crate::AppState;

/// `POST /board/queues/{queue}/{pause|resume}`
pub async fn set_paused(
    State(state): State<AppState>,
    board: Board,
    headers: HeaderMap,
    Path((queue, change)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = board.check(&headers, &form.csrf) {
        return *refused;
    }
    let Some(queue) = QueueName::parse(&queue) else {
        return html::error_page(
            StatusCode::NOT_FOUND,
            Some(&board.session),
            &format!("queue: there is no queue {queue:?}"),
        );
    };
    let changed = match change.as_str() {
        "pause" => {
            pauses::pause(&state.db, queue.as_str(), &board.actor(), state.clock.now()).await
        }
        "resume" => pauses::resume(&state.db, queue.as_str()).await,
        other => {
            return html::error_page(
                StatusCode::NOT_FOUND,
                Some(&board.session),
                &format!("{other:?}: a queue can only be paused or resumed"),
            );
        }
    };
    match changed {
        Ok(changed) => {
            if changed {
                tracing::info!(queue = queue.as_str(), change = %change, by = %board.actor(), "queue changed from the board");
            }
            Redirect::to("/board").into_response()
        }
        Err(e) => html::unavailable(Some(&board.session), "pause or resume a queue", &e),
    }
}
