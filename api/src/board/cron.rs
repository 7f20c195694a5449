//! The cron table: each schedule with the job it enqueues, its last run and its next one.

use std::fmt::Write;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use zencall_core::jobs::cron::cron_table_for;
use zencall_queue::runtime::cron;

use super::html::{self, Page, Section, esc};
use super::session::Board;
use crate::AppState;

/// `GET /board/cron`
pub async fn show(State(state): State<AppState>, board: Board, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let table = match cron::status(&state.db, &cron_table_for(&state.settings.scheduler), now).await
    {
        Ok(table) => table,
        Err(e) => return html::unavailable(Some(&board.session), "read the cron table", &e),
    };
    let mut live = String::from(
        "<table class=\"cron\"><thead><tr><th>Schedule</th><th>When (UTC, with seconds)</th><th>Enqueues</th>\
         <th>Last run</th><th>Next run</th></tr></thead><tbody>",
    );
    for entry in &table {
        let last = match (&entry.last_tick, &entry.last_job_id) {
            (Some(tick), Some(job)) => format!(
                "{} (<a href=\"/board/jobs/{}\">job</a>)",
                html::time_ago(*tick, now),
                esc(job)
            ),
            (Some(tick), None) => html::time_ago(*tick, now),
            _ => "never".to_string(),
        };
        let _ = write!(
            live,
            "<tr data-cron=\"{}\"><td>{}</td><td><code>{}</code></td><td>{} on <a href=\"/board/jobs?queue={}\">{}</a></td><td>{last}</td><td>{}</td></tr>",
            esc(&entry.name),
            esc(&entry.name),
            esc(&entry.schedule),
            esc(&entry.kind),
            html::query_value(&entry.queue),
            esc(&entry.queue),
            entry
                .next_tick
                .map(|t| html::time_ago(t, now))
                .unwrap_or_else(|| "never".to_string())
        );
    }
    live.push_str("</tbody></table><p class=\"hint\">Every scheduler replica fires each tick; its job is enqueued once.</p>");
    Page {
        title: "Cron".to_string(),
        section: Section::Cron,
        session: Some(&board.session),
        fixed: String::new(),
        live,
    }
    .respond(&headers)
}
