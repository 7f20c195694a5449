//! The offline analyzer: lexicons and rules, French and English, no I/O. It reads only the
//! caller's turns for sentiment and intents (the assistant is polite whatever happens), and
//! the whole call for the summary.

use std::sync::OnceLock;

use super::lexicon::Lexicon;
use super::model::{self, Call, Evidence, Features, Model, argmax};
use super::sentiment::{self, TextScore};
use super::transcript::{self, Speaker};
use super::{
    AnalysisInput, AnalysisLanguage, AnalysisStatus, AnalyzerKind, Intent, IntentName, Sentiment,
    SentimentLabel, SentimentTrend, TranscriptAnalysis, TurnSentiment, intents, language, summary,
};

/// At or above this score, a call or a turn reads positive.
pub const POSITIVE_THRESHOLD: f64 = 0.4;

/// At or below this score, a call or a turn reads negative.
pub const NEGATIVE_THRESHOLD: f64 = -0.15;

/// What a complaint takes off the call's raw sentiment, times its confidence: a courteous
/// complaint is still a complaint ("je me permets de vous signaler...").
const COMPLAINT_BIAS: f64 = 2.5;

/// How much more the last of the caller's turns weighs than the first: how a call ends is
/// how the caller leaves.
const LATE_TURN_EXTRA_WEIGHT: f64 = 0.5;

/// What praise is worth in a turn that complains: "bravo, trois semaines pour une livraison"
/// is sarcasm, and "elle est adorable, mais la couleur est ratée" a polite complaint.
const PRAISE_IN_A_COMPLAINT: f64 = 0.25;

/// A turn complains when its own words show a complaint this surely.
const COMPLAINING_TURN: f64 = 0.6;

/// A change of this much between the first and the second half of the call is a trend.
const TREND_DELTA: f64 = 0.25;

/// The model reports another intent besides the main one from this probability.
const SECOND_INTENT: f64 = 0.3;

/// Words or phrases kept as evidence, at most.
const MAX_EVIDENCE: usize = 5;

/// The label of a score.
pub fn label(score: f64) -> SentimentLabel {
    if score >= POSITIVE_THRESHOLD {
        SentimentLabel::Positive
    } else if score <= NEGATIVE_THRESHOLD {
        SentimentLabel::Negative
    } else {
        SentimentLabel::Neutral
    }
}

/// The offline analyzer; its lexicons and patterns are built once and shared.
#[derive(Debug, Default)]
pub struct OfflineAnalyzer {
    /// Leave the trained model out.
    rules_only: bool,
}

/// Topic tags: each with the word stems that raise it, in either language.
const TAGS: [(&str, &[&str]); 8] = [
    (
        "urgent",
        &[
            "urgen",
            "fuite",
            "inond",
            "emergency",
            "asap",
            "flood",
            "plus de chauffage",
            "plus d'eau chaude",
            "no heating",
            "no hot water",
            "leak",
        ],
    ),
    (
        "price",
        &[
            "prix", "tarif", "combien", "coût", "price", "cost", "how much", "charge",
        ],
    ),
    (
        "delivery",
        &[
            "livr",
            "colis",
            "deliver",
            "parcel",
            "package",
            "courier",
            "transporteur",
        ],
    ),
    (
        "refund",
        &[
            "rembours",
            "refund",
            "money back",
            "dédommag",
            "compensation",
        ],
    ),
    (
        "billing",
        &[
            "factur", "prélev", "débit", "invoice", "bill", "charged", "payment", "paiement",
        ],
    ),
    (
        "delay",
        &[
            "retard",
            "attend",
            "late",
            "delay",
            "waiting",
            "waited",
            "still not",
            "toujours pas",
        ],
    ),
    ("allergy", &["allerg", "gluten", "intoléran", "intoleran"]),
    (
        "repeat_contact",
        &[
            "encore une fois",
            "déjà appelé",
            "troisième fois",
            "again",
            "already called",
            "third time",
            "second time",
        ],
    ),
];

impl OfflineAnalyzer {
    /// The version stored with each result; raise it when the rules or lexicons change.
    pub const VERSION: &'static str = "lexicon-2";

    /// The shared instance, with its lexicons and patterns built on first use.
    pub fn shared() -> &'static OfflineAnalyzer {
        static SHARED: OnceLock<OfflineAnalyzer> = OnceLock::new();
        SHARED.get_or_init(|| {
            // Build everything now rather than during the first call's analysis.
            for language in [AnalysisLanguage::Fr, AnalysisLanguage::En] {
                let _ = Lexicon::of(language);
                let _ = intents::detect("", language, None);
                let _ = Model::of(language);
            }
            OfflineAnalyzer::default()
        })
    }

    /// The analyzer without its trained model: the lexicon and the patterns alone (to
    /// measure what the model adds).
    pub fn rules_only() -> OfflineAnalyzer {
        OfflineAnalyzer { rules_only: true }
    }

    /// Analyses one transcript; never fails: no words, or no known language, give a
    /// `skipped` result that says why.
    pub fn analyze(&self, input: &AnalysisInput) -> TranscriptAnalysis {
        let reading = match read(input, false) {
            Ok(reading) => reading,
            Err(skipped) => return *skipped,
        };
        let Reading {
            language,
            turns,
            caller_text,
            mut sentiment,
            mut found,
            features,
        } = reading;
        let model = Model::of(language);
        if !self.rules_only && model.sentiment.is_trained() {
            let p = model.sentiment.probabilities(&features);
            sentiment.score = round(p[0] - p[2]);
            sentiment.label = SentimentLabel::ALL[argmax(&p)];
        }
        if !self.rules_only && model.intent.is_trained() {
            found = with_model_intents(found, model, &features, &caller_text);
        }
        let lexicon = Lexicon::of(language);
        let summary = summary::summarise(&turns, language, &found, |s| {
            sentiment::score(s, lexicon).compound()
        });
        let tags = tags(&caller_text, &sentiment);
        let actions = actions(language, &found, &sentiment, &tags);
        TranscriptAnalysis {
            status: AnalysisStatus::Completed,
            skipped_reason: None,
            analyzer: AnalyzerKind::Lexicon,
            analyzer_version: Self::VERSION.to_string(),
            fallback_reason: None,
            language,
            sentiment: Some(sentiment),
            intents: found,
            summary,
            tags,
            actions,
            notes: Vec::new(),
        }
    }

    /// The language of a transcript and the features the model reads of it, with their
    /// names (to train the model); `None` for a transcript that would be skipped.
    pub fn features(&self, input: &AnalysisInput) -> Option<(AnalysisLanguage, Features)> {
        read(input, true)
            .ok()
            .map(|reading| (reading.language, reading.features))
    }
}

/// What the lexicon and the patterns read of a transcript.
struct Reading<'a> {
    language: AnalysisLanguage,
    turns: Vec<transcript::Turn<'a>>,
    caller_text: String,
    sentiment: Sentiment,
    found: Vec<Intent>,
    features: Features,
}

fn read(input: &AnalysisInput, named: bool) -> Result<Reading<'_>, Box<TranscriptAnalysis>> {
    let skipped = |reason: &str| {
        Box::new(TranscriptAnalysis::skipped(
            AnalyzerKind::Lexicon,
            OfflineAnalyzer::VERSION,
            reason,
        ))
    };
    let turns = transcript::turns(&input.transcript);
    if turns.is_empty() {
        return Err(skipped("the transcript is empty"));
    }
    let caller_turns: Vec<(usize, &str)> = turns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.speaker == Speaker::Caller)
        .map(|(i, t)| (i, t.text))
        .collect();
    if caller_turns.is_empty() {
        return Err(skipped("the caller said nothing: only the assistant spoke"));
    }
    let caller_text = caller_turns
        .iter()
        .map(|(_, t)| *t)
        .collect::<Vec<_>>()
        .join("\n");
    let language = language::detect(&input.transcript, input.language_hint);
    if language == AnalysisLanguage::Unknown {
        let mut result = skipped(
            "the transcript's language could not be recognised: French and English are analysed",
        );
        result.language = AnalysisLanguage::Unknown;
        return Err(result);
    }
    let lexicon = Lexicon::of(language);
    let found = intents::detect(&caller_text, language, input.sector);
    // Praise up to the caller's last complaint is read as sarcasm or politeness, not as
    // satisfaction; what comes after it (a resolution) counts in full.
    let complains: Vec<bool> = caller_turns
        .iter()
        .map(|(_, text)| {
            intents::confidence_of(text, language, input.sector, IntentName::Complaint)
                >= COMPLAINING_TURN
        })
        .collect();
    let last_complaint = complains.iter().rposition(|c| *c);
    let scores: Vec<(usize, &str, TextScore)> = caller_turns
        .iter()
        .enumerate()
        .map(|(k, (i, text))| {
            let mut score = sentiment::score(text, lexicon);
            if last_complaint.is_some_and(|last| k <= last) {
                score.discount_praise(PRAISE_IN_A_COMPLAINT);
            }
            (*i, *text, score)
        })
        .collect();
    let sentiment = overall_sentiment(&scores, &found);
    let (positive, negative) =
        scores
            .iter()
            .flat_map(|(_, _, s)| &s.contributions)
            .fold((0.0, 0.0), |(p, n), c| {
                if c.value > 0.0 {
                    (p + c.value, n)
                } else {
                    (p, n + c.value)
                }
            });
    let turn_scores: Vec<f64> = sentiment.turns.iter().map(|t| t.score).collect();
    let evidence = Evidence {
        lexicon_score: sentiment.score,
        positive: sentiment::normalize(positive),
        negative: sentiment::normalize(negative),
        first_turn: turn_scores.first().copied().unwrap_or(0.0),
        last_turn: turn_scores.last().copied().unwrap_or(0.0),
        lowest_turn: turn_scores.iter().copied().fold(0.0, f64::min),
        highest_turn: turn_scores.iter().copied().fold(0.0, f64::max),
        complaining_turns: complains.iter().filter(|c| **c).count() as f64 / complains.len() as f64,
        caller_turns: caller_turns.len(),
        intents: found.clone(),
    };
    let assistant_text = turns
        .iter()
        .filter(|t| t.speaker == Speaker::Assistant)
        .map(|t| t.text)
        .collect::<Vec<_>>()
        .join("\n");
    let call = Call {
        language,
        sector: input.sector,
        caller_text: &caller_text,
        first_turn: caller_turns.first().map_or("", |(_, t)| t),
        last_turn: caller_turns.last().map_or("", |(_, t)| t),
        assistant_text: &assistant_text,
    };
    let negators = |word: &str| lexicon.negators.contains(word);
    let features = model::features(&call, &evidence, &negators, named);
    Ok(Reading {
        language,
        turns,
        caller_text,
        sentiment,
        found,
        features,
    })
}

/// The model's main intent first, then the patterns' other intents and any other intent
/// the model finds likely enough.
fn with_model_intents(
    found: Vec<Intent>,
    model: &Model,
    features: &Features,
    caller_text: &str,
) -> Vec<Intent> {
    let p = model.intent.probabilities(features);
    let trigger = |class: usize, name: IntentName| {
        found
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.trigger.clone())
            .or_else(|| {
                model
                    .intent
                    .strongest_words(class, features, caller_text)
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    let main = argmax(&p);
    let main_name = IntentName::ALL[main];
    let mut intents = vec![Intent {
        name: main_name,
        confidence: (p[main] * 100.0).round() / 100.0,
        trigger: trigger(main, main_name),
    }];
    let mut others: Vec<Intent> = found
        .iter()
        .filter(|i| i.name != main_name && i.name != IntentName::Other)
        .cloned()
        .collect();
    for (class, name) in IntentName::ALL.iter().enumerate() {
        if p[class] >= SECOND_INTENT
            && *name != main_name
            && *name != IntentName::Other
            && !others.iter().any(|i| i.name == *name)
        {
            others.push(Intent {
                name: *name,
                confidence: (p[class] * 100.0).round() / 100.0,
                trigger: trigger(class, *name),
            });
        }
    }
    others.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    intents.extend(others);
    intents
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn overall_sentiment(scores: &[(usize, &str, TextScore)], found: &[Intent]) -> Sentiment {
    let n = scores.len();
    let mut raw = 0.0;
    let mut turns = Vec::with_capacity(n);
    for (k, (turn, _, score)) in scores.iter().enumerate() {
        let position = if n > 1 {
            k as f64 / (n - 1) as f64
        } else {
            1.0
        };
        raw += score.raw * (1.0 + LATE_TURN_EXTRA_WEIGHT * position);
        let compound = score.compound();
        turns.push(TurnSentiment {
            turn: *turn,
            score: round(compound),
            label: label(compound),
        });
    }
    if let Some(complaint) = found
        .iter()
        .find(|i| i.name == IntentName::Complaint && i.confidence >= 0.6)
    {
        raw -= COMPLAINT_BIAS * complaint.confidence;
    }
    let score = sentiment::normalize(raw);
    let trend = if n < 2 {
        SentimentTrend::Steady
    } else {
        let half = n / 2;
        let mean = |part: &[TurnSentiment]| {
            part.iter().map(|t| t.score).sum::<f64>() / part.len().max(1) as f64
        };
        let delta = mean(&turns[n - half..]) - mean(&turns[..half]);
        if delta >= TREND_DELTA {
            SentimentTrend::Improved
        } else if delta <= -TREND_DELTA {
            SentimentTrend::Worsened
        } else {
            SentimentTrend::Steady
        }
    };
    let mut weighted: Vec<(f64, String)> = scores
        .iter()
        .flat_map(|(_, text, score)| {
            score
                .contributions
                .iter()
                .map(move |c| (c.value, text[c.start..c.end].to_string()))
        })
        .collect();
    weighted.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
    let mut evidence: Vec<String> = Vec::new();
    for (_, phrase) in weighted {
        if !evidence.iter().any(|e| e.eq_ignore_ascii_case(&phrase)) {
            evidence.push(phrase);
        }
        if evidence.len() == MAX_EVIDENCE {
            break;
        }
    }
    Sentiment {
        score: round(score),
        label: label(score),
        trend,
        turns,
        evidence,
    }
}

fn tags(caller_text: &str, sentiment: &Sentiment) -> Vec<String> {
    let lower = caller_text.to_lowercase().replace('’', "'");
    let mut tags: Vec<String> = TAGS
        .iter()
        .filter(|(_, stems)| stems.iter().any(|s| lower.contains(s)))
        .map(|(tag, _)| (*tag).to_string())
        .collect();
    if sentiment.score <= -0.6 {
        tags.push("angry".into());
    } else if sentiment.score >= 0.6 {
        tags.push("delighted".into());
    }
    tags
}

fn actions(
    language: AnalysisLanguage,
    found: &[Intent],
    sentiment: &Sentiment,
    tags: &[String],
) -> Vec<String> {
    let fr = language == AnalysisLanguage::Fr;
    let say = |french: &str, english: &str| if fr { french } else { english }.to_string();
    let has = |name: IntentName| found.iter().any(|i| i.name == name);
    let tagged = |tag: &str| tags.iter().any(|t| t == tag);
    let mut actions = Vec::new();
    if tagged("urgent") {
        actions.push(say(
            "Traiter la demande en urgence",
            "Handle this as urgent",
        ));
    }
    if has(IntentName::Complaint) {
        actions.push(if sentiment.label == SentimentLabel::Negative {
            say(
                "Transmettre la réclamation au responsable et rappeler le client aujourd'hui",
                "Escalate the complaint to the manager and call the customer back today",
            )
        } else {
            say(
                "Traiter la réclamation du client",
                "Follow up on the customer's complaint",
            )
        });
    }
    if tagged("refund") {
        actions.push(say(
            "Examiner la demande de remboursement",
            "Review the refund request",
        ));
    }
    if has(IntentName::CallbackRequest) && !has(IntentName::Complaint) {
        actions.push(say(
            "Rappeler le client aujourd'hui",
            "Call the customer back today",
        ));
    }
    if has(IntentName::TransferToHuman) {
        actions.push(say(
            "Rappeler le client : il a demandé à parler à quelqu'un",
            "Call the customer back: they asked to speak to a person",
        ));
    }
    if has(IntentName::QuoteRequest) {
        actions.push(say("Envoyer un devis", "Send a quote"));
    }
    if has(IntentName::Booking) {
        actions.push(say(
            "Vérifier le rendez-vous dans l'agenda",
            "Check the booking in the calendar",
        ));
    }
    if has(IntentName::Reschedule) {
        actions.push(say(
            "Mettre à jour le rendez-vous dans l'agenda",
            "Update the appointment in the calendar",
        ));
    }
    if has(IntentName::Cancellation) {
        actions.push(say(
            "Traiter l'annulation et libérer le créneau",
            "Process the cancellation and free the slot",
        ));
    }
    actions.truncate(5);
    actions
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::sector::{Language, Sector};

    fn analyze(text: &str, hint: Option<Language>) -> TranscriptAnalysis {
        OfflineAnalyzer::shared().analyze(&AnalysisInput {
            transcript: text.to_string(),
            language_hint: hint,
            sector: None,
        })
    }

    #[test]
    fn a_french_complaint_reads_negative_with_the_intent_complaint() {
        let a = analyze(
            "AI: Bonjour, que puis-je pour vous ?\n\
             User: Bonjour, j'ai commandé il y a trois semaines et mon colis n'est toujours pas arrivé. C'est inadmissible.\n\
             AI: Je suis désolée, je transmets votre réclamation.\n\
             User: J'espère bien, je suis vraiment déçu.",
            Some(Language::Fr),
        );
        assert_eq!(a.language, AnalysisLanguage::Fr);
        let s = a.sentiment.as_ref().unwrap();
        assert_eq!(s.label, SentimentLabel::Negative, "{s:?}");
        assert_eq!(a.primary_intent(), Some(IntentName::Complaint));
        assert!(a.tags.contains(&"delivery".to_string()), "{:?}", a.tags);
        assert!(!a.actions.is_empty());
        assert!(a.summary.unwrap().contains("Client : "));
    }

    #[test]
    fn an_english_booking_reads_positive_with_booking() {
        let a = analyze(
            "AI: Hello, Bella Hair, how can I help?\n\
             User: Hi! I'd like to book a haircut for Saturday morning please.\n\
             AI: I have 10:30 on Saturday, does that work?\n\
             User: Perfect, that's wonderful, thank you so much!",
            None,
        );
        assert_eq!(a.language, AnalysisLanguage::En);
        assert_eq!(
            a.sentiment.as_ref().unwrap().label,
            SentimentLabel::Positive
        );
        assert_eq!(a.primary_intent(), Some(IntentName::Booking));
        assert_eq!(a.analyzer_version, OfflineAnalyzer::VERSION);
    }

    #[test]
    fn the_trend_follows_the_call() {
        let a = analyze(
            "User: I'm really annoyed, my boiler is broken again.\nAI: I'm sorry.\nUser: Still annoyed.\n\
             AI: An engineer can come today.\nUser: Oh that's great.\nUser: Wonderful, thank you so much!",
            None,
        );
        assert_eq!(a.sentiment.unwrap().trend, SentimentTrend::Improved);
    }

    #[test]
    fn nothing_to_analyse_is_skipped_with_a_reason() {
        let empty = analyze("   \n", Some(Language::Fr));
        assert_eq!(empty.status, AnalysisStatus::Skipped);
        assert_eq!(
            empty.skipped_reason.as_deref(),
            Some("the transcript is empty")
        );
        let assistant_only = analyze("AI: Bonjour ?\nAI: Allô ?", None);
        assert_eq!(assistant_only.status, AnalysisStatus::Skipped);
        let german = analyze(
            "User: Guten Tag, ich möchte gerne einen Termin für nächste Woche vereinbaren, wenn möglich am Donnerstag oder Freitag.",
            Some(Language::Fr),
        );
        assert_eq!(german.status, AnalysisStatus::Skipped);
        assert_eq!(german.language, AnalysisLanguage::Unknown);
    }

    #[test]
    fn a_sector_changes_what_a_price_question_means() {
        let a = OfflineAnalyzer::shared().analyze(&AnalysisInput {
            transcript: "User: Combien ça coûterait pour remplacer mon chauffe-eau ?".into(),
            language_hint: Some(Language::Fr),
            sector: Some(Sector::Craftsman),
        });
        assert_eq!(a.primary_intent(), Some(IntentName::QuoteRequest));
    }
}
