//! Configurators: asking for an organisation's onboarding voice assistant in a language (made
//! or updated at the voice platform by a job), shared by the admin route and the
//! `zencall configurator provision` command.

use chrono::{DateTime, Utc};
use zencall_core::config::Settings;
use zencall_core::domain::sector::Language;
use zencall_core::jobs::payloads::ProvisionConfigurator;
use zencall_core::store::configurators::{self, Configurator};
use zencall_core::store::{Db, StoreError};
use zencall_queue::{EnqueueOptions, enqueue_in};

/// Where a configurator's tools are served: this API's `/mcp`, at `server.public_url`.
pub fn mcp_url(settings: &Settings) -> String {
    format!("{}/mcp", settings.server.public_url.trim_end_matches('/'))
}

/// `fr` or `en` read as a language, or a message naming `field`.
pub fn parse_language(field: &str, text: &str) -> Result<Language, String> {
    match text {
        "fr" => Ok(Language::Fr),
        "en" => Ok(Language::En),
        _ => Err(format!("{field}: must be fr or en, not {text:?}")),
    }
}

/// Marks the organisation's configurator in `language` as `provisioning` (creating it when it
/// has none) and queues the job that makes it at the voice platform, in one transaction.
/// Asking again while a provisioning runs adds no second job.
pub async fn provision(
    db: &Db,
    settings: &Settings,
    org_id: &str,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Configurator, StoreError> {
    let mut tx = db.begin().await?;
    let (configurator, changed) =
        configurators::request(&mut tx, org_id, language, &mcp_url(settings), now).await?;
    if changed {
        let job = ProvisionConfigurator {
            org_id: org_id.to_string(),
            configurator_id: configurator.id.clone(),
        };
        // One key per provisioning: a configurator is provisioned again each time it is asked.
        let unique = format!(
            "configurator:{}:{}",
            configurator.id,
            ulid::Ulid::generate()
        );
        enqueue_in(
            &mut tx,
            &job,
            EnqueueOptions::unique(unique),
            settings.queue.max_attempts,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(configurator)
}
