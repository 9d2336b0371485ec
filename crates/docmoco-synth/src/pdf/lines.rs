//! Grouping glyphs into text lines and tightening each line's box to the rendered ink.

use image::GrayImage;

use crate::gt::{rect_line, TextLine};
use crate::pdf::glyphs::PdfGlyph;

/// Baselines closer than this fraction of the em size belong to the same row.
const SAME_ROW_EM: f64 = 0.35;
/// A horizontal gap wider than this (in ems) starts a new line: table cells and columns
/// are separate lines, as in the synthetic ground truth.
const SPLIT_GAP_EM: f64 = 1.2;
/// A gap wider than this (in ems) between glyphs is a word space even without a space glyph.
const SPACE_GAP_EM: f64 = 0.2;

/// Groups upright glyphs into lines: rows by baseline, split at wide gaps.
/// Returns `(text, box)` with boxes in pixels (outline-based, not yet tightened).
pub fn group_lines(glyphs: &[PdfGlyph]) -> Vec<(String, [f64; 4])> {
    let mut gs: Vec<&PdfGlyph> = glyphs.iter().filter(|g| g.size > 0.0).collect();
    gs.sort_by(|a, b| {
        a.origin[1]
            .total_cmp(&b.origin[1])
            .then(a.origin[0].total_cmp(&b.origin[0]))
    });
    let mut rows: Vec<Vec<&PdfGlyph>> = Vec::new();
    for g in gs {
        match rows.last_mut() {
            Some(row)
                if (g.origin[1] - row[0].origin[1]).abs()
                    < SAME_ROW_EM * row[0].size.max(g.size) =>
            {
                row.push(g)
            }
            _ => rows.push(vec![g]),
        }
    }
    let mut out = Vec::new();
    for mut row in rows {
        row.sort_by(|a, b| a.origin[0].total_cmp(&b.origin[0]));
        let mut text = String::new();
        let mut bbox: Option<[f64; 4]> = None;
        let mut prev: Option<&PdfGlyph> = None;
        let mut last_right = f64::NEG_INFINITY;
        let mut pending_space = false;
        for g in row {
            let Some(b) = g.bbox else {
                // A blank glyph (space): a word break, unless at the start of a line.
                pending_space = !text.is_empty();
                continue;
            };
            if let Some(p) = prev {
                if (g.origin[0] - p.origin[0]).abs() < 0.1 * g.size && g.text == p.text {
                    // The same glyph drawn again on top (fake bold, fill + stroke): skip.
                    continue;
                }
                // Gap between where the previous glyph's advance ends and this one starts;
                // without widths, between ink boxes (less exact: side bearings count).
                let (gap, space_em) = match p.advance {
                    Some(adv) => (g.origin[0] - (p.origin[0] + adv), SPACE_GAP_EM),
                    None => (b[0] - last_right, SPACE_GAP_EM * 1.5),
                };
                if gap > SPLIT_GAP_EM * g.size {
                    flush(&mut out, &mut text, &mut bbox);
                } else if (pending_space || gap > space_em * g.size) && !text.is_empty() {
                    text.push(' ');
                }
            }
            pending_space = false;
            text.push_str(&g.text);
            bbox = Some(match bbox {
                None => b,
                Some(u) => [
                    u[0].min(b[0]),
                    u[1].min(b[1]),
                    u[2].max(b[2]),
                    u[3].max(b[3]),
                ],
            });
            last_right = last_right.max(b[2]);
            prev = Some(g);
        }
        flush(&mut out, &mut text, &mut bbox);
    }
    out
}

fn flush(out: &mut Vec<(String, [f64; 4])>, text: &mut String, bbox: &mut Option<[f64; 4]>) {
    let t = text.trim().to_string();
    if let Some(b) = bbox.take() {
        if !t.is_empty() {
            out.push((t, b));
        }
    }
    text.clear();
}

/// Shrinks a box to the ink inside it (one pixel of slack around the outline box for
/// anti-aliasing). Ink is anything darker than halfway between the darkest pixel in the
/// box and white; `None` when the box holds no visible ink (white or invisible text
/// with nothing under it).
pub fn tighten_to_ink(img: &GrayImage, b: [f64; 4]) -> Option<[f32; 4]> {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let x0 = ((b[0].floor() as i64) - 1).clamp(0, w);
    let y0 = ((b[1].floor() as i64) - 1).clamp(0, h);
    let x1 = ((b[2].ceil() as i64) + 1).clamp(0, w);
    let y1 = ((b[3].ceil() as i64) + 1).clamp(0, h);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let px = |x: i64, y: i64| img.get_pixel(x as u32, y as u32)[0];
    let mut darkest = 255u8;
    for y in y0..y1 {
        for x in x0..x1 {
            darkest = darkest.min(px(x, y));
        }
    }
    if darkest > 200 {
        return None;
    }
    let thr = ((darkest as u16 + 255) / 2) as u8;
    let (mut ix0, mut iy0, mut ix1, mut iy1) = (i64::MAX, i64::MAX, i64::MIN, i64::MIN);
    for y in y0..y1 {
        for x in x0..x1 {
            if px(x, y) < thr {
                ix0 = ix0.min(x);
                iy0 = iy0.min(y);
                ix1 = ix1.max(x);
                iy1 = iy1.max(y);
            }
        }
    }
    (ix0 <= ix1).then(|| [ix0 as f32, iy0 as f32, (ix1 + 1) as f32, (iy1 + 1) as f32])
}

/// Lines with tightened boxes, dropping those without visible ink. Lines without a
/// letter or digit (box-drawing diagrams, rules of dashes, lone bullets) are kept as
/// don't-care: they are ink, but not text a detector should be scored on.
pub fn lines_on_ink(img: &GrayImage, grouped: Vec<(String, [f64; 4])>) -> Vec<TextLine> {
    grouped
        .into_iter()
        .filter_map(|(text, b)| {
            let dont_care = !text.chars().any(char::is_alphanumeric);
            tighten_to_ink(img, b).map(|r| rect_line(r, text, dont_care))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(text: &str, x: f64, y: f64, w: f64) -> PdfGlyph {
        PdfGlyph {
            text: text.into(),
            bbox: Some([x, y - 8.0, x + w, y]),
            origin: [x, y],
            size: 10.0,
            advance: None,
        }
    }

    #[test]
    fn rows_words_and_columns() {
        let mut gl = vec![g("H", 10.0, 20.0, 6.0), g("i", 16.5, 20.0, 3.0)];
        gl.push(PdfGlyph {
            text: " ".into(),
            bbox: None,
            origin: [19.5, 20.0],
            size: 10.0,
            advance: None,
        });
        gl.push(g("y", 22.0, 20.5, 5.0));
        gl.push(g("o", 27.5, 20.0, 5.0));
        // Far right on the same baseline: another column.
        gl.push(g("4", 80.0, 20.0, 5.0));
        // Next row; a 4 px gap (> 0.3 em without widths) and no space glyph: a word space.
        gl.push(g("a", 10.0, 40.0, 5.0));
        gl.push(g("b", 19.0, 40.0, 5.0));
        // Over-struck duplicate of "b".
        gl.push(g("b", 19.3, 40.0, 5.0));
        let lines = group_lines(&gl);
        let texts: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(texts, vec!["Hi yo", "4", "a b"]);
        assert_eq!(lines[0].1, [10.0, 12.0, 32.5, 20.5]);
    }

    #[test]
    fn ink_tightening_shrinks_and_drops_blank_boxes() {
        let mut img = GrayImage::from_pixel(50, 30, image::Luma([255]));
        for y in 10..15 {
            for x in 12..30 {
                img.put_pixel(x, y, image::Luma([20]));
            }
        }
        assert_eq!(
            tighten_to_ink(&img, [8.0, 6.0, 34.0, 20.0]),
            Some([12.0, 10.0, 30.0, 15.0])
        );
        assert_eq!(tighten_to_ink(&img, [35.0, 2.0, 45.0, 8.0]), None);
    }
}
