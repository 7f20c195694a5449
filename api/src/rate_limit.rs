//! Rate limits per API key (GCRA): each scope has its own quota per minute, with bursts up
//! to the same number. Past it, 429 with `Retry-After`. The counting is core's
//! [`KeyedRateLimiter`]: in Redis when configured, so every API replica shares the counts,
//! in this process otherwise (governor's keyed limiter).

use std::time::Duration;

use zencall_core::config::{RateLimitSettings, RedisSettings};
use zencall_core::rate_limiter::KeyedRateLimiter;
use zencall_core::store::api_keys::{ApiKey, Scope};

pub use zencall_core::rate_limiter::LimitStoreError;

/// Quotas per scope, counted per API key.
pub struct RateLimits {
    quotas: RateLimitSettings,
    limiter: KeyedRateLimiter,
}

impl RateLimits {
    /// Counters in this process.
    pub fn local(quotas: &RateLimitSettings) -> Self {
        Self {
            quotas: quotas.clone(),
            limiter: KeyedRateLimiter::local(),
        }
    }

    /// Counters in Redis when `redis.url` is set, in this process otherwise.
    pub async fn from_config(
        quotas: &RateLimitSettings,
        redis: &RedisSettings,
    ) -> Result<Self, LimitStoreError> {
        Ok(Self {
            quotas: quotas.clone(),
            limiter: KeyedRateLimiter::from_settings(redis).await?,
        })
    }

    /// Counts one request of `key`; `Ok(Err(wait))` when it is over its quota.
    pub async fn check(&self, key: &ApiKey) -> Result<Result<(), Duration>, LimitStoreError> {
        // The configuration refuses zero; one request a minute is the floor all the same.
        let per_minute = match key.scope {
            Scope::Read => self.quotas.read_per_minute,
            Scope::Write => self.quotas.write_per_minute,
            Scope::Admin => self.quotas.admin_per_minute,
        }
        .max(1);
        // Stored in Redis as `zencall:rate:{scope}:{key id}`, as before the limiter moved to
        // core, so replicas of either version share counts during a rolling deploy.
        self.limiter
            .check(
                &format!("{}:{}", key.scope.as_str(), key.id),
                Duration::from_secs(60) / per_minute,
                per_minute,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(id: &str, scope: Scope) -> ApiKey {
        ApiKey {
            id: id.into(),
            org_id: "org".into(),
            name: "k".into(),
            prefix: "zc_".into(),
            scope,
            created_at: chrono::Utc::now(),
        }
    }

    fn quotas() -> RateLimitSettings {
        RateLimitSettings {
            read_per_minute: 3,
            write_per_minute: 2,
            admin_per_minute: 100,
        }
    }

    async fn assert_quota_kept(replicas: &[&RateLimits], prefix: &str) {
        let a = key(&format!("{prefix}-a"), Scope::Write);
        assert!(replicas[0].check(&a).await.unwrap().is_ok());
        assert!(
            replicas[replicas.len() - 1]
                .check(&a)
                .await
                .unwrap()
                .is_ok()
        );
        let wait = replicas[0]
            .check(&a)
            .await
            .unwrap()
            .expect_err("over quota");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(
            replicas[0]
                .check(&key(&format!("{prefix}-b"), Scope::Write))
                .await
                .unwrap()
                .is_ok()
        );
        assert!(
            replicas[0]
                .check(&key(&format!("{prefix}-a"), Scope::Read))
                .await
                .unwrap()
                .is_ok(),
            "scopes count apart"
        );
    }

    #[tokio::test]
    async fn a_key_gets_its_burst_then_waits_and_other_keys_are_unaffected() {
        let limits = RateLimits::local(&quotas());
        assert_quota_kept(&[&limits], "local").await;
    }

    #[tokio::test]
    async fn with_redis_the_quota_is_shared_by_every_replica() {
        let Ok(url) = std::env::var("ZENCALL_TEST_REDIS_URL") else {
            eprintln!("skipped on Redis: ZENCALL_TEST_REDIS_URL is not set");
            return;
        };
        let redis = RedisSettings {
            url: secrecy::SecretString::from(url),
        };
        let one = RateLimits::from_config(&quotas(), &redis)
            .await
            .expect("ZENCALL_TEST_REDIS_URL is set but Redis is unreachable");
        let two = RateLimits::from_config(&quotas(), &redis).await.unwrap();
        assert!(one.limiter.is_shared());
        assert_quota_kept(&[&one, &two], &ulid::Ulid::generate().to_string()).await;
    }
}
