//! The SMTP adapter: [`Mailer`] over lettre's pooled SMTP transport (tokio, rustls with ring).
//! The URL in `email.smtp_url` says how to connect: `smtp://` plain (a local sink),
//! `smtp://...?tls=required` STARTTLS, `smtps://` TLS from the start; credentials are the URL's
//! percent-encoded user and password. The URL is a secret: only its scheme, host and port are
//! ever shown.
//!
//! A 4xx reply, a lost connection, a TLS failure or a timeout is transient (the job retries);
//! a 5xx reply (unknown mailbox, refused sender, message rejected) is permanent, with the
//! server's words as the reason.

use std::time::Duration;

use async_trait::async_trait;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use zencall_core::config::EmailSettings;

use crate::ProviderError;
use crate::mailer::{Mailer, OutgoingEmail, build_message};

/// The provider name in errors.
const PROVIDER: &str = "smtp";

/// An SMTP server, with a pool of connections to it; cheap to clone.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for the server of `email.smtp_url`. Fails on a URL lettre cannot use, and on
    /// credentials that would cross the network in clear (a plain `smtp://` URL to another
    /// machine). Must be called inside a tokio runtime (the pool's upkeep runs on it).
    pub fn new(settings: &EmailSettings) -> Result<Self, ProviderError> {
        let text = settings.smtp_url.expose_secret().trim();
        let permanent = |message: String| ProviderError::Permanent {
            provider: PROVIDER,
            message,
        };
        // Parse errors never repeat the URL: it may hold a password.
        let url = reqwest::Url::parse(text)
            .map_err(|e| permanent(format!("email.smtp_url is not a URL ({e})")))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| permanent("email.smtp_url has no host".into()))?
            .to_string();
        let tls = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let encrypted = url.scheme() == "smtps" || tls.as_deref() == Some("required");
        let has_credentials = !url.username().is_empty() || url.password().is_some();
        if has_credentials && !encrypted && !is_loopback(&host) {
            return Err(permanent(format!(
                "email.smtp_url: the credentials would be sent to {host} without encryption; use smtps:// or add ?tls=required"
            )));
        }
        if settings.timeout_ms == 0 {
            return Err(permanent("email.timeout_ms must be greater than 0".into()));
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(text)
            .map_err(|e| permanent(format!("email.smtp_url cannot be used: {e}")))?
            .timeout(Some(Duration::from_millis(settings.timeout_ms)))
            .build();
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let mode = match (url.scheme(), tls.as_deref()) {
            ("smtps", _) => "",
            (_, Some(t)) => match t {
                "required" => "?tls=required",
                _ => "?tls=opportunistic",
            },
            _ => "",
        };
        Ok(SmtpMailer {
            transport,
            server: format!("{}://{host}{port}{mode}", url.scheme()),
        })
    }

    /// The server, for logs: scheme, host and port, never the credentials.
    pub fn server(&self) -> &str {
        &self.server
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), ProviderError> {
        let message = build_message(email)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

/// Sorts an SMTP failure: the server's 5xx refusals are permanent; everything else (4xx
/// replies, connection, TLS, timeouts, garbled replies) may succeed later.
fn classify(error: lettre::transport::smtp::Error) -> ProviderError {
    let message = crate::http::truncate(&describe(&error), 500);
    if error.is_permanent() {
        ProviderError::Permanent {
            provider: PROVIDER,
            message: format!("the server refused the message: {message}"),
        }
    } else if error.is_client() {
        // lettre refused to write what we gave it (an address or a header): no retry helps.
        ProviderError::Permanent {
            provider: PROVIDER,
            message,
        }
    } else {
        ProviderError::Transient {
            provider: PROVIDER,
            message,
            retry_after: None,
        }
    }
}

/// The error with its causes, one after the other.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// True for this machine's names and addresses.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use base64::Engine;
    use secrecy::SecretString;

    use super::*;
    use crate::mailer::{EmailAttachment, Mailbox};
    use crate::smtp_sink::{SinkReply, SmtpSink};

    fn settings(url: &str) -> EmailSettings {
        let mut s = zencall_core::config::Settings::defaults().unwrap().email;
        s.smtp_url = SecretString::from(url);
        s.timeout_ms = 5000;
        s
    }

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            from: Mailbox {
                name: Some("Zencall".into()),
                address: "facturation@zencall.example".into(),
            },
            to: Mailbox::address("compta@boulangerie-petit.example"),
            reply_to: None,
            subject: "Facture n° 2026-000001 – Zencall".into(),
            text: "Bonjour,\n.\nUne ligne qui commence par un point.\n".into(),
            attachments: vec![EmailAttachment {
                file_name: "facture-2026-000001.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: (0..=255u8).cycle().take(5000).collect(),
            }],
            message_id: "<email_01J@zencall.example>".into(),
        }
    }

    #[tokio::test]
    async fn the_message_reaches_the_server_with_its_attachment() {
        let sink = SmtpSink::start().await;
        let mailer = SmtpMailer::new(&settings(&sink.url())).unwrap();
        let email = email();
        mailer.send(&email).await.unwrap();
        let received = sink.received(1).await;
        assert_eq!(received.len(), 1);
        let m = &received[0];
        assert_eq!(m.mail_from, "facturation@zencall.example");
        assert_eq!(
            m.rcpt_to,
            vec!["compta@boulangerie-petit.example".to_string()]
        );
        let data = m.text();
        assert!(
            data.contains("Message-ID: <email_01J@zencall.example>"),
            "{data}"
        );
        // The line made of a dot came through the transparency rule intact.
        assert!(data.contains("\r\n.\r\nUne ligne"), "{data}");
        let part = data
            .split("\r\n--")
            .find(|p| p.contains("Content-Disposition: attachment"))
            .unwrap();
        assert!(
            part.contains("filename=\"facture-2026-000001.pdf\""),
            "{part}"
        );
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

    #[tokio::test]
    async fn a_451_reply_is_transient() {
        let sink = SmtpSink::start().await;
        sink.reply_to_recipients(SinkReply::TryLater);
        let mailer = SmtpMailer::new(&settings(&sink.url())).unwrap();
        let err = mailer.send(&email()).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("451"), "{err}");
        assert!(sink.messages().is_empty());
    }

    #[tokio::test]
    async fn a_550_reply_is_permanent_with_the_servers_reason() {
        let sink = SmtpSink::start().await;
        sink.reply_to_recipients(SinkReply::Refuse);
        let mailer = SmtpMailer::new(&settings(&sink.url())).unwrap();
        let err = mailer.send(&email()).await.unwrap_err();
        assert!(!err.is_transient(), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("550") && text.contains("mailbox unavailable"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_is_transient() {
        // A port nothing listens on (bound, then released).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mailer = SmtpMailer::new(&settings(&format!("smtp://127.0.0.1:{port}"))).unwrap();
        let err = mailer.send(&email()).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }

    #[tokio::test]
    async fn credentials_in_clear_to_another_machine_are_refused_and_never_shown() {
        let err =
            SmtpMailer::new(&settings("smtp://user:hunter2@smtp.example.com:587")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("without encryption"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let ok = SmtpMailer::new(&settings(
            "smtp://user:hunter2@smtp.example.com:587?tls=required",
        ))
        .unwrap();
        assert_eq!(ok.server(), "smtp://smtp.example.com:587?tls=required");
        assert!(!format!("{ok:?}").contains("hunter2"));
        let ok = SmtpMailer::new(&settings("smtps://user:hunter2@smtp.example.com")).unwrap();
        assert_eq!(ok.server(), "smtps://smtp.example.com");
        SmtpMailer::new(&settings("smtp://user:pw@127.0.0.1:2525")).unwrap();
    }
}
