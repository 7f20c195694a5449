//! End-to-end tests of the whole platform: the API, workers and scheduler started in-process
//! on port 0 with a fresh database per test (SQLite always, PostgreSQL when
//! ZENCALL_TEST_DATABASE_URL is set), and real `zencall` processes where processes matter.

#![allow(clippy::unwrap_used)]

mod test_app;

mod appointments;
mod assistants;
mod auth;
mod availability;
mod billing;
mod board;
mod board_browser;
mod calendar;
mod calendar_upkeep;
mod call_analysis;
mod campaign_simulation;
mod campaigns;
mod chaos;
mod configurator;
mod dnc_and_consents;
mod email;
mod invoices;
mod isolation;
mod mcp;
mod onboarding;
mod operations;
mod outbound_webhooks;
mod processes;
mod provisioning;
mod queue_controls;
mod reminders;
mod scale_out;
mod scheduler;
mod simulated_calls;
mod spawned;
mod tool_calls;
mod two_way;
mod usage_chaos;
mod webhooks;
