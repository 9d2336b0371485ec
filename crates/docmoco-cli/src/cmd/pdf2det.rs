//! `docmoco pdf2det`: born-digital PDFs → text-line detection data (ICDAR 2015 layout).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use docmoco_synth::pdf_to_det;

#[derive(Args, Debug)]
pub struct Pdf2DetArgs {
    /// Folder of PDFs (searched recursively).
    #[arg(long)]
    pub pdfs: PathBuf,
    /// Output folder: images/<stem>_p<page>.png and gt/gt_<stem>_p<page>.txt.
    #[arg(long)]
    pub out: PathBuf,
    /// Long side of the rendered pages (px).
    #[arg(long, default_value_t = 1280)]
    pub size: u32,
}

pub fn run(a: Pdf2DetArgs) -> Result<()> {
    let s = pdf_to_det(&a.pdfs, &a.out, a.size)?;
    println!(
        "{} PDFs: {} pages with {} text lines written to {} ({} pages without a text layer skipped)",
        s.pdfs,
        s.pages,
        s.lines,
        a.out.display(),
        s.empty_pages
    );
    for f in &s.failures {
        eprintln!("warning: {f}");
    }
    Ok(())
}
