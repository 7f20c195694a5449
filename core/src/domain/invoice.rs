//! Our invoice document for a finalized Stripe invoice. Stripe Billing is the ledger of what was
//! charged; the document is what French law wants the buyer to receive: both parties'
//! identities, a number from our own continuous sequence, issue and due dates, each line with
//! its unit price excluding tax, the VAT rate and amount (or the mention that explains why there
//! is none), the totals, the payment terms, the late-payment penalty rate and the EUR 40
//! recovery indemnity.
//!
//! [`build`] checks that Stripe's amounts agree with the French VAT rule for this buyer before
//! anything is numbered: an invoice Stripe taxed differently is refused with the reason, since
//! a document that disagrees with the charge is worse than none.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Europe::Paris;
use serde::{Deserialize, Serialize};

use super::billing_profile::BillingProfile;
use super::vat::{self, VatTreatment};
use crate::invoice_settings::{InvoiceSettings, SellerSettings};
use crate::plans::PlanSettings;

/// The fixed recovery indemnity owed by a business paying late (article D441-5 of the Code de
/// commerce), as printed.
pub const RECOVERY_INDEMNITY: &str =
    "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 €.";

/// What is sold, as the invoice says it (a mention required since the e-invoicing reform).
pub const OPERATION_CATEGORY: &str = "Prestation de services";

/// An invoice as Stripe charged it, in the terms billing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargedInvoice {
    /// Stripe's id (`in_...`).
    pub id: String,
    /// Stripe's own number.
    pub number: Option<String>,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Every line, in Stripe's order.
    pub lines: Vec<ChargedLine>,
    /// Before tax, in minor units.
    pub subtotal: i64,
    /// Tax, in minor units.
    pub tax: i64,
    /// With tax, in minor units.
    pub total: i64,
    /// When Stripe finalized it.
    pub finalized_at: DateTime<Utc>,
    /// When payment is due, when Stripe says.
    pub due_date: Option<DateTime<Utc>>,
}

/// One line as Stripe charged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargedLine {
    /// Stripe's text.
    pub description: Option<String>,
    /// The price billed.
    pub price_id: Option<String>,
    /// Units.
    pub quantity: Option<u64>,
    /// Before tax, in minor units.
    pub amount: i64,
    /// Start of the period covered.
    pub period_start: DateTime<Utc>,
    /// End of the period covered.
    pub period_end: DateTime<Utc>,
}

/// A party to the invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Party {
    /// Legal name.
    pub name: String,
    /// Legal form and capital (the seller's).
    pub legal_form: Option<String>,
    /// Postal address, one entry per line.
    pub address: Vec<String>,
    /// SIREN, with its registry for the seller (`RCS Paris 900 000 001`).
    pub registration: Option<String>,
    /// Intra-community VAT number.
    pub vat_id: Option<String>,
    /// Email address.
    pub email: Option<String>,
}

/// One line of the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentLine {
    /// What is billed, in French.
    pub description: String,
    /// First day of the period covered.
    pub period_start: NaiveDate,
    /// Last day of the period covered.
    pub period_end: NaiveDate,
    /// Units.
    pub quantity: u64,
    /// Unit price excluding tax, in hundredths of a minor unit (1500 = 0.15 EUR), so that a
    /// price below the cent is shown exactly.
    pub unit_price_centicents: i64,
    /// Amount excluding tax, in minor units.
    pub amount_excl_tax: i64,
    /// VAT rate in basis points (0 when there is none).
    pub vat_rate_basis_points: u32,
}

/// What a document is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// An invoice (facture).
    #[default]
    Invoice,
    /// A credit note (avoir) cancelling an invoice.
    CreditNote,
}

impl DocumentKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "invoice",
            DocumentKind::CreditNote => "credit_note",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [DocumentKind::Invoice, DocumentKind::CreditNote]
            .into_iter()
            .find(|k| k.as_str() == text)
    }

    /// The document's title, as printed (`FACTURE`, `AVOIR`).
    pub const fn title(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "FACTURE",
            DocumentKind::CreditNote => "AVOIR",
        }
    }

    /// The document's name in a sentence (`Facture`, `Avoir`).
    pub const fn name(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "Facture",
            DocumentKind::CreditNote => "Avoir",
        }
    }
}

/// The invoice a credit note cancels, as the credit note names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditedInvoice {
    /// The invoice's number.
    pub number: String,
    /// The invoice's issue date.
    pub issued_on: NaiveDate,
}

/// The invoice document, as issued and kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoiceDocument {
    /// An invoice, or a credit note cancelling one (its amounts are credited, not owed).
    #[serde(default)]
    pub kind: DocumentKind,
    /// For a credit note, the invoice it cancels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<CreditedInvoice>,
    /// Our number, from the continuous sequence of its kind.
    pub number: String,
    /// Issue date (Paris time).
    pub issued_on: NaiveDate,
    /// Due date.
    pub due_on: NaiveDate,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Who sells.
    pub seller: Party,
    /// Who buys.
    pub buyer: Party,
    /// What is sold, as a category.
    pub operation_category: String,
    /// Every line.
    pub lines: Vec<DocumentLine>,
    /// How VAT applies.
    pub vat_treatment: VatTreatment,
    /// The VAT rate applied, in basis points.
    pub vat_rate_basis_points: u32,
    /// Total excluding tax, in minor units.
    pub total_excl_tax: i64,
    /// VAT, in minor units.
    pub vat_amount: i64,
    /// Total including tax, in minor units.
    pub total_incl_tax: i64,
    /// The mentions printed under the totals: VAT exemption, payment terms, penalties,
    /// indemnity, discount.
    pub mentions: Vec<String>,
    /// Stripe's invoice, for reference.
    pub stripe_invoice_id: String,
    /// Stripe's number, for reference.
    pub stripe_number: Option<String>,
}

/// Builds the document of `charged` for `buyer`, not yet numbered (`number` is empty), or says
/// why it cannot be issued.
pub fn build(
    charged: &ChargedInvoice,
    buyer: &BillingProfile,
    seller: &SellerSettings,
    terms: &InvoiceSettings,
    plans: &[PlanSettings],
) -> Result<InvoiceDocument, String> {
    if charged.lines.is_empty() {
        return Err(format!("Stripe invoice {} has no lines", charged.id));
    }
    let sum = charged
        .lines
        .iter()
        .try_fold(0i64, |s, l| s.checked_add(l.amount))
        .ok_or("the lines' amounts overflow")?;
    if sum != charged.subtotal {
        return Err(format!(
            "the lines of Stripe invoice {} add up to {sum}, not its subtotal {}",
            charged.id, charged.subtotal
        ));
    }
    if charged.subtotal.checked_add(charged.tax) != Some(charged.total) {
        return Err(format!(
            "Stripe invoice {}: subtotal {} plus tax {} is not its total {}",
            charged.id, charged.subtotal, charged.tax, charged.total
        ));
    }
    let treatment = buyer.vat_treatment();
    let rate = match treatment {
        VatTreatment::Standard => terms.vat_rate_basis_points,
        VatTreatment::ReverseCharge | VatTreatment::OutsideScope => 0,
    };
    let expected = vat::vat_on(charged.subtotal, rate).ok_or("the subtotal overflows")?;
    // Stripe rounds each line's tax: up to half a cent per line either way.
    let tolerance = i64::try_from(charged.lines.len()).unwrap_or(i64::MAX);
    if (charged.tax - expected).abs() > tolerance {
        return Err(format!(
            "Stripe charged {} of tax on invoice {}, but French VAT for this buyer ({}, {}) is {expected}: \
             set the customer's tax at Stripe to match, then retry",
            charged.tax,
            charged.id,
            buyer.country,
            treatment.as_str()
        ));
    }
    let issued_on = paris_date(charged.finalized_at);
    let due_on = match charged.due_date {
        Some(d) => paris_date(d).max(issued_on),
        None => issued_on + TimeDelta::days(i64::from(terms.payment_terms_days)),
    };
    let lines = charged
        .lines
        .iter()
        .map(|l| document_line(l, plans, rate))
        .collect();
    let mut mentions: Vec<String> = treatment
        .mention()
        .map(str::to_string)
        .into_iter()
        .collect();
    mentions.extend([
        terms.payment_terms.clone(),
        terms.late_payment_penalty.clone(),
        RECOVERY_INDEMNITY.to_string(),
        terms.early_payment_discount.clone(),
    ]);
    Ok(InvoiceDocument {
        kind: DocumentKind::Invoice,
        credits: None,
        number: String::new(),
        issued_on,
        due_on,
        currency: charged.currency.clone(),
        seller: Party {
            name: seller.name.clone(),
            legal_form: Some(seller.legal_form.clone()),
            address: seller.address.clone(),
            registration: Some(format!("{} {}", seller.rcs, spaced_siren(&seller.siren))),
            vat_id: Some(seller.vat_id.clone()),
            email: Some(seller.email.clone()),
        },
        buyer: Party {
            name: buyer.legal_name.clone(),
            legal_form: None,
            address: buyer.address_lines(),
            registration: buyer
                .siren
                .as_deref()
                .map(|s| format!("SIREN {}", spaced_siren(s))),
            vat_id: buyer.vat_id.clone(),
            email: Some(buyer.email.clone()),
        },
        operation_category: OPERATION_CATEGORY.into(),
        lines,
        vat_treatment: treatment,
        vat_rate_basis_points: rate,
        total_excl_tax: charged.subtotal,
        vat_amount: charged.tax,
        total_incl_tax: charged.total,
        mentions,
        stripe_invoice_id: charged.id.clone(),
        stripe_number: charged.number.clone(),
    })
}

/// The credit note (not yet numbered) that cancels `invoice` in full, issued on `issued_on`
/// because `reason` (printed as the motive). It repeats the invoice's parties, lines, VAT
/// treatment and totals: the amounts it credits. `None` when `invoice` is itself a credit note.
pub fn credit_note(
    invoice: &InvoiceDocument,
    issued_on: NaiveDate,
    reason: &str,
) -> Option<InvoiceDocument> {
    if invoice.kind != DocumentKind::Invoice {
        return None;
    }
    let mut mentions: Vec<String> = invoice
        .vat_treatment
        .mention()
        .map(str::to_string)
        .into_iter()
        .collect();
    mentions.push(format!(
        "Avoir annulant intégralement la facture {} du {}.",
        invoice.number,
        invoice.issued_on.format("%d/%m/%Y")
    ));
    mentions.push(format!("Motif : {reason}"));
    mentions.push("Aucun paiement n'est dû au titre de la facture annulée.".into());
    Some(InvoiceDocument {
        kind: DocumentKind::CreditNote,
        credits: Some(CreditedInvoice {
            number: invoice.number.clone(),
            issued_on: invoice.issued_on,
        }),
        number: String::new(),
        issued_on,
        due_on: issued_on,
        mentions,
        ..invoice.clone()
    })
}

fn document_line(line: &ChargedLine, plans: &[PlanSettings], rate: u32) -> DocumentLine {
    let quantity = line.quantity.unwrap_or(1).max(1);
    let start = paris_date(line.period_start);
    // Stripe's period end is exclusive: the last day covered is the day before.
    let end = paris_date(line.period_end - TimeDelta::seconds(1)).max(start);
    let price = line.price_id.as_deref();
    let fee = plans
        .iter()
        .find(|p| Some(p.fee_price_id.as_str()) == price);
    let metered = plans
        .iter()
        .find(|p| Some(p.metered_price_id.as_str()) == price);
    let description = match (fee, metered) {
        (Some(plan), _) if line.amount == 0 => {
            format!("Période d'essai, abonnement Zencall {}", plan.name)
        }
        (Some(plan), _) => format!("Abonnement mensuel Zencall {}", plan.name),
        (None, Some(plan)) if line.amount == 0 => format!(
            "Minutes d'appel incluses dans l'abonnement {} ({} min par mois)",
            plan.name, plan.included_minutes
        ),
        (None, Some(plan)) => format!(
            "Minutes d'appel au-delà des {} min incluses",
            plan.included_minutes
        ),
        (None, None) => line
            .description
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| "Prestation Zencall".into()),
    };
    let quantity_i = i64::try_from(quantity).unwrap_or(i64::MAX);
    // Rounded half up to the hundredth of a cent.
    let unit_price_centicents = line
        .amount
        .checked_mul(100)
        .map(|a| (a + quantity_i / 2) / quantity_i)
        .unwrap_or(0);
    DocumentLine {
        description,
        period_start: start,
        period_end: end,
        quantity,
        unit_price_centicents,
        amount_excl_tax: line.amount,
        vat_rate_basis_points: rate,
    }
}

/// The date of `at` in Paris.
pub fn paris_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Paris).date_naive()
}

fn spaced_siren(siren: &str) -> String {
    if siren.len() == 9 && siren.is_ascii() {
        format!("{} {} {}", &siren[..3], &siren[3..6], &siren[6..])
    } else {
        siren.to_string()
    }
}

/// `amount` minor units as French text: `1 234,56 €` (other currencies by their code).
pub fn format_amount(amount: i64, currency: &str) -> String {
    format_decimal(amount, 2, currency)
}

/// A unit price in hundredths of a minor unit: two decimals, or four when it has a fraction
/// of a cent (`0,1525 €`).
pub fn format_unit_price(centicents: i64, currency: &str) -> String {
    if centicents % 100 == 0 {
        format_decimal(centicents / 100, 2, currency)
    } else {
        format_decimal(centicents, 4, currency)
    }
}

/// A VAT rate in basis points as text: `20 %`, `5,5 %`.
pub fn format_rate(basis_points: u32) -> String {
    let whole = basis_points / 100;
    let frac = basis_points % 100;
    if frac == 0 {
        format!("{whole} %")
    } else {
        format!("{whole},{} %", format!("{frac:02}").trim_end_matches('0'))
    }
}

fn format_decimal(value: i64, decimals: u32, currency: &str) -> String {
    let scale = 10i64.pow(decimals);
    let negative = value < 0;
    let abs = value.unsigned_abs();
    let scale_u = scale.unsigned_abs();
    let whole = (abs / scale_u).to_string();
    let frac = abs % scale_u;
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(c);
    }
    let symbol = if currency.eq_ignore_ascii_case("eur") {
        "€".to_string()
    } else {
        currency.to_ascii_uppercase()
    };
    format!(
        "{}{grouped},{frac:0width$} {symbol}",
        if negative { "-" } else { "" },
        width = decimals as usize
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::config::Settings;
    use crate::domain::billing_profile::BillingProfileRequest;

    fn settings() -> Settings {
        Settings::defaults().unwrap()
    }

    fn buyer(country: &str, vat_id: Option<&str>) -> BillingProfile {
        BillingProfileRequest {
            legal_name: Some("Boulangerie Petit SARL".into()),
            email: Some("compta@petit.fr".into()),
            address_line1: Some("12 rue des Lilas".into()),
            address_line2: None,
            postal_code: Some("69003".into()),
            city: Some("Lyon".into()),
            country: Some(country.into()),
            vat_id: vat_id.map(str::to_string),
            siren: None,
        }
        .validate()
        .unwrap()
    }

    fn charged(tax: i64) -> ChargedInvoice {
        let s = settings();
        let plan = s.billing.plan("starter").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 10, 31, 23, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
        let lines = vec![
            ChargedLine {
                description: Some("100 × minutes".into()),
                price_id: Some(plan.metered_price_id.clone()),
                quantity: Some(100),
                amount: 0,
                period_start: start,
                period_end: end,
            },
            ChargedLine {
                description: Some("37 × minutes".into()),
                price_id: Some(plan.metered_price_id.clone()),
                quantity: Some(37),
                amount: 555,
                period_start: start,
                period_end: end,
            },
            ChargedLine {
                description: Some("1 × fee".into()),
                price_id: Some(plan.fee_price_id.clone()),
                quantity: Some(1),
                amount: 2900,
                period_start: end,
                period_end: Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap(),
            },
        ];
        ChargedInvoice {
            id: "in_1".into(),
            number: Some("ABC-0001".into()),
            currency: "eur".into(),
            lines,
            subtotal: 3455,
            tax,
            total: 3455 + tax,
            finalized_at: end,
            due_date: None,
        }
    }

    fn build_for(c: &ChargedInvoice, b: &BillingProfile) -> Result<InvoiceDocument, String> {
        let s = settings();
        build(
            c,
            b,
            &s.billing.seller,
            &s.billing.invoices,
            &s.billing.plans,
        )
    }

    #[test]
    fn a_french_buyer_gets_french_vat_and_every_mention() {
        let doc = build_for(&charged(691), &buyer("FR", None)).unwrap();
        assert_eq!(doc.vat_treatment, VatTreatment::Standard);
        assert_eq!(doc.vat_rate_basis_points, 2000);
        assert_eq!(
            (doc.total_excl_tax, doc.vat_amount, doc.total_incl_tax),
            (3455, 691, 4146)
        );
        // Finalized at 23:00 UTC on 30 November is 1 December in Paris.
        assert_eq!(doc.issued_on, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(doc.due_on, doc.issued_on);
        assert_eq!(doc.lines.len(), 3);
        assert!(doc.lines[0].description.contains("incluses"));
        assert_eq!(doc.lines[1].unit_price_centicents, 1500);
        assert_eq!(
            (doc.lines[0].period_start, doc.lines[0].period_end),
            (
                NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
            )
        );
        assert!(doc.lines[2].description.starts_with("Abonnement mensuel"));
        assert!(doc.mentions.iter().any(|m| m.contains("40 €")));
        assert!(doc.mentions.iter().any(|m| m.contains("escompte")));
        assert!(doc.mentions.iter().any(|m| m.contains("pénalités")));
        assert_eq!(
            doc.seller.registration.as_deref(),
            Some("RCS Paris 900 000 001")
        );
    }

    #[test]
    fn a_credit_note_repeats_the_invoice_it_cancels_and_names_it() {
        let mut invoice = build_for(&charged(0), &buyer("DE", Some("DE129273398"))).unwrap();
        invoice.number = "F-000007".into();
        let on = NaiveDate::from_ymd_opt(2026, 12, 9).unwrap();
        let note = credit_note(&invoice, on, "facture annulée par le vendeur").unwrap();
        assert_eq!(note.kind, DocumentKind::CreditNote);
        assert_eq!(note.number, "", "numbered when issued");
        assert_eq!(
            note.credits,
            Some(CreditedInvoice {
                number: "F-000007".into(),
                issued_on: invoice.issued_on
            })
        );
        assert_eq!((note.issued_on, note.due_on), (on, on));
        assert_eq!(note.lines, invoice.lines);
        assert_eq!(
            (note.total_excl_tax, note.vat_amount, note.total_incl_tax),
            (
                invoice.total_excl_tax,
                invoice.vat_amount,
                invoice.total_incl_tax
            )
        );
        assert_eq!(
            (&note.buyer, &note.seller),
            (&invoice.buyer, &invoice.seller)
        );
        assert!(note.mentions[0].starts_with("Autoliquidation"));
        assert!(
            note.mentions
                .iter()
                .any(|m| m == "Avoir annulant intégralement la facture F-000007 du 01/12/2026.")
        );
        assert!(
            note.mentions
                .iter()
                .any(|m| m.contains("facture annulée par le vendeur"))
        );
        assert!(
            !note.mentions.iter().any(|m| m.contains("40 €")),
            "nothing is owed"
        );
        // A credit note is never credited in turn; an old document reads as an invoice.
        assert_eq!(credit_note(&note, on, "again"), None);
        let mut old = serde_json::to_value(&invoice).unwrap();
        old.as_object_mut().unwrap().remove("kind");
        let old: InvoiceDocument = serde_json::from_value(old).unwrap();
        assert_eq!(old.kind, DocumentKind::Invoice);
        assert_eq!(
            DocumentKind::parse("credit_note"),
            Some(DocumentKind::CreditNote)
        );
        assert_eq!(DocumentKind::parse("avoir"), None);
    }

    #[test]
    fn an_eu_business_is_reverse_charged_and_stripe_must_agree() {
        let b = buyer("DE", Some("DE129273398"));
        let doc = build_for(&charged(0), &b).unwrap();
        assert_eq!(doc.vat_treatment, VatTreatment::ReverseCharge);
        assert_eq!(doc.vat_amount, 0);
        assert!(doc.mentions[0].starts_with("Autoliquidation"));
        let refused = build_for(&charged(691), &b).unwrap_err();
        assert!(refused.contains("French VAT for this buyer"), "{refused}");
        let refused = build_for(&charged(0), &buyer("FR", None)).unwrap_err();
        assert!(refused.contains("691"), "{refused}");
    }

    #[test]
    fn inconsistent_stripe_amounts_are_refused() {
        let mut c = charged(691);
        c.subtotal += 1;
        c.total += 1;
        assert!(
            build_for(&c, &buyer("FR", None))
                .unwrap_err()
                .contains("add up")
        );
        let mut c = charged(691);
        c.total += 1;
        assert!(
            build_for(&c, &buyer("FR", None))
                .unwrap_err()
                .contains("total")
        );
        let mut c = charged(0);
        c.lines.clear();
        assert!(build_for(&c, &buyer("CH", None)).is_err());
    }

    #[test]
    fn amounts_are_written_the_french_way() {
        assert_eq!(format_amount(123_456, "eur"), "1 234,56 €");
        assert_eq!(format_amount(5, "eur"), "0,05 €");
        assert_eq!(format_amount(-100_000_000, "usd"), "-1 000 000,00 USD");
        assert_eq!(format_unit_price(1500, "eur"), "0,15 €");
        assert_eq!(format_unit_price(1525, "eur"), "0,1525 €");
        assert_eq!(format_rate(2000), "20 %");
        assert_eq!(format_rate(550), "5,5 %");
        assert_eq!(format_rate(0), "0 %");
    }

    proptest! {
        #[test]
        fn any_amount_formats_without_panic(a in any::<i64>()) {
            let text = format_amount(a, "eur");
            prop_assert!(text.ends_with(" €"));
        }
    }
}
