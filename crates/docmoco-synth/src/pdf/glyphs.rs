//! Glyph positions from a PDF's text layer, via a `hayro-interpret` device that records
//! each glyph instead of drawing it.

use hayro::hayro_interpret::font::{Glyph, GlyphRun};
use hayro::hayro_interpret::hayro_cmap::BfString;
use hayro::hayro_interpret::{
    BlendMode, ClipPath, Device, DrawMode, DrawProps, Image, ImageDrawProps, SoftMask,
};
use hayro::kurbo::{Affine, BezPath, Point, Rect, Shape};

/// One glyph in device (page pixel) coordinates, y pointing down.
#[derive(Debug, Clone)]
pub struct PdfGlyph {
    /// Unicode text of the glyph (may be several chars for ligatures); empty if unknown.
    pub text: String,
    /// Outline bounding box `[x0, y0, x1, y1]`; `None` for blank glyphs (spaces).
    pub bbox: Option<[f64; 4]>,
    /// Pen position on the baseline.
    pub origin: [f64; 2],
    /// Em size in pixels (glyph space is 1000 units per em).
    pub size: f64,
    /// Advance width in pixels from the font's widths, when known: where the next glyph
    /// would start without extra spacing, which tells word spaces from side bearings.
    pub advance: Option<f64>,
}

/// A `Device` that keeps upright glyphs and ignores all painting.
#[derive(Default)]
pub struct GlyphCollector {
    pub glyphs: Vec<PdfGlyph>,
    /// Glyphs dropped because their baseline is not horizontal (rotated or vertical text).
    pub skipped_rotated: usize,
}

/// Glyph outlines are delivered in a 1000-units-per-em space.
const GLYPH_UPEM: f64 = 1000.0;

impl GlyphCollector {
    fn record(&mut self, glyph: &Glyph<'_>, t: Affine) {
        let [a, b, c, d, e, f] = t.as_coeffs();
        // Upright text maps the glyph x axis to +x and the y axis to -y (PDF y is up).
        let upright = a > 0.0 && b.abs() <= 0.05 * a && c.abs() <= 0.05 * a.abs() && d < 0.0;
        if !upright {
            self.skipped_rotated += 1;
            return;
        }
        let text = match glyph.as_unicode() {
            Some(BfString::Char(ch)) => ch.to_string(),
            Some(BfString::String(s)) => s,
            None => String::new(),
        };
        let advance = match glyph {
            Glyph::Outline(o) => o.advance_width().map(|w| w as f64 * a),
            Glyph::Type3(_) => None,
        };
        let bbox = match glyph {
            Glyph::Outline(o) => {
                let path: BezPath = o.outline();
                let r = path.bounding_box();
                (r.area() > 0.0).then(|| device_rect(t, r))
            }
            // Type 3 glyphs are drawing programs; assume a typical text cell and let the ink
            // tightening find the real extent.
            Glyph::Type3(_) => Some(device_rect(t, Rect::new(0.0, -200.0, 600.0, 750.0))),
        };
        self.glyphs.push(PdfGlyph {
            text,
            bbox,
            origin: [e, f],
            size: (a * a + b * b).sqrt() * GLYPH_UPEM,
            advance,
        });
    }
}

fn device_rect(t: Affine, r: Rect) -> [f64; 4] {
    let pts = [
        Point::new(r.x0, r.y0),
        Point::new(r.x1, r.y0),
        Point::new(r.x1, r.y1),
        Point::new(r.x0, r.y1),
    ]
    .map(|p| t * p);
    let xs = pts.map(|p| p.x);
    let ys = pts.map(|p| p.y);
    [
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        ys.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    ]
}

impl<'a> Device<'a> for GlyphCollector {
    fn draw_path(&mut self, _: &BezPath, _: DrawProps<'a>, _: &DrawMode) {}
    fn push_clip_path(&mut self, _: &ClipPath) {}
    fn push_transparency_group(&mut self, _: f32, _: Option<SoftMask<'a>>, _: BlendMode) {}
    /// Invisible text (render mode 3, the OCR layer of scanned PDFs) is kept too: it marks
    /// where text is in the page image, and the ink tightening then checks it is there.
    fn draw_glyph_run(&mut self, run: &GlyphRun<'_, 'a>, props: DrawProps<'a>, _: &DrawMode) {
        for g in run.glyphs() {
            self.record(g, props.transform * g.transform());
        }
    }
    fn draw_image(&mut self, _: Image<'a, '_>, _: ImageDrawProps<'a>) {}
    fn pop_clip(&mut self) {}
    fn pop_transparency_group(&mut self) {}
}
