//! `[billing.seller]` and `[billing.invoices]`: who issues our invoices, and the terms every
//! invoice states. French law (articles 242 nonies A of annex II of the CGI and L441-9 of the
//! Code de commerce) requires the seller's identity, its SIREN and VAT number, the payment
//! terms, the late-payment penalty rate and the EUR 40 recovery indemnity on each invoice;
//! these keys hold them, checked at start-up.

use serde::Deserialize;

use crate::domain::invoice::DocumentKind;
use crate::domain::vat;

/// `[billing.seller]`: the company that issues the invoices.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SellerSettings {
    /// Legal name (`Zencall SAS`).
    pub name: String,
    /// Legal form and share capital, as the invoice prints it (`SAS au capital de 10 000 €`).
    pub legal_form: String,
    /// Postal address, one entry per line.
    pub address: Vec<String>,
    /// SIREN, 9 digits.
    pub siren: String,
    /// Registry city (`RCS Paris`), printed with the SIREN.
    pub rcs: String,
    /// Intra-community VAT number.
    pub vat_id: String,
    /// Where buyers write about invoices.
    pub email: String,
}

/// `[billing.invoices]`: numbering and terms.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceSettings {
    /// What precedes the sequence number (`F-` gives `F-000001`).
    pub number_prefix: String,
    /// What precedes a credit note's number, from a sequence of its own (`AV-` gives
    /// `AV-000001`); must differ from `number_prefix`.
    pub credit_note_prefix: String,
    /// The standard French VAT rate, in basis points (2000 = 20 %).
    pub vat_rate_basis_points: u32,
    /// Days from issue to due date when Stripe gives none (cards are charged at once).
    pub payment_terms_days: u32,
    /// How invoices are paid, as printed.
    pub payment_terms: String,
    /// The late-payment penalty rate, as printed.
    pub late_payment_penalty: String,
    /// The early-payment discount, as printed.
    pub early_payment_discount: String,
}

impl SellerSettings {
    /// Checks every key; the error names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        for (key, value) in [
            ("name", &self.name),
            ("legal_form", &self.legal_form),
            ("rcs", &self.rcs),
        ] {
            if value.trim().is_empty() || value.chars().count() > 200 {
                return Err(format!("billing.seller.{key}: must be 1 to 200 characters"));
            }
        }
        if self.address.is_empty()
            || self.address.len() > 4
            || self.address.iter().any(|l| l.trim().is_empty())
        {
            return Err("billing.seller.address: give 1 to 4 non-empty lines".into());
        }
        let siren =
            vat::normalize_siren(&self.siren).map_err(|e| format!("billing.seller.siren: {e}"))?;
        let vat_id = vat::normalize_vat_id(&self.vat_id)
            .map_err(|e| format!("billing.seller.vat_id: {e}"))?;
        if !vat_id.ends_with(&siren) || !vat_id.starts_with("FR") {
            return Err(format!(
                "billing.seller.vat_id: {vat_id} is not the French VAT number of SIREN {siren}"
            ));
        }
        if !crate::domain::email::is_plausible(&self.email) {
            return Err(format!(
                "billing.seller.email: {:?} is not an email address",
                self.email
            ));
        }
        Ok(())
    }
}

impl InvoiceSettings {
    /// Checks every key; the error names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        for (key, prefix) in [
            ("number_prefix", &self.number_prefix),
            ("credit_note_prefix", &self.credit_note_prefix),
        ] {
            let prefix_ok = prefix.len() <= 10
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'/');
            if !prefix_ok {
                return Err(format!(
                    "billing.invoices.{key}: at most 10 letters, digits, '-', '_' or '/'"
                ));
            }
        }
        if self.credit_note_prefix == self.number_prefix {
            return Err(
                "billing.invoices.credit_note_prefix: must differ from number_prefix, so an invoice \
                 and a credit note never share a number"
                    .into(),
            );
        }
        if self.vat_rate_basis_points > 10_000 {
            return Err(
                "billing.invoices.vat_rate_basis_points: must be at most 10000 (100 %)".into(),
            );
        }
        if self.payment_terms_days > 60 {
            return Err(
                "billing.invoices.payment_terms_days: at most 60 days (article L441-10 of the Code de commerce)".into(),
            );
        }
        for (key, value) in [
            ("payment_terms", &self.payment_terms),
            ("late_payment_penalty", &self.late_payment_penalty),
            ("early_payment_discount", &self.early_payment_discount),
        ] {
            if value.trim().is_empty() || value.chars().count() > 300 {
                return Err(format!(
                    "billing.invoices.{key}: must be 1 to 300 characters"
                ));
            }
        }
        Ok(())
    }

    /// The number of the `sequence`-th document of `kind`.
    pub fn number(&self, kind: DocumentKind, sequence: i64) -> String {
        let prefix = match kind {
            DocumentKind::Invoice => &self.number_prefix,
            DocumentKind::CreditNote => &self.credit_note_prefix,
        };
        format!("{prefix}{sequence:06}")
    }
}

/// `[billing.accounting]`: the accounts the sales journal export books invoices to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountingSettings {
    /// The sales journal's code (`VE`).
    pub journal_code: String,
    /// The sales journal's label (`Ventes`).
    pub journal_label: String,
    /// The customers' control account, debited with each invoice's total (`411000`).
    pub customer_account: String,
    /// The revenue account credited with the amount excluding tax (`706000`).
    pub revenue_account: String,
    /// The account credited with the VAT collected (`445710`).
    pub vat_account: String,
}

impl AccountingSettings {
    /// Checks every key; the error names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        let code_ok = !self.journal_code.is_empty()
            && self.journal_code.len() <= 10
            && self.journal_code.bytes().all(|b| b.is_ascii_alphanumeric());
        if !code_ok {
            return Err("billing.accounting.journal_code: 1 to 10 letters or digits".into());
        }
        if self.journal_label.trim().is_empty()
            || self.journal_label.chars().count() > 100
            || self.journal_label.contains(['|', '\t', '\n'])
        {
            return Err(
                "billing.accounting.journal_label: 1 to 100 characters, no '|', tab or newline"
                    .into(),
            );
        }
        for (key, value) in [
            ("customer_account", &self.customer_account),
            ("revenue_account", &self.revenue_account),
            ("vat_account", &self.vat_account),
        ] {
            let ok = value.len() >= 3
                && value.len() <= 20
                && value.bytes().all(|b| b.is_ascii_alphanumeric());
            if !ok {
                return Err(format!(
                    "billing.accounting.{key}: an account number of 3 to 20 letters or digits, such as 706000"
                ));
            }
        }
        Ok(())
    }
}
