//! The `zencall` command line: parses arguments, loads configuration, starts a role.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use zencall::{Roles, bootstrap, connect, parse_queues, providers, signal, start};
use zencall_api::operations::configurators;
use zencall_core::clock::SystemClock;
use zencall_core::config::{LogFormat, Settings};
use zencall_core::store::api_keys::{self, Scope};
use zencall_core::store::configurators::{self as store_configurators, ConfiguratorStatus};
use zencall_core::store::organisations;

/// Zencall: voice-AI phone assistants for small businesses.
#[derive(Parser)]
#[command(name = "zencall", version, about)]
struct Cli {
    /// A TOML file overriding the built-in configuration (then ZENCALL__SECTION__KEY variables).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process on an embedded SQLite database: API, workers, scheduler.
    Up(UpArgs),
    /// The HTTP API only.
    Api(PortArgs),
    /// A worker replica: runs jobs of the given queues (run as many as needed).
    Worker(WorkerArgs),
    /// The cron scheduler (any number of replicas: each tick runs once).
    Scheduler(OpsArgs),
    /// Applies database migrations and exits.
    Migrate,
    /// Manages API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The onboarding voice assistants (configurators).
    Configurator {
        #[command(subcommand)]
        command: ConfiguratorCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// The offline transcript analyzer.
    Analysis {
        #[command(subcommand)]
        command: AnalysisCommand,
    },
}

#[derive(Subcommand)]
enum AnalysisCommand {
    /// Trains the offline analyzer's model on the tuning split of the evaluation set and
    /// writes it (rebuild afterwards: the model is compiled in).
    Train {
        /// Folder of the model files.
        #[arg(long, default_value = "core/data/analysis/model", value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Args)]
struct UpArgs {
    /// Port of the HTTP API.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Folder of the embedded database.
    #[arg(long, default_value = "./data", value_name = "DIR")]
    data_dir: PathBuf,
    /// Use this database instead of the embedded one.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Args)]
struct PortArgs {
    /// Port of the HTTP API (default: server.port).
    #[arg(long)]
    port: Option<u16>,
}

#[derive(Args)]
struct WorkerArgs {
    /// Queues to serve, comma-separated (default: queue.queues).
    #[arg(long)]
    queues: Option<String>,
    /// Jobs at once per queue (default: queue.concurrency).
    #[arg(long)]
    concurrency: Option<usize>,
    #[command(flatten)]
    ops: OpsArgs,
}

#[derive(Args)]
struct OpsArgs {
    /// Port of /healthz, /readyz and /metrics (default: ops.port).
    #[arg(long)]
    ops_port: Option<u16>,
}

impl OpsArgs {
    fn overrides(&self) -> Vec<(&'static str, figment::value::Value)> {
        self.ops_port
            .map(|p| ("ops.port", p.into()))
            .into_iter()
            .collect()
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Creates an API key and prints its secret once.
    Create {
        /// The organisation's id (org_...).
        #[arg(long, conflicts_with = "new_org", required_unless_present = "new_org")]
        org: Option<String>,
        /// Creates a new organisation with this name for the key.
        #[arg(long, value_name = "NAME")]
        new_org: Option<String>,
        /// admin, write or read.
        #[arg(long)]
        scope: String,
        /// A label for the key.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Marks the organisation as operating the platform, so its admin keys open the
        /// queue board (which shows every organisation's jobs).
        #[arg(long)]
        operator: bool,
    },
    /// Revokes an API key: requests with it get 401 from then on.
    Revoke {
        /// The organisation's id (org_...).
        #[arg(long)]
        org: String,
        /// The key's id (key_...), as `keys create` printed it.
        #[arg(long)]
        key: String,
    },
}

#[derive(Subcommand)]
enum ConfiguratorCommand {
    /// Makes (or updates) an organisation's configurator at the voice platform, through the
    /// ProvisionConfigurator job, and waits until a worker has done it.
    Provision {
        /// The organisation's id (org_...).
        #[arg(long)]
        org: String,
        /// fr or en.
        #[arg(long, default_value = "fr")]
        language: String,
        /// How long to wait for a worker, in seconds (the job stays queued after).
        #[arg(long, default_value_t = 60)]
        wait_secs: u64,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Enqueues N no-op jobs in bulk, then starts the workers and times them to the last
    /// completion; prints throughput and idle pickup latency in the peers' one-line format.
    Queue {
        /// The database to measure (sqlite://... or postgres://...).
        #[arg(long)]
        database_url: String,
        /// Number of jobs.
        #[arg(long, default_value_t = 20_000)]
        jobs: u64,
        /// Jobs at once, in total.
        #[arg(long, default_value_t = 24)]
        concurrency: usize,
        /// Jobs claimed ahead of free slots (the `queue.prefetch` setting).
        #[arg(long, default_value_t = 12)]
        prefetch: usize,
        /// Worker processes sharing the concurrency; 1 runs the workers in this process.
        /// More than 1 needs PostgreSQL.
        #[arg(long, default_value_t = 1)]
        processes: usize,
    },
    /// Uploads a CSV of N contacts to two campaigns through the API, then times planning
    /// passes over them (window open, no free slot, window closed).
    Campaign {
        /// The database to measure (sqlite://... or postgres://...).
        #[arg(long)]
        database_url: String,
        /// Contacts per campaign.
        #[arg(long, default_value_t = 100_000)]
        contacts: u64,
    },
    /// Seeds N jobs (a realistic mix of queues, kinds, organisations and states) and an hour
    /// of attempts, then times the queue board's lists, a deep page and the overview. Use a
    /// database of its own: the seeded rows stay.
    Board {
        /// The database to measure (sqlite://... or postgres://...).
        #[arg(long)]
        database_url: String,
        /// Number of jobs.
        #[arg(long, default_value_t = 1_000_000)]
        jobs: u64,
    },
    /// Reports N usage records through the ReportUsage handler and issues M invoices (numbered,
    /// rendered to PDF, stored), with the simulated Stripe; prints rates in one line. Use a
    /// database of its own: the seeded rows stay.
    Billing {
        /// The database to measure (sqlite://... or postgres://...).
        #[arg(long)]
        database_url: String,
        /// Usage records (ended calls) to report.
        #[arg(long, default_value_t = 5_000)]
        usage: u64,
        /// Invoices to issue.
        #[arg(long, default_value_t = 1_000)]
        invoices: u64,
        /// Tasks at once, as a worker's slots.
        #[arg(long, default_value_t = 24)]
        concurrency: usize,
    },
    /// Seeds an assistant with opening hours, a calendar of N synced events and booked
    /// appointments, then times the availability of two-week windows (p50, p99); then times a
    /// full sync of N events through the Google adapter from a local fake Google into the
    /// store. Use a database of its own: the seeded rows stay.
    Calendar {
        /// The database to measure (sqlite://... or postgres://...).
        #[arg(long)]
        database_url: String,
        /// Events in the calendar.
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Bookings attempted (those landing on busy or closed time are refused).
        #[arg(long, default_value_t = 1_000)]
        appointments: usize,
        /// Availability reads timed.
        #[arg(long, default_value_t = 200)]
        runs: usize,
    },
    /// Starts the platform in-process with the simulated providers and runs N scripted
    /// onboardings (a French business per sector, in turn) through the MCP server with rmcp's
    /// client, a few at once; prints each tool's latency (p50, p99) and the time from the
    /// first tool call to an active assistant with a number. Use a database of its own: the
    /// assistants stay.
    Mcp {
        /// The database to measure (sqlite://... or postgres://...).
        #[arg(long)]
        database_url: String,
        /// Onboardings to run (the six sectors in turn).
        #[arg(long, default_value_t = 60)]
        onboardings: usize,
        /// Onboardings at once, each its own MCP session.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Runs the labelled evaluation set through the transcript analyzer and prints, per
    /// language, sentiment macro-F1, intent accuracy, the confusion matrix and (offline)
    /// transcripts per second on one core.
    Analysis {
        /// Which part of the set: `test` (held out: the reported figures), `tune`, or `all`.
        #[arg(long, value_enum, default_value = "test")]
        split: zencall::analysis_bench::Split,
        /// Use the language model configured in `analysis.llm` instead of the offline analyzer.
        #[arg(long)]
        llm: bool,
        /// At most this many transcripts per language.
        #[arg(long)]
        limit: Option<usize>,
        /// Also print every misread transcript.
        #[arg(long)]
        show_errors: bool,
        /// The offline analyzer's lexicon and patterns alone, without its trained model.
        #[arg(long, conflicts_with = "llm")]
        rules_only: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // reqwest is built without a default TLS provider: install ring before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

fn load(
    cli_config: Option<&PathBuf>,
    overrides: &[(&str, figment::value::Value)],
) -> anyhow::Result<Settings> {
    let settings = Settings::load(cli_config.map(|p| p.as_path()), overrides)?;
    init_logging(&settings);
    Ok(settings)
}

fn init_logging(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config.as_ref();
    match cli.command {
        Command::Up(args) => {
            let url = match &args.database_url {
                Some(url) => url.clone(),
                None => format!("sqlite://{}", args.data_dir.join("zencall.db").display()),
            };
            let mut settings = load(
                config,
                &[
                    ("server.port", args.port.into()),
                    ("database.url", url.into()),
                ],
            )?;
            zencall::local_calendar_key(&mut settings, &args.data_dir)?;
            zencall::local_email_dir(&mut settings, &args.data_dir);
            let db = connect(&settings).await?;
            db.migrate().await.context("cannot apply migrations")?;
            if let Some(secret) = bootstrap(&db, &SystemClock).await? {
                println!(
                    "Created your organisation. Its admin API key, shown only this once:\n\n    {secret}\n"
                );
            }
            let listener = bind(&settings).await?;
            let addr = listener.local_addr()?;
            // Left at its default, the public URL follows the port actually listened on, so the
            // links the simulators hand out (checkout, consent pages) work with --port.
            if settings.server.public_url == Settings::defaults()?.server.public_url {
                settings.server.public_url = format!("http://localhost:{}", addr.port());
            }
            let providers = providers(&settings)?;
            let roles = Roles {
                api: true,
                queues: zencall_core::jobs::QueueName::ALL.to_vec(),
                scheduler: true,
            };
            let running =
                start_stoppable(settings, db, roles, Some(listener), Some(providers)).await?;
            println!("Zencall is running at http://{addr} (Ctrl-C to stop)");
            running.wait().await
        }
        Command::Api(args) => {
            let overrides: Vec<(&str, figment::value::Value)> = args
                .port
                .map(|p| ("server.port", p.into()))
                .into_iter()
                .collect();
            let settings = load(config, &overrides)?;
            let db = connect(&settings).await?;
            let listener = bind(&settings).await?;
            tracing::info!(addr = %listener.local_addr()?, "API listening");
            let running = start_stoppable(
                settings,
                db,
                Roles {
                    api: true,
                    queues: vec![],
                    scheduler: false,
                },
                Some(listener),
                None,
            )
            .await?;
            running.wait().await
        }
        Command::Worker(args) => {
            let mut overrides = args.ops.overrides();
            if let Some(c) = args.concurrency {
                overrides.push(("queue.concurrency", c.into()));
            }
            let settings = load(config, &overrides)?;
            let queues = parse_queues(args.queues.as_deref().unwrap_or(&settings.queue.queues))
                .context("--queues")?;
            let db = connect(&settings).await?;
            let providers = providers(&settings)?;
            let listener = bind_ops(&settings).await?;
            let running = start_stoppable(
                settings,
                db,
                Roles {
                    api: false,
                    queues,
                    scheduler: false,
                },
                Some(listener),
                Some(providers),
            )
            .await?;
            running.wait().await
        }
        Command::Scheduler(args) => {
            let settings = load(config, &args.overrides())?;
            let db = connect(&settings).await?;
            let listener = bind_ops(&settings).await?;
            let running = start_stoppable(
                settings,
                db,
                Roles {
                    api: false,
                    queues: vec![],
                    scheduler: true,
                },
                Some(listener),
                None,
            )
            .await?;
            running.wait().await
        }
        Command::Migrate => {
            let settings = load(config, &[])?;
            let db = connect(&settings).await?;
            db.migrate().await.context("cannot apply migrations")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Create {
                    org,
                    new_org,
                    scope,
                    name,
                    operator,
                },
        } => {
            let settings = load(config, &[])?;
            let scope = Scope::parse(&scope).context("--scope must be admin, write or read")?;
            let db = connect(&settings).await?;
            let now = chrono::Utc::now();
            let mut tx = db.begin().await?;
            let org_id = match (org, new_org) {
                (Some(id), _) => {
                    organisations::find(&db, &id)
                        .await?
                        .with_context(|| format!("--org: no organisation {id}"))?;
                    id
                }
                (None, Some(name)) => organisations::create(&mut tx, &name, now).await?.id,
                (None, None) => anyhow::bail!("give --org ORG_ID or --new-org NAME"),
            };
            if operator {
                organisations::set_operates_platform(&mut tx, &org_id, true).await?;
            }
            let key = api_keys::create(&mut tx, &org_id, &name, scope, now).await?;
            tx.commit().await?;
            println!(
                "organisation: {org_id}{}\nkey id: {}\nscope: {}\nsecret (shown once): {}",
                if operator {
                    " (operates the platform)"
                } else {
                    ""
                },
                key.key.id,
                scope.as_str(),
                key.secret
            );
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Revoke { org, key },
        } => {
            let settings = load(config, &[])?;
            let db = connect(&settings).await?;
            if !api_keys::revoke(&db, &org, &key, chrono::Utc::now()).await? {
                anyhow::bail!("--key: organisation {org} has no live key {key}");
            }
            println!("revoked {key}");
            Ok(())
        }
        Command::Configurator {
            command:
                ConfiguratorCommand::Provision {
                    org,
                    language,
                    wait_secs,
                },
        } => {
            let settings = load(config, &[])?;
            let language = configurators::parse_language("--language", &language)
                .map_err(anyhow::Error::msg)?;
            let db = connect(&settings).await?;
            organisations::find(&db, &org)
                .await?
                .with_context(|| format!("--org: no organisation {org}"))?;
            let asked =
                configurators::provision(&db, &settings, &org, language, chrono::Utc::now())
                    .await?;
            println!("configurator {} queued for provisioning", asked.id);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait_secs);
            loop {
                let current = store_configurators::find(&db, &asked.id)
                    .await?
                    .context("the configurator was deleted meanwhile")?;
                match current.status {
                    ConfiguratorStatus::Active => {
                        println!(
                            "active at the voice platform as {}; its tools: {} (key {})",
                            current.voice_assistant_id.unwrap_or_default(),
                            current.mcp_url,
                            current.api_key_id.unwrap_or_default()
                        );
                        return Ok(());
                    }
                    ConfiguratorStatus::Deleting => {
                        anyhow::bail!("the configurator was deleted meanwhile")
                    }
                    ConfiguratorStatus::Failed => anyhow::bail!(
                        "provisioning failed: {}",
                        current.failure_reason.unwrap_or_default()
                    ),
                    ConfiguratorStatus::Provisioning if std::time::Instant::now() >= deadline => {
                        anyhow::bail!(
                            "still provisioning after {wait_secs} s: is a worker running \
                             (`zencall up` or `zencall worker`)? The job stays queued."
                        )
                    }
                    ConfiguratorStatus::Provisioning => {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await
                    }
                }
            }
        }
        Command::Bench {
            command:
                BenchCommand::Queue {
                    database_url,
                    jobs,
                    concurrency,
                    prefetch,
                    processes,
                },
        } => {
            let settings = load(config, &[("database.url", database_url.clone().into())])?;
            let db = connect(&settings).await?;
            db.migrate().await.context("cannot apply migrations")?;
            let samples = zencall_worker::bench::LATENCY_SAMPLES;
            let report = if processes > 1 {
                let workers = zencall_worker::bench::WorkerProcesses {
                    program: std::env::current_exe()
                        .context("cannot find this program to start the workers")?,
                    database_url: database_url.clone(),
                    count: processes,
                };
                zencall_worker::bench::queue_processes(
                    db,
                    workers,
                    jobs,
                    concurrency,
                    prefetch,
                    samples,
                )
                .await?
            } else {
                zencall_worker::bench::queue(db, jobs, concurrency, prefetch, samples).await?
            };
            println!("{report}");
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Campaign {
                    database_url,
                    contacts,
                },
        } => {
            let settings = load(config, &[("database.url", database_url.into())])?;
            let db = connect(&settings).await?;
            db.migrate().await.context("cannot apply migrations")?;
            let report = zencall::bench::campaign(settings, db, contacts).await?;
            println!("{report}");
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Analysis {
                    split,
                    llm,
                    limit,
                    show_errors,
                    rules_only,
                },
        } => {
            let choice = if llm { "llm" } else { "lexicon" };
            let settings = load(config, &[("analysis.analyzer", choice.into())])?;
            let analyzer = zencall::analyzer(&settings)?;
            let report = zencall::analysis_bench::analysis(
                analyzer.as_ref(),
                split,
                limit,
                show_errors,
                rules_only,
                std::time::Duration::from_secs(2),
            )
            .await?;
            print!("{report}");
            Ok(())
        }
        Command::Analysis {
            command: AnalysisCommand::Train { out },
        } => {
            let report = zencall::analysis_training::train(&out)?;
            print!("{report}");
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Billing {
                    database_url,
                    usage,
                    invoices,
                    concurrency,
                },
        } => {
            let settings = load(config, &[("database.url", database_url.into())])?;
            let db = connect(&settings).await?;
            db.migrate().await.context("cannot apply migrations")?;
            let report =
                zencall::billing_bench::billing(settings, db, usage, invoices, concurrency).await?;
            println!("{report}");
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Calendar {
                    database_url,
                    events,
                    appointments,
                    runs,
                },
        } => {
            let settings = load(config, &[("database.url", database_url.into())])?;
            let db = connect(&settings).await?;
            db.migrate().await.context("cannot apply migrations")?;
            let report =
                zencall::calendar_bench::calendar(db.clone(), events, appointments, runs).await?;
            println!("{report}");
            let synced = zencall::calendar_sync_bench::full_sync(&settings, db, events).await?;
            println!("{synced}");
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Mcp {
                    database_url,
                    onboardings,
                    concurrency,
                },
        } => {
            let settings = load(config, &[("database.url", database_url.into())])?;
            let db = connect(&settings).await?;
            db.migrate().await.context("cannot apply migrations")?;
            let report = zencall::mcp_bench::mcp(settings, db, onboardings, concurrency).await?;
            println!("{report}");
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Board { database_url, jobs },
        } => {
            let settings = load(config, &[("database.url", database_url.into())])?;
            let db = connect(&settings).await?;
            db.migrate().await.context("cannot apply migrations")?;
            let report = zencall::bench::board(db, jobs).await?;
            println!("{report}");
            Ok(())
        }
    }
}

async fn bind(settings: &Settings) -> anyhow::Result<tokio::net::TcpListener> {
    let addr = format!("{}:{}", settings.server.host, settings.server.port);
    tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (server.host, server.port)"))
}

async fn bind_ops(settings: &Settings) -> anyhow::Result<tokio::net::TcpListener> {
    let addr = format!("{}:{}", settings.ops.host, settings.ops.port);
    tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (ops.host, ops.port)"))
}

/// Installs the SIGTERM and Ctrl-C handlers, then starts `roles`; the first signal stops them
/// and lets in-flight work finish. Handlers come first because a role may announce it is up
/// before `start` returns, and a signal without a handler would kill the process outright.
async fn start_stoppable(
    settings: Settings,
    db: zencall_core::store::Db,
    roles: Roles,
    listener: Option<tokio::net::TcpListener>,
    providers: Option<zencall::Providers>,
) -> anyhow::Result<zencall::Running> {
    let signal = signal::terminate().context("cannot install the signal handlers")?;
    let running = start(settings, db, roles, listener, providers).await?;
    let stop = running.stop_switch();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("stopping: finishing requests and in-flight jobs");
        let _ = stop.send(true);
    });
    Ok(running)
}
