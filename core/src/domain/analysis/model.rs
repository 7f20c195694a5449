//! A linear model over what the lexicon and the patterns found, and over the call's own
//! words: one multinomial logistic regression per language for the call's sentiment and one
//! for its main intent. The lexicon and the patterns cannot weigh a polite "merci, au revoir"
//! against real delight, or tell an indirect "je ne pourrai pas être là jeudi" from a booking;
//! a model trained on the tuning part of the evaluation set learns those weights.
//!
//! The weights are data (`core/data/analysis/model/{fr,en}.tsv`), written by
//! `zencall analysis train` from the tuning split and loaded once. A model without weights
//! leaves the lexicon's and the patterns' answers as they are.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use super::sentiment::{Token, tokenize};
use super::{AnalysisLanguage, Intent, IntentName, SentimentLabel};
use crate::domain::sector::Sector;

const MODEL_FR: &str = include_str!("../../../data/analysis/model/fr.tsv");
const MODEL_EN: &str = include_str!("../../../data/analysis/model/en.tsv");

/// How many tokens after a negator read as negated ("pas vraiment content").
const NEGATION_REACH: usize = 3;

/// The key of a feature: a 64-bit FNV-1a hash of its name.
pub fn key(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A hasher for keys that are hashes already: it passes them through.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*byte) ^ (self.0 >> 56);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by feature keys.
pub type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// One feature of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// [`key`] of its name.
    pub key: u64,
    /// Its value (1 for a word that is there).
    pub value: f32,
    /// For the caller's words: their byte range in the caller's text, to quote them.
    pub span: Option<(usize, usize)>,
}

/// The features of one call; with their names when they are kept for training.
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// Each feature once.
    pub items: Vec<Feature>,
    /// Names by key, only when built with [`Features::named`].
    pub names: Option<KeyMap<String>>,
    seen: KeyMap<()>,
    buffer: String,
}

impl Features {
    /// Features that keep their names (for training).
    pub fn named() -> Self {
        Self {
            names: Some(KeyMap::default()),
            ..Self::default()
        }
    }

    /// Adds `value` to the feature `prefix` + `parts` joined by spaces.
    fn add(&mut self, prefix: &str, parts: &[&str], value: f32, span: Option<(usize, usize)>) {
        self.buffer.clear();
        self.buffer.push_str(prefix);
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                self.buffer.push(' ');
            }
            self.buffer.push_str(part);
        }
        let key = key(&self.buffer);
        if let Some(names) = &mut self.names {
            names.entry(key).or_insert_with(|| self.buffer.clone());
        }
        // A word said twice counts once: the model reads presence.
        if self.seen.insert(key, ()).is_none() {
            self.items.push(Feature { key, value, span });
        }
    }

    /// Adds a numeric feature.
    pub fn number(&mut self, name: &str, value: f64) {
        if value != 0.0 {
            self.add(name, &[], value as f32, None);
        }
    }

    /// Adds the words and word pairs of `text` under `prefix`; a word within reach after a
    /// negator is read as negated (`prefix` + `not `). Spans are kept when `quote` is set.
    pub fn words(
        &mut self,
        prefix: &str,
        text: &str,
        negators: &dyn Fn(&str) -> bool,
        quote: bool,
    ) {
        let tokens: Vec<Token> = tokenize(text);
        let negated = format!("{prefix}not ");
        let mut negated_until = 0;
        for (i, token) in tokens.iter().enumerate() {
            let word = token.lower.as_str();
            let span = quote.then_some((token.start, token.end));
            if negators(word) {
                negated_until = i + NEGATION_REACH + 1;
            } else if i < negated_until {
                self.add(&negated, &[word], 1.0, span);
            }
            self.add(prefix, &[word], 1.0, span);
            if let Some(next) = tokens.get(i + 1) {
                let span = quote.then_some((token.start, next.end));
                self.add(prefix, &[word, next.lower.as_str()], 1.0, span);
            }
        }
    }

    /// The name of a feature, when names are kept.
    pub fn name(&self, key: u64) -> Option<&str> {
        self.names.as_ref()?.get(&key).map(String::as_str)
    }
}

/// What the lexicon and the patterns made of a call, as the model's numeric inputs.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The lexicon's score of the whole call, in [-1, 1].
    pub lexicon_score: f64,
    /// The positive and the negative parts of the lexicon's sum, each mapped into [-1, 1].
    pub positive: f64,
    /// Negative.
    pub negative: f64,
    /// The score of the caller's first and last turns, the lowest and the highest.
    pub first_turn: f64,
    /// Last.
    pub last_turn: f64,
    /// Lowest.
    pub lowest_turn: f64,
    /// Highest.
    pub highest_turn: f64,
    /// The share of the caller's turns that complain.
    pub complaining_turns: f64,
    /// The caller's turns.
    pub caller_turns: usize,
    /// The patterns' intents, most confident first.
    pub intents: Vec<Intent>,
}

/// Everything the model reads of a call.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The language.
    pub language: AnalysisLanguage,
    /// The assistant's sector.
    pub sector: Option<Sector>,
    /// The caller's turns, joined by line breaks.
    pub caller_text: &'a str,
    /// The caller's first turn.
    pub first_turn: &'a str,
    /// The caller's last turn.
    pub last_turn: &'a str,
    /// The assistant's turns, joined.
    pub assistant_text: &'a str,
}

/// The features of a call; `named` keeps their names (for training).
pub fn features(
    call: &Call<'_>,
    evidence: &Evidence,
    negators: &dyn Fn(&str) -> bool,
    named: bool,
) -> Features {
    let mut f = if named {
        Features::named()
    } else {
        Features::default()
    };
    f.number("bias", 1.0);
    f.words("w:", call.caller_text, negators, true);
    f.words("first:", call.first_turn, negators, false);
    f.words("last:", call.last_turn, negators, false);
    f.words("ai:", call.assistant_text, negators, false);
    if let Some(sector) = call.sector {
        f.number(&format!("sector:{}", sector.as_str()), 1.0);
    }
    f.number("x:lexicon", evidence.lexicon_score);
    f.number("x:positive", evidence.positive);
    f.number("x:negative", evidence.negative);
    f.number("x:first", evidence.first_turn);
    f.number("x:last", evidence.last_turn);
    f.number("x:lowest", evidence.lowest_turn);
    f.number("x:highest", evidence.highest_turn);
    f.number("x:complaining", evidence.complaining_turns);
    f.number("x:turns", (1.0 + evidence.caller_turns as f64).ln() / 3.0);
    let exclamations = call.caller_text.matches('!').count().min(4);
    f.number("x:exclamations", exclamations as f64 / 4.0);
    let questions = call.caller_text.matches('?').count().min(4);
    f.number("x:questions", questions as f64 / 4.0);
    for (i, intent) in evidence.intents.iter().enumerate() {
        f.number(&format!("rule:{}", intent.name.as_str()), intent.confidence);
        if i == 0 {
            f.number(&format!("rule-first:{}", intent.name.as_str()), 1.0);
        }
    }
    f
}

/// One model's classes and weights.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// Its classes, in the order of each weight row.
    pub classes: Vec<String>,
    /// One row of weights per feature key.
    pub weights: KeyMap<Vec<f32>>,
    /// The feature names, by key (kept from the file, to write it back and explain).
    pub names: KeyMap<String>,
}

impl Head {
    /// A head with no weights.
    pub fn new(classes: Vec<String>) -> Self {
        Self {
            classes,
            ..Self::default()
        }
    }

    /// Whether it has learnt anything.
    pub fn is_trained(&self) -> bool {
        !self.weights.is_empty()
    }

    /// The probability of each class.
    pub fn probabilities(&self, features: &Features) -> Vec<f64> {
        let mut logits = vec![0.0f64; self.classes.len()];
        for feature in &features.items {
            if let Some(row) = self.weights.get(&feature.key) {
                for (logit, w) in logits.iter_mut().zip(row) {
                    *logit += f64::from(*w) * f64::from(feature.value);
                }
            }
        }
        softmax(&mut logits);
        logits
    }

    /// The caller's words that weigh most for `class`, as said.
    pub fn strongest_words<'a>(
        &self,
        class: usize,
        features: &Features,
        caller_text: &'a str,
    ) -> Option<&'a str> {
        features
            .items
            .iter()
            .filter_map(|f| {
                let (start, end) = f.span?;
                let w = self.weights.get(&f.key)?.get(class)?;
                (*w > 0.0).then_some((*w, start, end))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .and_then(|(_, start, end)| caller_text.get(start..end))
    }
}

/// The index of the largest value (the first of equal ones).
pub fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map_or(0, |(i, _)| i)
}

/// Turns logits into probabilities in place.
pub fn softmax(logits: &mut [f64]) {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for l in logits.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    for l in logits.iter_mut() {
        *l /= sum;
    }
}

/// A language's model: sentiment and main intent.
#[derive(Debug, Clone)]
pub struct Model {
    /// Positive, neutral, negative.
    pub sentiment: Head,
    /// The nine intents.
    pub intent: Head,
    /// What the file says about how it was trained.
    pub provenance: Vec<String>,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            sentiment: Head::new(
                SentimentLabel::ALL
                    .iter()
                    .map(|l| l.as_str().to_string())
                    .collect(),
            ),
            intent: Head::new(
                IntentName::ALL
                    .iter()
                    .map(|i| i.as_str().to_string())
                    .collect(),
            ),
            provenance: Vec::new(),
        }
    }
}

impl Model {
    /// The shipped model of `language` (English for an unknown one), parsed once.
    pub fn of(language: AnalysisLanguage) -> &'static Model {
        static FR: OnceLock<Model> = OnceLock::new();
        static EN: OnceLock<Model> = OnceLock::new();
        let parse = |text: &str, file: &str| {
            Model::parse(text)
                .unwrap_or_else(|e| panic!("the shipped model {file} is invalid: {e}"))
        };
        match language {
            AnalysisLanguage::Fr => FR.get_or_init(|| parse(MODEL_FR, "fr.tsv")),
            AnalysisLanguage::En | AnalysisLanguage::Unknown => {
                EN.get_or_init(|| parse(MODEL_EN, "en.tsv"))
            }
        }
    }

    /// Reads a model file: `#` comment lines, then for each head a `[name]` line with its
    /// classes and one line per feature, its name and one weight per class, tab-separated.
    pub fn parse(text: &str) -> Result<Model, String> {
        let mut model = Model::default();
        let mut current: Option<&str> = None;
        for (n, line) in text.lines().enumerate() {
            let line_no = n + 1;
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                model.provenance.push(comment.trim().to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let (name, classes) = rest
                    .split_once(']')
                    .ok_or_else(|| format!("line {line_no}: a head opens with [name]"))?;
                let classes: Vec<String> = classes.split_whitespace().map(str::to_string).collect();
                let head = match name {
                    "sentiment" => &model.sentiment,
                    "intent" => &model.intent,
                    other => return Err(format!("line {line_no}: unknown head {other}")),
                };
                if classes != head.classes {
                    return Err(format!(
                        "line {line_no}: the {name} head's classes are {:?}, expected {:?}",
                        classes, head.classes
                    ));
                }
                current = Some(if name == "sentiment" {
                    "sentiment"
                } else {
                    "intent"
                });
                continue;
            }
            let head = match current {
                Some("sentiment") => &mut model.sentiment,
                Some(_) => &mut model.intent,
                None => return Err(format!("line {line_no}: a weight before any [head]")),
            };
            let mut fields = line.split('\t');
            let name = fields.next().unwrap_or_default();
            let row: Vec<f32> = fields
                .map(|w| w.parse::<f32>())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("line {line_no}: {e}"))?;
            if row.len() != head.classes.len() || row.iter().any(|w| !w.is_finite()) {
                return Err(format!(
                    "line {line_no}: {name} needs {} finite weights",
                    head.classes.len()
                ));
            }
            let key = key(name);
            head.names.insert(key, name.to_string());
            head.weights.insert(key, row);
        }
        Ok(model)
    }

    /// Writes the model in the format [`Model::parse`] reads, features sorted by name.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for line in &self.provenance {
            let _ = writeln!(out, "# {line}");
        }
        for (name, head) in [("sentiment", &self.sentiment), ("intent", &self.intent)] {
            let _ = writeln!(out, "[{name}] {}", head.classes.join(" "));
            let mut rows: Vec<(&String, &Vec<f32>)> = head
                .weights
                .iter()
                .filter_map(|(k, row)| Some((head.names.get(k)?, row)))
                .collect();
            rows.sort_by(|a, b| a.0.cmp(b.0));
            for (feature, row) in rows {
                out.push_str(feature);
                for w in row {
                    if w.abs() < 5e-4 {
                        out.push_str("\t0");
                    } else {
                        let _ = write!(out, "\t{w:.3}");
                    }
                }
                out.push('\n');
            }
        }
        out
    }
}

/// How a head is trained.
#[derive(Debug, Clone, Copy)]
pub struct Training {
    /// Passes over the examples.
    pub epochs: usize,
    /// AdaGrad's learning rate.
    pub learning_rate: f64,
    /// L2 penalty.
    pub l2: f64,
    /// Weights smaller than this are dropped from the written model.
    pub prune_below: f64,
    /// Features seen in fewer training examples than this are left out.
    pub min_examples: usize,
}

impl Default for Training {
    fn default() -> Self {
        Self {
            epochs: 30,
            learning_rate: 0.2,
            l2: 1e-3,
            prune_below: 1e-2,
            min_examples: 2,
        }
    }
}

/// Trains a head on `(features, class)` pairs, in their order (deterministic): multinomial
/// logistic regression by AdaGrad with an L2 penalty.
pub fn train(classes: Vec<String>, examples: &[(&Features, usize)], training: Training) -> Head {
    let k = classes.len();
    let mut weights: KeyMap<Vec<f64>> = KeyMap::default();
    let mut squares: KeyMap<Vec<f64>> = KeyMap::default();
    let mut names: KeyMap<String> = KeyMap::default();
    let mut seen_in: KeyMap<usize> = KeyMap::default();
    for (features, _) in examples {
        for f in &features.items {
            *seen_in.entry(f.key).or_default() += 1;
        }
    }
    for (features, _) in examples {
        for f in &features.items {
            if seen_in[&f.key] < training.min_examples {
                continue;
            }
            weights.entry(f.key).or_insert_with(|| vec![0.0; k]);
            squares.entry(f.key).or_insert_with(|| vec![1e-8; k]);
            if let Some(name) = features.name(f.key) {
                names.entry(f.key).or_insert_with(|| name.to_string());
            }
        }
    }
    let mut logits = vec![0.0; k];
    for _ in 0..training.epochs {
        for (features, class) in examples {
            logits.iter_mut().for_each(|l| *l = 0.0);
            for f in &features.items {
                let Some(row) = weights.get(&f.key) else {
                    continue;
                };
                for (l, w) in logits.iter_mut().zip(row) {
                    *l += w * f64::from(f.value);
                }
            }
            softmax(&mut logits);
            for f in &features.items {
                let (Some(row), Some(square)) = (weights.get_mut(&f.key), squares.get_mut(&f.key))
                else {
                    continue;
                };
                for c in 0..k {
                    let target = if c == *class { 1.0 } else { 0.0 };
                    let gradient = (logits[c] - target) * f64::from(f.value) + training.l2 * row[c];
                    square[c] += gradient * gradient;
                    row[c] -= training.learning_rate * gradient / square[c].sqrt();
                }
            }
        }
    }
    let weights = weights
        .into_iter()
        .filter(|(_, row)| row.iter().any(|w| w.abs() >= training.prune_below))
        .map(|(key, row)| (key, row.into_iter().map(|w| w as f32).collect()))
        .collect::<KeyMap<Vec<f32>>>();
    names.retain(|key, _| weights.contains_key(key));
    Head {
        classes,
        weights,
        names,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn no_negators(_: &str) -> bool {
        false
    }

    fn words(text: &str) -> Features {
        let mut f = Features::named();
        f.number("bias", 1.0);
        f.words("w:", text, &no_negators, true);
        f
    }

    #[test]
    fn a_head_learns_words_and_quotes_the_strongest() {
        let texts = [
            ("super merci c'est parfait", 0),
            ("parfait génial", 0),
            ("bonjour je voudrais une table", 1),
            ("une table pour deux", 1),
            ("c'est inadmissible je suis furieux", 2),
            ("furieux et déçu", 2),
        ];
        let features: Vec<Features> = texts.iter().map(|(t, _)| words(t)).collect();
        let examples: Vec<(&Features, usize)> = features
            .iter()
            .zip(texts.iter())
            .map(|(f, (_, c))| (f, *c))
            .collect();
        let classes: Vec<String> = ["positive", "neutral", "negative"]
            .map(String::from)
            .to_vec();
        let head = train(classes, &examples, Training::default());
        let unseen = words("vraiment furieux");
        let p = head.probabilities(&unseen);
        assert!(p[2] > p[0] && p[2] > p[1], "{p:?}");
        assert_eq!(
            head.strongest_words(2, &unseen, "vraiment furieux"),
            Some("furieux")
        );
    }

    #[test]
    fn a_model_reads_back_what_it_wrote() {
        let mut model = Model::default();
        model.provenance.push("test".into());
        let name = "w:pas mal";
        model.sentiment.names.insert(key(name), name.into());
        model
            .sentiment
            .weights
            .insert(key(name), vec![0.5, -0.25, -0.25]);
        let text = model.to_text();
        let back = Model::parse(&text).unwrap();
        assert_eq!(back.sentiment.weights[&key(name)], vec![0.5, -0.25, -0.25]);
        assert_eq!(back.provenance, ["test"]);
        assert!(!back.intent.is_trained());
    }

    #[test]
    fn a_broken_model_file_says_where() {
        let err =
            Model::parse("[sentiment] positive neutral negative\nw:bien\t1\t2\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = Model::parse("[mood] a b\n").unwrap_err();
        assert!(err.contains("unknown head"), "{err}");
    }

    #[test]
    fn negated_words_are_features_of_their_own() {
        let negators = |w: &str| w == "pas";
        let mut f = Features::named();
        f.words("w:", "pas content", &negators, false);
        let names: Vec<&str> = f.items.iter().filter_map(|i| f.name(i.key)).collect();
        assert!(names.contains(&"w:not content"), "{names:?}");
        assert!(names.contains(&"w:pas content"), "{names:?}");
    }

    #[test]
    fn the_shipped_models_parse() {
        for language in [AnalysisLanguage::Fr, AnalysisLanguage::En] {
            let model = Model::of(language);
            assert_eq!(model.sentiment.classes.len(), 3);
            assert_eq!(model.intent.classes.len(), 9);
        }
    }
}
