//! Assembly of the Zencall platform from its crates: storage, providers (real or simulated),
//! the API, the workers and the scheduler, each role startable alone or all together. The
//! `zencall` command line (`main.rs`) and the end-to-end tests both start it from here.

pub mod analysis_bench;
pub mod analysis_training;
pub mod bench;
pub mod billing_bench;
pub mod calendar_bench;
pub mod calendar_sync_bench;
pub mod mcp_bench;
pub mod signal;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zencall_core::clock::{Clock, SystemClock};
use zencall_core::config::{AnalyzerChoice, Settings, SimulateMode};
use zencall_core::jobs::QueueName;
use zencall_core::store::api_keys::{self, Scope};
use zencall_core::store::{Db, organisations};
use zencall_providers::analyzer::LexiconAnalyzer;
use zencall_providers::calendar_notifier::CalendarNotifier;
use zencall_providers::llm_analyzer::LlmAnalyzer;
use zencall_providers::simulated_calls::CallReporter;
use zencall_providers::simulated_payments::SimulatedPaymentsSettings;
use zencall_providers::simulator::Simulator;
use zencall_providers::stripe_event_poster::StripeEventPoster;
use zencall_providers::twilio::TwilioClient;
use zencall_providers::vapi::VapiClient;
use zencall_providers::webhook_sender::{SenderSettings, WebhookSender};
use zencall_providers::{
    CalendarProvider, GoogleCalendarClient, Payments, SimulatedCalendar, SimulatedPayments,
    StripePayments, Telephony, TranscriptAnalyzer, VoicePlatform,
};
use zencall_providers::{FileMailer, Mailer, SmtpMailer};
use zencall_queue::runtime::runner::Runner;
use zencall_worker::JobContext;

/// Which roles a process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// Serve the HTTP API.
    pub api: bool,
    /// Run workers for these queues (none: no worker).
    pub queues: Vec<QueueName>,
    /// Run the cron scheduler.
    pub scheduler: bool,
}

/// A running platform: its address, and a handle to stop it.
pub struct Running {
    /// Where the API listens when it runs, or else the operations endpoints when served.
    pub addr: Option<SocketAddr>,
    /// Storage, shared by every role.
    pub db: Db,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Asks every role to stop, and waits for them: open requests and in-flight jobs finish
    /// (within the configured grace period).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.wait().await
    }

    /// Waits until every role has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        for task in self.tasks {
            task.await.context("a role panicked")??;
        }
        Ok(())
    }

    /// The stop switch, to connect to signals.
    pub fn stop_switch(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Connects to the configured database.
pub async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    Db::connect(&settings.database.url, settings.database.max_connections)
        .await
        .context("cannot open the database (database.url)")
}

/// The outside services workers call: the voice platform and the telephony provider.
#[derive(Clone)]
pub struct Providers {
    /// Vapi, or the simulator.
    pub voice: Arc<dyn VoicePlatform>,
    /// Twilio, or the simulator.
    pub telephony: Arc<dyn Telephony>,
    /// The simulator, when it stands in for both: it can then place simulated calls, reported
    /// to the API of the same process.
    pub simulator: Option<Simulator>,
    /// Reads call transcripts: the offline analyzer unless `analysis.analyzer = "llm"`.
    pub analyzer: Arc<dyn TranscriptAnalyzer>,
    /// The calendar provider; `None` builds the one the settings call for at start.
    pub calendar: Option<Arc<dyn CalendarProvider>>,
    /// The simulated calendar, when it stands in for Google: its consent page is served and
    /// its push notifications are delivered to the API of the same process.
    pub simulated_calendar: Option<SimulatedCalendar>,
}

impl Providers {
    /// The simulator as both providers.
    pub fn simulated(sim: &Simulator) -> Self {
        Self {
            voice: Arc::new(sim.clone()),
            telephony: Arc::new(sim.clone()),
            simulator: Some(sim.clone()),
            analyzer: Arc::new(LexiconAnalyzer),
            calendar: None,
            simulated_calendar: None,
        }
    }

    /// Real (or test) providers.
    pub fn real(voice: Arc<dyn VoicePlatform>, telephony: Arc<dyn Telephony>) -> Self {
        Self {
            voice,
            telephony,
            simulator: None,
            analyzer: Arc::new(LexiconAnalyzer),
            calendar: None,
            simulated_calendar: None,
        }
    }

    /// The same providers with this simulated calendar standing in for Google.
    pub fn with_simulated_calendar(mut self, calendar: SimulatedCalendar) -> Self {
        self.calendar = Some(Arc::new(calendar.clone()));
        self.simulated_calendar = Some(calendar);
        self
    }

    /// The same providers with this calendar provider (a real one, or a test's).
    pub fn with_calendar(mut self, calendar: Arc<dyn CalendarProvider>) -> Self {
        self.calendar = Some(calendar);
        self.simulated_calendar = None;
        self
    }

    /// The same providers with another transcript analyzer.
    pub fn with_analyzer(mut self, analyzer: Arc<dyn TranscriptAnalyzer>) -> Self {
        self.analyzer = analyzer;
        self
    }
}

/// The transcript analyzer the settings call for.
pub fn analyzer(settings: &Settings) -> anyhow::Result<Arc<dyn TranscriptAnalyzer>> {
    Ok(match settings.analysis.analyzer {
        AnalyzerChoice::Lexicon => Arc::new(LexiconAnalyzer),
        AnalyzerChoice::Llm => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let llm = LlmAnalyzer::new(&settings.analysis.llm, Arc::new(LexiconAnalyzer))
                .context("cannot build the language-model analyzer (analysis.llm)")?;
            tracing::info!(model = %settings.analysis.llm.model, "transcripts are analysed by a language model");
            Arc::new(llm)
        }
    })
}

/// The voice platform and telephony provider the settings call for.
pub fn providers(settings: &Settings) -> anyhow::Result<Providers> {
    // reqwest is built without a default TLS provider; installing ring twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let p = &settings.providers;
    let vapi_ready = !p.vapi.api_key.expose_secret().is_empty();
    let twilio_ready =
        !p.twilio.account_sid.is_empty() && !p.twilio.auth_token.expose_secret().is_empty();
    let simulate = match p.simulate {
        SimulateMode::Always => true,
        // The voice platform imports the telephony provider's numbers: both real, or both simulated.
        SimulateMode::Auto => !(vapi_ready && twilio_ready),
        SimulateMode::Never => {
            if !vapi_ready {
                anyhow::bail!(
                    "providers.vapi.api_key is empty and providers.simulate is \"never\""
                );
            }
            if !twilio_ready {
                anyhow::bail!(
                    "providers.twilio.account_sid and providers.twilio.auth_token are required when providers.simulate is \"never\""
                );
            }
            false
        }
    };
    if simulate {
        tracing::info!("using simulated voice and telephony providers");
        Ok(Providers::simulated(&Simulator::new(&p.simulator)).with_analyzer(analyzer(settings)?))
    } else {
        let vapi = VapiClient::new(&p.vapi, &p.twilio)
            .context("cannot build the Vapi client")?
            .with_server_secret(settings.webhooks.vapi_secret.clone());
        let twilio = TwilioClient::new(&p.twilio, &settings.server.public_url)
            .context("cannot build the Twilio client")?;
        Ok(Providers::real(Arc::new(vapi), Arc::new(twilio)).with_analyzer(analyzer(settings)?))
    }
}

/// The calendar provider the settings call for: Google Calendar when
/// `providers.google_calendar.client_id` is set (and `providers.simulate` is not "always"),
/// otherwise the simulated calendar (refused when `providers.simulate` is "never").
pub fn calendar_provider(
    settings: &Settings,
) -> anyhow::Result<(Arc<dyn CalendarProvider>, Option<SimulatedCalendar>)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let p = &settings.providers;
    let configured = !p.google_calendar.client_id.trim().is_empty();
    let simulate = match p.simulate {
        SimulateMode::Always => true,
        SimulateMode::Auto => !configured,
        SimulateMode::Never => {
            if !configured {
                anyhow::bail!(
                    "providers.google_calendar.client_id is empty and providers.simulate is \"never\""
                );
            }
            false
        }
    };
    if simulate {
        let calendar = SimulatedCalendar::new(&p.google_calendar, &settings.server.public_url);
        Ok((Arc::new(calendar.clone()), Some(calendar)))
    } else {
        let google = GoogleCalendarClient::new(&p.google_calendar, &settings.server.public_url)
            .context("cannot build the Google Calendar client (providers.google_calendar)")?;
        Ok((Arc::new(google), None))
    }
}

/// For `zencall up` without `calendar.encryption_keys`: the key in `{data_dir}/calendar.key`,
/// generated there on first start (and logged, so it is backed up with the database), made
/// the active key. Configured keys are left alone.
pub fn local_calendar_key(
    settings: &mut Settings,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    if !settings.calendar.encryption_keys.is_empty() {
        return Ok(());
    }
    const KEY_ID: &str = "local";
    let path = data_dir.join("calendar.key");
    let key = if path.exists() {
        std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the calendar key {}", path.display()))?
            .trim()
            .to_string()
    } else {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let key = zencall_core::domain::sealed::Sealer::generate_key()
            .map_err(|e| anyhow::anyhow!("cannot generate a calendar key: {e}"))?;
        write_private(&path, key.expose_secret())
            .with_context(|| format!("cannot write the calendar key {}", path.display()))?;
        tracing::warn!(path = %path.display(), "generated the key that seals calendar tokens; back it up with the database (without it, connected calendars must be connected again)");
        key.expose_secret().to_string()
    };
    settings
        .calendar
        .encryption_keys
        .insert(KEY_ID.to_string(), SecretString::from(key));
    settings.calendar.active_key_id = KEY_ID.to_string();
    zencall_core::domain::sealed::Sealer::from_config(
        &settings.calendar.encryption_keys,
        &settings.calendar.active_key_id,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(())
}

/// For `zencall up`: without `email.eml_dir`, the `.eml` files written when there is no SMTP
/// server go to `{data_dir}/emails`.
pub fn local_email_dir(settings: &mut Settings, data_dir: &std::path::Path) {
    if settings.email.eml_dir.trim().is_empty() {
        settings.email.eml_dir = data_dir.join("emails").display().to_string();
    }
}

/// The mailer the settings call for: the SMTP server of `email.smtp_url` (unless
/// `providers.simulate` is "always"), otherwise `.eml` files in `email.eml_dir` (`data/emails`
/// when empty), refused when `providers.simulate` is "never". The from address is checked
/// here, so a bad one stops start-up. Says once where emails go.
pub fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    zencall_providers::mailer::Sender::from_settings(&settings.email)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let smtp = settings.email.smtp_configured();
    let files = match settings.providers.simulate {
        SimulateMode::Always => true,
        SimulateMode::Auto => !smtp,
        SimulateMode::Never => {
            if !smtp {
                anyhow::bail!(
                    "email.smtp_url is empty and providers.simulate is \"never\": billing emails could not be sent"
                );
            }
            false
        }
    };
    if files {
        let dir = match settings.email.eml_dir.trim() {
            "" => std::path::PathBuf::from("data/emails"),
            dir => std::path::PathBuf::from(dir),
        };
        tracing::info!(dir = %dir.display(), "no SMTP server (email.smtp_url): emails are written as .eml files");
        Ok(Arc::new(FileMailer::new(dir)))
    } else {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let smtp = SmtpMailer::new(&settings.email)
            .map_err(|e| anyhow::anyhow!("cannot use the SMTP server: {e}"))?;
        tracing::info!(server = smtp.server(), "emails are sent through SMTP");
        Ok(Arc::new(smtp))
    }
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// On an empty database, creates the first organisation and an admin key; returns the key's
/// secret (to print once), or `None` when organisations already exist.
pub async fn bootstrap(db: &Db, clock: &dyn Clock) -> anyhow::Result<Option<String>> {
    if organisations::count(db).await? > 0 {
        return Ok(None);
    }
    let mut tx = db.begin().await?;
    let org = organisations::create(&mut tx, "My business", clock.now()).await?;
    // Whoever runs `zencall up` on a new database runs the platform: its key opens the board.
    organisations::set_operates_platform(&mut tx, &org.id, true).await?;
    let key = api_keys::create(
        &mut tx,
        &org.id,
        "first admin key",
        Scope::Admin,
        clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(key.secret))
}

/// Starts the given roles against `db`. `listener` serves the API when it runs (health,
/// readiness and metrics included); without the API it serves those operations endpoints
/// alone, for workers and schedulers. Workers need the providers (the API and the scheduler
/// never call them).
pub async fn start(
    settings: Settings,
    db: Db,
    roles: Roles,
    listener: Option<tokio::net::TcpListener>,
    providers: Option<Providers>,
) -> anyhow::Result<Running> {
    start_on_clock(
        settings,
        db,
        roles,
        listener,
        providers,
        Arc::new(SystemClock),
    )
    .await
}

/// Like [`start`], with the API and the jobs reading the time from `clock`: simulations run
/// days of calling rules in seconds on a [`zencall_core::clock::ManualClock`]. The queue's own
/// timing (run times, heartbeats) and the cron table stay on the system clock.
pub async fn start_on_clock(
    settings: Settings,
    db: Db,
    roles: Roles,
    listener: Option<tokio::net::TcpListener>,
    providers: Option<Providers>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    let mut settings = settings;
    let simulator = providers.as_ref().and_then(|p| p.simulator.clone());
    if simulator.is_some() {
        sign_simulated_webhooks(&mut settings);
    }
    let simulated_payments = simulating_payments(&settings);
    if simulated_payments {
        sign_simulated_stripe_events(&mut settings);
    }
    let settings = Arc::new(settings);
    let sealer = Arc::new(
        zencall_core::domain::sealed::Sealer::from_config(
            &settings.calendar.encryption_keys,
            &settings.calendar.active_key_id,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    if !sealer.is_enabled() {
        tracing::info!("no calendar.encryption_keys: calendars cannot be connected");
    }
    // Only the API and the workers reach the calendar; a scheduler alone needs no credentials.
    let (calendar, simulated_calendar) = match providers.as_ref().and_then(|p| {
        p.calendar
            .clone()
            .map(|c| (c, p.simulated_calendar.clone()))
    }) {
        Some((calendar, simulated)) => (Some(calendar), simulated),
        None if roles.api || !roles.queues.is_empty() => {
            let (calendar, simulated) = calendar_provider(&settings)?;
            (Some(calendar), simulated)
        }
        None => (None, None),
    };
    if simulated_calendar.is_some() {
        tracing::info!("using the simulated calendar");
    }
    // Only the API and the workers reach Stripe; a scheduler alone needs no credentials.
    let (payments, simulated_payments) = if roles.api || !roles.queues.is_empty() {
        let (payments, simulated) = payments(&settings, simulated_payments, clock.clone())?;
        (Some(payments), simulated)
    } else {
        (None, None)
    };
    // Only the workers send email, but the API refuses to start too when they could not:
    // what it queues would never leave.
    let mailer = if roles.api || !roles.queues.is_empty() {
        Some(mailer(&settings)?)
    } else {
        None
    };
    let (stop, _) = watch::channel(false);
    let mut tasks: Vec<JoinHandle<anyhow::Result<()>>> = Vec::new();
    let mut addr = None;
    let mut listener = listener;
    let outbound = &settings.webhooks.outbound;
    let webhooks = Arc::new(
        WebhookSender::new(&SenderSettings {
            timeout_ms: outbound.timeout_ms,
            allow_private_networks: outbound.allow_private_networks,
            allow_plain_http: outbound.allow_plain_http,
        })
        .context("cannot build the webhook sender (webhooks.outbound)")?,
    );

    if roles.api {
        let listener = listener.take().context("the API role needs a listener")?;
        let local = listener.local_addr()?;
        addr = Some(local);
        if let Some(sim) = &simulator {
            sim.report_to(
                CallReporter::new(
                    &format!("http://{local}"),
                    &settings.server.public_url,
                    settings.webhooks.vapi_secret.clone(),
                    settings.providers.twilio.auth_token.clone(),
                )
                .context("cannot build the simulator's call reporter")?,
            );
        }
        let state = zencall_api::AppState {
            db: db.clone(),
            clock: clock.clone(),
            limits: Arc::new(
                zencall_api::rate_limit::RateLimits::from_config(
                    &settings.rate_limits,
                    &settings.redis,
                )
                .await
                .context("cannot use Redis for rate limits (redis.url)")?,
            ),
            settings: settings.clone(),
            webhooks: webhooks.clone(),
            simulator: simulator.clone(),
            live: Arc::default(),
            calendar: calendar
                .clone()
                .context("the API role needs the calendar provider")?,
            simulated_calendar: simulated_calendar.clone(),
            sealer: sealer.clone(),
            payments: payments
                .clone()
                .context("the API role needs the payments provider")?,
            stripe_simulator: match &simulated_payments {
                Some(sim) => Some(zencall_api::stripe_simulator::StripeSimulator {
                    payments: sim.clone(),
                    poster: StripeEventPoster::new(&format!("http://{local}"))
                        .context("cannot build the Stripe simulator's event poster")?,
                }),
                None => None,
            },
        };
        if let Some(sim) = &simulated_calendar {
            let notifier = CalendarNotifier::new(&format!("http://{local}"))
                .context("cannot build the simulated calendar's notifier")?;
            tasks.push(tokio::spawn(deliver_simulated_notifications(
                sim.clone(),
                notifier,
                stop.subscribe(),
            )));
        }
        let shutdown = stopped(stop.subscribe());
        tasks.push(tokio::spawn(async move {
            zencall_api::serve(listener, state, shutdown)
                .await
                .context("the API stopped on an error")
        }));
    }

    if let Some(listener) = listener {
        let local = listener.local_addr()?;
        addr = Some(local);
        tracing::info!(addr = %local, "operations endpoints listening");
        let shutdown = stopped(stop.subscribe());
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            zencall_api::serve_ops(listener, db, shutdown)
                .await
                .context("the operations endpoints stopped on an error")
        }));
    }

    if !roles.queues.is_empty() {
        let Providers {
            voice,
            telephony,
            analyzer,
            ..
        } = providers.context("workers need the voice and telephony providers")?;
        let ctx = JobContext {
            db: db.clone(),
            voice,
            telephony,
            clock: clock.clone(),
            settings: settings.clone(),
            webhooks,
            pacer: Arc::new(
                zencall_core::rate_limiter::KeyedRateLimiter::from_settings(&settings.redis)
                    .await
                    .context("the call pacer needs Redis when redis.url is set")?,
            ),
            analyzer,
            calendar: calendar
                .clone()
                .context("the workers need the calendar provider")?,
            sealer: sealer.clone(),
            payments: payments
                .clone()
                .context("the workers need the payments provider")?,
            mailer: mailer.clone().context("the workers need the mailer")?,
        };
        let runner = Runner::new(
            db.clone(),
            zencall_worker::registry(ctx),
            zencall_core::jobs::runner_settings(&settings.queue),
        );
        tracing::info!(replica = runner.replica(), queues = ?roles.queues.iter().map(|q| q.as_str()).collect::<Vec<_>>(), "starting workers");
        let shutdown = stopped(stop.subscribe());
        let queues: Vec<&'static str> = roles.queues.iter().map(|q| q.as_str()).collect();
        tasks.push(tokio::spawn(async move {
            runner
                .run(&queues, shutdown)
                .await
                .context("the workers stopped on an error")
        }));
    }

    if roles.scheduler {
        let shutdown = stopped(stop.subscribe());
        let db = db.clone();
        let max_attempts = settings.queue.max_attempts;
        let schedules = settings.scheduler.clone();
        tasks.push(tokio::spawn(async move {
            zencall_scheduler::run(db, &schedules, max_attempts, shutdown).await;
            Ok(())
        }));
    }

    Ok(Running {
        addr,
        db,
        stop,
        tasks,
    })
}

/// Delivers the notifications the simulated calendar queues (for writes made through its API
/// and new channels) to our own webhook endpoint, as Google would, until `stop`.
async fn deliver_simulated_notifications(
    calendar: SimulatedCalendar,
    notifier: CalendarNotifier,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { return Ok(()) },
            _ = tick.tick() => {
                let due = calendar.take_notifications();
                notifier.deliver_all(&due).await;
            }
        }
    }
}

/// Whether payments are simulated: when no Stripe secret key is configured (and
/// `providers.simulate` allows it), or always when it says so. With "never" and no key,
/// building the Stripe client refuses to start the API and the workers.
fn simulating_payments(settings: &Settings) -> bool {
    let configured = !settings
        .providers
        .stripe
        .secret_key
        .expose_secret()
        .trim()
        .is_empty();
    match settings.providers.simulate {
        SimulateMode::Always => true,
        SimulateMode::Auto => !configured,
        SimulateMode::Never => false,
    }
}

/// Stripe Billing, or the simulated payments provider (returned twice then: as the trait
/// object, and as itself for the simulator's routes).
fn payments(
    settings: &Settings,
    simulate: bool,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Arc<dyn Payments>, Option<SimulatedPayments>)> {
    if simulate {
        let sim = SimulatedPayments::new(SimulatedPaymentsSettings::for_plans(
            &settings.billing,
            &settings.server.public_url,
            settings.webhooks.stripe_secret.clone(),
        ))
        .context("cannot build the simulated payments provider (billing)")?
        .with_clock(clock);
        tracing::info!(
            "using the simulated payments provider (providers.stripe.secret_key is empty); it lives in this process only"
        );
        Ok((Arc::new(sim.clone()), Some(sim)))
    } else {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let stripe = StripePayments::new(&settings.providers.stripe)
            .context("cannot build the Stripe client (providers.stripe)")?;
        Ok((Arc::new(stripe), None))
    }
}

/// The simulated payments provider signs its events like Stripe; where no Stripe webhook
/// secret is configured, one is made up for this process.
fn sign_simulated_stripe_events(settings: &mut Settings) {
    if settings.webhooks.stripe_secret.expose_secret().is_empty() {
        let bytes: [u8; 32] = rand::rng().random();
        settings.webhooks.stripe_secret =
            SecretString::from(format!("whsec_{}", hex_lower(&bytes)));
    }
}

/// The simulator signs its webhooks like the providers do, so they are verified like theirs.
/// Where no secret is configured (the usual case when simulating), one is made up for this
/// process: nothing outside it can then forge a simulated provider's webhook.
fn sign_simulated_webhooks(settings: &mut Settings) {
    let random = || {
        let bytes: [u8; 32] = rand::rng().random();
        SecretString::from(hex_lower(&bytes))
    };
    if settings.webhooks.vapi_secret.expose_secret().is_empty() {
        settings.webhooks.vapi_secret = random();
    }
    if settings
        .providers
        .twilio
        .auth_token
        .expose_secret()
        .is_empty()
    {
        settings.providers.twilio.auth_token = random();
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a comma-separated list of queue names.
pub fn parse_queues(text: &str) -> anyhow::Result<Vec<QueueName>> {
    let mut queues = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let q = QueueName::parse(name).with_context(|| {
            let known: Vec<_> = QueueName::ALL.iter().map(|q| q.as_str()).collect();
            format!("unknown queue {name:?}; known queues: {}", known.join(", "))
        })?;
        if !queues.contains(&q) {
            queues.push(q);
        }
    }
    if queues.is_empty() {
        anyhow::bail!("no queue given");
    }
    Ok(queues)
}
