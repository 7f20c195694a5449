//! The transcript-analysis benchmark (`zencall bench analysis`): the labelled evaluation set
//! (`core/data/analysis/evaluation/*.jsonl`, written for the project: six sectors,
//! hard cases) run through an analyzer, with sentiment macro-F1, intent accuracy, the
//! confusion matrix and, for the offline analyzer, transcripts per second on one core.
//!
//! The set is split once and for all by id: every third transcript (ids 1, 4, 7, ...) is
//! for tuning the lexicons and rules, the others for reporting, so the reported figures come
//! from transcripts the rules were not adjusted on.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use zencall_core::domain::analysis::{
    AnalysisInput, IntentName, OfflineAnalyzer, SentimentLabel, TranscriptAnalysis,
};
use zencall_core::domain::sector::{Language, Sector};
use zencall_providers::TranscriptAnalyzer;

/// The evaluation set's files, written in parts.
const SET: [(&str, &str); 9] = [
    (
        "fr.jsonl",
        include_str!("../core/data/analysis/evaluation/fr.jsonl"),
    ),
    (
        "fr_c.jsonl",
        include_str!("../core/data/analysis/evaluation/fr_c.jsonl"),
    ),
    (
        "fr_d.jsonl",
        include_str!("../core/data/analysis/evaluation/fr_d.jsonl"),
    ),
    (
        "fr_e.jsonl",
        include_str!("../core/data/analysis/evaluation/fr_e.jsonl"),
    ),
    (
        "fr_f.jsonl",
        include_str!("../core/data/analysis/evaluation/fr_f.jsonl"),
    ),
    (
        "en_a.jsonl",
        include_str!("../core/data/analysis/evaluation/en_a.jsonl"),
    ),
    (
        "en_b.jsonl",
        include_str!("../core/data/analysis/evaluation/en_b.jsonl"),
    ),
    (
        "en_c.jsonl",
        include_str!("../core/data/analysis/evaluation/en_c.jsonl"),
    ),
    (
        "en_d.jsonl",
        include_str!("../core/data/analysis/evaluation/en_d.jsonl"),
    ),
];

/// Which part of the set to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// The transcripts the rules were tuned on.
    Tune,
    /// The held-out transcripts (the reported figures).
    Test,
    /// Both.
    All,
}

/// One labelled transcript.
#[derive(Debug, Clone, Deserialize)]
pub struct Example {
    /// `fr-001`.
    pub id: String,
    /// `fr` or `en`.
    pub language: String,
    /// The assistant's sector.
    pub sector: String,
    /// The caller's overall sentiment.
    pub sentiment: String,
    /// The caller's intents, the main one first.
    pub intents: Vec<String>,
    /// Why the example is hard, if it is.
    pub hard_case: Option<String>,
    /// `AI:` and `User:` lines.
    pub transcript: String,
}

impl Example {
    /// Whether the example belongs to the tuning part.
    pub fn is_tuning(&self) -> bool {
        let number: u32 = self
            .id
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        !number.is_multiple_of(3)
    }

    /// What the analyzer is given for this example.
    pub fn input(&self) -> AnalysisInput {
        AnalysisInput {
            transcript: self.transcript.clone(),
            language_hint: Some(if self.language == "en" {
                Language::En
            } else {
                Language::Fr
            }),
            sector: Sector::parse(&self.sector),
        }
    }
}

/// The evaluation set, both languages.
pub fn evaluation_set() -> anyhow::Result<Vec<Example>> {
    let mut examples = Vec::new();
    for (name, text) in SET {
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let example: Example =
                serde_json::from_str(line).with_context(|| format!("{name} line {}", n + 1))?;
            if SentimentLabel::parse(&example.sentiment).is_none()
                || example
                    .intents
                    .iter()
                    .any(|i| IntentName::parse(i).is_none())
                || example.intents.is_empty()
            {
                bail!("{name} line {}: unknown label in {}", n + 1, example.id);
            }
            examples.push(example);
        }
    }
    Ok(examples)
}

/// The figures of one language.
#[derive(Debug, Clone, Default)]
pub struct LanguageReport {
    /// `fr` or `en`.
    pub language: String,
    /// Transcripts analysed.
    pub transcripts: usize,
    /// Sentiment: macro-averaged F1 over the three labels.
    pub sentiment_macro_f1: f64,
    /// Sentiment: share of labels right.
    pub sentiment_accuracy: f64,
    /// Sentiment: rows are the true label, columns the predicted one (positive, neutral, negative).
    pub confusion: [[usize; 3]; 3],
    /// Intent accuracy: the analyzer's main intent is the call's labelled main intent.
    pub intent_accuracy: f64,
    /// Share of calls whose main intent is among the labelled intents.
    pub intent_main_in_labels: f64,
    /// Intents over all calls: micro-averaged precision, recall and F1 of the sets.
    pub intent_precision: f64,
    /// See `intent_precision`.
    pub intent_recall: f64,
    /// See `intent_precision`.
    pub intent_f1: f64,
    /// Accuracy per hard case: (case, right sentiment, right main intent, count).
    pub hard_cases: BTreeMap<String, (usize, usize, usize)>,
    /// Analyses fallen back to the offline analyzer (LLM runs).
    pub fallbacks: usize,
    /// Examples whose main intent or sentiment was wrong, for tuning (`--show-errors`).
    pub errors: Vec<String>,
}

pub fn label_index(label: SentimentLabel) -> usize {
    match label {
        SentimentLabel::Positive => 0,
        SentimentLabel::Neutral => 1,
        SentimentLabel::Negative => 2,
    }
}

fn score(language: &str, results: &[(&Example, TranscriptAnalysis)]) -> LanguageReport {
    let mut report = LanguageReport {
        language: language.to_string(),
        transcripts: results.len(),
        ..LanguageReport::default()
    };
    let (mut right_main, mut main_in_labels) = (0, 0);
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (example, analysis) in results {
        let truth = SentimentLabel::parse(&example.sentiment).unwrap_or(SentimentLabel::Neutral);
        let predicted = analysis
            .sentiment
            .as_ref()
            .map_or(SentimentLabel::Neutral, |s| s.label);
        report.confusion[label_index(truth)][label_index(predicted)] += 1;
        if analysis.fallback_reason.is_some() {
            report.fallbacks += 1;
        }
        let predicted_intents: Vec<&str> =
            analysis.intents.iter().map(|i| i.name.as_str()).collect();
        let main = predicted_intents.first().copied().unwrap_or("other");
        let main_right = main == example.intents[0];
        if main_right {
            right_main += 1;
        }
        if example.intents.iter().any(|i| i == main) {
            main_in_labels += 1;
        }
        for p in &predicted_intents {
            if example.intents.iter().any(|i| i == p) {
                tp += 1;
            } else {
                fp += 1;
            }
        }
        fn_ += example
            .intents
            .iter()
            .filter(|i| !predicted_intents.contains(&i.as_str()))
            .count();
        if let Some(case) = &example.hard_case {
            let entry = report.hard_cases.entry(case.clone()).or_default();
            entry.0 += usize::from(truth == predicted);
            entry.1 += usize::from(main_right);
            entry.2 += 1;
        }
        if !main_right || truth != predicted {
            report.errors.push(format!(
                "{} [{}] sentiment {} -> {} ({:.2}), intents {:?} -> {:?}",
                example.id,
                example.hard_case.as_deref().unwrap_or("-"),
                truth.as_str(),
                predicted.as_str(),
                analysis.sentiment.as_ref().map_or(0.0, |s| s.score),
                example.intents,
                analysis
                    .intents
                    .iter()
                    .map(|i| format!("{}:{:.2} «{}»", i.name.as_str(), i.confidence, i.trigger))
                    .collect::<Vec<_>>(),
            ));
        }
    }
    let n = results.len().max(1) as f64;
    report.sentiment_macro_f1 = macro_f1(&report.confusion);
    report.sentiment_accuracy = (0..3).map(|k| report.confusion[k][k]).sum::<usize>() as f64 / n;
    report.intent_accuracy = right_main as f64 / n;
    report.intent_main_in_labels = main_in_labels as f64 / n;
    report.intent_precision = tp as f64 / (tp + fp).max(1) as f64;
    report.intent_recall = tp as f64 / (tp + fn_).max(1) as f64;
    let (p, r) = (report.intent_precision, report.intent_recall);
    report.intent_f1 = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    report
}

/// The mean over the three labels of F1, from a confusion matrix (rows: true labels,
/// columns: predicted ones).
pub fn macro_f1(confusion: &[[usize; 3]; 3]) -> f64 {
    let mut f1_sum = 0.0;
    for (k, row) in confusion.iter().enumerate() {
        let tp = row[k] as f64;
        let predicted: usize = confusion.iter().map(|r| r[k]).sum();
        let actual: usize = row.iter().sum();
        let precision = if predicted > 0 {
            tp / predicted as f64
        } else {
            0.0
        };
        let recall = if actual > 0 { tp / actual as f64 } else { 0.0 };
        f1_sum += if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
    }
    f1_sum / 3.0
}

/// What the analysis benchmark measured.
#[derive(Debug, Clone)]
pub struct AnalysisReport {
    /// The analyzer's version.
    pub analyzer: String,
    /// The part of the set.
    pub split: Split,
    /// Per language.
    pub languages: Vec<LanguageReport>,
    /// Offline analyses per second on one core, per language (not measured for an LLM).
    pub throughput: Vec<(String, f64)>,
    /// Print the misread examples.
    pub show_errors: bool,
}

/// Runs the set (its `split`) through `analyzer`; measures the throughput of the offline
/// analyzer on one thread for at least `min_time`.
pub async fn analysis(
    analyzer: &dyn TranscriptAnalyzer,
    split: Split,
    limit: Option<usize>,
    show_errors: bool,
    rules_only: bool,
    min_time: Duration,
) -> anyhow::Result<AnalysisReport> {
    let rules = OfflineAnalyzer::rules_only();
    let examples: Vec<Example> = evaluation_set()?
        .into_iter()
        .filter(|e| match split {
            Split::Tune => e.is_tuning(),
            Split::Test => !e.is_tuning(),
            Split::All => true,
        })
        .collect();
    let mut languages = Vec::new();
    let mut throughput = Vec::new();
    for language in ["fr", "en"] {
        let chosen: Vec<&Example> = examples
            .iter()
            .filter(|e| e.language == language)
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        let mut results = Vec::with_capacity(chosen.len());
        for example in &chosen {
            let analysis = if rules_only {
                rules.analyze(&example.input())
            } else {
                analyzer
                    .analyze(&example.input())
                    .await
                    .with_context(|| format!("analysing {}", example.id))?
            };
            results.push((*example, analysis));
        }
        languages.push(score(language, &results));
        if analyzer.version() == OfflineAnalyzer::VERSION && !chosen.is_empty() {
            let inputs: Vec<AnalysisInput> = chosen.iter().map(|e| e.input()).collect();
            let offline = if rules_only {
                &rules
            } else {
                OfflineAnalyzer::shared()
            };
            let started = Instant::now();
            let mut done = 0usize;
            while started.elapsed() < min_time {
                for input in &inputs {
                    std::hint::black_box(offline.analyze(std::hint::black_box(input)));
                }
                done += inputs.len();
            }
            throughput.push((
                language.to_string(),
                done as f64 / started.elapsed().as_secs_f64(),
            ));
        }
    }
    Ok(AnalysisReport {
        analyzer: if rules_only {
            format!("{} (lexicon and patterns only)", OfflineAnalyzer::VERSION)
        } else {
            analyzer.version()
        },
        split,
        languages,
        throughput,
        show_errors,
    })
}

impl fmt::Display for AnalysisReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "analyzer {} on the {:?} split",
            self.analyzer, self.split
        )?;
        for l in &self.languages {
            writeln!(
                f,
                "{}: {} transcripts, sentiment macro-F1 {:.3} (accuracy {:.3}), intent accuracy {:.3} \
                 (main intent among the labelled ones {:.3}; intent sets P {:.3} R {:.3} F1 {:.3}){}",
                l.language,
                l.transcripts,
                l.sentiment_macro_f1,
                l.sentiment_accuracy,
                l.intent_accuracy,
                l.intent_main_in_labels,
                l.intent_precision,
                l.intent_recall,
                l.intent_f1,
                if l.fallbacks > 0 {
                    format!(", {} fell back to the offline analyzer", l.fallbacks)
                } else {
                    String::new()
                }
            )?;
            writeln!(
                f,
                "  confusion (rows: true, columns: predicted)  positive  neutral  negative"
            )?;
            for (k, name) in ["positive", "neutral", "negative"].iter().enumerate() {
                let row = l.confusion[k];
                writeln!(
                    f,
                    "    {name:>40}  {:>8}  {:>7}  {:>8}",
                    row[0], row[1], row[2]
                )?;
            }
            let mut cases = String::new();
            for (case, (sentiment, intent, n)) in &l.hard_cases {
                let _ = write!(
                    cases,
                    " {case} {sentiment}/{n} sentiment, {intent}/{n} intent;"
                );
            }
            if !cases.is_empty() {
                writeln!(f, "  hard cases:{cases}")?;
            }
            if self.show_errors {
                for e in &l.errors {
                    writeln!(f, "  misread: {e}")?;
                }
            }
        }
        for (language, per_sec) in &self.throughput {
            writeln!(f, "{language}: {per_sec:.0} transcripts/s on one core")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_labelled_transcript_reads_and_ids_are_unique() {
        let set = evaluation_set().unwrap();
        assert!(!set.is_empty());
        let mut ids: Vec<&str> = set.iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), set.len(), "duplicate ids");
        for e in &set {
            assert!(Sector::parse(&e.sector).is_some(), "{}: sector", e.id);
            assert!(matches!(e.language.as_str(), "fr" | "en"), "{}", e.id);
            assert!(e.id.starts_with(&e.language), "{}", e.id);
        }
        // Two thirds of the set tune the rules and train the model; a third is held out.
        let tuning = set.iter().filter(|e| e.is_tuning()).count();
        assert!(
            tuning * 10 < set.len() * 7 && tuning * 10 > set.len() * 6,
            "{tuning} of {}",
            set.len()
        );
    }

    #[test]
    fn the_scores_of_a_perfect_analyzer_are_perfect() {
        let set = evaluation_set().unwrap();
        let perfect: Vec<(&Example, TranscriptAnalysis)> = set
            .iter()
            .filter(|e| e.language == "en")
            .map(|e| {
                let mut a = OfflineAnalyzer::shared().analyze(&e.input());
                if let Some(s) = a.sentiment.as_mut() {
                    s.label = SentimentLabel::parse(&e.sentiment).unwrap();
                }
                a.intents = e
                    .intents
                    .iter()
                    .map(|i| zencall_core::domain::analysis::Intent {
                        name: IntentName::parse(i).unwrap(),
                        confidence: 1.0,
                        trigger: String::new(),
                    })
                    .collect();
                (e, a)
            })
            .filter(|(_, a)| a.sentiment.is_some())
            .collect();
        let report = score("en", &perfect);
        assert!((report.sentiment_macro_f1 - 1.0).abs() < 1e-9, "{report:?}");
        assert!((report.intent_accuracy - 1.0).abs() < 1e-9);
        assert!((report.intent_f1 - 1.0).abs() < 1e-9);
    }
}
