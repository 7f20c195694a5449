//! Signing in to the board, and the checks every board request passes.
//!
//! Sign-in takes an admin key of an organisation that operates the platform and answers with
//! a session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's page
//! sends it), scoped to `/board`, Secure when the board is reached over TLS. Every
//! state-changing request must also carry the session's CSRF token in its form, and come from
//! the board's own origin when the browser says where it comes from.

use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use zencall_core::store::api_keys::{self, Scope};
use zencall_core::store::board_sessions::{self, BoardSession};
use zencall_core::store::organisations;

use super::html::{self, Page, Section, esc};
use crate::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "zc_board";

/// A signed-in board user. As an extractor, it sends anyone else to the sign-in page (or
/// answers 401 to the board's script).
#[derive(Debug, Clone)]
pub struct Board {
    /// The session.
    pub session: BoardSession,
}

impl FromRequestParts<AppState> for Board {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = state.clock.now();
        let found = match cookie(&parts.headers, COOKIE) {
            Some(token) => board_sessions::find(&state.db, token, now).await,
            None => Ok(None),
        };
        match found {
            Ok(Some(session)) => Ok(Board { session }),
            Ok(None) => Err(not_signed_in(&parts.headers)),
            Err(e) => {
                tracing::error!(error = %e, "cannot read board sessions");
                Err(html::error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "The database is unavailable; try again shortly.",
                ))
            }
        }
    }
}

fn not_signed_in(headers: &HeaderMap) -> Response {
    let wants_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_page && !headers.contains_key(html::FRAGMENT_HEADER) {
        Redirect::to("/board/sign-in").into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "sign in to the board first").into_response()
    }
}

impl Board {
    /// Refuses a state-changing request whose CSRF token is not this session's, or that a
    /// browser says came from another site.
    pub fn check(&self, headers: &HeaderMap, token: &str) -> Result<(), Box<Response>> {
        same_origin(headers)?;
        if bool::from(token.as_bytes().ct_eq(self.session.csrf_token.as_bytes())) {
            Ok(())
        } else {
            Err(Box::new(html::error_page(
                StatusCode::FORBIDDEN,
                Some(&self.session),
                "This form has expired or did not come from the board (CSRF token mismatch). \
                 Reload the page and try again.",
            )))
        }
    }

    /// Who acted, for records and messages.
    pub fn actor(&self) -> String {
        format!("{} ({})", self.session.key_name, self.session.key_id)
    }
}

/// Refuses a request that a browser marks as sent by another site: `Sec-Fetch-Site` other
/// than `same-origin` or `none` (typed or bookmarked), or else an `Origin` whose host is not
/// this request's `Host`. `Origin: null` says nothing (browsers send it under the
/// `no-referrer` policy every response carries); the CSRF token still has to match.
fn same_origin(headers: &HeaderMap) -> Result<(), Box<Response>> {
    let refuse = || {
        Err(Box::new(html::error_page(
            StatusCode::FORBIDDEN,
            None,
            "This request came from another site and was refused.",
        )))
    };
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = header_text("sec-fetch-site") {
        return if site == "same-origin" || site == "none" {
            Ok(())
        } else {
            refuse()
        };
    }
    if let (Some(origin), Some(host)) = (header_text("origin"), header_text("host"))
        && origin != "null"
    {
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .unwrap_or("");
        if !origin_host.eq_ignore_ascii_case(host) {
            return refuse();
        }
    }
    Ok(())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// True when the browser reached the board over TLS: its `Origin` is https, or the
/// TLS-terminating proxy in front says so (`X-Forwarded-Proto` or `Forwarded`).
fn over_tls(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    text("origin").starts_with("https://")
        || text("x-forwarded-proto") == "https"
        || text("forwarded").contains("proto=https")
}

fn session_cookie(value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/board; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("zc_board=; Path=/board; Max-Age=0"))
}

fn sign_in_page(status: StatusCode, message: Option<&str>) -> Response {
    let message = message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default();
    let page = Page {
        title: "Sign in".to_string(),
        section: Section::SignIn,
        session: None,
        fixed: String::new(),
        live: format!(
            "{message}<form class=\"sign-in\" method=\"post\" action=\"/board/sign-in\">\
             <label for=\"key\">Admin API key of an organisation that operates the platform</label>\
             <input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"off\" required \
             placeholder=\"zc_...\" autofocus>\
             <button type=\"submit\">Sign in</button></form>"
        ),
    };
    html::html_response(status, page.render())
}

/// `GET /board/sign-in`
pub async fn show_sign_in(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, COOKIE)
        && let Ok(Some(_)) = board_sessions::find(&state.db, token, state.clock.now()).await
    {
        return Redirect::to("/board").into_response();
    }
    sign_in_page(StatusCode::OK, None)
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    /// The API key's secret.
    #[serde(default)]
    key: String,
}

/// `POST /board/sign-in`
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if let Err(refused) = same_origin(&headers) {
        return *refused;
    }
    let secret = form.key.trim();
    if secret.is_empty() {
        return sign_in_page(
            StatusCode::BAD_REQUEST,
            Some("key: enter an admin API key."),
        );
    }
    let unavailable = |e: zencall_core::store::StoreError| {
        tracing::error!(error = %e, "board sign-in failed on the database");
        sign_in_page(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("The database is unavailable; try again shortly."),
        )
    };
    let key = match api_keys::authenticate(&state.db, secret).await {
        Ok(Some(key)) => key,
        Ok(None) => {
            return sign_in_page(
                StatusCode::UNAUTHORIZED,
                Some("key: this API key is unknown or revoked."),
            );
        }
        Err(e) => return unavailable(e),
    };
    if !key.scope.allows(Scope::Admin) {
        return sign_in_page(
            StatusCode::FORBIDDEN,
            Some("key: the board needs a key with the admin scope."),
        );
    }
    match organisations::operates_platform(&state.db, &key.org_id).await {
        Ok(true) => {}
        Ok(false) => {
            return sign_in_page(
                StatusCode::FORBIDDEN,
                Some(
                    "key: this key's organisation does not operate the platform, and the board \
                     shows every organisation's jobs.",
                ),
            );
        }
        Err(e) => return unavailable(e),
    }
    let ttl_minutes = i64::try_from(state.settings.board.session_ttl_minutes).unwrap_or(480);
    let opened = match board_sessions::open(
        &state.db,
        &key.id,
        &key.name,
        &key.org_id,
        chrono::Duration::minutes(ttl_minutes),
        state.clock.now(),
    )
    .await
    {
        Ok(opened) => opened,
        Err(e) => return unavailable(e),
    };
    tracing::info!(key.id = %key.id, org_id = %key.org_id, "signed in to the queue board");
    let mut response = Redirect::to("/board").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&opened.token, ttl_minutes * 60, over_tls(&headers)),
    );
    response
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
}

/// `POST /board/sign-out`
pub async fn sign_out(
    State(state): State<AppState>,
    board: Board,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = board.check(&headers, &form.csrf) {
        return *refused;
    }
    if let Some(token) = cookie(&headers, COOKIE)
        && let Err(e) = board_sessions::close(&state.db, token).await
    {
        tracing::error!(error = %e, "cannot close a board session");
    }
    let mut response = Redirect::to("/board/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", 0, over_tls(&headers)),
    );
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; zc_board=zcb_x"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, COOKIE), Some("zcb_x"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "zc"), None);
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("board.example:8080"));
        assert!(same_origin(&headers).is_ok());
        headers.insert(
            "origin",
            HeaderValue::from_static("https://board.example:8080"),
        );
        assert!(same_origin(&headers).is_ok());
        headers.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert!(same_origin(&headers).is_err());
        headers.insert("origin", HeaderValue::from_static("null"));
        assert!(same_origin(&headers).is_ok());
        for (site, allowed) in [
            ("cross-site", false),
            ("same-site", false),
            ("same-origin", true),
            ("none", true),
        ] {
            headers.insert("sec-fetch-site", HeaderValue::from_static(site));
            assert_eq!(same_origin(&headers).is_ok(), allowed, "{site}");
        }
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let plain = session_cookie("zcb_1", 60, false);
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly"));
        assert!(plain.contains("SameSite=Strict"));
        assert!(plain.contains("Path=/board"));
        assert!(!plain.contains("Secure"));
        assert!(
            session_cookie("zcb_1", 60, true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }
}
