//! Layered configuration: the built-in `config/default.toml`, then an optional file, then
//! `ZENCALL__SECTION__KEY` environment variables. Every key is documented in default.toml.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::Deserialize;

pub use crate::plans::{BillingSettings, PlanSettings};

/// The defaults, built into the binary so `zencall` runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The whole configuration of a Zencall process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP API settings.
    pub server: ServerSettings,
    /// Storage settings.
    pub database: DatabaseSettings,
    /// Queue and worker settings.
    pub queue: QueueSettings,
    /// Scheduler and maintenance settings.
    pub scheduler: SchedulerSettings,
    /// Outside services.
    pub providers: ProviderSettings,
    /// Redis, for state shared by API replicas.
    pub redis: RedisSettings,
    /// Rate limits per API key.
    pub rate_limits: RateLimitSettings,
    /// Inbound webhook secrets.
    pub webhooks: WebhookSettings,
    /// Campaign dialing.
    pub campaigns: CampaignSettings,
    /// Logging.
    pub log: LogSettings,
    /// Operations endpoints of the roles that serve no API.
    pub ops: OpsSettings,
    /// The queue board.
    pub board: BoardSettings,
    /// Transcript analysis.
    pub analysis: AnalysisSettings,
    /// Calendar sync.
    pub calendar: CalendarSettings,
    /// Appointments and their reminders.
    pub appointments: AppointmentSettings,
    /// Plans and billing rules.
    pub billing: BillingSettings,
    /// Billing emails.
    pub email: EmailSettings,
    /// The MCP server at `/mcp`.
    pub mcp: McpSettings,
}

/// `[mcp]`: the MCP server at `/mcp` (streamable HTTP).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSettings {
    /// `Host` header values accepted at `/mcp` (`name` or `name:port`); empty: the loopback
    /// names and the host of `server.public_url`. Any other host is refused (403), against DNS
    /// rebinding.
    pub allowed_hosts: Vec<String>,
}

/// `[email]`: who billing emails come from, and how they leave: through an SMTP server, or
/// written as `.eml` files when none is configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The address emails come from (`facturation@example.fr`).
    pub from_address: String,
    /// The name shown beside it; empty for none.
    pub from_name: String,
    /// Where replies go; empty: to the from address.
    pub reply_to: String,
    /// The SMTP server (`smtp://`, `smtp://...?tls=required`, `smtps://`), credentials in the
    /// URL; empty: no SMTP, messages are written as `.eml` files.
    pub smtp_url: SecretString,
    /// Timeout of one exchange with the SMTP server, in milliseconds.
    pub timeout_ms: u64,
    /// The folder of the `.eml` files written when there is no SMTP server; empty: `emails`
    /// under the data folder of `zencall up`, `data/emails` for the other commands.
    pub eml_dir: String,
}

impl EmailSettings {
    /// True when an SMTP server is configured.
    pub fn smtp_configured(&self) -> bool {
        use secrecy::ExposeSecret;
        !self.smtp_url.expose_secret().trim().is_empty()
    }

    /// The domain of the from address: the right-hand side of the Message-IDs we make.
    pub fn message_id_domain(&self) -> &str {
        self.from_address
            .rsplit_once('@')
            .map_or("localhost", |(_, domain)| domain.trim())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;
        if !looks_like_an_address(&self.from_address) {
            return Err(ConfigError(format!(
                "email.from_address: {:?} is not an email address such as facturation@example.fr",
                self.from_address
            )));
        }
        if !self.reply_to.is_empty() && !looks_like_an_address(&self.reply_to) {
            return Err(ConfigError(format!(
                "email.reply_to: {:?} must be empty or an email address such as contact@example.fr",
                self.reply_to
            )));
        }
        if self.from_name.chars().any(char::is_control) {
            return Err(ConfigError(
                "email.from_name: must not hold control characters".into(),
            ));
        }
        let url = self.smtp_url.expose_secret().trim();
        if !(url.is_empty() || url.starts_with("smtp://") || url.starts_with("smtps://")) {
            // The URL may hold a password: it is not repeated here.
            return Err(ConfigError(
                "email.smtp_url: must be empty or start with smtp:// or smtps://".into(),
            ));
        }
        if self.timeout_ms == 0 {
            return Err(ConfigError(
                "email.timeout_ms: must be greater than 0".into(),
            ));
        }
        Ok(())
    }
}

/// A first check of an address (`local@domain`, no spaces); the mailer parses it fully.
fn looks_like_an_address(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && text.chars().all(|c| !c.is_whitespace() && !c.is_control())
        }
        None => false,
    }
}

/// `[calendar]`: calendar connections and their sync.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    /// Keys that seal OAuth tokens at rest: key id → base64 of 32 random bytes.
    pub encryption_keys: std::collections::HashMap<String, SecretString>,
    /// The key new secrets are sealed with; empty with no keys: calendars cannot be connected.
    pub active_key_id: String,
    /// How long a begun connection waits for the owner's consent, in seconds.
    pub authorization_ttl_secs: u64,
    /// A full sync reads events ending after now minus this many days.
    pub sync_past_days: u32,
    /// A full sync reads events starting before now plus this many days.
    pub sync_future_days: u32,
    /// Events per page read from the calendar (1 to 2500).
    pub page_size: u32,
    /// An access token expiring within this many seconds is refreshed before use.
    pub refresh_before_secs: u64,
    /// How long a push-notification channel is asked to live, in hours.
    pub channel_ttl_hours: u64,
    /// Channels expiring within this many hours are renewed by the hourly cron entry.
    pub renew_channels_within_hours: u64,
    /// The length of an appointment the assistant offers and books when the caller names
    /// none, in minutes (5 to 480).
    pub booking_duration_minutes: u32,
    /// How many days ahead the assistant looks for free slots to offer (1 to 31).
    pub booking_search_days: u32,
}

/// `[appointments]`: booked appointments and their reminders.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentSettings {
    /// How long before an appointment its reminder is sent, in minutes; 0 sends none.
    pub reminder_before_minutes: u32,
    /// Reminders sent at most per minute tick (the rest wait for the next tick).
    pub reminders_per_tick: u32,
}

impl AppointmentSettings {
    /// How long before an appointment its reminder is sent; `None` when reminders are off.
    pub fn reminder_before(&self) -> Option<chrono::TimeDelta> {
        (self.reminder_before_minutes > 0)
            .then(|| chrono::TimeDelta::minutes(i64::from(self.reminder_before_minutes)))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.reminder_before_minutes > 7 * 24 * 60 {
            return Err(ConfigError(
                "appointments.reminder_before_minutes: at most 10080 (a week)".into(),
            ));
        }
        if !(1..=10_000).contains(&self.reminders_per_tick) {
            return Err(ConfigError(
                "appointments.reminders_per_tick: must be 1 to 10000".into(),
            ));
        }
        Ok(())
    }
}

/// `[analysis]`: how call transcripts are analysed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSettings {
    /// Which analyzer runs: the offline lexicon analyzer, or a language model.
    pub analyzer: AnalyzerChoice,
    /// Longest transcript analysed, in characters; the rest is cut off, with a note.
    pub max_transcript_chars: usize,
    /// The language model, when `analyzer = "llm"`.
    pub llm: LlmSettings,
}

/// The analyzer chosen by `analysis.analyzer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalyzerChoice {
    /// Lexicons and rules, offline: no transcript leaves the platform.
    Lexicon,
    /// An OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, llama.cpp's server).
    Llm,
}

/// `[analysis.llm]`: an OpenAI-compatible chat-completions endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    /// Base URL; requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// The model's name.
    pub model: String,
    /// Bearer key, empty for none (a local Ollama needs none).
    pub api_key: SecretString,
    /// Timeout of one request, in milliseconds.
    pub timeout_ms: u64,
}

/// `[board]`: the queue board at `/board`, served by the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSettings {
    /// How long a sign-in lasts, in minutes.
    pub session_ttl_minutes: u64,
    /// How often open pages are told about changes, in milliseconds.
    pub refresh_ms: u64,
    /// Jobs per page of a job list.
    pub page_size: u32,
}

/// `[ops]`: where `zencall worker` and `zencall scheduler` serve `/healthz`, `/readyz` and
/// `/metrics` (the API serves them on its own port).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsSettings {
    /// Interface to bind.
    pub host: String,
    /// Port to bind (0: any free port).
    pub port: u16,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Interface to bind.
    pub host: String,
    /// Port to bind (0: any free port).
    pub port: u16,
    /// Public base URL of this deployment.
    pub public_url: String,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Request timeout, in seconds.
    pub request_timeout_secs: u64,
    /// Origins allowed by CORS; empty closes cross-origin access.
    pub cors_allowed_origins: Vec<String>,
    /// Whether to send Strict-Transport-Security.
    pub hsts: bool,
}

/// `[campaigns]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    /// Calls placed per second from one caller number, across every worker replica.
    pub calls_per_second_per_number: f64,
    /// A placed call whose end-of-call report has not come after this many minutes is closed
    /// as failed.
    pub report_timeout_minutes: u64,
    /// A planned call not placed after this many minutes is given back to its contact.
    pub unplaced_timeout_minutes: u64,
    /// Largest contact upload (CSV or JSON), in bytes.
    pub max_upload_bytes: usize,
    /// A contact upload still running after this many seconds is answered 408 (the other
    /// routes use `server.request_timeout_secs`).
    pub upload_timeout_secs: u64,
    /// Invalid rows listed one by one in an import's answer; the rest are only counted.
    pub max_listed_invalid_rows: usize,
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://...` or `postgres://...`; secret because it may hold a password.
    pub url: SecretString,
    /// Pool size per process.
    pub max_connections: u32,
}

/// `[queue]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// Worker heartbeat period, in seconds.
    pub heartbeat_secs: u64,
    /// Missed heartbeats after which a replica is dead.
    pub missed_heartbeats: u32,
    /// Fallback poll period for due jobs, in milliseconds.
    pub poll_interval_ms: u64,
    /// Grace period for in-flight jobs at shutdown, in seconds.
    pub shutdown_timeout_secs: u64,
    /// Concurrent jobs per queue and process.
    pub concurrency: usize,
    /// Jobs claimed ahead of free slots, per queue and process.
    pub prefetch: usize,
    /// Timeout of one attempt, in seconds.
    pub job_timeout_secs: u64,
    /// Default maximum attempts of a job.
    pub max_attempts: u32,
    /// Backoff base, in seconds.
    pub retry_base_secs: u64,
    /// Backoff cap, in seconds.
    pub retry_max_secs: u64,
    /// Queues served by `zencall worker` by default, comma-separated.
    pub queues: String,
    /// How often each worker replica re-reads which queues are paused, in milliseconds.
    pub pause_refresh_ms: u64,
}

/// `[scheduler]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// Age after which finished jobs are pruned, in days.
    pub retain_done_days: u32,
    /// Age after which dead jobs are pruned, in days.
    pub retain_dead_days: u32,
    /// When the RescueStuckJobs cron entry ticks: a cron expression with seconds, in UTC.
    pub rescue_stuck_jobs_cron: String,
}

/// `[providers]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// When to use the simulator instead of the real providers.
    pub simulate: SimulateMode,
    /// Vapi.
    pub vapi: VapiSettings,
    /// Twilio.
    pub twilio: TwilioSettings,
    /// Stripe.
    pub stripe: StripeSettings,
    /// Google Calendar.
    pub google_calendar: GoogleCalendarSettings,
    /// The simulator.
    pub simulator: SimulatorSettings,
}

/// When the simulated providers replace the real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimulateMode {
    /// Simulate a provider whose credentials are empty.
    Auto,
    /// Always simulate.
    Always,
    /// Never simulate: missing credentials are an error.
    Never,
}

/// `[providers.vapi]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VapiSettings {
    /// API base URL.
    pub base_url: String,
    /// Private API key.
    pub api_key: SecretString,
    /// Request timeout, in milliseconds.
    pub timeout_ms: u64,
}

/// `[providers.twilio]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    /// API base URL.
    pub base_url: String,
    /// Account SID.
    pub account_sid: String,
    /// Auth token.
    pub auth_token: SecretString,
    /// Request timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Regulatory bundle SID, when the country requires one.
    pub bundle_sid: String,
    /// Address SID, when the country requires one.
    pub address_sid: String,
}

/// `[providers.stripe]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    /// API base URL.
    pub base_url: String,
    /// Secret API key (`sk_live_...`, `sk_test_...`, or a restricted `rk_...` key); empty means
    /// the simulated payments provider.
    pub secret_key: SecretString,
    /// Request timeout, in milliseconds.
    pub timeout_ms: u64,
}

/// `[providers.google_calendar]`: the OAuth client and the endpoints of Google Calendar.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleCalendarSettings {
    /// OAuth client id of a "Web application" client; empty: the calendar is simulated.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: SecretString,
    /// Google's authorization endpoint, where the business owner is sent to consent.
    pub authorization_url: String,
    /// Base URL of Google's OAuth endpoints (`{base}/token`, `{base}/revoke`).
    pub oauth_base_url: String,
    /// Base URL of the Calendar API v3.
    pub api_base_url: String,
    /// Path of our OAuth callback under `server.public_url`; the redirect URI registered with
    /// the OAuth client is the two joined.
    pub redirect_path: String,
    /// Request timeout, in milliseconds.
    pub timeout_ms: u64,
}

/// `[providers.simulator]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSettings {
    /// Simulated latency of one call, in milliseconds.
    pub latency_ms: u64,
    /// Share of placed outbound calls that are answered, in percent.
    pub answered_percent: u32,
    /// Share of placed outbound calls nobody answers, in percent.
    pub no_answer_percent: u32,
    /// Share of placed outbound calls that find the line busy, in percent.
    pub busy_percent: u32,
    /// Share of placed outbound calls that reach voicemail, in percent.
    pub voicemail_percent: u32,
    /// Share of placed outbound calls that fail to connect, in percent.
    pub failed_percent: u32,
    /// Share of placed outbound calls answered by someone who asks not to be called again, in
    /// percent.
    pub refused_percent: u32,
    /// Seed of the draws of outcomes and talk times: 0 draws at random, any other value gives
    /// the same sequence every run.
    pub seed: u64,
}

impl SimulatorSettings {
    /// The outcome shares, each with its key, in the order they are documented.
    pub fn outcome_percents(&self) -> [(&'static str, u32); 6] {
        [
            ("answered_percent", self.answered_percent),
            ("no_answer_percent", self.no_answer_percent),
            ("busy_percent", self.busy_percent),
            ("voicemail_percent", self.voicemail_percent),
            ("failed_percent", self.failed_percent),
            ("refused_percent", self.refused_percent),
        ]
    }
}

/// `[redis]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://...`, or empty for none; secret because it may hold a password.
    pub url: SecretString,
}

/// `[rate_limits]`: requests per minute per API key, by scope.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// For `read` keys.
    pub read_per_minute: u32,
    /// For `write` keys.
    pub write_per_minute: u32,
    /// For `admin` keys.
    pub admin_per_minute: u32,
}

/// `[webhooks]`: the secrets inbound webhooks are verified with; each has a previous one,
/// still accepted during a rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Vapi's shared secret.
    pub vapi_secret: SecretString,
    /// Vapi's previous shared secret.
    pub vapi_previous_secret: SecretString,
    /// Twilio's previous auth token (the current one is `providers.twilio.auth_token`).
    pub twilio_previous_auth_token: SecretString,
    /// Stripe's signing secret.
    pub stripe_secret: SecretString,
    /// Stripe's previous signing secret.
    pub stripe_previous_secret: SecretString,
    /// Google channel token.
    pub google_channel_token: SecretString,
    /// Google's previous channel token.
    pub google_previous_channel_token: SecretString,
    /// Events we send to our customers' endpoints.
    pub outbound: OutboundWebhookSettings,
}

/// `[webhooks.outbound]`: deliveries of our events to the endpoints customers register.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundWebhookSettings {
    /// One delivery attempt gives up after this long.
    pub timeout_ms: u64,
    /// Attempts per delivery before it is marked failed.
    pub max_attempts: u32,
    /// Delay before the first retry, in seconds.
    pub retry_base_secs: u64,
    /// Longest delay between two attempts, in seconds.
    pub retry_max_secs: u64,
    /// Accept endpoints on private, loopback, link-local and other reserved addresses.
    pub allow_private_networks: bool,
    /// Accept plain `http://` endpoints.
    pub allow_plain_http: bool,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// EnvFilter directives.
    pub level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl CalendarSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            (
                "calendar.authorization_ttl_secs",
                self.authorization_ttl_secs,
            ),
            ("calendar.sync_past_days", u64::from(self.sync_past_days)),
            (
                "calendar.sync_future_days",
                u64::from(self.sync_future_days),
            ),
            ("calendar.page_size", u64::from(self.page_size)),
            ("calendar.channel_ttl_hours", self.channel_ttl_hours),
            (
                "calendar.renew_channels_within_hours",
                self.renew_channels_within_hours,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError(format!("{key}: must be greater than 0")));
            }
        }
        if self.page_size > 2500 {
            return Err(ConfigError(
                "calendar.page_size: must be at most 2500".into(),
            ));
        }
        if !(5..=480).contains(&self.booking_duration_minutes) {
            return Err(ConfigError(
                "calendar.booking_duration_minutes: must be 5 to 480".into(),
            ));
        }
        if !(1..=31).contains(&self.booking_search_days) {
            return Err(ConfigError(
                "calendar.booking_search_days: must be 1 to 31".into(),
            ));
        }
        if self.renew_channels_within_hours >= self.channel_ttl_hours {
            return Err(ConfigError(
                "calendar.renew_channels_within_hours: must be less than calendar.channel_ttl_hours"
                    .into(),
            ));
        }
        crate::domain::sealed::Sealer::from_config(&self.encryption_keys, &self.active_key_id)
            .map_err(|e| ConfigError(e.to_string()))?;
        Ok(())
    }
}

impl Settings {
    /// Loads the defaults, then `file` if given, then the environment, then `overrides`
    /// (dotted keys such as `server.port`, as set by command-line flags).
    pub fn load(
        file: Option<&Path>,
        overrides: &[(&str, figment::value::Value)],
    ) -> Result<Self, ConfigError> {
        Self::load_from(file, overrides, Env::prefixed("ZENCALL__").split("__"))
    }

    /// Like [`Settings::load`] with an explicit environment provider (tests use this).
    pub fn load_from(
        file: Option<&Path>,
        overrides: &[(&str, figment::value::Value)],
        env: Env,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "the configuration file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(env);
        for (key, value) in overrides {
            figment = figment.merge(Serialized::default(key, value.clone()));
        }
        let settings: Settings = figment.extract().map_err(|e| ConfigError(describe(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The built-in defaults alone.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::load_from(None, &[], Env::prefixed("ZENCALL_DEFAULTS_ONLY__"))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;
        let url = self.database.url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(ConfigError(
                "database.url: the scheme must be sqlite:// or postgres://".into(),
            ));
        }
        let redis = self.redis.url.expose_secret();
        if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            return Err(ConfigError(
                "redis.url: must be empty or start with redis:// or rediss://".into(),
            ));
        }
        let positive = [
            (
                "database.max_connections",
                u64::from(self.database.max_connections),
            ),
            ("queue.heartbeat_secs", self.queue.heartbeat_secs),
            (
                "queue.missed_heartbeats",
                u64::from(self.queue.missed_heartbeats),
            ),
            ("queue.poll_interval_ms", self.queue.poll_interval_ms),
            ("queue.pause_refresh_ms", self.queue.pause_refresh_ms),
            ("board.session_ttl_minutes", self.board.session_ttl_minutes),
            ("board.refresh_ms", self.board.refresh_ms),
            ("board.page_size", u64::from(self.board.page_size)),
            ("queue.concurrency", self.queue.concurrency as u64),
            ("queue.job_timeout_secs", self.queue.job_timeout_secs),
            ("queue.max_attempts", u64::from(self.queue.max_attempts)),
            ("queue.retry_base_secs", self.queue.retry_base_secs),
            (
                "campaigns.report_timeout_minutes",
                self.campaigns.report_timeout_minutes,
            ),
            (
                "campaigns.unplaced_timeout_minutes",
                self.campaigns.unplaced_timeout_minutes,
            ),
            (
                "campaigns.max_upload_bytes",
                self.campaigns.max_upload_bytes as u64,
            ),
            (
                "campaigns.upload_timeout_secs",
                self.campaigns.upload_timeout_secs,
            ),
            (
                "server.body_limit_bytes",
                self.server.body_limit_bytes as u64,
            ),
            (
                "server.request_timeout_secs",
                self.server.request_timeout_secs,
            ),
            (
                "rate_limits.read_per_minute",
                u64::from(self.rate_limits.read_per_minute),
            ),
            (
                "rate_limits.write_per_minute",
                u64::from(self.rate_limits.write_per_minute),
            ),
            (
                "rate_limits.admin_per_minute",
                u64::from(self.rate_limits.admin_per_minute),
            ),
            (
                "webhooks.outbound.timeout_ms",
                self.webhooks.outbound.timeout_ms,
            ),
            (
                "webhooks.outbound.max_attempts",
                u64::from(self.webhooks.outbound.max_attempts),
            ),
            (
                "webhooks.outbound.retry_base_secs",
                self.webhooks.outbound.retry_base_secs,
            ),
            (
                "analysis.max_transcript_chars",
                self.analysis.max_transcript_chars as u64,
            ),
            ("analysis.llm.timeout_ms", self.analysis.llm.timeout_ms),
            (
                "providers.google_calendar.timeout_ms",
                self.providers.google_calendar.timeout_ms,
            ),
            (
                "providers.stripe.timeout_ms",
                self.providers.stripe.timeout_ms,
            ),
        ];
        let cps = self.campaigns.calls_per_second_per_number;
        if !(cps.is_finite() && cps > 0.0 && cps <= 1000.0) {
            return Err(ConfigError(
                "campaigns.calls_per_second_per_number: must be greater than 0 and at most 1000"
                    .into(),
            ));
        }
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError(format!("{key}: must be greater than 0")));
            }
        }
        self.calendar.validate()?;
        self.appointments.validate()?;
        if let Err(e) =
            <cron::Schedule as std::str::FromStr>::from_str(&self.scheduler.rescue_stuck_jobs_cron)
        {
            return Err(ConfigError(format!(
                "scheduler.rescue_stuck_jobs_cron: {:?} is not a cron expression with seconds ({e})",
                self.scheduler.rescue_stuck_jobs_cron
            )));
        }
        if self.board.page_size > 500 {
            return Err(ConfigError("board.page_size: must be at most 500".into()));
        }
        if self.queue.retry_max_secs < self.queue.retry_base_secs {
            return Err(ConfigError(
                "queue.retry_max_secs: must be at least queue.retry_base_secs".into(),
            ));
        }
        if self.webhooks.outbound.retry_max_secs < self.webhooks.outbound.retry_base_secs {
            return Err(ConfigError(
                "webhooks.outbound.retry_max_secs: must be at least webhooks.outbound.retry_base_secs"
                    .into(),
            ));
        }
        for origin in &self.server.cors_allowed_origins {
            let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.ends_with('/')
                && !origin.contains('*')
                && origin.bytes().all(|b| b.is_ascii_graphic());
            if !valid {
                return Err(ConfigError(format!(
                    "server.cors_allowed_origins: {origin:?} must be an origin such as https://app.example.com (no path, no wildcard)"
                )));
            }
        }
        let percents = self.providers.simulator.outcome_percents();
        let total: u64 = percents.iter().map(|(_, p)| u64::from(*p)).sum();
        if total != 100 {
            let keys: Vec<String> = percents
                .iter()
                .map(|(key, p)| format!("{key} = {p}"))
                .collect();
            return Err(ConfigError(format!(
                "providers.simulator: the outcome percentages must add up to 100, not {total} ({})",
                keys.join(", ")
            )));
        }
        let redirect_path = &self.providers.google_calendar.redirect_path;
        if !redirect_path.starts_with('/')
            || redirect_path.starts_with("//")
            || !redirect_path
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#'))
        {
            return Err(ConfigError(format!(
                "providers.google_calendar.redirect_path: {redirect_path:?} must be a path such as /oauth/google/callback"
            )));
        }
        for (key, url) in [
            (
                "providers.google_calendar.authorization_url",
                &self.providers.google_calendar.authorization_url,
            ),
            (
                "providers.google_calendar.oauth_base_url",
                &self.providers.google_calendar.oauth_base_url,
            ),
            (
                "providers.google_calendar.api_base_url",
                &self.providers.google_calendar.api_base_url,
            ),
        ] {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(ConfigError(format!(
                    "{key}: must start with http:// or https://"
                )));
            }
        }
        if !self.server.public_url.starts_with("http://")
            && !self.server.public_url.starts_with("https://")
        {
            return Err(ConfigError(
                "server.public_url: must start with http:// or https://".into(),
            ));
        }
        self.billing.validate().map_err(ConfigError)?;
        self.email.validate()?;
        Ok(())
    }
}

/// Figment's message, with the offending key spelled as the user would write it.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let mut kind = e.kind.to_string();
            if key.is_empty() {
                kind
            } else {
                kind = kind.replace("unknown field", "unknown key");
                format!("{key}: {kind}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    /// An environment provider that reads nothing: the process environment is shared by
    /// parallel tests, so environment overrides are tested on a spawned process instead.
    fn env() -> Env {
        Env::prefixed("ZENCALL_UNIT_TEST_NOTHING__")
    }

    #[test]
    fn the_built_in_defaults_load_and_validate() {
        let s = Settings::defaults().expect("defaults");
        assert_eq!(s.server.port, 8080);
        assert!(s.database.url.expose_secret().starts_with("sqlite:"));
    }

    #[test]
    fn overrides_win_over_defaults() {
        let s = Settings::load_from(None, &[("server.port", 9999.into())], env()).expect("load");
        assert_eq!(s.server.port, 9999);
    }

    #[test]
    fn an_invalid_value_names_its_key() {
        let err = Settings::load_from(None, &[("queue.concurrency", "lots".into())], env())
            .expect_err("must fail");
        assert!(err.to_string().contains("queue.concurrency"), "{err}");
    }

    #[test]
    fn a_zero_where_a_positive_number_is_needed_names_its_key() {
        let err = Settings::load_from(None, &[("queue.heartbeat_secs", 0.into())], env())
            .expect_err("must fail");
        assert!(err.to_string().contains("queue.heartbeat_secs"), "{err}");
    }

    #[test]
    fn an_unknown_key_in_a_file_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("z.toml");
        std::fs::write(&path, "[queue]\nconcurency = 3\n").expect("write");
        let err = Settings::load_from(Some(&path), &[], env()).expect_err("must fail");
        assert!(err.to_string().contains("concurency"), "{err}");
    }

    #[test]
    fn the_default_plans_load_and_are_found_by_name_and_by_fee_price() {
        let s = Settings::defaults().expect("defaults");
        let starter = s.billing.plan("starter").expect("starter");
        assert_eq!(starter.trial_days, 14);
        assert_eq!(
            s.billing
                .plan_of_prices(["price_other", "price_zencall_pro_fee"])
                .map(|p| p.name.as_str()),
            Some("pro")
        );
        assert!(s.billing.plan("gold").is_none());
        assert_eq!(
            s.billing.minute_rounding,
            crate::domain::billing::MinuteRounding::PerStartedMinute
        );
    }

    #[test]
    fn bad_billing_settings_are_refused_naming_their_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases = [
            ("grace_period_days = 1000\n", "billing.grace_period_days"),
            ("success_path = \"https://x\"\n", "billing.success_path"),
            ("currency = \"EURO\"\n", "billing.currency"),
            (
                "minute_rounding = \"per_hour\"\n",
                "billing.minute_rounding",
            ),
            ("plans = []\n", "billing.plans"),
            (
                "[[billing.plans]]\nname = \"Gold Plan\"\nfee_price_id = \"price_a\"\nincluded_minutes = 1\nmetered_price_id = \"price_b\"\nmeter_event_name = \"m\"\nmeter_id = \"mtr_1\"\ntrial_days = 0\nmonthly_fee_cents = 1\nminute_price_cents = 1\n",
                "billing.plans[0].name",
            ),
            (
                "[[billing.plans]]\nname = \"gold\"\nfee_price_id = \"price_a\"\nincluded_minutes = 1\nmetered_price_id = \"prod_b\"\nmeter_event_name = \"m\"\nmeter_id = \"mtr_1\"\ntrial_days = 0\nmonthly_fee_cents = 1\nminute_price_cents = 1\n",
                "billing.plans[0].metered_price_id",
            ),
            (
                "[[billing.plans]]\nname = \"gold\"\nfee_price_id = \"price_a\"\nincluded_minutes = 1\nmetered_price_id = \"price_b\"\nmeter_event_name = \"m\"\nmeter_id = \"mtr_1\"\ntrial_days = 900\nmonthly_fee_cents = 1\nminute_price_cents = 1\n",
                "billing.plans[0].trial_days",
            ),
        ];
        for (i, (body, key)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("b{i}.toml"));
            let text = if body.starts_with("[[") {
                format!("[billing]\nplans = []\n{body}").replace("plans = []\n[[", "[[")
            } else {
                format!("[billing]\n{body}")
            };
            std::fs::write(&path, text).expect("write");
            let err = Settings::load_from(Some(&path), &[], env()).expect_err(key);
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn bad_reminder_settings_are_refused_naming_their_key() {
        for (key, value) in [
            ("appointments.reminder_before_minutes", 20_000),
            ("appointments.reminders_per_tick", 0),
        ] {
            let err = Settings::load_from(None, &[(key, value.into())], env()).expect_err(key);
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
        let off = Settings::load_from(
            None,
            &[("appointments.reminder_before_minutes", 0.into())],
            env(),
        )
        .expect("0 turns reminders off");
        assert_eq!(off.appointments.reminder_before(), None);
        assert_eq!(
            Settings::defaults()
                .expect("defaults")
                .appointments
                .reminder_before(),
            Some(chrono::TimeDelta::hours(24))
        );
    }

    #[test]
    fn a_bad_seller_identity_or_invoice_term_is_refused_naming_its_key() {
        for (key, value) in [
            ("billing.seller.siren", "900000002"),
            ("billing.seller.vat_id", "FR00900000001"),
            ("billing.seller.vat_id", "DE129273398"),
            ("billing.seller.email", "facturation"),
            ("billing.seller.name", " "),
            ("billing.invoices.number_prefix", "F 2026"),
            ("billing.invoices.credit_note_prefix", "F-"),
            ("billing.invoices.credit_note_prefix", "AV 1"),
            ("billing.invoices.payment_terms", ""),
        ] {
            let err = Settings::load_from(None, &[(key, value.into())], env()).expect_err(key);
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
        let err = Settings::load_from(
            None,
            &[("billing.invoices.payment_terms_days", 90.into())],
            env(),
        )
        .expect_err("90 days");
        assert!(err.to_string().contains("payment_terms_days"), "{err}");
    }

    #[test]
    fn a_bad_database_scheme_is_refused() {
        let err = Settings::load_from(None, &[("database.url", "mysql://x".into())], env())
            .expect_err("must fail");
        assert!(err.to_string().contains("database.url"), "{err}");
    }

    #[test]
    fn the_production_example_is_a_valid_configuration() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/production.example.toml");
        let s = Settings::load_from(Some(&path), &[], env()).expect("valid");
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.providers.simulate, SimulateMode::Never);
    }

    #[test]
    fn cors_origins_must_be_bare_origins() {
        let bad = figment::value::Value::from(vec!["https://app.example.com/path/".to_string()]);
        let err = Settings::load_from(None, &[("server.cors_allowed_origins", bad)], env())
            .expect_err("must fail");
        assert!(
            err.to_string().contains("server.cors_allowed_origins"),
            "{err}"
        );
        let good = figment::value::Value::from(vec!["https://app.example.com".to_string()]);
        assert!(Settings::load_from(None, &[("server.cors_allowed_origins", good)], env()).is_ok());
    }

    #[test]
    fn the_default_simulated_outcomes_add_up_to_one_hundred_percent() {
        let s = Settings::defaults().expect("defaults");
        let total: u32 = s
            .providers
            .simulator
            .outcome_percents()
            .iter()
            .map(|(_, p)| p)
            .sum();
        assert_eq!(total, 100);
        assert_eq!(s.providers.simulator.answered_percent, 55);
        assert_eq!(s.providers.simulator.seed, 0);
    }

    #[test]
    fn simulated_outcomes_that_do_not_add_up_to_one_hundred_are_refused() {
        let err = Settings::load_from(
            None,
            &[("providers.simulator.answered_percent", 60.into())],
            env(),
        )
        .expect_err("must fail");
        let message = err.to_string();
        assert!(message.contains("providers.simulator"), "{message}");
        assert!(message.contains("105"), "{message}");
        let moved = Settings::load_from(
            None,
            &[
                ("providers.simulator.answered_percent", 60.into()),
                ("providers.simulator.no_answer_percent", 15.into()),
            ],
            env(),
        );
        assert!(moved.is_ok(), "{moved:?}");
    }

    #[test]
    fn a_cron_expression_that_does_not_parse_is_refused_naming_its_key() {
        let err = Settings::load_from(
            None,
            &[(
                "scheduler.rescue_stuck_jobs_cron",
                "every two seconds".into(),
            )],
            env(),
        )
        .expect_err("must fail");
        assert!(
            err.to_string().contains("scheduler.rescue_stuck_jobs_cron"),
            "{err}"
        );
        let fast = Settings::load_from(
            None,
            &[("scheduler.rescue_stuck_jobs_cron", "*/2 * * * * *".into())],
            env(),
        );
        assert!(fast.is_ok(), "{fast:?}");
    }

    #[test]
    fn the_google_calendar_defaults_point_at_google_and_simulate_without_a_client_id() {
        let s = Settings::defaults().expect("defaults");
        let google = &s.providers.google_calendar;
        assert!(google.client_id.is_empty());
        assert!(google.client_secret.expose_secret().is_empty());
        assert_eq!(
            google.authorization_url,
            "https://accounts.google.com/o/oauth2/v2/auth"
        );
        assert_eq!(google.oauth_base_url, "https://oauth2.googleapis.com");
        assert_eq!(
            google.api_base_url,
            "https://www.googleapis.com/calendar/v3"
        );
        assert_eq!(google.redirect_path, "/oauth/google/callback");
        assert!(google.timeout_ms > 0);
    }

    #[test]
    fn a_google_redirect_path_that_is_not_a_path_is_refused_naming_its_key() {
        for bad in ["oauth/callback", "//evil.example/cb", "/cb?x=1", "/a b"] {
            let err = Settings::load_from(
                None,
                &[("providers.google_calendar.redirect_path", bad.into())],
                env(),
            )
            .expect_err("must fail");
            assert!(
                err.to_string()
                    .contains("providers.google_calendar.redirect_path"),
                "{bad:?}: {err}"
            );
        }
        let err = Settings::load_from(
            None,
            &[("providers.google_calendar.api_base_url", "ftp://x".into())],
            env(),
        )
        .expect_err("must fail");
        assert!(
            err.to_string()
                .contains("providers.google_calendar.api_base_url"),
            "{err}"
        );
        let err = Settings::load_from(
            None,
            &[("providers.google_calendar.timeout_ms", 0.into())],
            env(),
        )
        .expect_err("must fail");
        assert!(
            err.to_string()
                .contains("providers.google_calendar.timeout_ms"),
            "{err}"
        );
    }

    #[test]
    fn stripe_defaults_to_the_public_api_without_a_key() {
        let s = Settings::defaults().expect("defaults");
        assert_eq!(s.providers.stripe.base_url, "https://api.stripe.com");
        assert!(s.providers.stripe.secret_key.expose_secret().is_empty());
        assert!(s.providers.stripe.timeout_ms > 0);
        let set = Settings::load_from(
            None,
            &[
                ("providers.stripe.secret_key", "sk_test_123".into()),
                ("providers.stripe.base_url", "http://127.0.0.1:12111".into()),
            ],
            env(),
        )
        .expect("load");
        assert_eq!(
            set.providers.stripe.secret_key.expose_secret(),
            "sk_test_123"
        );
        assert_eq!(set.providers.stripe.base_url, "http://127.0.0.1:12111");
    }

    #[test]
    fn a_zero_stripe_timeout_is_refused_naming_its_key() {
        let err = Settings::load_from(None, &[("providers.stripe.timeout_ms", 0.into())], env())
            .expect_err("must fail");
        assert!(
            err.to_string().contains("providers.stripe.timeout_ms"),
            "{err}"
        );
    }

    #[test]
    fn email_defaults_to_eml_files_from_a_checked_address() {
        let s = Settings::defaults().expect("defaults");
        assert!(!s.email.smtp_configured());
        assert_eq!(s.email.message_id_domain(), "zencall.example");
        assert!(s.email.timeout_ms > 0);
        let set = Settings::load_from(
            None,
            &[("email.smtp_url", "smtps://u:p@smtp.example.com:465".into())],
            env(),
        )
        .expect("load");
        assert!(set.email.smtp_configured());
    }

    #[test]
    fn bad_email_settings_are_refused_naming_their_key_without_the_url() {
        for (key, value, named) in [
            ("email.from_address", "facturation", "email.from_address"),
            ("email.from_address", "a b@example.fr", "email.from_address"),
            ("email.from_address", "a@", "email.from_address"),
            ("email.reply_to", "contact", "email.reply_to"),
            (
                "email.smtp_url",
                "http://u:secret-password@smtp.example.com",
                "email.smtp_url",
            ),
            ("email.timeout_ms", "0", "email.timeout_ms"),
        ] {
            let value: figment::value::Value = match value.parse::<u64>() {
                Ok(n) => n.into(),
                Err(_) => value.into(),
            };
            let err = Settings::load_from(None, &[(key, value)], env()).expect_err(key);
            let text = err.to_string();
            assert!(text.contains(named), "{key}: {text}");
            assert!(!text.contains("secret-password"), "{text}");
        }
    }

    #[test]
    fn a_missing_config_file_is_reported() {
        let err = Settings::load_from(Some(Path::new("/nonexistent/zencall.toml")), &[], env())
            .expect_err("must fail");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
