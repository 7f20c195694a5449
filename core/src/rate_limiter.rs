//! A keyed rate limiter (GCRA, the "generic cell rate algorithm"): each key may spend one
//! request per `interval`, with up to `burst` at once after a quiet spell. The API counts
//! requests per API key with it; the dialer counts calls per caller number.
//!
//! With Redis configured the counts are shared by every replica: one Lua script, timed by
//! Redis's own clock, so the replicas' clocks cannot disagree. Without it each process counts
//! alone with `governor`'s keyed limiter (one per quota), on tokio's clock, so tests can move
//! time.
//!
//! GCRA keeps one instant per key, its "theoretical arrival time" (TAT): when the key would
//! be back to a full burst. A request at `now` is allowed when `max(TAT, now) + interval` is
//! at most `burst × interval` ahead of `now`, and then moves the TAT there; otherwise the
//! wait is by how much it is too far ahead.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use governor::clock::Clock;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};

use crate::config::RedisSettings;

/// Local counters are forgotten, once this many keys are tracked, for the keys that are back
/// to a full burst (forgetting those changes nothing).
pub const FORGET_IDLE_ABOVE: usize = 10_000;

/// Every Redis key the limiter writes starts with this, then the caller's key.
pub const REDIS_KEY_PREFIX: &str = "zencall:rate:";

/// GCRA over a stored TAT in ms. ARGV[1]: ms per request; ARGV[2]: burst. Returns 0 when
/// allowed, else the wait in ms. The key expires when it is back to a full burst.
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

/// The rate-limit store (Redis) could not be reached or used.
#[derive(Debug, thiserror::Error)]
#[error("rate-limit store unavailable: {0}")]
pub struct LimitStoreError(String);

/// tokio's clock: paused and advanced in tests, the monotonic clock otherwise.
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;
    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// The keys counted under one quota.
struct QuotaLimiter {
    limiter: RateLimiter<String, HashMapStateStore<String>, TokioClock>,
    /// When more keys than this are tracked, those back to a full burst are dropped; it then
    /// doubles if most keys are still busy, so a large active set costs amortised O(1) per
    /// check, not a scan each time.
    forget_above: usize,
}

/// The local limiters, one per (interval, burst).
type LocalLimiters = HashMap<(Duration, u32), QuotaLimiter>;

enum Store {
    Local(Mutex<LocalLimiters>),
    Redis {
        connection: ConnectionManager,
        script: redis::Script,
    },
}

/// Counts requests per key (GCRA), in this process or in Redis; see the module docs.
pub struct KeyedRateLimiter {
    store: Store,
}

impl fmt::Debug for KeyedRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = match &self.store {
            Store::Local(_) => "local",
            Store::Redis { .. } => "redis",
        };
        f.debug_struct("KeyedRateLimiter")
            .field("store", &store)
            .finish()
    }
}

impl KeyedRateLimiter {
    /// Counts in this process only.
    pub fn local() -> Self {
        Self {
            store: Store::Local(Mutex::new(HashMap::new())),
        }
    }

    /// Counts in the Redis at `url`, shared with every process using it.
    pub async fn redis(url: &SecretString) -> Result<Self, LimitStoreError> {
        // The URL may hold a password: errors name the problem, never the URL.
        let client = redis::Client::open(url.expose_secret())
            .map_err(|e| LimitStoreError(format!("redis.url is not usable: {:?}", e.kind())))?;
        let connection = ConnectionManager::new(client)
            .await
            .map_err(|e| LimitStoreError(format!("cannot connect to Redis: {:?}", e.kind())))?;
        Ok(Self {
            store: Store::Redis {
                connection,
                script: redis::Script::new(GCRA),
            },
        })
    }

    /// In Redis when `redis.url` is set, in this process otherwise.
    pub async fn from_settings(settings: &RedisSettings) -> Result<Self, LimitStoreError> {
        if settings.url.expose_secret().is_empty() {
            Ok(Self::local())
        } else {
            Self::redis(&settings.url).await
        }
    }

    /// Whether the counts are shared with other processes (Redis).
    pub fn is_shared(&self) -> bool {
        matches!(self.store, Store::Redis { .. })
    }

    /// Counts one request of `key`, allowed once per `interval` with bursts of up to `burst`
    /// (at least 1): `Ok(Ok(()))` when allowed, `Ok(Err(wait))` with how long until it would
    /// be (nothing is counted then). In Redis the interval is in whole milliseconds, at
    /// least one.
    pub async fn check(
        &self,
        key: &str,
        interval: Duration,
        burst: u32,
    ) -> Result<Result<(), Duration>, LimitStoreError> {
        let burst = burst.max(1);
        match &self.store {
            Store::Local(limiters) => {
                let mut limiters = limiters.lock().unwrap_or_else(PoisonError::into_inner);
                Ok(check_local(&mut limiters, key, interval, burst))
            }
            Store::Redis { connection, script } => {
                let interval_ms = u64::try_from(interval.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1);
                let mut connection = connection.clone();
                let wait_ms: u64 = script
                    .key(format!("{REDIS_KEY_PREFIX}{key}"))
                    .arg(interval_ms)
                    .arg(burst)
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

/// Counts one request of `key` under the quota (`interval`, `burst`) in this process.
fn check_local(
    limiters: &mut LocalLimiters,
    key: &str,
    interval: Duration,
    burst: u32,
) -> Result<(), Duration> {
    let Some(quota) = Quota::with_period(interval) else {
        // No interval: nothing to wait for.
        return Ok(());
    };
    let quota = quota.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
    let entry = limiters
        .entry((interval, burst))
        .or_insert_with(|| QuotaLimiter {
            limiter: RateLimiter::hashmap_with_clock(quota, TokioClock),
            forget_above: FORGET_IDLE_ABOVE,
        });
    let key = key.to_owned();
    if let Err(not_until) = entry.limiter.check_key(&key) {
        return Err(not_until.wait_time_from(TokioClock.now()));
    }
    if entry.limiter.len() > entry.forget_above {
        entry.limiter.retain_recent();
        entry.forget_above = FORGET_IDLE_ABOVE.max(2 * entry.limiter.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    async fn allowed(
        limiter: &KeyedRateLimiter,
        key: &str,
        interval: Duration,
        burst: u32,
    ) -> bool {
        limiter.check(key, interval, burst).await.unwrap().is_ok()
    }

    async fn wait(
        limiter: &KeyedRateLimiter,
        key: &str,
        interval: Duration,
        burst: u32,
    ) -> Duration {
        limiter
            .check(key, interval, burst)
            .await
            .unwrap()
            .expect_err("over the limit")
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_gets_its_burst_then_waits_one_interval() {
        let limiter = KeyedRateLimiter::local();
        for _ in 0..3 {
            assert!(allowed(&limiter, "a", SECOND, 3).await);
        }
        assert_eq!(wait(&limiter, "a", SECOND, 3).await, SECOND);
        assert_eq!(
            wait(&limiter, "a", SECOND, 3).await,
            SECOND,
            "a refusal is not counted"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_returned_is_when_the_next_request_is_allowed() {
        let limiter = KeyedRateLimiter::local();
        let interval = Duration::from_secs(10);
        assert!(allowed(&limiter, "a", interval, 2).await);
        assert!(allowed(&limiter, "a", interval, 2).await);
        tokio::time::advance(Duration::from_secs(4)).await;
        let left = wait(&limiter, "a", interval, 2).await;
        assert_eq!(left, Duration::from_secs(6));
        tokio::time::advance(left - Duration::from_millis(1)).await;
        assert!(!allowed(&limiter, "a", interval, 2).await);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(allowed(&limiter, "a", interval, 2).await);
        assert!(
            !allowed(&limiter, "a", interval, 2).await,
            "one interval refilled one request"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_key_gets_its_whole_burst_back_and_no_more() {
        let limiter = KeyedRateLimiter::local();
        for _ in 0..3 {
            assert!(allowed(&limiter, "a", SECOND, 3).await);
        }
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..3 {
            assert!(allowed(&limiter, "a", SECOND, 3).await);
        }
        assert_eq!(wait(&limiter, "a", SECOND, 3).await, SECOND);
    }

    #[tokio::test(start_paused = true)]
    async fn separate_keys_are_counted_apart() {
        let limiter = KeyedRateLimiter::local();
        assert!(allowed(&limiter, "+33142868000", SECOND, 1).await);
        assert!(!allowed(&limiter, "+33142868000", SECOND, 1).await);
        assert!(allowed(&limiter, "+33142868001", SECOND, 1).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_zero_counts_as_one() {
        let limiter = KeyedRateLimiter::local();
        assert!(allowed(&limiter, "a", SECOND, 0).await);
        assert_eq!(wait(&limiter, "a", SECOND, 0).await, SECOND);
    }

    /// Keys tracked under the quota (`interval`, `burst`), and the size that triggers the
    /// next forgetting.
    fn tracked(limiter: &KeyedRateLimiter, interval: Duration, burst: u32) -> (usize, usize) {
        let Store::Local(limiters) = &limiter.store else {
            panic!("a local limiter")
        };
        let limiters = limiters.lock().unwrap();
        let entry = &limiters[&(interval, burst)];
        (entry.limiter.len(), entry.forget_above)
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keys_are_forgotten_once_many_are_tracked_and_busy_ones_kept() {
        let limiter = KeyedRateLimiter::local();
        let slow = SECOND * 100;
        assert!(allowed(&limiter, "busy", slow, 2).await);
        for i in 1..FORGET_IDLE_ABOVE {
            assert!(allowed(&limiter, &format!("k{i}"), slow, 2).await);
        }
        assert_eq!(tracked(&limiter, slow, 2).0, FORGET_IDLE_ABOVE);
        // 250 s later every key has been back to a full burst for over an interval (governor
        // forgets a key only then), but `busy`, counted again now.
        tokio::time::advance(SECOND * 250).await;
        assert!(allowed(&limiter, "busy", slow, 2).await);
        assert!(allowed(&limiter, "busy", slow, 2).await);
        assert!(allowed(&limiter, "new", slow, 2).await);
        assert_eq!(
            tracked(&limiter, slow, 2).0,
            2,
            "only `busy` and `new` are not idle"
        );
        assert!(
            !allowed(&limiter, "busy", slow, 2).await,
            "busy kept its count"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_busy_set_is_not_scanned_on_every_new_key() {
        let limiter = KeyedRateLimiter::local();
        for i in 0..=FORGET_IDLE_ABOVE {
            assert!(allowed(&limiter, &format!("k{i}"), SECOND, 1).await);
        }
        assert_eq!(
            tracked(&limiter, SECOND, 1),
            (FORGET_IDLE_ABOVE + 1, 2 * (FORGET_IDLE_ABOVE + 1))
        );
    }

    #[tokio::test]
    async fn with_redis_the_counts_are_shared_by_every_process() {
        let Ok(url) = std::env::var("ZENCALL_TEST_REDIS_URL") else {
            eprintln!("skipped on Redis: ZENCALL_TEST_REDIS_URL is not set");
            return;
        };
        let settings = RedisSettings {
            url: SecretString::from(url),
        };
        let one = KeyedRateLimiter::from_settings(&settings)
            .await
            .expect("ZENCALL_TEST_REDIS_URL is set but Redis is unreachable");
        let two = KeyedRateLimiter::from_settings(&settings).await.unwrap();
        assert!(one.is_shared());
        let prefix = format!("test:{}", ulid::Ulid::generate());
        let key = format!("{prefix}:a");
        let minute = Duration::from_secs(60);
        assert!(allowed(&one, &key, minute, 2).await);
        assert!(allowed(&two, &key, minute, 2).await);
        let left = wait(&one, &key, minute, 2).await;
        assert!(left > Duration::ZERO && left <= minute, "{left:?}");
        assert!(allowed(&two, &format!("{prefix}:b"), minute, 2).await);
    }

    #[tokio::test]
    async fn an_empty_redis_url_counts_locally() {
        let settings = RedisSettings {
            url: SecretString::from(String::new()),
        };
        let limiter = KeyedRateLimiter::from_settings(&settings).await.unwrap();
        assert!(!limiter.is_shared());
    }

    #[tokio::test]
    async fn an_unusable_redis_url_is_an_error_that_hides_the_url() {
        let url = SecretString::from("not-a-url://hunter2@x".to_owned());
        let error = KeyedRateLimiter::redis(&url).await.unwrap_err().to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
