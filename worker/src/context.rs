//! What every job handler may use: storage, the outside services, the clock, settings.

use std::sync::Arc;

use zencall_core::clock::Clock;
use zencall_core::config::Settings;
use zencall_core::store::Db;
use zencall_providers::{Telephony, VoicePlatform};

/// Shared by all handlers of a worker process; cheap to clone.
#[derive(Clone)]
pub struct JobContext {
    /// Storage.
    pub db: Db,
    /// The voice platform (Vapi or the simulator).
    pub voice: Arc<dyn VoicePlatform>,
    /// The telephony provider (Twilio or the simulator).
    pub telephony: Arc<dyn Telephony>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub settings: Arc<Settings>,
}
