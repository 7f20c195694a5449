//! Who pays French VAT on our services: the buyer's country and VAT number decide. Zencall
//! sells services to businesses from France, so (article 259-1 of the CGI) a French buyer pays
//! French VAT, a business in another EU country that gives its VAT number self-assesses it
//! (reverse charge, "autoliquidation", article 283-2 of the CGI and 196 of directive
//! 2006/112/EC), a buyer outside the EU pays none (outside the scope of French VAT), and an EU
//! buyer without a VAT number is treated as a consumer and pays French VAT.
//!
//! Also the checks of the identifiers an invoice shows: SIREN (9 digits, Luhn key) and
//! intra-community VAT numbers (the French key is checked; other countries' formats only
//! roughly, since only VIES can say whether a number is live).

use serde::{Deserialize, Serialize};

/// The EU member states, by ISO 3166-1 alpha-2 code.
pub const EU_COUNTRIES: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// True for an EU member state's ISO code.
pub fn is_eu(country: &str) -> bool {
    EU_COUNTRIES.contains(&country)
}

/// How VAT applies to an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VatTreatment {
    /// French VAT at the standard rate.
    Standard,
    /// An EU business outside France self-assesses the VAT.
    ReverseCharge,
    /// A buyer outside the EU: no French VAT.
    OutsideScope,
}

impl VatTreatment {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VatTreatment::Standard => "standard",
            VatTreatment::ReverseCharge => "reverse_charge",
            VatTreatment::OutsideScope => "outside_scope",
        }
    }

    /// The mention the invoice must carry, if any.
    pub fn mention(self) -> Option<&'static str> {
        match self {
            VatTreatment::Standard => None,
            VatTreatment::ReverseCharge => Some(
                "Autoliquidation : TVA due par le preneur (art. 283-2 du CGI, art. 196 de la directive 2006/112/CE)",
            ),
            VatTreatment::OutsideScope => {
                Some("TVA non applicable, art. 259-1 du CGI (prestation de services hors UE)")
            }
        }
    }
}

/// The treatment for a buyer in `country` (ISO code) with or without a VAT number.
pub fn treatment(country: &str, vat_id: Option<&str>) -> VatTreatment {
    if country == "FR" {
        VatTreatment::Standard
    } else if is_eu(country) {
        if vat_id.is_some() {
            VatTreatment::ReverseCharge
        } else {
            VatTreatment::Standard
        }
    } else {
        VatTreatment::OutsideScope
    }
}

/// VAT on `amount` minor units at `rate_bps` basis points, rounded half up to the minor unit.
pub fn vat_on(amount: i64, rate_bps: u32) -> Option<i64> {
    let product = amount.checked_mul(i64::from(rate_bps))?;
    Some(if product >= 0 {
        (product + 5_000) / 10_000
    } else {
        -((-product + 5_000) / 10_000)
    })
}

/// True when `digits` passes the Luhn check.
fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// A SIREN without spaces, checked: 9 digits with a valid Luhn key.
pub fn normalize_siren(input: &str) -> Result<String, String> {
    let siren: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if siren.len() != 9 || !siren.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be a SIREN of 9 digits, such as 732 829 320".into());
    }
    if !luhn(&siren) {
        return Err(format!(
            "{siren} is not a valid SIREN: its check digit is wrong"
        ));
    }
    Ok(siren)
}

/// The French VAT key of a SIREN: (12 + 3 × (SIREN mod 97)) mod 97.
pub fn french_vat_key(siren: &str) -> Option<u64> {
    let n: u64 = siren.parse().ok()?;
    Some((12 + 3 * (n % 97)) % 97)
}

/// A VAT number without spaces, dots or dashes, upper case, checked: an EU country prefix
/// (`EL` for Greece) and 2 to 13 letters or digits; a French one is `FR`, a 2-digit key and a
/// valid SIREN whose key matches.
pub fn normalize_vat_id(input: &str) -> Result<String, String> {
    let vat: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    let example = "such as FR40303265045 or DE129273398";
    if vat.len() < 4 || vat.len() > 15 || !vat.is_ascii() {
        return Err(format!("must be an intra-community VAT number, {example}"));
    }
    let (prefix, rest) = vat.split_at(2);
    let country = vat_country(prefix);
    if !is_eu(country) {
        return Err(format!(
            "{vat} does not start with an EU country code; give an intra-community VAT number, {example}"
        ));
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "{vat} may hold only letters and digits after its country code"
        ));
    }
    if prefix == "FR" {
        let key_ok = rest.len() == 11
            && rest[..2].bytes().all(|b| b.is_ascii_digit())
            && normalize_siren(&rest[2..]).is_ok()
            && french_vat_key(&rest[2..]) == rest[..2].parse::<u64>().ok();
        if !key_ok {
            return Err(format!(
                "{vat} is not a valid French VAT number: FR, a 2-digit key and the SIREN, such as FR40303265045"
            ));
        }
    }
    Ok(vat)
}

/// The ISO country of a VAT number's prefix (Greece uses `EL`).
pub fn vat_country(prefix: &str) -> &str {
    if prefix == "EL" { "GR" } else { prefix }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_buyer_decides_who_pays_the_vat() {
        assert_eq!(treatment("FR", None), VatTreatment::Standard);
        assert_eq!(
            treatment("FR", Some("FR40303265045")),
            VatTreatment::Standard
        );
        assert_eq!(
            treatment("DE", Some("DE129273398")),
            VatTreatment::ReverseCharge
        );
        assert_eq!(treatment("DE", None), VatTreatment::Standard);
        assert_eq!(treatment("CH", None), VatTreatment::OutsideScope);
        assert_eq!(treatment("US", Some("x")), VatTreatment::OutsideScope);
        assert!(
            VatTreatment::ReverseCharge
                .mention()
                .unwrap()
                .contains("Autoliquidation")
        );
    }

    #[test]
    fn vat_is_rounded_half_up_to_the_cent() {
        assert_eq!(vat_on(2900, 2000), Some(580));
        assert_eq!(vat_on(1, 2000), Some(0));
        assert_eq!(vat_on(3, 2000), Some(1));
        assert_eq!(vat_on(25, 2000), Some(5));
        assert_eq!(vat_on(-3, 2000), Some(-1));
        assert_eq!(vat_on(i64::MAX, 2000), None);
    }

    #[test]
    fn sirens_are_checked_by_their_key() {
        assert_eq!(normalize_siren("732 829 320").unwrap(), "732829320");
        assert!(normalize_siren("732829321").is_err());
        assert!(normalize_siren("12345678").is_err());
        assert!(normalize_siren("abcdefghi").is_err());
    }

    #[test]
    fn vat_numbers_are_normalised_and_french_keys_checked() {
        assert_eq!(
            normalize_vat_id("fr 40 303 265 045").unwrap(),
            "FR40303265045"
        );
        assert!(normalize_vat_id("FR41303265045").is_err());
        assert_eq!(normalize_vat_id("DE129273398").unwrap(), "DE129273398");
        assert_eq!(normalize_vat_id("EL094014201").unwrap(), "EL094014201");
        assert!(normalize_vat_id("US123456789").is_err());
        assert!(normalize_vat_id("DE12_34").is_err());
        assert!(normalize_vat_id("").is_err());
        assert_eq!(french_vat_key("303265045"), Some(40));
    }

    proptest! {
        #[test]
        fn arbitrary_identifiers_never_panic(text in ".{0,30}") {
            let _ = normalize_vat_id(&text);
            let _ = normalize_siren(&text);
        }

        #[test]
        fn every_valid_siren_makes_a_valid_french_vat_number(base in 10_000_000u64..99_999_999) {
            let siren = (0..10).map(|d| format!("{base}{d}")).find(|s| luhn(s)).unwrap();
            let vat = format!("FR{:02}{siren}", french_vat_key(&siren).unwrap());
            prop_assert_eq!(normalize_vat_id(&vat).unwrap(), vat);
        }
    }
}
