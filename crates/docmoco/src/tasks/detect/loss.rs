//! DBNet's training loss: `L = bce_scale·Ls + Lb + l1_scale·Lt` (paper §3.4, reference
//! `L1BalanceCELoss` with scales 5 and 10).
//!
//! - `Ls`: binary cross-entropy of the probability map `P` against the shrunk text map, on the
//!   positives and only the hardest negatives, at most 3 per positive (online hard-negative
//!   mining) — text covers a few percent of a page, so plain BCE would learn "all background".
//! - `Lb`: dice loss of the approximate binary map `B` against the same shrunk map.
//! - `Lt`: L1 distance of the threshold map `T` to its target, inside the dilated text region.
//!
//! Each term is checked against a PyTorch computation in `tests/detect_parity.rs`.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::model::DbOutput;

/// Loss weights and mining ratio (defaults: the reference's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbLossConfig {
    pub bce_scale: f64,
    pub dice_scale: f64,
    pub l1_scale: f64,
    /// Hard negatives kept per positive pixel.
    pub negative_ratio: f64,
}

impl Default for DbLossConfig {
    fn default() -> Self {
        DbLossConfig {
            bce_scale: 5.0,
            dice_scale: 1.0,
            l1_scale: 10.0,
            negative_ratio: 3.0,
        }
    }
}

/// Training targets as tensors, each `[N, H, W]`.
#[derive(Debug, Clone)]
pub struct DbTargets {
    /// 1 inside the shrunk text polygons.
    pub shrink_map: Tensor<3>,
    /// 0 where the probability map is not supervised (don't-care and too-small text).
    pub shrink_mask: Tensor<3>,
    /// Threshold target in `[thresh_min, thresh_max]`.
    pub thresh_map: Tensor<3>,
    /// 1 inside the dilated text polygons, where `Lt` applies.
    pub thresh_mask: Tensor<3>,
}

/// The total and each (unscaled) term, as rank-1 tensors of one element.
#[derive(Debug, Clone)]
pub struct DbLoss {
    pub total: Tensor<1>,
    pub bce: Tensor<1>,
    pub dice: Tensor<1>,
    pub l1: Tensor<1>,
}

const EPS: f64 = 1e-6;

/// `F.binary_cross_entropy(pred, gt, reduction="none")`.
///
/// A saturated sigmoid gives exactly 0 or 1 in f32; `log(0)` would be `-inf` and its
/// gradient `0 · inf = NaN` even behind PyTorch's clamp at -100. The argument is clamped at
/// 1e-12 first (PyTorch's backward divides by `max(p(1-p), 1e-12)` for the same reason), so
/// saturated pixels contribute a finite loss (≤ 27.6) and no NaN.
fn bce_map(pred: Tensor<3>, gt: Tensor<3>) -> Tensor<3> {
    let log_p = pred.clone().clamp_min(1e-12).log();
    let log_1p = pred.neg().add_scalar(1.0).clamp_min(1e-12).log();
    (gt.clone() * log_p + gt.neg().add_scalar(1.0) * log_1p).neg()
}

/// A 0/1 mask selecting the `k` largest `values` among positions where `candidates` is 1
/// (what `torch.topk(negative_loss.view(-1), k)` sums over).
fn top_k_mask(values: &[f32], candidates: &[f32], k: usize) -> Vec<f32> {
    let mut idx: Vec<usize> = (0..values.len()).filter(|&i| candidates[i] > 0.5).collect();
    let k = k.min(idx.len());
    let mut mask = vec![0f32; values.len()];
    if k == 0 {
        return mask;
    }
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, |&a, &b| values[b].total_cmp(&values[a]));
    }
    for &i in &idx[..k] {
        mask[i] = 1.0;
    }
    mask
}

fn host(t: Tensor<3>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

/// Balanced BCE with hard-negative mining (`BalanceCrossEntropyLoss`).
///
/// The mining choice is made on the host from detached values; the gradient then flows
/// through exactly the selected pixels, as through `torch.topk`.
pub fn balanced_bce(pred: Tensor<3>, gt: Tensor<3>, mask: Tensor<3>, ratio: f64) -> Tensor<1> {
    let dims = pred.dims();
    let device = pred.device();
    let positive = gt.clone() * mask.clone();
    let negative = gt.clone().neg().add_scalar(1.0) * mask;
    let pos_host = host(positive.clone());
    let neg_host = host(negative.clone());
    let positive_count = pos_host.iter().sum::<f32>() as usize;
    let negative_total = neg_host.iter().sum::<f32>() as usize;
    let negative_count = negative_total.min((positive_count as f64 * ratio) as usize);
    let loss = bce_map(pred, gt);
    let neg_loss_host = host(loss.clone().detach() * negative.clone());
    let hard = top_k_mask(&neg_loss_host, &neg_host, negative_count);
    let hard = Tensor::<3>::from_data(TensorData::new(hard, dims), &device);
    let positive_loss = (loss.clone() * positive).sum();
    let negative_loss = (loss * negative * hard).sum();
    (positive_loss + negative_loss).div_scalar(positive_count as f64 + negative_count as f64 + EPS)
}

/// `1 - 2|P∩G| / (|P| + |G|)` over the masked pixels (`DiceLoss`).
pub fn dice_loss(pred: Tensor<3>, gt: Tensor<3>, mask: Tensor<3>) -> Tensor<1> {
    let intersection = (pred.clone() * gt.clone() * mask.clone()).sum();
    let union = (pred * mask.clone()).sum() + (gt * mask).sum().add_scalar(EPS);
    (intersection.mul_scalar(2.0) / union).neg().add_scalar(1.0)
}

/// Mean absolute error inside `mask` (`MaskL1Loss`); 0 when the mask is empty.
pub fn masked_l1(pred: Tensor<3>, gt: Tensor<3>, mask: Tensor<3>) -> Tensor<1> {
    let mask_sum = mask.clone().sum();
    let total = host(mask.clone().sum().reshape([1, 1, 1]))[0];
    let l1 = ((pred - gt).abs() * mask).sum();
    if total == 0.0 {
        return l1.mul_scalar(0.0);
    }
    l1 / mask_sum
}

/// Drops the channel axis of a `[N, 1, H, W]` map.
fn squeeze(t: Tensor<4>) -> Tensor<3> {
    let [n, _, h, w] = t.dims();
    t.reshape([n, h, w])
}

/// The full DBNet loss on one batch.
pub fn db_loss(out: &DbOutput, targets: &DbTargets, cfg: &DbLossConfig) -> DbLoss {
    let prob = squeeze(out.prob.clone());
    let binary = squeeze(out.binary.clone());
    let thresh = squeeze(out.thresh.clone());
    let bce = balanced_bce(
        prob,
        targets.shrink_map.clone(),
        targets.shrink_mask.clone(),
        cfg.negative_ratio,
    );
    let dice = dice_loss(
        binary,
        targets.shrink_map.clone(),
        targets.shrink_mask.clone(),
    );
    let l1 = masked_l1(
        thresh,
        targets.thresh_map.clone(),
        targets.thresh_mask.clone(),
    );
    let total = bce.clone().mul_scalar(cfg.bce_scale)
        + dice.clone().mul_scalar(cfg.dice_scale)
        + l1.clone().mul_scalar(cfg.l1_scale);
    DbLoss {
        total,
        bce,
        dice,
        l1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn t3(v: Vec<f32>, dims: [usize; 3]) -> Tensor<3> {
        Tensor::from_data(TensorData::new(v, dims), &Device::flex())
    }

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    #[test]
    fn top_k_mask_picks_the_largest_candidates_only() {
        let values = [0.9, 0.1, 0.8, 0.7, 0.95];
        let cand = [1.0, 1.0, 1.0, 1.0, 0.0];
        assert_eq!(top_k_mask(&values, &cand, 2), vec![1.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(top_k_mask(&values, &cand, 0), vec![0.0; 5]);
        assert_eq!(top_k_mask(&values, &cand, 9).iter().sum::<f32>(), 4.0);
    }

    #[test]
    fn perfect_prediction_has_near_zero_dice_and_bce() {
        let gt = vec![0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let pred: Vec<f32> = gt
            .iter()
            .map(|&g| if g > 0.5 { 0.999 } else { 0.001 })
            .collect();
        let mask = vec![1.0; 8];
        let d = scalar(dice_loss(
            t3(pred.clone(), [1, 2, 4]),
            t3(gt.clone(), [1, 2, 4]),
            t3(mask.clone(), [1, 2, 4]),
        ));
        assert!(d < 0.01, "dice {d}");
        let b = scalar(balanced_bce(
            t3(pred, [1, 2, 4]),
            t3(gt, [1, 2, 4]),
            t3(mask, [1, 2, 4]),
            3.0,
        ));
        assert!(b < 0.01, "bce {b}");
    }

    #[test]
    fn masked_l1_ignores_unmasked_pixels_and_empty_masks() {
        let pred = t3(vec![0.5, 0.0, 1.0, 0.3], [1, 2, 2]);
        let gt = t3(vec![0.3, 0.7, 0.0, 0.3], [1, 2, 2]);
        let mask = t3(vec![1.0, 0.0, 0.0, 1.0], [1, 2, 2]);
        let l = scalar(masked_l1(pred.clone(), gt.clone(), mask));
        assert!((l - 0.1).abs() < 1e-6, "{l}");
        let empty = t3(vec![0.0; 4], [1, 2, 2]);
        assert_eq!(scalar(masked_l1(pred, gt, empty)), 0.0);
    }
}
