//! The billing identity of an organisation: who its invoices are addressed to, where they are
//! emailed, and the VAT number that decides whether French VAT applies (see [`super::vat`]).

use serde::{Deserialize, Serialize};

use super::assistant::{FieldError, optional_text, required_text};
use super::phone::CountryCode;
use super::vat::{self, VatTreatment};

/// `PUT /v1/billing/profile` as received, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BillingProfileRequest {
    /// The buyer's legal name, as invoices show it: 1 to 200 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, examples("Boulangerie Petit SARL")))]
    pub legal_name: Option<String>,
    /// Where invoices and payment notices are emailed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, examples("compta@boulangerie-petit.fr")))]
    pub email: Option<String>,
    /// Street and number: 1 to 200 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, examples("12 rue des Lilas")))]
    pub address_line1: Option<String>,
    /// Building, floor: up to 200 characters.
    pub address_line2: Option<String>,
    /// Postal code: 1 to 20 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, examples("69003")))]
    pub postal_code: Option<String>,
    /// City: 1 to 100 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, examples("Lyon")))]
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, examples("FR")))]
    pub country: Option<String>,
    /// Intra-community VAT number. An EU business outside France that gives one is invoiced
    /// without French VAT (reverse charge).
    #[cfg_attr(feature = "openapi", schema(examples("FR40303265045")))]
    pub vat_id: Option<String>,
    /// French company number (9 digits), printed on invoices when given.
    #[cfg_attr(feature = "openapi", schema(examples("303265045")))]
    pub siren: Option<String>,
}

/// A checked billing identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingProfile {
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
    /// Normalised VAT number.
    pub vat_id: Option<String>,
    /// SIREN, 9 digits.
    pub siren: Option<String>,
}

impl BillingProfileRequest {
    /// Checks every field; the errors name each bad one.
    pub fn validate(&self) -> Result<BillingProfile, Vec<FieldError>> {
        let mut errors = Vec::new();
        let legal_name = required_text(&mut errors, "legal_name", self.legal_name.as_ref(), 200);
        let email = match self.email.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(FieldError::new("email", "is required"));
                None
            }
            Some(e) if super::email::is_plausible(e) => Some(e.to_string()),
            Some(_) => {
                errors.push(FieldError::new(
                    "email",
                    "must be an email address such as compta@example.fr",
                ));
                None
            }
        };
        let address_line1 = required_text(
            &mut errors,
            "address_line1",
            self.address_line1.as_ref(),
            200,
        );
        let address_line2 = optional_text(
            &mut errors,
            "address_line2",
            self.address_line2.as_ref(),
            200,
        );
        let postal_code = required_text(&mut errors, "postal_code", self.postal_code.as_ref(), 20);
        let city = required_text(&mut errors, "city", self.city.as_ref(), 100);
        let country = match self.country.as_deref() {
            None | Some("") => {
                errors.push(FieldError::new("country", "is required"));
                None
            }
            Some(c) => CountryCode::parse(c)
                .map(|c| c.as_str().to_string())
                .map_err(|m| errors.push(FieldError::new("country", m)))
                .ok(),
        };
        let vat_id = match self.vat_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => match vat::normalize_vat_id(v) {
                Ok(v) => Some(v),
                Err(m) => {
                    errors.push(FieldError::new("vat_id", m));
                    None
                }
            },
        };
        if let (Some(v), Some(c)) = (&vat_id, &country)
            && vat::vat_country(&v[..2]) != c
        {
            errors.push(FieldError::new(
                "vat_id",
                format!("{v} is a VAT number of another country than the address's ({c})"),
            ));
        }
        let siren = match self.siren.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => match vat::normalize_siren(s) {
                Ok(s) => Some(s),
                Err(m) => {
                    errors.push(FieldError::new("siren", m));
                    None
                }
            },
        };
        if let (Some(s), Some(v)) = (&siren, &vat_id)
            && v.starts_with("FR")
            && !v.ends_with(s.as_str())
        {
            errors.push(FieldError::new(
                "siren",
                format!("{s} is not the SIREN of the VAT number {v}"),
            ));
        }
        match (
            legal_name,
            email,
            address_line1,
            postal_code,
            city,
            country,
            errors.is_empty(),
        ) {
            (
                Some(legal_name),
                Some(email),
                Some(address_line1),
                Some(postal_code),
                Some(city),
                Some(country),
                true,
            ) => Ok(BillingProfile {
                legal_name,
                email,
                address_line1,
                address_line2,
                postal_code,
                city,
                country,
                vat_id,
                siren,
            }),
            _ => Err(errors),
        }
    }
}

impl BillingProfile {
    /// How VAT applies to this buyer.
    pub fn vat_treatment(&self) -> VatTreatment {
        vat::treatment(&self.country, self.vat_id.as_deref())
    }

    /// The postal address, one line each, as an invoice prints it.
    pub fn address_lines(&self) -> Vec<String> {
        let mut lines = vec![self.address_line1.clone()];
        lines.extend(self.address_line2.clone());
        lines.push(format!("{} {}", self.postal_code, self.city));
        lines.push(self.country.clone());
        lines
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn request() -> BillingProfileRequest {
        BillingProfileRequest {
            legal_name: Some("Boulangerie Petit SARL".into()),
            email: Some("compta@petit.fr".into()),
            address_line1: Some("12 rue des Lilas".into()),
            address_line2: None,
            postal_code: Some("69003".into()),
            city: Some("Lyon".into()),
            country: Some("fr".into()),
            vat_id: Some("FR 40 303 265 045".into()),
            siren: Some("303 265 045".into()),
        }
    }

    #[test]
    fn a_french_business_is_normalised_and_pays_vat() {
        let p = request().validate().unwrap();
        assert_eq!(p.country, "FR");
        assert_eq!(p.vat_id.as_deref(), Some("FR40303265045"));
        assert_eq!(p.siren.as_deref(), Some("303265045"));
        assert_eq!(p.vat_treatment(), VatTreatment::Standard);
        assert_eq!(p.address_lines(), ["12 rue des Lilas", "69003 Lyon", "FR"]);
    }

    #[test]
    fn a_german_business_with_its_vat_number_is_reverse_charged() {
        let mut r = request();
        r.country = Some("DE".into());
        r.vat_id = Some("DE129273398".into());
        r.siren = None;
        assert_eq!(
            r.validate().unwrap().vat_treatment(),
            VatTreatment::ReverseCharge
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let r = BillingProfileRequest {
            legal_name: Some(" ".into()),
            email: Some("nope".into()),
            address_line1: None,
            address_line2: Some("x".repeat(201)),
            postal_code: None,
            city: None,
            country: Some("XX".into()),
            vat_id: Some("FR41303265045".into()),
            siren: Some("123".into()),
        };
        let fields: Vec<String> = r
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        for f in [
            "legal_name",
            "email",
            "address_line1",
            "address_line2",
            "postal_code",
            "city",
            "country",
            "vat_id",
            "siren",
        ] {
            assert!(
                fields.contains(&f.to_string()),
                "{f} missing from {fields:?}"
            );
        }
        let mut r = request();
        r.country = Some("BE".into());
        let errors = r.validate().unwrap_err();
        assert_eq!(errors[0].field, "vat_id");
        let mut r = request();
        r.siren = Some("732829320".into());
        assert_eq!(r.validate().unwrap_err()[0].field, "siren");
    }
}
