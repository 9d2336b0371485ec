//! `docmoco`: parse the command line, call the library, map errors to an exit code.

mod cmd;

use clap::Parser;

/// mimalloc instead of glibc's malloc. Why: a training step frees and reallocates tensors of
/// tens of MB from several threads; glibc kept them in per-thread arenas, and peak RSS at 112 px
/// was ~480 or ~690 MB from one run to the next. With mimalloc it is ~510–560 MB every run, and
/// every step measured ran 6–17% faster (docs/performance.md, session 10).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (v3, the version `libmimalloc-sys` builds; v2 has it at
/// the same place), which `libmimalloc-sys` does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never hand freed pages back to the OS. Why: the same tensors are freed and allocated again
/// within every step, and by default mimalloc decommits free pages after a second, so later
/// steps faulted them in and the kernel zeroed them again (`clear_page_erms`, 6.5% of the ×0.25
/// network's step). The process then keeps its peak (which it reaches every step anyway):
/// +5–15% at width 1/4, the same speed and +40 MB at 112 px.
fn keep_freed_pages() {
    // SAFETY: sets one integer option of the allocator; any value is valid for this option.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

fn main() {
    keep_freed_pages();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is mimalloc's purge delay: the value mimalloc read from the
    /// environment variable of that name is what the number reads.
    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_names_so() {
        let value = std::env::var("MIMALLOC_PURGE_DELAY").ok();
        // SAFETY: reads one integer option.
        let read = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        match value {
            Some(v) => assert_eq!(read, v.parse::<std::ffi::c_long>().unwrap()),
            None => assert_eq!(read, 1000, "mimalloc v3's default purge delay"),
        }
        keep_freed_pages();
        // SAFETY: as above.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            -1
        );
    }
}
