//! Training-mode batch normalisation on f32 slices: two passes forward, two backward.
//!
//! burn's generic `batch_norm_train` (which `flex` does not override) builds the statistics and
//! the gradient out of tensor operations: two transposed copies of the input (`swap_dims` then
//! `reshape`) and about eight full-size element-wise passes forward, as many again backward,
//! each with a fresh allocation. Here the input `[N, C, L]` (`L` = the product of the spatial
//! dimensions) is read in place: the statistics are one pass per channel, the output one
//! pass; the gradient is one reduction pass and one element-wise pass.
//!
//! Sums are accumulated in f64 per row and per channel, so results agree with the two-pass
//! f32 definition to f32 rounding whatever the batch size.

use rayon::prelude::*;

/// The shape of a batch-normalised tensor seen as `[N, C, L]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BnShape {
    pub batch: usize,
    pub channels: usize,
    /// Elements per (sample, channel): the product of the spatial dimensions.
    pub len: usize,
}

impl BnShape {
    /// `[N, C, rest..]` with rank at least 2.
    pub fn of(dims: &[usize]) -> Option<Self> {
        (dims.len() >= 2).then(|| BnShape {
            batch: dims[0],
            channels: dims[1],
            len: dims[2..].iter().product(),
        })
    }

    /// Values per channel: `N * L`.
    pub fn count(&self) -> usize {
        self.batch * self.len
    }

    fn numel(&self) -> usize {
        self.batch * self.channels * self.len
    }
}

/// Per-channel statistics of a batch: mean and biased (population) variance.
#[derive(Debug, Clone, PartialEq)]
pub struct BnStats {
    pub mean: Vec<f32>,
    pub variance: Vec<f32>,
}

/// The sum of a row, in eight independent lanes so the compiler vectorises it.
fn row_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    lanes.iter().map(|&v| v as f64).sum::<f64>() + tail as f64
}

/// Like [`row_sum`] over the products of two rows.
fn row_dot(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let mut lanes = [0f32; 8];
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((lane, &u), &v) in lanes.iter_mut().zip(x).zip(y) {
            *lane += f(u, v);
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&u, &v)| f(u, v))
        .sum();
    lanes.iter().map(|&v| v as f64).sum::<f64>() + tail as f64
}

/// The rows `(n, c)` of channel `c`, as slices of `x`.
fn channel_rows(x: &[f32], s: BnShape, c: usize) -> impl Iterator<Item = &[f32]> {
    (0..s.batch).map(move |n| {
        let start = (n * s.channels + c) * s.len;
        &x[start..start + s.len]
    })
}

/// Mean and biased variance per channel (two passes: the mean, then the centred squares).
pub fn stats(x: &[f32], s: BnShape) -> BnStats {
    assert_eq!(x.len(), s.numel(), "batch norm input size");
    let count = s.count().max(1) as f64;
    let (mean, variance): (Vec<f32>, Vec<f32>) = (0..s.channels)
        .into_par_iter()
        .map(|c| {
            let mean = channel_rows(x, s, c)
                .map(|row| row_sum(row, |v| v))
                .sum::<f64>()
                / count;
            let m = mean as f32;
            let var = channel_rows(x, s, c)
                .map(|row| row_sum(row, |v| (v - m) * (v - m)))
                .sum::<f64>()
                / count;
            (m, var as f32)
        })
        .unzip();
    BnStats { mean, variance }
}

/// Per-channel `(scale, shift)` with `y = x * scale + shift`.
fn affine(stats: &BnStats, gamma: &[f32], beta: &[f32], epsilon: f64) -> Vec<(f32, f32)> {
    (0..gamma.len())
        .map(|c| {
            let inv_std = 1.0 / (stats.variance[c] as f64 + epsilon).sqrt();
            let scale = gamma[c] as f64 * inv_std;
            let shift = beta[c] as f64 - stats.mean[c] as f64 * scale;
            (scale as f32, shift as f32)
        })
        .collect()
}

/// `gamma * (x - mean) / sqrt(var + eps) + beta` with the batch's own statistics; returns the
/// output and the statistics.
pub fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    s: BnShape,
    epsilon: f64,
) -> (Vec<f32>, BnStats) {
    let mut y = x.to_vec();
    let stats = forward_in_place(&mut y, gamma, beta, s, epsilon);
    (y, stats)
}

/// [`forward`] overwriting its input with the output: no allocation (burn's element-wise ops
/// also work in place on a buffer nobody else holds; a fresh multi-megabyte output costs more
/// in page faults than the pass itself).
pub fn forward_in_place(
    x: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    s: BnShape,
    epsilon: f64,
) -> BnStats {
    assert_eq!((gamma.len(), beta.len()), (s.channels, s.channels));
    let stats = stats(x, s);
    apply_affine(x, s, &affine(&stats, gamma, beta, epsilon));
    stats
}

/// Inference-mode batch norm with given (running) statistics, in one pass over `x`, in place.
pub fn inference_in_place(
    x: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    stats: &BnStats,
    s: BnShape,
    epsilon: f64,
) {
    assert_eq!(x.len(), s.numel(), "batch norm input size");
    assert_eq!((gamma.len(), beta.len()), (s.channels, s.channels));
    assert_eq!(
        (stats.mean.len(), stats.variance.len()),
        (s.channels, s.channels)
    );
    apply_affine(x, s, &affine(stats, gamma, beta, epsilon));
}

/// `x · scale + shift` in place, with each row's channel's coefficients.
fn apply_affine(x: &mut [f32], s: BnShape, coefficients: &[(f32, f32)]) {
    if s.len > 0 {
        x.par_chunks_mut(s.len).enumerate().for_each(|(row, xs)| {
            let (scale, shift) = coefficients[row % s.channels];
            for v in xs.iter_mut() {
                *v = *v * scale + shift;
            }
        });
    }
}

/// Gradients of [`forward`] (statistics included) for `x`, `gamma` and `beta`, given the
/// output gradient `dy` and the statistics the forward pass returned.
///
/// With `x̂ = (x - mean) / std` and `M = N * L` values per channel:
/// `dβ = Σ dy`, `dγ = Σ dy x̂`, `dx = γ / std * (dy - dβ / M - x̂ dγ / M)`.
pub fn backward(
    x: &[f32],
    gamma: &[f32],
    stats: &BnStats,
    dy: &[f32],
    s: BnShape,
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = dy.to_vec();
    let (dgamma, dbeta) = backward_in_place(x, gamma, stats, &mut dx, s, epsilon);
    (dx, dgamma, dbeta)
}

/// [`backward`] overwriting `dy` with the input gradient; returns `(dgamma, dbeta)`.
pub fn backward_in_place(
    x: &[f32],
    gamma: &[f32],
    stats: &BnStats,
    dy: &mut [f32],
    s: BnShape,
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>) {
    assert_eq!((x.len(), dy.len()), (s.numel(), s.numel()));
    let inv_std: Vec<f32> = stats
        .variance
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect();
    let grad: &[f32] = dy;
    let (dbeta, dgamma): (Vec<f32>, Vec<f32>) = (0..s.channels)
        .into_par_iter()
        .map(|c| {
            let (m, is) = (stats.mean[c], inv_std[c]);
            let (mut sum_dy, mut sum_dy_xhat) = (0f64, 0f64);
            for (xr, dyr) in channel_rows(x, s, c).zip(channel_rows(grad, s, c)) {
                sum_dy += row_sum(dyr, |v| v);
                sum_dy_xhat += row_dot(xr, dyr, |u, v| (u - m) * v);
            }
            (sum_dy as f32, (sum_dy_xhat * is as f64) as f32)
        })
        .unzip();
    let count = s.count().max(1) as f32;
    if s.len > 0 {
        dy.par_chunks_mut(s.len)
            .zip(x.par_chunks(s.len))
            .enumerate()
            .for_each(|(row, (dyr, xr))| {
                let c = row % s.channels;
                let (m, is) = (stats.mean[c], inv_std[c]);
                let scale = gamma[c] * is;
                let mean_dy = dbeta[c] / count;
                let mean_dy_xhat = dgamma[c] / count;
                for (g, &u) in dyr.iter_mut().zip(xr) {
                    let xhat = (u - m) * is;
                    *g = scale * (*g - mean_dy - xhat * mean_dy_xhat);
                }
            });
    }
    (dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let h = (i as u32 ^ seed).wrapping_mul(2654435761);
                (h >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 1.5
            })
            .collect()
    }

    /// The loss `Σ r ⊙ BN(x)` evaluated in f64 from the definition.
    fn loss(x: &[f32], gamma: &[f32], beta: &[f32], r: &[f32], s: BnShape, eps: f64) -> f64 {
        let mut total = 0.0;
        for c in 0..s.channels {
            let idx: Vec<usize> = (0..s.batch)
                .flat_map(|n| (0..s.len).map(move |l| (n * s.channels + c) * s.len + l))
                .collect();
            let m = idx.iter().map(|&i| x[i] as f64).sum::<f64>() / idx.len() as f64;
            let v = idx.iter().map(|&i| (x[i] as f64 - m).powi(2)).sum::<f64>() / idx.len() as f64;
            for &i in &idx {
                let y = gamma[c] as f64 * (x[i] as f64 - m) / (v + eps).sqrt() + beta[c] as f64;
                total += r[i] as f64 * y;
            }
        }
        total
    }

    #[test]
    fn forward_and_gradients_match_the_definition() {
        for s in [
            BnShape {
                batch: 3,
                channels: 4,
                len: 13,
            },
            BnShape {
                batch: 2,
                channels: 3,
                len: 1,
            },
        ] {
            let n = s.batch * s.channels * s.len;
            let x = values(n, 1);
            let r = values(n, 7);
            let gamma: Vec<f32> = (0..s.channels).map(|c| 0.5 + c as f32 * 0.3).collect();
            let beta: Vec<f32> = (0..s.channels).map(|c| c as f32 * 0.1 - 0.2).collect();
            let eps = 1e-5;
            let (y, st) = forward(&x, &gamma, &beta, s, eps);
            let total: f64 = y.iter().zip(&r).map(|(&a, &b)| a as f64 * b as f64).sum();
            let want = loss(&x, &gamma, &beta, &r, s, eps);
            assert!(
                (total - want).abs() < 1e-4 * want.abs().max(1.0),
                "{total} vs {want}"
            );
            let (dx, dgamma, dbeta) = backward(&x, &gamma, &st, &r, s, eps);
            // Central differences in f64 of the f64 definition.
            let h = 1e-3;
            let numeric = |f: &dyn Fn(f32) -> f64| (f(h) - f(-h)) / (2.0 * h as f64);
            for i in [0, 5, n / 2, n - 1] {
                let d = numeric(&|e| {
                    let mut xe = x.clone();
                    xe[i] += e;
                    loss(&xe, &gamma, &beta, &r, s, eps)
                });
                assert!((dx[i] as f64 - d).abs() < 2e-3, "dx[{i}] {} vs {d}", dx[i]);
            }
            for c in 0..s.channels {
                let dg = numeric(&|e| {
                    let mut g = gamma.clone();
                    g[c] += e;
                    loss(&x, &g, &beta, &r, s, eps)
                });
                let db = numeric(&|e| {
                    let mut b = beta.clone();
                    b[c] += e;
                    loss(&x, &gamma, &b, &r, s, eps)
                });
                assert!((dgamma[c] as f64 - dg).abs() < 2e-3, "dgamma[{c}]");
                assert!((dbeta[c] as f64 - db).abs() < 2e-3, "dbeta[{c}]");
            }
        }
    }

    #[test]
    fn inference_uses_the_given_statistics() {
        let s = BnShape {
            batch: 2,
            channels: 2,
            len: 3,
        };
        let x = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0, -1.0, 0.5, 4.0, 1.0, 1.0, 1.0];
        let stats = BnStats {
            mean: vec![1.0, -2.0],
            variance: vec![4.0, 0.25],
        };
        let mut y = x.to_vec();
        inference_in_place(&mut y, &[2.0, 1.0], &[0.5, -1.0], &stats, s, 0.0);
        let want = [0.5, 1.5, 2.5, 3.0, 3.0, 3.0, -1.5, 0.0, 3.5, 5.0, 5.0, 5.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    fn statistics_survive_a_large_offset() {
        // Two-pass statistics: a naive E[x²] - E[x]² in f32 would lose the variance here.
        let s = BnShape {
            batch: 4,
            channels: 1,
            len: 1000,
        };
        let x: Vec<f32> = values(4000, 3).iter().map(|v| v + 1000.0).collect();
        let st = stats(&x, s);
        let m = x.iter().map(|&v| v as f64).sum::<f64>() / 4000.0;
        let v = x.iter().map(|&u| (u as f64 - m).powi(2)).sum::<f64>() / 4000.0;
        assert!((st.mean[0] as f64 - m).abs() < 1e-3);
        assert!(
            (st.variance[0] as f64 - v).abs() < 1e-3 * v,
            "{} vs {v}",
            st.variance[0]
        );
    }
}
