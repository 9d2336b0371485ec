//! A 2-D map of embeddings by principal component analysis: the two directions of largest
//! variance, found by power iteration on the `D x D` covariance (D ≤ 2048, so this costs
//! milliseconds; no linear-algebra crate needed). PCA is linear and deterministic, which is
//! what a run report wants: two runs' maps are comparable, and distances along the axes mean
//! something (t-SNE/UMAP would separate clusters more but invent distances).

/// Rows of `x` (`n x dim`) projected on the top two principal components, with the fraction
/// of the total variance each explains.
pub fn pca_2d(x: &[f32], dim: usize) -> (Vec<[f32; 2]>, [f64; 2]) {
    let n = x.len().checked_div(dim).unwrap_or(0);
    if n == 0 {
        return (Vec::new(), [0.0; 2]);
    }
    let mut mean = vec![0f64; dim];
    for r in x.chunks_exact(dim) {
        for (m, &v) in mean.iter_mut().zip(r) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0f64; dim * dim];
    let mut centred = vec![0f64; dim];
    for r in x.chunks_exact(dim) {
        for (c, (&v, m)) in centred.iter_mut().zip(r.iter().zip(&mean)) {
            *c = v as f64 - m;
        }
        for i in 0..dim {
            let ci = centred[i];
            for j in i..dim {
                cov[i * dim + j] += ci * centred[j];
            }
        }
    }
    for i in 0..dim {
        for j in i..dim {
            let v = cov[i * dim + j] / n as f64;
            cov[i * dim + j] = v;
            cov[j * dim + i] = v;
        }
    }
    let total: f64 = (0..dim).map(|i| cov[i * dim + i]).sum();
    let mut comps: Vec<Vec<f64>> = Vec::new();
    let mut explained = [0.0; 2];
    for e in explained.iter_mut() {
        // Deterministic start that is not orthogonal to any axis.
        let mut v: Vec<f64> = (0..dim).map(|i| 1.0 + (i as f64 * 0.618).fract()).collect();
        let mut lambda = 0.0;
        for _ in 0..500 {
            let mut w: Vec<f64> = (0..dim)
                .map(|i| (0..dim).map(|j| cov[i * dim + j] * v[j]).sum())
                .collect();
            // Deflate: stay orthogonal to the components already found.
            for p in &comps {
                let d: f64 = w.iter().zip(p).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(p).for_each(|(a, b)| *a -= d * b);
            }
            let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm < 1e-30 {
                break;
            }
            w.iter_mut().for_each(|a| *a /= norm);
            let delta: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = w;
            lambda = norm;
            if delta < 1e-10 {
                break;
            }
        }
        // Sign convention: the largest coefficient is positive, so maps do not flip.
        if let Some(big) = v.iter().copied().max_by(|a, b| a.abs().total_cmp(&b.abs())) {
            if big < 0.0 {
                v.iter_mut().for_each(|a| *a = -*a);
            }
        }
        *e = if total > 0.0 { lambda / total } else { 0.0 };
        comps.push(v);
    }
    let points = x
        .chunks_exact(dim)
        .map(|r| {
            let p = |c: &Vec<f64>| {
                r.iter()
                    .zip(&mean)
                    .zip(c)
                    .map(|((&v, m), w)| (v as f64 - m) * w)
                    .sum::<f64>() as f32
            };
            [p(&comps[0]), p(&comps[1])]
        })
        .collect();
    (points, explained)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_axes_of_an_elongated_cloud() {
        // Points spread along (1, 1, 0)/√2 and, less, along z, uncorrelated (the z pattern
        // + - - + sums to zero against every run of four evenly spaced t).
        let mut x = Vec::new();
        for i in 0..48 {
            let t = (i as f32 - 23.5) / 10.0;
            let s = [0.5, -0.5, -0.5, 0.5][i % 4];
            let a = 10.0 * t / 2f32.sqrt();
            x.extend([a + 5.0, a + 5.0, 3.0 * s]);
        }
        let (p, explained) = pca_2d(&x, 3);
        assert_eq!(p.len(), 48);
        // First coordinate is the position along the long axis (up to the offset).
        for (i, q) in p.iter().enumerate() {
            let t = (i as f32 - 23.5) / 10.0;
            assert!((q[0] - 10.0 * t).abs() < 1e-3, "{i}: {q:?}");
        }
        assert!(explained[0] > 0.9 && explained[1] > 0.0);
        assert!((explained[0] + explained[1] - 1.0).abs() < 1e-9);
    }
}
