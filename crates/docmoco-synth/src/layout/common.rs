//! Small pieces several layouts share: margins, font choice, footers.

use rand::seq::SliceRandom;

use crate::fonts::Family;
use crate::painter::Painter;
use crate::text::{Align, TextStyle};

/// Page margins in points.
#[derive(Debug, Clone, Copy)]
pub struct Margins {
    pub left: f32,
    pub right: f32,
    pub top: f32,
    pub bottom: f32,
}

impl Margins {
    /// Office-document margins: 12..28 mm sides, a little less at top and bottom.
    pub fn office(p: &mut Painter) -> Self {
        let side = p.r(34.0..80.0);
        Margins {
            left: side,
            right: if p.chance(0.7) { side } else { p.r(34.0..80.0) },
            top: p.r(30.0..65.0),
            bottom: p.r(30.0..60.0),
        }
    }

    pub fn width(&self, p: &Painter) -> f32 {
        p.w() - self.left - self.right
    }
    pub fn right_x(&self, p: &Painter) -> f32 {
        p.w() - self.right
    }
    pub fn bottom_y(&self, p: &Painter) -> f32 {
        p.h() - self.bottom
    }
}

/// A body text family for office documents.
pub fn body_family(p: &mut Painter) -> Family {
    *Family::BODY.choose(&mut p.rng).unwrap_or(&Family::Sans)
}

/// A small centred or spread footer of one to three pieces at the bottom margin,
/// optionally under a rule; returns the y where the footer begins (content must end above).
pub fn footer(p: &mut Painter, m: &Margins, style: &TextStyle, pieces: &[String]) -> f32 {
    let lh = style.size * 1.25;
    let y = p.h() - m.bottom + style.size * 0.3;
    let top = y - lh * 0.4;
    if p.chance(0.5) {
        p.c.hline(m.left, m.right_x(p), top, 0.5, 0.8);
    }
    let n = pieces.len();
    if n == 0 {
        return top;
    }
    let width = m.width(p);
    if n == 1 || p.chance(0.4) {
        let joined = pieces.join("  |  ");
        let s = p.fit(&joined, style, width);
        p.text(&s, m.left + width / 2.0, y, style, Align::Center);
    } else {
        let col = width / n as f32;
        for (i, s) in pieces.iter().enumerate() {
            let s = p.fit(s, style, col * 0.95);
            let (x, a) = match i {
                0 => (m.left, Align::Left),
                i if i + 1 == n => (m.right_x(p), Align::Right),
                _ => (m.left + col * (i as f32 + 0.5), Align::Center),
            };
            p.text(&s, x, y, style, a);
        }
    }
    top - lh * 0.3
}

/// "Page 1 of 2" and friends.
pub fn page_number(p: &mut Painter) -> String {
    let n = p.r(1..5);
    let of = p.r(n..6);
    match p.r(0..3) {
        0 => format!("Page {n} of {of}"),
        1 => format!("- {n} -"),
        _ => format!("{n}"),
    }
}

/// Fills `(x, y)..(x + width, bottom)` with small print (terms and conditions,
/// instructions) in `cols` columns under a bold heading; returns the y below it.
#[allow(clippy::too_many_arguments)]
pub fn small_print(
    p: &mut Painter,
    heading: &str,
    x: f32,
    y: f32,
    width: f32,
    bottom: f32,
    family: Family,
    cols: usize,
) -> f32 {
    let size = p.r(5.5..7.0);
    let st = TextStyle::new(family, size);
    if y + size * 6.0 > bottom {
        return y;
    }
    p.text(heading, x, y, &st.bold().sized(size * 1.2), Align::Left);
    let top = y + size * 2.0;
    let cols = cols.max(1);
    let gutter = size * 2.0;
    let cw = (width - gutter * (cols - 1) as f32) / cols as f32;
    let mut lowest = top;
    for c in 0..cols {
        let cx = x + c as f32 * (cw + gutter);
        let mut yy = top;
        let mut k = 1;
        while yy + size * 2.5 < bottom {
            let n = p.r(2..5);
            let mut words = crate::content::paragraph_words(&mut p.rng, n);
            if let Some(w) = words.first_mut() {
                *w = format!("{}. {w}", k + c * 10);
            }
            yy = p.paragraph(
                &words,
                cx,
                yy,
                cw,
                1.2,
                &st,
                crate::text::ParAlign::Justify,
                bottom,
            ) + size * 0.5;
            k += 1;
        }
        lowest = lowest.max(yy);
    }
    lowest
}
