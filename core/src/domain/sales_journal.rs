//! The sales journal of issued invoices, for the accountant: as a FEC (fichier des écritures
//! comptables, article A.47 A-1 of the Livre des procédures fiscales: 18 columns separated by
//! `|`, one line per accounting line, ISO 8859-15) and as a plain CSV.
//!
//! Each invoice is one balanced entry: the customer account debited with the total including
//! tax, revenue credited with the amount excluding tax, and VAT collected credited with the
//! VAT (no VAT line under reverse charge or outside the scope of French VAT). A credit note is
//! the same entry the other way round (revenue and VAT debited, the customer credited). Each
//! entry is numbered by its document's number, unique across both sequences. Documents of a
//! zero total (a trial's) book nothing and appear only in the CSV.

use chrono::NaiveDate;

use super::invoice::{DocumentKind, InvoiceDocument};
use crate::invoice_settings::AccountingSettings;

/// An issued invoice or credit note and the organisation it bills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalInvoice {
    /// The organisation (`org_...`): the customer's auxiliary account.
    pub org_id: String,
    /// The document as issued; its number is the entry's.
    pub document: InvoiceDocument,
}

/// The 18 columns of the FEC, in order.
pub const FEC_COLUMNS: [&str; 18] = [
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
];

/// The name the FEC file must have: the seller's SIREN, `FEC`, the closing date.
pub fn fec_file_name(siren: &str, to: NaiveDate) -> String {
    format!("{siren}FEC{}.txt", to.format("%Y%m%d"))
}

/// Minor units as a FEC amount: comma decimal, no grouping (`1234,56`).
fn fec_amount(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{},{:02}", abs / 100, abs % 100)
}

/// A field made safe for the FEC: no separator, tab or line break.
fn fec_field(text: &str) -> String {
    text.chars()
        .map(|c| {
            if matches!(c, '|' | '\t' | '\r' | '\n') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The FEC text (before encoding) of `invoices`.
pub fn fec_text(invoices: &[JournalInvoice], accounts: &AccountingSettings) -> String {
    let mut out = FEC_COLUMNS.join("|");
    out.push_str("\r\n");
    for i in invoices {
        let d = &i.document;
        if d.total_incl_tax == 0 && d.total_excl_tax == 0 {
            continue;
        }
        let date = d.issued_on.format("%Y%m%d").to_string();
        let label = fec_field(&format!("{} {} {}", d.kind.name(), d.number, d.buyer.name));
        let foreign = !d.currency.eq_ignore_ascii_case("eur");
        let mut line = |account: &str, account_label: &str, aux: bool, debit: i64, credit: i64| {
            let amount_in_currency = if foreign {
                fec_amount(debit.max(credit))
            } else {
                String::new()
            };
            let fields = [
                fec_field(&accounts.journal_code),
                fec_field(&accounts.journal_label),
                fec_field(&d.number),
                date.clone(),
                fec_field(account),
                fec_field(account_label),
                if aux {
                    fec_field(&i.org_id)
                } else {
                    String::new()
                },
                if aux {
                    fec_field(&d.buyer.name)
                } else {
                    String::new()
                },
                fec_field(&d.number),
                date.clone(),
                label.clone(),
                fec_amount(debit),
                fec_amount(credit),
                String::new(),
                String::new(),
                date.clone(),
                amount_in_currency,
                if foreign {
                    d.currency.to_ascii_uppercase()
                } else {
                    String::new()
                },
            ];
            out.push_str(&fields.join("|"));
            out.push_str("\r\n");
        };
        // (debit, credit) of an amount owed by the customer: an invoice debits the customer,
        // a credit note credits it.
        let sides = |owed: i64, customer_side: bool| match (d.kind, customer_side) {
            (DocumentKind::Invoice, true) | (DocumentKind::CreditNote, false) => (owed, 0),
            (DocumentKind::Invoice, false) | (DocumentKind::CreditNote, true) => (0, owed),
        };
        let (debit, credit) = sides(d.total_incl_tax, true);
        line(&accounts.customer_account, "Clients", true, debit, credit);
        let (debit, credit) = sides(d.total_excl_tax, false);
        line(
            &accounts.revenue_account,
            "Prestations de services",
            false,
            debit,
            credit,
        );
        if d.vat_amount != 0 {
            let (debit, credit) = sides(d.vat_amount, false);
            line(&accounts.vat_account, "TVA collectée", false, debit, credit);
        }
    }
    out
}

/// `text` in ISO 8859-15, the FEC's encoding; characters it lacks become `?`.
pub fn to_latin9(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '€' => 0xA4,
            'Š' => 0xA6,
            'š' => 0xA8,
            'Ž' => 0xB4,
            'ž' => 0xB8,
            'Œ' => 0xBC,
            'œ' => 0xBD,
            'Ÿ' => 0xBE,
            '\u{A4}' | '\u{A6}' | '\u{A8}' | '\u{B4}' | '\u{B8}' | '\u{BC}' | '\u{BD}'
            | '\u{BE}' => b'?',
            c if (c as u32) < 0x100 => c as u8,
            _ => b'?',
        })
        .collect()
}

/// A CSV field, quoted when it must be (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Minor units as a plain decimal (`1234.56`).
fn csv_amount(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// The CSV of `invoices`, one row per document, UTF-8. A credit note's amounts are negative
/// and it names the invoice it cancels.
pub fn csv_text(invoices: &[JournalInvoice]) -> String {
    let mut out = String::from(
        "number,kind,issued_on,due_on,organisation,buyer,buyer_vat_id,vat_treatment,currency,\
         total_excl_tax,vat_amount,total_incl_tax,stripe_invoice_id,credited_invoice\r\n",
    );
    for i in invoices {
        let d = &i.document;
        let sign = match d.kind {
            DocumentKind::Invoice => 1,
            DocumentKind::CreditNote => -1,
        };
        let fields = [
            csv_field(&d.number),
            d.kind.as_str().to_string(),
            d.issued_on.to_string(),
            d.due_on.to_string(),
            csv_field(&i.org_id),
            csv_field(&d.buyer.name),
            csv_field(d.buyer.vat_id.as_deref().unwrap_or("")),
            d.vat_treatment.as_str().to_string(),
            d.currency.to_ascii_uppercase(),
            csv_amount(sign * d.total_excl_tax),
            csv_amount(sign * d.vat_amount),
            csv_amount(sign * d.total_incl_tax),
            csv_field(&d.stripe_invoice_id),
            csv_field(d.credits.as_ref().map_or("", |c| c.number.as_str())),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::Settings;
    use crate::domain::invoice::Party;
    use crate::domain::vat::VatTreatment;

    fn invoice(number: &str, excl: i64, vat: i64, buyer: &str) -> JournalInvoice {
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        JournalInvoice {
            org_id: "org_1".into(),
            document: InvoiceDocument {
                kind: DocumentKind::Invoice,
                credits: None,
                number: number.into(),
                issued_on: day,
                due_on: day,
                currency: "eur".into(),
                seller: Party {
                    name: "Zencall SAS".into(),
                    legal_form: None,
                    address: vec![],
                    registration: None,
                    vat_id: None,
                    email: None,
                },
                buyer: Party {
                    name: buyer.into(),
                    legal_form: None,
                    address: vec![],
                    registration: None,
                    vat_id: None,
                    email: None,
                },
                operation_category: "Prestation de services".into(),
                lines: vec![],
                vat_treatment: if vat == 0 {
                    VatTreatment::ReverseCharge
                } else {
                    VatTreatment::Standard
                },
                vat_rate_basis_points: 2000,
                total_excl_tax: excl,
                vat_amount: vat,
                total_incl_tax: excl + vat,
                mentions: vec![],
                stripe_invoice_id: "in_1".into(),
                stripe_number: None,
            },
        }
    }

    #[test]
    fn each_invoice_is_one_balanced_entry_of_eighteen_columns() {
        let accounts = Settings::defaults().unwrap().billing.accounting;
        let text = fec_text(
            &[
                invoice("F-000001", 0, 0, "Essai"),
                invoice("F-000002", 2900, 580, "Chez Marcel | SARL"),
                invoice("F-000003", 2900, 0, "Müller GmbH"),
            ],
            &accounts,
        );
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], FEC_COLUMNS.join("|"));
        // The trial's zero invoice books nothing; the reverse-charged one has no VAT line.
        assert_eq!(lines.len(), 1 + 3 + 2);
        for line in &lines {
            assert_eq!(line.split('|').count(), 18, "{line}");
        }
        let fields: Vec<&str> = lines[1].split('|').collect();
        assert_eq!(
            &fields[..13],
            &[
                "VE",
                "Ventes",
                "F-000002",
                "20261201",
                "411000",
                "Clients",
                "org_1",
                "Chez Marcel   SARL",
                "F-000002",
                "20261201",
                "Facture F-000002 Chez Marcel   SARL",
                "34,80",
                "0,00"
            ]
        );
        assert!(lines[2].contains("|706000|") && lines[2].contains("|0,00|29,00|"));
        assert!(lines[3].contains("|445710|") && lines[3].contains("|0,00|5,80|"));
        let (mut debit, mut credit) = (0, 0);
        for line in &lines[1..] {
            let f: Vec<&str> = line.split('|').collect();
            debit += f[11].replace(',', "").parse::<i64>().unwrap();
            credit += f[12].replace(',', "").parse::<i64>().unwrap();
        }
        assert_eq!(debit, credit);
        assert_eq!(
            fec_file_name("900000001", NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()),
            "900000001FEC20261231.txt"
        );
    }

    #[test]
    fn the_fec_is_latin9_and_the_csv_quotes_what_it_must() {
        assert_eq!(to_latin9("é€Œ世"), vec![0xE9, 0xA4, 0xBC, b'?']);
        let csv = csv_text(&[
            invoice("F-000002", 2900, 580, "Marcel, \"le chef\""),
            credit_note_of(invoice("F-000002", 2900, 580, "Marcel")),
        ]);
        let rows: Vec<&str> = csv.split("\r\n").collect();
        assert!(rows[0].starts_with("number,kind,issued_on"));
        assert_eq!(
            rows[1],
            "F-000002,invoice,2026-12-01,2026-12-01,org_1,\"Marcel, \"\"le chef\"\"\",,standard,EUR,29.00,5.80,34.80,in_1,"
        );
        assert_eq!(
            rows[2],
            "AV-000001,credit_note,2026-12-01,2026-12-01,org_1,Marcel,,standard,EUR,-29.00,-5.80,-34.80,in_1,F-000002"
        );
    }

    fn credit_note_of(mut i: JournalInvoice) -> JournalInvoice {
        i.document.kind = DocumentKind::CreditNote;
        i.document.credits = Some(crate::domain::invoice::CreditedInvoice {
            number: i.document.number.clone(),
            issued_on: i.document.issued_on,
        });
        i.document.number = "AV-000001".into();
        i
    }

    #[test]
    fn a_credit_note_books_the_cancelled_invoice_the_other_way_round() {
        let accounts = Settings::defaults().unwrap().billing.accounting;
        let text = fec_text(
            &[
                invoice("F-000002", 2900, 580, "Marcel"),
                credit_note_of(invoice("F-000002", 2900, 580, "Marcel")),
            ],
            &accounts,
        );
        let lines: Vec<Vec<&str>> = text
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').collect())
            .collect();
        assert_eq!(lines.len(), 6);
        let note: Vec<_> = lines[3..]
            .iter()
            .map(|f| (f[2], f[4], f[10], f[11], f[12]))
            .collect();
        assert_eq!(
            note,
            [
                (
                    "AV-000001",
                    "411000",
                    "Avoir AV-000001 Marcel",
                    "0,00",
                    "34,80"
                ),
                (
                    "AV-000001",
                    "706000",
                    "Avoir AV-000001 Marcel",
                    "29,00",
                    "0,00"
                ),
                (
                    "AV-000001",
                    "445710",
                    "Avoir AV-000001 Marcel",
                    "5,80",
                    "0,00"
                ),
            ]
        );
        // Together the two entries leave the customer owing nothing.
        let balance: i64 = lines
            .iter()
            .filter(|f| f[4] == "411000")
            .map(|f| {
                f[11].replace(',', "").parse::<i64>().unwrap()
                    - f[12].replace(',', "").parse::<i64>().unwrap()
            })
            .sum();
        assert_eq!(balance, 0);
    }
}
