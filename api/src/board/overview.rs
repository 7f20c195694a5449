//! The board's front page: every queue with its jobs per state, its last hour (throughput,
//! pickup latency, failure rate, as charts), whether it is paused, and the retention.

use std::fmt::Write;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use zencall_core::jobs::QueueName;
use zencall_queue::board::admin::JobState;
use zencall_queue::board::stats::{self, MinuteStats, QueueOverview};
use zencall_queue::runtime::pauses;

use super::html::{self, Page, Section, esc};
use super::session::Board;
use crate::AppState;

/// `GET /board`
pub async fn show(State(state): State<AppState>, board: Board, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let known = QueueName::names();
    let (queues, paused) = match tokio::try_join!(
        stats::overview(&state.db, &known, now),
        pauses::list(&state.db)
    ) {
        Ok(found) => found,
        Err(e) => {
            return html::unavailable(Some(&board.session), "read the queue overview", &e);
        }
    };
    let mut live = String::new();
    live.push_str("<table class=\"queues\"><thead><tr><th>Queue</th>");
    for (_, name) in html::STATES {
        let _ = write!(live, "<th>{name}</th>");
    }
    live.push_str(
        "<th>Finished / min</th><th>Pickup p50 / p95</th><th>Failure rate</th><th>Last hour</th><th></th></tr></thead><tbody>",
    );
    for queue in &queues {
        let pause = paused.iter().find(|p| p.queue == queue.queue);
        let q = esc(&queue.queue);
        let _ = write!(
            live,
            "<tr data-queue=\"{q}\"><th scope=\"row\"><a href=\"/board/jobs?queue={}\">{q}</a>{}</th>",
            html::query_value(&queue.queue),
            if let Some(p) = pause {
                format!(
                    " <span class=\"badge paused\" title=\"paused by {} {}\">paused</span>",
                    esc(&p.paused_by),
                    p.paused_at.format("%Y-%m-%d %H:%M:%S UTC")
                )
            } else {
                String::new()
            }
        );
        for (state_kind, name) in html::STATES {
            let n = queue.counts.get(&state_kind).copied().unwrap_or(0);
            let class = if n > 0 && matches!(state_kind, JobState::Dead) {
                " class=\"alert\""
            } else {
                ""
            };
            let _ = write!(
                live,
                "<td{class}><a class=\"count\" data-state=\"{name}\" href=\"/board/jobs?queue={}&amp;state={name}\">{n}</a></td>",
                html::query_value(&queue.queue),
            );
        }
        let _ = write!(
            live,
            "<td>{:.1}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            queue.throughput_per_minute,
            html::millis(queue.pickup_p50_ms),
            html::millis(queue.pickup_p95_ms),
            html::percent(queue.failure_rate),
            chart(queue),
            if pause.is_some() {
                html::action_button(
                    &board.session,
                    &format!("/board/queues/{}/resume", queue.queue),
                    "Resume",
                    "resume",
                    None,
                )
            } else {
                html::action_button(
                    &board.session,
                    &format!("/board/queues/{}/pause", queue.queue),
                    "Pause",
                    "pause",
                    Some(&format!(
                        "Pause {}? Workers stop taking its jobs until it is resumed.",
                        queue.queue
                    )),
                )
            }
        );
    }
    live.push_str("</tbody></table>");
    live.push_str(
        "<p class=\"legend\"><span class=\"key done\"></span> finished <span class=\"key failed\"></span> failed \
         <span class=\"key pickup\"></span> pickup p50, per minute over the last hour. \
         Finished / min, pickup and failure rate are over the last hour.</p>",
    );
    let retention = &state.settings.scheduler;
    let _ = write!(
        live,
        "<p class=\"retention\">Retention: done jobs are deleted {} days after they finish, dead and \
         cancelled ones after {} days (<code>scheduler.retain_done_days</code>, \
         <code>scheduler.retain_dead_days</code>).</p>",
        retention.retain_done_days, retention.retain_dead_days
    );
    Page {
        title: "Queues".to_string(),
        section: Section::Overview,
        session: Some(&board.session),
        fixed: String::new(),
        live,
    }
    .respond(&headers)
}

const CHART_W: f64 = 180.0;
const CHART_H: f64 = 36.0;

/// The last hour of a queue as a small SVG: finished and failed attempts per minute as
/// stacked bars, and the median pickup latency per minute as a line on its own scale.
fn chart(queue: &QueueOverview) -> String {
    let minutes: &[MinuteStats] = &queue.minutes;
    if minutes.is_empty() {
        return String::new();
    }
    let most = minutes
        .iter()
        .map(|m| m.done + m.failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slowest = minutes
        .iter()
        .filter_map(|m| m.pickup_p50_ms)
        .fold(0.0_f64, f64::max);
    let bar = CHART_W / minutes.len() as f64;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {CHART_W} {CHART_H}\" width=\"{CHART_W}\" height=\"{CHART_H}\" role=\"img\" \
         aria-label=\"{}: {:.1} finished per minute over the last hour\">",
        esc(&queue.queue),
        queue.throughput_per_minute
    );
    for (i, m) in minutes.iter().enumerate() {
        let x = i as f64 * bar;
        let done_h = m.done as f64 / most * CHART_H;
        let failed_h = m.failed as f64 / most * CHART_H;
        if m.done > 0 {
            let _ = write!(
                svg,
                "<rect class=\"done\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{done_h:.1}\"><title>{}: {} finished</title></rect>",
                CHART_H - done_h,
                (bar - 0.5).max(0.5),
                m.minute.format("%H:%M"),
                m.done
            );
        }
        if m.failed > 0 {
            let _ = write!(
                svg,
                "<rect class=\"failed\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{failed_h:.1}\"><title>{}: {} failed</title></rect>",
                CHART_H - done_h - failed_h,
                (bar - 0.5).max(0.5),
                m.minute.format("%H:%M"),
                m.failed
            );
        }
    }
    if slowest > 0.0 {
        let points: Vec<String> = minutes
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                m.pickup_p50_ms.map(|ms| {
                    format!(
                        "{:.1},{:.1}",
                        i as f64 * bar + bar / 2.0,
                        CHART_H - ms / slowest * (CHART_H - 2.0) - 1.0
                    )
                })
            })
            .collect();
        let _ = write!(
            svg,
            "<polyline class=\"pickup\" points=\"{}\"><title>pickup p50, at most {}</title></polyline>",
            points.join(" "),
            html::millis(Some(slowest))
        );
    }
    svg.push_str("</svg>");
    svg
}
