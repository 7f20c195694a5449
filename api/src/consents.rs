//! `/v1/consents`: the organisation's consent registry, the proof that a person agreed to be
//! called, which French prospecting needs. Consents are recorded one at a time or imported by
//! the thousand, looked up by number, and withdrawn: a withdrawal keeps the record and its
//! proof, and recording the number again lifts it.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::assistant::FieldError;
use zencall_core::domain::phone::CountryCode;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::consents::{self, ConsentInput, ConsentMethod};

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

/// Consent routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, record))
        .routes(with_import_limit(routes!(import)))
        .routes(routes!(show, withdraw))
}

/// Longest proof, in characters.
const MAX_PROOF_CHARS: usize = 2000;

/// The body of `POST /v1/consents`, and one row of an import.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ConsentRequest {
    /// The person's number: international (`+33612345678`) or national (`06 12 34 56 78`),
    /// read in `default_country`.
    #[schema(value_type = String, required = true, examples("+33612345678"))]
    number: Option<String>,
    /// When the person consented (RFC 3339); not in the future.
    #[schema(value_type = String, format = DateTime, required = true, examples("2026-09-01T10:00:00Z"))]
    given_at: Option<String>,
    /// How the person consented.
    #[schema(value_type = ConsentMethod, required = true)]
    method: Option<String>,
    /// What proves it (a form submission id, a document reference, a recording): 1 to 2,000
    /// characters.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 2000,
             examples("web form #4521, 2026-09-01 10:00 UTC, IP 203.0.113.7"))]
    proof: Option<String>,
    /// When the consent lapses (RFC 3339), after `given_at`; never when not given.
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<String>,
    /// ISO 3166-1 alpha-2 country a national number is read in: the import's, or `FR`, when
    /// not given.
    #[schema(examples("FR"))]
    default_country: Option<String>,
}

/// An RFC 3339 date-time of a request, or `None` after noting the error.
fn date_time(
    field: &str,
    text: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(text?.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            errors.push(FieldError::new(
                field,
                format!("must be an RFC 3339 date-time such as 2026-09-01T10:00:00Z: {e}"),
            ))
        })
        .ok()?;
    // Dates outside these years have no RFC 3339 form in UTC to show back.
    if !(1..=9999).contains(&parsed.year()) {
        errors.push(FieldError::new(
            field,
            "must be between the years 1 and 9999",
        ));
        return None;
    }
    Some(parsed)
}

impl ConsentRequest {
    /// The consent to record, or every invalid field.
    fn validate(
        &self,
        fallback: &CountryCode,
        now: DateTime<Utc>,
    ) -> Result<ConsentInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let country = country_or(self.default_country.as_deref(), fallback, &mut errors);
        let number = body_number(self.number.as_deref(), country, &mut errors);
        let given_at = match self.given_at.as_deref() {
            None => {
                errors.push(FieldError::new("given_at", "is required"));
                None
            }
            Some(text) => date_time("given_at", Some(text), &mut errors),
        };
        if given_at.is_some_and(|g| g > now) {
            errors.push(FieldError::new("given_at", "must not be in the future"));
        }
        let expires_at = date_time("expires_at", self.expires_at.as_deref(), &mut errors);
        if let (Some(g), Some(e)) = (given_at, expires_at)
            && e <= g
        {
            errors.push(FieldError::new("expires_at", "must be after given_at"));
        }
        let method = match self.method.as_deref() {
            None => {
                errors.push(FieldError::new("method", "is required"));
                None
            }
            Some(text) => ConsentMethod::parse(text).or_else(|| {
                let names: Vec<&str> = ConsentMethod::ALL.iter().map(|m| m.as_str()).collect();
                errors.push(FieldError::new(
                    "method",
                    format!("must be one of {}", names.join(", ")),
                ));
                None
            }),
        };
        let proof = match self.proof.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(FieldError::new("proof", "is required"));
                None
            }
            Some(p) if p.chars().count() > MAX_PROOF_CHARS => {
                errors.push(FieldError::new(
                    "proof",
                    format!("must be at most {MAX_PROOF_CHARS} characters"),
                ));
                None
            }
            Some(p) => Some(p.to_string()),
        };
        match (number, given_at, method, proof) {
            (Some(number), Some(given_at), Some(method), Some(proof)) if errors.is_empty() => {
                Ok(ConsentInput {
                    number,
                    given_at,
                    method,
                    proof,
                    expires_at,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Records a person's consent.
#[utoipa::path(
    post,
    path = "/v1/consents",
    tag = "consents",
    operation_id = "record_consent",
    summary = "Record a consent",
    description = "Normalises the number to E.164 and records the consent. A number has one \
        record: recording it again replaces its date, method, proof and expiry and lifts a \
        withdrawal. Needs the `write` scope.",
    request_body = ConsentRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = Consent, links(
            ("GetConsent" = (operation_id = "get_consent", parameters(("number" = "$response.body#/number")))),
            ("WithdrawConsent" = (operation_id = "withdraw_consent", parameters(("number" = "$response.body#/number")))),
        )),
        (status = 403, response = Forbidden),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<ConsentRequest>,
) -> Result<(StatusCode, axum::Json<Consent>), ApiError> {
    caller.require(Scope::Write)?;
    let now = state.clock.now();
    let fallback = request_country(None)?;
    let input = request
        .validate(&fallback, now)
        .map_err(ApiError::Invalid)?;
    let consent = consents::record(&state.db, caller.org_id(), &input, now).await?;
    Ok((StatusCode::CREATED, axum::Json(Consent::from(&consent))))
}

/// The body of `POST /v1/consents/import`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ConsentImportRequest {
    /// The consents to record: up to 10,000 rows, each like the body of `POST /v1/consents`.
    #[schema(value_type = Vec<ConsentRequest>, required = true, max_items = 10000)]
    consents: Option<Vec<serde_json::Value>>,
    /// ISO 3166-1 alpha-2 country national numbers are read in, for rows that name none; `FR`
    /// when not given.
    #[schema(examples("FR"))]
    default_country: Option<String>,
}

/// What an import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ConsentImportResult {
    /// Consents recorded, new or replacing a number's record (a number given twice counts once).
    recorded: u64,
    /// The rows not taken, each with why.
    invalid: Vec<InvalidRow>,
}

/// Records many consents at once.
#[utoipa::path(
    post,
    path = "/v1/consents/import",
    tag = "consents",
    operation_id = "import_consents",
    summary = "Import consents",
    description = "Records every valid row in one transaction, even when other rows are \
        invalid; each invalid row is reported with its index and why. As with single records, \
        a number's record is replaced (the last row of a number wins). Up to 10,000 rows and \
        16 MiB. Needs the `write` scope.",
    request_body = ConsentImportRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Imported; `invalid` lists the rows not taken", body = ConsentImportResult),
        (status = 403, response = Forbidden),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<ConsentImportRequest>,
) -> Result<axum::Json<ConsentImportResult>, ApiError> {
    caller.require(Scope::Write)?;
    let now = state.clock.now();
    let country = request_country(request.default_country.as_deref())?;
    let rows = import_rows("consents", request.consents)?;
    let (valid, invalid) = read_rows(rows, |r: &ConsentRequest| r.validate(&country, now));
    let recorded = consents::record_many(&state.db, caller.org_id(), &valid, now).await?;
    Ok(axum::Json(ConsentImportResult { recorded, invalid }))
}

/// Lists the organisation's consent records, newest first.
#[utoipa::path(
    get,
    path = "/v1/consents",
    tag = "consents",
    operation_id = "list_consents",
    summary = "List consents",
    description = "Every record, withdrawn ones included, newest first (by first recording); \
        `next_cursor` is the last record's id.",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of consents", body = Page<Consent>),
        (status = 400, response = BadRequest),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<Consent>>, ApiError> {
    caller.require(Scope::Read)?;
    let limit = page_limit(params.limit)?;
    let rows = consents::list(
        &state.db,
        caller.org_id(),
        params.starting_after.as_deref(),
        limit + 1,
    )
    .await?;
    Ok(axum::Json(Page::of(
        rows.iter().map(Consent::from).collect(),
        limit,
        |c| c.id.clone(),
    )))
}

/// A number's consent record.
#[utoipa::path(
    get,
    path = "/v1/consents/{number}",
    tag = "consents",
    operation_id = "get_consent",
    summary = "Look up a number's consent",
    description = "The record, withdrawn or not: `withdrawn_at` and `expires_at` say whether it \
        still holds. (`/v1/consents/import` is the import, not a number: GET there is 405.)",
    params(("number" = String, Path, description = PATH_NUMBER)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The consent record", body = Consent),
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
) -> Result<axum::Json<Consent>, ApiError> {
    caller.require(Scope::Read)?;
    let number = path_number(&number)?;
    consents::find(&state.db, caller.org_id(), &number)
        .await?
        .map(|c| axum::Json(Consent::from(&c)))
        .ok_or_else(|| ApiError::NotFound(format!("consent of {number}")))
}

/// Withdraws a number's consent.
#[utoipa::path(
    delete,
    path = "/v1/consents/{number}",
    tag = "consents",
    operation_id = "withdraw_consent",
    summary = "Withdraw a consent",
    description = "Sets `withdrawn_at` (a second withdrawal keeps the first date) and keeps the \
        record with its proof, as evidence of what was given and when it ended. Needs the \
        `write` scope. (`/v1/consents/import` is the import, not a number: DELETE there is 405.)",
    params(("number" = String, Path, description = PATH_NUMBER)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Withdrawn: the record, proof included", body = Consent),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 405, response = MethodNotAllowed),
        (status = 422, response = Unprocessable),
        V1Errors,
    )
)]
async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> Result<axum::Json<Consent>, ApiError> {
    caller.require(Scope::Write)?;
    let number = path_number(&number)?;
    consents::withdraw(&state.db, caller.org_id(), &number, state.clock.now())
        .await?
        .map(|c| axum::Json(Consent::from(&c)))
        .ok_or_else(|| ApiError::NotFound(format!("consent of {number}")))
}

/// A person's consent to be called by an organisation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Consent {
    /// `cons_...`
    id: String,
    /// The person's number, E.164.
    #[schema(examples("+33612345678"))]
    number: String,
    /// When the person consented.
    given_at: DateTime<Utc>,
    /// How they consented.
    method: ConsentMethod,
    /// What proves it: a form id, a document reference, a recording, ...
    proof: String,
    /// When the consent lapses, if it does.
    #[schema(required = true)]
    expires_at: Option<DateTime<Utc>>,
    /// When the person withdrew it; the record and its proof are kept.
    #[schema(required = true)]
    withdrawn_at: Option<DateTime<Utc>>,
    /// First recorded.
    created_at: DateTime<Utc>,
    /// Last recorded again or withdrawn.
    updated_at: DateTime<Utc>,
}

impl From<&consents::Consent> for Consent {
    fn from(row: &consents::Consent) -> Self {
        Consent {
            id: row.id.clone(),
            number: row.number.clone(),
            given_at: row.given_at,
            method: row.method,
            proof: row.proof.clone(),
            expires_at: row.expires_at,
            withdrawn_at: row.withdrawn_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 9, 10, 12, 0, 0).unwrap()
    }

    fn check(value: serde_json::Value) -> Result<ConsentInput, Vec<String>> {
        let request: ConsentRequest = serde_json::from_value(value).unwrap();
        request
            .validate(&CountryCode::parse("FR").unwrap(), now())
            .map_err(|errors| errors.into_iter().map(|e| e.field).collect())
    }

    #[test]
    fn a_valid_consent_is_read_with_its_number_normalised() {
        let input = check(json!({
            "number": "06 12 34 56 78", "given_at": "2026-09-01T12:00:00+02:00",
            "method": "web_form", "proof": "  form #4521  ", "expires_at": "2027-09-01T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(input.number.as_str(), "+33612345678");
        assert_eq!(
            input.given_at,
            Utc.with_ymd_and_hms(2026, 9, 1, 10, 0, 0).unwrap()
        );
        assert_eq!(input.method, ConsentMethod::WebForm);
        assert_eq!(input.proof, "form #4521");
    }

    #[test]
    fn each_invalid_field_is_named() {
        assert_eq!(
            check(json!({})).unwrap_err(),
            ["number", "given_at", "method", "proof"]
        );
        let base = json!({"number": "+33612345678", "given_at": "2026-09-01T10:00:00Z",
                          "method": "email", "proof": "x"});
        let with = |field: &str, value: serde_json::Value| {
            let mut body = base.clone();
            body[field] = value;
            check(body).unwrap_err()
        };
        assert_eq!(
            with("given_at", json!("2026-09-11T10:00:00Z")),
            ["given_at"]
        );
        assert_eq!(with("given_at", json!("yesterday")), ["given_at"]);
        assert_eq!(
            with("expires_at", json!("2026-08-01T10:00:00Z")),
            ["expires_at"]
        );
        assert_eq!(with("method", json!("fax")), ["method"]);
        assert_eq!(with("proof", json!(" ")), ["proof"]);
        assert_eq!(with("proof", json!("p".repeat(2001))), ["proof"]);
        assert_eq!(with("number", json!("12")), ["number"]);
        assert_eq!(with("default_country", json!("ZZ")), ["default_country"]);
        assert!(check(with_proof(&base, "p".repeat(2000))).is_ok());
    }

    fn with_proof(base: &serde_json::Value, proof: String) -> serde_json::Value {
        let mut body = base.clone();
        body["proof"] = json!(proof);
        body
    }
}
