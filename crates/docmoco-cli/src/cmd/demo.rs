//! `docmoco demo`: the whole story on generated documents with no arguments.
//!
//! 1. generate a labelled corpus of document pages (`synth`);
//! 2. MoCo v2 pre-training of a small ResNet-18 on the unlabeled pages (`moco-v2-tiny`),
//!    with the kNN monitor on the labelled split every epoch;
//! 3. document classification from random init and from the MoCo backbone: a linear probe
//!    (frozen backbone) and full fine-tuning;
//! 4. a results table — kNN, probe and fine-tune accuracy, random init against MoCo — and
//!    where every file is.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use docmoco::tasks::classify::config::ClassifyConfig;
use docmoco::tasks::classify::finetune::finetune;
use docmoco::tasks::classify::probe::linear_probe;
use docmoco::tasks::classify::run::ClassifyOptions;
use docmoco::train::{pretrain, PretrainConfig, PretrainOptions};
use docmoco_synth::{write_corpus, DocClass, SynthConfig};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Folder for the corpus and the run.
    #[arg(long, default_value = "docmoco-demo")]
    pub out: PathBuf,
    /// Generated pages.
    #[arg(long, default_value_t = 960)]
    pub pages: usize,
    /// Pre-training epochs.
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    /// Long side of generated pages (px).
    #[arg(long, default_value_t = 384)]
    pub page_size: u32,
    /// Seed of the corpus, the pre-training and the classifiers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let data = a.out.join("data");
    let run_dir = a.out.join("run");
    println!(
        "[1/4] generating {} document pages into {}",
        a.pages,
        data.display()
    );
    let synth = SynthConfig {
        pages: a.pages,
        seed: a.seed,
        size: a.page_size,
        test_fraction: 0.2,
        classes: DocClass::ALL.to_vec(),
        degrade: true,
    };
    synth.validate()?;
    let bar = docmoco::train::progress::counter(a.pages, "generating pages", a.quiet);
    let tick = |_: usize| bar.inc(1);
    let corpus = write_corpus(&synth, &data, &tick)?;
    bar.finish_and_clear();
    println!(
        "      {} pages, {} classes ({:.0} s)",
        corpus.pages,
        corpus.per_class.len(),
        started.elapsed().as_secs_f64()
    );

    println!(
        "[2/4] MoCo v2 pre-training (moco-v2-tiny) for {} epochs into {}",
        a.epochs,
        run_dir.display()
    );
    let mut cfg = PretrainConfig::preset("moco-v2-tiny")?;
    cfg.train.epochs = a.epochs;
    cfg.train.seed = a.seed;
    cfg.data.dir = Some(data.join("unlabeled"));
    cfg.data.knn_dir = Some(data.join("cls"));
    cfg.train.knn_every = 5;
    // A queue larger than the corpus would hold stale keys of the query's own page.
    cfg.moco.queue_size = cfg
        .moco
        .queue_size
        .min(corpus.pages / cfg.train.batch_size * cfg.train.batch_size);
    cfg.validate()?;
    let summary = pretrain(
        &cfg,
        &PretrainOptions {
            out_dir: run_dir.clone(),
            resume: false,
            quiet: a.quiet,
            interrupt_after: None,
        },
    )?;

    println!("[3/4] document classification, random init vs MoCo: linear probe (frozen backbone) and fine-tuning");
    // (accuracy %, macro-F1 %) per init: [probe, fine-tune].
    let mut scores: Vec<[(f64, f64); 2]> = Vec::new();
    for (name, init) in [
        ("random", "random".to_string()),
        ("moco", format!("moco:{}", run_dir.display())),
    ] {
        let mut row = [(f64::NAN, f64::NAN); 2];
        for (k, mode) in ["probe", "finetune"].into_iter().enumerate() {
            let mut cc = if k == 0 {
                ClassifyConfig::probe(&init, cfg.model.clone())
            } else {
                ClassifyConfig::finetune(&init, cfg.model.clone())
            };
            cc.train.seed = a.seed;
            let opts = ClassifyOptions {
                data: data.join("cls"),
                out_dir: a.out.join(format!("{mode}-{name}")),
                quiet: a.quiet,
            };
            let report = if k == 0 {
                linear_probe(&cc, &opts)?
            } else {
                finetune(&cc, &opts)?
            };
            row[k] = (
                report.metrics.accuracy * 100.0,
                report.metrics.macro_f1 * 100.0,
            );
        }
        scores.push(row);
    }

    println!(
        "[4/4] results ({:.1} min in all)",
        started.elapsed().as_secs_f64() / 60.0
    );
    let chance = 100.0 / corpus.per_class.len() as f64;
    let random = summary.knn.first().map(|k| k.1 * 100.0);
    let best = summary
        .knn
        .iter()
        .skip(1)
        .map(|k| k.1)
        .fold(f64::NAN, f64::max)
        * 100.0;
    let last = summary.knn.last().map(|k| k.1 * 100.0);
    let cell = |v: Option<f64>| v.map(|v| format!("{v:.1}%")).unwrap_or_else(|| "-".into());
    println!();
    println!(
        "  ResNet-18 x0.25 @64px, {} test pages, chance {chance:.1}%",
        corpus.test
    );
    println!("  | backbone               | kNN (k=200) | probe acc / macro-F1 | fine-tune acc / macro-F1 |");
    println!("  |------------------------|-------------|----------------------|--------------------------|");
    let pair = |p: (f64, f64)| format!("{:.1}% / {:.1}%", p.0, p.1);
    for (label, knn, row) in [
        ("random initialisation ".to_string(), random, scores.first()),
        (
            format!("MoCo v2, {:>3} epochs   ", summary.epochs),
            last,
            scores.get(1),
        ),
    ] {
        println!(
            "  | {label} | {:>11} | {:>20} | {:>24} |",
            cell(knn),
            row.map(|r| pair(r[0])).unwrap_or_default(),
            row.map(|r| pair(r[1])).unwrap_or_default()
        );
    }
    if best.is_finite() {
        println!("  (best kNN during pre-training: {best:.1}%)");
    }
    println!();
    println!(
        "  InfoNCE loss: last epoch mean {:.3} (ln(K+1) = {:.3} for K = {}), {:.1} img/s",
        summary.last_epoch_loss,
        ((cfg.moco.queue_size + 1) as f64).ln(),
        cfg.moco.queue_size,
        summary.images_per_second
    );
    println!(
        "  corpus:    {}  (cls/ ImageFolder, det/ ICDAR 2015, unlabeled/)",
        data.display()
    );
    println!(
        "  run:       {}  (config.toml, metrics.csv, curves.svg, checkpoints/)",
        run_dir.display()
    );
    if let Some(b) = &summary.backbone {
        println!("  backbone:  {}", b.display());
    }
    println!(
        "  classify:  {}/{{probe,finetune}}-{{random,moco}}  (metrics.json, confusion.png, misclassified.csv)",
        a.out.display()
    );
    Ok(())
}
