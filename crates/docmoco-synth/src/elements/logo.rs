//! Company logos: a simple geometric mark, optionally with the company name beside it.

use std::f32::consts::PI;

use crate::painter::Painter;
use crate::text::{Align, TextStyle};

/// Draws a mark of `size` points with its top-left at `(x, y)`.
pub fn mark(p: &mut Painter, x: f32, y: f32, size: f32) {
    let d = p.r(0.55..1.0);
    let (cx, cy, r) = (x + size / 2.0, y + size / 2.0, size / 2.0);
    match p.r(0..6) {
        0 => {
            p.c.disc(cx, cy, r, d);
        }
        1 => {
            p.c.ring(cx, cy, r * 0.85, size * 0.12, d);
            p.c.disc(cx, cy, r * 0.35, d);
        }
        2 => {
            p.c.fill_polygon(&[[cx, y], [x + size, y + size], [x, y + size]], d);
        }
        3 => {
            let g = size * 0.1;
            let s2 = (size - g) / 2.0;
            for (i, j) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                let dd = if i == j { d } else { d * 0.5 };
                p.c.fill_rect(x + i * (s2 + g), y + j * (s2 + g), s2, s2, dd);
            }
        }
        4 => {
            // Hexagon.
            let pts: Vec<[f32; 2]> = (0..6)
                .map(|k| {
                    let a = PI / 3.0 * k as f32 + PI / 6.0;
                    [cx + r * a.cos(), cy + r * a.sin()]
                })
                .collect();
            p.c.fill_polygon(&pts, d);
        }
        _ => {
            // Swoosh of three strokes.
            for k in 0..3 {
                let o = k as f32 * size * 0.22;
                p.c.line(
                    x,
                    y + size - o,
                    x + size,
                    y + size * 0.3 - o * 0.3,
                    size * 0.1,
                    d,
                );
            }
        }
    }
}

/// A mark followed by the company name in a display style; returns the bottom y.
pub fn logo(p: &mut Painter, x: f32, y: f32, name: &str, style: &TextStyle) -> f32 {
    let size = style.size * p.r(1.4..2.4);
    mark(p, x, y, size);
    let lh = p.line_height(style);
    let ty = y + (size - lh) / 2.0;
    p.text(name, x + size * 1.25, ty, style, Align::Left);
    y + size.max(lh)
}

/// Width a logo will take, for right-aligned placement.
pub fn logo_width(p: &Painter, name: &str, style: &TextStyle, size_factor: f32) -> f32 {
    style.size * size_factor * 1.25 + p.measure(name, style)
}
