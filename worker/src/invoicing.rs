//! Issuing an invoice document: number it from the continuous sequence, render its PDF and
//! store both, in one transaction. The sequence row is taken first, so two issuers of the same
//! Stripe invoice are serialised: the second finds the first's document and rolls back, giving
//! its number back. A number is never skipped (a failed issue rolls back its increment) nor
//! reused (the number column is unique).

use chrono::{DateTime, Utc};
use zencall_core::domain::ids::new_id;
use zencall_core::domain::invoice::{ChargedInvoice, ChargedLine, InvoiceDocument};
use zencall_core::invoice_settings::InvoiceSettings;
use zencall_core::store::email_messages;
use zencall_core::store::invoices::{self, StoredInvoiceDocument};
use zencall_core::store::{Db, StoreError};
use zencall_providers::payments::Invoice;

use crate::billing_emails::{self, Addressing};
use crate::invoice_pdf;

/// What [`issue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The document of the Stripe invoice.
    pub invoice: StoredInvoiceDocument,
    /// False when it had been issued before.
    pub created: bool,
}

/// Issues `document` (built, not numbered) for `org_id`, or returns the document issued
/// before for the same Stripe invoice. With `email`, the invoice's email (its PDF attached) is
/// queued in the same transaction.
pub async fn issue(
    db: &Db,
    org_id: &str,
    mut document: InvoiceDocument,
    terms: &InvoiceSettings,
    email: Option<&Addressing>,
    now: DateTime<Utc>,
) -> Result<Issued, StoreError> {
    let mut tx = db.begin().await?;
    let sequence = invoices::next_number(&mut tx).await?;
    if let Some(existing) =
        invoices::find_by_stripe_id_in(&mut tx, &document.stripe_invoice_id).await?
    {
        tx.rollback().await?;
        return Ok(Issued {
            invoice: existing,
            created: false,
        });
    }
    document.number = terms.number(sequence);
    let pdf = invoice_pdf::render(&document);
    let invoice = invoices::insert(
        &mut tx,
        &new_id("inv"),
        org_id,
        sequence,
        &document,
        &pdf,
        now,
    )
    .await?;
    if let Some(to) = email {
        email_messages::queue_and_send(&mut tx, &billing_emails::invoice(to, &document, pdf), now)
            .await?;
    }
    tx.commit().await?;
    Ok(Issued {
        invoice,
        created: true,
    })
}

/// A provider's finalized invoice in billing's terms; `None` while it is a draft.
pub fn charged(invoice: &Invoice) -> Option<ChargedInvoice> {
    Some(ChargedInvoice {
        id: invoice.id.clone(),
        number: invoice.number.clone(),
        currency: invoice.currency.clone(),
        lines: invoice
            .lines
            .iter()
            .map(|l| ChargedLine {
                description: l.description.clone(),
                price_id: l.price_id.clone(),
                quantity: l.quantity,
                amount: l.amount,
                period_start: l.period_start,
                period_end: l.period_end,
            })
            .collect(),
        subtotal: invoice.subtotal,
        tax: invoice.tax,
        total: invoice.total,
        finalized_at: invoice.finalized_at?,
        due_date: invoice.due_date,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{NaiveDate, TimeZone};
    use zencall_core::config::Settings;
    use zencall_core::domain::billing_profile::{BillingProfile, BillingProfileRequest};
    use zencall_core::domain::invoice;
    use zencall_core::store::organisations;
    use zencall_core::store::test_db::TestDb;

    use super::*;

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

    /// The document of a Stripe invoice `id` of 37 extra minutes and a month's fee.
    fn document(id: &str, buyer: &BillingProfile, tax: i64, extra_lines: usize) -> InvoiceDocument {
        let s = Settings::defaults().unwrap();
        let plan = s.billing.plan("starter").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 10, 31, 23, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
        let mut lines = vec![
            ChargedLine {
                description: None,
                price_id: Some(plan.metered_price_id.clone()),
                quantity: Some(37),
                amount: 555,
                period_start: start,
                period_end: end,
            },
            ChargedLine {
                description: None,
                price_id: Some(plan.fee_price_id.clone()),
                quantity: Some(1),
                amount: 2900,
                period_start: end,
                period_end: end + chrono::TimeDelta::days(31),
            },
        ];
        for i in 0..extra_lines {
            lines.push(ChargedLine {
                description: Some(format!(
                    "Ajustement n° {i} sur une très longue désignation qui doit passer à la ligne"
                )),
                price_id: None,
                quantity: Some(1),
                amount: 0,
                period_start: start,
                period_end: end,
            });
        }
        let charged = ChargedInvoice {
            id: id.into(),
            number: Some("ZC-0001".into()),
            currency: "eur".into(),
            lines,
            subtotal: 3455,
            tax,
            total: 3455 + tax,
            finalized_at: end,
            due_date: None,
        };
        invoice::build(
            &charged,
            buyer,
            &s.billing.seller,
            &s.billing.invoices,
            &s.billing.plans,
        )
        .unwrap()
    }

    /// The text of every page, decoded as the PDF's WinAnsi text.
    fn pdf_text(pdf: &[u8]) -> String {
        let doc = lopdf::Document::load_mem(pdf).unwrap();
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        doc.extract_text(&pages).unwrap()
    }

    #[test]
    fn the_pdf_reads_back_with_its_totals_and_mentions() {
        let mut doc = document("in_1", &buyer("FR", None), 691, 0);
        doc.number = "F-000042".into();
        let pdf = invoice_pdf::render(&doc);
        assert!(pdf.starts_with(b"%PDF-"));
        let text = pdf_text(&pdf);
        for expected in [
            "FACTURE",
            "F-000042",
            "Zencall SAS",
            "RCS Paris 900 000 001",
            "FR68900000001",
            "Boulangerie Petit SARL",
            "12 rue des Lilas",
            "Date d'émission : 01/12/2026",
            "Date d'échéance : 01/12/2026",
            "Prestation de services",
            "Total HT",
            "34,55 €",
            "TVA 20 %",
            "6,91 €",
            "Total TTC",
            "41,46 €",
            "0,15 €",
            "40 €",
            "escompte",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        assert!(!text.contains("Autoliquidation"));
    }

    #[test]
    fn a_reverse_charged_invoice_says_so() {
        let mut doc = document("in_1", &buyer("DE", Some("DE129273398")), 0, 0);
        doc.number = "F-000043".into();
        let text = pdf_text(&invoice_pdf::render(&doc));
        assert!(text.contains("Autoliquidation"), "{text}");
        assert!(text.contains("DE129273398"), "{text}");
        assert!(text.contains("TVA (autoliquidation)"), "{text}");
        assert!(text.contains("34,55 €"), "{text}");
    }

    #[test]
    fn a_long_invoice_continues_on_further_pages() {
        let mut doc = document("in_1", &buyer("FR", None), 691, 60);
        doc.number = "F-000044".into();
        let pdf = invoice_pdf::render(&doc);
        let pages = lopdf::Document::load_mem(&pdf).unwrap().get_pages().len();
        assert!(pages >= 3, "{pages} pages");
        let text = pdf_text(&pdf);
        assert!(text.contains(&format!("page {pages}/{pages}")), "{text}");
        assert!(text.contains("Ajustement n° 59"));
        assert!(text.contains("41,46 €"));
    }

    async fn org(db: &Db) -> String {
        let mut tx = db.begin().await.unwrap();
        let o = organisations::create(&mut tx, "Petit", Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        o.id
    }

    #[tokio::test]
    async fn concurrent_issues_take_consecutive_numbers_and_a_repeat_takes_none() {
        let terms = Settings::defaults().unwrap().billing.invoices;
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let b = buyer("FR", None);
            let tasks: Vec<_> = (0..50)
                .map(|i| {
                    let (db, o, terms, doc) = (
                        db.clone(),
                        o.clone(),
                        terms.clone(),
                        document(&format!("in_{i}"), &b, 691, 0),
                    );
                    tokio::spawn(async move { issue(&db, &o, doc, &terms, None, Utc::now()).await })
                })
                .collect();
            let mut numbers = Vec::new();
            for task in tasks {
                let issued = task.await.unwrap().unwrap();
                assert!(issued.created);
                numbers.push(issued.invoice.sequence_number);
            }
            numbers.sort_unstable();
            assert_eq!(numbers, (1..=50).collect::<Vec<i64>>());
            // The same Stripe invoice again, twice at once: the first document, no number used.
            let again: Vec<_> = (0..2)
                .map(|_| {
                    let (db, o, terms, doc) = (
                        db.clone(),
                        o.clone(),
                        terms.clone(),
                        document("in_7", &b, 691, 0),
                    );
                    tokio::spawn(async move { issue(&db, &o, doc, &terms, None, Utc::now()).await })
                })
                .collect();
            for task in again {
                let issued = task.await.unwrap().unwrap();
                assert!(!issued.created);
                assert_eq!(issued.invoice.stripe_invoice_id, "in_7");
            }
            let next = issue(
                db,
                &o,
                document("in_new", &b, 691, 0),
                &terms,
                None,
                Utc::now(),
            )
            .await
            .unwrap();
            assert_eq!(next.invoice.sequence_number, 51);
            assert_eq!(next.invoice.number, "F-000051");
            assert_eq!(
                next.invoice.issued_on,
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
            );
            let listed = invoices::list(db, &o, None, 10).await.unwrap();
            assert_eq!(listed[0].number, "F-000051");
            let (_, pdf) = invoices::pdf(db, &o, &next.invoice.id)
                .await
                .unwrap()
                .unwrap();
            assert!(pdf_text(&pdf).contains("F-000051"));
            let other = org(db).await;
            assert!(
                invoices::find(db, &other, &next.invoice.id)
                    .await
                    .unwrap()
                    .is_none()
            );
            t.drop_database().await;
        }
    }
}
