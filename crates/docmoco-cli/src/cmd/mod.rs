//! Sub-commands. Each file turns its arguments into a library configuration and calls it.

mod arch;
mod bench;
mod check_data;
mod classify;
mod demo;
mod detect;
mod diagnose;
mod embed;
mod pdf2det;
mod pretrain;
mod report;
mod synth;

use clap::{Parser, Subcommand};

/// Self-supervised pre-training (MoCo v1/v2/v3) of vision backbones on document images.
#[derive(Parser, Debug)]
#[command(name = "docmoco", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The whole story on generated documents, no arguments needed: generate a corpus,
    /// pre-train a small ResNet with MoCo v2, classify documents from random init and from
    /// MoCo (kNN, linear probe, fine-tuning).
    Demo(demo::DemoArgs),
    /// Pre-train a backbone with MoCo on a folder of document images or PDFs.
    Pretrain(pretrain::PretrainArgs),
    /// Generate a corpus of synthetic document pages with class labels and text-line boxes.
    Synth(synth::SynthArgs),
    /// Turn born-digital PDFs into text-line detection data (boxes from the text layer).
    Pdf2det(pdf2det::Pdf2DetArgs),
    /// Validate a dataset folder and print what it holds.
    CheckData(check_data::CheckDataArgs),
    /// Measure throughput (img/s) and peak memory.
    Bench(bench::BenchArgs),
    /// Document classification: a linear classifier on the frozen backbone's features.
    LinearProbe(classify::LinearProbeArgs),
    /// Document classification: fine-tune the whole backbone with a new head.
    FinetuneCls(classify::FinetuneArgs),
    /// Classify pages with a trained linear-probe / finetune-cls run.
    PredictCls(classify::PredictArgs),
    /// The comparison table: probe and fine-tune from each --init, mean ± std over seeds.
    CompareCls(classify::CompareArgs),
    /// Text-line detection: train DBNet on ICDAR-format pages from any --init.
    FinetuneDet(detect::FinetuneDetArgs),
    /// Text-line detection: ICDAR 2015 precision/recall/hmean of a model on a folder, or of
    /// any detector's result files (--pred/--gt).
    EvalDet(detect::EvalDetArgs),
    /// Detect text lines on pages (images, PDFs, folders): ICDAR result files + drawn PNGs.
    Detect(detect::DetectArgs),
    /// The detection comparison table: recall/precision/F1 from each --init.
    CompareDet(detect::CompareDetArgs),
    /// L2-normalised embeddings of every page of a folder: FILE.npy + FILE.json/.csv index.
    Embed(embed::EmbedArgs),
    /// Nearest pages of query images in an embedding index (cosine), optionally a contact sheet.
    Search(embed::SearchArgs),
    /// Groups of near-duplicate pages in an embedding index.
    Dedup(embed::DedupArgs),
    /// k-means clusters of an embedding index, with contact sheets and purity/NMI.
    Cluster(embed::ClusterArgs),
    /// A self-contained HTML report of a run: curves, config, results, embedding map.
    Report(report::ReportArgs),
    /// Shortcut / collapse diagnostic of a MoCo v1/v2 run: frozen instance accuracy,
    /// cos(q,k+) vs cos(q,k-), the queue's stale keys, embedding spread.
    Diagnose(diagnose::DiagnoseArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Pretrain(a) => pretrain::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Pdf2det(a) => pdf2det::run(a),
        Command::CheckData(a) => check_data::run(a),
        Command::Bench(a) => bench::run(a),
        Command::LinearProbe(a) => classify::run_probe(a),
        Command::FinetuneCls(a) => classify::run_finetune(a),
        Command::PredictCls(a) => classify::run_predict(a),
        Command::CompareCls(a) => classify::run_compare(a),
        Command::FinetuneDet(a) => detect::run_finetune(a),
        Command::EvalDet(a) => detect::run_eval(a),
        Command::Detect(a) => detect::run_detect(a),
        Command::CompareDet(a) => detect::run_compare(a),
        Command::Embed(a) => embed::run_embed(a),
        Command::Search(a) => embed::run_search(a),
        Command::Dedup(a) => embed::run_dedup(a),
        Command::Cluster(a) => embed::run_cluster(a),
        Command::Report(a) => report::run(a),
        Command::Diagnose(a) => diagnose::run(a),
    }
}
