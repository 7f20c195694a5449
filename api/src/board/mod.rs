//! The queue board at `/board`: server-rendered pages for the platform's operators to see
//! every queue and job and act on them (retry, cancel, discard, one by one or by filter;
//! pause and resume queues), with the worker replicas and the cron table. A small
//! hand-written script adds live updates; nothing is fetched from elsewhere.

pub mod cron;
pub mod html;
pub mod jobs;
pub mod live;
pub mod overview;
pub mod queues;
pub mod session;
pub mod workers;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::AppState;

const SCRIPT: &str = include_str!("assets/board.js");
const STYLES: &str = include_str!("assets/board.css");

/// The board's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/board", get(overview::show))
        .route(
            "/board/sign-in",
            get(session::show_sign_in).post(session::sign_in),
        )
        .route("/board/sign-out", post(session::sign_out))
        .route("/board/jobs", get(jobs::list))
        .route("/board/jobs/bulk", post(jobs::bulk))
        .route("/board/jobs/{id}", get(jobs::detail))
        .route("/board/jobs/{id}/{action}", post(jobs::act))
        .route("/board/queues/{queue}/{change}", post(queues::set_paused))
        .route("/board/workers", get(workers::show))
        .route("/board/cron", get(cron::show))
        .route("/board/events", get(live::events))
        .route("/board/assets/board.js", get(script))
        .route("/board/assets/board.css", get(styles))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn styles() -> Response {
    asset("text/css; charset=utf-8", STYLES)
}
