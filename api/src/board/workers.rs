//! The worker replicas: where each runs, what it serves, how busy it is, and whether it is
//! still alive (its heartbeat) or stopped.

use std::fmt::Write;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use zencall_queue::runtime::replicas::{self, ReplicaStatus};

use super::html::{self, Page, Section, esc};
use super::session::Board;
use crate::AppState;

/// `GET /board/workers`
pub async fn show(State(state): State<AppState>, board: Board, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let found = match replicas::list(&state.db, now).await {
        Ok(found) => found,
        Err(e) => return html::unavailable(Some(&board.session), "list worker replicas", &e),
    };
    let mut live = String::new();
    if found.is_empty() {
        live.push_str("<p class=\"empty\">No worker replica has started yet.</p>");
    } else {
        live.push_str(
            "<table class=\"workers\"><thead><tr><th>Replica</th><th>Status</th><th>Host</th><th>PID</th>\
             <th>Queues</th><th>Concurrency</th><th>In flight</th><th>Started</th><th>Last heartbeat</th></tr></thead><tbody>",
        );
        for r in &found {
            let status = match r.status {
                ReplicaStatus::Alive => "alive",
                ReplicaStatus::Dead => "dead",
                ReplicaStatus::Stopped => "stopped",
            };
            let _ = write!(
                live,
                "<tr data-replica=\"{}\" data-status=\"{status}\"><td><code>{}</code></td><td><span class=\"badge replica-{status}\">{status}</span></td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.name),
                esc(&r.name),
                esc(&r.host),
                r.pid,
                esc(&r.queues.join(", ")),
                r.concurrency,
                r.in_flight,
                html::time_ago(r.started_at, now),
                match r.stopped_at {
                    Some(stopped) => format!("stopped {}", html::time_ago(stopped, now)),
                    None => html::time_ago(r.heartbeat_at, now),
                }
            );
        }
        live.push_str("</tbody></table>");
    }
    Page {
        title: "Workers".to_string(),
        section: Section::Workers,
        session: Some(&board.session),
        fixed: String::new(),
        live,
    }
    .respond(&headers)
}
