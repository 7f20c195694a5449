//! The MCP benchmark (`zencall bench mcp`): the platform started in-process (API and workers)
//! with the simulated providers, then N scripted onboardings ([`zencall_providers::simulated_onboarding`], the six
//! sectors in turn), a few at once, each its own MCP session through rmcp's client over HTTP
//! as an agent would open it. Prints each tool's latency (p50, p99) and the time from an
//! onboarding's first call to its assistant `active` with a number, which includes buying the
//! number through the queue and the simulator's latency per provider call. Use a database of
//! its own: the organisation and its assistants stay.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use futures::StreamExt;
use zencall_core::config::Settings;
use zencall_core::jobs::QueueName;
use zencall_core::store::api_keys::{self, Scope};
use zencall_core::store::{Backend, Db, organisations};
use zencall_providers::simulator::Simulator;

use crate::{Providers, Roles};
use zencall_providers::simulated_onboarding::{
    self as onboarding, OnboardingReport, OnboardingScript,
};

/// How long one onboarding may wait for its assistant to become active.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// What the MCP benchmark measured.
#[derive(Debug, Clone)]
pub struct McpBenchReport {
    /// The database's backend.
    pub backend: Backend,
    /// Onboardings run.
    pub onboardings: usize,
    /// Onboardings at once.
    pub concurrency: usize,
    /// The simulated latency of one provider call.
    pub simulator_latency_ms: u64,
    /// Each session's `initialize` handshake.
    pub initialize: Vec<Duration>,
    /// Every call's latency, by tool (`tools/list` included).
    pub calls: BTreeMap<String, Vec<Duration>>,
    /// Each onboarding's time from its first call to its assistant active.
    pub to_active: Vec<Duration>,
    /// The whole run.
    pub elapsed: Duration,
}

/// The `q` quantile of `samples` (nearest rank).
fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
    sorted.get(index).copied().unwrap_or_default()
}

impl fmt::Display for McpBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let line = |samples: &[Duration]| {
            format!(
                "p50_ms={:.1} p99_ms={:.1}",
                ms(quantile(samples, 0.5)),
                ms(quantile(samples, 0.99))
            )
        };
        writeln!(
            f,
            "bench=mcp backend={} onboardings={} concurrency={} simulator_latency_ms={} elapsed_s={:.1}",
            self.backend.as_str(),
            self.onboardings,
            self.concurrency,
            self.simulator_latency_ms,
            self.elapsed.as_secs_f64(),
        )?;
        writeln!(
            f,
            "request=initialize n={} {}",
            self.initialize.len(),
            line(&self.initialize)
        )?;
        for (tool, samples) in &self.calls {
            writeln!(f, "tool={tool} calls={} {}", samples.len(), line(samples))?;
        }
        write!(
            f,
            "onboarding=first_tool_call_to_active n={} {}",
            self.to_active.len(),
            line(&self.to_active)
        )
    }
}

/// Starts the platform on `db` (migrated) and runs `onboardings` scripted onboardings,
/// `concurrency` at once.
pub async fn mcp(
    settings: Settings,
    db: Db,
    onboardings: usize,
    concurrency: usize,
) -> anyhow::Result<McpBenchReport> {
    if onboardings == 0 {
        bail!("--onboardings: at least 1");
    }
    if concurrency == 0 {
        bail!("--concurrency: at least 1");
    }
    let mut settings = settings;
    // The per-key quota would throttle the bench's single key, not measure the tools.
    let rates = &mut settings.rate_limits;
    rates.read_per_minute = rates.read_per_minute.max(1_000_000);
    rates.write_per_minute = rates.write_per_minute.max(1_000_000);
    rates.admin_per_minute = rates.admin_per_minute.max(1_000_000);
    let simulator_latency_ms = settings.providers.simulator.latency_ms;
    let sim = Simulator::new(&settings.providers.simulator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let running = crate::start(
        settings,
        db.clone(),
        Roles {
            api: true,
            queues: QueueName::ALL.to_vec(),
            scheduler: false,
        },
        Some(listener),
        Some(Providers::simulated(&sim)),
    )
    .await?;
    let base = format!("http://{}", running.addr.context("the API did not start")?);
    let result = measure(&db, &base, onboardings, concurrency).await;
    running.shutdown().await?;
    let (initialize, reports, elapsed) = result?;

    let mut calls: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for call in reports.iter().flat_map(|r| &r.calls) {
        calls
            .entry(call.tool.clone())
            .or_default()
            .push(call.latency);
    }
    Ok(McpBenchReport {
        backend: db.backend(),
        onboardings,
        concurrency,
        simulator_latency_ms,
        initialize,
        calls,
        to_active: reports.iter().map(|r| r.to_active).collect(),
        elapsed,
    })
}

/// The onboardings, timed: each session's handshake, each onboarding's report, the whole run.
async fn measure(
    db: &Db,
    base: &str,
    onboardings: usize,
    concurrency: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<OnboardingReport>, Duration)> {
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let org = organisations::create(&mut tx, "Banc d'essai MCP", now).await?;
    let key = api_keys::create(&mut tx, &org.id, "bench mcp", Scope::Write, now).await?;
    tx.commit().await?;

    let scripts = OnboardingScript::all();
    let started = Instant::now();
    let results: Vec<anyhow::Result<(Duration, OnboardingReport)>> =
        futures::stream::iter(0..onboardings)
            .map(|i| {
                let script = &scripts[i % scripts.len()];
                let secret = &key.secret;
                async move {
                    let opened = Instant::now();
                    let client = onboarding::connect(base, secret).await?;
                    let initialize = opened.elapsed();
                    let report = onboarding::run(&client, script, ACTIVE_TIMEOUT)
                        .await
                        .with_context(|| format!("onboarding {i} ({})", script.sector.as_str()));
                    let _ = client.cancel().await;
                    Ok((initialize, report?))
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    let elapsed = started.elapsed();
    let mut initialize = Vec::with_capacity(onboardings);
    let mut reports = Vec::with_capacity(onboardings);
    for result in results {
        let (handshake, report) = result?;
        initialize.push(handshake);
        reports.push(report);
    }
    Ok((initialize, reports, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&samples, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}
