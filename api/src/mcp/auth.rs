//! The MCP door's authentication: the same API keys, the same 401 and the same per-key rate
//! limits as REST. The layer checks the bearer key before the MCP service sees the request and
//! puts the [`Caller`] into the request's extensions, where each tool finds it.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::Caller;

/// Answers 401 (missing or unknown key) or 429 (over quota) as REST does; otherwise passes
/// the request on with its [`Caller`].
pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(refusal) => refusal.into_response(),
    }
}
