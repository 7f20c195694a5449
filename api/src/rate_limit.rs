//! Rate limits per API key (GCRA): each scope has its own quota per minute, with bursts up
//! to the same number. Past it, 429 with `Retry-After`. With Redis configured the counters
//! are shared by every API replica (one Lua script, timed by Redis's own clock, so replicas'
//! clocks cannot disagree); without it each process counts alone (governor).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret;
use zencall_core::config::{RateLimitSettings, RedisSettings};
use zencall_core::store::api_keys::{ApiKey, Scope};

/// Keys whose counters may be forgotten once this many are tracked (and idle).
const FORGET_ABOVE: usize = 10_000;

/// GCRA over a stored "theoretical arrival time" in ms. ARGV[1]: ms per request; ARGV[2]:
/// burst. Returns 0 when allowed, else the wait in ms.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > burst * interval then
  return ahead - burst * interval
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(ahead))
return 0
";

/// A rate-limit counter store could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("rate-limit store unavailable: {0}")]
pub struct LimitStoreError(String);

/// Counters kept in this process, one limiter per scope.
struct LocalCounters {
    read: DefaultKeyedRateLimiter<String>,
    write: DefaultKeyedRateLimiter<String>,
    admin: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

enum Counters {
    Local(Box<LocalCounters>),
    Redis {
        connection: ConnectionManager,
        script: redis::Script,
    },
}

/// Quotas per scope, counted per API key.
pub struct RateLimits {
    quotas: RateLimitSettings,
    counters: Counters,
}

fn limiter(per_minute: u32) -> DefaultKeyedRateLimiter<String> {
    // The configuration refuses zero; one request a minute is the floor all the same.
    let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(n))
}

impl RateLimits {
    /// Counters in this process.
    pub fn local(quotas: &RateLimitSettings) -> Self {
        let counters = Counters::Local(Box::new(LocalCounters {
            read: limiter(quotas.read_per_minute),
            write: limiter(quotas.write_per_minute),
            admin: limiter(quotas.admin_per_minute),
            clock: DefaultClock::default(),
        }));
        Self {
            quotas: quotas.clone(),
            counters,
        }
    }

    /// Counters in Redis when `redis.url` is set, in this process otherwise.
    pub async fn from_config(
        quotas: &RateLimitSettings,
        redis: &RedisSettings,
    ) -> Result<Self, LimitStoreError> {
        let url = redis.url.expose_secret();
        if url.is_empty() {
            return Ok(Self::local(quotas));
        }
        // The URL may hold a password: errors name the problem, never the URL.
        let client = redis::Client::open(url)
            .map_err(|e| LimitStoreError(format!("redis.url is not usable: {:?}", e.kind())))?;
        let connection = ConnectionManager::new(client)
            .await
            .map_err(|e| LimitStoreError(format!("cannot connect to Redis: {:?}", e.kind())))?;
        Ok(Self {
            quotas: quotas.clone(),
            counters: Counters::Redis {
                connection,
                script: redis::Script::new(GCRA),
            },
        })
    }

    /// Counts one request of `key`; `Ok(Err(wait))` when it is over its quota.
    pub async fn check(&self, key: &ApiKey) -> Result<Result<(), Duration>, LimitStoreError> {
        let per_minute = match key.scope {
            Scope::Read => self.quotas.read_per_minute,
            Scope::Write => self.quotas.write_per_minute,
            Scope::Admin => self.quotas.admin_per_minute,
        }
        .max(1);
        match &self.counters {
            Counters::Local(local) => {
                let LocalCounters {
                    read,
                    write,
                    admin,
                    clock,
                } = local.as_ref();
                let limiter = match key.scope {
                    Scope::Read => read,
                    Scope::Write => write,
                    Scope::Admin => admin,
                };
                if limiter.len() > FORGET_ABOVE {
                    limiter.retain_recent();
                }
                Ok(limiter
                    .check_key(&key.id)
                    .map_err(|not_until| not_until.wait_time_from(clock.now())))
            }
            Counters::Redis { connection, script } => {
                let interval_ms = (60_000 / u64::from(per_minute)).max(1);
                let mut connection = connection.clone();
                let wait_ms: u64 = script
                    .key(format!("zencall:rate:{}:{}", key.scope.as_str(), key.id))
                    .arg(interval_ms)
                    .arg(per_minute)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|e| LimitStoreError(format!("{:?}", e.kind())))?;
                Ok(if wait_ms == 0 {
                    Ok(())
                } else {
                    Err(Duration::from_millis(wait_ms))
                })
            }
        }
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
        assert!(matches!(one.counters, Counters::Redis { .. }));
        assert_quota_kept(&[&one, &two], &ulid::Ulid::generate().to_string()).await;
    }
}
