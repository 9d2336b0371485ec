//! Renders chosen pages of a PDF to PNG with docmoco's own PDF input (`hayro`).
//!
//! It exists so that real-page data sets (`tools/realpages/build.sh`) go through exactly
//! the renderer that pre-training uses, without a poppler/pdfium dependency.
//!
//! `render_pages count FILE.pdf` prints the page count.
//! `render_pages render FILE.pdf OUT_PREFIX LONG_SIDE PAGE...` writes
//! `OUT_PREFIX` + `p0042.png` for each 1-based `PAGE`, the long side `LONG_SIDE` pixels;
//! pages without colour are saved as grayscale. A page that fails is reported on stderr
//! as `FAILED <file> page <n>: <why>` and skipped; the exit status is 0 unless no page
//! could be written.

use std::path::Path;
use std::process::ExitCode;

use docmoco_data::pdf::{pdf_page_count, render_pdf_pages};
use image::{DynamicImage, RgbImage};

fn usage() -> ExitCode {
    eprintln!(
        "usage: render_pages count FILE.pdf\n       \
         render_pages render FILE.pdf OUT_PREFIX LONG_SIDE PAGE..."
    );
    ExitCode::from(2)
}

/// Grayscale when every pixel is gray (most manual pages): a third of the PNG size.
fn compact(img: RgbImage) -> DynamicImage {
    if img.pixels().all(|p| p[0] == p[1] && p[1] == p[2]) {
        DynamicImage::ImageRgb8(img).into_luma8().into()
    } else {
        DynamicImage::ImageRgb8(img)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("count") if args.len() == 2 => match pdf_page_count(Path::new(&args[1])) {
            Ok(n) => {
                println!("{n}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("FAILED {}: {e}", args[1]);
                ExitCode::FAILURE
            }
        },
        Some("render") if args.len() >= 5 => {
            let pdf = Path::new(&args[1]);
            let prefix = &args[2];
            let Ok(long_side) = args[3].parse::<u32>() else {
                return usage();
            };
            let Some(pages) = args[4..]
                .iter()
                .map(|s| s.parse::<usize>().ok().filter(|&p| p >= 1))
                .collect::<Option<Vec<usize>>>()
            else {
                return usage();
            };
            let zero_based: Vec<usize> = pages.iter().map(|p| p - 1).collect();
            let results = render_pdf_pages(pdf, &zero_based, Some(long_side));
            let mut written = 0;
            for (page, result) in pages.iter().zip(results) {
                let out = format!("{prefix}p{page:04}.png");
                match result.map(compact) {
                    Ok(img) => match img.save(&out) {
                        Ok(()) => written += 1,
                        Err(e) => eprintln!("FAILED {} page {page}: {e}", pdf.display()),
                    },
                    Err(e) => eprintln!("FAILED {} page {page}: {e}", pdf.display()),
                }
            }
            if written > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => usage(),
    }
}
