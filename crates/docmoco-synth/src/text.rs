//! Text measurement and rasterisation with ab_glyph, recording each drawn line's ink box.
//!
//! Measurement uses unscaled font units, so a layout's decisions (wrapping, truncation)
//! do not depend on the output size: the same seed gives the same page at 512 and 1024 px.
//! The ground-truth box is the bounding box of the glyph pixels that are actually inked
//! (coverage above [`INK_COVERAGE`]), not the font's ascent/descent, so it is tight.

use ab_glyph::{point, Font, FontRef, GlyphId, PxScale};

use crate::canvas::Canvas;
use crate::fonts::{Family, Fonts};

/// A glyph pixel counts as ink for the ground-truth box above this coverage: anti-aliasing
/// fringes fainter than this are invisible after binarisation and would loosen the box.
pub const INK_COVERAGE: f32 = 0.3;

/// Everything that decides how a run of text looks.
#[derive(Debug, Clone, Copy)]
pub struct TextStyle {
    pub family: Family,
    /// Font size in points (em size).
    pub size: f32,
    pub bold: bool,
    /// Ink darkness in `0..=1` (grey text, faded thermal print, coloured stamps).
    pub dark: f32,
}

impl TextStyle {
    pub fn new(family: Family, size: f32) -> Self {
        TextStyle {
            family,
            size,
            bold: false,
            dark: 1.0,
        }
    }
    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }
    pub fn with_bold(mut self, bold: bool) -> Self {
        self.bold = bold;
        self
    }
    pub fn dark(mut self, dark: f32) -> Self {
        self.dark = dark;
        self
    }
    pub fn sized(mut self, size: f32) -> Self {
        self.size = size;
        self
    }
}

/// Horizontal anchoring of a text run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
}

/// Whether a drawn run becomes a ground-truth line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gt {
    /// A normal, readable text line.
    Line,
    /// Drawn and boxed, but flagged don't-care (signatures, stamp text).
    DontCare,
    /// Not recorded (never used for real text; for decorative glyphs only).
    Skip,
}

/// Text drawing bound to the embedded fonts.
#[derive(Clone, Copy)]
pub struct Typesetter {
    fonts: &'static Fonts,
}

/// Faux bold over-strike width as a fraction of the em size.
const FAUX_BOLD_EM: f32 = 0.045;

impl Typesetter {
    pub fn new(fonts: &'static Fonts) -> Self {
        Typesetter { fonts }
    }

    /// The font that draws `c`: the style's face, or the fallback when it lacks the glyph.
    fn font_for(
        &self,
        face: &'static FontRef<'static>,
        c: char,
    ) -> (&'static FontRef<'static>, GlyphId) {
        let id = face.glyph_id(c);
        if id.0 == 0 && !c.is_whitespace() {
            let fb = self.fonts.fallback();
            (fb, fb.glyph_id(c))
        } else {
            (face, id)
        }
    }

    fn face(&self, style: &TextStyle) -> (&'static FontRef<'static>, bool) {
        let (face, faux) = style.family.face(style.bold);
        (self.fonts.get(face), faux)
    }

    /// Points per font unit for a font at `size` points.
    fn pt_per_unit(font: &FontRef<'_>, size: f32) -> f32 {
        size / font.units_per_em().unwrap_or(1000.0)
    }

    /// Advance width of `text` in points.
    pub fn measure(&self, text: &str, style: &TextStyle) -> f32 {
        let (face, faux) = self.face(style);
        let mut w = 0.0;
        let mut prev: Option<(&FontRef<'static>, GlyphId)> = None;
        for c in text.chars() {
            let (font, id) = self.font_for(face, c);
            let k = Self::pt_per_unit(font, style.size);
            if let Some((pf, pid)) = prev {
                if std::ptr::eq(pf, font) {
                    w += font.kern_unscaled(pid, id) * k;
                }
            }
            w += font.h_advance_unscaled(id) * k;
            prev = Some((font, id));
        }
        if faux && !text.is_empty() {
            w += FAUX_BOLD_EM * style.size;
        }
        w
    }

    /// Distance from the top of the line box to the baseline, in points.
    pub fn ascent(&self, style: &TextStyle) -> f32 {
        let (face, _) = self.face(style);
        face.ascent_unscaled() * Self::pt_per_unit(face, style.size)
    }

    /// Height of the line box (ascent + descent) in points.
    pub fn line_height(&self, style: &TextStyle) -> f32 {
        let (face, _) = self.face(style);
        (face.ascent_unscaled() - face.descent_unscaled()) * Self::pt_per_unit(face, style.size)
    }

    /// Draws one run with its left edge at `x` and its line-box top at `top` (points)
    /// and records it as a line. Returns the advance width in points.
    // A drawing call is position + text + style + anchoring + GT kind: grouping them
    // into a struct would only move the argument list into every call site.
    #[allow(clippy::too_many_arguments)]
    pub fn draw(
        &self,
        c: &mut Canvas,
        text: &str,
        x: f32,
        top: f32,
        style: &TextStyle,
        align: Align,
        gt: Gt,
    ) -> f32 {
        let w = self.measure(text, style);
        let x0 = match align {
            Align::Left => x,
            Align::Center => x - w / 2.0,
            Align::Right => x - w,
        };
        self.draw_runs(c, &[(text, x0)], top, style, gt);
        w
    }

    /// Draws several runs that together form one line (justified words, label + value
    /// with a small gap) and records them as a single line whose text is the runs joined
    /// by single spaces. Returns the ink box in pixels, if anything was inked.
    pub fn draw_runs(
        &self,
        c: &mut Canvas,
        runs: &[(&str, f32)],
        top: f32,
        style: &TextStyle,
        gt: Gt,
    ) -> Option<[f32; 4]> {
        let styled: Vec<(&str, f32, TextStyle)> =
            runs.iter().map(|&(t, x)| (t, x, *style)).collect();
        self.draw_styled_runs(c, &styled, top, gt)
    }

    /// Like [`Typesetter::draw_runs`] but each run has its own style (bold label, regular
    /// value). All runs share the baseline of the tallest style.
    pub fn draw_styled_runs(
        &self,
        c: &mut Canvas,
        runs: &[(&str, f32, TextStyle)],
        top: f32,
        gt: Gt,
    ) -> Option<[f32; 4]> {
        let s = c.scale();
        let ascent = runs.iter().map(|r| self.ascent(&r.2)).fold(0.0, f32::max);
        let baseline_px = (top + ascent) * s;
        let mut bbox = [i64::MAX, i64::MAX, i64::MIN, i64::MIN];
        for (text, x, style) in runs {
            let (face, faux) = self.face(style);
            let bold_px = if faux {
                FAUX_BOLD_EM * style.size * s
            } else {
                0.0
            };
            let strikes: &[f32] = if bold_px <= 0.0 {
                &[0.0]
            } else if bold_px > 1.0 {
                &[0.0, 0.5, 1.0]
            } else {
                &[0.0, 1.0]
            };
            let mut pen = *x;
            let mut prev: Option<(&FontRef<'static>, GlyphId)> = None;
            for ch in text.chars() {
                let (font, id) = self.font_for(face, ch);
                let k = Self::pt_per_unit(font, style.size);
                if let Some((pf, pid)) = prev {
                    if std::ptr::eq(pf, font) {
                        pen += font.kern_unscaled(pid, id) * k;
                    }
                }
                if !ch.is_whitespace() {
                    // ab_glyph's PxScale is the pixel height of ascent - descent.
                    let px_scale = PxScale::from(
                        style.size * s * font.height_unscaled()
                            / font.units_per_em().unwrap_or(1000.0),
                    );
                    for &f in strikes {
                        let glyph = id.with_scale_and_position(
                            px_scale,
                            point(pen * s + f * bold_px, baseline_px),
                        );
                        if let Some(og) = font.outline_glyph(glyph) {
                            let b = og.px_bounds();
                            let (bx, by) = (b.min.x as i64, b.min.y as i64);
                            og.draw(|gx, gy, cov| {
                                let (px, py) = (bx + gx as i64, by + gy as i64);
                                c.plot(px, py, cov.min(1.0) * style.dark);
                                if cov > INK_COVERAGE {
                                    bbox[0] = bbox[0].min(px);
                                    bbox[1] = bbox[1].min(py);
                                    bbox[2] = bbox[2].max(px);
                                    bbox[3] = bbox[3].max(py);
                                }
                            });
                        }
                    }
                }
                pen += font.h_advance_unscaled(id) * k;
                prev = Some((font, id));
            }
        }
        if bbox[0] > bbox[2] {
            return None;
        }
        // Clip to the page: glyphs outside it were not drawn either.
        let (w, h) = (c.width_px() as i64, c.height_px() as i64);
        let x0 = bbox[0].clamp(0, w);
        let y0 = bbox[1].clamp(0, h);
        let x1 = (bbox[2] + 1).clamp(0, w);
        let y1 = (bbox[3] + 1).clamp(0, h);
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        let rect = [x0 as f32, y0 as f32, x1 as f32, y1 as f32];
        let text: Vec<&str> = runs
            .iter()
            .map(|r| r.0.trim())
            .filter(|t| !t.is_empty())
            .collect();
        let text = text.join(" ");
        if gt != Gt::Skip && !text.is_empty() {
            c.push_line(crate::gt::rect_line(rect, text, gt == Gt::DontCare));
        }
        Some(rect)
    }

    /// Shortens `text` with an ellipsis-free cut until it fits `max_w` points (table cells).
    pub fn fit(&self, text: &str, style: &TextStyle, max_w: f32) -> String {
        if self.measure(text, style) <= max_w {
            return text.to_string();
        }
        let mut chars: Vec<char> = text.chars().collect();
        while !chars.is_empty() {
            chars.pop();
            let t: String = chars.iter().collect();
            let t = t.trim_end().to_string();
            if self.measure(&t, style) <= max_w {
                return t;
            }
        }
        String::new()
    }

    /// Greedy word wrap into lines no wider than `width` points.
    pub fn wrap(&self, words: &[String], style: &TextStyle, width: f32) -> Vec<Vec<String>> {
        let space = self.measure(" ", style);
        let mut lines: Vec<Vec<String>> = Vec::new();
        let mut cur: Vec<String> = Vec::new();
        let mut cur_w = 0.0;
        for w in words {
            let ww = self.measure(w, style);
            if !cur.is_empty() && cur_w + space + ww > width {
                lines.push(std::mem::take(&mut cur));
                cur_w = 0.0;
            }
            if cur.is_empty() {
                cur_w = ww;
            } else {
                cur_w += space + ww;
            }
            cur.push(w.clone());
        }
        if !cur.is_empty() {
            lines.push(cur);
        }
        lines
    }

    /// Draws a wrapped paragraph; justified lines spread their words to the full width
    /// (except the last line). Returns the y below the paragraph, in points.
    #[allow(clippy::too_many_arguments)]
    pub fn paragraph(
        &self,
        c: &mut Canvas,
        words: &[String],
        x: f32,
        top: f32,
        width: f32,
        leading: f32,
        style: &TextStyle,
        align: ParAlign,
        max_bottom: f32,
    ) -> f32 {
        let lines = self.wrap(words, style, width);
        let lh = style.size * leading;
        let mut y = top;
        let n = lines.len();
        for (i, line) in lines.iter().enumerate() {
            if y + lh > max_bottom {
                break;
            }
            let joined = line.join(" ");
            match align {
                ParAlign::Justify if i + 1 < n && line.len() > 1 => {
                    let widths: Vec<f32> = line.iter().map(|w| self.measure(w, style)).collect();
                    let total: f32 = widths.iter().sum();
                    let gap = (width - total) / (line.len() - 1) as f32;
                    let mut xx = x;
                    let mut runs = Vec::with_capacity(line.len());
                    for (w, ww) in line.iter().zip(&widths) {
                        runs.push((w.as_str(), xx));
                        xx += ww + gap;
                    }
                    self.draw_runs(c, &runs, y, style, Gt::Line);
                }
                ParAlign::Center => {
                    self.draw(
                        c,
                        &joined,
                        x + width / 2.0,
                        y,
                        style,
                        Align::Center,
                        Gt::Line,
                    );
                }
                ParAlign::Right => {
                    self.draw(c, &joined, x + width, y, style, Align::Right, Gt::Line);
                }
                _ => {
                    self.draw(c, &joined, x, y, style, Align::Left, Gt::Line);
                }
            }
            y += lh;
        }
        y
    }
}

/// Paragraph alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParAlign {
    Left,
    Justify,
    Center,
    Right,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fonts::fonts;

    #[test]
    fn drawn_line_box_is_tight_and_recorded() {
        let ts = Typesetter::new(fonts().expect("fonts"));
        let mut c = Canvas::with_scale(300.0, 60.0, 2.0);
        let style = TextStyle::new(Family::Sans, 12.0);
        let r = ts
            .draw_runs(&mut c, &[("Hello World 123", 10.0)], 10.0, &style, Gt::Line)
            .expect("inked");
        assert_eq!(c.lines().len(), 1);
        assert_eq!(c.lines()[0].text, "Hello World 123");
        // Cap height of a 12 pt font at 2 px/pt is about 17 px; the box must be about that.
        let h = r[3] - r[1];
        assert!((14.0..24.0).contains(&h), "height {h}");
        // Every border row/column of the box touches ink.
        let w = c.width_px();
        let ink = c.ink();
        let row_has =
            |y: usize| (r[0] as usize..r[2] as usize).any(|x| ink[y * w + x] > INK_COVERAGE);
        let col_has =
            |x: usize| (r[1] as usize..r[3] as usize).any(|y| ink[y * w + x] > INK_COVERAGE);
        assert!(row_has(r[1] as usize) && row_has(r[3] as usize - 1));
        assert!(col_has(r[0] as usize) && col_has(r[2] as usize - 1));
    }

    #[test]
    fn measure_is_size_independent_of_canvas_scale() {
        let ts = Typesetter::new(fonts().expect("fonts"));
        let st = TextStyle::new(Family::Serif, 10.0);
        let w = ts.measure("Invoice total", &st);
        assert!(w > 40.0 && w < 90.0, "{w}");
        assert!(ts.measure("Invoice total", &st.bold()) >= w);
    }
}
