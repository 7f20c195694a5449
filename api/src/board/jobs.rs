//! Jobs on the board: the filtered list, one job's detail, and the actions on one job or on
//! every job a filter matches.

use std::fmt::Write;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use zencall_core::jobs::QueueName;
use zencall_queue::board::actions::{self, ActionOutcome, JobAction};
use zencall_queue::board::admin::{self, JobState};
use zencall_queue::board::search::{self, JobFilter};

use super::html::{self, Page, Section, esc};
use super::session::Board;
use crate::AppState;

/// The filter as the list's form and links carry it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FilterQuery {
    /// Queue name.
    #[serde(default)]
    pub queue: Option<String>,
    /// State name.
    #[serde(default)]
    pub state: Option<String>,
    /// Job kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Organisation id.
    #[serde(default)]
    pub org: Option<String>,
    /// Text in the arguments.
    #[serde(default)]
    pub q: Option<String>,
    /// Enqueued at or after (UTC).
    #[serde(default)]
    pub from: Option<String>,
    /// Enqueued before (UTC).
    #[serde(default)]
    pub to: Option<String>,
}

/// The list's query: a filter, a page, and what the last action did.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// The filter.
    #[serde(flatten)]
    pub filter: FilterQuery,
    /// Only jobs older than this id (the next page).
    #[serde(default)]
    pub before: Option<String>,
    /// The last bulk action, to report.
    #[serde(default)]
    pub done: Option<String>,
    /// How many jobs it changed.
    #[serde(default)]
    pub count: Option<u64>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Reads a time of the filter: RFC 3339, or a form's `datetime-local` value taken as UTC.
fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(at.and_utc());
        }
    }
    Err(format!(
        "{field}: {text:?} is not a time (use YYYY-MM-DDTHH:MM, in UTC)"
    ))
}

impl FilterQuery {
    /// The filter, or a message naming the field that is wrong.
    pub fn to_filter(&self) -> Result<JobFilter, String> {
        let queue = given(&self.queue)
            .map(|q| {
                QueueName::parse(q)
                    .map(|q| q.as_str().to_string())
                    .ok_or_else(|| format!("queue: there is no queue {q:?}"))
            })
            .transpose()?;
        let state = given(&self.state)
            .map(|s| html::parse_state(s).ok_or_else(|| format!("state: there is no state {s:?}")))
            .transpose()?;
        let enqueued_after = given(&self.from)
            .map(|t| parse_time("from", t))
            .transpose()?;
        let enqueued_before = given(&self.to).map(|t| parse_time("to", t)).transpose()?;
        if let (Some(a), Some(b)) = (enqueued_after, enqueued_before)
            && a >= b
        {
            return Err("to: must be later than from".to_string());
        }
        let bounded = |field: &str, value: &Option<String>| -> Result<Option<String>, String> {
            match given(value) {
                Some(v) if v.chars().count() > 200 => {
                    Err(format!("{field}: at most 200 characters"))
                }
                other => Ok(other.map(str::to_string)),
            }
        };
        Ok(JobFilter {
            queue,
            state,
            kind: bounded("kind", &self.kind)?,
            org_id: bounded("org", &self.org)?,
            text: bounded("q", &self.q)?,
            enqueued_after,
            enqueued_before,
        })
    }

    /// The fields given, by their names in the query.
    fn given_fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("queue", &self.queue),
            ("state", &self.state),
            ("kind", &self.kind),
            ("org", &self.org),
            ("q", &self.q),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter_map(|(name, value)| given(value).map(|v| (name, v)))
    }

    /// True when no field narrows the list.
    fn is_empty(&self) -> bool {
        self.given_fields().next().is_none()
    }

    /// The filter as a query string (without the leading `?`).
    fn to_query(&self) -> String {
        self.given_fields()
            .map(|(k, v)| format!("{k}={}", html::query_value(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The filter as hidden form fields, for the bulk actions.
    fn hidden_fields(&self) -> String {
        self.given_fields()
            .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
            .collect()
    }
}

fn filter_form(query: &FilterQuery) -> String {
    let value = |v: &Option<String>| esc(given(v).unwrap_or(""));
    let mut queues = String::from("<option value=\"\">every queue</option>");
    for q in QueueName::ALL.into_iter().chain([QueueName::Bench]) {
        let selected = if given(&query.queue) == Some(q.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(queues, "<option{selected}>{}</option>", q.as_str());
    }
    let mut states = String::from("<option value=\"\">every state</option>");
    for (_, name) in html::STATES {
        let selected = if given(&query.state) == Some(name) {
            " selected"
        } else {
            ""
        };
        let _ = write!(states, "<option{selected}>{name}</option>");
    }
    format!(
        "<form class=\"filters\" method=\"get\" action=\"/board/jobs\">\
         <label>Queue <select name=\"queue\">{queues}</select></label>\
         <label>State <select name=\"state\">{states}</select></label>\
         <label>Kind <input name=\"kind\" value=\"{}\" placeholder=\"DialContact\"></label>\
         <label>Organisation <input name=\"org\" value=\"{}\" placeholder=\"org_...\"></label>\
         <label>Text in arguments <input name=\"q\" type=\"search\" value=\"{}\"></label>\
         <label>Enqueued from (UTC) <input name=\"from\" type=\"datetime-local\" value=\"{}\"></label>\
         <label>to <input name=\"to\" type=\"datetime-local\" value=\"{}\"></label>\
         <button type=\"submit\">Filter</button> <a href=\"/board/jobs\">Clear</a></form>",
        value(&query.kind),
        value(&query.org),
        value(&query.q),
        value(&query.from),
        value(&query.to),
    )
}

fn bulk_form(board: &Board, query: &FilterQuery) -> String {
    if query.is_empty() {
        return "<p class=\"hint\">Choose a filter to act on every job it matches.</p>".to_string();
    }
    let mut out = format!(
        "<form class=\"bulk\" method=\"post\" action=\"/board/jobs/bulk\" \
         data-confirm=\"Apply this action to every job matching the filter, on every page?\">{}{}\
         <span>Every job matching this filter:</span>",
        html::csrf_field(&board.session),
        query.hidden_fields()
    );
    for (action, label) in [
        (JobAction::Retry, "Retry all"),
        (JobAction::Cancel, "Cancel all"),
        (JobAction::Discard, "Discard all"),
    ] {
        let _ = write!(
            out,
            " <button type=\"submit\" name=\"action\" value=\"{}\" class=\"{}\">{label}</button>",
            action.as_str(),
            action.as_str()
        );
    }
    out.push_str("</form>");
    out
}

fn notice(query: &ListQuery) -> String {
    let (Some(done), Some(count)) = (query.done.as_deref(), query.count) else {
        return String::new();
    };
    let verb = match JobAction::parse(done) {
        Some(JobAction::Retry) => "retried",
        Some(JobAction::Cancel) => "cancelled",
        Some(JobAction::Discard) => "discarded",
        None => return String::new(),
    };
    let jobs = if count == 1 { "job" } else { "jobs" };
    format!("<p class=\"notice\" role=\"status\">{count} {jobs} {verb}.</p>")
}

/// `GET /board/jobs`
pub async fn list(
    State(state): State<AppState>,
    board: Board,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let now = state.clock.now();
    let fixed = format!(
        "{}{}{}",
        notice(&query),
        filter_form(&query.filter),
        bulk_form(&board, &query.filter)
    );
    let filter = match query.filter.to_filter() {
        Ok(filter) => filter,
        Err(message) => {
            let page = Page {
                title: "Jobs".to_string(),
                section: Section::Jobs,
                session: Some(&board.session),
                fixed,
                live: format!("<p class=\"error\" role=\"alert\">{}</p>", esc(&message)),
            };
            let mut response = page.respond(&headers);
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
    };
    let page_size = state.settings.board.page_size;
    let before = given(&query.before);
    let mut jobs = match search::list(&state.db, &filter, before, page_size + 1, now).await {
        Ok(jobs) => jobs,
        Err(e) => return html::unavailable(Some(&board.session), "list jobs", &e),
    };
    let more = jobs.len() > page_size as usize;
    jobs.truncate(page_size as usize);
    let mut live = String::new();
    if jobs.is_empty() {
        live.push_str("<p class=\"empty\">No job matches.</p>");
    } else {
        live.push_str(
            "<table class=\"jobs\"><thead><tr><th>Job</th><th>Queue</th><th>Kind</th><th>Organisation</th>\
             <th>State</th><th>Attempts</th><th>Enqueued</th><th>Runs / ran</th><th>Arguments</th><th>Last error</th></tr></thead><tbody>",
        );
        for job in &jobs {
            let when = match (job.state, job.done_at) {
                (_, Some(done)) => html::time_ago(done, now),
                _ => html::time_ago(job.run_at, now),
            };
            let _ = write!(
                live,
                "<tr data-job=\"{id}\"><td><a href=\"/board/jobs/{id}\"><code>{id}</code></a></td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}/{}</td><td>{}</td><td>{when}</td><td><code class=\"args\">{}</code></td><td class=\"error-text\">{}</td></tr>",
                esc(&job.queue),
                esc(&job.kind),
                esc(job.org_id.as_deref().unwrap_or("–")),
                html::state_badge(job.state),
                job.attempts,
                job.max_attempts,
                html::time_ago(job.enqueued_at, now),
                esc(&job.args_preview),
                esc(&short(job.last_error.as_deref().unwrap_or(""), 120)),
                id = esc(&job.id),
            );
        }
        live.push_str("</tbody></table>");
    }
    let filter_query = query.filter.to_query();
    let sep = if filter_query.is_empty() { "" } else { "&amp;" };
    live.push_str("<nav class=\"pages\">");
    if before.is_some() {
        let _ = write!(
            live,
            "<a href=\"/board/jobs?{}\">⟵ Newest</a>",
            esc(&filter_query)
        );
    }
    if more && let Some(last) = jobs.last() {
        let _ = write!(
            live,
            " <a rel=\"next\" href=\"/board/jobs?{}{sep}before={}\">Older ⟶</a>",
            esc(&filter_query),
            html::query_value(&last.id)
        );
    }
    live.push_str("</nav>");
    Page {
        title: "Jobs".to_string(),
        section: Section::Jobs,
        session: Some(&board.session),
        fixed,
        live,
    }
    .respond(&headers)
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// `GET /board/jobs/{id}`
pub async fn detail(
    State(state): State<AppState>,
    board: Board,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let now = state.clock.now();
    let found = tokio::try_join!(admin::find(&state.db, &id), admin::attempts(&state.db, &id));
    let (job, attempts) = match found {
        Ok((Some(job), attempts)) => (job, attempts),
        Ok((None, _)) => {
            return html::error_page(
                StatusCode::NOT_FOUND,
                Some(&board.session),
                &format!("Job {id} not found: it never existed, or it was discarded or pruned."),
            );
        }
        Err(e) => return html::unavailable(Some(&board.session), "read a job", &e),
    };
    let mut live = String::new();
    let _ = write!(
        live,
        "<section class=\"job\" data-job=\"{}\"><p>{} <strong>{}</strong> on queue <a href=\"/board/jobs?queue={}\">{}</a></p><div class=\"actions\">",
        esc(&job.id),
        html::state_badge(job.state),
        esc(&job.kind),
        html::query_value(&job.queue),
        esc(&job.queue)
    );
    for (action, label, confirm) in [
        (JobAction::Retry, "Retry now", None),
        (
            JobAction::Cancel,
            "Cancel",
            Some("Cancel this job? It will not run."),
        ),
        (
            JobAction::Discard,
            "Discard",
            Some("Discard this job? It is deleted with its history."),
        ),
    ] {
        if action.allowed_from(job.state) {
            live.push_str(&html::action_button(
                &board.session,
                &format!("/board/jobs/{}/{}", job.id, action.as_str()),
                label,
                action.as_str(),
                confirm,
            ));
        }
    }
    live.push_str("</div><dl class=\"fields\">");
    let mut field = |name: &str, value: String| {
        let _ = write!(live, "<dt>{name}</dt><dd>{value}</dd>");
    };
    field("Id", format!("<code>{}</code>", esc(&job.id)));
    field(
        "Organisation",
        job.org_id
            .as_deref()
            .map(|o| {
                format!(
                    "<a href=\"/board/jobs?org={}\">{}</a>",
                    html::query_value(o),
                    esc(o)
                )
            })
            .unwrap_or_else(|| "–".to_string()),
    );
    field(
        "Attempts",
        format!("{} of {}", job.attempts, job.max_attempts),
    );
    field("Enqueued", html::time_ago(job.enqueued_at, now));
    field("Runs at", html::time_ago(job.run_at, now));
    field("Worker", esc(job.worker.as_deref().unwrap_or("–")));
    if let Some(done) = job.done_at {
        field("Finished", html::time_ago(done, now));
    }
    if let Some(error) = &job.last_error {
        field(
            "Last error",
            format!("<span class=\"error-text\">{}</span>", esc(error)),
        );
    }
    live.push_str("</dl><h2>Arguments</h2>");
    let args = serde_json::to_string_pretty(&job.args).unwrap_or_default();
    let _ = write!(live, "<pre class=\"args\">{}</pre>", esc(&args));
    live.push_str("<h2>Timeline</h2><ol class=\"timeline\">");
    let _ = write!(live, "<li>{} enqueued</li>", html::time(job.enqueued_at));
    for a in &attempts {
        let pickup = a
            .due_at
            .map(|due| {
                format!(
                    ", picked up {} after it was due",
                    html::duration_text(a.started_at - due)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            live,
            "<li class=\"outcome-{}\">{} attempt {} started on <code>{}</code>{pickup}; {} after {}{}</li>",
            esc(&a.outcome),
            html::time(a.started_at),
            a.attempt,
            esc(&a.worker),
            esc(&a.outcome),
            html::duration_text(a.finished_at - a.started_at),
            a.error
                .as_deref()
                .map(|e| format!(": <span class=\"error-text\">{}</span>", esc(e)))
                .unwrap_or_default()
        );
    }
    let last = match job.state {
        JobState::Scheduled | JobState::Pending | JobState::Retrying => {
            format!("<li>{} next attempt due</li>", html::time(job.run_at))
        }
        JobState::Running => format!(
            "<li>{} running on <code>{}</code></li>",
            job.lock_at.map(html::time).unwrap_or_default(),
            esc(job.worker.as_deref().unwrap_or("?"))
        ),
        JobState::Dead | JobState::Cancelled | JobState::Done => format!(
            "<li>{} {}</li>",
            job.done_at.map(html::time).unwrap_or_default(),
            html::state_name(job.state)
        ),
    };
    live.push_str(&last);
    live.push_str("</ol></section>");
    Page {
        title: format!("Job {}", job.id),
        section: Section::Jobs,
        session: Some(&board.session),
        fixed: String::new(),
        live,
    }
    .respond(&headers)
}

/// A form that changes jobs.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    /// The session's CSRF token.
    #[serde(default)]
    csrf: String,
    /// For bulk actions: which.
    #[serde(default)]
    action: Option<String>,
    /// For bulk actions: the filter.
    #[serde(flatten)]
    filter: FilterQuery,
}

/// `POST /board/jobs/{id}/{action}`
pub async fn act(
    State(state): State<AppState>,
    board: Board,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Err(refused) = board.check(&headers, &form.csrf) {
        return *refused;
    }
    let Some(action) = JobAction::parse(&action) else {
        return html::error_page(
            StatusCode::NOT_FOUND,
            Some(&board.session),
            &format!("action: there is no action {action:?} (retry, cancel or discard)"),
        );
    };
    match actions::apply(&state.db, &id, action, state.clock.now()).await {
        Ok(ActionOutcome::Applied) => {
            tracing::info!(job.id = %id, action = action.as_str(), by = %board.actor(), "job changed from the board");
            if action == JobAction::Discard {
                Redirect::to("/board/jobs?done=discard&count=1").into_response()
            } else {
                Redirect::to(&format!("/board/jobs/{id}")).into_response()
            }
        }
        Ok(ActionOutcome::NotFound) => html::error_page(
            StatusCode::NOT_FOUND,
            Some(&board.session),
            &format!("Job {id} not found: it was discarded or pruned."),
        ),
        Ok(ActionOutcome::NotAllowed(current)) => html::error_page(
            StatusCode::CONFLICT,
            Some(&board.session),
            &format!(
                "Cannot {} job {id}: it is {} now.",
                action.as_str(),
                html::state_name(current)
            ),
        ),
        Err(e) => html::unavailable(Some(&board.session), "change a job", &e),
    }
}

/// `POST /board/jobs/bulk`
pub async fn bulk(
    State(state): State<AppState>,
    board: Board,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Err(refused) = board.check(&headers, &form.csrf) {
        return *refused;
    }
    let bad_request =
        |message: String| html::error_page(StatusCode::BAD_REQUEST, Some(&board.session), &message);
    let Some(action) = form.action.as_deref().and_then(JobAction::parse) else {
        return bad_request("action: choose retry, cancel or discard".to_string());
    };
    if form.filter.is_empty() {
        return bad_request(
            "Bulk actions need a filter: choose at least a queue, a state or another field."
                .to_string(),
        );
    }
    let filter = match form.filter.to_filter() {
        Ok(filter) => filter,
        Err(message) => return bad_request(message),
    };
    match actions::apply_matching(&state.db, &filter, action, state.clock.now()).await {
        Ok(count) => {
            tracing::info!(action = action.as_str(), count, by = %board.actor(), filter = ?filter, "jobs changed in bulk from the board");
            let query = form.filter.to_query();
            Redirect::to(&format!(
                "/board/jobs?{query}&done={}&count={count}",
                action.as_str()
            ))
            .into_response()
        }
        Err(e) => html::unavailable(Some(&board.session), "change jobs in bulk", &e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> FilterQuery {
        serde_urlencoded::from_str(&serde_urlencoded::to_string(pairs).unwrap()).unwrap()
    }

    #[test]
    fn filters_are_read_and_checked_field_by_field() {
        let f = query(&[
            ("queue", "dialing"),
            ("state", "dead"),
            ("q", " +3361 "),
            ("from", "2026-11-01T10:00"),
            ("to", "2026-11-02T00:00:00Z"),
            ("kind", ""),
        ])
        .to_filter()
        .unwrap();
        assert_eq!(f.queue.as_deref(), Some("dialing"));
        assert_eq!(f.state, Some(JobState::Dead));
        assert_eq!(f.text.as_deref(), Some("+3361"));
        assert_eq!(f.kind, None);
        assert_eq!(
            f.enqueued_after.unwrap().to_rfc3339(),
            "2026-11-01T10:00:00+00:00"
        );
        for (pairs, field) in [
            (vec![("queue", "nope")], "queue:"),
            (vec![("state", "exploded")], "state:"),
            (vec![("from", "yesterday")], "from:"),
            (
                vec![("from", "2026-11-02T00:00"), ("to", "2026-11-01T00:00")],
                "to:",
            ),
        ] {
            let error = query(&pairs).to_filter().unwrap_err();
            assert!(error.starts_with(field), "{error}");
        }
        let long = "x".repeat(201);
        assert!(
            query(&[("q", &long)])
                .to_filter()
                .unwrap_err()
                .starts_with("q:")
        );
    }

    #[test]
    fn the_filter_survives_links_and_hidden_fields() {
        let f = query(&[("queue", "bench"), ("q", "a&b \"c\"")]);
        assert_eq!(f.to_query(), "queue=bench&q=a%26b+%22c%22");
        assert!(
            f.hidden_fields()
                .contains("value=\"a&amp;b &quot;c&quot;\"")
        );
        assert!(!f.is_empty());
        assert!(query(&[("q", "  ")]).is_empty());
    }
}
