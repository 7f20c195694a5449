//! AnalyzeTranscript: read a call's transcript with the configured analyzer and make the
//! result the call's current analysis, then tell the customer (`call.analyzed`). The input is
//! bounded (`analysis.max_transcript_chars`), so a transcript of megabytes costs no more than
//! a long call. A language model that keeps failing is retried with backoff, and on the job's
//! last attempt the offline analyzer answers instead, so every call gets an analysis.

use zencall_core::domain::analysis::transcript::truncate;
use zencall_core::domain::analysis::{
    AnalysisInput, AnalyzerKind, OfflineAnalyzer, TranscriptAnalysis,
};
use zencall_core::events::EventType;
use zencall_core::jobs::payloads::AnalyzeTranscript;
use zencall_core::store::calls::Call;
use zencall_core::store::{assistants, call_analyses, calls};
use zencall_core::views::AnalysisView;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: AnalyzeTranscript, run: JobRun) -> Result<(), JobError> {
    let Some(call) = calls::find(&ctx.db, &job.org_id, &job.call_id).await? else {
        return Err(JobError::permanent(format!(
            "call {} does not exist",
            job.call_id
        )));
    };
    // A run that stored the analysis but stopped before announcing it finds it here.
    let stored =
        match call_analyses::find_by_request(&ctx.db, &job.org_id, &job.call_id, &job.request_key)
            .await?
        {
            Some(stored) => stored,
            None => {
                let analysis = analyze(ctx, &call, &run).await?;
                let mut tx = ctx.db.begin().await?;
                let stored = call_analyses::store_current(
                    &mut tx,
                    &job.org_id,
                    &job.call_id,
                    &job.request_key,
                    &analysis,
                    ctx.clock.now(),
                )
                .await?;
                tx.commit().await?;
                match stored {
                    Some(stored) => stored,
                    None => call_analyses::find_by_request(
                        &ctx.db,
                        &job.org_id,
                        &job.call_id,
                        &job.request_key,
                    )
                    .await?
                    .ok_or_else(|| JobError::transient("the analysis stored meanwhile is gone"))?,
                }
            }
        };
    let provider = call_analyses::provider_analysis(&ctx.db, &job.org_id, &job.call_id).await?;
    let id = stored.id.clone();
    let view = AnalysisView::of(stored, provider.as_deref());
    ctx.emit(&job.org_id, EventType::CallAnalyzed, &id, &view)
        .await?;
    Ok(())
}

/// The analysis of the call's transcript, bounded in size, by the configured analyzer or, when
/// it failed on the last attempt, by the offline one.
async fn analyze(
    ctx: &JobContext,
    call: &Call,
    run: &JobRun,
) -> Result<TranscriptAnalysis, JobError> {
    let assistant = match &call.assistant_id {
        Some(id) => assistants::find(&ctx.db, &call.org_id, id).await?,
        None => None,
    };
    let max_chars = ctx.settings.analysis.max_transcript_chars;
    let full = call.transcript.as_deref().unwrap_or_default();
    let (text, cut) = truncate(full, max_chars);
    let input = AnalysisInput {
        transcript: text.to_string(),
        language_hint: assistant.as_ref().map(|a| a.language),
        sector: assistant.as_ref().map(|a| a.sector),
    };
    let mut analysis = if call.transcript.is_none() {
        let version = ctx.analyzer.version();
        let kind = if version.starts_with("llm:") {
            AnalyzerKind::Llm
        } else {
            AnalyzerKind::Lexicon
        };
        TranscriptAnalysis::skipped(kind, version, "the call has no transcript")
    } else {
        match ctx.analyzer.analyze(&input).await {
            Ok(analysis) => analysis,
            Err(e) if e.is_transient() && !run.is_last_attempt() => return Err(e.into()),
            Err(e) => {
                let mut analysis = OfflineAnalyzer::shared().analyze(&input);
                analysis.fallback_reason = Some(format!(
                    "the configured analyzer failed on attempt {} of {}: {e}",
                    run.attempt, run.max_attempts
                ));
                analysis
            }
        }
    };
    if cut {
        analysis.notes.push(format!(
            "the transcript was cut to its first {max_chars} characters (of {}) before analysis",
            full.chars().count()
        ));
    }
    Ok(analysis)
}
