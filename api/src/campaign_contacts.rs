//! `/v1/campaigns/{id}/contacts`: adding contacts to a campaign (JSON, or a CSV upload read
//! as it streams in, stored a thousand rows at a time) and listing them with their attempts.
//! Numbers are normalised to E.164 (national ones read in the campaign's default country);
//! a number already in the campaign is merged; each invalid row is reported with its line and
//! reason while the valid ones are imported.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::campaign::Outcome;
use zencall_core::domain::contact_import::{
    ContactDraft, CsvContactReader, RowError, contact_from_json,
};
use zencall_core::domain::phone::CountryCode;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::call_attempts::{self, Attempt, AttemptState};
use zencall_core::store::campaign_contacts::{
    self, Contact, ContactState, ImportCounts, NewContact,
};
use zencall_core::store::campaigns::Campaign;
use zencall_core::store::now_micros;

use crate::AppState;
use crate::auth::Caller;
use crate::campaigns::{CAMPAIGN_ID, find};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::http::pagination::{Page, page_limit};
use crate::openapi::{BadRequest, Conflict, Forbidden, JsonBodyErrors, NotFound, V1Errors};

/// The contact list route.
pub fn list_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The contact upload route; the caller gives it its own body limit and timeout
/// ([`limit_upload`]).
pub fn upload_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import))
}

/// `routes` with the upload's body limit and timeout, which replace the ordinary ones.
pub fn limit_upload(
    routes: OpenApiRouter<AppState>,
    max_upload_bytes: usize,
    timeout: std::time::Duration,
) -> OpenApiRouter<AppState> {
    routes.layer(DefaultBodyLimit::max(max_upload_bytes)).layer(
        tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ),
    )
}

/// Contacts stored per transaction while an upload streams in.
const STORE_BATCH: usize = 1000;
/// Contacts in one JSON body, at most (larger lists go as CSV).
const MAX_JSON_CONTACTS: usize = 10_000;

fn import_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("contact_import")
}

fn contact_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("campaign_contact")
}

/// The JSON body of `POST /v1/campaigns/{id}/contacts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ContactsRequest {
    /// Up to 10,000 contacts: `{"number": "06 12 34 56 78", "name": "Léa", "time_zone":
    /// "Europe/Paris", "variables": {"rdv": "jeudi"}}`; only `number` is required.
    #[schema(value_type = Vec<Object>, max_items = 10000)]
    contacts: Vec<Value>,
}

/// A row that was not imported.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct InvalidRow {
    /// CSV: the line of the file where the row starts (the header is line 1). JSON: the
    /// 1-based position of the item in `contacts`.
    line: u64,
    /// What is wrong.
    reason: String,
}

/// What an import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ImportView {
    /// Always `contact_import`.
    #[schema(schema_with = import_object)]
    object: &'static str,
    /// New contacts.
    imported: u64,
    /// Rows merged into a contact with the same number (earlier in the upload or already in
    /// the campaign): the later name and time zone win, variables are merged.
    merged: u64,
    /// Rows refused.
    invalid_count: u64,
    /// The refused rows, the first `campaigns.max_listed_invalid_rows` of them.
    invalid: Vec<InvalidRow>,
}

/// Collects rows and stores them in batches.
struct Importer<'a> {
    state: &'a AppState,
    campaign: &'a Campaign,
    batch: Vec<NewContact>,
    counts: ImportCounts,
    invalid_count: u64,
    invalid: Vec<InvalidRow>,
}

impl<'a> Importer<'a> {
    fn new(state: &'a AppState, campaign: &'a Campaign) -> Self {
        Self {
            state,
            campaign,
            batch: Vec::with_capacity(STORE_BATCH),
            counts: ImportCounts::default(),
            invalid_count: 0,
            invalid: Vec::new(),
        }
    }

    async fn take(&mut self, rows: Vec<Result<ContactDraft, RowError>>) -> Result<(), ApiError> {
        for row in rows {
            match row {
                Ok(draft) => {
                    self.batch.push(NewContact {
                        number: draft.number.as_str().to_string(),
                        name: draft.name,
                        time_zone: draft
                            .time_zone
                            .map(|tz| tz.name().to_string())
                            .unwrap_or_else(|| self.campaign.time_zone.clone()),
                        variables: draft.variables,
                    });
                    if self.batch.len() >= STORE_BATCH {
                        self.flush().await?;
                    }
                }
                Err(e) => {
                    self.invalid_count += 1;
                    if self.invalid.len() < self.state.settings.campaigns.max_listed_invalid_rows {
                        self.invalid.push(InvalidRow {
                            line: e.line,
                            reason: e.reason,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let now = now_micros(self.state.clock.now());
        let counts = campaign_contacts::insert_batch(
            &self.state.db,
            &self.campaign.org_id,
            &self.campaign.id,
            &self.batch,
            now,
        )
        .await?;
        self.counts.imported += counts.imported;
        self.counts.merged += counts.merged;
        self.batch.clear();
        Ok(())
    }

    async fn finish(mut self) -> Result<ImportView, ApiError> {
        self.flush().await?;
        Ok(ImportView {
            object: "contact_import",
            imported: self.counts.imported,
            merged: self.counts.merged,
            invalid_count: self.invalid_count,
            invalid: self.invalid,
        })
    }
}

/// Adds contacts to a campaign, from JSON or a CSV upload.
#[utoipa::path(
    post,
    path = "/v1/campaigns/{id}/contacts",
    tag = "campaigns",
    operation_id = "import_campaign_contacts",
    summary = "Add contacts to a campaign",
    description = "JSON (`{\"contacts\": [...]}`, up to 10,000) or CSV (`Content-Type: \
        text/csv`, read as it streams in, any size up to `campaigns.max_upload_bytes`). The CSV \
        header names the columns: the number (`number`, `phone`, `telephone`, `téléphone`, \
        `mobile`, `numero`...), optionally `name` (`nom`) and `time_zone` (`tz`); every other \
        column is a variable passed to the assistant. `,`, `;` and tab delimiters are \
        recognised. Numbers are normalised to E.164 (national ones in the campaign's default \
        country); a number already in the campaign is merged. Each invalid row is reported \
        with its line and reason while the valid rows are imported. Not allowed once the \
        campaign is completed or cancelled. Needs the `write` scope.",
    params(("id" = String, Path, description = CAMPAIGN_ID)),
    request_body(content(
        (ContactsRequest = "application/json"),
        (String = "text/csv"),
    )),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Imported; `invalid` lists the refused rows", body = ImportView),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<ImportView>, ApiError> {
    caller.require(Scope::Write)?;
    let campaign = find(&state, &caller, &id).await?;
    if campaign.state.is_finished() {
        return Err(ApiError::Conflict(format!(
            "campaign {id} is {}: no contact can be added",
            campaign.state.as_str()
        )));
    }
    let country = CountryCode::parse(&campaign.default_country)
        .map_err(|e| ApiError::Internal(format!("campaign {id}: {e}")))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let mut importer = Importer::new(&state, &campaign);
    match content_type.as_str() {
        "text/csv" | "application/csv" => {
            let limit = state.settings.campaigns.max_upload_bytes;
            let mut reader = CsvContactReader::new(country);
            let mut stream = body.into_data_stream();
            let mut read = 0usize;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
                read += chunk.len();
                if read > limit {
                    return Err(ApiError::PayloadTooLarge);
                }
                let rows = reader
                    .feed(&chunk)
                    .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
                importer.take(rows).await?;
            }
            let rows = reader
                .finish()
                .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
            importer.take(rows).await?;
        }
        "application/json" => {
            let request = axum::http::Request::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let Json(request): Json<ContactsRequest> =
                <Json<ContactsRequest> as axum::extract::FromRequest<AppState>>::from_request(
                    request, &state,
                )
                .await?;
            if request.contacts.len() > MAX_JSON_CONTACTS {
                return Err(ApiError::Invalid(vec![
                    zencall_core::domain::assistant::FieldError::new(
                        "contacts",
                        format!(
                            "at most {MAX_JSON_CONTACTS} contacts per JSON request; upload larger lists as CSV"
                        ),
                    ),
                ]));
            }
            let rows = request
                .contacts
                .iter()
                .enumerate()
                .map(|(i, value)| contact_from_json(i as u64 + 1, value, &country))
                .collect();
            importer.take(rows).await?;
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "send contacts as application/json ({\"contacts\": [...]}) or text/csv".into(),
            ));
        }
    }
    Ok(axum::Json(importer.finish().await?))
}

/// The query of `GET /v1/campaigns/{id}/contacts`; any other parameter is refused (400).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Page size: 1 to 100, 20 by default.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    starting_after: Option<String>,
    /// Only contacts in this state.
    state: Option<ContactState>,
}

/// One attempt as listed with its contact.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AttemptView {
    /// `att_...`
    id: String,
    /// 1 for the contact's first attempt.
    attempt_no: u32,
    /// State.
    state: AttemptState,
    /// When it was planned.
    planned_at: DateTime<Utc>,
    /// When the call was placed.
    #[schema(required = true)]
    placed_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[schema(required = true)]
    ended_at: Option<DateTime<Utc>>,
    /// How it ended.
    #[schema(required = true)]
    outcome: Option<Outcome>,
    /// Why it failed or was not placed.
    #[schema(required = true)]
    detail: Option<String>,
    /// The call (`call_...`), once reported.
    #[schema(required = true)]
    call_id: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        AttemptView {
            id: a.id,
            attempt_no: a.attempt_no,
            state: a.state,
            planned_at: a.planned_at,
            placed_at: a.placed_at,
            ended_at: a.ended_at,
            outcome: a.outcome,
            detail: a.detail,
            call_id: a.call_id,
        }
    }
}

/// A contact as the API shows it, with its attempts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ContactView {
    /// `cct_...`
    id: String,
    /// Always `campaign_contact`.
    #[schema(schema_with = contact_object)]
    object: &'static str,
    /// E.164.
    number: String,
    /// Name.
    #[schema(required = true)]
    name: Option<String>,
    /// Time zone of its calling window.
    time_zone: String,
    /// Variables passed to the assistant.
    #[schema(value_type = Object)]
    variables: Map<String, Value>,
    /// State.
    state: ContactState,
    /// Attempts planned or made.
    attempt_count: u32,
    /// When a pending contact is due (its calling window permitting).
    #[schema(required = true)]
    next_attempt_at: Option<DateTime<Utc>>,
    /// Outcome of the latest attempt.
    #[schema(required = true)]
    last_outcome: Option<Outcome>,
    /// Why it was skipped or cancelled (`do_not_call`, `no_consent`, `refused_recently`, ...).
    #[schema(required = true)]
    skip_reason: Option<String>,
    /// Every attempt, the first first.
    attempts: Vec<AttemptView>,
    /// When it was added.
    created_at: DateTime<Utc>,
    /// Last change.
    updated_at: DateTime<Utc>,
}

impl ContactView {
    fn of(c: Contact, attempts: Vec<Attempt>) -> Self {
        ContactView {
            id: c.id,
            object: "campaign_contact",
            number: c.number,
            name: c.name,
            time_zone: c.time_zone,
            variables: c.variables,
            state: c.state,
            attempt_count: c.attempts,
            next_attempt_at: c.next_attempt_at,
            last_outcome: c.last_outcome,
            skip_reason: c.skip_reason,
            attempts: attempts.into_iter().map(AttemptView::from).collect(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Lists a campaign's contacts in import order, each with its attempts.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{id}/contacts",
    tag = "campaigns",
    operation_id = "list_campaign_contacts",
    summary = "List a campaign's contacts",
    params(("id" = String, Path, description = CAMPAIGN_ID), ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of contacts", body = Page<ContactView>),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<ContactView>>, ApiError> {
    caller.require(Scope::Read)?;
    let limit = page_limit(params.limit)?;
    let campaign = find(&state, &caller, &id).await?;
    let rows = campaign_contacts::list(
        &state.db,
        &campaign.id,
        params.state,
        params.starting_after.as_deref(),
        limit + 1,
    )
    .await?;
    let ids: Vec<String> = rows.iter().map(|c| c.id.clone()).collect();
    let attempts = call_attempts::for_contacts(&state.db, &ids).await?;
    let mut by_contact: std::collections::HashMap<String, Vec<Attempt>> =
        std::collections::HashMap::new();
    for a in attempts {
        by_contact.entry(a.contact_id.clone()).or_default().push(a);
    }
    let views = rows
        .into_iter()
        .map(|c| {
            let mine = by_contact.remove(&c.id).unwrap_or_default();
            ContactView::of(c, mine)
        })
        .collect();
    Ok(axum::Json(Page::of(views, limit, |c: &ContactView| {
        c.id.clone()
    })))
}
