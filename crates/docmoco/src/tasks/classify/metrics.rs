//! Classification metrics: top-1 accuracy, per-class precision/recall/F1, macro averages and
//! the confusion matrix.
//!
//! Conventions follow scikit-learn's `classification_report` with `zero_division=0`, so the
//! numbers can be checked against it:
//! * an undefined ratio (precision of a class never predicted, recall of a class absent from
//!   the test set) counts as 0;
//! * a class that is neither in the test set nor ever predicted has no metrics (`null`) and
//!   is left out of the macro averages — sklearn's default `labels` are the classes seen in
//!   `y_true ∪ y_pred`; averaging in a hard 0 would punish the model for a gap in the data.
//!
//! Predictions come from [`argmax`], which breaks ties towards the lower class index, as
//! `torch.argmax` does.

use std::collections::BTreeMap;

use serde::Serialize;

/// Metrics of one class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// `None` when the class is absent from the test set and never predicted.
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Test samples of this class.
    pub support: usize,
    /// Times the class was predicted.
    pub predicted: usize,
}

/// Everything `metrics.json` holds about a test set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Top-1 accuracy in [0, 1].
    pub accuracy: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    /// Keyed by class name.
    pub per_class: BTreeMap<String, ClassMetrics>,
    pub n_test: usize,
    /// `confusion[true][predicted]`, classes in label order.
    pub confusion: Vec<Vec<usize>>,
    pub classes: Vec<String>,
}

/// Index of the largest value; the first one on ties (`torch.argmax`). NaN never wins.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Computes the metrics of `predicted` against `truth` (equal lengths, labels indexing
/// `classes`). Labels outside `classes` are an error naming the first one.
pub fn compute(
    truth: &[usize],
    predicted: &[usize],
    classes: &[String],
) -> Result<Metrics, String> {
    if truth.len() != predicted.len() {
        return Err(format!(
            "{} labels but {} predictions",
            truth.len(),
            predicted.len()
        ));
    }
    let k = classes.len();
    if let Some(&bad) = truth.iter().chain(predicted).find(|&&l| l >= k) {
        return Err(format!("label {bad} is outside the {k} classes"));
    }
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in truth.iter().zip(predicted) {
        confusion[t][p] += 1;
    }
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let mut per_class = BTreeMap::new();
    let (mut sp, mut sr, mut sf, mut counted) = (0.0, 0.0, 0.0, 0usize);
    for (c, name) in classes.iter().enumerate() {
        let tp = confusion[c][c];
        let support: usize = confusion[c].iter().sum();
        let predicted_c: usize = (0..k).map(|t| confusion[t][c]).sum();
        let m = if support == 0 && predicted_c == 0 {
            ClassMetrics {
                precision: None,
                recall: None,
                f1: None,
                support,
                predicted: predicted_c,
            }
        } else {
            let p = ratio(tp, predicted_c);
            let r = ratio(tp, support);
            let f = if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            };
            sp += p;
            sr += r;
            sf += f;
            counted += 1;
            ClassMetrics {
                precision: Some(p),
                recall: Some(r),
                f1: Some(f),
                support,
                predicted: predicted_c,
            }
        };
        per_class.insert(name.clone(), m);
    }
    let macro_avg = |s: f64| {
        if counted == 0 {
            0.0
        } else {
            s / counted as f64
        }
    };
    Ok(Metrics {
        accuracy: ratio(correct, truth.len()),
        macro_precision: macro_avg(sp),
        macro_recall: macro_avg(sr),
        macro_f1: macro_avg(sf),
        per_class,
        n_test: truth.len(),
        confusion,
        classes: classes.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[0.5, 0.5]), 0);
        assert_eq!(argmax(&[f32::NAN, 0.2]), 1);
    }
}
