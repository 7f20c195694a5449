//! An extractive summary: at most three sentences of the call itself, in its language,
//! chosen for what they carry (the caller's request, a feeling, the assistant's
//! confirmation of a day or time), kept in the order they were said.

use super::transcript::{Speaker, Turn};
use super::{AnalysisLanguage, Intent};

/// Sentences in a summary, at most.
pub const MAX_SENTENCES: usize = 3;

/// Longest sentence kept whole, in characters; a longer one is cut with an ellipsis.
const MAX_SENTENCE_CHARS: usize = 220;

/// Words that show the assistant confirmed something.
const CONFIRMATIONS: [&str; 16] = [
    "noté",
    "confirm",
    "réserv",
    "c'est fait",
    "enregistr",
    "transmets",
    "transmettre",
    "booked",
    "noted",
    "i've put",
    "all set",
    "passed on",
    "pass on",
    "rappellera",
    "call you back",
    "annulé",
];

struct Candidate<'a> {
    order: usize,
    speaker: Speaker,
    text: &'a str,
    weight: f64,
}

fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(['.', '!', '?', '…', '\n'])
        .map(str::trim)
        .filter(|s| s.chars().filter(|c| c.is_alphabetic()).count() >= 8)
}

fn has_time_or_number(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
}

/// The summary of `turns`, or `None` when nothing in the call is worth a sentence.
/// `salience` scores a caller's sentence (its sentiment strength); `intents` are the call's.
pub fn summarise(
    turns: &[Turn<'_>],
    language: AnalysisLanguage,
    intents: &[Intent],
    salience: impl Fn(&str) -> f64,
) -> Option<String> {
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    let mut order = 0;
    for turn in turns {
        for sentence in sentences(turn.text) {
            let lower = sentence.to_lowercase().replace('’', "'");
            let mut weight = match turn.speaker {
                Speaker::Caller => {
                    let triggers = intents
                        .iter()
                        .filter(|i| {
                            !i.trigger.is_empty() && lower.contains(&i.trigger.to_lowercase())
                        })
                        .count() as f64;
                    3.0 * triggers + 2.0 * salience(sentence).abs()
                }
                Speaker::Assistant => {
                    if CONFIRMATIONS.iter().any(|w| lower.contains(w)) {
                        1.5
                    } else {
                        0.0
                    }
                }
            };
            if has_time_or_number(sentence) {
                weight += 0.5;
            }
            // The assistant's greeting and small talk carry nothing.
            if weight > 0.0 {
                candidates.push(Candidate {
                    order,
                    speaker: turn.speaker,
                    text: sentence,
                    weight,
                });
            }
            order += 1;
        }
    }
    candidates.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.order.cmp(&b.order)));
    candidates.truncate(MAX_SENTENCES);
    if candidates.is_empty() {
        return None;
    }
    candidates.sort_by_key(|c| c.order);
    let (caller, assistant) = match language {
        AnalysisLanguage::Fr => ("Client", "Assistant"),
        AnalysisLanguage::En | AnalysisLanguage::Unknown => ("Caller", "Assistant"),
    };
    let separator = if language == AnalysisLanguage::Fr {
        " : "
    } else {
        ": "
    };
    let parts: Vec<String> = candidates
        .iter()
        .map(|c| {
            let who = match c.speaker {
                Speaker::Caller => caller,
                Speaker::Assistant => assistant,
            };
            let mut text: String = c.text.chars().take(MAX_SENTENCE_CHARS).collect();
            if c.text.chars().count() > MAX_SENTENCE_CHARS {
                text.push('…');
            }
            format!("{who}{separator}{text}")
        })
        .collect();
    Some(parts.join(" "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::analysis::IntentName;
    use crate::domain::analysis::transcript::turns;

    #[test]
    fn the_request_and_the_confirmation_make_the_summary() {
        let t = turns(
            "AI: Bonjour, vous êtes bien chez nous, que puis-je pour vous ?\n\
             User: Bonjour, je voudrais prendre rendez-vous jeudi en fin de matinée.\n\
             AI: Jeudi à 11 h 30, cela vous convient ?\nUser: Parfait.\n\
             AI: C'est noté pour jeudi à 11 h 30. Bonne journée !",
        );
        let intents = [Intent {
            name: IntentName::Booking,
            confidence: 0.8,
            trigger: "prendre rendez-vous".into(),
        }];
        let summary = summarise(&t, AnalysisLanguage::Fr, &intents, |_| 0.0).unwrap();
        assert!(
            summary.starts_with("Client : Bonjour, je voudrais prendre rendez-vous"),
            "{summary}"
        );
        assert!(
            summary.contains("Assistant : C'est noté pour jeudi à 11 h 30."),
            "{summary}"
        );
        assert!(!summary.contains("que puis-je"), "{summary}");
    }

    #[test]
    fn at_most_three_sentences() {
        let text = (0..10)
            .map(|i| format!("User: Le colis numéro {i} est arrivé cassé, c'est inadmissible."))
            .collect::<Vec<_>>()
            .join("\n");
        let t = turns(&text);
        let summary = summarise(&t, AnalysisLanguage::Fr, &[], |_| 0.9).unwrap();
        assert_eq!(summary.matches("Client : ").count(), 3, "{summary}");
    }
}
