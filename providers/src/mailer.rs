//! Mailer: sends one email, built here once for every transport (SMTP, or `.eml` files when no
//! SMTP server is configured) as a MIME message: a UTF-8 text part and its attachments.
//!
//! The caller gives the Message-ID, derived from what the email is about, so a message sent a
//! second time (a job re-run after the server accepted it but before the send was recorded)
//! carries the same Message-ID, and mail clients thread or drop the copy.

use std::str::FromStr;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use zencall_core::config::EmailSettings;

use crate::ProviderError;

/// An address, with the name shown beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The name shown (`Boulangerie Petit`), if any.
    pub name: Option<String>,
    /// The address (`compta@boulangerie-petit.fr`).
    pub address: String,
}

impl Mailbox {
    /// A bare address, with no name.
    pub fn address(address: impl Into<String>) -> Self {
        Mailbox {
            name: None,
            address: address.into(),
        }
    }
}

/// A file sent with an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAttachment {
    /// The file name the recipient sees (`facture-2026-000001.pdf`).
    pub file_name: String,
    /// Its MIME type (`application/pdf`).
    pub content_type: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// One email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Who it comes from.
    pub from: Mailbox,
    /// Its one recipient.
    pub to: Mailbox,
    /// Where replies go, when not to `from`.
    pub reply_to: Option<Mailbox>,
    /// The subject, any Unicode text on one line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// Files sent with it, in order.
    pub attachments: Vec<EmailAttachment>,
    /// The Message-ID header, angle brackets included (`<email_01J...@example.fr>`); the same
    /// for every send of the same email.
    pub message_id: String,
}

/// Sends emails. Implementations: SMTP ([`crate::smtp_mailer::SmtpMailer`]) and `.eml` files
/// ([`crate::file_mailer::FileMailer`]).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `email`: done once the server accepted it (or the file is written). A server's 4xx
    /// reply or a connection failure is transient; a 5xx reply or an address that cannot be
    /// written is permanent.
    async fn send(&self, email: &OutgoingEmail) -> Result<(), ProviderError>;
}

/// Who emails come from, as configured in `[email]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The from mailbox.
    pub from: Mailbox,
    /// Where replies go, if configured.
    pub reply_to: Option<Mailbox>,
}

impl Sender {
    /// The configured sender; fails with a message naming the key when an address cannot be
    /// used in an email (checked at start-up).
    pub fn from_settings(settings: &EmailSettings) -> Result<Self, String> {
        let from = Mailbox {
            name: Some(settings.from_name.trim().to_string()).filter(|n| !n.is_empty()),
            address: settings.from_address.trim().to_string(),
        };
        mailbox(&from)
            .map_err(|e| format!("email.from_address: {:?} {e}", settings.from_address))?;
        let reply_to = match settings.reply_to.trim() {
            "" => None,
            address => {
                let reply_to = Mailbox::address(address);
                mailbox(&reply_to)
                    .map_err(|e| format!("email.reply_to: {:?} {e}", settings.reply_to))?;
                Some(reply_to)
            }
        };
        Ok(Sender { from, reply_to })
    }
}

/// The MIME message of `email`, as every transport sends it. Fails (permanently) on an
/// address, a content type or a header that cannot be written.
pub fn build_message(email: &OutgoingEmail) -> Result<lettre::Message, ProviderError> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| ProviderError::Permanent {
        provider: PROVIDER,
        message: format!("{what}: {e}"),
    };
    let from = mailbox(&email.from).map_err(|e| invalid("the from address", &e))?;
    let to = mailbox(&email.to)
        .map_err(|e| invalid(&format!("the recipient {:?}", email.to.address), &e))?;
    if email.subject.chars().any(char::is_control) {
        return Err(invalid(
            "the subject",
            &"holds a line break or a control character",
        ));
    }
    if !is_message_id(&email.message_id) {
        return Err(invalid(
            "the Message-ID",
            &format!("{:?} is not of the form <left@right>", email.message_id),
        ));
    }
    let mut builder = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(email.message_id.clone()));
    if let Some(reply_to) = &email.reply_to {
        builder =
            builder.reply_to(mailbox(reply_to).map_err(|e| invalid("the reply-to address", &e))?);
    }
    let text = SinglePart::plain(email.text.clone());
    let message = if email.attachments.is_empty() {
        builder.singlepart(text)
    } else {
        let mut parts = MultiPart::mixed().singlepart(text);
        for attachment in &email.attachments {
            let content_type = ContentType::parse(&attachment.content_type).map_err(|e| {
                invalid(
                    &format!("the content type of {:?}", attachment.file_name),
                    &e,
                )
            })?;
            parts = parts.singlepart(
                Attachment::new(attachment.file_name.clone())
                    .body(attachment.bytes.clone(), content_type),
            );
        }
        builder.multipart(parts)
    };
    message.map_err(|e| invalid("the message", &e))
}

/// The provider name in errors about a message that cannot be built.
const PROVIDER: &str = "email";

/// `mailbox` as lettre writes it; the error says why the address is refused.
fn mailbox(mailbox: &Mailbox) -> Result<lettre::message::Mailbox, String> {
    let address = lettre::Address::from_str(mailbox.address.trim())
        .map_err(|e| format!("is not an email address ({e})"))?;
    if let Some(name) = &mailbox.name
        && name.chars().any(char::is_control)
    {
        return Err("has a name with a control character".into());
    }
    Ok(lettre::message::Mailbox::new(mailbox.name.clone(), address))
}

/// `<left@right>`, printable ASCII without spaces or further brackets.
fn is_message_id(text: &str) -> bool {
    let Some(inner) = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
        return false;
    };
    let Some((left, right)) = inner.split_once('@') else {
        return false;
    };
    !left.is_empty()
        && !right.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use base64::Engine;

    use super::*;

    fn invoice_email() -> OutgoingEmail {
        OutgoingEmail {
            from: Mailbox {
                name: Some("Zencall Facturation".into()),
                address: "facturation@zencall.example".into(),
            },
            to: Mailbox {
                name: Some("Boulangerie Petit".into()),
                address: "compta@boulangerie-petit.example".into(),
            },
            reply_to: Some(Mailbox::address("support@zencall.example")),
            subject: "Facture n° 2026-000001 – Zencall".into(),
            text: "Bonjour,\n\nVeuillez trouver ci-joint votre facture.\n".into(),
            attachments: vec![EmailAttachment {
                file_name: "facture-2026-000001.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: b"%PDF-1.4\n\x00\x01\x02\xff binary".to_vec(),
            }],
            message_id: "<email_01J0000000000000000000000@zencall.example>".into(),
        }
    }

    fn formatted(email: &OutgoingEmail) -> String {
        String::from_utf8(build_message(email).unwrap().formatted()).unwrap()
    }

    #[test]
    fn the_message_carries_its_headers_and_the_given_message_id() {
        let text = formatted(&invoice_email());
        let headers = text.split("\r\n\r\n").next().unwrap();
        assert!(
            headers.contains("From: \"Zencall Facturation\" <facturation@zencall.example>"),
            "{headers}"
        );
        assert!(
            headers.contains("To: \"Boulangerie Petit\" <compta@boulangerie-petit.example>"),
            "{headers}"
        );
        assert!(
            headers.contains("Reply-To: support@zencall.example"),
            "{headers}"
        );
        assert!(
            headers.contains("Message-ID: <email_01J0000000000000000000000@zencall.example>"),
            "{headers}"
        );
        assert!(headers.contains("MIME-Version: 1.0"), "{headers}");
        assert!(
            headers.contains("Content-Type: multipart/mixed;"),
            "{headers}"
        );
        assert!(headers.contains("Date: "), "{headers}");
    }

    #[test]
    fn a_subject_with_accents_is_encoded_and_reads_back_the_same() {
        let text = formatted(&invoice_email());
        let line = text
            .split("\r\n")
            .skip_while(|l| !l.starts_with("Subject: "))
            .take_while(|l| l.starts_with("Subject: ") || l.starts_with(' '))
            .collect::<Vec<_>>()
            .join("");
        assert!(line.is_ascii(), "{line}");
        assert!(line.contains("=?utf-8?"), "{line}");
        assert_eq!(
            decode_encoded_words(line.trim_start_matches("Subject: ")),
            "Facture n° 2026-000001 – Zencall"
        );
    }

    #[test]
    fn the_attachment_is_a_named_base64_part_with_the_same_bytes() {
        let email = invoice_email();
        let text = formatted(&email);
        let part = attachment_part(&text);
        assert!(part.contains("Content-Type: application/pdf"), "{part}");
        assert!(
            part.contains("Content-Disposition: attachment; filename=\"facture-2026-000001.pdf\""),
            "{part}"
        );
        assert!(part.contains("Content-Transfer-Encoding: base64"), "{part}");
        let body: String = part
            .split("\r\n\r\n")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert_eq!(bytes, email.attachments[0].bytes);
    }

    #[test]
    fn the_text_part_is_utf8_plain_text() {
        let text = formatted(&invoice_email());
        assert!(
            text.contains("Content-Type: text/plain; charset=utf-8"),
            "{text}"
        );
    }

    #[test]
    fn an_email_without_attachments_is_a_single_text_part() {
        let mut email = invoice_email();
        email.attachments.clear();
        let text = formatted(&email);
        assert!(!text.contains("multipart"), "{text}");
        assert!(
            text.contains("Content-Type: text/plain; charset=utf-8"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_recipient_is_a_permanent_error_naming_it() {
        let mut email = invoice_email();
        email.to = Mailbox::address("not an address");
        let err = build_message(&email).unwrap_err();
        assert!(!err.is_transient());
        assert!(err.to_string().contains("not an address"), "{err}");
    }

    #[test]
    fn a_subject_with_a_line_break_or_a_bad_message_id_is_refused() {
        let mut email = invoice_email();
        email.subject = "Facture\r\nBcc: someone@example.com".into();
        assert!(!build_message(&email).unwrap_err().is_transient());
        let mut email = invoice_email();
        email.message_id = "no-brackets@example.com".into();
        assert!(
            build_message(&email)
                .unwrap_err()
                .to_string()
                .contains("Message-ID")
        );
    }

    #[test]
    fn the_configured_sender_is_checked() {
        let mut settings = zencall_core::config::Settings::defaults().unwrap().email;
        let sender = Sender::from_settings(&settings).unwrap();
        assert_eq!(sender.from.address, "facturation@zencall.example");
        assert_eq!(sender.from.name.as_deref(), Some("Zencall"));
        assert_eq!(sender.reply_to, None);
        settings.from_address = "facturation@".into();
        let err = Sender::from_settings(&settings).unwrap_err();
        assert!(err.starts_with("email.from_address:"), "{err}");
    }

    /// The attachment's MIME part (headers and body) of a formatted message.
    pub(crate) fn attachment_part(message: &str) -> String {
        message
            .split("\r\n--")
            .find(|part| part.contains("Content-Disposition: attachment"))
            .unwrap()
            .to_string()
    }

    /// Decodes a header with RFC 2047 encoded words (`=?utf-8?b?...?=`) as a mail client shows
    /// it: plain words kept, the space between two encoded words dropped.
    fn decode_encoded_words(text: &str) -> String {
        let mut out: Vec<u8> = Vec::new();
        let mut previous_encoded = false;
        for word in text.split(' ') {
            match word.strip_prefix("=?").and_then(|w| w.strip_suffix("?=")) {
                Some(inner) => {
                    let mut pieces = inner.splitn(3, '?');
                    let (charset, encoding, data) = (
                        pieces.next().unwrap(),
                        pieces.next().unwrap(),
                        pieces.next().unwrap(),
                    );
                    assert!(charset.eq_ignore_ascii_case("utf-8"), "{word}");
                    assert!(encoding.eq_ignore_ascii_case("b"), "{word}");
                    if !out.is_empty() && !previous_encoded {
                        out.push(b' ');
                    }
                    out.extend(
                        base64::engine::general_purpose::STANDARD
                            .decode(data)
                            .unwrap(),
                    );
                    previous_encoded = true;
                }
                None => {
                    if !out.is_empty() {
                        out.push(b' ');
                    }
                    out.extend(word.as_bytes());
                    previous_encoded = false;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }
}
