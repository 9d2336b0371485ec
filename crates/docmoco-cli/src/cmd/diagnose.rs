//! `docmoco diagnose --run RUN_DIR [--data DIR]`: is a MoCo run learning page content or a
//! shortcut? (`docmoco::train::diagnose`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use docmoco::train::diagnose::diagnose_run;

#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    /// A MoCo v1/v2/v3 pre-training run (finished or still running: its newest checkpoint).
    #[arg(long)]
    pub run: PathBuf,
    /// Pages to measure on [default: the run's own data folder].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// How many pages to measure.
    #[arg(long, default_value_t = 512)]
    pub pages: usize,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: DiagnoseArgs) -> Result<()> {
    let (d, path) = diagnose_run(&a.run, a.data.as_deref(), a.pages, a.quiet)?;
    println!("{}", d.summary());
    for reason in &d.flags.reasons {
        println!("warning: {reason}");
    }
    if d.flags.reasons.is_empty() {
        println!("{}", d.unflagged_verdict());
    }
    println!("diagnosis → {}", path.display());
    Ok(())
}
