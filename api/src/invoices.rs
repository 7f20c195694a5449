//! `/v1/invoices`: the organisation's invoice documents (numbered from our continuous
//! sequence, one per finalized Stripe invoice), the credit notes that cancel invoices voided
//! afterwards (numbered from a sequence of their own), and their PDFs.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::invoice::{DocumentKind, InvoiceDocument};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::invoices::{self, StoredInvoiceDocument};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Query;
use crate::http::pagination::{Page, PageParams, page_limit};
use crate::openapi::{BadRequest, NotFound, V1Errors};

/// Invoice routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(pdf))
}

/// An invoice or a credit note.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct InvoiceView {
    /// Always `invoice`.
    #[schema(schema_with = invoice_object)]
    object: &'static str,
    /// Our id (`inv_...`).
    id: String,
    /// `invoice`, or `credit_note` for a credit note (avoir) that cancels an invoice whose
    /// Stripe invoice was voided; its amounts are credited to the buyer.
    kind: DocumentKind,
    /// For a credit note, the id of the invoice it cancels.
    #[serde(skip_serializing_if = "Option::is_none")]
    credited_invoice_id: Option<String>,
    /// Our number (`F-000042`, `AV-000003` for a credit note).
    number: String,
    /// The Stripe invoice it documents.
    stripe_invoice_id: String,
    /// Issue date (Paris).
    issued_on: NaiveDate,
    /// Due date.
    due_on: NaiveDate,
    /// ISO 4217, lower case.
    currency: String,
    /// Total excluding tax, in minor units.
    total_excl_tax: i64,
    /// VAT, in minor units.
    vat_amount: i64,
    /// Total including tax, in minor units.
    total_incl_tax: i64,
    /// How VAT applies.
    vat_treatment: String,
    /// The PDF.
    pdf_url: String,
    /// SHA-256 of the PDF, hex: what was sent is what is kept.
    pdf_sha256: String,
    /// When it was issued.
    created_at: DateTime<Utc>,
    /// The whole document (parties, lines, mentions); only on `GET /v1/invoices/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<InvoiceDocument>,
}

fn invoice_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("invoice")
}

impl InvoiceView {
    fn of(i: StoredInvoiceDocument, document: Option<InvoiceDocument>) -> Self {
        InvoiceView {
            object: "invoice",
            pdf_url: format!("/v1/invoices/{}/pdf", i.id),
            kind: DocumentKind::parse(&i.kind).unwrap_or_default(),
            credited_invoice_id: i.credited_invoice_id,
            id: i.id,
            number: i.number,
            stripe_invoice_id: i.stripe_invoice_id,
            issued_on: i.issued_on,
            due_on: i.due_on,
            currency: i.currency,
            total_excl_tax: i.total_excl_tax,
            vat_amount: i.vat_amount,
            total_incl_tax: i.total_incl_tax,
            vat_treatment: i.vat_treatment,
            pdf_sha256: i.pdf_sha256,
            created_at: i.created_at,
            document,
        }
    }
}

/// The path parameter of one invoice's routes.
const INVOICE_ID: &str = "The invoice's id, `inv_...`";

/// Lists the organisation's invoices, newest first.
#[utoipa::path(
    get,
    path = "/v1/invoices",
    tag = "billing",
    operation_id = "list_invoices",
    summary = "List invoices",
    description = "The organisation's invoices and credit notes, newest first, without their \
        documents. Needs the `read` scope.",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of invoices", body = inline(Page<InvoiceView>)),
        (status = 400, response = BadRequest),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<InvoiceView>>, ApiError> {
    caller.require(Scope::Read)?;
    let limit = page_limit(params.limit)?;
    if let Some(id) = &params.starting_after
        && invoices::find(&state.db, caller.org_id(), id)
            .await?
            .is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "starting_after: no invoice {id}"
        )));
    }
    let before = params.starting_after.as_deref();
    let rows = invoices::list(&state.db, caller.org_id(), before, i64::from(limit) + 1).await?;
    let views = rows.into_iter().map(|i| InvoiceView::of(i, None)).collect();
    Ok(axum::Json(Page::of(views, limit, |v: &InvoiceView| {
        v.id.clone()
    })))
}

async fn find(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<StoredInvoiceDocument, ApiError> {
    invoices::find(&state.db, caller.org_id(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("invoice {id}")))
}

/// Reads one invoice with its document.
#[utoipa::path(
    get,
    path = "/v1/invoices/{id}",
    tag = "billing",
    operation_id = "get_invoice",
    summary = "Read an invoice",
    description = "The invoice with its whole document: both parties, the lines with their unit \
        prices excluding tax, VAT, totals and the legal mentions. Needs the `read` scope.",
    params(("id" = String, Path, description = INVOICE_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The invoice", body = InvoiceView),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<InvoiceView>, ApiError> {
    caller.require(Scope::Read)?;
    let invoice = find(&state, &caller, &id).await?;
    let document = invoice.document()?;
    Ok(axum::Json(InvoiceView::of(invoice, Some(document))))
}

/// Downloads an invoice's PDF.
#[utoipa::path(
    get,
    path = "/v1/invoices/{id}/pdf",
    tag = "billing",
    operation_id = "get_invoice_pdf",
    summary = "Download an invoice's PDF",
    description = "The PDF as issued (its SHA-256 is the invoice's `pdf_sha256`). Needs the \
        `read` scope.",
    params(("id" = String, Path, description = INVOICE_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn pdf(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Scope::Read)?;
    let (kind, number, bytes) = invoices::pdf(&state.db, caller.org_id(), &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("invoice {id}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "inline; filename=\"{}-{number}.pdf\"",
                    kind.name().to_lowercase()
                ),
            ),
        ],
        bytes,
    ))
}
