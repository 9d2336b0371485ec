//! `docmoco synth`: the generated document corpus (the embedded default data).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use docmoco::train::progress::counter;
use docmoco_synth::{write_corpus, write_preview, DocClass, SynthConfig};

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Output folder: cls/{train,test}/<class>/, det/{train,test}/{images,gt}/, unlabeled/.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of pages (spread evenly over the classes).
    #[arg(long, default_value_t = 600)]
    pub pages: usize,
    /// Corpus seed: the same seed gives the same pages.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Long side of each page in pixels.
    #[arg(long, default_value_t = 512)]
    pub size: u32,
    /// Fraction of each class held out as test split.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f32,
    /// Comma-separated classes (default: all: invoice, customs_declaration, generic_document,
    /// receipt, letter, form).
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// No scan-like degradations (clean renders).
    #[arg(long)]
    pub clean: bool,
    /// Only write N preview pages with their ground-truth boxes drawn, into --out.
    #[arg(long)]
    pub preview: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn config(a: &SynthArgs) -> Result<SynthConfig> {
    let classes = if a.classes.is_empty() {
        DocClass::ALL.to_vec()
    } else {
        a.classes
            .iter()
            .map(|c| c.parse::<DocClass>())
            .collect::<Result<Vec<_>, _>>()?
    };
    let cfg = SynthConfig {
        pages: a.pages,
        seed: a.seed,
        size: a.size,
        test_fraction: a.test_fraction,
        classes,
        degrade: !a.clean,
    };
    cfg.validate()?;
    Ok(cfg)
}

pub fn run(a: SynthArgs) -> Result<()> {
    let cfg = config(&a)?;
    if let Some(n) = a.preview {
        let files = write_preview(&cfg, &a.out, n)?;
        for f in files {
            println!("{}", f.display());
        }
        return Ok(());
    }
    let t = Instant::now();
    let bar = counter(cfg.pages, "generating pages", a.quiet);
    let tick = |_: usize| bar.inc(1);
    let summary = write_corpus(&cfg, &a.out, &tick)?;
    bar.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{} pages ({} train, {} test, {} text lines) in {:.1} s ({:.1} pages/s) → {}",
        summary.pages,
        summary.train,
        summary.test,
        summary.lines,
        secs,
        summary.pages as f64 / secs.max(1e-9),
        a.out.display()
    );
    for (class, train, test) in &summary.per_class {
        println!("  {:<22} train {train:>5}  test {test:>5}", class.as_str());
    }
    Ok(())
}
