//! `docmoco report RUN_DIR`: a self-contained HTML page of a run (`docmoco::tasks::report`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use docmoco::tasks::report::{write_report, ReportOptions};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A pre-training run, a classification run, or a folder of runs (a `docmoco demo` output).
    pub run_dir: PathBuf,
    /// Labelled pages (ImageFolder, or DIR/{train,test}/<class>) for the 2-D embedding map
    /// [default: RUN_DIR/data/cls or RUN_DIR/../data/cls when present].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output HTML file [default: RUN_DIR/report.html].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: ReportArgs) -> Result<()> {
    let s = write_report(&ReportOptions {
        run_dir: a.run_dir,
        data: a.data,
        out: a.out,
        quiet: a.quiet,
    })?;
    for line in &s.sections {
        println!("{line}");
    }
    println!("report → {}", s.path.display());
    Ok(())
}
