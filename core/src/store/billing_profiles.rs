//! The billing identity of each organisation (who its invoices are addressed to), one row per
//! organisation, replaced as a whole by `PUT /v1/billing/profile`.

use chrono::{DateTime, Utc};

use super::{Db, StoreError};
use crate::domain::billing_profile::BillingProfile;
use zencall_queue::on_pool;

/// A stored profile.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredProfile {
    /// The organisation.
    pub org_id: String,
    /// Legal name.
    pub legal_name: String,
    /// Where invoices go.
    pub email: String,
    /// Street and number.
    pub address_line1: String,
    /// Building, floor.
    pub address_line2: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// VAT number.
    pub vat_id: Option<String>,
    /// SIREN.
    pub siren: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl StoredProfile {
    /// The profile itself.
    pub fn profile(&self) -> BillingProfile {
        BillingProfile {
            legal_name: self.legal_name.clone(),
            email: self.email.clone(),
            address_line1: self.address_line1.clone(),
            address_line2: self.address_line2.clone(),
            postal_code: self.postal_code.clone(),
            city: self.city.clone(),
            country: self.country.clone(),
            vat_id: self.vat_id.clone(),
            siren: self.siren.clone(),
        }
    }
}

/// The organisation's profile, if it gave one.
pub async fn find(db: &Db, org_id: &str) -> Result<Option<StoredProfile>, StoreError> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, StoredProfile>(
        "SELECT org_id, legal_name, email, address_line1, address_line2, postal_code, city, country, \
         vat_id, siren, updated_at FROM billing_profiles WHERE org_id = $1"
    )
    .bind(org_id)
    .fetch_optional(p)
    .await
    })?)
}

/// Stores `profile` as the organisation's, replacing the one it had.
pub async fn put(
    db: &Db,
    org_id: &str,
    profile: &BillingProfile,
    now: DateTime<Utc>,
) -> Result<StoredProfile, StoreError> {
    on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO billing_profiles (org_id, legal_name, email, address_line1, address_line2, postal_code, \
         city, country, vat_id, siren, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (org_id) DO UPDATE SET legal_name = excluded.legal_name, email = excluded.email, \
         address_line1 = excluded.address_line1, address_line2 = excluded.address_line2, \
         postal_code = excluded.postal_code, city = excluded.city, country = excluded.country, \
         vat_id = excluded.vat_id, siren = excluded.siren, updated_at = excluded.updated_at"
    )
    .bind(org_id)
    .bind(&profile.legal_name)
    .bind(&profile.email)
    .bind(&profile.address_line1)
    .bind(&profile.address_line2)
    .bind(&profile.postal_code)
    .bind(&profile.city)
    .bind(&profile.country)
    .bind(&profile.vat_id)
    .bind(&profile.siren)
    .bind(super::now_micros(now))
    .execute(p)
    .await
    .map(|_| ())
    })?;
    find(db, org_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("the billing profile of {org_id} vanished")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::billing_profile::BillingProfileRequest;
    use crate::store::organisations;
    use crate::store::test_db::TestDb;

    #[tokio::test]
    async fn a_profile_is_replaced_as_a_whole() {
        for t in TestDb::all().await {
            let db = &t.db;
            let mut tx = db.begin().await.unwrap();
            let org = organisations::create(&mut tx, "Petit", Utc::now())
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert!(find(db, &org.id).await.unwrap().is_none());
            let mut request = BillingProfileRequest {
                legal_name: Some("Petit SARL".into()),
                email: Some("compta@petit.fr".into()),
                address_line1: Some("1 rue A".into()),
                address_line2: Some("Bât. B".into()),
                postal_code: Some("69003".into()),
                city: Some("Lyon".into()),
                country: Some("FR".into()),
                vat_id: Some("FR40303265045".into()),
                siren: Some("303265045".into()),
            };
            let first = put(db, &org.id, &request.validate().unwrap(), Utc::now())
                .await
                .unwrap();
            assert_eq!(first.profile().vat_id.as_deref(), Some("FR40303265045"));
            request.address_line2 = None;
            request.vat_id = None;
            let second = put(db, &org.id, &request.validate().unwrap(), Utc::now())
                .await
                .unwrap();
            assert_eq!(second.address_line2, None);
            assert_eq!(second.vat_id, None);
            assert_eq!(find(db, &org.id).await.unwrap().unwrap(), second);
            t.drop_database().await;
        }
    }
}
