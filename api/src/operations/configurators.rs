//! Configurators: asking for an organisation's onboarding voice assistant in a language (made
//! or updated at the voice platform by a job), shared by the admin route and the
//! `zencall configurator provision` command.

use chrono::{DateTime, Utc};
use zencall_core::config::Settings;
use zencall_core::domain::sector::Language;
use zencall_core::jobs::payloads::{DeleteConfigurator, ProvisionConfigurator};
use zencall_core::store::configurators::{self, Configurator, ConfiguratorStatus};
use zencall_core::store::{Db, StoreError};
use zencall_queue::{EnqueueOptions, enqueue_in};

/// Where a configurator's tools are served: this API's `/mcp`, at `server.public_url`.
pub fn mcp_url(settings: &Settings) -> String {
    format!("{}/mcp", settings.server.public_url.trim_end_matches('/'))
}

/// `fr` or `en` read as a language, or a message naming `field`.
pub fn parse_language(field: &str, text: &str) -> Result<Language, String> {
    Language::parse_code(text).ok_or_else(|| format!("{field}: must be fr or en, not {text:?}"))
}

/// Why a configurator cannot be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionRefused {
    /// It is being deleted: ask again once it is gone.
    #[error("the configurator {0} is being deleted; provision it again once it is gone")]
    Deleting(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ProvisionRefused> for crate::error::ApiError {
    fn from(e: ProvisionRefused) -> Self {
        match e {
            ProvisionRefused::Deleting(_) => crate::error::ApiError::Conflict(e.to_string()),
            ProvisionRefused::Store(e) => e.into(),
        }
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
) -> Result<Configurator, ProvisionRefused> {
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
    } else if configurator.status == ConfiguratorStatus::Deleting {
        return Err(ProvisionRefused::Deleting(configurator.id));
    }
    tx.commit().await?;
    Ok(configurator)
}

/// Marks the organisation's configurator in `language` as `deleting` and queues the job that
/// removes it from the voice platform, revokes its key and forgets it, in one transaction.
/// None when there is no such configurator; asking again while it is deleted adds no job.
pub async fn delete(
    db: &Db,
    settings: &Settings,
    org_id: &str,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Option<Configurator>, StoreError> {
    let mut tx = db.begin().await?;
    let Some((configurator, changed)) =
        configurators::mark_deleting(&mut tx, org_id, language, now).await?
    else {
        return Ok(None);
    };
    if changed {
        let job = DeleteConfigurator {
            org_id: org_id.to_string(),
            configurator_id: configurator.id.clone(),
        };
        enqueue_in(
            &mut tx,
            &job,
            EnqueueOptions::unique(format!("configurator-delete:{}", configurator.id)),
            settings.queue.max_attempts,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Some(configurator))
}
