//! Sub-commands. Each file turns its arguments into a library configuration and calls it.

mod pretrain;

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
    /// Pre-train a backbone with MoCo on a folder of document images.
    Pretrain(pretrain::PretrainArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Pretrain(args) => pretrain::run(args),
    }
}
