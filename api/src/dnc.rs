//! `/v1/dnc`: the organisation's do-not-call list, which every campaign call is checked
//! against. Numbers are listed one at a time or imported by the thousand (valid rows are listed
//! even when others are not, and each invalid one is reported with its index), looked up and
//! taken off. Numbers in bodies may be national, read in `default_country`; numbers in paths
//! are E.164 with their `+` (`%2B` works too).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::assistant::FieldError;
use zencall_core::domain::phone::{CountryCode, PhoneNumber};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::dnc;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::http::number_import::{
    InvalidRow, PATH_NUMBER, body_number, country_or, import_rows, path_number, read_rows,
    request_country, with_import_limit,
};
use crate::http::pagination::{Page, PageParams, page_limit};
use crate::openapi::{
    BadRequest, Forbidden, JsonBodyErrors, MethodNotAllowed, NotFound, Unprocessable, V1Errors,
};

/// Do-not-call routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(with_import_limit(routes!(import)))
        .routes(routes!(show, remove))
}

/// Longest reason, in characters.
const MAX_REASON_CHARS: usize = 500;

/// The body of `POST /v1/dnc`, and one row of an import.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DncRequest {
    /// The number: international (`+33612345678`) or national (`06 12 34 56 78`), read in
    /// `default_country`.
    #[schema(value_type = String, required = true, examples("+33612345678"))]
    number: Option<String>,
    /// Why it must not be called: up to 500 characters.
    #[schema(max_length = 500, examples("asked not to be called again"))]
    reason: Option<String>,
    /// ISO 3166-1 alpha-2 country a national number is read in: the import's, or `FR`, when
    /// not given.
    #[schema(examples("FR"))]
    default_country: Option<String>,
}

impl DncRequest {
    /// The number and reason, or every invalid field.
    fn validate(
        &self,
        fallback: &CountryCode,
    ) -> Result<(PhoneNumber, Option<String>), Vec<FieldError>> {
        let mut errors = Vec::new();
        let country = country_or(self.default_country.as_deref(), fallback, &mut errors);
        let number = body_number(self.number.as_deref(), country, &mut errors);
        let reason = self
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
        {
            errors.push(FieldError::new(
                "reason",
                format!("must be at most {MAX_REASON_CHARS} characters"),
            ));
        }
        match number {
            Some(number) if errors.is_empty() => Ok((number, reason)),
            _ => Err(errors),
        }
    }
}

/// Lists a number; listing it again changes nothing.
#[utoipa::path(
    post,
    path = "/v1/dnc",
    tag = "dnc",
    operation_id = "add_dnc_entry",
    summary = "Add a number to the do-not-call list",
    description = "Normalises the number to E.164 and lists it: 201 with the new entry, or 200 \
        with the existing one (its reason and date unchanged) when it was already listed. \
        Needs the `write` scope.",
    request_body = DncRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Listed", body = DncEntry, links(
            ("GetDncEntry" = (operation_id = "get_dnc_entry", parameters(("number" = "$response.body#/number")))),
            ("DeleteDncEntry" = (operation_id = "delete_dnc_entry", parameters(("number" = "$response.body#/number")))),
        )),
        (status = 200, description = "Already listed: the existing entry", body = DncEntry),
        (status = 403, response = Forbidden),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<DncRequest>,
) -> Result<(StatusCode, axum::Json<DncEntry>), ApiError> {
    caller.require(Scope::Write)?;
    let fallback = request_country(None)?;
    let (number, reason) = request.validate(&fallback).map_err(ApiError::Invalid)?;
    let (entry, added) = dnc::add_reporting(
        &state.db,
        caller.org_id(),
        &number,
        reason.as_deref(),
        dnc::SOURCE_API,
        state.clock.now(),
    )
    .await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(DncEntry::from(&entry))))
}

/// The body of `POST /v1/dnc/import`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DncImportRequest {
    /// The numbers to list: up to 10,000 rows, each like the body of `POST /v1/dnc`.
    #[schema(value_type = Vec<DncRequest>, required = true, max_items = 10000)]
    entries: Option<Vec<serde_json::Value>>,
    /// ISO 3166-1 alpha-2 country national numbers are read in, for rows that name none; `FR`
    /// when not given.
    #[schema(examples("FR"))]
    default_country: Option<String>,
}

/// What an import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DncImportResult {
    /// Numbers newly listed.
    added: u64,
    /// Valid rows whose number was already listed (or listed by an earlier row).
    already_listed: u64,
    /// The rows not taken, each with why.
    invalid: Vec<InvalidRow>,
}

/// Lists many numbers at once.
#[utoipa::path(
    post,
    path = "/v1/dnc/import",
    tag = "dnc",
    operation_id = "import_dnc_entries",
    summary = "Import numbers into the do-not-call list",
    description = "Lists every valid row in one transaction, even when other rows are invalid; \
        each invalid row is reported with its index and why. Numbers already listed keep their \
        entry. Up to 10,000 rows and 16 MiB. Needs the `write` scope.",
    request_body = DncImportRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Imported; `invalid` lists the rows not taken", body = DncImportResult),
        (status = 403, response = Forbidden),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<DncImportRequest>,
) -> Result<axum::Json<DncImportResult>, ApiError> {
    caller.require(Scope::Write)?;
    let country = request_country(request.default_country.as_deref())?;
    let rows = import_rows("entries", request.entries)?;
    let (valid, invalid) = read_rows(rows, |r: &DncRequest| r.validate(&country));
    let added = dnc::add_many(
        &state.db,
        caller.org_id(),
        &valid,
        dnc::SOURCE_IMPORT,
        state.clock.now(),
    )
    .await?;
    Ok(axum::Json(DncImportResult {
        added,
        already_listed: (valid.len() as u64).saturating_sub(added),
        invalid,
    }))
}

/// Lists the organisation's do-not-call list, in number order.
#[utoipa::path(
    get,
    path = "/v1/dnc",
    tag = "dnc",
    operation_id = "list_dnc_entries",
    summary = "List the do-not-call list",
    description = "Entries in the order of their E.164 numbers; `next_cursor` is the last number \
        of the page.",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of entries", body = Page<DncEntry>),
        (status = 400, response = BadRequest),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<DncEntry>>, ApiError> {
    caller.require(Scope::Read)?;
    let limit = page_limit(params.limit)?;
    let rows = dnc::list(
        &state.db,
        caller.org_id(),
        params.starting_after.as_deref(),
        limit + 1,
    )
    .await?;
    Ok(axum::Json(Page::of(
        rows.iter().map(DncEntry::from).collect(),
        limit,
        |e| e.number.clone(),
    )))
}

/// Whether a number is listed.
#[utoipa::path(
    get,
    path = "/v1/dnc/{number}",
    tag = "dnc",
    operation_id = "get_dnc_entry",
    summary = "Look a number up in the do-not-call list",
    description = "200 with its entry when the number is listed, 404 when it is not. \
        (`/v1/dnc/import` is the import, not a number: GET there is 405.)",
    params(("number" = String, Path, description = PATH_NUMBER)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Listed", body = DncEntry),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 405, response = MethodNotAllowed),
        (status = 422, response = Unprocessable),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> Result<axum::Json<DncEntry>, ApiError> {
    caller.require(Scope::Read)?;
    let number = path_number(&number)?;
    dnc::find(&state.db, caller.org_id(), &number)
        .await?
        .map(|e| axum::Json(DncEntry::from(&e)))
        .ok_or_else(|| ApiError::NotFound(format!("do-not-call entry {number}")))
}

/// Takes a number off the list.
#[utoipa::path(
    delete,
    path = "/v1/dnc/{number}",
    tag = "dnc",
    operation_id = "delete_dnc_entry",
    summary = "Remove a number from the do-not-call list",
    description = "Campaigns may call the number again. Needs the `write` scope. \
        (`/v1/dnc/import` is the import, not a number: DELETE there is 405.)",
    params(("number" = String, Path, description = PATH_NUMBER)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 405, response = MethodNotAllowed),
        (status = 422, response = Unprocessable),
        V1Errors,
    )
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Write)?;
    let number = path_number(&number)?;
    if dnc::remove(&state.db, caller.org_id(), &number).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("do-not-call entry {number}")))
    }
}

/// A number on an organisation's do-not-call list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DncEntry {
    /// The number, E.164.
    #[schema(examples("+33612345678"))]
    number: String,
    /// Why it is listed, as given when it was listed.
    #[schema(required = true)]
    reason: Option<String>,
    /// How it was listed: `api`, `import`, or `call` (the person refused during a call).
    #[schema(schema_with = source_schema)]
    source: String,
    /// When it was listed.
    created_at: DateTime<Utc>,
}

impl From<&dnc::DncEntry> for DncEntry {
    fn from(row: &dnc::DncEntry) -> Self {
        DncEntry {
            number: row.number.clone(),
            reason: row.reason.clone(),
            source: row.source.clone(),
            created_at: row.created_at,
        }
    }
}

fn source_schema() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(dnc::SOURCES)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn france() -> CountryCode {
        CountryCode::parse("FR").unwrap()
    }

    fn request(value: serde_json::Value) -> DncRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_national_number_is_read_in_the_default_country() {
        let (n, reason) = request(json!({"number": "06 12 34 56 78", "reason": "  "}))
            .validate(&france())
            .unwrap();
        assert_eq!((n.as_str(), reason), ("+33612345678", None));
        let (n, _) = request(json!({"number": "(415) 555-2671", "default_country": "us"}))
            .validate(&france())
            .unwrap();
        assert_eq!(n.as_str(), "+14155552671");
    }

    #[test]
    fn each_invalid_field_is_named() {
        let fields = |v| -> Vec<String> {
            request(v)
                .validate(&france())
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(json!({"number": "12"})), ["number"]);
        assert_eq!(fields(json!({})), ["number"]);
        assert_eq!(
            fields(json!({"number": "0612345678", "default_country": "XX"})),
            ["default_country"]
        );
        assert_eq!(
            fields(json!({"number": "0612345678", "reason": "x".repeat(501)})),
            ["reason"]
        );
    }

    #[test]
    fn import_rows_are_reported_by_index_with_every_reason() {
        let rows = vec![
            json!({"number": "0612345678"}),
            json!({"number": "nope", "default_country": "XX"}),
            json!({"number": 5}),
            json!("+33612345678"),
        ];
        let (valid, invalid) = read_rows(rows, |r: &DncRequest| r.validate(&france()));
        assert_eq!(valid.len(), 1);
        let indexes: Vec<usize> = invalid.iter().map(|r| r.index).collect();
        assert_eq!(indexes, [1, 2, 3]);
        assert_eq!(invalid[0].number.as_deref(), Some("nope"));
        assert!(
            invalid[0].reason.contains("default_country"),
            "{}",
            invalid[0].reason
        );
        assert_eq!(invalid[1].number, None);
    }

    #[test]
    fn a_path_number_must_be_e164() {
        assert_eq!(
            path_number("+33612345678").unwrap().as_str(),
            "+33612345678"
        );
        let ApiError::Invalid(errors) = path_number("0612345678").unwrap_err() else {
            panic!("not a field error");
        };
        assert_eq!(errors[0].field, "number");
    }
}
