//! Sub-commands. Each file turns its arguments into a library configuration and calls it.

mod bench;
mod check_data;
mod demo;
mod pretrain;
mod synth;

use clap::{Parser, Subcommand};

/// Self-supervised pre-training (MoCo v1/v2) of vision backbones on document images.
#[derive(Parser, Debug)]
#[command(name = "docmoco", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The whole story on generated documents, no arguments needed: generate a corpus,
    /// pre-train a small ResNet with MoCo v2, compare its features with random init.
    Demo(demo::DemoArgs),
    /// Pre-train a backbone with MoCo on a folder of document images or PDFs.
    Pretrain(pretrain::PretrainArgs),
    /// Generate a corpus of synthetic document pages with class labels and text-line boxes.
    Synth(synth::SynthArgs),
    /// Validate a dataset folder and print what it holds.
    CheckData(check_data::CheckDataArgs),
    /// Measure throughput (img/s) and peak memory.
    Bench(bench::BenchArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Pretrain(a) => pretrain::run(a),
        Command::Synth(a) => synth::run(a),
        Command::CheckData(a) => check_data::run(a),
        Command::Bench(a) => bench::run(a),
    }
}
