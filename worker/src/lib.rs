//! Zencall workers: the handler of every job kind, one module each, registered in one list.

pub mod bench;
pub mod billing_emails;
pub mod context;
pub mod invoice_pdf;
pub mod invoicing;
pub mod jobs;

pub use context::JobContext;
pub use jobs::registry;
