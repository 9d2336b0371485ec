//! `docmoco embed`, `search`, `dedup`, `cluster`: the learned representation used directly —
//! an embedding index of a folder, nearest pages, near-duplicate groups, k-means clusters.
//! The work is in `docmoco::tasks::embed`; this file parses, prints and writes files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use docmoco::tasks::embed::cluster::{kmeans, nmi, purity};
use docmoco::tasks::embed::contact_sheet::{contact_sheet, Tile};
use docmoco::tasks::embed::dedup::{centred, duplicate_groups};
use docmoco::tasks::embed::index::{csv_field, index_paths};
use docmoco::tasks::embed::search::{precision_at_k, top_k};
use docmoco::tasks::embed::{embed_folder, EmbedConfig, Embedder, EmbeddingIndex};
use docmoco::tasks::init::Init;
use docmoco_data::PageRef;

#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// Backbone: random, moco:RUN_DIR (or moco:FILE.safetensors) or torchvision:FILE.
    #[arg(long)]
    pub init: String,
    /// Folder of page images and/or PDFs, searched recursively. Labels are recorded when it is
    /// an ImageFolder (DIR/<class>/...) or DIR/{train,val,test}/<class>/....
    #[arg(long)]
    pub data: PathBuf,
    /// Output: FILE.npy (float32 [N, D]) with FILE.json (metadata, pages) and FILE.csv beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// Side of the square network input (px) [default: the MoCo run's, else 64].
    #[arg(long)]
    pub image_size: Option<u32>,
    /// Pages per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Seed of random weights (--init random).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Loader threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Compute device: cpu (default) or wgpu when built with that feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run_embed(a: EmbedArgs) -> Result<()> {
    let init: Init = a.init.parse()?;
    let cfg = EmbedConfig {
        init,
        image_size: a.image_size,
        seed: a.seed,
        batch_size: a.batch_size,
        workers: a.workers,
        device: a.device,
        quiet: a.quiet,
    };
    let out = embed_folder(&a.data, &cfg)?;
    let (npy, json, csv) = index_paths(&a.out);
    out.index.save(&a.out)?;
    let idx = &out.index;
    println!(
        "embedded {} pages ({} skipped) with {} at {} px: dim {}, {:.1} pages/s ({:.1} s)",
        idx.len(),
        out.skipped,
        idx.meta.init,
        idx.meta.image_size,
        idx.dim(),
        out.pages_per_second(),
        out.seconds
    );
    if !idx.meta.classes.is_empty() {
        let labelled = idx.meta.rows.iter().filter(|r| r.label.is_some()).count();
        println!(
            "labels: {} classes {:?} ({labelled} of {} pages labelled)",
            idx.meta.classes.len(),
            idx.meta.classes,
            idx.len()
        );
    }
    println!(
        "→ {} + {} + {}",
        npy.display(),
        json.display(),
        csv.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// The index written by `docmoco embed` (FILE.npy or FILE.json).
    #[arg(long)]
    pub index: PathBuf,
    /// Query pages (images or PDFs; a PDF's first page). Embedded with the index's backbone.
    #[arg(value_name = "QUERY_IMAGE")]
    pub queries: Vec<PathBuf>,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Write a contact sheet PNG: one row per query, the query (red frame) then its neighbours.
    #[arg(long)]
    pub sheet: Option<PathBuf>,
    /// Instead of queries: precision@k of every labelled page against the rest of the index
    /// (the share of its k nearest other pages with its class).
    #[arg(long)]
    pub eval: bool,
    /// Compute device for embedding the queries.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

fn short_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn run_search(a: SearchArgs) -> Result<()> {
    let idx = EmbeddingIndex::load(&a.index)?;
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    if a.eval {
        let Some(labels) = idx.labels() else {
            bail!(
                "--eval: index {} has no labels (embed an ImageFolder to get them)",
                a.index.display()
            );
        };
        if a.k >= idx.len() {
            bail!(
                "--k {} must be smaller than the index ({} pages) for --eval",
                a.k,
                idx.len()
            );
        }
        let p = precision_at_k(&idx.vectors, idx.dim(), &labels, a.k);
        let chance: f64 = {
            let mut counts = vec![0usize; idx.meta.classes.len()];
            labels.iter().for_each(|&l| counts[l] += 1);
            let n = labels.len() as f64;
            counts
                .iter()
                .map(|&c| c as f64 / n * (c as f64 - 1.0).max(0.0) / (n - 1.0))
                .sum()
        };
        println!(
            "precision@{}: {:.1}% over {} pages ({}; chance {:.1}%)",
            a.k,
            p * 100.0,
            idx.len(),
            idx.meta.init,
            chance * 100.0
        );
        return Ok(());
    }
    if a.queries.is_empty() {
        bail!("give at least one QUERY_IMAGE (or --eval)");
    }
    let embedder = Embedder::for_index(&idx.meta, &a.device)?;
    if embedder.dim() != idx.dim() {
        bail!(
            "the backbone gives {}-d features but the index holds {}-d vectors",
            embedder.dim(),
            idx.dim()
        );
    }
    let pages: Vec<PageRef> = a
        .queries
        .iter()
        .map(|q| {
            if q.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")) {
                PageRef::PdfPage {
                    path: q.clone(),
                    page: 0,
                }
            } else {
                PageRef::Image(q.clone())
            }
        })
        .collect();
    let qv = embedder.embed_pages(&pages)?;
    let hits = top_k(&idx.vectors, &qv, idx.dim(), a.k);
    let mut tiles = Vec::new();
    for (page, h) in pages.iter().zip(&hits) {
        println!("query {page}");
        println!("  rank  cosine  class  page");
        for (r, hit) in h.iter().enumerate() {
            println!(
                "  {:>4}  {:.4}  {}  {}",
                r + 1,
                hit.score,
                idx.class_name(hit.row),
                idx.meta.rows[hit.row].name()
            );
        }
        if a.sheet.is_some() {
            let mut q = Tile::of_page(page, vec!["query".into(), short_name(page.path())], None);
            q.highlight = true;
            tiles.push(q);
            for (r, hit) in h.iter().enumerate() {
                let row = &idx.meta.rows[hit.row];
                let mut caption = vec![format!("#{} cos {:.3}", r + 1, hit.score)];
                caption.push(short_name(&row.path));
                if !idx.class_name(hit.row).is_empty() {
                    caption.push(idx.class_name(hit.row).to_string());
                }
                tiles.push(Tile::of_page(&row.page_ref(), caption, Some(hit.score)));
            }
        }
    }
    if let Some(sheet) = &a.sheet {
        let cols = a.k.min(idx.len()) + 1;
        let img = contact_sheet(
            &format!("nearest pages by cosine ({})", idx.meta.init),
            &tiles,
            cols,
        )?;
        img.save(sheet)
            .with_context(|| format!("cannot write {}", sheet.display()))?;
        println!("contact sheet → {}", sheet.display());
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct DedupArgs {
    /// The index written by `docmoco embed` (FILE.npy or FILE.json).
    #[arg(long)]
    pub index: PathBuf,
    /// Cosine similarity (of mean-centred embeddings unless --no-centre) at or above which two
    /// pages are duplicates; groups are transitive.
    #[arg(long, default_value_t = 0.95)]
    pub threshold: f32,
    /// CSV of the groups (group, row, path, page, label, min_link) [default: INDEX-dedup.csv].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Compare raw embeddings instead of subtracting the index's mean first (raw cosines of
    /// pooled features are 0.9+ for any two pages, so thresholds mean little).
    #[arg(long)]
    pub no_centre: bool,
}

pub fn run_dedup(a: DedupArgs) -> Result<()> {
    if !(-1.0..=1.0).contains(&a.threshold) {
        bail!(
            "--threshold {} is not a cosine similarity (-1 to 1)",
            a.threshold
        );
    }
    let idx = EmbeddingIndex::load(&a.index)?;
    let started = std::time::Instant::now();
    let vectors = if a.no_centre {
        idx.vectors.clone()
    } else {
        centred(&idx.vectors, idx.dim())
    };
    let groups = duplicate_groups(&vectors, idx.dim(), a.threshold);
    let pages: usize = groups.iter().map(|g| g.rows.len()).sum();
    let mut csv = String::from("group,row,path,page,label,min_link\n");
    for (g, group) in groups.iter().enumerate() {
        for &row in &group.rows {
            let r = &idx.meta.rows[row];
            csv.push_str(&format!(
                "{g},{row},{},{},{},{:.6}\n",
                csv_field(&r.path.display().to_string()),
                r.page,
                csv_field(idx.class_name(row)),
                group.min_link
            ));
        }
    }
    let out = a.out.unwrap_or_else(|| {
        let (npy, _, _) = index_paths(&a.index);
        let mut s = npy.with_extension("").into_os_string();
        s.push("-dedup.csv");
        PathBuf::from(s)
    });
    std::fs::write(&out, csv).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "{} groups of near-duplicates ({} cosine ≥ {}) holding {pages} of {} pages; {} would remain after keeping one per group ({:.2} s)",
        groups.len(),
        if a.no_centre { "raw" } else { "centred" },
        a.threshold,
        idx.len(),
        idx.len() - pages + groups.len(),
        started.elapsed().as_secs_f64()
    );
    for (g, group) in groups.iter().enumerate().take(20) {
        println!(
            "group {g} ({} pages, weakest link {:.4}):",
            group.rows.len(),
            group.min_link
        );
        for &row in group.rows.iter().take(10) {
            println!("  {}", idx.meta.rows[row].name());
        }
    }
    if groups.len() > 20 {
        println!("... and {} more groups", groups.len() - 20);
    }
    println!("→ {}", out.display());
    Ok(())
}

#[derive(Args, Debug)]
pub struct ClusterArgs {
    /// The index written by `docmoco embed` (FILE.npy or FILE.json).
    #[arg(long)]
    pub index: PathBuf,
    /// Number of clusters.
    #[arg(long)]
    pub k: usize,
    /// Seed of the k-means++ initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: clusters.csv, summary.json, cluster-NN.png contact sheets.
    #[arg(long)]
    pub out: PathBuf,
    /// Lloyd iterations at most.
    #[arg(long, default_value_t = 100)]
    pub max_iter: usize,
    /// Pages per contact sheet (those closest to the cluster centre).
    #[arg(long, default_value_t = 24)]
    pub sheet_pages: usize,
}

pub fn run_cluster(a: ClusterArgs) -> Result<()> {
    let idx = EmbeddingIndex::load(&a.index)?;
    let dim = idx.dim();
    let km = kmeans(&idx.vectors, dim, a.k, a.seed, a.max_iter)
        .with_context(|| format!("clustering {}", a.index.display()))?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let dist = |row: usize| {
        let c = &km.centroids[km.assignment[row] * dim..(km.assignment[row] + 1) * dim];
        idx.vector(row)
            .iter()
            .zip(c)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt()
    };
    let mut csv = String::from("row,path,page,label,cluster,distance\n");
    for (row, r) in idx.meta.rows.iter().enumerate() {
        csv.push_str(&format!(
            "{row},{},{},{},{},{:.6}\n",
            csv_field(&r.path.display().to_string()),
            r.page,
            csv_field(idx.class_name(row)),
            km.assignment[row],
            dist(row)
        ));
    }
    let csv_path = a.out.join("clusters.csv");
    std::fs::write(&csv_path, csv)
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    let mut sizes = vec![0usize; a.k];
    km.assignment.iter().for_each(|&c| sizes[c] += 1);
    let scores = idx
        .labels()
        .map(|l| (purity(&km.assignment, &l), nmi(&km.assignment, &l)));
    println!(
        "k-means k={} seed={} on {} pages: {} iterations, inertia {:.3}, sizes {:?}",
        a.k,
        a.seed,
        idx.len(),
        km.iterations,
        km.inertia,
        sizes
    );
    if let Some((p, n)) = scores {
        println!(
            "against the folder's {} classes: purity {:.1}%, NMI {:.3}",
            idx.meta.classes.len(),
            p * 100.0,
            n
        );
    }
    for c in 0..a.k {
        let mut members: Vec<usize> = (0..idx.len()).filter(|&r| km.assignment[r] == c).collect();
        members.sort_by(|&x, &y| dist(x).total_cmp(&dist(y)));
        let mut counts = vec![0usize; idx.meta.classes.len()];
        members
            .iter()
            .filter_map(|&r| idx.meta.rows[r].label)
            .for_each(|l| counts[l] += 1);
        let majority = counts
            .iter()
            .enumerate()
            .max_by_key(|(_, &n)| n)
            .filter(|(_, &n)| n > 0)
            .map(|(l, &n)| format!(", {} {n}/{}", idx.meta.classes[l], members.len()))
            .unwrap_or_default();
        let tiles: Vec<Tile> = members
            .iter()
            .take(a.sheet_pages)
            .map(|&r| {
                let row = &idx.meta.rows[r];
                let mut caption = vec![short_name(&row.path)];
                if !idx.class_name(r).is_empty() {
                    caption.push(idx.class_name(r).to_string());
                }
                Tile::of_page(&row.page_ref(), caption, None)
            })
            .collect();
        let sheet = contact_sheet(
            &format!("cluster {c}: {} pages{majority}", members.len()),
            &tiles,
            8,
        )?;
        let path = a.out.join(format!("cluster-{c:02}.png"));
        sheet
            .save(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let summary = serde_json::json!({
        "index": a.index,
        "init": idx.meta.init,
        "k": a.k,
        "seed": a.seed,
        "iterations": km.iterations,
        "inertia": km.inertia,
        "sizes": sizes,
        "purity": scores.map(|s| s.0),
        "nmi": scores.map(|s| s.1),
    });
    let sp = a.out.join("summary.json");
    std::fs::write(&sp, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", sp.display()))?;
    println!(
        "→ {} (clusters.csv, summary.json, cluster-NN.png)",
        a.out.display()
    );
    Ok(())
}
