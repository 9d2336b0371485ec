//! Hand marks and small form furniture: signatures, checkboxes, fill-in lines.

use crate::content;
use crate::fonts::Family;
use crate::painter::Painter;
use crate::text::{Align, TextStyle};

/// A signature in the box `(x, y, w, h)` points: either a pen scribble or a name in a
/// script face (boxed as don't-care: a signature is not text to transcribe).
pub fn signature(p: &mut Painter, x: f32, y: f32, w: f32, h: f32) {
    let dark = p.r(0.7..0.95);
    if p.chance(0.5) {
        let name = content::person(&mut p.rng);
        let fam = if p.chance(0.5) {
            Family::Script
        } else {
            Family::Hand
        };
        let mut st = TextStyle::new(fam, (h * 0.7).min(24.0)).dark(dark);
        let tw = p.measure(&name, &st);
        if tw > w {
            st.size *= w / tw;
        }
        p.text_dont_care(
            &name,
            x,
            y + (h - p.line_height(&st)) / 2.0,
            &st,
            Align::Left,
        );
    } else {
        // A scribble: a sum of sines drifting right, with loops from a faster phase.
        let n = 60;
        let (f1, f2) = (p.r(2.0f32..5.0), p.r(6.0f32..12.0));
        let (a1, a2) = (p.r(0.15f32..0.35), p.r(0.05f32..0.2));
        let ph = p.r(0.0f32..std::f32::consts::TAU);
        let len = w * p.r(0.6..0.95);
        let pts: Vec<[f32; 2]> = (0..=n)
            .map(|i| {
                let t = i as f32 / n as f32;
                let yy = y + h
                    * (0.5
                        + a1 * (f1 * t * std::f32::consts::TAU + ph).sin()
                        + a2 * (f2 * t * std::f32::consts::TAU).cos());
                let xx = x + len * t + h * 0.1 * (f2 * t * std::f32::consts::TAU).sin();
                [xx, yy]
            })
            .collect();
        let t = p.r(0.5..1.1);
        p.c.polyline(&pts, t, dark);
        if p.chance(0.5) {
            // Underline flourish.
            p.c.line(x, y + h * 0.85, x + len * 0.9, y + h * 0.75, 0.6, dark);
        }
    }
}

/// A checkbox of `size` points, ticked or crossed with probability `p_marked`.
pub fn checkbox(p: &mut Painter, x: f32, y: f32, size: f32, p_marked: f64) {
    p.c.stroke_rect(x, y, size, size, 0.6, 0.95);
    if p.chance(p_marked) {
        let d = p.r(0.75..1.0);
        if p.chance(0.5) {
            p.c.line(
                x + size * 0.2,
                y + size * 0.2,
                x + size * 0.8,
                y + size * 0.8,
                1.0,
                d,
            );
            p.c.line(
                x + size * 0.8,
                y + size * 0.2,
                x + size * 0.2,
                y + size * 0.8,
                1.0,
                d,
            );
        } else {
            p.c.polyline(
                &[
                    [x + size * 0.15, y + size * 0.55],
                    [x + size * 0.4, y + size * 0.85],
                    [x + size * 0.9, y + size * 0.1],
                ],
                1.0,
                d,
            );
        }
    }
}
