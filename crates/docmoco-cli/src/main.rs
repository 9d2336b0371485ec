//! `docmoco`: parse the command line, call the library, map errors to an exit code.

mod cmd;

use clap::Parser;

/// mimalloc instead of glibc's malloc. Why: the training step frees and reallocates tensors of
/// tens of MB from several threads; glibc keeps them in per-thread arenas, so peak RSS at 112 px
/// was ~480 or ~690 MB from one run to the next (docs/performance.md, session 10).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = cmd::Cli::parse();
    // On a worker of the compute pool: parallel kernels then cost no cross-thread hand-off.
    if let Err(err) = docmoco::kernels::on_compute_pool(|| cmd::run(cli)) {
        eprintln!("error: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(2);
    }
}
