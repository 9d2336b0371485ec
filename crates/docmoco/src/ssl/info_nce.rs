//! InfoNCE over one positive and a queue of negatives (He et al. 2020, eq. 1).

use burn::tensor::activation::log_softmax;
use burn::tensor::Tensor;

/// MoCo logits: `[l_pos, l_neg] / T` with the positive in column 0.
///
/// # Shapes
/// - q, k: `[N, C]` (L2-normalised), queue: `[C, K]` → `[N, 1 + K]`
pub fn moco_logits(q: Tensor<2>, k: Tensor<2>, queue: Tensor<2>, temperature: f64) -> Tensor<2> {
    let [n, _] = q.dims();
    let l_pos = (q.clone() * k).sum_dim(1).reshape([n, 1]); // Nx1
    let l_neg = q.matmul(queue); // NxK
    Tensor::cat(vec![l_pos, l_neg], 1).div_scalar(temperature)
}

/// Cross-entropy with label 0 for every row — the positive key.
///
/// # Shapes
/// - logits `[N, 1 + K]` → scalar `[1]`
pub fn info_nce_loss(logits: Tensor<2>) -> Tensor<1> {
    let [n, _] = logits.dims();
    log_softmax(logits, 1)
        .slice([0..n, 0..1])
        .mean()
        .neg()
        .reshape([1])
}

/// Cross-entropy of `logits` `[N, M]` against targets `0..N` (the diagonal) — the in-batch
/// contrastive loss of MoCo v3 before its `2T` factor.
pub fn diagonal_cross_entropy(logits: Tensor<2>) -> Tensor<1> {
    let [n, m] = logits.dims();
    debug_assert_eq!(n, m);
    let device = logits.device();
    let eye = Tensor::<2>::eye(n, &device);
    (log_softmax(logits, 1) * eye)
        .sum()
        .div_scalar(n as f64)
        .neg()
        .reshape([1])
}

/// Fraction of rows whose positive (column 0) has the highest logit: MoCo's "instance
/// accuracy" (top-1 of the pretext task).
pub fn instance_accuracy(logits: &Tensor<2>) -> f64 {
    let [n, _] = logits.dims();
    let pos = logits.clone().slice([0..n, 0..1]);
    let max = logits.clone().max_dim(1);
    let hits = pos.greater_equal(max).float().sum().into_scalar::<f32>();
    hits as f64 / n as f64
}

/// L2-normalises rows (`F.normalize(x, dim=1)`).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}
