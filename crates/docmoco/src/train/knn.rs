//! Weighted k-nearest-neighbour classification of frozen features — the MoCo demo's monitor
//! (Wu et al. 2018): cosine similarity, the `k` most similar training samples vote with weight
//! `exp(sim / t)`; defaults k = 200, t = 0.1.

/// L2-normalised feature rows with their labels.
#[derive(Clone, Debug, Default)]
pub struct LabelledFeatures {
    /// `n x dim`, row-major.
    pub values: Vec<f32>,
    pub labels: Vec<usize>,
    pub dim: usize,
}

/// kNN vote parameters.
#[derive(Clone, Copy, Debug)]
pub struct KnnParams {
    pub k: usize,
    pub t: f64,
    pub num_classes: usize,
}

/// Predicts a class for each row of `queries` (`n_q x bank.dim`).
pub fn knn_predict(bank: &LabelledFeatures, queries: &[f32], p: KnnParams) -> Vec<usize> {
    let dim = bank.dim;
    let k = p.k.min(bank.labels.len()).max(1);
    queries
        .chunks_exact(dim)
        .map(|q| {
            let mut sims: Vec<(f32, usize)> = bank
                .values
                .chunks_exact(dim)
                .zip(&bank.labels)
                .map(|(b, &l)| (q.iter().zip(b).map(|(x, y)| x * y).sum::<f32>(), l))
                .collect();
            sims.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
            let mut votes = vec![0f64; p.num_classes];
            for &(s, l) in &sims[..k] {
                votes[l] += (s as f64 / p.t).exp();
            }
            votes
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .unwrap_or(0)
        })
        .collect()
}

/// Accuracy of [`knn_predict`] on labelled queries.
pub fn knn_accuracy(bank: &LabelledFeatures, queries: &LabelledFeatures, p: KnnParams) -> f64 {
    let pred = knn_predict(bank, &queries.values, p);
    let hits = pred
        .iter()
        .zip(&queries.labels)
        .filter(|(a, b)| a == b)
        .count();
    hits as f64 / queries.labels.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_class_wins() {
        // Two clusters on the unit circle; queries near each are classified accordingly.
        let bank = LabelledFeatures {
            values: vec![1.0, 0.0, 0.99, 0.14, 0.0, 1.0, 0.14, 0.99],
            labels: vec![0, 0, 1, 1],
            dim: 2,
        };
        let p = KnnParams {
            k: 2,
            t: 0.1,
            num_classes: 2,
        };
        assert_eq!(knn_predict(&bank, &[0.98, 0.2, 0.2, 0.98], p), vec![0, 1]);
        let q = LabelledFeatures {
            values: vec![0.98, 0.2, 0.2, 0.98],
            labels: vec![0, 0],
            dim: 2,
        };
        assert!((knn_accuracy(&bank, &q, p) - 0.5).abs() < 1e-12);
    }
}
