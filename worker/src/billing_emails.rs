//! The billing emails, in French (the buyer's billing address is French-market first): the
//! invoice or credit note with its PDF, the notice of a failed payment, the notice of a trial about to end.
//! Each is queued in the email outbox once per (organisation, kind, document) and sent by a
//! `SendEmail` job.

use chrono::{DateTime, Utc};
use zencall_core::domain::invoice::{InvoiceDocument, format_amount, paris_date};
use zencall_core::store::email_messages::{EmailKind, NewAttachment, NewEmail};

/// Who a billing email goes to, and the domain of its Message-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressing {
    /// The organisation.
    pub org_id: String,
    /// Its billing address.
    pub recipient: String,
    /// The right-hand side of the Message-ID.
    pub message_id_domain: String,
}

/// The email of an issued invoice or credit note, its PDF attached.
pub fn invoice(to: &Addressing, doc: &InvoiceDocument, pdf: Vec<u8>) -> NewEmail {
    let total = format_amount(doc.total_incl_tax, &doc.currency);
    let (kind, what) = match &doc.credits {
        None => (
            EmailKind::Invoice,
            format!(
                "Veuillez trouver ci-joint la facture {number} du {date}, d'un montant de {total} TTC.\n\
                 {terms}",
                number = doc.number,
                date = doc.issued_on.format("%d/%m/%Y"),
                terms = doc
                    .mentions
                    .iter()
                    .find(|m| m.starts_with("Paiement"))
                    .cloned()
                    .unwrap_or_default(),
            ),
        ),
        Some(credited) => (
            EmailKind::CreditNote,
            format!(
                "Veuillez trouver ci-joint l'avoir {number} du {date}, d'un montant de {total} TTC, \
                 qui annule la facture {invoice} du {invoice_date}.\n\
                 Vous n'avez rien à payer au titre de cette facture.",
                number = doc.number,
                date = doc.issued_on.format("%d/%m/%Y"),
                invoice = credited.number,
                invoice_date = credited.issued_on.format("%d/%m/%Y"),
            ),
        ),
    };
    let body_text = format!(
        "Bonjour,\n\n\
         {what}\n\n\
         Pour toute question sur ce document, répondez à ce message.\n\n\
         {seller}\n",
        seller = doc.seller.name,
    );
    NewEmail {
        org_id: to.org_id.clone(),
        kind,
        document_key: doc.number.clone(),
        recipient: to.recipient.clone(),
        subject: format!("{} {} – {}", doc.kind.name(), doc.number, doc.seller.name),
        body_text,
        attachments: vec![NewAttachment {
            file_name: format!("{}-{}.pdf", doc.kind.name().to_lowercase(), doc.number),
            content_type: "application/pdf".into(),
            bytes: pdf,
        }],
        message_id_domain: to.message_id_domain.clone(),
    }
}

/// The notice that paying Stripe invoice `stripe_invoice_id` failed; once per invoice.
pub fn payment_failed(
    to: &Addressing,
    stripe_invoice_id: &str,
    amount: i64,
    currency: &str,
    pay_url: Option<&str>,
    seller: &str,
) -> NewEmail {
    let how = match pay_url {
        Some(url) => format!("Vous pouvez la régler ou changer de moyen de paiement ici : {url}"),
        None => "Mettez à jour votre moyen de paiement depuis votre espace de facturation.".into(),
    };
    NewEmail {
        org_id: to.org_id.clone(),
        kind: EmailKind::PaymentFailed,
        document_key: stripe_invoice_id.to_string(),
        recipient: to.recipient.clone(),
        subject: format!("Échec du paiement de votre abonnement – {seller}"),
        body_text: format!(
            "Bonjour,\n\n\
             Le paiement de {amount} pour votre abonnement n'a pas abouti.\n\
             {how}\n\
             Sans paiement, la création d'assistants et le lancement de campagnes seront \
             suspendus à la fin du délai de grâce ; vos assistants continueront de répondre.\n\n\
             {seller}\n",
            amount = format_amount(amount, currency),
        ),
        attachments: Vec::new(),
        message_id_domain: to.message_id_domain.clone(),
    }
}

/// The notice that the trial of `subscription_id` ends at `trial_end`; once per trial end.
pub fn trial_ending(
    to: &Addressing,
    subscription_id: &str,
    plan: Option<&str>,
    trial_end: DateTime<Utc>,
    seller: &str,
) -> NewEmail {
    let date = paris_date(trial_end);
    NewEmail {
        org_id: to.org_id.clone(),
        kind: EmailKind::TrialEnding,
        document_key: format!("{subscription_id}:{date}"),
        recipient: to.recipient.clone(),
        subject: format!(
            "Votre période d'essai se termine le {} – {seller}",
            date.format("%d/%m/%Y")
        ),
        body_text: format!(
            "Bonjour,\n\n\
             Votre période d'essai{plan} se termine le {date}. L'abonnement démarrera \
             ensuite et sera prélevé sur le moyen de paiement enregistré.\n\
             Pour changer d'offre ou résilier, rendez-vous dans votre espace de facturation.\n\n\
             {seller}\n",
            plan = plan.map(|p| format!(" de l'offre {p}")).unwrap_or_default(),
            date = date.format("%d/%m/%Y"),
        ),
        attachments: Vec::new(),
        message_id_domain: to.message_id_domain.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    fn to() -> Addressing {
        Addressing {
            org_id: "org_1".into(),
            recipient: "compta@petit.fr".into(),
            message_id_domain: "zencall.example".into(),
        }
    }

    #[test]
    fn a_failed_payment_is_notified_once_per_invoice_with_where_to_pay() {
        let e = payment_failed(
            &to(),
            "in_1",
            3480,
            "eur",
            Some("https://pay.example/in_1"),
            "Zencall SAS",
        );
        assert_eq!(
            (e.kind, e.document_key.as_str()),
            (EmailKind::PaymentFailed, "in_1")
        );
        assert!(e.body_text.contains("34,80 €"), "{}", e.body_text);
        assert!(e.body_text.contains("https://pay.example/in_1"));
        assert_eq!(e.recipient, "compta@petit.fr");
        assert!(e.attachments.is_empty());
    }

    #[test]
    fn a_trial_end_is_notified_once_per_end_date_in_paris_time() {
        let end = Utc.with_ymd_and_hms(2026, 12, 14, 23, 30, 0).unwrap();
        let e = trial_ending(&to(), "sub_1", Some("starter"), end, "Zencall SAS");
        assert_eq!(e.document_key, "sub_1:2026-12-15");
        assert!(e.subject.contains("15/12/2026"), "{}", e.subject);
        assert!(e.body_text.contains("de l'offre starter"));
    }
}
