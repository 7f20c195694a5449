//! Sentiment lexicons, loaded once per language: the vendored VADER lexicons (English: C.J.
//! Hutto's `vader_lexicon.txt`; French: the `fr_lexicon.txt` of `vaderSentiment-fr`, both MIT,
//! see `core/data/analysis/lexicons/`), overlaid with our own phone-call lexicon
//! (`zencall_{en,fr}.txt`: words and phrases of calls to small businesses, and corrections
//! where the general lexicon misreads a call), plus each language's negators, boosters,
//! dampeners and contrast words.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::AnalysisLanguage;

const VADER_EN: &str = include_str!("../../../data/analysis/lexicons/vader_lexicon_en.txt");
const VADER_FR: &str = include_str!("../../../data/analysis/lexicons/vader_lexicon_fr.txt");
const ZENCALL_EN: &str = include_str!("../../../data/analysis/lexicons/zencall_en.txt");
const ZENCALL_FR: &str = include_str!("../../../data/analysis/lexicons/zencall_fr.txt");

/// A booster's added intensity, as VADER measured it.
pub const BOOST: f64 = 0.293;

/// A language's lexicon and its rules' word lists.
#[derive(Debug)]
pub struct Lexicon {
    /// Single words and their valence, from -4 to 4.
    pub words: HashMap<String, f64>,
    /// Phrases of several words (as tokens) and their valence; they win over their words.
    pub phrases: HashMap<String, Vec<(Vec<String>, f64)>>,
    /// Words that negate what follows.
    pub negators: HashSet<&'static str>,
    /// Negators that only negate with a `ne` before them (French `plus`, `rien`).
    pub weak_negators: HashSet<&'static str>,
    /// Intensity modifiers: boosters are positive, dampeners negative.
    pub boosters: HashMap<&'static str, f64>,
    /// Words after which a clause weighs more than what came before it.
    pub contrasts: HashSet<&'static str>,
    /// Words that make a negator apply (French `ne`, elided `n'`).
    pub negation_particles: HashSet<&'static str>,
}

impl Lexicon {
    /// The lexicon of `language` (English for an unknown one), built on first use.
    pub fn of(language: AnalysisLanguage) -> &'static Lexicon {
        static EN: OnceLock<Lexicon> = OnceLock::new();
        static FR: OnceLock<Lexicon> = OnceLock::new();
        match language {
            AnalysisLanguage::Fr => FR.get_or_init(french),
            AnalysisLanguage::En | AnalysisLanguage::Unknown => EN.get_or_init(english),
        }
    }

    /// The valence of a word, trying its singular and masculine forms when it is not listed.
    pub fn valence(&self, word: &str) -> Option<f64> {
        if let Some(v) = self.words.get(word) {
            return Some(*v);
        }
        for suffix in ["s", "x", "e", "es"] {
            if let Some(stem) = word.strip_suffix(suffix)
                && stem.chars().count() >= 4
                && let Some(v) = self.words.get(stem)
            {
                return Some(*v);
            }
        }
        None
    }
}

/// Splits a lexicon term into tokens the way transcripts are split.
fn term_tokens(term: &str) -> Vec<String> {
    super::sentiment::tokenize(term)
        .into_iter()
        .map(|t| t.lower)
        .collect()
}

fn build(
    vendored: impl Iterator<Item = (String, f64)>,
    ours: &str,
    negators: &[&'static str],
    weak_negators: &[&'static str],
    boosters: &[(&'static str, f64)],
    contrasts: &[&'static str],
    negation_particles: &[&'static str],
) -> Lexicon {
    let mut words: HashMap<String, f64> = vendored.collect();
    let mut phrases: HashMap<String, Vec<(Vec<String>, f64)>> = HashMap::new();
    for line in ours.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((term, value)) = line.rsplit_once('\t') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let tokens = term_tokens(term.trim());
        match tokens.len() {
            0 => {}
            1 => {
                words.insert(tokens[0].clone(), value);
            }
            _ => phrases
                .entry(tokens[0].clone())
                .or_default()
                .push((tokens, value)),
        }
    }
    // Longest phrases first, so "pas mal du tout" wins over "pas mal".
    for list in phrases.values_mut() {
        list.sort_by_key(|(tokens, _)| std::cmp::Reverse(tokens.len()));
    }
    Lexicon {
        words,
        phrases,
        negators: negators.iter().copied().collect(),
        weak_negators: weak_negators.iter().copied().collect(),
        boosters: boosters.iter().copied().collect(),
        contrasts: contrasts.iter().copied().collect(),
        negation_particles: negation_particles.iter().copied().collect(),
    }
}

fn english() -> Lexicon {
    // `word<TAB>mean<TAB>sd<TAB>ratings`
    let vendored = VADER_EN.lines().filter_map(|line| {
        let mut fields = line.split('\t');
        let word = fields.next()?.trim();
        let value = fields.next()?.trim().parse::<f64>().ok()?;
        Some((word.to_lowercase(), value))
    });
    build(
        vendored,
        ZENCALL_EN,
        &[
            "not",
            "no",
            "never",
            "nobody",
            "nothing",
            "none",
            "neither",
            "nor",
            "nowhere",
            "without",
            "cannot",
            "can't",
            "don't",
            "doesn't",
            "didn't",
            "isn't",
            "aren't",
            "wasn't",
            "weren't",
            "won't",
            "wouldn't",
            "haven't",
            "hasn't",
            "hadn't",
            "couldn't",
            "shouldn't",
            "ain't",
            "dont",
            "cant",
            "wont",
            "isnt",
            "didnt",
            "doesnt",
            "hardly",
            "barely",
        ],
        &[],
        &[
            ("absolutely", BOOST),
            ("amazingly", BOOST),
            ("awfully", BOOST),
            ("completely", BOOST),
            ("deeply", BOOST),
            ("especially", BOOST),
            ("extremely", BOOST),
            ("fully", BOOST),
            ("greatly", BOOST),
            ("highly", BOOST),
            ("hugely", BOOST),
            ("incredibly", BOOST),
            ("most", BOOST),
            ("particularly", BOOST),
            ("really", BOOST),
            ("so", BOOST),
            ("terribly", BOOST),
            ("thoroughly", BOOST),
            ("totally", BOOST),
            ("truly", BOOST),
            ("utterly", BOOST),
            ("very", BOOST),
            ("super", BOOST),
            ("too", BOOST),
            ("such", BOOST),
            ("seriously", BOOST),
            ("genuinely", BOOST),
            ("properly", BOOST),
            ("massively", BOOST),
            ("almost", -BOOST),
            ("barely", -BOOST),
            ("fairly", -BOOST),
            ("hardly", -BOOST),
            ("kind", -BOOST),
            ("kinda", -BOOST),
            ("less", -BOOST),
            ("little", -BOOST),
            ("marginally", -BOOST),
            ("partly", -BOOST),
            ("pretty", -BOOST),
            ("quite", -BOOST),
            ("rather", -BOOST),
            ("slightly", -BOOST),
            ("somewhat", -BOOST),
            ("sort", -BOOST),
            ("bit", -BOOST),
        ],
        &["but", "however", "although", "though", "yet", "except"],
        &[],
    )
}

fn french() -> Lexicon {
    // `word->valence`
    let vendored = VADER_FR.lines().filter_map(|line| {
        let (word, value) = line.rsplit_once("->")?;
        let value = value.trim().parse::<f64>().ok()?;
        let word = word.trim().to_lowercase().replace('’', "'");
        (!word.is_empty()).then_some((word, value))
    });
    build(
        vendored,
        ZENCALL_FR,
        &[
            "pas",
            "jamais",
            "aucun",
            "aucune",
            "aucunement",
            "nullement",
            "sans",
            "ni",
            "guère",
        ],
        &["plus", "rien"],
        &[
            ("absolument", BOOST),
            ("beaucoup", BOOST),
            ("carrément", BOOST),
            ("complètement", BOOST),
            ("entièrement", BOOST),
            ("extrêmement", BOOST),
            ("franchement", BOOST),
            ("hyper", BOOST),
            ("incroyablement", BOOST),
            ("infiniment", BOOST),
            ("particulièrement", BOOST),
            ("profondément", BOOST),
            ("si", BOOST),
            ("sincèrement", BOOST),
            ("super", BOOST),
            ("tellement", BOOST),
            ("terriblement", BOOST),
            ("totalement", BOOST),
            ("trop", BOOST),
            ("très", BOOST),
            ("ultra", BOOST),
            ("vachement", BOOST),
            ("vraiment", BOOST),
            ("énormément", BOOST),
            ("grandement", BOOST),
            ("assez", -BOOST),
            ("légèrement", -BOOST),
            ("moins", -BOOST),
            ("peu", -BOOST),
            ("plutôt", -BOOST),
            ("presque", -BOOST),
            ("quasiment", -BOOST),
            ("relativement", -BOOST),
            ("moyennement", -BOOST),
        ],
        &[
            "mais",
            "cependant",
            "pourtant",
            "toutefois",
            "néanmoins",
            "sauf",
        ],
        &["ne", "n'"],
    )
}
