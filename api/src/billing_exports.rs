//! `/v1/billing/exports/fec`: the sales journal of issued invoices for the accountant, as a FEC
//! (article A.47 A-1 of the Livre des procédures fiscales) or a plain CSV. An organisation's
//! key exports the invoices it received; the platform operator's exports every organisation's,
//! which is the seller's own sales journal.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{Datelike, NaiveDate, TimeDelta};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::invoice::paris_date;
use zencall_core::domain::sales_journal::{self, JournalInvoice};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::{invoices, organisations};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Query;
use crate::openapi::{BadRequest, Forbidden, V1Errors};

/// Export routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(fec))
}

/// The longest span one export covers.
const MAX_DAYS: i64 = 366;

/// The query of `GET /v1/billing/exports/fec`; any other parameter is refused (400).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExportParams {
    /// First issue date included; 1 January of this year by default.
    from: Option<NaiveDate>,
    /// Last issue date included; today by default. At most 366 days after `from`.
    to: Option<NaiveDate>,
    /// `fec` (the default) or `csv`.
    format: Option<String>,
}

/// Exports the sales journal.
#[utoipa::path(
    get,
    path = "/v1/billing/exports/fec",
    tag = "billing",
    operation_id = "export_sales_journal",
    summary = "Export the sales journal (FEC or CSV)",
    description = "The invoices and credit notes issued from `from` to `to`, in issue order. \
        A credit note is booked the other way round. `format=fec` (default): \
        the FEC of article A.47 A-1 of the LPF, 18 columns separated by `|`, ISO 8859-15, one \
        balanced entry per invoice (customer debited, revenue and VAT collected credited), named \
        `{SIREN}FEC{to}.txt`. `format=csv`: one row per invoice, UTF-8. The platform operator's \
        key exports every organisation's invoices, others their own. Needs the `admin` scope.",
    params(ExportParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The journal: a FEC (`text/plain`, ISO 8859-15) or, with \
            `format=csv`, a CSV (`text/csv`, UTF-8)", content(
            (String = "text/plain"),
            (String = "text/csv"),
        )),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        V1Errors,
    )
)]
async fn fec(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ExportParams>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let today = paris_date(state.clock.now());
    let to = params.to.unwrap_or(today);
    let from = params
        .from
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(to.year(), 1, 1).unwrap_or(to));
    if from > to {
        return Err(ApiError::BadRequest("from: must not be after to".into()));
    }
    if to - from > TimeDelta::days(MAX_DAYS) {
        return Err(ApiError::BadRequest(format!(
            "to: at most {MAX_DAYS} days after from; export a fiscal year at a time"
        )));
    }
    let csv = match params.format.as_deref() {
        None | Some("fec") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::BadRequest("format: must be fec or csv".into())),
    };
    let everyone = organisations::operates_platform(&state.db, caller.org_id()).await?;
    let org = (!everyone).then_some(caller.org_id());
    let rows = invoices::issued_between(&state.db, org, from, to).await?;
    let mut journal = Vec::with_capacity(rows.len());
    for row in rows {
        journal.push(JournalInvoice {
            document: row.document()?,
            org_id: row.org_id,
        });
    }
    let billing = &state.settings.billing;
    let (content_type, name, body) = if csv {
        (
            "text/csv; charset=utf-8",
            format!("ventes-{from}-{to}.csv"),
            sales_journal::csv_text(&journal).into_bytes(),
        )
    } else {
        (
            "text/plain; charset=iso-8859-15",
            sales_journal::fec_file_name(&billing.seller.siren, to),
            sales_journal::to_latin9(&sales_journal::fec_text(&journal, &billing.accounting)),
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn both_formats_are_documented() {
        let doc = crate::openapi::document_json().unwrap();
        let content =
            &doc["paths"]["/v1/billing/exports/fec"]["get"]["responses"]["200"]["content"];
        assert!(content["text/plain"].is_object(), "{content}");
        assert!(content["text/csv"].is_object(), "{content}");
    }
}
