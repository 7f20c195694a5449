//! Pagination of the `/v1` lists: a page is up to `limit` items, newest first, and the cursor
//! to pass as `starting_after` for the next one.

use rmcp::schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Items per page when `limit` is not given.
const DEFAULT_LIMIT: u32 = 20;
/// The largest `limit` accepted.
const MAX_LIMIT: u32 = 100;

/// A page of a list, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct Page<T> {
    /// Always `list`.
    #[schema(schema_with = list_object)]
    #[schemars(with = "String")]
    object: &'static str,
    /// The items of this page.
    data: Vec<T>,
    /// Whether there are more items after this page.
    has_more: bool,
    /// Pass as `starting_after` to get the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

fn list_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("list")
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` rows: the extra row only says there is more.
    pub fn of(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> Self {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more { rows.last().map(id) } else { None };
        Page {
            object: "list",
            data: rows,
            has_more,
            next_cursor,
        }
    }
}

/// The page size asked for, checked.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(limit)
}

/// The query of a list without filters: the page size and the cursor; any other parameter is
/// refused (400).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size: 1 to 100, 20 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub starting_after: Option<String>,
}
