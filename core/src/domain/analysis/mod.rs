//! Transcript analysis: what a call's transcript says about the caller (sentiment, intents,
//! a summary, tags and follow-up actions), and the offline analyzer that works it out with
//! vendored sentiment lexicons and rules, in French and English, with no I/O.
//!
//! The result type is shared by every analyzer (the offline one here, the LLM adapter in the
//! providers crate), so a stored analysis reads the same whichever produced it.

pub mod intents;
pub mod language;
pub mod lexicon;
pub mod model;
pub mod offline;
pub mod sentiment;
pub mod summary;
pub mod transcript;

use serde::{Deserialize, Serialize};

pub use offline::OfflineAnalyzer;

/// The language an analysis was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AnalysisLanguage {
    /// French.
    Fr,
    /// English.
    En,
    /// Neither could be recognised.
    Unknown,
}

impl AnalysisLanguage {
    /// The name stored and shown (`fr`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::En => "en",
            Self::Unknown => "unknown",
        }
    }
}

/// Whether an analysis could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AnalysisStatus {
    /// The transcript was analysed.
    Completed,
    /// There was nothing to analyse; `skipped_reason` says why.
    Skipped,
}

impl AnalysisStatus {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Skipped => "skipped",
        }
    }
}

/// A sentiment label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    /// Pleased, grateful, enthusiastic.
    Positive,
    /// Factual, no marked feeling.
    Neutral,
    /// Unhappy, annoyed, worried.
    Negative,
}

impl SentimentLabel {
    /// Every label, in display order.
    pub const ALL: [SentimentLabel; 3] = [Self::Positive, Self::Neutral, Self::Negative];

    /// The name stored and shown (`negative`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Neutral => "neutral",
            Self::Negative => "negative",
        }
    }

    /// Parses a name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == text)
    }
}

/// How the caller's feeling moved from the start of the call to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SentimentTrend {
    /// The caller ended happier than they started.
    Improved,
    /// The caller ended less happy than they started.
    Worsened,
    /// No marked change (or too few turns to tell).
    Steady,
}

/// The sentiment of one of the caller's turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TurnSentiment {
    /// The turn's position in the transcript, from 0 (the assistant's turns count too).
    pub turn: usize,
    /// From -1 (most negative) to 1 (most positive).
    pub score: f64,
    /// The label of that score.
    pub label: SentimentLabel,
}

/// The caller's sentiment over the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sentiment {
    /// From -1 (most negative) to 1 (most positive).
    pub score: f64,
    /// The label of that score.
    pub label: SentimentLabel,
    /// From the first turns to the last.
    pub trend: SentimentTrend,
    /// Each of the caller's turns.
    pub turns: Vec<TurnSentiment>,
    /// The words or phrases that weighed most, strongest first, as said in the call.
    pub evidence: Vec<String>,
}

/// What a caller may want.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IntentName {
    /// A new appointment or table.
    Booking,
    /// Moving an existing appointment.
    Reschedule,
    /// Cancelling an appointment, an order or a subscription.
    Cancellation,
    /// A quote or an estimate for a job.
    QuoteRequest,
    /// A problem with a product, a service, a delay or a bill.
    Complaint,
    /// Being called back.
    CallbackRequest,
    /// Hours, prices, stock, an order's status, the address, the services.
    Information,
    /// Speaking to a person.
    TransferToHuman,
    /// Anything else (a wrong number, a sales pitch, a job application).
    Other,
}

impl IntentName {
    /// Every intent.
    pub const ALL: [IntentName; 9] = [
        Self::Booking,
        Self::Reschedule,
        Self::Cancellation,
        Self::QuoteRequest,
        Self::Complaint,
        Self::CallbackRequest,
        Self::Information,
        Self::TransferToHuman,
        Self::Other,
    ];

    /// The name stored and shown (`quote_request`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booking => "booking",
            Self::Reschedule => "reschedule",
            Self::Cancellation => "cancellation",
            Self::QuoteRequest => "quote_request",
            Self::Complaint => "complaint",
            Self::CallbackRequest => "callback_request",
            Self::Information => "information",
            Self::TransferToHuman => "transfer_to_human",
            Self::Other => "other",
        }
    }

    /// Parses a name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == text)
    }
}

/// One thing the caller wanted, and why the analyzer thinks so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Intent {
    /// The intent.
    pub name: IntentName,
    /// From 0 to 1.
    pub confidence: f64,
    /// The caller's words that gave it away.
    pub trigger: String,
}

/// Which analyzer produced a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AnalyzerKind {
    /// The offline lexicon analyzer.
    Lexicon,
    /// A language model behind an OpenAI-compatible endpoint.
    Llm,
}

impl AnalyzerKind {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lexicon => "lexicon",
            Self::Llm => "llm",
        }
    }
}

/// What an analyzer made of one transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TranscriptAnalysis {
    /// `completed`, or `skipped` with a reason.
    pub status: AnalysisStatus,
    /// Why there is no analysis (an empty transcript, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_reason: Option<String>,
    /// The analyzer that produced this result.
    pub analyzer: AnalyzerKind,
    /// Its version (`lexicon-2`, `llm:llama3.1`): a re-analysis with another version is a new analysis.
    pub analyzer_version: String,
    /// Why the configured analyzer was not the one used (the LLM failed, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// The language of the call.
    pub language: AnalysisLanguage,
    /// The caller's sentiment; absent when skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Sentiment>,
    /// What the caller wanted, most confident first.
    #[serde(default)]
    pub intents: Vec<Intent>,
    /// At most three sentences, in the call's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Short labels for filtering (`urgent`, `price`, `delivery`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Suggested follow-ups, in the call's language.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Anything the reader should know about the input (it was truncated, say).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl TranscriptAnalysis {
    /// A skipped analysis with its reason.
    pub fn skipped(
        analyzer: AnalyzerKind,
        analyzer_version: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            status: AnalysisStatus::Skipped,
            skipped_reason: Some(reason.into()),
            analyzer,
            analyzer_version: analyzer_version.into(),
            fallback_reason: None,
            language: AnalysisLanguage::Unknown,
            sentiment: None,
            intents: Vec::new(),
            summary: None,
            tags: Vec::new(),
            actions: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The most confident intent.
    pub fn primary_intent(&self) -> Option<IntentName> {
        self.intents.first().map(|i| i.name)
    }
}

/// What an analyzer is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisInput {
    /// The transcript, `AI:` and `User:` lines as the voice platform writes them.
    pub transcript: String,
    /// The assistant's language, used when the transcript's own cannot be told.
    pub language_hint: Option<crate::domain::sector::Language>,
    /// The assistant's sector, for sector-aware rules.
    pub sector: Option<crate::domain::sector::Sector>,
}
