//! `/v1/billing/profile`: who the organisation's invoices are addressed to. French invoices
//! need the buyer's legal name and address, and its VAT number decides whether French VAT
//! applies (an EU business outside France is invoiced under reverse charge); invoices are not
//! issued until the profile is given.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::billing_profile::BillingProfileRequest;
use zencall_core::domain::vat::VatTreatment;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::billing_profiles::{self, StoredProfile};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::{Forbidden, JsonBodyErrors, NotFound, V1Errors};

/// Billing profile routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, replace))
}

/// The organisation's billing identity.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ProfileView {
    /// Always `billing_profile`.
    #[schema(schema_with = profile_object)]
    object: &'static str,
    /// Legal name.
    legal_name: String,
    /// Where invoices and payment notices are emailed.
    email: String,
    /// Street and number.
    address_line1: String,
    /// Building, floor.
    address_line2: Option<String>,
    /// Postal code.
    postal_code: String,
    /// City.
    city: String,
    /// ISO 3166-1 alpha-2 country code.
    country: String,
    /// Intra-community VAT number, normalised.
    vat_id: Option<String>,
    /// SIREN.
    siren: Option<String>,
    /// How VAT applies to this buyer's invoices.
    vat_treatment: VatTreatment,
    /// When it last changed.
    updated_at: DateTime<Utc>,
}

fn profile_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("billing_profile")
}

impl From<StoredProfile> for ProfileView {
    fn from(p: StoredProfile) -> Self {
        let vat_treatment = p.profile().vat_treatment();
        ProfileView {
            object: "billing_profile",
            legal_name: p.legal_name,
            email: p.email,
            address_line1: p.address_line1,
            address_line2: p.address_line2,
            postal_code: p.postal_code,
            city: p.city,
            country: p.country,
            vat_id: p.vat_id,
            siren: p.siren,
            vat_treatment,
            updated_at: p.updated_at,
        }
    }
}

/// Reads the billing profile.
#[utoipa::path(
    get,
    path = "/v1/billing/profile",
    tag = "billing",
    operation_id = "get_billing_profile",
    summary = "Read the billing profile",
    description = "Who invoices are addressed to. Needs the `read` scope.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = ProfileView),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<ProfileView>, ApiError> {
    caller.require(Scope::Read)?;
    billing_profiles::find(&state.db, caller.org_id())
        .await?
        .map(|p| axum::Json(p.into()))
        .ok_or_else(|| ApiError::NotFound("billing profile (PUT one first)".into()))
}

/// Gives or replaces the billing profile.
#[utoipa::path(
    put,
    path = "/v1/billing/profile",
    tag = "billing",
    operation_id = "put_billing_profile",
    summary = "Give or replace the billing profile",
    description = "The buyer's legal name, address, billing email, VAT number and SIREN, as the \
        next invoices will show them (issued invoices never change). Each invalid field is named \
        in `errors`. Needs the `admin` scope.",
    request_body = BillingProfileRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile stored", body = ProfileView),
        (status = 403, response = Forbidden),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<BillingProfileRequest>,
) -> Result<axum::Json<ProfileView>, ApiError> {
    caller.require(Scope::Admin)?;
    let profile = body.validate().map_err(ApiError::Invalid)?;
    let stored =
        billing_profiles::put(&state.db, caller.org_id(), &profile, state.clock.now()).await?;
    Ok(axum::Json(stored.into()))
}
