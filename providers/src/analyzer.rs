//! `TranscriptAnalyzer`: reads a call's transcript and says what the caller felt and wanted.
//! Two implementations, chosen by `analysis.analyzer`: the offline lexicon analyzer (the
//! default: no transcript leaves the platform) and [`crate::llm_analyzer::LlmAnalyzer`], a
//! language model behind an OpenAI-compatible chat-completions endpoint.

use async_trait::async_trait;
use zencall_core::domain::analysis::{AnalysisInput, OfflineAnalyzer, TranscriptAnalysis};

use crate::ProviderError;

/// Analyses call transcripts.
#[async_trait]
pub trait TranscriptAnalyzer: Send + Sync {
    /// The analyzer's version (`lexicon-2`, `llm:llama3.1`): a call is analysed once per
    /// version unless someone asks again.
    fn version(&self) -> String;

    /// Analyses one transcript. A transient error (a time-out, 429, 5xx) is worth retrying
    /// later; a transcript with nothing to analyse is a `skipped` result, never an error.
    async fn analyze(&self, input: &AnalysisInput) -> Result<TranscriptAnalysis, ProviderError>;
}

/// The offline lexicon analyzer behind the trait.
#[derive(Debug, Clone, Copy, Default)]
pub struct LexiconAnalyzer;

#[async_trait]
impl TranscriptAnalyzer for LexiconAnalyzer {
    fn version(&self) -> String {
        OfflineAnalyzer::VERSION.to_string()
    }

    async fn analyze(&self, input: &AnalysisInput) -> Result<TranscriptAnalysis, ProviderError> {
        Ok(OfflineAnalyzer::shared().analyze(input))
    }
}
