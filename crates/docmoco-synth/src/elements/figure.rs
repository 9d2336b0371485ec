//! Figures for reports: bar charts, line plots and halftone "photos".

use crate::fonts::Family;
use crate::painter::Painter;
use crate::text::{Align, TextStyle};

/// Draws a figure filling `(x, y, w, h)` points (tick labels included).
pub fn figure(p: &mut Painter, x: f32, y: f32, w: f32, h: f32, family: Family) {
    match p.r(0..3) {
        0 => bar_chart(p, x, y, w, h, family),
        1 => line_plot(p, x, y, w, h, family),
        _ => photo(p, x, y, w, h),
    }
}

/// Axes with tick labels; returns the plot area `(x0, y0, x1, y1)`.
fn axes(
    p: &mut Painter,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    family: Family,
    x_labels: &[String],
) -> (f32, f32, f32, f32) {
    let st = TextStyle::new(family, (h * 0.06).clamp(5.5, 8.0));
    let max_v = [10, 20, 50, 100, 200, 500, 1000][p.r(0..7)];
    let label_w = p.measure(&format!("{max_v}"), &st) + 3.0;
    let (x0, y0, x1, y1) = (x + label_w, y + st.size * 0.6, x + w, y + h - st.size * 1.6);
    p.c.vline(x0, y0, y1, 0.6, 0.95);
    p.c.hline(x0, x1, y1, 0.6, 0.95);
    let ticks = 5;
    for i in 0..=ticks {
        let yy = y1 - (y1 - y0) * i as f32 / ticks as f32;
        let v = max_v * i / ticks;
        p.text(
            &format!("{v}"),
            x0 - 2.0,
            yy - st.size * 0.55,
            &st,
            Align::Right,
        );
        if i > 0 {
            p.c.dashed_hline(x0, x1, yy, 0.3, [1.5, 1.5], 0.35);
        }
    }
    let n = x_labels.len().max(1);
    for (i, l) in x_labels.iter().enumerate() {
        let xx = x0 + (x1 - x0) * (i as f32 + 0.5) / n as f32;
        p.text(l, xx, y1 + st.size * 0.3, &st, Align::Center);
    }
    (x0, y0, x1, y1)
}

fn x_labels(p: &mut Painter, n: usize) -> Vec<String> {
    match p.r(0..3) {
        0 => {
            let y0 = p.r(2010..2020);
            (0..n).map(|i| format!("{}", y0 + i as i32)).collect()
        }
        1 => (0..n).map(|i| format!("Q{}", i % 4 + 1)).collect(),
        _ => (0..n)
            .map(|i| char::from(b'A' + i as u8).to_string())
            .collect(),
    }
}

fn bar_chart(p: &mut Painter, x: f32, y: f32, w: f32, h: f32, family: Family) {
    let n = p.r(3..9);
    let labels = x_labels(p, n);
    let (x0, y0, x1, y1) = axes(p, x, y, w, h, family, &labels);
    let slot = (x1 - x0) / n as f32;
    let fill = p.r(0.3..0.9);
    for i in 0..n {
        let v = p.r(0.15..0.95);
        let bh = (y1 - y0) * v;
        p.c.fill_rect(x0 + slot * (i as f32 + 0.2), y1 - bh, slot * 0.6, bh, fill);
    }
}

fn line_plot(p: &mut Painter, x: f32, y: f32, w: f32, h: f32, family: Family) {
    let n = p.r(5..12);
    let labels = x_labels(p, n);
    let (x0, y0, x1, y1) = axes(p, x, y, w, h, family, &labels);
    for s in 0..p.r(1..4) {
        let mut v: f32 = p.r(0.2..0.8);
        let pts: Vec<[f32; 2]> = (0..n)
            .map(|i| {
                v = (v + p.r(-0.2..0.2)).clamp(0.05, 0.95);
                [
                    x0 + (x1 - x0) * (i as f32 + 0.5) / n as f32,
                    y1 - (y1 - y0) * v,
                ]
            })
            .collect();
        let d = 0.95 - 0.25 * s as f32;
        p.c.polyline(&pts, 0.9, d);
        for q in &pts {
            p.c.disc(q[0], q[1], 1.4, d);
        }
    }
}

/// A smooth random grey field from a few blobs, like a halftoned photograph.
fn photo(p: &mut Painter, x: f32, y: f32, w: f32, h: f32) {
    let blobs: Vec<(f32, f32, f32, f32)> = (0..p.r(3..8))
        .map(|_| (p.r(0.0..1.0), p.r(0.0..1.0), p.r(0.1..0.4), p.r(-0.5..0.6)))
        .collect();
    let base = p.r(0.2..0.5);
    p.c.fill_with(x, y, w, h, |u, v| {
        let mut d = base + 0.15 * v;
        for &(bx, by, r, a) in &blobs {
            let dd = ((u - bx).powi(2) + (v - by).powi(2)) / (r * r);
            d += a * (-dd).exp();
        }
        d.clamp(0.03, 0.95)
    });
    p.c.stroke_rect(x, y, w, h, 0.5, 0.9);
}
