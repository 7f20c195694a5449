//! Zencall core: configuration, pure domain rules, storage on SQLite or PostgreSQL, and the
//! application's jobs (their payloads, queues and cron table) on the `zencall-queue` crate. It
//! knows nothing of HTTP: the API, workers and scheduler crates build on it.

pub mod clock;
pub mod config;
pub mod domain;
pub mod events;
pub mod invoice_settings;
pub mod jobs;
pub mod plans;
pub mod rate_limiter;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod store;
pub mod views;
