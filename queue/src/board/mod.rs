//! What the admins' queue board reads and does: finding jobs, one job with its timeline and
//! attempts, counts, pruning, actions on one job or on every job a filter matches, statistics
//! of the last hour, and a fingerprint that tells open pages when to refresh.

pub mod actions;
pub mod activity;
pub mod admin;
pub mod search;
pub mod stats;
