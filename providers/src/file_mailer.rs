//! The `.eml` adapter: [`Mailer`] that writes each message, exactly as it would go over SMTP,
//! to a file `{uuid}.eml` in a folder (lettre's file transport). `zencall up` uses it when no
//! SMTP server is configured: open the files with any mail client to read what was sent.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor};

use crate::ProviderError;
use crate::mailer::{Mailer, OutgoingEmail, build_message};

/// The provider name in errors.
const PROVIDER: &str = "email files";

/// Writes messages into one folder.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    transport: AsyncFileTransport<Tokio1Executor>,
}

impl FileMailer {
    /// A mailer writing into `dir`, created on the first message.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        FileMailer {
            transport: AsyncFileTransport::new(&dir),
            dir,
        }
    }

    /// The folder the messages go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), ProviderError> {
        let message = build_message(email)?;
        let failed = |what: String| ProviderError::Transient {
            provider: PROVIDER,
            message: format!("{what} in {}", self.dir.display()),
            retry_after: None,
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| failed(format!("cannot create the folder ({e})")))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| failed(format!("cannot write the message ({e})")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use base64::Engine;

    use super::*;
    use crate::mailer::{EmailAttachment, Mailbox};

    #[tokio::test]
    async fn each_message_is_one_eml_file_with_its_attachment() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("emails");
        let mailer = FileMailer::new(&dir);
        assert!(
            !dir.exists(),
            "the folder is made only when a message is written"
        );
        let pdf = b"%PDF-1.4 \x00\xfe\xff".to_vec();
        let email = OutgoingEmail {
            from: Mailbox::address("facturation@zencall.example"),
            to: Mailbox::address("compta@boulangerie-petit.example"),
            reply_to: None,
            subject: "Échec du paiement".into(),
            text: "Votre paiement n'a pas abouti.".into(),
            attachments: vec![EmailAttachment {
                file_name: "facture.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: pdf.clone(),
            }],
            message_id: "<email_1@zencall.example>".into(),
        };
        mailer.send(&email).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].extension().unwrap(), "eml");
        let text = String::from_utf8(std::fs::read(&files[0]).unwrap()).unwrap();
        assert!(
            text.contains("To: compta@boulangerie-petit.example"),
            "{text}"
        );
        assert!(
            text.contains("Message-ID: <email_1@zencall.example>"),
            "{text}"
        );
        let part = text
            .split("\r\n--")
            .find(|p| p.contains("Content-Disposition: attachment"))
            .unwrap();
        let body: String = part
            .split("\r\n\r\n")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap(),
            pdf
        );
    }

    #[tokio::test]
    async fn a_folder_that_cannot_be_made_is_a_transient_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let mailer = FileMailer::new(file.join("emails"));
        let email = OutgoingEmail {
            from: Mailbox::address("facturation@zencall.example"),
            to: Mailbox::address("compta@boulangerie-petit.example"),
            reply_to: None,
            subject: "Essai".into(),
            text: "Essai".into(),
            attachments: vec![],
            message_id: "<email_2@zencall.example>".into(),
        };
        let err = mailer.send(&email).await.unwrap_err();
        assert!(err.is_transient());
        assert!(err.to_string().contains("a-file"), "{err}");
    }
}
