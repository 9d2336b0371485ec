//! Ruled tables: line items, goods lists, data tables.

use crate::painter::Painter;
use crate::text::{Align, TextStyle};

/// One column: header text, relative width and alignment of its cells.
#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    pub weight: f32,
    pub align: Align,
}

impl Column {
    pub fn new(header: &str, weight: f32, align: Align) -> Self {
        Column {
            header: header.to_string(),
            weight,
            align,
        }
    }
}

/// Which rules a table draws; real tables range from fully boxed to rule-free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grid {
    /// Every cell boxed.
    Full,
    /// Horizontal rules between rows, no verticals.
    Rows,
    /// Rules above and below the header and at the bottom only (booktabs style).
    Booktabs,
    /// An outer frame and the header rule.
    Outer,
}

/// The look of one table.
#[derive(Debug, Clone, Copy)]
pub struct TableStyle {
    pub grid: Grid,
    /// Grey fill of the header row, if any.
    pub header_fill: Option<f32>,
    /// Grey fill of every other body row, if any.
    pub zebra: Option<f32>,
    pub text: TextStyle,
    pub header_bold: bool,
    /// Vertical padding above and below cell text, in points.
    pub pad: f32,
    /// Rule thickness in points.
    pub rule: f32,
}

impl TableStyle {
    /// A random but coherent table look in the given text style.
    pub fn random(p: &mut Painter, text: TextStyle) -> Self {
        let grid = match p.r(0..4) {
            0 => Grid::Full,
            1 => Grid::Rows,
            2 => Grid::Booktabs,
            _ => Grid::Outer,
        };
        let header_fill = if p.chance(0.5) {
            Some(p.r(0.08..0.25))
        } else {
            None
        };
        let zebra = if grid != Grid::Full && p.chance(0.25) {
            Some(p.r(0.04..0.1))
        } else {
            None
        };
        TableStyle {
            grid,
            header_fill,
            zebra,
            text,
            header_bold: p.chance(0.8),
            pad: p.r(0.2..0.6) * text.size,
            rule: p.r(0.4..1.0),
        }
    }
}

/// Draws a table at `(x, y)` of total `width` points; rows that would pass `max_bottom`
/// are dropped. Returns the y below the table.
#[allow(clippy::too_many_arguments)]
pub fn draw_table(
    p: &mut Painter,
    x: f32,
    y: f32,
    width: f32,
    cols: &[Column],
    rows: &[Vec<String>],
    st: &TableStyle,
    max_bottom: f32,
) -> f32 {
    let total_w: f32 = cols.iter().map(|c| c.weight).sum::<f32>().max(1e-3);
    let widths: Vec<f32> = cols.iter().map(|c| c.weight / total_w * width).collect();
    let lh = p.line_height(&st.text);
    let row_h = lh + 2.0 * st.pad;
    let cell_pad = 0.35 * st.text.size;
    let header_style = st.text.with_bold(st.header_bold);
    let d = 0.9;

    let mut ys = vec![y];
    // Header row.
    if let Some(fill) = st.header_fill {
        p.c.fill_rect(x, y, width, row_h, fill);
    }
    let mut cx = x;
    for (c, w) in cols.iter().zip(&widths) {
        draw_cell(
            p,
            &c.header,
            cx,
            y + st.pad,
            *w,
            cell_pad,
            c.align,
            &header_style,
        );
        cx += w;
    }
    let mut cy = y + row_h;
    ys.push(cy);
    for (i, row) in rows.iter().enumerate() {
        if cy + row_h > max_bottom {
            break;
        }
        if let Some(z) = st.zebra {
            if i % 2 == 1 {
                p.c.fill_rect(x, cy, width, row_h, z);
            }
        }
        let mut cx = x;
        for ((c, w), cell) in cols.iter().zip(&widths).zip(row) {
            draw_cell(p, cell, cx, cy + st.pad, *w, cell_pad, c.align, &st.text);
            cx += w;
        }
        cy += row_h;
        ys.push(cy);
    }
    let bottom = cy;
    // Rules.
    let t = st.rule;
    match st.grid {
        Grid::Full => {
            for &yy in &ys {
                p.c.hline(x, x + width, yy, t, d);
            }
            let mut xx = x;
            p.c.vline(xx, y, bottom, t, d);
            for w in &widths {
                xx += w;
                p.c.vline(xx, y, bottom, t, d);
            }
        }
        Grid::Rows => {
            for &yy in &ys {
                p.c.hline(x, x + width, yy, t * 0.7, d * 0.8);
            }
            p.c.hline(x, x + width, y + row_h, t, d);
        }
        Grid::Booktabs => {
            p.c.hline(x, x + width, y, t * 1.6, d);
            p.c.hline(x, x + width, y + row_h, t, d);
            p.c.hline(x, x + width, bottom, t * 1.6, d);
        }
        Grid::Outer => {
            p.c.stroke_rect(x, y, width, bottom - y, t, d);
            p.c.hline(x, x + width, y + row_h, t, d);
        }
    }
    bottom
}

#[allow(clippy::too_many_arguments)]
fn draw_cell(
    p: &mut Painter,
    text: &str,
    x: f32,
    top: f32,
    w: f32,
    pad: f32,
    align: Align,
    style: &TextStyle,
) {
    let inner = (w - 2.0 * pad).max(1.0);
    let t = p.fit(text, style, inner);
    if t.is_empty() {
        return;
    }
    let ax = match align {
        Align::Left => x + pad,
        Align::Center => x + w / 2.0,
        Align::Right => x + w - pad,
    };
    p.text(&t, ax, top, style, align);
}
