//! Writing the board's HTML: escaping, the page frame, and the small pieces every page uses
//! (times, durations, state badges). Pages are plain strings built with `write!`; every value
//! that comes from the database or the request goes through [`esc`].

use std::fmt::Write;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use zencall_core::store::board_sessions::BoardSession;
use zencall_queue::board::admin::JobState;

/// The request header the board's script sends when it wants only a page's live part.
pub const FRAGMENT_HEADER: &str = "x-board-fragment";

/// Escapes text for HTML content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-string value.
pub fn query_value(text: &str) -> String {
    serde_urlencoded::to_string([("v", text)])
        .map(|s| s.trim_start_matches("v=").to_string())
        .unwrap_or_default()
}

/// The board's sections, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Queues at a glance.
    Overview,
    /// Job lists and details.
    Jobs,
    /// Worker replicas.
    Workers,
    /// The cron table.
    Cron,
    /// The sign-in page.
    SignIn,
}

const SECTIONS: [(Section, &str, &str); 4] = [
    (Section::Overview, "/board", "Queues"),
    (Section::Jobs, "/board/jobs", "Jobs"),
    (Section::Workers, "/board/workers", "Workers"),
    (Section::Cron, "/board/cron", "Cron"),
];

/// A board page: a title, its section, an optional part above the live region (forms the
/// user types in, which a refresh must not reset) and the live region itself.
pub struct Page<'a> {
    /// The `<title>` and heading.
    pub title: String,
    /// Highlighted in the navigation.
    pub section: Section,
    /// The signed-in session (None on the sign-in page).
    pub session: Option<&'a BoardSession>,
    /// Above the live region: never replaced by live updates.
    pub fixed: String,
    /// The live region: replaced when the page refreshes itself.
    pub live: String,
}

impl Page<'_> {
    /// The whole page, or only its live region when the board's script asked for that.
    pub fn respond(self, headers: &HeaderMap) -> Response {
        if headers.contains_key(FRAGMENT_HEADER) {
            return html_response(StatusCode::OK, self.live);
        }
        html_response(StatusCode::OK, self.render())
    }

    /// The whole page.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.live.len() + self.fixed.len() + 2048);
        let _ = write!(
            out,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{} · Zencall board</title>\
             <link rel=\"stylesheet\" href=\"/board/assets/board.css\">\
             <script src=\"/board/assets/board.js\" defer></script></head><body>",
            esc(&self.title)
        );
        out.push_str("<header><a class=\"brand\" href=\"/board\">Zencall queue board</a>");
        if let Some(session) = self.session {
            out.push_str("<nav>");
            for (section, href, label) in SECTIONS {
                let current = if section == self.section {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                let _ = write!(out, "<a href=\"{href}\"{current}>{label}</a>");
            }
            let _ = write!(
                out,
                "</nav><form class=\"who\" method=\"post\" action=\"/board/sign-out\">{}\
                 <span>{}</span> <button type=\"submit\">Sign out</button></form>",
                csrf_field(session),
                esc(&session.key_name)
            );
        }
        let _ = write!(
            out,
            "</header><h1>{}</h1>{}<main id=\"live\" data-live=\"{}\">{}</main></body></html>",
            esc(&self.title),
            self.fixed,
            if self.session.is_some() { "on" } else { "off" },
            self.live
        );
        out
    }
}

/// An HTML response with `status`.
pub fn html_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page that only says what went wrong, with `status`.
pub fn error_page(status: StatusCode, session: Option<&BoardSession>, message: &str) -> Response {
    let page = Page {
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        section: Section::SignIn,
        session,
        fixed: String::new(),
        live: format!(
            "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/board\">Back to the board</a></p>",
            esc(message)
        ),
    };
    html_response(status, page.render())
}

/// The page for a database that does not answer: logs `error` with what was being done.
pub fn unavailable(
    session: Option<&BoardSession>,
    doing: &str,
    error: &zencall_core::store::StoreError,
) -> Response {
    tracing::error!(%error, "board: cannot {doing}");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        session,
        "The database is unavailable; try again shortly.",
    )
}

/// The hidden CSRF field every state-changing form carries.
pub fn csrf_field(session: &BoardSession) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&session.csrf_token)
    )
}

/// A small form that POSTs to `action` with one button.
pub fn action_button(
    session: &BoardSession,
    action: &str,
    label: &str,
    class: &str,
    confirm: Option<&str>,
) -> String {
    let confirm = confirm
        .map(|c| format!(" data-confirm=\"{}\"", esc(c)))
        .unwrap_or_default();
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\"{confirm}>{}<button type=\"submit\" class=\"{}\">{}</button></form>",
        esc(action),
        csrf_field(session),
        esc(class),
        esc(label)
    )
}

/// Every job state, in the order the board shows them, with its name.
pub const STATES: [(JobState, &str); 7] = [
    (JobState::Scheduled, "scheduled"),
    (JobState::Pending, "pending"),
    (JobState::Running, "running"),
    (JobState::Retrying, "retrying"),
    (JobState::Dead, "dead"),
    (JobState::Cancelled, "cancelled"),
    (JobState::Done, "done"),
];

/// A state's name.
pub fn state_name(state: JobState) -> &'static str {
    STATES
        .iter()
        .find(|(s, _)| *s == state)
        .map(|(_, n)| *n)
        .unwrap_or("unknown")
}

/// Parses a state's name.
pub fn parse_state(name: &str) -> Option<JobState> {
    STATES.iter().find(|(_, n)| *n == name).map(|(s, _)| *s)
}

/// A coloured badge naming `state`.
pub fn state_badge(state: JobState) -> String {
    let name = state_name(state);
    format!("<span class=\"badge state-{name}\" data-state=\"{name}\">{name}</span>")
}

/// A timestamp as UTC text, in a `<time>` element.
pub fn time(at: DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        at.to_rfc3339(),
        at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// A timestamp with how long ago (or in how long) it is from `now`.
pub fn time_ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let delta = now - at;
    let text = if delta.num_seconds() >= 0 {
        format!("{} ago", duration_text(delta))
    } else {
        format!("in {}", duration_text(-delta))
    };
    format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        at.to_rfc3339(),
        at.format("%Y-%m-%d %H:%M:%S UTC"),
        text
    )
}

/// A duration, roughly, for people: `850 ms`, `12 s`, `4 min`, `3 h 5 min`, `2 d 4 h`.
pub fn duration_text(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds();
    let s = d.num_seconds();
    match s {
        _ if ms < 1000 => format!("{ms} ms"),
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Milliseconds for people, or a dash.
pub fn millis(ms: Option<f64>) -> String {
    match ms {
        None => "–".to_string(),
        Some(ms) if ms < 10.0 => format!("{ms:.1} ms"),
        Some(ms) if ms < 10_000.0 => format!("{ms:.0} ms"),
        Some(ms) => format!("{:.1} s", ms / 1000.0),
    }
}

/// A ratio as a percentage, or a dash.
pub fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_string(), |r| format!("{:.1} %", r * 100.0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn states_round_trip_by_name() {
        for (state, name) in STATES {
            assert_eq!(parse_state(name), Some(state));
            assert_eq!(state_name(state), name);
        }
        assert_eq!(parse_state("exploded"), None);
    }

    #[test]
    fn durations_read_naturally() {
        let d = chrono::Duration::milliseconds;
        assert_eq!(duration_text(d(850)), "850 ms");
        assert_eq!(duration_text(d(12_000)), "12 s");
        assert_eq!(duration_text(d(245_000)), "4 min");
        assert_eq!(duration_text(d(3_600_000 + 300_000)), "1 h 5 min");
        assert_eq!(duration_text(d(2 * 86_400_000 + 4 * 3_600_000)), "2 d 4 h");
    }
}
