//! The application's storage, one module per resource, on the queue crate's database handle
//! ([`Db`], [`Tx`]): SQLite (embedded) or PostgreSQL (production), chosen by the URL scheme.
//!
//! Most statements are written once: sqlx accepts `$1` placeholders on both backends, ids are
//! TEXT, and the `on_pool!` / `on_tx!` macros expand the same code once per backend.

pub mod api_keys;
pub mod appointment_reminders;
pub mod appointments;
pub mod assistants;
pub mod availability;
pub mod billing_customers;
pub mod billing_profiles;
pub mod billing_subscriptions;
pub mod billing_usage;
pub mod board_sessions;
pub mod calendar_channels;
#[cfg(test)]
mod calendar_conformance_tests;
pub mod calendar_connections;
pub mod calendar_events;
pub mod calendar_oauth_states;
pub mod call_analyses;
pub mod call_attempts;
pub mod calls;
pub mod campaign_contacts;
pub mod campaigns;
pub mod configurators;
#[cfg(test)]
mod conformance_tests;
pub mod consents;
pub mod dnc;
pub mod email_messages;
pub mod invoices;
pub mod organisations;
pub mod stripe_events;
pub mod stripe_invoices;
pub mod usage_reconciliations;
pub mod webhook_deliveries;
pub mod webhook_endpoints;
pub mod webhook_events;

pub use zencall_queue::db::{Backend, Db, Pool, StoreError, Tx, TxInner, now_micros};
pub use zencall_queue::test_db;
