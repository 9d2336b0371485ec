//! Rubber stamps: a box or circle with a few words, pasted at an angle.
//!
//! Stamps are drawn on their own canvas and composited rotated, like a real stamp hitting
//! the page at an angle; their text lines come along as don't-care quads.

use rand::seq::SliceRandom;

use crate::canvas::Canvas;
use crate::content;
use crate::fonts::Family;
use crate::painter::Painter;
use crate::text::{Align, Gt, TextStyle};
use crate::words::STAMP_WORDS;

/// Draws a stamp centred at `(cx, cy)` points; the words are picked when `lines` is empty.
pub fn stamp(p: &mut Painter, cx: f32, cy: f32, lines: &[String]) {
    let mut lines: Vec<String> = lines.to_vec();
    if lines.is_empty() {
        lines.push(
            STAMP_WORDS
                .choose(&mut p.rng)
                .copied()
                .unwrap_or("PAID")
                .to_string(),
        );
        if p.chance(0.6) {
            let d = content::date(&mut p.rng).to_uppercase();
            lines.push(d);
        }
    }
    let round = p.chance(0.4);
    let fam = if p.chance(0.5) {
        Family::Sans
    } else {
        Family::Serif
    };
    let first = TextStyle::new(fam, p.r(12.0..22.0)).bold();
    let rest = TextStyle::new(fam, first.size * 0.6).bold();
    let angle = p.r(-0.45f32..0.45);
    let dark = p.r(0.45..0.85);
    let ts = p.ts;

    let mut widths = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let st = if i == 0 { first } else { rest };
        widths.push(ts.measure(l, &st));
    }
    let tw = widths.iter().fold(0.0f32, |a, &b| a.max(b));
    let th: f32 = lines
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i == 0 {
                first.size * 1.15
            } else {
                rest.size * 1.2
            }
        })
        .sum();
    let pad = first.size * 0.5;
    let (w, h) = if round {
        let dmt = (tw.max(th) + 3.0 * pad).max(first.size * 4.0);
        (dmt, dmt)
    } else {
        (tw + 2.5 * pad, th + 1.6 * pad)
    };
    let mut sc = Canvas::with_scale(w + 4.0, h + 4.0, p.c.scale());
    let (ox, oy) = (2.0, 2.0);
    let t = p.r(1.0..2.2);
    if round {
        let r = w / 2.0 - t;
        sc.ring(ox + w / 2.0, oy + h / 2.0, r, t, 1.0);
        if p.chance(0.6) {
            sc.ring(ox + w / 2.0, oy + h / 2.0, r - t * 2.2, t * 0.5, 1.0);
        }
    } else {
        sc.stroke_rect(ox, oy, w, h, t, 1.0);
        if p.chance(0.4) {
            let g = t * 1.8;
            sc.stroke_rect(ox + g, oy + g, w - 2.0 * g, h - 2.0 * g, t * 0.5, 1.0);
        }
    }
    let mut y = oy + (h - th) / 2.0;
    for (i, l) in lines.iter().enumerate() {
        let st = if i == 0 { first } else { rest };
        ts.draw(&mut sc, l, ox + w / 2.0, y, &st, Align::Center, Gt::Line);
        y += if i == 0 {
            first.size * 1.15
        } else {
            rest.size * 1.2
        };
    }
    p.c.paste_rotated(&sc, cx, cy, angle, dark);
}
