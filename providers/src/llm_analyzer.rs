//! [`LlmAnalyzer`]: transcript analysis by a language model behind an OpenAI-compatible
//! chat-completions endpoint (OpenAI, Ollama 0.5 and later, llama.cpp's `llama-server`). The
//! answer is constrained by a strict JSON schema (`response_format: json_schema`), and checked
//! again here, since not every server enforces the grammar. A time-out, 429 or 5xx is
//! transient (the job retries with backoff); a malformed answer or a refused request is
//! answered by the fallback analyzer instead, with the reason, so a call is never left
//! without an analysis.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use zencall_core::config::LlmSettings;
use zencall_core::domain::analysis::{
    AnalysisInput, AnalysisLanguage, AnalysisStatus, AnalyzerKind, Intent, IntentName, Sentiment,
    SentimentLabel, SentimentTrend, TranscriptAnalysis, TurnSentiment,
};
use zencall_core::domain::sector::Language;

use crate::analyzer::TranscriptAnalyzer;
use crate::{ProviderError, http};

const PROVIDER: &str = "llm";

/// A per-turn score at or above this reads positive (the same rule as VADER's compound).
pub const TURN_POSITIVE: f64 = 0.05;
/// A per-turn score at or below this reads negative.
pub const TURN_NEGATIVE: f64 = -0.05;

/// Scores a little outside [-1, 1] are rounding, and clamped; further out, the answer is wrong.
const SCORE_SLACK: f64 = 1e-4;
/// Most tags, actions and summary characters kept.
const MAX_TAGS: usize = 10;
const MAX_TAG_CHARS: usize = 40;
const MAX_ACTIONS: usize = 5;
const MAX_SUMMARY_CHARS: usize = 600;

/// A language model that analyses transcripts.
pub struct LlmAnalyzer {
    http: reqwest::Client,
    endpoint: Url,
    model: String,
    api_key: SecretString,
    fallback: Arc<dyn TranscriptAnalyzer>,
}

impl LlmAnalyzer {
    /// An analyzer for the endpoint in `settings`; `fallback` answers when the model's answer
    /// is malformed or the endpoint refuses the request.
    pub fn new(
        settings: &LlmSettings,
        fallback: Arc<dyn TranscriptAnalyzer>,
    ) -> Result<Self, ProviderError> {
        if settings.model.trim().is_empty() {
            return Err(http::permanent(PROVIDER, "analysis.llm.model is empty"));
        }
        let base = http::base_url(PROVIDER, &settings.base_url)?;
        Ok(Self {
            http: http::client(PROVIDER, settings.timeout_ms)?,
            endpoint: http::join(&base, &["chat", "completions"]),
            model: settings.model.clone(),
            api_key: settings.api_key.clone(),
            fallback,
        })
    }

    async fn fall_back(
        &self,
        input: &AnalysisInput,
        reason: String,
    ) -> Result<TranscriptAnalysis, ProviderError> {
        tracing::warn!(reason = %reason, "the language model's analysis was replaced by the fallback analyzer");
        let mut analysis = self.fallback.analyze(input).await?;
        analysis.fallback_reason = Some(reason);
        Ok(analysis)
    }
}

/// The JSON schema the model must answer with.
pub fn schema() -> Value {
    let intents: Vec<&str> = IntentName::ALL.iter().map(|i| i.as_str()).collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["language", "sentiment", "intents", "summary", "tags", "actions"],
        "properties": {
            "language": {"type": "string", "enum": ["fr", "en", "unknown"]},
            "sentiment": {
                "type": "object",
                "additionalProperties": false,
                "required": ["score", "label", "trend", "evidence", "turns"],
                "properties": {
                    "score": {"type": "number", "minimum": -1, "maximum": 1},
                    "label": {"type": "string", "enum": ["positive", "neutral", "negative"]},
                    "trend": {"type": "string", "enum": ["improved", "worsened", "steady"]},
                    "evidence": {"type": "array", "items": {"type": "string"}},
                    "turns": {"type": "array", "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["turn", "score"],
                        "properties": {
                            "turn": {"type": "integer", "minimum": 0},
                            "score": {"type": "number", "minimum": -1, "maximum": 1}
                        }
                    }}
                }
            },
            "intents": {"type": "array", "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "confidence", "trigger"],
                "properties": {
                    "name": {"type": "string", "enum": intents},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "trigger": {"type": "string"}
                }
            }},
            "summary": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "actions": {"type": "array", "items": {"type": "string"}}
        }
    })
}

fn system_prompt(input: &AnalysisInput) -> String {
    let english = input.language_hint == Some(Language::En);
    let sector = input.sector.map(|s| s.as_str()).unwrap_or("unknown");
    if english {
        format!(
            "You analyse the transcript of a phone call to a small business (sector: {sector}). \
             Lines starting with \"AI:\" are the business's assistant; lines starting with \"User:\" \
             are the caller. Judge the CALLER only.\n\
             - sentiment.score from -1 (very negative) to 1 (very positive); label positive, neutral \
             or negative; trend improved, worsened or steady from the start to the end of the call; \
             evidence: the caller's words that show it; turns: a score for each caller line, with its \
             line number counted from 0.\n\
             - intents, most important first, each with a confidence from 0 to 1 and the caller's \
             words that show it: booking (a new appointment or table), reschedule (moving one), \
             cancellation, quote_request (a quote for a job), complaint, callback_request, \
             information (hours, prices, stock, order status, address, services), \
             transfer_to_human (wants to speak to a person), other.\n\
             - summary: at most three sentences, in the call's language.\n\
             - tags: short lowercase labels (urgent, price, delivery, refund, ...).\n\
             - actions: suggested follow-ups for the business, in the call's language.\n\
             Answer with JSON only."
        )
    } else {
        format!(
            "Tu analyses la transcription d'un appel téléphonique à une petite entreprise (secteur : \
             {sector}). Les lignes « AI: » sont l'assistant de l'entreprise ; les lignes « User: » sont \
             l'appelant. Juge uniquement l'APPELANT.\n\
             - sentiment.score de -1 (très négatif) à 1 (très positif) ; label positive, neutral ou \
             negative ; trend improved, worsened ou steady du début à la fin de l'appel ; evidence : \
             les mots de l'appelant qui le montrent ; turns : un score pour chaque ligne de \
             l'appelant, avec son numéro de ligne compté à partir de 0.\n\
             - intents, la plus importante d'abord, chacune avec une confiance de 0 à 1 et les mots \
             de l'appelant qui la montrent : booking (nouveau rendez-vous ou table), reschedule \
             (déplacer un rendez-vous), cancellation (annulation), quote_request (devis), complaint \
             (réclamation), callback_request (être rappelé), information (horaires, prix, stock, \
             suivi de commande, adresse, prestations), transfer_to_human (parler à quelqu'un), other.\n\
             - summary : trois phrases au plus, dans la langue de l'appel.\n\
             - tags : courtes étiquettes en minuscules (urgent, price, delivery, refund, ...).\n\
             - actions : suites à donner pour l'entreprise, dans la langue de l'appel.\n\
             Réponds uniquement en JSON."
        )
    }
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    language: String,
    sentiment: AnswerSentiment,
    intents: Vec<AnswerIntent>,
    summary: String,
    tags: Vec<String>,
    actions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerSentiment {
    score: f64,
    label: String,
    trend: String,
    evidence: Vec<String>,
    turns: Vec<AnswerTurn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerTurn {
    turn: usize,
    score: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerIntent {
    name: String,
    confidence: f64,
    trigger: String,
}

/// The content without the Markdown fence some local models wrap JSON in.
fn unfenced(content: &str) -> &str {
    let text = content.trim();
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

fn bounded(value: f64, low: f64, high: f64, what: &str) -> Result<f64, String> {
    if !value.is_finite() || value < low - SCORE_SLACK || value > high + SCORE_SLACK {
        return Err(format!("{what} {value} is outside [{low}, {high}]"));
    }
    Ok(value.clamp(low, high))
}

fn turn_label(score: f64) -> SentimentLabel {
    if score >= TURN_POSITIVE {
        SentimentLabel::Positive
    } else if score <= TURN_NEGATIVE {
        SentimentLabel::Negative
    } else {
        SentimentLabel::Neutral
    }
}

fn first_sentences(text: &str, n: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for piece in text.split_inclusive(['.', '!', '?']) {
        out.push_str(piece);
        count += 1;
        if count == n {
            break;
        }
    }
    let out = out.trim();
    if out.chars().count() > MAX_SUMMARY_CHARS {
        let mut cut: String = out.chars().take(MAX_SUMMARY_CHARS).collect();
        cut.push('…');
        cut
    } else {
        out.to_string()
    }
}

/// Checks the model's answer and turns it into an analysis.
fn validate(content: &str, lines: usize, version: &str) -> Result<TranscriptAnalysis, String> {
    let answer: Answer = serde_json::from_str(unfenced(content))
        .map_err(|e| format!("the language model's answer was not the expected JSON: {e}"))?;
    let language = match answer.language.as_str() {
        "fr" => AnalysisLanguage::Fr,
        "en" => AnalysisLanguage::En,
        "unknown" => AnalysisLanguage::Unknown,
        other => {
            return Err(format!(
                "the language model named an unknown language {other:?}"
            ));
        }
    };
    let s = answer.sentiment;
    let score = bounded(s.score, -1.0, 1.0, "the sentiment score")?;
    let label = SentimentLabel::parse(&s.label)
        .ok_or_else(|| format!("the sentiment label {:?} is unknown", s.label))?;
    let trend = match s.trend.as_str() {
        "improved" => SentimentTrend::Improved,
        "worsened" => SentimentTrend::Worsened,
        "steady" => SentimentTrend::Steady,
        other => return Err(format!("the sentiment trend {other:?} is unknown")),
    };
    let mut turns = Vec::with_capacity(s.turns.len());
    for t in s.turns {
        if t.turn >= lines {
            return Err(format!(
                "turn {} does not exist (the transcript has {lines} lines)",
                t.turn
            ));
        }
        let score = bounded(t.score, -1.0, 1.0, "a turn's score")?;
        turns.push(TurnSentiment {
            turn: t.turn,
            score,
            label: turn_label(score),
        });
    }
    let mut intents: Vec<Intent> = Vec::new();
    for i in answer.intents {
        let name = IntentName::parse(&i.name)
            .ok_or_else(|| format!("the intent {:?} is unknown", i.name))?;
        let confidence = bounded(i.confidence, 0.0, 1.0, "an intent's confidence")?;
        match intents.iter_mut().find(|known| known.name == name) {
            Some(known) if known.confidence >= confidence => {}
            Some(known) => {
                known.confidence = confidence;
                known.trigger = i.trigger;
            }
            None => intents.push(Intent {
                name,
                confidence,
                trigger: i.trigger,
            }),
        }
    }
    intents.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let tags: Vec<String> = answer
        .tags
        .iter()
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TAG_CHARS)
        .take(MAX_TAGS)
        .collect();
    let actions: Vec<String> = answer
        .actions
        .iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .take(MAX_ACTIONS)
        .collect();
    let summary = first_sentences(&answer.summary, 3);
    Ok(TranscriptAnalysis {
        status: AnalysisStatus::Completed,
        skipped_reason: None,
        analyzer: AnalyzerKind::Llm,
        analyzer_version: version.to_string(),
        fallback_reason: None,
        language,
        sentiment: Some(Sentiment {
            score,
            label,
            trend,
            turns,
            evidence: s.evidence.into_iter().take(5).collect(),
        }),
        intents,
        summary: (!summary.is_empty()).then_some(summary),
        tags,
        actions,
        notes: Vec::new(),
    })
}

#[async_trait]
impl TranscriptAnalyzer for LlmAnalyzer {
    fn version(&self) -> String {
        format!("llm:{}", self.model)
    }

    async fn analyze(&self, input: &AnalysisInput) -> Result<TranscriptAnalysis, ProviderError> {
        if input.transcript.trim().is_empty() {
            return Ok(TranscriptAnalysis::skipped(
                AnalyzerKind::Llm,
                self.version(),
                "the transcript is empty",
            ));
        }
        let body = json!({
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": system_prompt(input)},
                {"role": "user", "content": input.transcript},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "transcript_analysis", "strict": true, "schema": schema()}
            }
        });
        let mut request = self.http.post(self.endpoint.clone()).json(&body);
        let key = self.api_key.expose_secret();
        if !key.is_empty() {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| http::transport_error(PROVIDER, e))?;
        let response = match http::success(PROVIDER, response).await {
            Ok(response) => response,
            Err(failure) => {
                let status = failure.status.as_u16();
                let error = failure.into_error(PROVIDER, &[key]);
                if error.is_transient() {
                    return Err(error);
                }
                return self
                    .fall_back(
                        input,
                        format!("the language model endpoint refused the request (HTTP {status}): {error}"),
                    )
                    .await;
            }
        };
        let completion: Completion = match http::json(PROVIDER, response).await {
            Ok(c) => c,
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                return self
                    .fall_back(
                        input,
                        format!("the language model's answer was unreadable: {e}"),
                    )
                    .await;
            }
        };
        let Some(choice) = completion.choices.into_iter().next() else {
            return self
                .fall_back(input, "the language model gave no answer".into())
                .await;
        };
        let content = match (choice.message.content, choice.message.refusal) {
            (Some(content), _) if !content.trim().is_empty() => content,
            (_, Some(refusal)) => {
                return self
                    .fall_back(input, format!("the language model refused: {refusal}"))
                    .await;
            }
            _ => {
                return self
                    .fall_back(input, "the language model's answer was empty".into())
                    .await;
            }
        };
        let lines = input.transcript.lines().count();
        match validate(&content, lines, &self.version()) {
            Ok(analysis) => Ok(analysis),
            Err(reason) => self.fall_back(input, reason).await,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    use super::*;

    struct Fallback;

    #[async_trait]
    impl TranscriptAnalyzer for Fallback {
        fn version(&self) -> String {
            "fallback-test".into()
        }

        async fn analyze(&self, _: &AnalysisInput) -> Result<TranscriptAnalysis, ProviderError> {
            Ok(TranscriptAnalysis::skipped(
                AnalyzerKind::Lexicon,
                "fallback-test",
                "from the fallback",
            ))
        }
    }

    fn settings(server: &MockServer, key: &str, timeout_ms: u64) -> LlmSettings {
        LlmSettings {
            base_url: format!("{}/v1", server.uri()),
            model: "test-model".into(),
            api_key: SecretString::from(key.to_string()),
            timeout_ms,
        }
    }

    fn analyzer(server: &MockServer, key: &str, timeout_ms: u64) -> LlmAnalyzer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        LlmAnalyzer::new(&settings(server, key, timeout_ms), Arc::new(Fallback)).unwrap()
    }

    fn input(hint: Language) -> AnalysisInput {
        AnalysisInput {
            transcript: "AI: Bonjour.\nUser: Mon colis n'est jamais arrivé, c'est inadmissible."
                .into(),
            language_hint: Some(hint),
            sector: Some(zencall_core::domain::sector::Sector::Shop),
        }
    }

    fn good_answer() -> Value {
        json!({
            "language": "fr",
            "sentiment": {"score": -0.8, "label": "negative", "trend": "steady",
                          "evidence": ["inadmissible"], "turns": [{"turn": 1, "score": -0.8}]},
            "intents": [{"name": "complaint", "confidence": 0.95, "trigger": "jamais arrivé"},
                        {"name": "complaint", "confidence": 0.5, "trigger": "doublon"}],
            "summary": "Le client se plaint d'un colis perdu. Il est mécontent. Il attend une réponse. Et autre chose.",
            "tags": ["Delivery", " ", "urgent"],
            "actions": ["Rappeler le client"]
        })
    }

    fn completion(content: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]
        }))
    }

    /// Checks the request's shape: model, strict schema, two messages, the transcript.
    fn check_request(request: &Request, french: bool) {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        let schema = &body["response_format"]["json_schema"]["schema"];
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["sentiment"]["additionalProperties"],
            false
        );
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["role"], "system");
        assert_eq!(messages[1]["role"], "user");
        assert!(
            messages[1]["content"]
                .as_str()
                .unwrap()
                .contains("jamais arrivé")
        );
        let system = messages[0]["content"].as_str().unwrap();
        assert_eq!(system.contains("Tu analyses"), french, "{system}");
        assert!(system.contains("shop"));
    }

    #[tokio::test]
    async fn a_good_answer_becomes_the_analysis() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", "Bearer test-key"))
            .respond_with(completion(&good_answer().to_string()))
            .expect(2)
            .mount(&server)
            .await;
        let llm = analyzer(&server, "test-key", 2_000);
        let a = llm.analyze(&input(Language::Fr)).await.unwrap();
        assert_eq!(a.analyzer, AnalyzerKind::Llm);
        assert_eq!(a.analyzer_version, "llm:test-model");
        assert_eq!(a.fallback_reason, None);
        assert_eq!(
            a.sentiment.as_ref().unwrap().label,
            SentimentLabel::Negative
        );
        assert_eq!(
            a.sentiment.as_ref().unwrap().turns[0].label,
            SentimentLabel::Negative
        );
        assert_eq!(a.intents.len(), 1, "duplicates merge");
        assert_eq!(a.intents[0].trigger, "jamais arrivé");
        assert_eq!(a.tags, ["delivery", "urgent"]);
        assert_eq!(a.summary.as_deref().unwrap().matches('.').count(), 3);
        check_request(&server.received_requests().await.unwrap()[0], true);
        llm.analyze(&input(Language::En)).await.unwrap();
        check_request(&server.received_requests().await.unwrap()[1], false);
    }

    #[tokio::test]
    async fn an_answer_in_a_markdown_fence_is_read() {
        let server = MockServer::start().await;
        let fenced = format!("```json\n{}\n```", good_answer());
        Mock::given(method("POST"))
            .respond_with(completion(&fenced))
            .mount(&server)
            .await;
        let a = analyzer(&server, "", 2_000)
            .analyze(&input(Language::Fr))
            .await
            .unwrap();
        assert_eq!(a.analyzer, AnalyzerKind::Llm);
        let request = &server.received_requests().await.unwrap()[0];
        assert!(
            request.headers.get("authorization").is_none(),
            "no key, no header"
        );
    }

    #[tokio::test]
    async fn malformed_answers_fall_back_with_a_reason() {
        let mut missing = good_answer();
        missing.as_object_mut().unwrap().remove("sentiment");
        let mut wild = good_answer();
        wild["sentiment"]["score"] = json!(7);
        let mut unknown = good_answer();
        unknown["intents"][0]["name"] = json!("chit_chat");
        let mut bad_turn = good_answer();
        bad_turn["sentiment"]["turns"][0]["turn"] = json!(12);
        let cases = [
            ("not json at all".to_string(), "not the expected JSON"),
            (missing.to_string(), "sentiment"),
            (wild.to_string(), "outside"),
            (unknown.to_string(), "chit_chat"),
            (bad_turn.to_string(), "turn 12"),
        ];
        for (content, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(completion(&content))
                .mount(&server)
                .await;
            let a = analyzer(&server, "k", 2_000)
                .analyze(&input(Language::Fr))
                .await
                .unwrap();
            assert_eq!(a.skipped_reason.as_deref(), Some("from the fallback"));
            let reason = a.fallback_reason.unwrap();
            assert!(reason.contains(expected), "{reason}");
        }
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"choices": []})))
            .mount(&server)
            .await;
        let a = analyzer(&server, "k", 2_000)
            .analyze(&input(Language::Fr))
            .await
            .unwrap();
        assert_eq!(
            a.fallback_reason.as_deref(),
            Some("the language model gave no answer")
        );
    }

    #[tokio::test]
    async fn rate_limits_and_server_errors_are_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "7"))
            .mount(&server)
            .await;
        let e = analyzer(&server, "k", 2_000)
            .analyze(&input(Language::Fr))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            ProviderError::Transient {
                provider: "llm",
                message: "rate limited (HTTP 429)".into(),
                retry_after: Some(Duration::from_secs(7)),
            }
        );
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        assert!(
            analyzer(&server, "k", 2_000)
                .analyze(&input(Language::Fr))
                .await
                .unwrap_err()
                .is_transient()
        );
    }

    #[tokio::test]
    async fn a_slow_answer_times_out_as_a_transient_error() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(completion(&good_answer().to_string()).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let started = std::time::Instant::now();
        let e = analyzer(&server, "k", 300)
            .analyze(&input(Language::Fr))
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(e.to_string().contains("timed out"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn a_refused_key_falls_back_without_showing_the_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(401)
                    .set_body_json(json!({"error": "invalid key sk-secret-123"})),
            )
            .mount(&server)
            .await;
        let a = analyzer(&server, "sk-secret-123", 2_000)
            .analyze(&input(Language::Fr))
            .await
            .unwrap();
        let reason = a.fallback_reason.unwrap();
        assert!(reason.contains("401"), "{reason}");
        assert!(!reason.contains("sk-secret-123"), "{reason}");
    }

    #[tokio::test]
    async fn an_empty_transcript_is_skipped_without_a_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(completion("{}"))
            .expect(0)
            .mount(&server)
            .await;
        let mut empty = input(Language::Fr);
        empty.transcript = "  \n ".into();
        let a = analyzer(&server, "k", 2_000).analyze(&empty).await.unwrap();
        assert_eq!(a.status, AnalysisStatus::Skipped);
        assert_eq!(a.analyzer, AnalyzerKind::Llm);
    }
}
