//! PDF pages as images, with the pure-Rust `hayro` rasteriser.
//!
//! Many document collections ship as PDFs; rasterising them here avoids a poppler/pdfium
//! system dependency and a separate conversion step. Pages are rendered on a white
//! background (paper) straight at the target size, so no large bitmap is made and shrunk.
//! A malformed file must not abort a pre-training run over thousands of pages, so parsing
//! and rendering also turn a panic inside the rasteriser into an error for that page.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::Pdf;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{render, PixmapSettings, RenderCache, RenderSettings};
use image::RgbImage;

use crate::DataError;

/// Resolution used when no target size is given: 150 dpi (PDF units are 1/72 inch), enough
/// to read body text, small enough to keep a page near 1.2 x 1.7 kpx.
pub const DEFAULT_DPI: f32 = 150.0;

/// Largest side ever rendered, whatever the page size claims (the rasteriser's limit is
/// 65535; a poster-sized page at 150 dpi would otherwise take gigabytes).
pub const MAX_RENDER_SIDE: u32 = 8192;

fn pdf_error(path: &Path, page: Option<usize>, message: impl Into<String>) -> DataError {
    DataError::Pdf {
        path: path.to_path_buf(),
        page,
        message: message.into(),
    }
}

/// Text of a caught panic, for the error message.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Reads and parses a PDF file.
fn open(path: &Path) -> Result<Pdf, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    match catch_unwind(AssertUnwindSafe(|| Pdf::new(bytes))) {
        Ok(Ok(pdf)) => Ok(pdf),
        Ok(Err(e)) => Err(pdf_error(path, None, format!("cannot parse: {e:?}"))),
        Err(p) => Err(pdf_error(
            path,
            None,
            format!("parser panicked: {}", panic_message(&*p)),
        )),
    }
}

/// Number of pages of a PDF (parses the file; used at scan time).
pub fn pdf_page_count(path: &Path) -> Result<usize, DataError> {
    let pdf = open(path)?;
    let n = pdf.pages().len();
    Ok(n)
}

/// Scale from PDF units to pixels: long side = `long_side`, or [`DEFAULT_DPI`].
fn scale_for(width_pt: f32, height_pt: f32, long_side: Option<u32>) -> f32 {
    let long_pt = width_pt.max(height_pt).max(1.0);
    let target = match long_side {
        Some(s) => s as f32,
        None => long_pt * DEFAULT_DPI / 72.0,
    };
    target.min(MAX_RENDER_SIDE as f32).max(1.0) / long_pt
}

/// Renders pages `pages` (0-based) of one PDF, parsing the file once.
///
/// With `long_side`, each page's longer side is rendered at exactly that many pixels.
/// One result per requested page, so one broken page does not lose the others.
pub fn render_pdf_pages(
    path: &Path,
    pages: &[usize],
    long_side: Option<u32>,
) -> Vec<Result<RgbImage, DataError>> {
    let pdf = match open(path) {
        Ok(p) => p,
        Err(e) => {
            let msg = e.to_string();
            return pages
                .iter()
                .map(|&p| Err(pdf_error(path, Some(p), msg.clone())))
                .collect();
        }
    };
    let all = pdf.pages();
    let cache = RenderCache::new();
    let interp = InterpreterSettings::default();
    let settings = RenderSettings::default();
    pages
        .iter()
        .map(|&index| {
            let page = all.get(index).ok_or_else(|| {
                pdf_error(
                    path,
                    Some(index),
                    format!("the file has only {} pages", all.len()),
                )
            })?;
            let rendered = catch_unwind(AssertUnwindSafe(|| {
                let (w, h) = page.render_dimensions();
                let s = scale_for(w, h, long_side);
                let pixmap_settings = PixmapSettings {
                    x_scale: s,
                    y_scale: s,
                    bg_color: WHITE,
                };
                render(page, &cache, &interp, &settings, &pixmap_settings)
            }))
            .map_err(|p| {
                pdf_error(
                    path,
                    Some(index),
                    format!("renderer panicked: {}", panic_message(&*p)),
                )
            })?;
            let (w, h) = (rendered.width() as u32, rendered.height() as u32);
            if w == 0 || h == 0 {
                return Err(pdf_error(
                    path,
                    Some(index),
                    "page renders to an empty image",
                ));
            }
            // Opaque white background: premultiplied RGBA is plain RGBA with alpha 255.
            let rgb: Vec<u8> = rendered
                .data_as_u8_slice()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            RgbImage::from_raw(w, h, rgb)
                .ok_or_else(|| pdf_error(path, Some(index), "pixel buffer size mismatch"))
        })
        .collect()
}

/// Renders one page (0-based); see [`render_pdf_pages`] to render several efficiently.
pub fn render_pdf_page(
    path: &Path,
    page: usize,
    long_side: Option<u32>,
) -> Result<RgbImage, DataError> {
    render_pdf_pages(path, &[page], long_side)
        .pop()
        .unwrap_or_else(|| Err(pdf_error(path, Some(page), "nothing rendered")))
}

/// A minimal valid PDF, built in code for tests: `pages` US-letter-ratio pages, each with a
/// black bar whose width depends on the page index so pages can be told apart.
#[doc(hidden)]
pub fn tiny_pdf_bytes(pages: usize) -> Vec<u8> {
    let mut objects: Vec<String> = Vec::new();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 3 + 2 * i)).collect();
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {} >>",
        kids.join(" "),
        pages
    ));
    for i in 0..pages {
        let content = format!("0 0 0 rg 20 {} {} 30 re f", 100 + 10 * i, 40 + 40 * i);
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 260] /Contents {} 0 R >>",
            4 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{}\nendstream",
            content.len(),
            content
        ));
    }
    pdf_from_objects(&objects)
}

/// Serialises numbered PDF objects (1-based, in order; object 1 the catalog) into a complete
/// file with a cross-reference table. For building small test PDFs in code.
#[doc(hidden)]
pub fn pdf_from_objects(objects: &[String]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (k, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{}\nendobj\n", k + 1, obj).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{}\n%%EOF\n",
            objects.len() + 1,
            xref
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders_pages_at_the_target_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.pdf");
        std::fs::write(&path, tiny_pdf_bytes(3)).unwrap();
        assert_eq!(pdf_page_count(&path).unwrap(), 3);
        let imgs = render_pdf_pages(&path, &[0, 2, 5], Some(130));
        let a = imgs[0].as_ref().unwrap();
        assert_eq!(a.dimensions(), (100, 130));
        // White paper, black bar.
        assert_eq!(a.get_pixel(2, 2).0, [255, 255, 255]);
        let dark = a.pixels().filter(|p| p.0[0] < 64).count();
        let b = imgs[1].as_ref().unwrap();
        let dark_b = b.pixels().filter(|p| p.0[0] < 64).count();
        assert!(dark > 0 && dark_b > dark, "{dark} {dark_b}");
        assert!(matches!(imgs[2], Err(DataError::Pdf { page: Some(5), .. })));
        let full = render_pdf_page(&path, 1, None).unwrap();
        assert_eq!(full.height(), (260.0f32 * DEFAULT_DPI / 72.0) as u32);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.pdf");
        std::fs::write(&path, b"%PDF-1.4\nthis is not a pdf").unwrap();
        assert!(pdf_page_count(&path).is_err());
    }
}
