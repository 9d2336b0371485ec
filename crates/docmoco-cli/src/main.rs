//! `docmoco`: parse the command line, call the library, map errors to an exit code.

mod cmd;

use clap::Parser;

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
