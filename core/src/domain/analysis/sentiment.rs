//! Rule-based sentiment in the manner of VADER (Hutto & Gilbert, 2014), for one language's
//! [`Lexicon`]: each word's valence, raised by boosters ("très", "really") and capitals,
//! lowered by dampeners ("un peu", "slightly"), reversed by a negation within the three words
//! before it ("pas", "never"; French `ne ... pas` around the word too), phrases that mean more
//! than their words ("pas mal", "not bad"), the clause after a contrast ("mais", "but")
//! weighing three times what came before it, and exclamation marks adding emphasis.

use super::lexicon::Lexicon;

/// How much a negation scales a valence (VADER's empirical value).
const NEGATION_SCALAR: f64 = -0.74;

/// What capitals add to a word shouted among lower-case ones.
const CAPS_INCREMENT: f64 = 0.733;

/// What each exclamation mark adds, up to four of them.
const EXCLAMATION_INCREMENT: f64 = 0.292;

/// How far back boosters and negations reach, and how their effect fades with distance.
const REACH: [f64; 3] = [1.0, 0.95, 0.9];

/// VADER's normalisation constant: a raw sum of `x` maps to `x / sqrt(x² + ALPHA)`.
const ALPHA: f64 = 15.0;

/// Weights of the clauses before and after a contrast word.
const BEFORE_CONTRAST: f64 = 0.5;
const AFTER_CONTRAST: f64 = 1.5;

/// A word of a text, lower-cased, with where it stands in the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Lower-cased, curly apostrophes made straight.
    pub lower: String,
    /// Byte offsets in the original text.
    pub start: usize,
    /// End, exclusive.
    pub end: usize,
    /// Written in capitals (at least two letters).
    pub caps: bool,
}

/// French elided words that stand as words of their own ("n'", "c'", "qu'").
const ELISIONS: [&str; 12] = [
    "l", "d", "j", "m", "t", "s", "n", "c", "qu", "jusqu", "lorsqu", "puisqu",
];

/// The words of `text`: letters, digits, inner hyphens and apostrophes; a French elision
/// ("n'est") splits after its apostrophe.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut start: Option<usize> = None;
    let push = |tokens: &mut Vec<Token>, from: usize, to: usize| {
        let word = text[from..to].trim_end_matches(['-', '\'', '’']);
        if word.is_empty() {
            return;
        }
        let to = from + word.len();
        let lower = word.to_lowercase().replace('’', "'");
        let letters = word.chars().filter(|c| c.is_alphabetic()).count();
        let caps = letters >= 2 && word.chars().all(|c| !c.is_lowercase());
        if let Some(at) = lower.find('\'')
            && ELISIONS.contains(&&lower[..at])
            && at + 1 < lower.len()
        {
            // Byte offsets in `lower` match the original's up to the apostrophe, which may
            // be a curly one (3 bytes) in the original.
            let apostrophe_len = word[at..].chars().next().map_or(1, char::len_utf8);
            tokens.push(Token {
                lower: lower[..=at].to_string(),
                start: from,
                end: from + at + apostrophe_len,
                caps: false,
            });
            tokens.push(Token {
                lower: lower[at + 1..].to_string(),
                start: from + at + apostrophe_len,
                end: to,
                caps,
            });
            return;
        }
        tokens.push(Token {
            lower,
            start: from,
            end: to,
            caps,
        });
    };
    for (i, c) in text.char_indices() {
        let inner = (c == '-' || c == '\'' || c == '’') && start.is_some();
        if c.is_alphanumeric() || inner {
            start.get_or_insert(i);
        } else if let Some(from) = start.take() {
            push(&mut tokens, from, i);
        }
    }
    if let Some(from) = start {
        push(&mut tokens, from, text.len());
    }
    tokens
}

/// One part of a text's sentiment: a word or phrase and what it added.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// Its valence after boosters, negation and contrast.
    pub value: f64,
    /// Byte range in the text, including the negation or booster that changed it.
    pub start: usize,
    /// End, exclusive.
    pub end: usize,
}

/// The sentiment of a text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextScore {
    /// The sum of its contributions, unbounded.
    pub raw: f64,
    /// Each word or phrase that carried sentiment.
    pub contributions: Vec<Contribution>,
}

impl TextScore {
    /// Scales every positive contribution by `factor` (praise that does not mean it).
    pub fn discount_praise(&mut self, factor: f64) {
        for c in &mut self.contributions {
            if c.value > 0.0 {
                let cut = c.value * (1.0 - factor);
                c.value -= cut;
                self.raw -= cut;
            }
        }
    }

    /// `raw` mapped into [-1, 1].
    pub fn compound(&self) -> f64 {
        normalize(self.raw)
    }
}

/// Maps a raw sum into [-1, 1].
pub fn normalize(raw: f64) -> f64 {
    let score = raw / (raw * raw + ALPHA).sqrt();
    score.clamp(-1.0, 1.0)
}

/// Scores `text`, sentence by sentence. A sentence that opens with a contrast ("Mais on a
/// attendu une heure.") weighs the sentences before it down, as a contrast inside a sentence
/// does.
pub fn score(text: &str, lexicon: &Lexicon) -> TextScore {
    let mut total = TextScore::default();
    let mut from = 0;
    let sentence = |from: usize, to: usize, total: &mut TextScore| {
        let opens_with_contrast = tokenize(&text[from..to])
            .first()
            .is_some_and(|t| lexicon.contrasts.contains(t.lower.as_str()));
        if opens_with_contrast && !total.contributions.is_empty() {
            for c in &mut total.contributions {
                c.value *= BEFORE_CONTRAST;
            }
            total.raw *= BEFORE_CONTRAST;
        }
        score_sentence(text, from, to, lexicon, total);
    };
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | ';' | '…' | '\n') {
            let end = i + c.len_utf8();
            sentence(from, end, &mut total);
            from = end;
        }
    }
    if from < text.len() {
        sentence(from, text.len(), &mut total);
    }
    total
}

fn phrase_at(tokens: &[Token], i: usize, lexicon: &Lexicon) -> Option<(usize, f64)> {
    let candidates = lexicon.phrases.get(&tokens[i].lower)?;
    candidates.iter().find_map(|(words, value)| {
        let fits = tokens.len() >= i + words.len()
            && words.iter().zip(&tokens[i..]).all(|(w, t)| *w == t.lower);
        fits.then_some((words.len(), *value))
    })
}

fn is_negator(tokens: &[Token], k: usize, lexicon: &Lexicon) -> bool {
    let word = tokens[k].lower.as_str();
    if lexicon.negators.contains(word) {
        return true;
    }
    // French "plus" and "rien" negate only after "ne": "ce n'est plus possible", not "plus rapide".
    lexicon.weak_negators.contains(word)
        && tokens[..k]
            .iter()
            .rev()
            .take(4)
            .any(|t| lexicon.negation_particles.contains(t.lower.as_str()))
}

fn score_sentence(text: &str, from: usize, to: usize, lexicon: &Lexicon, total: &mut TextScore) {
    let sentence = &text[from..to];
    let mut tokens = tokenize(sentence);
    if tokens.is_empty() {
        return;
    }
    for t in &mut tokens {
        t.start += from;
        t.end += from;
    }
    let shouting = tokens.iter().all(|t| t.caps);
    let contrast = tokens.iter().enumerate().rev().find_map(|(k, t)| {
        let par_contre = t.lower == "contre" && k > 0 && tokens[k - 1].lower == "par";
        (lexicon.contrasts.contains(t.lower.as_str()) || par_contre).then_some(k)
    });
    let mut parts: Vec<(usize, Contribution)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (len, base, is_phrase) = match phrase_at(&tokens, i, lexicon) {
            Some((len, value)) => (len, value, true),
            None => {
                let word = tokens[i].lower.as_str();
                let next_has_valence = tokens.get(i + 1).is_some_and(|n| {
                    lexicon.valence(&n.lower).is_some() || lexicon.phrases.contains_key(&n.lower)
                });
                if (lexicon.boosters.contains_key(word) && next_has_valence)
                    || is_negator(&tokens, i, lexicon)
                    || lexicon.negation_particles.contains(word)
                {
                    i += 1;
                    continue;
                }
                match lexicon.valence(word) {
                    Some(v) if v != 0.0 => (1, v, false),
                    _ => {
                        i += 1;
                        continue;
                    }
                }
            }
        };
        let mut value = base;
        let mut start = i;
        if !is_phrase && tokens[i].caps && !shouting {
            value += CAPS_INCREMENT * value.signum();
        }
        for (distance, fade) in REACH.iter().enumerate() {
            let Some(k) = i.checked_sub(distance + 1) else {
                break;
            };
            if let Some(boost) = lexicon.boosters.get(tokens[k].lower.as_str()) {
                let mut boost = boost * fade;
                if tokens[k].caps && !shouting {
                    boost += CAPS_INCREMENT * boost.signum();
                }
                value += boost * value.signum();
                start = start.min(k);
            }
        }
        if !is_phrase {
            let before = (1..=REACH.len())
                .filter_map(|d| i.checked_sub(d))
                .find(|&k| contrast != Some(k) && is_negator(&tokens, k, lexicon));
            // French also negates around the word: "je ne le recommande pas".
            let around = i > 0
                && tokens[i.saturating_sub(2)..i]
                    .iter()
                    .any(|t| lexicon.negation_particles.contains(t.lower.as_str()))
                && (i + 1..(i + 3).min(tokens.len())).any(|k| is_negator(&tokens, k, lexicon));
            if let Some(k) = before {
                value *= NEGATION_SCALAR;
                start = start.min(k);
            } else if around {
                value *= NEGATION_SCALAR;
            }
        }
        parts.push((
            i,
            Contribution {
                value,
                start: tokens[start].start,
                end: tokens[i + len - 1].end,
            },
        ));
        i += len;
    }
    if let Some(c) = contrast {
        for (k, part) in &mut parts {
            part.value *= if *k < c {
                BEFORE_CONTRAST
            } else {
                AFTER_CONTRAST
            };
        }
    }
    let mut sum: f64 = parts.iter().map(|(_, p)| p.value).sum();
    let exclamations = sentence.matches('!').count().min(4) as f64;
    if sum != 0.0 {
        sum += exclamations * EXCLAMATION_INCREMENT * sum.signum();
    }
    total.raw += sum;
    total
        .contributions
        .extend(parts.into_iter().map(|(_, p)| p));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::analysis::AnalysisLanguage;

    fn fr(text: &str) -> f64 {
        score(text, Lexicon::of(AnalysisLanguage::Fr)).compound()
    }

    fn en(text: &str) -> f64 {
        score(text, Lexicon::of(AnalysisLanguage::En)).compound()
    }

    #[test]
    fn elisions_split_and_offsets_point_into_the_text() {
        let text = "Ce n’est PAS normal";
        let tokens = tokenize(text);
        let words: Vec<&str> = tokens.iter().map(|t| t.lower.as_str()).collect();
        assert_eq!(words, ["ce", "n'", "est", "pas", "normal"]);
        assert_eq!(&text[tokens[2].start..tokens[2].end], "est");
        assert!(tokens[3].caps);
    }

    #[test]
    fn negation_reverses_a_word() {
        assert!(fr("Je suis content.") > 0.3);
        assert!(fr("Je ne suis pas content.") < -0.3);
        assert!(en("I am happy.") > 0.3);
        assert!(en("I am not happy.") < -0.3);
        assert!(fr("Je ne le recommande pas.") < 0.0);
    }

    #[test]
    fn phrases_mean_more_than_their_words() {
        assert!(fr("C'est pas mal du tout.") > 0.3);
        assert!(en("Not bad at all.") > 0.3);
        assert!(fr("C'est pas terrible.") < -0.3);
        assert!(en("No problem.") >= 0.0);
    }

    #[test]
    fn french_plus_negates_only_after_ne() {
        assert!(fr("Ce n'est plus agréable.") < 0.0);
        assert!(fr("Encore plus agréable.") > 0.0);
    }

    #[test]
    fn boosters_dampeners_capitals_and_exclamations_change_intensity() {
        assert!(fr("C'est très bien.") > fr("C'est bien."));
        assert!(en("It was slightly annoying.") > en("It was annoying."));
        assert!(en("This is UNACCEPTABLE, really") < en("This is unacceptable, really"));
        assert!(en("Great!!!") > en("Great."));
    }

    #[test]
    fn the_clause_after_a_contrast_weighs_more() {
        assert!(fr("La coupe est jolie mais j'ai attendu une heure, c'est inadmissible.") < 0.0);
        assert!(en("It was a bit expensive but honestly wonderful.") > 0.0);
    }
}
