//! The billing benchmark (`zencall bench billing`), with the simulated Stripe:
//! - usage: N ended calls with their ledger rows, each reported by the `ReportUsage` handler
//!   (ledger read, meter event, ledger marked) from a pool of concurrent tasks as a worker's
//!   slots would run them; reported rows per second;
//! - invoices: M finalized invoices issued by the `IssueInvoice` path (document built and
//!   checked, number taken from the sequence, PDF rendered, all stored with its email in one
//!   transaction) from the same pool; invoices per second, and PDF renders per second on one
//!   core alone.
//!
//! The organisation, its subscription and the calls are seeded first and not timed. Use a
//! database of its own: the rows stay.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use futures::StreamExt;
use zencall_core::config::Settings;
use zencall_core::domain::billing_profile::BillingProfileRequest;
use zencall_core::domain::invoice::{self, ChargedInvoice, ChargedLine};
use zencall_core::jobs::payloads::ReportUsage;
use zencall_core::store::billing_subscriptions::{self, SubscriptionState};
use zencall_core::store::calls::{self, CallReport};
use zencall_core::store::{Db, billing_customers, billing_profiles, billing_usage, organisations};
use zencall_providers::payments::CustomerSpec;
use zencall_providers::simulator::Simulator;
use zencall_queue::JobRun;
use zencall_worker::billing_emails::Addressing;
use zencall_worker::jobs::report_usage;
use zencall_worker::{invoice_pdf, invoicing};

/// Rows seeded per transaction.
const SEED_CHUNK: u64 = 500;

/// What the billing benchmark measured.
#[derive(Debug, Clone)]
pub struct BillingReport {
    /// `postgres` or `sqlite`.
    pub backend: &'static str,
    /// Usage rows reported.
    pub usage_records: u64,
    /// Time to report them all.
    pub usage_elapsed: Duration,
    /// Invoices issued.
    pub invoices: u64,
    /// Time to issue them all.
    pub invoices_elapsed: Duration,
    /// PDFs rendered on one core, alone.
    pub renders: u64,
    /// Time to render them.
    pub renders_elapsed: Duration,
    /// Size of one invoice PDF.
    pub pdf_bytes: usize,
    /// Tasks at once.
    pub concurrency: usize,
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

impl fmt::Display for BillingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bench=billing backend={} concurrency={} usage_records={} usage_reported_per_s={:.0} \
             invoices={} invoices_issued_per_s={:.0} pdf_renders_per_s={:.0} pdf_bytes={}",
            self.backend,
            self.concurrency,
            self.usage_records,
            per_second(self.usage_records, self.usage_elapsed),
            self.invoices,
            per_second(self.invoices, self.invoices_elapsed),
            per_second(self.renders, self.renders_elapsed),
            self.pdf_bytes,
        )
    }
}

/// Seeds, then times usage reporting and invoice issuing.
pub async fn billing(
    settings: Settings,
    db: Db,
    usage_records: u64,
    invoices: u64,
    concurrency: usize,
) -> anyhow::Result<BillingReport> {
    if concurrency == 0 {
        bail!("--concurrency: at least 1");
    }
    let sim = Simulator::new(&settings.providers.simulator);
    let ctx = crate::bench::simulated_context(&settings, &db, &sim).await?;
    let now = Utc::now();

    // An organisation with its customer, an active subscription and a billing profile.
    let mut tx = db.begin().await?;
    let org = organisations::create(&mut tx, "Banc d'essai SARL", now).await?;
    tx.commit().await?;
    let customer = ctx
        .payments
        .create_customer(&CustomerSpec {
            org_id: org.id.clone(),
            name: org.name.clone(),
            email: "compta@banc.example".into(),
            address: None,
            vat_id: None,
        })
        .await?;
    billing_customers::record(&db, &org.id, &customer.id, now).await?;
    let plan = settings
        .billing
        .plans
        .first()
        .context("no plan configured")?;
    billing_subscriptions::apply(
        &db,
        &org.id,
        &SubscriptionState {
            stripe_subscription_id: format!("sub_bench_{}", org.id),
            stripe_customer_id: customer.id.clone(),
            plan: Some(plan.name.clone()),
            status: "active".into(),
            current_period_start: now - TimeDelta::days(1),
            current_period_end: now + TimeDelta::days(29),
            trial_end: None,
            cancel_at_period_end: false,
        },
        1,
        now,
    )
    .await?;
    let profile = BillingProfileRequest {
        legal_name: Some("Banc d'essai SARL".into()),
        email: Some("compta@banc.example".into()),
        address_line1: Some("1 place du Banc".into()),
        address_line2: None,
        postal_code: Some("69001".into()),
        city: Some("Lyon".into()),
        country: Some("FR".into()),
        vat_id: None,
        siren: None,
    }
    .validate()
    .map_err(|e| anyhow::anyhow!("bench profile: {e:?}"))?;
    billing_profiles::put(&db, &org.id, &profile, now).await?;

    // Ended calls with their ledger rows, not timed.
    let mut call_ids = Vec::with_capacity(usage_records as usize);
    let mut seeded = 0;
    while seeded < usage_records {
        let mut tx = db.begin().await?;
        for _ in 0..SEED_CHUNK.min(usage_records - seeded) {
            let ended = now - TimeDelta::minutes(30);
            let call = calls::merge_vapi_report(
                &mut tx,
                &org.id,
                None,
                &format!("bench-{}-{seeded}", org.id),
                "inbound",
                &CallReport {
                    status: Some("ended".into()),
                    started_at: Some(ended - TimeDelta::seconds(95)),
                    ended_at: Some(ended),
                    ..CallReport::default()
                },
                now,
            )
            .await?;
            billing_usage::record(&mut tx, &org.id, &call.id, None, ended, 95, 2, now).await?;
            call_ids.push(call.id);
            seeded += 1;
        }
        tx.commit().await?;
    }

    // Usage: each row through the ReportUsage handler.
    let started = Instant::now();
    let results: Vec<Result<(), String>> = futures::stream::iter(call_ids.iter().enumerate())
        .map(|(i, call_id)| {
            let ctx = &ctx;
            let org_id = org.id.clone();
            async move {
                let job = ReportUsage {
                    org_id,
                    call_id: call_id.clone(),
                };
                let run = JobRun {
                    id: format!("bench-{i}"),
                    kind: "ReportUsage".into(),
                    attempt: 1,
                    max_attempts: 1,
                    worker: "bench".into(),
                };
                report_usage::run(ctx, job, run)
                    .await
                    .map_err(|e| format!("{e:?}"))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let usage_elapsed = started.elapsed();
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        bail!("a usage report failed: {e}");
    }
    let (reported, waiting) =
        billing_usage::reported_between(&db, &org.id, now - TimeDelta::days(1), now).await?;
    if waiting != 0 || reported != 2 * usage_records as i64 {
        bail!("{reported} minutes reported and {waiting} rows waiting after the run");
    }

    // Invoices: build, number, render and store each.
    let charged = |i: u64| ChargedInvoice {
        id: format!("in_bench_{}_{i}", org.id),
        number: None,
        currency: settings.billing.currency.clone(),
        lines: vec![
            ChargedLine {
                description: None,
                price_id: Some(plan.metered_price_id.clone()),
                quantity: Some(u64::from(plan.included_minutes)),
                amount: 0,
                period_start: now - TimeDelta::days(30),
                period_end: now,
            },
            ChargedLine {
                description: None,
                price_id: Some(plan.metered_price_id.clone()),
                quantity: Some(37),
                amount: 37 * plan.minute_price_cents,
                period_start: now - TimeDelta::days(30),
                period_end: now,
            },
            ChargedLine {
                description: None,
                price_id: Some(plan.fee_price_id.clone()),
                quantity: Some(1),
                amount: plan.monthly_fee_cents,
                period_start: now,
                period_end: now + TimeDelta::days(30),
            },
        ],
        subtotal: 37 * plan.minute_price_cents + plan.monthly_fee_cents,
        tax: zencall_core::domain::vat::vat_on(
            37 * plan.minute_price_cents + plan.monthly_fee_cents,
            settings.billing.invoices.vat_rate_basis_points,
        )
        .unwrap_or(0),
        total: 0,
        finalized_at: now,
        due_date: None,
    };
    let document = |i: u64| {
        let mut c = charged(i);
        c.total = c.subtotal + c.tax;
        invoice::build(
            &c,
            &profile,
            &settings.billing.seller,
            &settings.billing.invoices,
            &settings.billing.plans,
        )
        .map_err(|e| anyhow::anyhow!("bench invoice: {e}"))
    };
    let documents = (0..invoices)
        .map(document)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sample = documents.first().cloned();
    let started = Instant::now();
    let terms = Arc::new(settings.billing.invoices.clone());
    let results: Vec<Result<bool, String>> = futures::stream::iter(documents)
        .map(|doc| {
            let (db, org_id, terms) = (db.clone(), org.id.clone(), terms.clone());
            async move {
                let to = Addressing {
                    org_id: org_id.clone(),
                    recipient: "compta@banc.example".into(),
                    message_id_domain: "banc.example".into(),
                };
                invoicing::issue(&db, &org_id, doc, &terms, Some(&to), Utc::now())
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|i| i.created)
                    .ok_or_else(|| "a fresh Stripe invoice was stored as voided".to_string())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let invoices_elapsed = started.elapsed();
    let issued = results
        .into_iter()
        .collect::<Result<Vec<bool>, String>>()
        .map_err(|e| anyhow::anyhow!("an invoice failed: {e}"))?;
    if issued.iter().any(|created| !created) {
        bail!("an invoice was found issued already");
    }

    // Rendering alone, on this thread.
    let (renders, renders_elapsed, pdf_bytes) = match sample {
        Some(mut doc) => {
            doc.number = "F-999999".into();
            let renders = invoices.clamp(1, 500);
            let started = Instant::now();
            let mut bytes = 0;
            for _ in 0..renders {
                bytes = invoice_pdf::render(&doc).len();
            }
            (renders, started.elapsed(), bytes)
        }
        None => (0, Duration::ZERO, 0),
    };
    Ok(BillingReport {
        backend: db.backend().as_str(),
        usage_records,
        usage_elapsed,
        invoices,
        invoices_elapsed,
        renders,
        renders_elapsed,
        pdf_bytes,
        concurrency,
    })
}
