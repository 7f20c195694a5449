//! Telling French from English by their most common words. A call in another language (or
//! too short to tell) is reported as unknown rather than analysed with the wrong lexicon.

use super::AnalysisLanguage;
use crate::domain::sector::Language;

const FRENCH: [&str; 48] = [
    "le",
    "la",
    "les",
    "de",
    "des",
    "du",
    "un",
    "une",
    "et",
    "est",
    "je",
    "vous",
    "pas",
    "pour",
    "que",
    "qui",
    "avec",
    "sur",
    "mais",
    "oui",
    "non",
    "merci",
    "bonjour",
    "c'est",
    "j'ai",
    "mon",
    "ma",
    "mes",
    "votre",
    "vos",
    "nous",
    "il",
    "elle",
    "ce",
    "ça",
    "très",
    "bien",
    "au",
    "aux",
    "dans",
    "ne",
    "n'est",
    "suis",
    "avez",
    "peux",
    "voudrais",
    "d'accord",
    "rendez-vous",
];

const ENGLISH: [&str; 48] = [
    "the", "a", "an", "and", "is", "i", "you", "not", "for", "that", "with", "on", "but", "yes",
    "no", "thanks", "thank", "hello", "hi", "it's", "i'm", "my", "your", "we", "he", "she", "this",
    "it", "very", "well", "to", "of", "in", "do", "don't", "can", "could", "would", "like",
    "please", "have", "what", "when", "okay", "sure", "just", "was", "are",
];

/// Fewer recognised words than this, and the transcript is too short to tell.
const MIN_EVIDENCE: usize = 3;

/// The language of `text`: the one whose common words it uses clearly more; when the text is
/// too short to tell, `hint` (the assistant's language) if there is one.
pub fn detect(text: &str, hint: Option<Language>) -> AnalysisLanguage {
    let (mut fr, mut en, mut words) = (0usize, 0usize, 0usize);
    for word in text
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '-'))
        .filter(|w| !w.is_empty())
        .take(2000)
    {
        words += 1;
        let lower = word.to_lowercase().replace('’', "'");
        if FRENCH.contains(&lower.as_str()) {
            fr += 1;
        }
        if ENGLISH.contains(&lower.as_str()) {
            en += 1;
        }
    }
    let hinted = || match hint {
        Some(Language::Fr) => AnalysisLanguage::Fr,
        Some(Language::En) => AnalysisLanguage::En,
        None => AnalysisLanguage::Unknown,
    };
    if fr + en < MIN_EVIDENCE {
        // A few words ("Oui.", "OK, bye") cannot be told apart; a long text with none of
        // either language's common words is another language.
        return if words <= 12 {
            hinted()
        } else {
            AnalysisLanguage::Unknown
        };
    }
    // Both languages must account for a fair share of a real text in that language.
    let share = (fr.max(en) as f64) / (words as f64);
    if share < 0.08 && words > 12 {
        return AnalysisLanguage::Unknown;
    }
    if fr as f64 >= en as f64 * 1.5 {
        AnalysisLanguage::Fr
    } else if en as f64 >= fr as f64 * 1.5 {
        AnalysisLanguage::En
    } else {
        hinted()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn french_and_english_are_told_apart() {
        assert_eq!(
            detect(
                "Bonjour, je voudrais prendre rendez-vous pour une coupe.",
                None
            ),
            AnalysisLanguage::Fr
        );
        assert_eq!(
            detect(
                "Hi, I'd like to book a table for four on Friday, please.",
                None
            ),
            AnalysisLanguage::En
        );
    }

    #[test]
    fn another_language_is_unknown() {
        assert_eq!(
            detect(
                "Guten Tag, ich möchte gerne einen Termin für nächste Woche vereinbaren, wenn möglich am Donnerstag.",
                Some(Language::Fr)
            ),
            AnalysisLanguage::Unknown
        );
        assert_eq!(
            detect(
                "你好，我想预约下周四的时间。谢谢你的帮助，再见。非常感谢您的耐心等待",
                None
            ),
            AnalysisLanguage::Unknown
        );
    }

    #[test]
    fn a_few_words_follow_the_hint() {
        assert_eq!(detect("Ok.", Some(Language::En)), AnalysisLanguage::En);
        assert_eq!(detect("Ok.", None), AnalysisLanguage::Unknown);
    }
}
