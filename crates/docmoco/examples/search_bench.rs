//! Where exact search and all-pairs dedup stop being fast: times `top_k` over N random unit
//! vectors of dimension D for batches of queries, and `similar_pairs` (the dedup kernel) on
//! a smaller N, extrapolated by N².
//!
//!   cargo run --release -p docmoco --example search_bench -- [N] [D]     (default 1000000 128)
//!
//! Random vectors are the worst case for nothing in particular: the kernels do the same work
//! whatever the values, so the timings hold for real embeddings of the same shape.

use std::time::Instant;

use docmoco::tasks::embed::dedup::similar_pairs;
use docmoco::tasks::embed::search::top_k;
use rand::{Rng, SeedableRng};

fn unit_rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f32> = (0..n * dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
    for r in v.chunks_exact_mut(dim) {
        let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt();
        r.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let dim = args.get(1).copied().unwrap_or(128);
    println!(
        "{} threads; base {n} x {dim} float32 ({:.0} MB)",
        rayon::current_num_threads(),
        (n * dim * 4) as f64 / 1e6
    );
    let base = unit_rows(n, dim, 1);
    for q in [1usize, 16, 256] {
        let queries = unit_rows(q, dim, 2);
        let t = Instant::now();
        let hits = top_k(&base, &queries, dim, 10);
        let s = t.elapsed().as_secs_f64();
        assert_eq!(hits.len(), q);
        println!(
            "search k=10: {q:>4} queries in {:>8.1} ms ({:.2} ms/query, {:.1} GFLOP/s)",
            s * 1e3,
            s * 1e3 / q as f64,
            2.0 * (q * n * dim) as f64 / s / 1e9
        );
    }
    let m = n.min(20_000);
    let t = Instant::now();
    let pairs = similar_pairs(&base[..m * dim], dim, 0.95);
    let s = t.elapsed().as_secs_f64();
    let per_pair = s / (m as f64 * (m as f64 - 1.0) / 2.0);
    println!(
        "dedup all pairs: {m} rows in {:.2} s ({} pairs ≥ 0.95); extrapolated: 100k rows {:.0} s, 1M rows {:.1} h",
        s,
        pairs.len(),
        per_pair * 1e5 * 1e5 / 2.0,
        per_pair * 1e6 * 1e6 / 2.0 / 3600.0
    );
}
