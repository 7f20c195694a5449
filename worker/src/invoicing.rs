//! Issuing invoice documents: number one from its kind's continuous sequence, render its PDF
//! and store both, in one transaction. The sequence row is taken first, so two issuers of the
//! same Stripe invoice are serialised: the second finds the first's document and rolls back,
//! giving its number back. A number is never skipped (a failed issue rolls back its increment)
//! nor reused (the number column is unique).
//!
//! An invoice is never changed once issued. One whose Stripe invoice is voided afterwards is
//! cancelled by a credit note ([`issue_credit_note`]). The two cannot miss each other: an
//! invoice is not issued for a Stripe invoice stored as voided, and the credit note's issuer
//! waits for any invoice being issued before it looks for the one to cancel.

use chrono::{DateTime, Utc};
use zencall_core::domain::ids::new_id;
use zencall_core::domain::invoice::{
    self, ChargedInvoice, ChargedLine, DocumentKind, InvoiceDocument,
};
use zencall_core::invoice_settings::InvoiceSettings;
use zencall_core::store::invoices::{self, StoredInvoiceDocument};
use zencall_core::store::{Db, StoreError, Tx, email_messages, stripe_invoices};
use zencall_providers::payments::Invoice;

use crate::billing_emails::{self, Addressing};
use crate::invoice_pdf;

/// What [`issue`] or [`issue_credit_note`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The document.
    pub invoice: StoredInvoiceDocument,
    /// False when it had been issued before.
    pub created: bool,
}

/// Issues `document` (built, not numbered) for `org_id`, or returns the document issued
/// before for the same Stripe invoice; `None`, issuing nothing, when the Stripe invoice is
/// stored as voided. With `email`, the invoice's email (its PDF attached) is queued in the
/// same transaction.
pub async fn issue(
    db: &Db,
    org_id: &str,
    document: InvoiceDocument,
    terms: &InvoiceSettings,
    email: Option<&Addressing>,
    now: DateTime<Utc>,
) -> Result<Option<Issued>, StoreError> {
    let mut tx = db.begin().await?;
    let sequence = invoices::next_number(&mut tx, DocumentKind::Invoice).await?;
    if let Some(existing) =
        invoices::find_by_stripe_id_in(&mut tx, DocumentKind::Invoice, &document.stripe_invoice_id)
            .await?
    {
        tx.rollback().await?;
        return Ok(Some(Issued {
            invoice: existing,
            created: false,
        }));
    }
    if stripe_invoices::is_void_in(&mut tx, &document.stripe_invoice_id).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    let invoice = store(&mut tx, org_id, sequence, document, None, terms, email, now).await?;
    tx.commit().await?;
    Ok(Some(Issued {
        invoice,
        created: true,
    }))
}

/// Issues the credit note that cancels `org_id`'s invoice of Stripe invoice
/// `stripe_invoice_id` (voided after it was issued), saying `reason`, or returns the one issued
/// before; `None` when no invoice of `org_id` was issued for it (nothing to cancel). With
/// `email`, the credit note's email (its PDF attached) is queued in the same transaction.
pub async fn issue_credit_note(
    db: &Db,
    org_id: &str,
    stripe_invoice_id: &str,
    reason: &str,
    terms: &InvoiceSettings,
    email: Option<&Addressing>,
    now: DateTime<Utc>,
) -> Result<Option<Issued>, StoreError> {
    let mut tx = db.begin().await?;
    invoices::hold_invoice_numbers(&mut tx).await?;
    let sequence = invoices::next_number(&mut tx, DocumentKind::CreditNote).await?;
    if let Some(existing) =
        invoices::find_by_stripe_id_in(&mut tx, DocumentKind::CreditNote, stripe_invoice_id).await?
    {
        tx.rollback().await?;
        return Ok(Some(Issued {
            invoice: existing,
            created: false,
        }));
    }
    let cancelled =
        invoices::find_by_stripe_id_in(&mut tx, DocumentKind::Invoice, stripe_invoice_id).await?;
    let Some(cancelled) = cancelled.filter(|c| c.org_id == org_id) else {
        tx.rollback().await?;
        return Ok(None);
    };
    let note = invoice::credit_note(&cancelled.document()?, invoice::paris_date(now), reason)
        .ok_or_else(|| {
            StoreError::Corrupt(format!("invoice {} is not an invoice", cancelled.id))
        })?;
    let stored = store(
        &mut tx,
        org_id,
        sequence,
        note,
        Some(&cancelled.id),
        terms,
        email,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(Issued {
        invoice: stored,
        created: true,
    }))
}

/// Numbers `document`, renders and stores it, and queues its email, in `tx`.
#[allow(clippy::too_many_arguments)]
async fn store(
    tx: &mut Tx,
    org_id: &str,
    sequence: i64,
    mut document: InvoiceDocument,
    credited_invoice_id: Option<&str>,
    terms: &InvoiceSettings,
    email: Option<&Addressing>,
    now: DateTime<Utc>,
) -> Result<StoredInvoiceDocument, StoreError> {
    document.number = terms.number(document.kind, sequence);
    let pdf = invoice_pdf::render(&document);
    // Taken under the sequence's lock, so ids follow issue order.
    let id = new_id("inv");
    let stored = invoices::insert(
        tx,
        &id,
        org_id,
        sequence,
        &document,
        credited_invoice_id,
        &pdf,
        now,
    )
    .await?;
    if let Some(to) = email {
        email_messages::queue_and_send(tx, &billing_emails::invoice(to, &document, pdf), now)
            .await?;
    }
    Ok(stored)
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
                    tokio::spawn(async move {
                        issue(&db, &o, doc, &terms, None, Utc::now())
                            .await
                            .map(|i| i.expect("not voided"))
                    })
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
                    tokio::spawn(async move {
                        issue(&db, &o, doc, &terms, None, Utc::now())
                            .await
                            .map(|i| i.expect("not voided"))
                    })
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
            .unwrap()
            .unwrap();
            assert_eq!(next.invoice.sequence_number, 51);
            assert_eq!(next.invoice.number, "F-000051");
            assert_eq!(
                next.invoice.issued_on,
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
            );
            let listed = invoices::list(db, &o, None, 10).await.unwrap();
            assert_eq!(listed[0].number, "F-000051");
            let (_, _, pdf) = invoices::pdf(db, &o, &next.invoice.id)
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

    fn voided(id: &str) -> stripe_invoices::InvoiceState {
        stripe_invoices::InvoiceState {
            stripe_invoice_id: id.into(),
            stripe_customer_id: "cus_1".into(),
            stripe_subscription_id: None,
            number: Some("ZC-0002".into()),
            status: "void".into(),
            currency: "eur".into(),
            subtotal: 3455,
            tax: 691,
            total: 4146,
            finalized_at: Some(Utc::now()),
            paid_at: None,
            hosted_url: None,
        }
    }

    #[tokio::test]
    async fn a_voided_invoice_is_cancelled_by_one_credit_note_of_its_own_sequence() {
        let terms = Settings::defaults().unwrap().billing.invoices;
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let b = buyer("FR", None);
            let first = issue(
                db,
                &o,
                document("in_1", &b, 691, 0),
                &terms,
                None,
                Utc::now(),
            )
            .await
            .unwrap()
            .unwrap();
            // Nothing issued for it: nothing to cancel.
            assert_eq!(
                issue_credit_note(db, &o, "in_2", "annulée", &terms, None, Utc::now())
                    .await
                    .unwrap(),
                None
            );
            // Another organisation's invoice is not cancelled for this one.
            let other = org(db).await;
            assert_eq!(
                issue_credit_note(db, &other, "in_1", "annulée", &terms, None, Utc::now())
                    .await
                    .unwrap(),
                None
            );
            // Twice at once: one credit note, the first of its sequence.
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let (db, o, terms) = (db.clone(), o.clone(), terms.clone());
                    tokio::spawn(async move {
                        issue_credit_note(
                            &db,
                            &o,
                            "in_1",
                            "facture Stripe annulée",
                            &terms,
                            None,
                            Utc::now(),
                        )
                        .await
                        .unwrap()
                        .unwrap()
                    })
                })
                .collect();
            let mut created = 0;
            let mut notes = Vec::new();
            for task in tasks {
                let issued = task.await.unwrap();
                created += usize::from(issued.created);
                notes.push(issued.invoice);
            }
            assert_eq!(created, 1);
            assert_eq!(notes[0], notes[1]);
            let note = &notes[0];
            assert_eq!(note.number, "AV-000001");
            assert_eq!(note.kind, "credit_note");
            assert_eq!(
                note.credited_invoice_id.as_deref(),
                Some(first.invoice.id.as_str())
            );
            assert_eq!(note.total_incl_tax, first.invoice.total_incl_tax);
            assert_eq!(note.document().unwrap().credits.unwrap().number, "F-000001");
            let (kind, _, pdf) = invoices::pdf(db, &o, &note.id).await.unwrap().unwrap();
            assert_eq!(kind, DocumentKind::CreditNote);
            let text = pdf_text(&pdf);
            for expected in [
                "AVOIR",
                "AV-000001",
                "Annule la facture F-000001",
                "Total TTC crédité",
                "41,46 €",
            ] {
                assert!(
                    text.contains(expected),
                    "{expected:?} missing from:\n{text}"
                );
            }
            // A Stripe invoice stored as voided before its document was issued gets none, and
            // takes no number.
            stripe_invoices::apply(db, &o, &voided("in_3"), 1, Utc::now())
                .await
                .unwrap();
            assert_eq!(
                issue(
                    db,
                    &o,
                    document("in_3", &b, 691, 0),
                    &terms,
                    None,
                    Utc::now()
                )
                .await
                .unwrap(),
                None
            );
            let next = issue(
                db,
                &o,
                document("in_4", &b, 691, 0),
                &terms,
                None,
                Utc::now(),
            )
            .await
            .unwrap()
            .unwrap();
            assert_eq!(next.invoice.number, "F-000002");
            // Newest first, both kinds.
            let listed: Vec<String> = invoices::list(db, &o, None, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|i| i.number)
                .collect();
            assert_eq!(listed, ["F-000002", "AV-000001", "F-000001"]);
            t.drop_database().await;
        }
    }
}
