//! Numbers sent to the API, and imports of them by the thousand: the do-not-call list and
//! the consents share them. Numbers in bodies may be national, read in a default country;
//! numbers in paths are E.164 with their `+`. An import lists its valid rows even when others
//! are not, and reports each invalid one with its index.

use axum::extract::DefaultBodyLimit;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa_axum::router::UtoipaMethodRouter;
use zencall_core::domain::assistant::FieldError;
use zencall_core::domain::phone::{CountryCode, PhoneNumber};

use crate::error::ApiError;

/// Most rows in one import.
pub const MAX_IMPORT_ROWS: usize = 10_000;

/// Largest body of an import, in bytes: 10,000 rows with long reasons or proofs do not fit in
/// the default limit meant for single resources.
pub const IMPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// An import's route, with its body limit ([`IMPORT_BODY_LIMIT`]).
pub fn with_import_limit<S>(route: UtoipaMethodRouter<S>) -> UtoipaMethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let (schemas, paths, method) = route;
    (
        schemas,
        paths,
        method.layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
    )
}

/// The country national numbers are read in when a request names none.
const DEFAULT_COUNTRY: &str = "FR";

/// The path parameter of one number's routes.
pub const PATH_NUMBER: &str = "The number, E.164 with its `+` (`+33612345678`; `%2B33612345678` \
    works too)";

/// The country named by `given`, `fallback` when none is, or `None` after noting the error.
pub fn country_or(
    given: Option<&str>,
    fallback: &CountryCode,
    errors: &mut Vec<FieldError>,
) -> Option<CountryCode> {
    match given {
        None => Some(fallback.clone()),
        Some(text) => CountryCode::parse(text)
            .map_err(|m| errors.push(FieldError::new("default_country", m)))
            .ok(),
    }
}

/// The country of a whole request: the one it names, or France.
pub fn request_country(given: Option<&str>) -> Result<CountryCode, ApiError> {
    let mut errors = Vec::new();
    let france = CountryCode::parse(DEFAULT_COUNTRY)
        .map_err(|e| ApiError::Internal(format!("the default country: {e}")))?;
    country_or(given, &france, &mut errors).ok_or(ApiError::Invalid(errors))
}

/// The number of a body, read in `country` (when it is known), or `None` after noting the error.
pub fn body_number(
    text: Option<&str>,
    country: Option<CountryCode>,
    errors: &mut Vec<FieldError>,
) -> Option<PhoneNumber> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        errors.push(FieldError::new("number", "is required"));
        return None;
    };
    // Without a known country a national number cannot be read; its error is already noted.
    let country = country?;
    PhoneNumber::parse(text, Some(country))
        .map_err(|e| errors.push(FieldError::new("number", e.to_string())))
        .ok()
}

/// The number of a path: E.164 only.
pub fn path_number(text: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(text, None).map_err(|e| {
        ApiError::Invalid(vec![FieldError::new(
            "number",
            format!("{e}: the path needs an E.164 number with its + (such as +33612345678)"),
        )])
    })
}

/// One row of an import that was not taken.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvalidRow {
    /// Its position in the list sent, from 0.
    pub index: usize,
    /// Its number as sent, when it had one.
    #[schema(required = true)]
    pub number: Option<String>,
    /// What is wrong: each invalid field and why.
    pub reason: String,
}

/// Reads each row of an import: the valid ones through `validate`, the others reported with
/// their index.
pub fn read_rows<R: DeserializeOwned, T>(
    rows: Vec<serde_json::Value>,
    validate: impl Fn(&R) -> Result<T, Vec<FieldError>>,
) -> (Vec<T>, Vec<InvalidRow>) {
    let mut valid = Vec::with_capacity(rows.len());
    let mut invalid = Vec::new();
    for (index, row) in rows.into_iter().enumerate() {
        let number = row
            .get("number")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        let read = match row {
            serde_json::Value::Object(_) => {
                serde_json::from_value::<R>(row).map_err(|e| e.to_string())
            }
            _ => Err("must be an object with at least a number".to_string()),
        };
        let checked = read.and_then(|r| {
            validate(&r).map_err(|errors| {
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        });
        match checked {
            Ok(t) => valid.push(t),
            Err(reason) => invalid.push(InvalidRow {
                index,
                number,
                reason,
            }),
        }
    }
    (valid, invalid)
}

/// The rows of an import, checked for presence and count.
pub fn import_rows(
    field: &str,
    rows: Option<Vec<serde_json::Value>>,
) -> Result<Vec<serde_json::Value>, ApiError> {
    match rows {
        None => Err(ApiError::Invalid(vec![FieldError::new(
            field,
            "is required",
        )])),
        Some(rows) if rows.len() > MAX_IMPORT_ROWS => {
            Err(ApiError::Invalid(vec![FieldError::new(
                field,
                format!(
                    "must hold at most {MAX_IMPORT_ROWS} rows (got {}); split the import",
                    rows.len()
                ),
            )]))
        }
        Some(rows) => Ok(rows),
    }
}
