//! Text-line ground truth from born-digital PDFs (issue 3, part 2).
//!
//! A PDF's text layer says which glyph is where; rendering the page says where its ink
//! is. Glyph outline boxes are mapped into the rendered page's pixels with the renderer's
//! own page transform, grouped into lines, then shrunk to the ink actually drawn (outline
//! boxes include anti-aliasing fringes and fonts' side bearings; Type 3 boxes are guesses).
//! This turns any folder of digital PDFs into ICDAR 2015 detection data ([`pdf_to_det`]).

mod det;
mod glyphs;
mod lines;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use docmoco_data::decode::decode_page;
use docmoco_data::pdf::MAX_RENDER_SIDE;
use docmoco_data::sources::PageRef;
use hayro::hayro_interpret::{
    interpret_page, Context, InterpreterCache, InterpreterSettings, TransformExt,
};
use hayro::hayro_syntax::Pdf;
use hayro::kurbo::{Affine, Rect};
use image::GrayImage;

use crate::gt::TextLine;
use crate::SynthError;

pub use det::{pdf_to_det, PdfDetSummary};
pub use glyphs::PdfGlyph;

/// Text lines of page `page_index` (0-based) of a PDF, in the pixel coordinates of the
/// page rendered with its long side at `render_long_side` pixels (as
/// `docmoco_data::decode::decode_page` renders it).
pub fn pdf_text_lines(
    pdf_path: &Path,
    page_index: usize,
    render_long_side: u32,
) -> Result<Vec<TextLine>, SynthError> {
    let page = render_page_gray(pdf_path, page_index, render_long_side)?;
    let glyphs = pdf_glyphs(pdf_path, page_index, render_long_side)?;
    Ok(lines::lines_on_ink(&page, lines::group_lines(&glyphs)))
}

/// A rendered page together with its text lines.
#[derive(Debug, Clone)]
pub struct PdfPageLines {
    pub image: GrayImage,
    pub lines: Vec<TextLine>,
}

/// Renders a page and extracts its lines in one go (what [`pdf_to_det`] writes).
pub fn pdf_page_with_lines(
    pdf_path: &Path,
    page_index: usize,
    render_long_side: u32,
) -> Result<PdfPageLines, SynthError> {
    let image = render_page_gray(pdf_path, page_index, render_long_side)?;
    let glyphs = pdf_glyphs(pdf_path, page_index, render_long_side)?;
    let lines = lines::lines_on_ink(&image, lines::group_lines(&glyphs));
    Ok(PdfPageLines { image, lines })
}

fn pdf_err(path: &Path, message: impl Into<String>) -> SynthError {
    SynthError::Pdf {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Renders a page in grey through `docmoco-data`, so the boxes refer to exactly the
/// pixels the rest of docmoco will see.
pub fn render_page_gray(
    pdf_path: &Path,
    page_index: usize,
    long_side: u32,
) -> Result<GrayImage, SynthError> {
    let page = PageRef::PdfPage {
        path: pdf_path.to_path_buf(),
        page: page_index,
    };
    let rgb = decode_page(&page, Some(long_side))?;
    Ok(image::DynamicImage::ImageRgb8(rgb).to_luma8())
}

/// The glyphs of one page in the pixel coordinates of a render at `long_side`.
pub fn pdf_glyphs(
    pdf_path: &Path,
    page_index: usize,
    long_side: u32,
) -> Result<Vec<PdfGlyph>, SynthError> {
    let bytes = std::fs::read(pdf_path).map_err(|e| SynthError::io(pdf_path, e))?;
    // A malformed file must fail this page, not the whole conversion run.
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<PdfGlyph>, String> {
        let pdf = Pdf::new(bytes).map_err(|e| format!("cannot parse: {e:?}"))?;
        let pages = pdf.pages();
        let page = pages
            .get(page_index)
            .ok_or_else(|| format!("page {page_index} of {}", pages.len()))?;
        let (w, h) = page.render_dimensions();
        // Same scale as docmoco-data's renderer: long side = long_side, capped.
        let s = (long_side.min(MAX_RENDER_SIDE) as f32).max(1.0) / w.max(h).max(1.0);
        let transform = Affine::scale(s as f64) * page.initial_transform(true).to_kurbo();
        let bbox = Rect::new(0.0, 0.0, (w * s) as f64, (h * s) as f64);
        let cache = InterpreterCache::new();
        let mut ctx = Context::new(
            transform,
            bbox,
            &cache,
            page.xref(),
            InterpreterSettings::default(),
        );
        let mut dev = glyphs::GlyphCollector::default();
        interpret_page(page, &mut ctx, &mut dev);
        Ok(dev.glyphs)
    }));
    match result {
        Ok(Ok(g)) => Ok(g),
        Ok(Err(m)) => Err(pdf_err(pdf_path, m)),
        Err(_) => Err(pdf_err(pdf_path, "the PDF interpreter panicked")),
    }
}

/// Builds a small PDF with the given lines of text in the standard Helvetica font, one
/// `(x, y_from_top, size, text)` per line on a `w x h` point page: test fixtures without
/// a PDF-writing dependency.
#[doc(hidden)]
pub fn text_pdf_bytes(w: f32, h: f32, lines: &[(f32, f32, f32, &str)]) -> Vec<u8> {
    let mut content = String::new();
    for (x, y, size, text) in lines {
        let esc = text
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)");
        content.push_str(&format!(
            "BT /F1 {size} Tf {x} {} Td ({esc}) Tj ET\n",
            h - y
        ));
    }
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
    ];
    docmoco_data::pdf::pdf_from_objects(&objects)
}
