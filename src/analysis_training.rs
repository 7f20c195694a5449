//! `zencall analysis train`: trains the offline analyzer's model (sentiment and main intent,
//! per language) on the tuning split of the evaluation set, choosing its training settings by
//! cross-validation on that split alone, and writes `core/data/analysis/model/{fr,en}.tsv`.
//! The held-out split is never read here.

use std::fmt;
use std::path::Path;

use anyhow::Context;
use zencall_core::domain::analysis::model::{self, Features, Model, Training, argmax};
use zencall_core::domain::analysis::{IntentName, OfflineAnalyzer, SentimentLabel};

use crate::analysis_bench::{Example, evaluation_set, label_index, macro_f1};

/// Parts of the tuning split for cross-validation.
const FOLDS: usize = 3;

/// The settings tried (epochs, L2), each cross-validated; each model keeps its best.
const GRID: [(usize, f64); 14] = [
    (15, 1e-4),
    (15, 1e-3),
    (15, 1e-2),
    (15, 3e-2),
    (30, 1e-4),
    (30, 1e-3),
    (30, 1e-2),
    (30, 3e-2),
    (30, 1e-1),
    (60, 3e-2),
    (60, 1e-1),
    (60, 3e-1),
    (60, 1.0),
    (100, 3e-1),
];

/// One labelled call, as the model reads it.
struct Sample {
    features: Features,
    sentiment: usize,
    intent: usize,
}

/// What the training did for one language.
#[derive(Debug, Clone)]
pub struct LanguageTraining {
    /// `fr` or `en`.
    pub language: String,
    /// Tuning transcripts trained on.
    pub transcripts: usize,
    /// Each setting tried: epochs, L2, cross-validated sentiment macro-F1 and intent accuracy.
    pub tried: Vec<(usize, f64, f64, f64)>,
    /// The settings kept: for sentiment, for the intent.
    pub chosen: [(usize, f64); 2],
    /// Features with a weight, sentiment and intent.
    pub features: (usize, usize),
}

/// What `zencall analysis train` did.
#[derive(Debug, Clone)]
pub struct TrainingReport {
    /// Per language.
    pub languages: Vec<LanguageTraining>,
}

fn samples(examples: &[&Example]) -> anyhow::Result<Vec<Sample>> {
    let analyzer = OfflineAnalyzer::rules_only();
    examples
        .iter()
        .map(|example| {
            let (_, features) = analyzer
                .features(&example.input())
                .with_context(|| format!("{} gives no features", example.id))?;
            let sentiment = SentimentLabel::parse(&example.sentiment)
                .map(label_index)
                .with_context(|| format!("{}: unknown sentiment", example.id))?;
            let intent = IntentName::ALL
                .iter()
                .position(|i| i.as_str() == example.intents[0])
                .with_context(|| format!("{}: unknown intent", example.id))?;
            Ok(Sample {
                features,
                sentiment,
                intent,
            })
        })
        .collect()
}

fn classes<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> Vec<String> {
    all.iter().map(|c| name(*c).to_string()).collect()
}

fn fit(samples: &[&Sample], sentiment_training: Training, intent_training: Training) -> Model {
    let sentiment: Vec<(&Features, usize)> =
        samples.iter().map(|s| (&s.features, s.sentiment)).collect();
    let intent: Vec<(&Features, usize)> = samples.iter().map(|s| (&s.features, s.intent)).collect();
    Model {
        sentiment: model::train(
            classes(&SentimentLabel::ALL, SentimentLabel::as_str),
            &sentiment,
            sentiment_training,
        ),
        intent: model::train(
            classes(&IntentName::ALL, IntentName::as_str),
            &intent,
            intent_training,
        ),
        provenance: Vec::new(),
    }
}

/// Cross-validated sentiment macro-F1 and intent accuracy of one setting.
fn cross_validate(samples: &[Sample], training: Training) -> (f64, f64) {
    let mut confusion = [[0usize; 3]; 3];
    let mut right = 0;
    for fold in 0..FOLDS {
        let train: Vec<&Sample> = samples
            .iter()
            .enumerate()
            .filter(|(i, _)| i % FOLDS != fold)
            .map(|(_, s)| s)
            .collect();
        let model = fit(&train, training, training);
        for sample in samples.iter().skip(fold).step_by(FOLDS) {
            let sentiment = argmax(&model.sentiment.probabilities(&sample.features));
            confusion[sample.sentiment][sentiment] += 1;
            right +=
                usize::from(argmax(&model.intent.probabilities(&sample.features)) == sample.intent);
        }
    }
    (
        macro_f1(&confusion),
        right as f64 / samples.len().max(1) as f64,
    )
}

/// Trains both languages' models on the tuning split and writes them into `out`.
pub fn train(out: &Path) -> anyhow::Result<TrainingReport> {
    let set = evaluation_set()?;
    let mut languages = Vec::new();
    for (language, name) in [("fr", "French"), ("en", "English")] {
        let examples: Vec<&Example> = set
            .iter()
            .filter(|e| e.language == language && e.is_tuning())
            .collect();
        let samples = samples(&examples)?;
        let mut tried = Vec::new();
        for (epochs, l2) in GRID {
            let training = Training {
                epochs,
                l2,
                ..Training::default()
            };
            let (f1, accuracy) = cross_validate(&samples, training);
            tried.push((epochs, l2, f1, accuracy));
        }
        let best_by = |metric: fn(&(usize, f64, f64, f64)) -> f64| {
            tried
                .iter()
                .max_by(|a, b| metric(a).total_cmp(&metric(b)))
                .copied()
                .context("no setting tried")
        };
        let best_sentiment = best_by(|t| t.2)?;
        let best_intent = best_by(|t| t.3)?;
        let setting = |best: (usize, f64, f64, f64)| Training {
            epochs: best.0,
            l2: best.1,
            ..Training::default()
        };
        let all: Vec<&Sample> = samples.iter().collect();
        let mut model = fit(&all, setting(best_sentiment), setting(best_intent));
        let defaults = Training::default();
        model.provenance = vec![
            format!(
                "The offline analyzer's {name} model: written by `zencall analysis train`, do not edit."
            ),
            format!(
                "Trained on the {} {name} transcripts of the evaluation set's tuning split (the held-out split is never read).",
                samples.len()
            ),
            format!(
                "Multinomial logistic regression by AdaGrad (learning rate {}), weights under {} dropped; \
                 sentiment: {} epochs, L2 {}; intent: {} epochs, L2 {}.",
                defaults.learning_rate,
                defaults.prune_below,
                best_sentiment.0,
                best_sentiment.1,
                best_intent.0,
                best_intent.1
            ),
            format!(
                "{FOLDS}-fold cross-validation on the tuning split: sentiment macro-F1 {:.3}, intent accuracy {:.3}.",
                best_sentiment.2, best_intent.3
            ),
        ];
        let path = out.join(format!("{language}.tsv"));
        std::fs::write(&path, model.to_text())
            .with_context(|| format!("cannot write {}", path.display()))?;
        languages.push(LanguageTraining {
            language: language.to_string(),
            transcripts: samples.len(),
            tried,
            chosen: [
                (best_sentiment.0, best_sentiment.1),
                (best_intent.0, best_intent.1),
            ],
            features: (model.sentiment.weights.len(), model.intent.weights.len()),
        });
    }
    Ok(TrainingReport { languages })
}

impl fmt::Display for TrainingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.languages {
            writeln!(
                f,
                "{}: {} tuning transcripts, {FOLDS}-fold cross-validation",
                l.language, l.transcripts
            )?;
            for (epochs, l2, f1, accuracy) in &l.tried {
                let mut mark = String::new();
                if (*epochs, *l2) == l.chosen[0] {
                    mark.push_str(" <- sentiment");
                }
                if (*epochs, *l2) == l.chosen[1] {
                    mark.push_str(" <- intent");
                }
                writeln!(
                    f,
                    "  epochs {epochs:>3}, L2 {l2:<7}: sentiment macro-F1 {f1:.3}, intent accuracy {accuracy:.3}{mark}"
                )?;
            }
            writeln!(
                f,
                "  written with {} sentiment and {} intent features",
                l.features.0, l.features.1
            )?;
        }
        Ok(())
    }
}
